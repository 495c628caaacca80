#include "core/runtime.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <malloc.h>
#include <torch/version.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/log.h"

namespace lrec {

int configure_runtime(int threads) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed threshold
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

CpuFeatures cpu_features() {
  CpuFeatures f;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (f.vendor.empty() && line.rfind("vendor_id", 0) == 0) f.vendor = line.substr(line.find(':') + 2);
    if (f.model.empty() && line.rfind("model name", 0) == 0) f.model = line.substr(line.find(':') + 2);
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream flags(line.substr(line.find(':') + 1));
    std::string flag;
    while (flags >> flag) {
      f.avx2 |= flag == "avx2";
      f.avx512f |= flag == "avx512f";
      f.avx512_bf16 |= flag == "avx512_bf16";
      f.amx_bf16 |= flag == "amx_bf16";
    }
    break;
  }
  return f;
}

std::string precision_warning(const CpuFeatures& cpu) {
  constexpr const char* kPreferFp32 =
      "prefer fp32 (train_lrurec: model.matmul_precision=float32, the default; the ranker: "
      "model.dtype=float32)";
  if (cpu.amx_bf16) return "";
  if (!cpu.avx512_bf16) {
    return fmt::format("this CPU has neither AVX512-BF16 nor AMX: bf16 matrix products will be slow, {}{}.",
                       kPreferFp32, cpu.avx2 ? "" : "; without AVX2, fp32 products will be slow as well");
  }
  if (cpu.vendor == "GenuineIntel") {
    return fmt::format(
        "this Intel CPU has AVX512-BF16 but no AMX: its bf16 dot products run at about half its fp32 FMA "
        "rate, so bf16 matrix products are slower than fp32 ones here; {} unless memory is short.",
        kPreferFp32);
  }
  return "";
}

void log_startup(const std::string& program, const std::string& resolved_config_yaml,
                 const std::vector<std::pair<std::string, std::string>>& extra) {
  const CpuFeatures cpu = cpu_features();
  std::vector<std::pair<std::string, std::string>> rows = {
      {"program", program},
      {"libtorch", TORCH_VERSION},
      {"fmt", fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100)},
      {"nlohmann_json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR,
                                    NLOHMANN_JSON_VERSION_PATCH)},
      {"intra-op threads", std::to_string(at::get_num_threads())},
      {"cpu", cpu.model},
      {"isa", fmt::format("avx2={} avx512f={} avx512_bf16={} amx_bf16={}", cpu.avx2, cpu.avx512f,
                          cpu.avx512_bf16, cpu.amx_bf16)},
  };
  rows.insert(rows.end(), extra.begin(), extra.end());
  size_t width = 0;
  for (const auto& [k, v] : rows) width = std::max(width, k.size());
  std::string table = "\n";
  for (const auto& [k, v] : rows) table += fmt::format("  {:<{}}  {}\n", k, width, v);
  table += "  resolved config:\n";
  std::istringstream config(resolved_config_yaml);
  for (std::string line; std::getline(config, line);) table += "    " + line + "\n";
  log::info("{}", table);
  if (const std::string warning = precision_warning(cpu); !warning.empty()) log::warn("{}", warning);
}

}  // namespace lrec
