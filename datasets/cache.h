// The versioned binary cache of preprocessed datasets.
//
// File layout (little-endian):
//   "LRECDSET" | u32 format version | u64 key | u64 payload size | payload | u32 CRC-32 of the payload
// payload: name, num_items, titles[1..N], item raw ids[1..N], user raw ids, sequence lengths, then all
// sequences' items back to back. Strings are u32 length + bytes.
//
// The key hashes the raw files' contents and every option that changes the result (load.cpp), so an
// edited raw file or option makes the file stale; a bad magic, size, CRC or content makes it corrupt.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "datasets/dataset.h"

namespace lrec::data {

inline constexpr uint32_t kCacheVersion = 1;

enum class CacheStatus { kHit, kMissing, kStale, kCorrupt };

struct CacheResult {
  CacheStatus status = CacheStatus::kMissing;
  std::string reason;  // why it is stale or corrupt
  Dataset dataset;     // valid on kHit
};

CacheResult read_cache(const std::filesystem::path& path, uint64_t key);

// Written atomically: a crash never leaves a partial cache file.
void write_cache(const std::filesystem::path& path, const Dataset& dataset, uint64_t key);

}  // namespace lrec::data
