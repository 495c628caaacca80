// RMSNorm (Zhang & Sennrich 2019) as in transformers' LlamaRMSNorm: normalised in fp32, cast back to
// the input dtype, then scaled:  y = w · (x / sqrt(mean(x²) + eps)).to(dtype(x))
// Two implementations: the formula as tensor operations (autograd; the reference), and a fused CPU
// kernel, one pass per row, used when no gradient is needed (prefill and decoding). They differ only in
// the order of the fp32 sum of squares; a test checks them against each other.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace lrec::llm {

at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor rms_norm_fused(const at::Tensor& x, const at::Tensor& weight, double eps);  // CPU, no autograd

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& x);  // [..., dim] -> [..., dim]

  at::Tensor weight;  // [dim]
  double eps;
};
TORCH_MODULE(RMSNorm);

}  // namespace lrec::llm
