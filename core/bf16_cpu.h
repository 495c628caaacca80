// Building blocks for bf16 kernels on CPUs with AVX512-BF16 (vdpbf16ps: two bf16 products added into each
// fp32 lane): a small GEMM with fp32 accumulation, a vector exp, and bf16 stores. Shared by the attention
// kernel (llm_ranker/attention_bf16_cpu) and LRURec's output head (lrurec/linear_cross_entropy, whose fp32
// softmax uses the exp as well), and the CPU checks and target attributes of every kernel. Callers check
// cpu_has_avx512_bf16() before any LREC_AVX512_BF16 function runs, cpu_has_avx512() before any LREC_AVX512
// function, and cpu_has_avx2_fma() before any LREC_AVX2 function.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

// Only the functions marked with these attributes use AVX-512 (or AVX2) instructions; the files that include
// this one are built for the baseline CPU.
#define LREC_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define LREC_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define LREC_AVX2 __attribute__((target("avx2,fma")))

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() through masked builtins, which -Wmaybe-uninitialized
// (and, where the baseline CPU lacks AVX-512, -Wuninitialized in _mm512_reduce_add_ps) reports as a use of
// an uninitialized value once inlined (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// Where the baseline lacks AVX-512, GCC notes that an __m512 return value changes the ABI; every such
// function here is inline and called only from functions built for the same target.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace lrec::bf16 {

// True when this CPU runs the LREC_AVX512 functions (AVX-512 F/BW/VL/DQ).
bool cpu_has_avx512();
// True when this CPU runs the LREC_AVX512_BF16 functions (AVX-512 F/BW/VL/DQ and BF16).
bool cpu_has_avx512_bf16();
// True when this CPU runs the LREC_AVX2 functions (AVX2 and FMA).
bool cpu_has_avx2_fma();

// ---- C[M, N] (= or +=) A[M, K] · B --------------------------------------------------------------------
// A: bf16, row-major, row stride lda. B: bf16 in VNNI pairs, B[k][n] at b[(k / 2) * 2 * ldb + 2 * n + k % 2].
// C: fp32, row stride ldc. N % 16 == 0 and K even. Runs on AMX (core/amx_cpu) where the CPU has it and
// K % 32 == 0, else gemm_bf16_avx512.
void gemm_bf16(int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate);

// The same on AVX512-BF16: one vdpbf16ps adds two products per fp32 lane.
LREC_AVX512_BF16 void gemm_bf16_avx512(int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
                                       const uint16_t* b, int64_t ldb, float* c, int64_t ldc,
                                       bool accumulate);

// ---- elementwise pieces ---------------------------------------------------------------------------------
// The lanes of columns [c, c + 16) that lie below n: the mask for a 16-wide step over a row of n columns.
LREC_AVX512 inline __mmask16 lanes_below(int64_t c, int64_t n) {
  return c + 16 <= n ? __mmask16(0xFFFF) : c >= n ? __mmask16(0) : __mmask16((1u << (n - c)) - 1);
}

// The same on 8 lanes, as the mask of AVX2's masked moves (all ones in the lanes of columns below n).
LREC_AVX2 inline __m256i lanes_below8(int64_t c, int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::clamp<int64_t>(n - c, 0, 8))),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// exp(x) = 2^n · e^r with n = round(x / ln 2), |r| <= ln(2) / 2, and e^r by its Taylor series to r^7
// (relative error < 1e-8, below fp32's rounding). Inputs below -87 give exp(-87) ~ 1.6e-38.
LREC_AVX512 inline __m512 exp_ps(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);  // ln 2, split in two parts
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606820309417e-6f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  for (const float coef : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f})
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(coef));
  return _mm512_scalef_ps(p, n);
}

// The same exp on 8 lanes with AVX2 + FMA: 2^n is built in the exponent bits (n >= -126 here, a normal
// float).
LREC_AVX2 inline __m256 exp256_ps(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606820309417e-6f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  for (const float coef : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f})
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(coef));
  const __m256i two_n =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(two_n));
}

LREC_AVX512_BF16 inline void store_bf16(uint16_t* dst, __m512 x) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), (__m256i)_mm512_cvtneps_pbh(x));
}

// Rows r and r + 1 as VNNI pairs: dst[2j] = bf16(row0[j]), dst[2j + 1] = bf16(row1[j]), j < 16.
LREC_AVX512_BF16 inline void store_bf16_pairs(uint16_t* dst, __m512 row0, __m512 row1) {
  static const __m512i interleave =
      _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20,
                       4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(row1, row0);  // [row0 (16), row1 (16)]
  _mm512_storeu_si512(dst, _mm512_permutexvar_epi16(interleave, both));
}

}  // namespace lrec::bf16
