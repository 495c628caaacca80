#include "llm_ranker/linear.h"

#include <ATen/ATen.h>

#include "core/linear.h"

namespace lrec::llm {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias,
                       const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, options));
  if (with_bias) bias = register_parameter("bias", at::empty({out_features}, options));
}

LinearImpl::LinearImpl(at::Tensor base_weight, at::Tensor base_bias) {
  weight = register_parameter("weight", base_weight, base_weight.requires_grad());
  if (base_bias.defined()) bias = register_parameter("bias", base_bias, base_bias.requires_grad());
}

at::Tensor LinearImpl::forward(const at::Tensor& x) { return lrec::linear(x, weight, bias); }

EmbeddingImpl::EmbeddingImpl(int64_t num_embeddings, int64_t dim, const at::TensorOptions& options) {
  weight = register_parameter("weight", at::empty({num_embeddings, dim}, options));
}

at::Tensor EmbeddingImpl::forward(const at::Tensor& ids) { return at::embedding(weight, ids); }

}  // namespace lrec::llm
