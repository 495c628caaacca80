#include "core/bf16_cpu.h"

#include <cstring>

#include "core/amx_cpu.h"

namespace lrec::bf16 {

bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return has;
}

bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

bool cpu_has_avx512_bf16() {
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512bf16");
  return has;
}

namespace {

template <int MR, int NV>
LREC_AVX512_BF16 inline void gemm_tile(int64_t k_pairs, const uint16_t* a, int64_t lda, const uint16_t* b,
                                       int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  __m512 acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      acc[i][j] = accumulate ? _mm512_loadu_ps(c + i * ldc + 16 * j) : _mm512_setzero_ps();
  for (int64_t p = 0; p < k_pairs; ++p) {
    __m512bh bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = (__m512bh)_mm512_loadu_si512(b + p * 2 * ldb + 32 * j);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      int32_t pair;  // A[i][2p], A[i][2p + 1]
      std::memcpy(&pair, a + i * lda + 2 * p, sizeof(pair));
      const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) _mm512_storeu_ps(c + i * ldc + 16 * j, acc[i][j]);
}

template <int MR>
LREC_AVX512_BF16 void gemm_rows(int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
                                int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  int64_t j = 0;
  if constexpr (MR <= 4)  // 16 accumulators at most
    for (; j + 64 <= n; j += 64) gemm_tile<MR, 4>(k / 2, a, lda, b + 2 * j, ldb, c + j, ldc, accumulate);
  for (; j + 32 <= n; j += 32) gemm_tile<MR, 2>(k / 2, a, lda, b + 2 * j, ldb, c + j, ldc, accumulate);
  for (; j < n; j += 16) gemm_tile<MR, 1>(k / 2, a, lda, b + 2 * j, ldb, c + j, ldc, accumulate);
}

}  // namespace

LREC_AVX512_BF16 void gemm_bf16_avx512(int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
                                       const uint16_t* b, int64_t ldb, float* c, int64_t ldc,
                                       bool accumulate) {
  int64_t i = 0;
  for (; i + 8 <= m; i += 8) gemm_rows<8>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
  for (; i + 4 <= m; i += 4) gemm_rows<4>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
  for (; i < m; ++i) gemm_rows<1>(n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc, accumulate);
}

void gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (k % 32 == 0 && amx::cpu_has_amx_bf16()) {
    amx::gemm_bf16_amx(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
  } else {
    gemm_bf16_avx512(m, n, k, a, lda, b, ldb, c, ldc, accumulate);
  }
}

}  // namespace lrec::bf16
