// The fused CPU path of linear_cross_entropy, built like flash attention: one task per block of kBlockRows
// rows, each thread keeping its block's [rows, V] logits in cache,
//   S  = x Wᵀ + b                       [rows, V] fp32
//   G  = (softmax(S) − onehot(y)) / P   fp32 (lrurec/softmax_rows_cpu.h)
//   dx = G W                            [rows, d]
//   dW += Gᵀ x,  db += Σ_rows G         per-thread fp32 accumulators, summed at the end
// and the loss Σ (logsumexp(S) − S[y]). The products run in one of two precisions:
//   kFloat32:  fp32 on AVX-512 or AVX2 + FMA (core/gemm_f32_cpu.h), the official code's math;
//   kBFloat16: bf16 inputs with fp32 accumulation on AVX512-BF16 (core/bf16_cpu.h), as at::mm on bf16
//              tensors, except that the logits are not rounded to bf16 before the softmax.
// The softmax and every accumulation stay fp32. The chunked at::mm loop of linear_cross_entropy.cpp is the
// portable path and the tests' reference.
#pragma once

#include <ATen/core/Tensor.h>

namespace lrec::lrurec {

enum class HeadProducts { kFloat32, kBFloat16 };

// True when this CPU runs the kernel of `products` (fp32: f32::gemm_applies(); bf16: AVX512-BF16) and the
// shapes fit: fp32 CPU tensors, d a multiple of 16.
bool linear_cross_entropy_cpu_applies(const at::Tensor& x, const at::Tensor& weight, HeadProducts products);

struct HeadGradients {
  at::Tensor x, weight, bias;  // of the mean loss: [P, d], [V, d], [V]
};

// x [P, d], weight [V, d], bias [V] (fp32), targets [P] (int64, contiguous) -> the summed loss over the
// rows; fills `grads` when it is not null.
double linear_cross_entropy_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& targets, HeadProducts products, HeadGradients* grads);

}  // namespace lrec::lrurec
