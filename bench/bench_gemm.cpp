// fp32 matrix products on the shapes the models run: our kernel (core/gemm_f32_cpu.h) on the widest
// instruction set this CPU has (AVX-512, else AVX2 + FMA) against LibTorch's at::mm (MKL), and the two cores'
// fp32 FMA peak on that instruction set, measured by a register-only FMA loop (and the bf16 dot-product peak
// where the CPU has AVX512-BF16).
//   bench_gemm [steps=5] [threads=0]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/bf16_cpu.h"
#include "core/config.h"
#include "core/gemm_f32_cpu.h"
#include "core/log.h"
#include "core/program.h"
#include "core/runtime.h"

namespace lrec {
namespace {

struct BenchConfig {
  int steps = 5;
  int threads = 0;
  template <typename V>
  void visit(V& v) {
    v("steps", steps);
    v("threads", threads);
  }
};

// Independent FMA chains in registers (enough to cover the FMA latency on every pipe), run `iterations`
// times; returns their sum so that nothing is optimized away. (Named functions: the lambdas below would not
// inherit the target attribute.)
constexpr int kChains = 12;

LREC_AVX512 float fma_chains_avx512(int64_t iterations) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i));
  const __m512 scale = _mm512_set1_ps(0.999999f), shift = _mm512_set1_ps(1e-7f);
  for (int64_t k = 0; k < iterations; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], scale, shift);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

LREC_AVX2 float fma_chains_avx2(int64_t iterations) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(float(i));
  const __m256 scale = _mm256_set1_ps(0.999999f), shift = _mm256_set1_ps(1e-7f);
  for (int64_t k = 0; k < iterations; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], scale, shift);
  }
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  float total = 0;
  for (const float v : lanes) total += v;
  return total;
}

// The same with AVX512-BF16 dot products (vdpbf16ps: 32 bf16 products and sums into 16 fp32 lanes).
LREC_AVX512_BF16 float bf16_dot_chains(int64_t iterations) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i));
  const __m512bh ones = (__m512bh)_mm512_set1_epi16(0x3f80);  // bf16 1.0
  for (int64_t k = 0; k < iterations; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], ones, ones);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

// The rate of `chains` (flops_per_chain_step FLOPs per chain and iteration), all threads at once.
template <class Chains>
double peak_gflops(Chains chains, int64_t flops_per_chain_step) {
  const int64_t iterations = 100'000'000;
  const int64_t threads = at::get_num_threads();
  std::vector<float> sink(threads);
  const double seconds = bench::median_seconds(3, [&] {
    at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) sink[t] = chains(iterations);
    });
  });
  return double(flops_per_chain_step) * kChains * iterations * threads / seconds / 1e9;
}

// The rate the FMA units allow on the kernel's instruction set.
double fma_peak_gflops(f32::Isa isa) {
  return isa == f32::Isa::kAvx512 ? peak_gflops(fma_chains_avx512, 2 * 16)
                                  : peak_gflops(fma_chains_avx2, 2 * 8);
}

struct Shape {
  std::string name;
  int64_t m, n, k;
  bool a_transposed, b_transposed;  // A given as [K, M], B given as [N, K]
};

constexpr const char* kUsage = "bench_gemm [steps=N] [threads=N]";

int run(const BenchConfig& cfg) {
  configure_runtime(cfg.threads);
  log_startup("bench_gemm", config::to_yaml(cfg));
  if (!f32::gemm_applies()) {
    std::printf("the fp32 kernel does not apply here (neither AVX-512 nor AVX2 with FMA)\n");
    return 0;
  }
  const f32::Isa isa = f32::active_isa();
  const std::string kernel = fmt::format("{} kernel", f32::isa_name(isa));
  const std::vector<Shape> shapes = {
      {"Llama q/o_proj, 8 x 512 tokens: x Wᵀ", 4096, 768, 768, false, true},
      {"Llama k/v_proj (4 KV heads): x Wᵀ", 4096, 256, 768, false, true},
      {"Llama gate/up_proj: x Wᵀ", 4096, 2048, 768, false, true},
      {"Llama down_proj: x Wᵀ", 4096, 768, 2048, false, true},
      {"Llama backward dx = dy W (q_proj)", 4096, 768, 768, false, false},
      {"LRURec head logits, 25,600 rows: x Eᵀ", 25600, 3417, 64, false, true},
      {"LRURec head dx = G E", 25600, 64, 3417, false, false},
      {"LRURec head dE = Gᵀ x", 3417, 64, 25600, true, false},
      {"LRURec FFN W1: x W1ᵀ", 25600, 256, 64, false, true},
  };
  std::printf("\nfp32, %d threads; median of %d\n", at::get_num_threads(), cfg.steps);
  std::printf("FMA peak (register-only loop, %s): %.0f GFLOP/s\n", kernel.c_str(), fma_peak_gflops(isa));
  // What bf16 products could reach here, against that (on Intel CPUs without AMX it is lower).
  if (bf16::cpu_has_avx512_bf16())
    std::printf("bf16 dot-product peak (register-only loop, vdpbf16ps): %.0f GFLOP/s\n",
                peak_gflops(bf16_dot_chains, 2 * 32));
  std::printf("\n");
  std::printf("%-42s %22s %22s %9s\n", "ms (GFLOP/s)", kernel.c_str(), "at::mm (MKL)", "speed-up");
  at::manual_seed(0);
  for (const Shape& s : shapes) {
    const at::Tensor a_stored = s.a_transposed ? at::randn({s.k, s.m}) : at::randn({s.m, s.k});
    const at::Tensor b_stored = s.b_transposed ? at::randn({s.n, s.k}) : at::randn({s.k, s.n});
    const at::Tensor a = s.a_transposed ? a_stored.t() : a_stored;
    const at::Tensor b = s.b_transposed ? b_stored.t() : b_stored;
    at::Tensor c = at::empty({s.m, s.n});
    const f32::Operand ao = s.a_transposed ? f32::transposed(a_stored.data_ptr<float>(), s.m)
                                           : f32::row_major(a_stored.data_ptr<float>(), s.k);
    const f32::Operand bo = s.b_transposed ? f32::transposed(b_stored.data_ptr<float>(), s.k)
                                           : f32::row_major(b_stored.data_ptr<float>(), s.n);
    const double ours = bench::median_seconds(
        cfg.steps, [&] { f32::gemm(s.m, s.n, s.k, ao, bo, c.data_ptr<float>(), s.n, false); });
    const at::Tensor exact = at::mm(a.to(at::kDouble), b.to(at::kDouble));
    const double err = (c - exact).abs().max().item<double>();
    const double mkl = bench::median_seconds(cfg.steps, [&] { at::mm_out(c, a, b); });
    const double mkl_err = (c - exact).abs().max().item<double>();
    const double flops = 2.0 * s.m * s.n * s.k;  // max |err|: ours / MKL's, against the product in double
    std::printf("%-42s %8.2f (%4.0f) %8.2f (%4.0f) %8.2fx   max |err| %.1e / %.1e\n", s.name.c_str(),
                ours * 1e3, flops / ours / 1e9, mkl * 1e3, flops / mkl / 1e9, mkl / ours, err, mkl_err);
  }
  return 0;
}

}  // namespace
}  // namespace lrec

int main(int argc, char** argv) {
  return lrec::program_main<lrec::BenchConfig>(argc, argv, lrec::kUsage, lrec::run);
}
