// load_dataset: synthetic data, or raw files through the cache.
#include <fmt/format.h>

#include <cctype>
#include <chrono>

#include "core/checksum.h"
#include "core/error.h"
#include "core/log.h"
#include "datasets/cache.h"
#include "datasets/dataset.h"
#include "datasets/preprocess.h"
#include "datasets/raw.h"
#include "datasets/synthetic.h"

namespace lrec::data {

namespace fs = std::filesystem;

namespace {

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

std::string default_name(const DatasetConfig& cfg) {
  const fs::path dir = fs::path(cfg.path).lexically_normal();
  const std::string name = (dir.has_filename() ? dir : dir.parent_path()).filename().string();
  return name.empty() ? "dataset" : name;
}

std::string file_safe(std::string name) {
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  return name;
}

// Every option that changes the preprocessed result, plus where the files are: names the cache file.
uint64_t options_hash(const DatasetConfig& cfg, const SourceFiles& files) {
  return hash64(
      fmt::format("format={};inter={};items={};min_rating={:.17g};min_uc={};min_sc={};kcore={};"
                  "repeats={};tie_break={};clean_titles={};skip_bad_lines={}",
                  format_name(files.format), fs::absolute(files.interactions).string(),
                  fs::absolute(files.items).string(), cfg.min_rating, cfg.min_uc, cfg.min_sc, cfg.kcore,
                  cfg.remove_immediate_repeats, cfg.tie_break, cfg.clean_titles, cfg.skip_bad_lines));
}

void log_loaded(const Dataset& ds, std::string_view how, double ms) {
  log::info("dataset {}: {} users, {} items, {} interactions ({} in {:.0f} ms)", ds.name, ds.num_users(),
            ds.num_items, ds.num_interactions(), how, ms);
}

Dataset build(const SourceFiles& files, const DatasetConfig& cfg, const std::string& name) {
  const auto start = std::chrono::steady_clock::now();
  const RawData raw = load_raw(files, cfg);
  if (raw.interactions.empty()) {
    fail("{}: no interactions in the file. Check that it is the right file and not empty.",
         files.interactions.string());
  }
  Dataset ds = preprocess(raw, cfg, name);
  log_loaded(ds, fmt::format("read {} raw interactions and preprocessed", raw.interactions.size()),
             ms_since(start));
  return ds;
}

}  // namespace

Dataset load_dataset(const DatasetConfig& cfg) {
  if (cfg.format == "synthetic" || (cfg.format == "auto" && cfg.path.empty())) {
    const auto start = std::chrono::steady_clock::now();
    Dataset ds = generate_synthetic(cfg.synthetic);
    if (!cfg.name.empty()) ds.name = cfg.name;
    log_loaded(ds, "generated", ms_since(start));
    return ds;
  }
  const SourceFiles files = find_source_files(cfg);
  const std::string name = cfg.name.empty() ? default_name(cfg) : cfg.name;
  if (cfg.cache_dir.empty()) return build(files, cfg, name);

  const auto start = std::chrono::steady_clock::now();
  const uint64_t options = options_hash(cfg, files);
  const uint64_t key = hash64_file(files.items, hash64_file(files.interactions, options ^ kCacheVersion));
  const fs::path path = fs::path(cfg.cache_dir) / fmt::format("{}-{:016x}.lrecds", file_safe(name), options);
  CacheResult cached = read_cache(path, key);
  if (cached.status == CacheStatus::kHit) {
    cached.dataset.name = name;
    log_loaded(cached.dataset, fmt::format("cache {}", path.string()), ms_since(start));
    return std::move(cached.dataset);
  }
  if (cached.status != CacheStatus::kMissing) {
    log::warn("dataset cache {} is {} ({}); rebuilding it from the raw files", path.string(),
              cached.status == CacheStatus::kStale ? "stale" : "corrupt", cached.reason);
  }
  Dataset ds = build(files, cfg, name);
  try {
    write_cache(path, ds, key);
  } catch (const std::exception& e) {  // an unwritable cache directory costs speed, not correctness
    log::warn("could not write the dataset cache: {}", e.what());
  }
  return ds;
}

}  // namespace lrec::data
