#include "lrurec/matmul.h"

#include <ATen/ATen.h>

#include "core/linear.h"

namespace lrec::lrurec {

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool bf16) {
  if (!bf16) return lrec::linear(x, weight, bias);
  const auto half = at::kBFloat16;
  return at::linear(x.to(half), weight.to(half), bias.to(half)).to(x.scalar_type());
}

}  // namespace lrec::lrurec
