#include "core/gemm_f32_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <utility>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/error.h"

namespace lrec::f32 {

namespace {

constexpr int kMr = 6;                   // rows of the register tile
constexpr int64_t kKc = 256;             // depth of one slice: a kKc-deep panel of B (64 KB or 16 KB)
constexpr int64_t kMc = 240;             // rows of A per pass over B's block (kMc x kKc floats, in L2)
constexpr int64_t kNc = 1024;            // columns of B's block (kKc x kNc floats, in L2)
constexpr int64_t kSplitRows = 4 * kMr;  // below this many rows per thread the threads split N instead

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A register tile: C[MR, NV vectors] (= or +=) A[MR, kc] · Bpanel[kc, NV vectors]. A's element (i, p) lies
// at a[i * a_ld + p] or, when kTransposedA, at a[p * a_ld + i]. B's packed panel holds its row p at
// b + p * kPanel.
// Only the first `tail` columns of the last vector are C's (B's padded columns are zero).
using TileFn = void (*)(int64_t kc, const float* a, int64_t a_ld, const float* b, float* c, int64_t ldc,
                        int tail, bool accumulate);

struct Avx512Tiles {
  static constexpr int64_t kLanes = 16, kMaxVectors = 4, kPanel = kLanes * kMaxVectors;

  template <bool kTransposedA, int MR, int NV>
  LREC_AVX512 static void tile(int64_t kc, const float* a, int64_t a_ld, const float* b, float* c,
                               int64_t ldc, int tail, bool accumulate) {
    const __mmask16 last = bf16::lanes_below(0, tail);
    __m512 acc[MR][NV];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j)
        acc[i][j] = accumulate
                        ? _mm512_maskz_loadu_ps(j == NV - 1 ? last : __mmask16(0xFFFF), c + i * ldc + 16 * j)
                        : _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; ++p) {
      __m512 bv[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_ps(b + p * kPanel + 16 * j);
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
        _mm512_mask_storeu_ps(c + i * ldc + 16 * j, j == NV - 1 ? last : __mmask16(0xFFFF), acc[i][j]);
  }
};

struct Avx2Tiles {
  static constexpr int64_t kLanes = 8, kMaxVectors = 2, kPanel = kLanes * kMaxVectors;

  template <bool kTransposedA, int MR, int NV>
  LREC_AVX2 static void tile(int64_t kc, const float* a, int64_t a_ld, const float* b, float* c, int64_t ldc,
                             int tail, bool accumulate) {
    // Masked moves only for a partial last vector: they are slow on AMD CPUs.
    const bool partial = tail < kLanes;
    const __m256i last = bf16::lanes_below8(0, tail);
    __m256 acc[MR][NV];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) {
        float* cij = c + i * ldc + 8 * j;
        acc[i][j] = !accumulate                ? _mm256_setzero_ps()
                    : (j == NV - 1 && partial) ? _mm256_maskload_ps(cij, last)
                                               : _mm256_loadu_ps(cij);
      }
    for (int64_t p = 0; p < kc; ++p) {
      __m256 bv[NV];
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) bv[j] = _mm256_loadu_ps(b + p * kPanel + 8 * j);
      const float* ap = kTransposedA ? a + p * a_ld : a + p;
#pragma GCC unroll 6
      for (int i = 0; i < MR; ++i) {
        const __m256 av = _mm256_broadcast_ss(kTransposedA ? ap + i : ap + i * a_ld);
#pragma GCC unroll 2
        for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_fmadd_ps(av, bv[j], acc[i][j]);
      }
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) {
        float* cij = c + i * ldc + 8 * j;
        if (j == NV - 1 && partial) {
          _mm256_maskstore_ps(cij, last, acc[i][j]);
        } else {
          _mm256_storeu_ps(cij, acc[i][j]);
        }
      }
  }
};

// tiles[transposed A][rows - 1][vectors - 1] of one instruction set.
template <class Tiles>
using TileTable = std::array<std::array<std::array<TileFn, Tiles::kMaxVectors>, kMr>, 2>;

template <class Tiles, bool kTransposedA, int MR, size_t... V>
constexpr std::array<TileFn, Tiles::kMaxVectors> tiles_of_height(std::index_sequence<V...>) {
  return {&Tiles::template tile<kTransposedA, MR, int(V) + 1>...};
}

template <class Tiles, bool kTransposedA, size_t... R>
constexpr std::array<std::array<TileFn, Tiles::kMaxVectors>, kMr> tiles_of_layout(std::index_sequence<R...>) {
  return {
      tiles_of_height<Tiles, kTransposedA, int(R) + 1>(std::make_index_sequence<Tiles::kMaxVectors>())...};
}

template <class Tiles>
constexpr TileTable<Tiles> kTiles = {tiles_of_layout<Tiles, false>(std::make_index_sequence<kMr>()),
                                     tiles_of_layout<Tiles, true>(std::make_index_sequence<kMr>())};

// The width of B's packed panels: one register tile's columns, so that the tile reads its panel's rows
// whole (a tile that read a quarter of each row would spread a slice over four times the cache lines).
int64_t panel_width(Isa isa) { return isa == Isa::kAvx512 ? Avx512Tiles::kPanel : Avx2Tiles::kPanel; }

int64_t panels(int64_t n, int64_t nr) { return ceil_div(n, nr); }

// B[k, n] as nr-wide panels [panels(n, nr)][k][nr], zero beyond column n.
void pack_panels(int64_t k, int64_t n, Operand b, int64_t nr, float* out) {
  for (int64_t jp = 0; jp < panels(n, nr); ++jp) {
    const int64_t n0 = jp * nr, width = std::min(nr, n - n0);
    float* panel = out + jp * k * nr;
    if (b.cs == 1) {
      for (int64_t p = 0; p < k; ++p) {
        const float* row = b.data + p * b.rs + n0;
        std::copy(row, row + width, panel + p * nr);
        std::fill(panel + p * nr + width, panel + (p + 1) * nr, 0.0f);
      }
    } else {
      std::fill(panel, panel + k * nr, 0.0f);
      for (int64_t j = 0; j < width; ++j) {
        const float* col = b.data + (n0 + j) * b.cs;
        for (int64_t p = 0; p < k; ++p) panel[p * nr + j] = col[p * b.rs];
      }
    }
  }
}

// Rows [i0, i0 + rows) and columns [p0, p0 + kc) of a transposed A (element (i, p) at a.data[p * a.cs + i])
// as micro-panels of kMr rows, [ceil(rows / kMr)][kc][kMr]: a tile then reads its kMr elements of each p from
// one place instead of from kc rows of A that lie a.cs apart (one cache line and often one page each).
void pack_transposed_a(Operand a, int64_t i0, int64_t rows, int64_t p0, int64_t kc, float* out) {
  for (int64_t p = 0; p < kc; ++p) {
    const float* src = a.data + (p0 + p) * a.cs + i0;
    int64_t t = 0;
    for (; (t + 1) * kMr <= rows; ++t)  // whole micro-panels: a copy of fixed size, two moves (no call)
      std::memcpy(out + (t * kc + p) * kMr, src + t * kMr, kMr * sizeof(float));
    for (int64_t i = 0; t * kMr + i < rows; ++i) out[(t * kc + p) * kMr + i] = src[t * kMr + i];
  }
}

// C[m, n] (= or +=) A · B with B packed by pack_panels over all of k, in kKc-deep slices.
template <class Tiles>
void gemm_packed_with(int64_t m, int64_t n, int64_t k, Operand a, const float* packed, float* c, int64_t ldc,
                      bool accumulate) {
  constexpr int64_t nr = Tiles::kPanel;
  const bool transposed_a = a.rs == 1 && a.cs != 1;
  const auto& tiles = kTiles<Tiles>[transposed_a];
  thread_local std::vector<float> a_block;  // a transposed A's block, packed by pack_transposed_a
  if (transposed_a) a_block.resize(kMc * kKc);
  for (int64_t pc = 0; pc < k; pc += kKc) {
    const int64_t kc = std::min(kKc, k - pc);
    const bool acc_now = accumulate || pc > 0;
    for (int64_t ic = 0; ic < m; ic += kMc) {
      const int64_t ic_end = std::min(m, ic + kMc);
      if (transposed_a) pack_transposed_a(a, ic, ic_end - ic, pc, kc, a_block.data());
      for (int64_t jp = 0; jp < panels(n, nr); ++jp) {
        const int64_t n0 = jp * nr, width = std::min(nr, n - n0);
        const int64_t vectors = ceil_div(width, Tiles::kLanes);
        const int tail = int(width - (vectors - 1) * Tiles::kLanes);
        const float* panel = packed + (jp * k + pc) * nr;
        for (int64_t ir = ic; ir < ic_end; ir += kMr) {
          const int64_t rows = std::min<int64_t>(kMr, ic_end - ir);
          float* c_tile = c + ir * ldc + n0;
          if (transposed_a) {
            const float* a_tile = a_block.data() + (ir - ic) * kc;  // micro-panel (ir - ic) / kMr
            tiles[rows - 1][vectors - 1](kc, a_tile, kMr, panel, c_tile, ldc, tail, acc_now);
          } else {
            tiles[rows - 1][vectors - 1](kc, a.data + ir * a.rs + pc, a.rs, panel, c_tile, ldc, tail,
                                         acc_now);
          }
        }
      }
    }
  }
}

std::atomic<Isa> isa_cap{Isa::kAvx512};

// The same on the tiles of `isa`, which packed B.
void gemm_packed(Isa isa, int64_t m, int64_t n, int64_t k, Operand a, const float* packed, float* c,
                 int64_t ldc, bool accumulate) {
  switch (isa) {
    case Isa::kAvx512:
      return gemm_packed_with<Avx512Tiles>(m, n, k, a, packed, c, ldc, accumulate);
    case Isa::kAvx2:
      return gemm_packed_with<Avx2Tiles>(m, n, k, a, packed, c, ldc, accumulate);
    case Isa::kNone:
      fail("f32::gemm: this CPU has neither AVX-512 nor AVX2 with FMA; check f32::gemm_applies() first");
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
void gemm_blocked(Isa isa, int64_t m, int64_t n, int64_t k, Operand a, Operand b, float* c, int64_t ldc,
                  bool accumulate) {
  const int64_t nr = panel_width(isa);
  thread_local std::vector<float> packed;
  packed.resize(kKc * kNc);
  for (int64_t jc = 0; jc < n; jc += kNc) {
    const int64_t nc = std::min(kNc, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKc) {
      const int64_t kc = std::min(kKc, k - pc);
      pack_panels(kc, nc, {b.data + pc * b.rs + jc * b.cs, b.rs, b.cs}, nr, packed.data());
      gemm_packed(isa, m, nc, kc, {a.data + pc * a.cs, a.rs, a.cs}, packed.data(), c + jc, ldc,
                  accumulate || pc > 0);
    }
  }
}

}  // namespace

Isa cpu_isa() {
  return bf16::cpu_has_avx512() ? Isa::kAvx512 : bf16::cpu_has_avx2_fma() ? Isa::kAvx2 : Isa::kNone;
}

Isa limit_isa(Isa cap) { return isa_cap.exchange(cap); }

Isa active_isa() { return std::min(cpu_isa(), isa_cap.load()); }

bool gemm_applies() { return active_isa() != Isa::kNone; }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "AVX-512";
    case Isa::kAvx2:
      return "AVX2";
    case Isa::kNone:
      break;
  }
  return "none";
}

void PackedB::pack(int64_t k, int64_t n, Operand b) {
  check_operand(b, "B");
  isa_ = active_isa();
  k_ = k;
  n_ = n;
  const int64_t nr = panel_width(isa_);
  data_.resize(panels(n, nr) * k * nr);
  pack_panels(k, n, b, nr, data_.data());
}

void gemm_serial(int64_t m, Operand a, const PackedB& b, float* c, int64_t ldc, bool accumulate) {
  check_operand(a, "A");
  if (m == 0 || b.n() == 0) return;
  if (b.k() == 0) return zero_unless(accumulate, m, b.n(), c, ldc);
  gemm_packed(b.isa(), m, b.n(), b.k(), a, b.data(), c, ldc, accumulate);
}

void gemm(int64_t m, int64_t n, int64_t k, Operand a, Operand b, float* c, int64_t ldc, bool accumulate) {
  check_operand(a, "A");
  check_operand(b, "B");
  if (m == 0 || n == 0) return;
  if (k == 0) return zero_unless(accumulate, m, n, c, ldc);
  const Isa isa = active_isa();
  const int64_t nr = panel_width(isa);
  // One parallel region: each thread runs the blocked product on its rows of C (each packing B for
  // itself) or, for few rows, on its panels of columns.
  if (m >= at::get_num_threads() * kSplitRows) {
    at::parallel_for(0, ceil_div(m, kMr), kSplitRows / kMr, [&](int64_t begin, int64_t end) {
      const int64_t r0 = begin * kMr, r1 = std::min(m, end * kMr);
      gemm_blocked(isa, r1 - r0, n, k, {a.data + r0 * a.rs, a.rs, a.cs}, b, c + r0 * ldc, ldc, accumulate);
    });
  } else {
    at::parallel_for(0, panels(n, nr), 1, [&](int64_t first, int64_t last) {
      const int64_t n0 = first * nr, n1 = std::min(n, last * nr);
      gemm_blocked(isa, m, n1 - n0, k, a, {b.data + n0 * b.cs, b.rs, b.cs}, c + n0, ldc, accumulate);
    });
  }
}

}  // namespace lrec::f32
