// The LRU layer of LRURec (Yue et al., WSDM 2024), as the official code computes it:
//   λ = exp(−exp(ν_log) + i·exp(θ_log)),  γ = exp(γ_log)
//   u_t = γ ⊙ (B x_t + b)                  B: complex d → N, N = 2d
//   h_t = λ ⊙ m_{t-1} h_{t-1} + u_t         (lru_scan)
//   y_t = LayerNorm(Dropout(Re(C h_t + c)) + x_t)   C: complex N → d
// Complex weights are stored as separate real and imaginary real tensors, so AdamW, weight decay and
// clipping treat them exactly as PyTorch treats a complex parameter (as its real view).
// The imaginary part of c cannot reach Re(·), so only its real part is a parameter.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/normalization.h>

#include "core/dropout.h"
#include "lrurec/lru_scan.h"

namespace lrec::lrurec {

class LruLayerImpl : public torch::nn::Module {
 public:
  LruLayerImpl(int64_t d_model, double dropout, ScanKernel kernel, bool bf16_matmul = false,
               double r_min = 0.8, double r_max = 0.99);

  // x [P, d] at `positions` -> [P, d]
  at::Tensor forward(const at::Tensor& x, const PackedPositions& positions);

  // One time step for incremental inference: x_t [B, d], h_prev [B, 2N] (zeros before the first item).
  // Returns (y_t [B, d], h_t [B, 2N]).
  std::pair<at::Tensor, at::Tensor> step(const at::Tensor& x_t, const at::Tensor& h_prev);

  at::Tensor lambda() const;  // [2N] split complex: real parts, then imaginary parts
  int64_t state_size() const { return state_; }

  void set_scan_kernel(ScanKernel kernel) { kernel_ = kernel; }

  // Parameters (named after the paper's symbols).
  at::Tensor nu_log, theta_log, gamma_log;      // [N] each
  at::Tensor in_weight_real, in_weight_imag;    // B: [N, d]
  at::Tensor in_bias_real, in_bias_imag;        // b: [N]
  at::Tensor out_weight_real, out_weight_imag;  // C: [d, N]
  at::Tensor out_bias;                          // Re(c): [d]
  lrec::Dropout dropout{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};

 private:
  at::Tensor input_projection(const at::Tensor& x) const;   // γ ⊙ (B x + b): [..., 2N]
  at::Tensor output_projection(const at::Tensor& h) const;  // Re(C h + c): [..., d]
  int64_t state_;
  ScanKernel kernel_;
  bool bf16_matmul_;
};
TORCH_MODULE(LruLayer);

}  // namespace lrec::lrurec
