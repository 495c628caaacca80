// bf16 matrix products on Intel AMX (Sapphire Rapids and later): TDPBF16PS multiplies a 16 x 32 bf16 tile
// of A by a 16 x 16 tile of B held as 16 VNNI pairs of rows, and adds the 16 x 16 fp32 products into a tile
// of C. The operands' layouts are those of bf16::gemm_bf16 (core/bf16_cpu.h), so that a caller's packed
// data feeds either kernel, and bf16::gemm_bf16 runs this one where it applies.
#pragma once

#include <cstdint>

namespace lrec::amx {

// True when this CPU has AMX-TILE and AMX-BF16 and Linux let this process use the tile registers
// (arch_prctl ARCH_REQ_XCOMP_PERM, asked once). Callers check it before gemm_bf16_amx runs.
bool cpu_has_amx_bf16();

// C[M, N] (= or +=) A[M, K] · B with A bf16 row-major (row stride lda), B bf16 in VNNI pairs
// (B[k][n] at b[(k / 2) * 2 * ldb + 2 * n + k % 2]) and C fp32 (row stride ldc). N % 16 == 0, K % 32 == 0,
// any M. It reads and writes nothing outside the three matrices.
void gemm_bf16_amx(int64_t m, int64_t n, int64_t k, const uint16_t* a, int64_t lda, const uint16_t* b,
                   int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace lrec::amx
