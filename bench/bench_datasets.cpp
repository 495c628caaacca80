// Dataset loading speed against the targets of issue 3:
//   raw load + preprocess of 1M interactions (../shared/data/lrurec-ml-1m): < 2 s
//   cached load of ml-latest-small: < 50 ms
// Usage: bench_datasets [SHARED_DIR]   (default: the ../shared of the build)
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/preprocess.h"
#include "datasets/raw.h"

namespace fs = std::filesystem;
using lrec::data::DatasetConfig;

namespace {

// Median wall time of `runs` calls, in milliseconds.
double median_ms(int runs, const std::function<void()>& fn) {
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// A measurement; target_ms <= 0 marks a breakdown row without a target of its own.
void row(const std::string& what, double ms, double target_ms = 0) {
  if (target_ms <= 0) {
    std::printf("%-66s %9.1f ms\n", what.c_str(), ms);
  } else {
    std::printf("%-66s %9.1f ms   < %5.0f ms   %s\n", what.c_str(), ms, target_ms,
                ms < target_ms ? "ok" : "SLOW");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path data = fs::path(argc > 1 ? argv[1] : LREC_SHARED_DIR) / "data";
  std::printf("%-66s %12s   %10s\n", "benchmark (median of runs)", "measured", "target");

  if (fs::exists(data / "lrurec-ml-1m")) {
    DatasetConfig cfg;  // LlamaRec defaults: 5-core, no cache
    cfg.path = (data / "lrurec-ml-1m").string();
    cfg.cache_dir = "";
    const lrec::data::SourceFiles files = lrec::data::find_source_files(cfg);
    lrec::data::RawData raw;
    const double read = median_ms(3, [&] { raw = lrec::data::load_raw(files, cfg); });
    const double prep = median_ms(3, [&] { lrec::data::preprocess(raw, cfg, "ml-1m"); });
    row("ML-1M atomic: raw load + preprocess (load_dataset, no cache)",
        median_ms(3, [&] { lrec::data::load_dataset(cfg); }), 2000);
    row(fmt::format("  of which: read {} raw interactions", raw.interactions.size()), read);
    row("  of which: preprocess (5-core, sort, re-index)", prep);
  } else {
    std::printf("%s not found: skipping the ML-1M benchmark\n", (data / "lrurec-ml-1m").string().c_str());
  }

  if (fs::exists(data / "ml-latest-small")) {
    const fs::path cache = fs::temp_directory_path() / fmt::format("bench_datasets_cache_{}", ::getpid());
    DatasetConfig cfg;
    cfg.path = (data / "ml-latest-small").string();
    cfg.cache_dir = cache.string();
    row("ml-latest-small: raw load + preprocess, writing the cache",
        median_ms(1, [&] { lrec::data::load_dataset(cfg); }));
    row("ml-latest-small: cached load (hash the raw files, read the cache)",
        median_ms(11, [&] { lrec::data::load_dataset(cfg); }), 50);
    fs::remove_all(cache);
  } else {
    std::printf("%s not found: skipping the cached-load benchmark\n",
                (data / "ml-latest-small").string().c_str());
  }

  DatasetConfig synthetic;
  row("synthetic: generate the default dataset", median_ms(3, [&] { lrec::data::load_dataset(synthetic); }));
  return 0;
}
