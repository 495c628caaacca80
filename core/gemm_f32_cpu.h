// An fp32 matrix product for the shapes our models run: C[M, N] (= or +=) A[M, K] · B[K, N], either operand
// transposed, on AVX-512 or on AVX2 + FMA. LibTorch's fp32 at::mm goes to MKL, which on AMD CPUs takes its
// AVX2 path and is slow on the models' short inner dimensions: on the project's Zen 5 machine MKL runs at
// ~200 GFLOP/s of the ~520 GFLOP/s the two cores' AVX-512 FMAs reach, and the AVX-512 tiles at 400-460; on an
// AVX2-only Zen 3 MKL reaches 100 GFLOP/s on square products but 24 on LRURec's head (K = 64).
// bench/bench_gemm prints the kernel, MKL and the FMA peak side by side. The reference is at::mm;
// tests/core/test_gemm_f32 checks every layout, tail and accumulate case against it in double, for each
// instruction set the CPU has.
//
// Layout (BLIS's loop order): the product is cut into 256-deep slices of K and 1024-wide blocks of N; each
// block of B is packed into panels as wide as the register tile, which runs over a panel with A's elements
// broadcast from where they lie, so A of either layout is read without copying: 6 x 64 on AVX-512 (24 zmm
// accumulators), 6 x 16 on AVX2 (12 ymm accumulators). Each element of C sums its
// products in order of k in one fp32 accumulator, one fused multiply-add at a time, as a plain loop with
// std::fma does: both instruction sets give the same bits, and the rounding error grows like a loop's, a few
// times MKL's at K in the thousands (bench_gemm prints both against double).
#pragma once

#include <cstdint>
#include <vector>

namespace lrec::f32 {

// A matrix operand: element (i, j) at data[i * rs + j * cs].
struct Operand {
  const float* data;
  int64_t rs, cs;
};
// Row-major with leading dimension ld, or the transpose of a row-major matrix with leading dimension ld.
inline Operand row_major(const float* data, int64_t ld) { return {data, ld, 1}; }
inline Operand transposed(const float* data, int64_t ld) { return {data, 1, ld}; }

// The instruction sets with register tiles, narrowest first.
enum class Isa { kNone, kAvx2, kAvx512 };
// What this CPU runs: kAvx512 (AVX-512 F/BW/VL/DQ), kAvx2 (AVX2 and FMA) or kNone.
Isa cpu_isa();
// The tiles used from now on are capped at `cap` (tests run the AVX2 tiles on an AVX-512 CPU); returns the
// previous cap. The cap starts at kAvx512.
Isa limit_isa(Isa cap);
// The tiles gemm runs: the lesser of cpu_isa() and the cap.
Isa active_isa();
// True when gemm runs here (active_isa() is not kNone); callers fall back to at::mm otherwise.
bool gemm_applies();
// "AVX-512", "AVX2" or "none", for logs and benchmark tables.
const char* isa_name(Isa isa);

// B[K, N] packed once for many products, for the tiles active when it is packed: panels as wide as one
// register tile (64 columns on AVX-512, 16 on AVX2), [ceil(N / width)][K][width], zero beyond column N.
class PackedB {
 public:
  PackedB() = default;
  PackedB(int64_t k, int64_t n, Operand b) { pack(k, n, b); }
  void pack(int64_t k, int64_t n, Operand b);  // reuses the storage
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  Isa isa() const { return isa_; }
  const float* data() const { return data_.data(); }

 private:
  Isa isa_ = Isa::kNone;
  int64_t k_ = 0, n_ = 0;
  std::vector<float> data_;
};

// C[M, N] (= or +=) A[M, K] · B[K, N] with C row-major (row stride ldc), on the calling thread, for products
// that reuse one B (the fused LRURec head's blocks); K is sliced, N is not blocked.
void gemm_serial(int64_t m, Operand a, const PackedB& b, float* c, int64_t ldc, bool accumulate);

// The same, with the rows (or, for few rows, the columns) of C shared among LibTorch's intra-op threads.
void gemm(int64_t m, int64_t n, int64_t k, Operand a, Operand b, float* c, int64_t ldc, bool accumulate);

}  // namespace lrec::f32
