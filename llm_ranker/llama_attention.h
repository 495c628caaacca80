// Llama self-attention with grouped-query heads (GQA; KVH = H is MHA, KVH = 1 is MQA):
//   q = RoPE(x Wqᵀ + bq)  [B, H, T, hd]     k = RoPE(x Wkᵀ + bk), v = x Wvᵀ + bv  [B, KVH, T, hd]
//   (k, v) = cat(past, (k, v)) with a KV cache                                   [B, KVH, S, hd]
//   a = softmax(q kᵀ / sqrt(hd) + mask) v, query head h reading key/value head h / (H / KVH)
//   out = a Woᵀ + bo                                                             [B, T, D]
// Three kernels compute a: the bf16 CPU kernel of attention_bf16_cpu.h, at::scaled_dot_product_attention,
// and the formula spelled out in fp32 (reference); tests check that they agree.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "llm_ranker/kv_cache.h"
#include "llm_ranker/linear.h"
#include "llm_ranker/llama_config.h"

namespace lrec::llm {

// kAuto: the bf16 CPU kernel where attention_bf16_cpu_applies, else SDPA.
enum class AttentionKernel { kAuto, kSdpa, kReference };

// What every decoder layer of one forward shares.
struct LayerInputs {
  at::Tensor cos, sin;  // [B, 1, T, hd] in the compute dtype (rotary.h)
  at::Tensor mask;      // [B, 1, T, S] bool, true = may attend; undefined: `causal` decides
  bool causal = true;   // only without a mask: query t sees keys <= t (then T == S); false: every key
};

// q [B, H, T, hd], k and v [B, KVH, S, hd] -> [B, H, T, hd] in q's dtype.
at::Tensor attention_sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const LayerInputs& in);
at::Tensor attention_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const LayerInputs& in);

class LlamaAttentionImpl : public torch::nn::Module {
 public:
  LlamaAttentionImpl(const LlamaConfig& cfg, const at::TensorOptions& options);
  // x [B, T, D] -> [B, T, D]; appends this call's keys and values to `cache` when given.
  at::Tensor forward(const at::Tensor& x, const LayerInputs& in, LayerCache* cache = nullptr);

  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  AttentionKernel kernel = AttentionKernel::kAuto;

 private:
  int64_t heads_, kv_heads_, head_dim_;
};
TORCH_MODULE(LlamaAttention);

}  // namespace lrec::llm
