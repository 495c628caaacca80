// The SwiGLU feed-forward block (Shazeer 2020) of Llama: down(silu(gate(x)) ⊙ up(x)).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "llm_ranker/linear.h"
#include "llm_ranker/llama_config.h"

namespace lrec::llm {

class LlamaMLPImpl : public torch::nn::Module {
 public:
  LlamaMLPImpl(const LlamaConfig& cfg, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);  // [..., D] -> [..., D] via [..., F]

  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(LlamaMLP);

}  // namespace lrec::llm
