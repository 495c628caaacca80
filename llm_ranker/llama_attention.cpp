#include "llm_ranker/llama_attention.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <optional>

#include "llm_ranker/attention_bf16_cpu.h"
#include "llm_ranker/rotary.h"

namespace lrec::llm {

at::Tensor attention_sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const LayerInputs& in) {
  const std::optional<at::Tensor> mask =
      in.mask.defined() ? std::optional<at::Tensor>(in.mask) : std::nullopt;
  return at::scaled_dot_product_attention(q, k, v, mask, /*dropout_p=*/0.0,
                                          /*is_causal=*/!in.mask.defined() && in.causal,
                                          /*scale=*/std::nullopt, /*enable_gqa=*/k.size(1) != q.size(1));
}

at::Tensor attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const LayerInputs& in) {
  const int64_t group = q.size(1) / k.size(1), t = q.size(2), s = k.size(2);
  const at::Tensor k32 = k.to(at::kFloat).repeat_interleave(group, 1);  // [B, H, S, hd]
  const at::Tensor v32 = v.to(at::kFloat).repeat_interleave(group, 1);
  at::Tensor scores =
      at::matmul(q.to(at::kFloat), k32.transpose(2, 3)) / std::sqrt(double(q.size(3)));  // [B, H, T, S]
  at::Tensor allowed = in.mask;
  if (!allowed.defined()) {
    allowed = in.causal ? at::ones({t, s}, q.options().dtype(at::kBool)).tril(s - t)
                        : at::ones({t, s}, q.options().dtype(at::kBool));
  }
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  return at::matmul(at::softmax(scores, -1), v32).to(q.scalar_type());
}

LlamaAttentionImpl::LlamaAttentionImpl(const LlamaConfig& cfg, const at::TensorOptions& options)
    : heads_(cfg.num_attention_heads), kv_heads_(cfg.num_key_value_heads), head_dim_(cfg.head_dim) {
  const int64_t d = cfg.hidden_size, bias = cfg.attention_bias;
  q_proj = register_module("q_proj", Linear(d, heads_ * head_dim_, bias, options));
  k_proj = register_module("k_proj", Linear(d, kv_heads_ * head_dim_, bias, options));
  v_proj = register_module("v_proj", Linear(d, kv_heads_ * head_dim_, bias, options));
  o_proj = register_module("o_proj", Linear(heads_ * head_dim_, d, bias, options));
}

at::Tensor LlamaAttentionImpl::forward(const at::Tensor& x, const LayerInputs& in, LayerCache* cache) {
  const int64_t b = x.size(0), t = x.size(1);
  const auto heads = [&](const at::Tensor& y, int64_t n) {
    return y.view({b, t, n, head_dim_}).transpose(1, 2);
  };
  const at::Tensor q = apply_rotary(heads(q_proj(x), heads_), in.cos, in.sin);  // [B, H, T, hd]
  at::Tensor k = apply_rotary(heads(k_proj(x), kv_heads_), in.cos, in.sin);     // [B, KVH, T, hd]
  at::Tensor v = heads(v_proj(x), kv_heads_);
  if (cache != nullptr) std::tie(k, v) = cache->append(k, v);  // [B, KVH, S, hd]
  at::Tensor a;                                                // [B, H, T, hd]
  if (kernel == AttentionKernel::kReference)
    a = attention_reference(q, k, v, in);
  else if (kernel == AttentionKernel::kAuto && attention_bf16_cpu_applies(q, k, in))
    a = attention_bf16_cpu(q, k, v, in);
  else
    a = attention_sdpa(q, k, v, in);
  return o_proj(a.transpose(1, 2).reshape({b, t, heads_ * head_dim_}));
}

}  // namespace lrec::llm
