// Rotary position embedding (Su et al. 2021) in Hugging Face's convention, so q_proj/k_proj load as
// they are: a head vector's two halves (x1, x2) rotate as pairs (x1[i], x2[i]) by angle p · inv_freq[i]:
//   rotate_half(x) = [-x2, x1]
//   rope(x, p)     = x · cos(p θ) + rotate_half(x) · sin(p θ),   θ = [inv_freq, inv_freq]  [hd]
// The angles, cos and sin are computed in fp32 and cast to the activations' dtype when applied, as
// transformers does. RoPE scaling (linear, dynamic, llama3) changes inv_freq only; see llama_config.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

#include "llm_ranker/llama_config.h"

namespace lrec::llm {

// inv_freq[i] = 1 / theta^(2i / hd) for i < hd/2, scaled by the config's rope_scaling   [hd/2] fp32.
// `seq_len` matters for dynamic scaling only: the longest position + 1 that the forward sees.
at::Tensor rope_inv_freq(const LlamaConfig& cfg, int64_t seq_len);

class RotaryEmbedding {
 public:
  explicit RotaryEmbedding(const LlamaConfig& cfg);
  // position_ids [B, T] int64 -> (cos, sin), each [B, T, hd] fp32.
  // With dynamic scaling the frequencies follow the largest position of this call (transformers keeps the
  // largest length it has seen across calls instead; the two agree for every single forward).
  std::pair<at::Tensor, at::Tensor> cos_sin(const at::Tensor& position_ids) const;

 private:
  LlamaConfig cfg_;
  at::Tensor inv_freq_;  // [hd/2] fp32, for positions < max_position_embeddings
};

at::Tensor rotate_half(const at::Tensor& x);  // [..., hd] -> [-x2, x1]
// x [B, heads, T, hd]; cos, sin broadcastable to it (e.g. [B, 1, T, hd]) in x's dtype.
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace lrec::llm
