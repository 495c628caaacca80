#include "lrurec/feed_forward.h"

#include <ATen/ATen.h>

#include "lrurec/init.h"
#include "lrurec/matmul.h"

namespace lrec::lrurec {

FeedForwardImpl::FeedForwardImpl(int64_t d_model, double dropout_p, bool bf16_matmul)
    : bf16_matmul_(bf16_matmul) {
  w_1 = register_module("w_1", torch::nn::Linear(d_model, 4 * d_model));
  w_2 = register_module("w_2", torch::nn::Linear(4 * d_model, d_model));
  for (at::Tensor* p : {&w_1->weight, &w_1->bias, &w_2->weight, &w_2->bias}) truncated_normal_(*p);
  dropout = register_module("dropout", lrec::Dropout(dropout_p));
  layer_norm =
      register_module("layer_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model}).eps(1e-5)));
}

at::Tensor FeedForwardImpl::forward(const at::Tensor& x) {
  const at::Tensor inner = dropout(at::gelu(linear(x, w_1->weight, w_1->bias, bf16_matmul_)));  // [..., 4d]
  return layer_norm(dropout(linear(inner, w_2->weight, w_2->bias, bf16_matmul_)) + x);
}

}  // namespace lrec::lrurec
