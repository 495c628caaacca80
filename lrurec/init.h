// Parameter initialization used by the official LRURec code.
#pragma once

#include <ATen/core/Tensor.h>

namespace lrec::lrurec {

// Truncated normal by inverse CDF: uniform in [2·Φ(a)-1, 2·Φ(b)-1], erfinv, scale by std·√2, shift by mean.
// Values lie in [lower, upper]. In place, without autograd.
void truncated_normal_(at::Tensor& t, double mean = 0.0, double std = 0.02, double lower = -0.04,
                       double upper = 0.04);

}  // namespace lrec::lrurec
