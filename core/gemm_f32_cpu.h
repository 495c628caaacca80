// An fp32 matrix product on AVX-512 for the shapes our models run: C[M, N] (= or +=) A[M, K] · B[K, N],
// either operand transposed. LibTorch's fp32 at::mm goes to MKL, which on AMD CPUs takes its AVX2 path: on
// this project's Zen 5 machine it runs at ~200 GFLOP/s of the ~520 GFLOP/s the two cores' AVX-512 FMAs
// reach, and this kernel at 400-460 (bench/bench_gemm prints all three). The reference is at::mm;
// tests/core/test_gemm_f32 checks every layout, tail and accumulate case against it in double.
//
// Layout (BLIS's loop order): the product is cut into 256-deep slices of K and 1024-wide blocks of N; each
// block of B is packed into 64-wide panels, and a 6 x 64 register tile (24 zmm accumulators) runs over it
// with A's elements broadcast from where they lie, so A of either layout is read without copying. Each
// element of C sums its products in order of k in one fp32 accumulator per slice, as a plain loop does: its
// rounding error grows like a loop's, a few times MKL's at K in the thousands (bench_gemm prints both against
// double).
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

// True when this CPU runs gemm (AVX-512 F/BW/VL/DQ); callers fall back to at::mm otherwise.
bool gemm_applies();

// B[K, N] packed once for many products: 64-wide panels [ceil(N / 64)][K][64], zero beyond column N.
class PackedB {
 public:
  PackedB() = default;
  PackedB(int64_t k, int64_t n, Operand b) { pack(k, n, b); }
  void pack(int64_t k, int64_t n, Operand b);  // reuses the storage
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  const float* data() const { return data_.data(); }

 private:
  int64_t k_ = 0, n_ = 0;
  std::vector<float> data_;
};

// C[M, N] (= or +=) A[M, K] · B[K, N] with C row-major (row stride ldc), on the calling thread, for products
// that reuse one B (the fused LRURec head's blocks); K is sliced, N is not blocked.
void gemm_serial(int64_t m, Operand a, const PackedB& b, float* c, int64_t ldc, bool accumulate);

// The same, with the rows (or, for few rows, the columns) of C shared among LibTorch's intra-op threads.
void gemm(int64_t m, int64_t n, int64_t k, Operand a, Operand b, float* c, int64_t ldc, bool accumulate);

}  // namespace lrec::f32
