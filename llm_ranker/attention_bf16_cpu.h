// Causal self-attention for bf16 on CPUs with AVX512-BF16 (forward and backward, autograd-aware).
//
// LibTorch's CPU scaled_dot_product_attention runs its bf16 products as fp32 GEMMs unless the CPU has
// AMX (~105 GFLOP/s per core here). This kernel runs every product on the vdpbf16ps dot-product
// instruction with fp32 accumulation (~350-500 GFLOP/s per core):
//   forward, per (batch, head, block of 64 queries), keys [0, kend) that the block may see:
//     S = Q Kᵀ                 [64, kend] fp32
//     P = softmax(S / sqrt(hd) masked)       fp32, lse = log-sum-exp per row (saved), P rounded to bf16
//     O = P V                  [64, hd]   fp32 -> bf16
//   backward, per (batch, head), the same blocks:
//     P  = exp(S / sqrt(hd) - lse) recomputed, dP = dO Vᵀ, delta = rowsum(dO ⊙ O)
//     dS = P ⊙ (dP - delta) / sqrt(hd)
//     dQ = dS K,  dKᵀ += Qᵀ dS,  dVᵀ += dOᵀ P    (dK, dV summed over the query heads of a KV head)
// Scores and the softmax stay in fp32; only P and dS are rounded to bf16 before their products, as in
// flash attention. attention_reference (llama_attention.h) is the formula it is tested against.
#pragma once

#include <ATen/core/Tensor.h>

namespace lrec::llm {

struct LayerInputs;

// True when this CPU has AVX512-BF16 and the call fits the kernel: CPU bf16 tensors, no KV cache
// (T == S), head_dim a multiple of 16 up to 256.
bool attention_bf16_cpu_applies(const at::Tensor& q, const at::Tensor& k, const LayerInputs& in);

// q [B, H, T, hd], k and v [B, KVH, T, hd] (bf16, CPU) -> [B, H, T, hd] bf16. in.mask [B, 1, T, T] when
// defined, else in.causal. A query row with no allowed key gets a zero output.
at::Tensor attention_bf16_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const LayerInputs& in);

}  // namespace lrec::llm
