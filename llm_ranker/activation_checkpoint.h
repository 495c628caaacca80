// Gradient (activation) checkpointing of decoder layers (Chen et al. 2016), the C++ counterpart of
// torch.utils.checkpoint in its re-entrant form:
//   forward:  run the layer without recording a graph; keep only its input h and the RNG state;
//   backward: restore that RNG state (so dropout draws the same masks), run the layer again with the
//             graph recorded, back-propagate the incoming gradient through it (parameter gradients
//             accumulate as usual), put the RNG back as it was, and return the gradient of h.
// Activation memory falls from every layer's intermediates to one [B, T, D] tensor per layer, for the
// price of a second forward pass per layer.
#pragma once

#include "llm_ranker/llama_model.h"

namespace lrec::llm {

// A LlamaModelImpl::layer_call that checkpoints every layer while grad mode is on (inference and
// cached decoding run the plain layer).
LayerCall checkpointed_layer_call();

// One checkpointed layer call; h [B, T, D] -> [B, T, D].
at::Tensor checkpointed_layer(LlamaDecoderLayerImpl& layer, const at::Tensor& h, const LayerInputs& in);

}  // namespace lrec::llm
