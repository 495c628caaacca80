#include "core/linear.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "core/gemm_f32_cpu.h"

namespace lrec {

namespace {

// Below this many rows a product is bound by reading W, where MKL's path is as fast, and packing W for
// the kernel would cost as much as the product.
constexpr int64_t kMinRows = 32;

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// `sizes` with its last dimension replaced by `last`.
std::vector<int64_t> with_last(at::IntArrayRef sizes, int64_t last) {
  std::vector<int64_t> shape(sizes.begin(), sizes.end());
  shape.back() = last;
  return shape;
}

// x2 [M, in] -> x2 Wᵀ (+ b), allocated as `shape` ([..., out], M rows).
at::Tensor forward_product(const at::Tensor& x2, const at::Tensor& weight, const at::Tensor& bias,
                           at::IntArrayRef shape) {
  const int64_t m = x2.size(0), in = weight.size(1), out = weight.size(0);
  at::Tensor y = at::empty(shape, x2.options());
  if (bias.defined()) y.view({m, out}).copy_(bias.unsqueeze(0).expand({m, out}));
  f32::gemm(m, out, in, f32::row_major(x2.const_data_ptr<float>(), in),
            f32::transposed(weight.const_data_ptr<float>(), in), y.mutable_data_ptr<float>(), out,
            /*accumulate=*/bias.defined());
  return y;
}

class LinearF32 : public torch::autograd::Function<LinearF32> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias_or_empty) {
    const at::Tensor bias = bias_or_empty.numel() > 0 ? bias_or_empty : at::Tensor();
    const int64_t in = weight.size(1), out = weight.size(0);
    const at::Tensor x2 = x.reshape({-1, in}).contiguous();
    const at::Tensor w = weight.contiguous();
    // Only what the backward needs, as at::linear: x for dW, W for dx.
    ctx->save_for_backward(
        {weight.requires_grad() ? x2 : at::Tensor(), x.requires_grad() ? w : at::Tensor()});
    ctx->saved_data["in"] = in;
    ctx->saved_data["out"] = out;
    return forward_product(x2, w, bias, with_last(x.sizes(), out));
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x2 = saved[0], &w = saved[1];
    const int64_t in = ctx->saved_data["in"].toInt(), out = ctx->saved_data["out"].toInt();
    const int64_t m = grad_outputs[0].numel() / out;
    const at::Tensor g = grad_outputs[0].reshape({m, out}).contiguous();  // dL/dy [M, out]
    at::Tensor grad_x, grad_w, grad_b;
    if (ctx->needs_input_grad(0)) {  // dx = g W  [M, in]
      grad_x = at::empty({m, in}, g.options());
      f32::gemm(m, in, out, f32::row_major(g.const_data_ptr<float>(), out),
                f32::row_major(w.const_data_ptr<float>(), in), grad_x.mutable_data_ptr<float>(), in, false);
      grad_x = grad_x.view(with_last(grad_outputs[0].sizes(), in));
    }
    if (ctx->needs_input_grad(1)) {
      // The kernel packs its B operand: B = x (dW = gᵀ x [out, in]) or, when out < in as for LoRA's A,
      // the narrower g (dWᵀ = xᵀ g [in, out], then transposed).
      if (out < in) {
        at::Tensor grad_wt = at::empty({in, out}, g.options());
        f32::gemm(in, out, m, f32::transposed(x2.const_data_ptr<float>(), in),
                  f32::row_major(g.const_data_ptr<float>(), out), grad_wt.mutable_data_ptr<float>(), out,
                  false);
        grad_w = grad_wt.t().contiguous();
      } else {
        grad_w = at::empty({out, in}, g.options());
        f32::gemm(out, in, m, f32::transposed(g.const_data_ptr<float>(), out),
                  f32::row_major(x2.const_data_ptr<float>(), in), grad_w.mutable_data_ptr<float>(), in,
                  false);
      }
    }
    if (ctx->needs_input_grad(2)) grad_b = g.sum(0);  // never for the empty stand-in of no bias
    return {grad_x, grad_w, grad_b};
  }
};

}  // namespace

bool linear_uses_gemm_f32(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const auto is_cpu_f32 = [](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat;
  };
  return f32::gemm_applies() && is_cpu_f32(x) && is_cpu_f32(weight) &&
         (!bias.defined() || is_cpu_f32(bias)) && x.dim() >= 1 && weight.dim() == 2 &&
         x.size(-1) == weight.size(1) && x.numel() / weight.size(1) >= kMinRows;
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  if (!linear_uses_gemm_f32(x, weight, bias)) return at::linear(x, weight, bias);
  // An autograd function takes no undefined tensor: no bias travels as an empty one.
  return LinearF32::apply(x, weight, bias.defined() ? bias : at::empty({0}, weight.options()));
}

}  // namespace lrec
