#include "core/gemm_f32_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/error.h"

namespace lrec::f32 {

namespace {

constexpr int kMr = 6;                   // rows of the register tile
constexpr int64_t kNr = 64;              // columns of the register tile: 4 zmm vectors
constexpr int64_t kKc = 256;             // depth of one slice: a kKc x kNr panel of B (64 KB, L1 and L2)
constexpr int64_t kMc = 240;             // rows of A per pass over B's block (kMc x kKc floats, in L2)
constexpr int64_t kNc = 1024;            // columns of B's block (kKc x kNc floats, in L2)
constexpr int64_t kSplitRows = 4 * kMr;  // below this many rows per thread the threads split N instead

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C[MR, 16 NV] (= or +=) A[MR, kc] · Bpanel[kc, 16 NV]. A's element (i, p) lies at a[i * a_rs + p] or, when
// kTransposedA, at a[p * a_cs + i]. The panel's row p lies at b + p * kNr. `tail` masks the last vector's
// columns of C (B's padded columns are zero).
template <bool kTransposedA, int MR, int NV>
LREC_AVX512 void tile(int64_t kc, const float* a, int64_t a_ld, const float* b, float* c, int64_t ldc,
                      __mmask16 tail, bool accumulate) {
  __m512 acc[MR][NV];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      acc[i][j] = accumulate
                      ? _mm512_maskz_loadu_ps(j == NV - 1 ? tail : __mmask16(0xFFFF), c + i * ldc + 16 * j)
                      : _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; ++p) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_ps(b + p * kNr + 16 * j);
    const float* ap = kTransposedA ? a + p * a_ld : a + p;
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(kTransposedA ? ap[i] : ap[i * a_ld]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      _mm512_mask_storeu_ps(c + i * ldc + 16 * j, j == NV - 1 ? tail : __mmask16(0xFFFF), acc[i][j]);
}

using TileFn = void (*)(int64_t, const float*, int64_t, const float*, float*, int64_t, __mmask16, bool);

template <bool kTransposedA, int MR>
constexpr std::array<TileFn, 4> tiles_of_height() {
  return {tile<kTransposedA, MR, 1>, tile<kTransposedA, MR, 2>, tile<kTransposedA, MR, 3>,
          tile<kTransposedA, MR, 4>};
}

template <bool kTransposedA>
constexpr std::array<std::array<TileFn, 4>, kMr> tile_table() {
  return {tiles_of_height<kTransposedA, 1>(), tiles_of_height<kTransposedA, 2>(),
          tiles_of_height<kTransposedA, 3>(), tiles_of_height<kTransposedA, 4>(),
          tiles_of_height<kTransposedA, 5>(), tiles_of_height<kTransposedA, 6>()};
}

// tiles[transposed A][rows - 1][vectors - 1]
constexpr std::array<std::array<std::array<TileFn, 4>, kMr>, 2> kTiles = {tile_table<false>(),
                                                                          tile_table<true>()};

int64_t panels(int64_t n) { return ceil_div(n, kNr); }

// B[k, n] as kNr-wide panels [panels(n)][k][kNr], zero beyond column n.
LREC_AVX512 void pack_panels(int64_t k, int64_t n, Operand b, float* out) {
  for (int64_t jp = 0; jp < panels(n); ++jp) {
    const int64_t n0 = jp * kNr, width = std::min(kNr, n - n0);
    float* panel = out + jp * k * kNr;
    if (b.cs == 1) {
      for (int64_t p = 0; p < k; ++p) {
        const float* row = b.data + p * b.rs + n0;
        for (int64_t j = 0; j < kNr; j += 16)
          _mm512_storeu_ps(panel + p * kNr + j, _mm512_maskz_loadu_ps(bf16::lanes_below(j, width), row + j));
      }
    } else {
      std::fill(panel, panel + k * kNr, 0.0f);
      for (int64_t j = 0; j < width; ++j) {
        const float* col = b.data + (n0 + j) * b.cs;
        for (int64_t p = 0; p < k; ++p) panel[p * kNr + j] = col[p * b.rs];
      }
    }
  }
}

// C[m, n] (= or +=) A · B with B packed by pack_panels over all of k, in kKc-deep slices.
LREC_AVX512 void gemm_packed(int64_t m, int64_t n, int64_t k, Operand a, const float* packed, float* c,
                             int64_t ldc, bool accumulate) {
  const bool transposed_a = a.rs == 1 && a.cs != 1;
  const int64_t a_ld = transposed_a ? a.cs : a.rs;
  const auto& tiles = kTiles[transposed_a];
  for (int64_t pc = 0; pc < k; pc += kKc) {
    const int64_t kc = std::min(kKc, k - pc);
    const bool acc_now = accumulate || pc > 0;
    for (int64_t ic = 0; ic < m; ic += kMc) {
      const int64_t ic_end = std::min(m, ic + kMc);
      for (int64_t jp = 0; jp < panels(n); ++jp) {
        const int64_t n0 = jp * kNr, width = std::min(kNr, n - n0);
        const int64_t vectors = ceil_div(width, 16);
        const __mmask16 tail = bf16::lanes_below(16 * (vectors - 1), width);
        const float* panel = packed + (jp * k + pc) * kNr;
        for (int64_t ir = ic; ir < ic_end; ir += kMr) {
          const int64_t rows = std::min<int64_t>(kMr, ic_end - ir);
          const float* a_tile = transposed_a ? a.data + pc * a_ld + ir : a.data + ir * a_ld + pc;
          tiles[rows - 1][vectors - 1](kc, a_tile, a_ld, panel, c + ir * ldc + n0, ldc, tail, acc_now);
        }
      }
    }
  }
}

void check_operand(const Operand& a, const char* name) {
  if (a.rs != 1 && a.cs != 1) fail("f32::gemm: operand {} needs unit row or column stride", name);
}

// C = 0 for a product over K = 0 (nothing to add when accumulating).
void zero_unless(bool accumulate, int64_t m, int64_t n, float* c, int64_t ldc) {
  if (accumulate) return;
  for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
}

// The whole product on the calling thread, B packed one kKc x kNc block at a time into a buffer that the
// thread keeps: at most 1 MB, and no large allocation is freed per call (glibc raises its mmap threshold
// after such a free and then serves later tensors from a heap that does not shrink, which shows in the
// peak RSS).
void gemm_blocked(int64_t m, int64_t n, int64_t k, Operand a, Operand b, float* c, int64_t ldc,
                  bool accumulate) {
  thread_local std::vector<float> packed;
  packed.resize(kKc * kNc);
  for (int64_t jc = 0; jc < n; jc += kNc) {
    const int64_t nc = std::min(kNc, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      pack_panels(kc, nc, {b.data + pc * b.rs + jc * b.cs, b.rs, b.cs}, packed.data());
      gemm_packed(m, nc, kc, {a.data + pc * a.cs, a.rs, a.cs}, packed.data(), c + jc, ldc,
                  accumulate || pc > 0);
    }
  }
}

}  // namespace

bool gemm_applies() { return bf16::cpu_has_avx512(); }

void PackedB::pack(int64_t k, int64_t n, Operand b) {
  check_operand(b, "B");
  k_ = k;
  n_ = n;
  data_.resize(panels(n) * k * kNr);
  pack_panels(k, n, b, data_.data());
}

void gemm_serial(int64_t m, Operand a, const PackedB& b, float* c, int64_t ldc, bool accumulate) {
  check_operand(a, "A");
  if (m == 0 || b.n() == 0) return;
  if (b.k() == 0) return zero_unless(accumulate, m, b.n(), c, ldc);
  gemm_packed(m, b.n(), b.k(), a, b.data(), c, ldc, accumulate);
}

void gemm(int64_t m, int64_t n, int64_t k, Operand a, Operand b, float* c, int64_t ldc, bool accumulate) {
  check_operand(a, "A");
  check_operand(b, "B");
  if (m == 0 || n == 0) return;
  if (k == 0) return zero_unless(accumulate, m, n, c, ldc);
  // One parallel region: each thread runs the blocked product on its rows of C (each packing B for
  // itself) or, for few rows, on its panels of columns.
  if (m >= at::get_num_threads() * kSplitRows) {
    at::parallel_for(0, ceil_div(m, kMr), kSplitRows / kMr, [&](int64_t begin, int64_t end) {
      const int64_t r0 = begin * kMr, r1 = std::min(m, end * kMr);
      gemm_blocked(r1 - r0, n, k, {a.data + r0 * a.rs, a.rs, a.cs}, b, c + r0 * ldc, ldc, accumulate);
    });
  } else {
    at::parallel_for(0, panels(n), 1, [&](int64_t first, int64_t last) {
      const int64_t n0 = first * kNr, n1 = std::min(n, last * kNr);
      gemm_blocked(m, n1 - n0, k, a, {b.data + n0 * b.cs, b.rs, b.cs}, c + n0, ldc, accumulate);
    });
  }
}

}  // namespace lrec::f32
