#include "llm_ranker/llama_mlp.h"

#include <ATen/ATen.h>

namespace lrec::llm {

LlamaMLPImpl::LlamaMLPImpl(const LlamaConfig& cfg, const at::TensorOptions& options) {
  const int64_t d = cfg.hidden_size, f = cfg.intermediate_size;
  gate_proj = register_module("gate_proj", Linear(d, f, cfg.mlp_bias, options));
  up_proj = register_module("up_proj", Linear(d, f, cfg.mlp_bias, options));
  down_proj = register_module("down_proj", Linear(f, d, cfg.mlp_bias, options));
}

at::Tensor LlamaMLPImpl::forward(const at::Tensor& x) {
  return down_proj(at::silu(gate_proj(x)) * up_proj(x));
}

}  // namespace lrec::llm
