#include "lrurec/lru_layer.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "lrurec/init.h"
#include "lrurec/matmul.h"

namespace lrec::lrurec {

LruLayerImpl::LruLayerImpl(int64_t d_model, double dropout_p, ScanKernel kernel, bool bf16_matmul,
                           double r_min, double r_max)
    : state_(2 * d_model), kernel_(kernel), bf16_matmul_(bf16_matmul) {
  const int64_t N = state_, d = d_model;
  {
    // Ring initialization: |λ| uniform on the ring [r_min, r_max], phase uniform in [0, 2π).
    c10::NoGradGuard no_grad;
    const at::Tensor u1 = at::rand({N}, at::kDouble), u2 = at::rand({N}, at::kDouble);
    const at::Tensor nu = -0.5 * at::log(u1 * (r_max * r_max - r_min * r_min) + r_min * r_min);
    const at::Tensor theta = u2 * (2 * M_PI);
    const at::Tensor lambda_abs = at::exp(-nu);
    nu_log = register_parameter("nu_log", at::log(nu).to(at::kFloat));
    theta_log = register_parameter("theta_log", at::log(theta).to(at::kFloat));
    gamma_log =
        register_parameter("gamma_log", at::log(at::sqrt(1 - lambda_abs * lambda_abs)).to(at::kFloat));
  }
  in_weight_real = register_parameter("in_weight_real", at::empty({N, d}));
  in_weight_imag = register_parameter("in_weight_imag", at::empty({N, d}));
  in_bias_real = register_parameter("in_bias_real", at::empty({N}));
  in_bias_imag = register_parameter("in_bias_imag", at::empty({N}));
  out_weight_real = register_parameter("out_weight_real", at::empty({d, N}));
  out_weight_imag = register_parameter("out_weight_imag", at::empty({d, N}));
  out_bias = register_parameter("out_bias", at::empty({d}));
  for (at::Tensor* p : {&in_weight_real, &in_weight_imag, &in_bias_real, &in_bias_imag, &out_weight_real,
                        &out_weight_imag, &out_bias}) {
    truncated_normal_(*p);
  }
  dropout = register_module("dropout", lrec::Dropout(dropout_p));
  layer_norm =
      register_module("layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-5)));
}

at::Tensor LruLayerImpl::lambda() const {
  const at::Tensor magnitude = at::exp(-at::exp(nu_log));  // |λ| = exp(−ν)
  const at::Tensor theta = at::exp(theta_log);
  return at::cat({magnitude * at::cos(theta), magnitude * at::sin(theta)});
}

at::Tensor LruLayerImpl::input_projection(const at::Tensor& x) const {
  // x is real, so B x + b = (B_re x + b_re) + i (B_im x + b_im): one real linear map to [re | im].
  // γ ⊙ (B x + b) = (γ ⊙ B) x + γ ⊙ b: scaling the [2N, d] weight rows costs 2N·d products instead of
  // P·2N, and backward gets dγ from the small weight gradient instead of a [P, 2N] product and sum.
  const at::Tensor gamma = at::exp(gamma_log).repeat({2});  // [2N]: the same γ for re and im
  const at::Tensor weight = at::cat({in_weight_real, in_weight_imag}) * gamma.unsqueeze(1);  // [2N, d]
  const at::Tensor bias = at::cat({in_bias_real, in_bias_imag}) * gamma;                     // [2N]
  return linear(x, weight, bias, bf16_matmul_);                                              // [..., 2N]
}

at::Tensor LruLayerImpl::output_projection(const at::Tensor& h) const {
  // Re(C h + c) = C_re h_re − C_im h_im + Re(c)
  return linear(h, at::cat({out_weight_real, -out_weight_imag}, 1), out_bias, bf16_matmul_);
}

at::Tensor LruLayerImpl::forward(const at::Tensor& x, const PackedPositions& positions) {
  const at::Tensor u = input_projection(x);                               // [P, 2N]
  const at::Tensor h = lru_scan_packed(u, lambda(), positions, kernel_);  // [P, 2N]
  return layer_norm(dropout(output_projection(h)) + x);                   // [P, d]
}

std::pair<at::Tensor, at::Tensor> LruLayerImpl::step(const at::Tensor& x_t, const at::Tensor& h_prev) {
  const at::Tensor u = input_projection(x_t);  // [B, 2N]
  const at::Tensor lam = lambda();
  const int64_t N = state_;
  const at::Tensor lr = lam.narrow(0, 0, N), li = lam.narrow(0, N, N);
  const at::Tensor pr = h_prev.narrow(1, 0, N), pi = h_prev.narrow(1, N, N);
  const at::Tensor h = at::cat({lr * pr - li * pi, lr * pi + li * pr}, 1) + u;  // h_t = λ h_{t-1} + u_t
  return {layer_norm(dropout(output_projection(h)) + x_t), h};
}

}  // namespace lrec::lrurec
