// y = x Wᵀ + b, the linear map of both models. On CPU fp32 with enough rows and AVX-512 or AVX2 the three
// products (forward, dx, dW) run on core/gemm_f32_cpu.h, up to twice MKL's fp32 rate on AMD CPUs; every
// other case (bf16, CUDA, a few rows as in decoding, neither instruction set) is at::linear. Tests compare
// the two.
#pragma once

#include <ATen/core/Tensor.h>

namespace lrec {

// x [..., in], weight [out, in], bias [out] or undefined -> [..., out]; differentiable in all three.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// Whether linear() takes the kernel's path for these arguments (for tests and benchmarks).
bool linear_uses_gemm_f32(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace lrec
