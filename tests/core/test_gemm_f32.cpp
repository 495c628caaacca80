#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <tuple>

#include "core/gemm_f32_cpu.h"
#include "core/linear.h"

namespace lrec {
namespace f32 {
// Names the instruction set in test output.
void PrintTo(Isa isa, std::ostream* out) { *out << isa_name(isa); }
}  // namespace f32
namespace {

// The kernel's product against at::mm in double, element by element, within fp32 rounding of the sum:
// |C - C_ref| <= 2e-7 · K · (|A| |B|) + 1e-30. A wrong index or tail gives errors of order |A| |B|.
void expect_matches_reference(const at::Tensor& c, const at::Tensor& a, const at::Tensor& b,
                              const at::Tensor& c0, bool accumulate) {
  const at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  at::Tensor ref = at::mm(ad, bd), bound = at::mm(ad.abs(), bd.abs());
  if (accumulate) {
    ref = ref + c0.to(at::kDouble);
    bound = bound + c0.to(at::kDouble).abs();
  }
  const at::Tensor excess = (c.to(at::kDouble) - ref).abs() - (2e-7 * (a.size(1) + 1) * bound + 1e-30);
  EXPECT_LE(excess.max().item<double>(), 0.0)
      << "M " << a.size(0) << " N " << b.size(1) << " K " << a.size(1) << " accumulate " << accumulate;
}

// Each test runs once per instruction set, with the tiles capped at it; a set this CPU lacks is skipped.
class GemmF32 : public ::testing::TestWithParam<f32::Isa> {
 protected:
  void SetUp() override {
    if (f32::cpu_isa() < GetParam()) GTEST_SKIP() << "this CPU lacks the instruction set";
    previous_cap_ = f32::limit_isa(GetParam());
    ASSERT_EQ(f32::active_isa(), GetParam());
  }
  void TearDown() override { f32::limit_isa(previous_cap_); }

 private:
  f32::Isa previous_cap_ = f32::Isa::kAvx512;
};

INSTANTIATE_TEST_SUITE_P(Isa, GemmF32, ::testing::Values(f32::Isa::kAvx2, f32::Isa::kAvx512),
                         [](const auto& info) { return info.param == f32::Isa::kAvx2 ? "avx2" : "avx512"; });

TEST_P(GemmF32, EveryLayoutTailAndAccumulateMatchesTheReference) {
  at::manual_seed(0);
  for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1},
                                {5, 17, 3},
                                {6, 64, 256},
                                {7, 65, 257},
                                {13, 130, 600},
                                {250, 48, 70},
                                {241, 1030, 33},
                                {3, 200, 1}}) {
    for (const bool a_t : {false, true}) {
      for (const bool b_t : {false, true}) {
        for (const bool accumulate : {false, true}) {
          const at::Tensor a_stored = a_t ? at::randn({k, m}) : at::randn({m, k});
          const at::Tensor b_stored = b_t ? at::randn({n, k}) : at::randn({k, n});
          const at::Tensor a = a_t ? a_stored.t() : a_stored, b = b_t ? b_stored.t() : b_stored;
          const f32::Operand ao = a_t ? f32::transposed(a_stored.data_ptr<float>(), m)
                                      : f32::row_major(a_stored.data_ptr<float>(), k);
          const f32::Operand bo = b_t ? f32::transposed(b_stored.data_ptr<float>(), k)
                                      : f32::row_major(b_stored.data_ptr<float>(), n);
          // C is a view with a wider row stride, so ldc is tested too; its extra columns must not change.
          const at::Tensor c0 = at::randn({m, n + 3});
          at::Tensor c = c0.clone();
          f32::gemm(m, n, k, ao, bo, c.data_ptr<float>(), n + 3, accumulate);
          expect_matches_reference(c.narrow(1, 0, n), a, b, c0.narrow(1, 0, n), accumulate);
          EXPECT_TRUE(at::equal(c.narrow(1, n, 3), c0.narrow(1, n, 3)));

          at::Tensor c_serial = c0.clone();
          f32::gemm_serial(m, ao, f32::PackedB(k, n, bo), c_serial.data_ptr<float>(), n + 3, accumulate);
          expect_matches_reference(c_serial.narrow(1, 0, n), a, b, c0.narrow(1, 0, n), accumulate);
        }
      }
    }
  }
}

TEST_P(GemmF32, ThreadCountDoesNotChangeTheResult) {
  // Rows or columns are dealt to threads whole: every element is summed in the same order.
  at::manual_seed(1);
  const int threads = at::get_num_threads();
  for (const int64_t m : {8, 700}) {
    const at::Tensor a = at::randn({m, 300}), b = at::randn({300, 333});
    at::Tensor one = at::empty({m, 333}), two = at::empty({m, 333});
    at::set_num_threads(1);
    f32::gemm(m, 333, 300, f32::row_major(a.data_ptr<float>(), 300), f32::row_major(b.data_ptr<float>(), 333),
              one.data_ptr<float>(), 333, false);
    at::set_num_threads(2);
    f32::gemm(m, 333, 300, f32::row_major(a.data_ptr<float>(), 300), f32::row_major(b.data_ptr<float>(), 333),
              two.data_ptr<float>(), 333, false);
    EXPECT_TRUE(at::equal(one, two)) << "M " << m;
  }
  at::set_num_threads(threads);
}

TEST_P(GemmF32, LinearAndItsGradientsMatchAtLinearInDouble) {
  at::manual_seed(2);
  for (const bool with_bias : {false, true}) {
    const at::Tensor x = at::randn({3, 50, 70}).requires_grad_();
    const at::Tensor w = at::randn({90, 70}).requires_grad_();
    const at::Tensor b = with_bias ? at::randn({90}).requires_grad_() : at::Tensor();
    ASSERT_TRUE(linear_uses_gemm_f32(x, w, b));
    const at::Tensor grad = at::randn({3, 50, 90});
    const at::Tensor y = linear(x, w, b);
    y.backward(grad);

    const at::Tensor xd = x.detach().to(at::kDouble).requires_grad_(),
                     wd = w.detach().to(at::kDouble).requires_grad_();
    const at::Tensor bd = with_bias ? b.detach().to(at::kDouble).requires_grad_() : at::Tensor();
    const at::Tensor yd = at::linear(xd, wd, bd);
    yd.backward(grad.to(at::kDouble));
    const auto close = [](const at::Tensor& ours, const at::Tensor& ref) {
      return at::allclose(ours.to(at::kDouble), ref, /*rtol=*/1e-5, /*atol=*/1e-4);
    };
    EXPECT_TRUE(close(y, yd));
    EXPECT_TRUE(close(x.grad(), xd.grad()));
    EXPECT_TRUE(close(w.grad(), wd.grad()));
    if (with_bias) {
      EXPECT_TRUE(close(b.grad(), bd.grad()));
    }
  }
  // A frozen weight (the LoRA base) or an input without gradient: the other gradient alone, still exact.
  const at::Tensor x = at::randn({64, 70}), w = at::randn({90, 70}), grad = at::randn({64, 90});
  const at::Tensor x_grad = x.clone().requires_grad_(), w_grad = w.clone().requires_grad_();
  linear(x_grad, w, at::Tensor()).backward(grad);
  linear(x, w_grad, at::Tensor()).backward(grad);
  EXPECT_TRUE(at::allclose(x_grad.grad(), at::mm(grad, w), 1e-5, 1e-4));
  EXPECT_TRUE(at::allclose(w_grad.grad(), at::mm(grad.t(), x), 1e-5, 1e-4));
  // A few rows (decoding) and other dtypes take at::linear.
  EXPECT_FALSE(linear_uses_gemm_f32(at::randn({2, 70}), at::randn({90, 70}), at::Tensor()));
  EXPECT_FALSE(linear_uses_gemm_f32(at::randn({64, 70}).to(at::kBFloat16),
                                    at::randn({90, 70}).to(at::kBFloat16), at::Tensor()));
}

// Both tile sets add each element's products in order of k, one fused multiply-add at a time: the AVX2
// tiles give the AVX-512 tiles' bits, and those of a plain loop with std::fma.
TEST(GemmF32Isa, EveryInstructionSetGivesThePlainFmaLoopsBits) {
  at::manual_seed(5);
  const int64_t m = 13, n = 70, k = 300;
  const at::Tensor a = at::randn({m, k}), b = at::randn({k, n}), c0 = at::randn({m, n});
  at::Tensor loop = c0.clone();
  const float *ap = a.const_data_ptr<float>(), *bp = b.const_data_ptr<float>();
  float* lp = loop.mutable_data_ptr<float>();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) lp[i * n + j] = std::fma(ap[i * k + p], bp[p * n + j], lp[i * n + j]);
  int tested = 0;
  for (const f32::Isa isa : {f32::Isa::kAvx2, f32::Isa::kAvx512}) {
    if (f32::cpu_isa() < isa) continue;
    const f32::Isa previous = f32::limit_isa(isa);
    at::Tensor c = c0.clone();
    f32::gemm(m, n, k, f32::row_major(ap, k), f32::row_major(bp, n), c.mutable_data_ptr<float>(), n, true);
    f32::limit_isa(previous);
    EXPECT_TRUE(at::equal(c, loop)) << "isa " << f32::isa_name(isa);
    ++tested;
  }
  if (tested == 0) GTEST_SKIP() << "this CPU has neither AVX2 with FMA nor AVX-512";
}

TEST(GemmF32Operands, RejectsAnOperandWithoutUnitStride) {
  const float x[4] = {1, 2, 3, 4};
  EXPECT_THROW(f32::PackedB(2, 2, f32::Operand{x, 2, 2}), std::exception);
}

}  // namespace
}  // namespace lrec
