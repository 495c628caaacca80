#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "core/bf16_cpu.h"
#include "core/gemm_f32_cpu.h"
#include "lrurec/linear_cross_entropy.h"
#include "lrurec/linear_cross_entropy_cpu.h"
#include "lrurec/softmax_rows_cpu.h"

namespace lrec::lrurec {
namespace {

double max_relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / want.abs().max().item<double>();
}

// The portable chunked path over chunks that do and do not divide the row count (chunk 0 marks the
// fastest path: the fused kernel on CPUs with AVX2 or AVX-512).
TEST(LinearCrossEntropy, MatchesUnfusedLossAndGradients) {
  at::manual_seed(0);
  for (int64_t chunk : {1, 7, 64, 1000, 0}) {
    const at::Tensor x0 = at::randn({50, 16}), w0 = at::randn({33, 16}) * 0.3, b0 = at::randn({33}) * 0.1;
    const at::Tensor y = at::randint(0, 33, {50}, at::kLong);
    at::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(),
               b = b0.clone().requires_grad_();
    const at::Tensor fused =
        chunk == 0 ? linear_cross_entropy(x, w, b, y)
                   : linear_cross_entropy(x, w, b, y, /*bf16_matmul=*/false, HeadKernel::kPortable, chunk);
    (fused * 2.5).backward();  // a non-unit upstream gradient
    at::Tensor xr = x0.clone().requires_grad_(), wr = w0.clone().requires_grad_(),
               br = b0.clone().requires_grad_();
    const at::Tensor reference = at::cross_entropy_loss(at::linear(xr, wr, br), y);
    (reference * 2.5).backward();
    EXPECT_NEAR(fused.item<double>(), reference.item<double>(), 1e-5 * reference.item<double>()) << chunk;
    EXPECT_LT(max_relative_error(x.grad(), xr.grad()), 1e-5) << chunk;
    EXPECT_LT(max_relative_error(w.grad(), wr.grad()), 1e-5) << chunk;
    EXPECT_LT(max_relative_error(b.grad(), br.grad()), 1e-5) << chunk;
  }
}

TEST(LinearCrossEntropy, WithoutGradientsGivesTheSameLoss) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({20, 8}), w = at::randn({9, 8}), b = at::randn({9});
  const at::Tensor y = at::randint(0, 9, {20}, at::kLong);
  EXPECT_NEAR(linear_cross_entropy(x, w, b, y, false, HeadKernel::kPortable, 3).item<double>(),
              at::cross_entropy_loss(at::linear(x, w, b), y).item<double>(), 1e-5);
}

TEST(LinearCrossEntropy, Bf16MatmulsStayCloseToFp32) {
  at::manual_seed(2);
  const at::Tensor x0 = at::randn({300, 64}), w0 = at::randn({500, 64}) * 0.1, b0 = at::randn({500}) * 0.1;
  const at::Tensor y = at::randint(0, 500, {300}, at::kLong);
  at::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
  at::Tensor xr = x0.clone().requires_grad_(), wr = w0.clone().requires_grad_();
  const at::Tensor fast = linear_cross_entropy(x, w, b0, y, /*bf16_matmul=*/true);
  const at::Tensor exact = linear_cross_entropy(xr, wr, b0, y, /*bf16_matmul=*/false);
  fast.backward();
  exact.backward();
  // bf16 inputs carry 8 mantissa bits: a documented tolerance of 1% on the loss and gradients.
  EXPECT_NEAR(fast.item<double>(), exact.item<double>(), 1e-2 * exact.item<double>());
  EXPECT_LT(max_relative_error(x.grad(), xr.grad()), 2e-2);
  EXPECT_LT(max_relative_error(w.grad(), wr.grad()), 2e-2);
}

// The fused kernels against the fp32 formula. fp32 products: exact up to summation order. bf16 products, on
// the same bf16-rounded x and W: the logits and the loss are then exact up to summation order; the
// gradients carry the rounding of G to bf16. Row counts that are and are not multiples of the 64-row
// block, vocabularies off the 16- and 32-column padding, d 16 and 64.
class FusedHead : public ::testing::TestWithParam<HeadProducts> {};

TEST_P(FusedHead, MatchesTheFormula) {
  const HeadProducts products = GetParam();
  const bool bf16 = products == HeadProducts::kBFloat16;
  if (!linear_cross_entropy_cpu_applies(at::zeros({1, 16}), at::zeros({1, 16}), products))
    GTEST_SKIP() << "this CPU lacks the kernel's instructions; the portable path is tested above";
  at::manual_seed(3);
  // fp32 products: on each instruction set of core/gemm_f32_cpu this CPU has.
  std::vector<f32::Isa> isas{f32::cpu_isa()};
  if (!bf16 && f32::cpu_isa() == f32::Isa::kAvx512) isas.push_back(f32::Isa::kAvx2);
  for (const f32::Isa isa : isas)
    for (const auto& [P, V, d] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 7, 16}, {63, 33, 16}, {64, 64, 64}, {130, 1000, 64}, {301, 3417, 64}}) {
      SCOPED_TRACE(::testing::Message()
                   << "isa " << f32::isa_name(isa) << " P " << P << " V " << V << " d " << d);
      const f32::Isa previous_cap = f32::limit_isa(isa);
      const auto inputs = [&](const at::Tensor& t) { return bf16 ? t.to(at::kBFloat16).to(at::kFloat) : t; };
      const at::Tensor x0 = inputs(at::randn({P, d})), w0 = inputs(at::randn({V, d}) * 0.3);
      const at::Tensor b0 = at::randn({V}) * 0.1;
      const at::Tensor y = at::randint(0, V, {P}, at::kLong);
      HeadGradients got;
      const double loss_sum = linear_cross_entropy_cpu(x0, w0, b0, y, products, &got);
      at::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(),
                 b = b0.clone().requires_grad_();
      const at::Tensor want = at::cross_entropy_loss(at::linear(x, w, b), y);
      want.backward();
      const double grad_tolerance = bf16 ? 1e-2 : 1e-5;
      EXPECT_NEAR(loss_sum / static_cast<double>(P), want.item<double>(), 1e-5 * want.item<double>());
      EXPECT_LT(max_relative_error(got.x, x.grad()), grad_tolerance);
      EXPECT_LT(max_relative_error(got.weight, w.grad()), grad_tolerance);
      EXPECT_LT(max_relative_error(got.bias, b.grad()), 1e-5);  // summed from fp32 G
      EXPECT_EQ(linear_cross_entropy_cpu(x0, w0, b0, y, products, nullptr), loss_sum);
      f32::limit_isa(previous_cap);
    }
}

INSTANTIATE_TEST_SUITE_P(Products, FusedHead,
                         ::testing::Values(HeadProducts::kFloat32, HeadProducts::kBFloat16),
                         [](const auto& info) {
                           return info.param == HeadProducts::kFloat32 ? "fp32" : "bf16";
                         });

// Every softmax row kernel this CPU runs against the formula: vocabularies below, at and off the 8- and
// 16-lane widths, logits large enough that the shift by the row maximum matters.
std::vector<SoftmaxRowKernel> softmax_row_kernels_of_this_cpu() {
  std::vector<SoftmaxRowKernel> kernels{SoftmaxRowKernel::kPortable};
  if (bf16::cpu_has_avx2_fma()) kernels.push_back(SoftmaxRowKernel::kAvx2);
  if (bf16::cpu_has_avx512()) kernels.push_back(SoftmaxRowKernel::kAvx512);
  return kernels;
}

TEST(LinearCrossEntropy, SoftmaxRowKernelsMatchTheFormula) {
  const std::vector<SoftmaxRowKernel> kernels = softmax_row_kernels_of_this_cpu();
  at::manual_seed(4);
  for (const SoftmaxRowKernel kernel : kernels) {
    for (const auto& [rows, V] :
         std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 7}, {17, 16}, {40, 3417}}) {
      SCOPED_TRACE(::testing::Message()
                   << "kernel " << static_cast<int>(kernel) << " rows " << rows << " V " << V);
      const at::Tensor logits = at::randn({rows, V}) * 30, bias = at::randn({V});
      const at::Tensor y = at::randint(0, V, {rows}, at::kLong);
      at::Tensor g = logits.clone();
      const double loss_sum =
          softmax_cross_entropy_rows(g.data_ptr<float>(), rows, V, bias.const_data_ptr<float>(),
                                     y.const_data_ptr<int64_t>(), 0.25f, kernel);
      const at::Tensor s = (logits + bias).to(at::kDouble);
      const at::Tensor want_loss = (s.logsumexp(1) - s.gather(1, y.unsqueeze(1)).squeeze(1)).sum();
      const at::Tensor want_g = (at::softmax(s, 1) - at::one_hot(y, V).to(at::kDouble)) * 0.25;
      EXPECT_NEAR(loss_sum, want_loss.item<double>(), 1e-5 * std::max(1.0, want_loss.item<double>()));
      EXPECT_LT((g.to(at::kDouble) - want_g).abs().max().item<double>(),
                1e-6 * 0.25);  // relative to |G| <= 1/4
    }
  }
}

// Rows stored wider than the vocabulary (the fused heads' padded rows): the padding columns end as zeros,
// and without gradients the row holds exp(s + b - max), its sum giving the loss.
TEST(LinearCrossEntropy, SoftmaxRowKernelsZeroThePaddingColumns) {
  at::manual_seed(6);
  const int64_t rows = 5, V = 37, width = 48;
  for (const SoftmaxRowKernel kernel : softmax_row_kernels_of_this_cpu()) {
    for (const bool need_grad : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "kernel " << static_cast<int>(kernel) << " need_grad " << need_grad);
      const at::Tensor logits = at::randn({rows, width}) * 10, bias = at::randn({V});
      const at::Tensor y = at::randint(0, V, {rows}, at::kLong);
      at::Tensor out = logits.clone();
      std::vector<double> row_loss(rows);
      softmax_gradient_rows(kernel, out.data_ptr<float>(), rows, width, bias.const_data_ptr<float>(), V,
                            y.const_data_ptr<int64_t>(), 0.5f, need_grad, row_loss.data());
      const at::Tensor s = (logits.narrow(1, 0, V) + bias).to(at::kDouble);
      const at::Tensor want_loss = s.logsumexp(1) - s.gather(1, y.unsqueeze(1)).squeeze(1);
      const at::Tensor want = need_grad ? (at::softmax(s, 1) - at::one_hot(y, V).to(at::kDouble)) * 0.5
                                        : (s - std::get<0>(s.max(1, true))).exp();
      EXPECT_LT((out.narrow(1, 0, V).to(at::kDouble) - want).abs().max().item<double>(), 1e-6);
      EXPECT_TRUE(at::equal(out.narrow(1, V, width - V), at::zeros({rows, width - V})));
      for (int64_t r = 0; r < rows; ++r) EXPECT_NEAR(row_loss[r], want_loss[r].item<double>(), 1e-5);
    }
  }
}

TEST(LinearCrossEntropy, BadShapesAreRefused) {
  EXPECT_THROW(
      linear_cross_entropy(at::zeros({4, 3}), at::zeros({5, 2}), at::zeros({5}), at::zeros({4}, at::kLong)),
      std::runtime_error);
  EXPECT_THROW(
      linear_cross_entropy(at::zeros({0, 3}), at::zeros({5, 3}), at::zeros({5}), at::zeros({0}, at::kLong)),
      std::runtime_error);
}

}  // namespace
}  // namespace lrec::lrurec
