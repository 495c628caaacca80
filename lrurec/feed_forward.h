// Position-wise feed-forward block of LRURec: LN(Dropout(W2 · Dropout(GELU(W1 x + b1)) + b2) + x),
// inner size 4d, exact (erf) GELU. There is no outer GELU: the paper's Eq. 8 has one, the code does not.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

#include "core/dropout.h"

namespace lrec::lrurec {

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t d_model, double dropout, bool bf16_matmul = false);
  at::Tensor forward(const at::Tensor& x);  // [..., d] -> [..., d]

  torch::nn::Linear w_1{nullptr}, w_2{nullptr};
  lrec::Dropout dropout{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};

 private:
  bool bf16_matmul_;
};
TORCH_MODULE(FeedForward);

}  // namespace lrec::lrurec
