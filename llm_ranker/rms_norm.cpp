#include "llm_ranker/rms_norm.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <cmath>

namespace lrec::llm {

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const at::Tensor x32 = x.to(at::kFloat);
  const at::Tensor inv_rms = at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);  // [..., 1]
  return weight * (x32 * inv_rms).to(x.scalar_type());
}

at::Tensor rms_norm_fused(const at::Tensor& x, const at::Tensor& weight, double eps) {
  TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == weight.scalar_type(),
              "rms_norm_fused: CPU, one dtype");
  const at::Tensor in = x.contiguous();
  at::Tensor out = at::empty_like(in);
  const int64_t dim = in.size(-1), rows = in.numel() / dim;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, in.scalar_type(), "rms_norm_fused", [&] {
    const scalar_t* src = in.const_data_ptr<scalar_t>();
    const scalar_t* w = weight.const_data_ptr<scalar_t>();
    scalar_t* dst = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const scalar_t* row = src + r * dim;
        float sum = 0;
        for (int64_t i = 0; i < dim; ++i) sum += static_cast<float>(row[i]) * static_cast<float>(row[i]);
        const float inv_rms = 1.0f / std::sqrt(sum / dim + static_cast<float>(eps));
        scalar_t* o = dst + r * dim;
        // Rounded to the input dtype first, then scaled (the two products of the formula).
        for (int64_t i = 0; i < dim; ++i) {
          o[i] = static_cast<scalar_t>(static_cast<float>(w[i]) * static_cast<float>(static_cast<scalar_t>(
                                                                      static_cast<float>(row[i]) * inv_rms)));
        }
      }
    });
  });
  return out;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_, const at::TensorOptions& options) : eps(eps_) {
  weight = register_parameter("weight", at::empty({dim}, options));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  const bool needs_grad = c10::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad());
  if (x.device().is_cpu() && !needs_grad && x.scalar_type() == weight.scalar_type()) {
    return rms_norm_fused(x, weight, eps);
  }
  return rms_norm_reference(x, weight, eps);
}

}  // namespace lrec::llm
