#include "lrurec/init.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

namespace lrec::lrurec {

void truncated_normal_(at::Tensor& t, double mean, double std, double lower, double upper) {
  c10::NoGradGuard no_grad;
  const double l = (1.0 + std::erf((lower - mean) / std / std::sqrt(2.0))) / 2.0;
  const double u = (1.0 + std::erf((upper - mean) / std / std::sqrt(2.0))) / 2.0;
  t.uniform_(2 * l - 1, 2 * u - 1);
  t.erfinv_();
  t.mul_(std * std::sqrt(2.0));
  t.add_(mean);
}

}  // namespace lrec::lrurec
