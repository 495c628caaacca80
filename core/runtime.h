// Process-wide runtime settings: LibTorch threads, the CPU's instruction sets, the start-up table.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace lrec {

// Every program's process settings. Sets LibTorch's intra-op threads (0 means all cores; LibTorch may
// otherwise default to 1) and returns the count in effect. Also keeps glibc malloc from returning large
// freed blocks to the kernel: by default each tensor above its mmap threshold is a fresh mmap whose pages
// fault in and are zeroed on every step (12% of an ML-1M LRURec step here); with blocks up to 32 MiB
// served from the heap and the heap not trimmed, a training loop reuses its memory. Peak RSS is unchanged
// in kind: memory is held at the high-water mark rather than released between steps.
int configure_runtime(int threads);

// Wall-clock seconds since `start`.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct CpuFeatures {
  bool avx2 = false, avx512f = false, avx512_bf16 = false, amx_bf16 = false;
  std::string vendor, model;  // /proc/cpuinfo's vendor_id ("GenuineIntel", "AuthenticAMD") and model name
};
CpuFeatures cpu_features();

// The start-up warning for a CPU whose bf16 matrix products are no faster than fp32 ones, or "" for none:
// - neither AVX512-BF16 nor AMX: bf16 products are emulated and slow (fp32 ones too without AVX2);
// - an Intel CPU with AVX512-BF16 but no AMX: its bf16 dot products are slower than its fp32 FMAs (measured
//   on a 2-core Emerald Rapids without AMX: bench_gemm's register-only loops, vdpbf16ps 169 GFLOP/s against
//   the fp32 FMAs' 330; at::matmul bf16 139 GFLOP/s against fp32 225; the LRURec ML-1M step 0.33 s against
//   0.24 s).
// AMD's Zen 4 and Zen 5 run bf16 products about twice as fast as fp32 ones (bench_llama, README) and get no
// warning.
std::string precision_warning(const CpuFeatures& cpu);

// Logs a table of the program's settings, library versions, threads and ISA, then precision_warning's
// warning if any.
void log_startup(const std::string& program, const std::string& resolved_config_yaml,
                 const std::vector<std::pair<std::string, std::string>>& extra = {});

}  // namespace lrec
