// The blocks' linear maps in the model's matrix-product precision (model.matmul_precision).
#pragma once

#include <ATen/core/Tensor.h>

namespace lrec::lrurec {

// x [..., in] -> x Wᵀ + b [..., out] in fp32. With `bf16` the product takes bfloat16 inputs with fp32
// accumulation and its result is rounded to bfloat16 before returning to fp32, as under autocast; the
// gradients follow the same path. Without, plain fp32 as in the official code.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool bf16);

}  // namespace lrec::lrurec
