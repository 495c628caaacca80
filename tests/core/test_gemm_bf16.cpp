#include <ATen/ATen.h>
#include <c10/util/BFloat16.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include "core/amx_cpu.h"
#include "core/bf16_cpu.h"

namespace lrec {
namespace {

using GemmKernel = void (*)(int64_t, int64_t, int64_t, const uint16_t*, int64_t, const uint16_t*, int64_t,
                            float*, int64_t, bool);

uint16_t bits(float v) { return c10::BFloat16(v).x; }

// C (= or +=) A B through a kernel, with every matrix inside a larger buffer (row strides above the sizes)
// so that a read or write outside the matrices shows: the padding of C must come back untouched.
// A and B hold bf16 values, so that each product is exact in fp32 and only the order of the sums differs
// from the double reference.
void expect_kernel_matches_reference(GemmKernel kernel, int64_t M, int64_t N, int64_t K, bool accumulate) {
  SCOPED_TRACE(::testing::Message() << "M " << M << " N " << N << " K " << K << " accumulate " << accumulate);
  const at::Tensor a = at::randn({M, K}).to(at::kBFloat16).to(at::kFloat);
  const at::Tensor b = at::randn({K, N}).to(at::kBFloat16).to(at::kFloat);
  const at::Tensor c0 = at::randn({M, N});
  const int64_t lda = K + 6, ldb = N + 16, ldc = N + 5;
  std::vector<uint16_t> a_buf(M * lda, bits(1e4f)), b_buf(K / 2 * 2 * ldb, bits(1e4f));
  const float sentinel = -12345.0f;
  std::vector<float> c_buf(M * ldc, sentinel);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t p = 0; p < K; ++p) a_buf[i * lda + p] = bits(a[i][p].item<float>());
  for (int64_t p = 0; p < K; ++p)
    for (int64_t j = 0; j < N; ++j) b_buf[(p / 2) * 2 * ldb + 2 * j + p % 2] = bits(b[p][j].item<float>());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) c_buf[i * ldc + j] = c0[i][j].item<float>();

  kernel(M, N, K, a_buf.data(), lda, b_buf.data(), ldb, c_buf.data(), ldc, accumulate);

  const at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  at::Tensor want = at::mm(ad, bd), bound = at::mm(ad.abs(), bd.abs());
  if (accumulate) {
    want += c0.to(at::kDouble);
    bound += c0.to(at::kDouble).abs();
  }
  double worst_excess = -1;  // |C - C_ref| - 2e-7 (K + 1) (|A| |B| + |C0|): at most 0 up to fp32 rounding
  int64_t touched_padding = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c_buf[i * ldc + j];
      if (j >= N) {
        touched_padding += got != sentinel;
        continue;
      }
      const double excess =
          std::abs(got - want[i][j].item<double>()) - 2e-7 * (K + 1) * bound[i][j].item<double>();
      worst_excess = std::max(worst_excess, excess);
    }
  }
  EXPECT_LE(worst_excess, 0.0);
  EXPECT_EQ(touched_padding, 0);
}

// Row counts below, at and off the 16-row tile and the 32-row block; column counts of one and two 16-column
// halves and off the 32-column block; K of one and several 32-deep steps.
const std::vector<std::tuple<int64_t, int64_t, int64_t>> kShapes = {
    {1, 16, 32},   {5, 48, 64},  {16, 32, 32},  {17, 16, 96},  {31, 80, 64},
    {32, 32, 128}, {33, 48, 32}, {64, 144, 64}, {100, 64, 160}};

TEST(GemmBf16, Avx512KernelMatchesTheProduct) {
  if (!bf16::cpu_has_avx512_bf16()) GTEST_SKIP() << "this CPU lacks AVX512-BF16";
  at::manual_seed(0);
  for (const auto& [M, N, K] : kShapes)
    for (const bool accumulate : {false, true})
      expect_kernel_matches_reference(bf16::gemm_bf16_avx512, M, N, K, accumulate);
  for (const bool accumulate : {false, true})  // K even, not a multiple of 32
    expect_kernel_matches_reference(bf16::gemm_bf16_avx512, 9, 32, 2, accumulate);
}

TEST(GemmBf16, AmxKernelMatchesTheProduct) {
  if (!amx::cpu_has_amx_bf16()) GTEST_SKIP() << "this CPU (or its kernel) lacks AMX-BF16";
  at::manual_seed(1);
  for (const auto& [M, N, K] : kShapes)
    for (const bool accumulate : {false, true})
      expect_kernel_matches_reference(amx::gemm_bf16_amx, M, N, K, accumulate);
}

// The dispatcher on both sides of its K % 32 rule: AMX where it applies, AVX512-BF16 otherwise.
TEST(GemmBf16, DispatcherMatchesTheProduct) {
  if (!bf16::cpu_has_avx512_bf16()) GTEST_SKIP() << "this CPU lacks AVX512-BF16";
  at::manual_seed(2);
  for (const int64_t K : {16, 64, 66})
    for (const bool accumulate : {false, true})
      expect_kernel_matches_reference(bf16::gemm_bf16, 37, 48, K, accumulate);
}

}  // namespace
}  // namespace lrec
