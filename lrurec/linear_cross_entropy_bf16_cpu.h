// The bf16 path of linear_cross_entropy on CPUs with AVX512-BF16, fused like flash attention: one task per
// block of kBlockRows rows, each thread keeping its block's [rows, V] logits in cache,
//   S  = x Wᵀ + b                       [rows, V] fp32 (bf16 products, fp32 accumulation)
//   G  = (softmax(S) − onehot(y)) / P   fp32, rounded to bf16 for the two products below
//   dx = G W                            [rows, d]
//   dWᵀ += xᵀ G,  db += Σ_rows G        per-thread fp32 accumulators, summed at the end
// and the loss Σ (logsumexp(S) − S[y]). The softmax and every accumulation stay fp32; only the products'
// inputs are bf16, as with at::mm on bf16 tensors (the portable path it replaces on these CPUs), except
// that the logits are not rounded to bf16 before the softmax.
#pragma once

#include <ATen/core/Tensor.h>

namespace lrec::lrurec {

// True when this CPU has AVX512-BF16 and the shapes fit: fp32 CPU tensors, d a multiple of 16.
bool linear_cross_entropy_bf16_cpu_applies(const at::Tensor& x, const at::Tensor& weight);

struct HeadGradients {
  at::Tensor x, weight, bias;  // of the mean loss: [P, d], [V, d], [V]
};

// x [P, d], weight [V, d], bias [V] (fp32), targets [P] (int64, contiguous) -> the summed loss over the
// rows; fills `grads` when it is not null.
double linear_cross_entropy_bf16_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                     const at::Tensor& targets, HeadGradients* grads);

}  // namespace lrec::lrurec
