#include "core/amx_cpu.h"

#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

// Only the functions marked with this attribute use AMX instructions.
#define LREC_AMX __attribute__((target("amx-tile,amx-bf16")))

namespace lrec::amx {

namespace {

constexpr long kArchReqXcompPerm = 0x1023;  // ARCH_REQ_XCOMP_PERM of <asm/prctl.h>
constexpr long kXfeatureXtileData = 18;     // the tile data registers' XSAVE feature

bool cpuid_has_amx_bf16() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (edx >> 22 & 1) != 0 && (edx >> 24 & 1) != 0;  // AMX-BF16, AMX-TILE
}

// LDTILECFG's 64-byte operand (palette 1): each tile register's rows and bytes per row.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// A block of C is up to 32 x 32: two 16-row halves i (rows0 and rows1 rows) and two 16-column halves j.
// Tiles 0-3 hold C[i][j] (tile 2i + j), tiles 4 and 5 the A rows of each half [rows, 32 bf16], tiles 6
// and 7 the B columns of each half [16 pairs of k, 16 columns x 2 bf16]. Every row is 64 bytes.
TileConfig tile_config(int rows0, int rows1) {
  TileConfig cfg;
  for (const int tile : {0, 1, 4}) cfg.rows[tile] = static_cast<uint8_t>(rows0);
  for (const int tile : {2, 3, 5}) cfg.rows[tile] = static_cast<uint8_t>(rows1);
  for (const int tile : {6, 7}) cfg.rows[tile] = 16;
  for (int tile = 0; tile < 8; ++tile) cfg.colsb[tile] = cfg.rows[tile] > 0 ? 64 : 0;
  return cfg;
}

// One block of C: MT row halves, NT column halves, the whole K in steps of 32.
template <int MT, int NT>
LREC_AMX void tile_block(int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float* c,
                         int64_t ldc, bool accumulate) {
  const int64_t a_stride = lda * 2, b_stride = ldb * 4, c_stride = ldc * 4;  // bytes per tile row
  float* c1 = c + 16 * ldc;
  if (accumulate) {
    _tile_loadd(0, c, c_stride);
    if constexpr (NT == 2) _tile_loadd(1, c + 16, c_stride);
    if constexpr (MT == 2) _tile_loadd(2, c1, c_stride);
    if constexpr (MT == 2 && NT == 2) _tile_loadd(3, c1 + 16, c_stride);
  } else {
    _tile_zero(0);
    if constexpr (NT == 2) _tile_zero(1);
    if constexpr (MT == 2) _tile_zero(2);
    if constexpr (MT == 2 && NT == 2) _tile_zero(3);
  }
  for (int64_t p = 0; p < k; p += 32) {
    const uint16_t* bp = b + p * ldb;  // the pairs of k rows p, p + 1, ...: row p / 2 of the VNNI layout
    _tile_loadd(4, a + p, a_stride);
    _tile_loadd(6, bp, b_stride);
    _tile_dpbf16ps(0, 4, 6);
    if constexpr (NT == 2) {
      _tile_loadd(7, bp + 32, b_stride);
      _tile_dpbf16ps(1, 4, 7);
    }
    if constexpr (MT == 2) {
      _tile_loadd(5, a + 16 * lda + p, a_stride);
      _tile_dpbf16ps(2, 5, 6);
      if constexpr (NT == 2) _tile_dpbf16ps(3, 5, 7);
    }
  }
  _tile_stored(0, c, c_stride);
  if constexpr (NT == 2) _tile_stored(1, c + 16, c_stride);
  if constexpr (MT == 2) _tile_stored(2, c1, c_stride);
  if constexpr (MT == 2 && NT == 2) _tile_stored(3, c1 + 16, c_stride);
}

}  // namespace

bool cpu_has_amx_bf16() {
  static const bool has =
      cpuid_has_amx_bf16() && syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) == 0;
  return has;
}

LREC_AMX void gemm_bf16_amx(int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda,
                            const uint16_t* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  int configured_rows = -1;  // the loaded configuration's block height
  for (int64_t i = 0; i < m; i += 32) {
    const int rows = static_cast<int>(std::min<int64_t>(32, m - i));
    if (rows != configured_rows) {  // a last block of fewer rows: tiles of fewer rows read and write no more
      const TileConfig cfg = tile_config(std::min(rows, 16), std::max(rows - 16, 0));
      _tile_loadconfig(&cfg);
      configured_rows = rows;
    }
    const uint16_t* ai = a + i * lda;
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < n; j += 32) {
      const bool two_halves = j + 32 <= n;
      if (rows > 16) {
        two_halves ? tile_block<2, 2>(k, ai, lda, b + 2 * j, ldb, ci + j, ldc, accumulate)
                   : tile_block<2, 1>(k, ai, lda, b + 2 * j, ldb, ci + j, ldc, accumulate);
      } else {
        two_halves ? tile_block<1, 2>(k, ai, lda, b + 2 * j, ldb, ci + j, ldc, accumulate)
                   : tile_block<1, 1>(k, ai, lda, b + 2 * j, ldb, ci + j, ldc, accumulate);
      }
    }
  }
  _tile_release();
}

}  // namespace lrec::amx
