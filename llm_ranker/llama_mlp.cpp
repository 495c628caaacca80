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
  // gate before up, in both branches: with LoRA dropout, the order of random draws must not depend on the
  // mode.
  at::Tensor gate = gate_proj(x);
  const at::Tensor up = up_proj(x);
  if (!at::GradMode::is_enabled()) return down_proj(at::silu_(gate).mul_(up));  // inference: in place
  return down_proj(at::silu(gate) * up);
}

}  // namespace lrec::llm
