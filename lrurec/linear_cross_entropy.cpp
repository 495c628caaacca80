#include "lrurec/linear_cross_entropy.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/autograd.h>

#include <algorithm>

#include "core/error.h"
#include "lrurec/linear_cross_entropy_cpu.h"
#include "lrurec/softmax_rows_cpu.h"

namespace lrec::lrurec {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& targets, bool bf16_matmul, bool fused,
                            int64_t chunk_rows) {
    const int64_t P = x.size(0);
    const bool need_grad = ctx != nullptr;
    const at::Tensor y = targets.to(at::kLong).contiguous();
    const HeadProducts products = bf16_matmul ? HeadProducts::kBFloat16 : HeadProducts::kFloat32;
    if (fused && linear_cross_entropy_cpu_applies(x, weight, products)) {
      HeadGradients grads;
      const double loss_sum =
          linear_cross_entropy_cpu(x, weight, bias, y, products, need_grad ? &grads : nullptr);
      if (need_grad) ctx->save_for_backward({grads.x, grads.weight, grads.bias});
      return at::scalar_tensor(loss_sum / static_cast<double>(P), x.options());
    }
    at::Tensor grad_x, grad_w, grad_b;
    if (need_grad) {
      grad_x = at::empty_like(x);
      grad_w = at::zeros_like(weight);
      grad_b = at::zeros_like(bias);
    }
    const at::ScalarType mm_dtype = bf16_matmul ? at::kBFloat16 : at::kFloat;
    const at::Tensor w = weight.to(mm_dtype);  // [V, d]
    const at::Tensor bias_c = bias.contiguous();
    const SoftmaxRowKernel row_kernel = fastest_softmax_row_kernel();
    double loss_sum = 0;
    for (int64_t begin = 0; begin < P; begin += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, P - begin);
      const at::Tensor xc = x.narrow(0, begin, rows).to(mm_dtype);        // [c, d]
      at::Tensor logits = at::mm(xc, w.t()).to(at::kFloat).contiguous();  // [c, V], bias added below
      loss_sum += softmax_cross_entropy_rows(logits.data_ptr<float>(), rows, logits.size(1),
                                             bias_c.const_data_ptr<float>(), y.data_ptr<int64_t>() + begin,
                                             1.0f / static_cast<float>(P), row_kernel);
      if (!need_grad) continue;
      const at::Tensor& g = logits;  // now d mean / d logits
      const at::Tensor gm = g.to(mm_dtype);
      grad_x.narrow(0, begin, rows).copy_(at::mm(gm, w));
      if (bf16_matmul) {
        grad_w.add_(at::mm(gm.t(), xc));
      } else {
        grad_w.addmm_(gm.t(), xc);
      }
      grad_b.add_(g.sum(0));
    }
    if (need_grad) ctx->save_for_backward({grad_x, grad_w, grad_b});
    return at::scalar_tensor(loss_sum / static_cast<double>(P), x.options());
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& g = grad_outputs[0];
    return {saved[0] * g, saved[1] * g, saved[2] * g, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor linear_cross_entropy(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& targets, bool bf16_matmul, HeadKernel kernel,
                                int64_t chunk_rows) {
  if (x.dim() != 2 || weight.dim() != 2 || x.size(1) != weight.size(1) || bias.dim() != 1 ||
      bias.size(0) != weight.size(0) || targets.dim() != 1 || targets.size(0) != x.size(0)) {
    fail("linear_cross_entropy: expected x [P, d], weight [V, d], bias [V], targets [P]; got {}, {}, {}, {}",
         c10::str(x.sizes()), c10::str(weight.sizes()), c10::str(bias.sizes()), c10::str(targets.sizes()));
  }
  if (x.size(0) == 0) fail("linear_cross_entropy: no rows (every label is padding)");
  if (x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat || !x.device().is_cpu()) {
    return at::cross_entropy_loss(at::linear(x, weight, bias), targets);  // the fused kernel is CPU fp32
  }
  const bool fused = kernel == HeadKernel::kFastest;
  const bool needs_grad =
      c10::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
  if (!needs_grad) {
    c10::NoGradGuard no_grad;
    return LinearCrossEntropy::forward(nullptr, x, weight, bias, targets, bf16_matmul, fused, chunk_rows);
  }
  return LinearCrossEntropy::apply(x, weight, bias, targets, bf16_matmul, fused, chunk_rows);
}

}  // namespace lrec::lrurec
