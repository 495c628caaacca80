// A preprocessed sequential-recommendation dataset and the one call that produces it.
//
//   lrec::data::Dataset ds = lrec::data::load_dataset(cfg);   // raw files or synthetic, cached
//
// Ids: users are dense 0..U-1, items dense 1..N (0 is padding). Both are assigned in the order of the
// raw ids: numeric order when every raw id is an integer, else byte-wise lexicographic order. This
// never depends on hash order, so the same files always give the same ids.
//
// Split (leave-one-out, as LlamaRec and LRURec): train = seq[:-2], validation target = seq[-2],
// test target = seq[-1]. Every user has at least two interactions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "datasets/config.h"

namespace lrec::data {

enum class Split { kVal, kTest };

struct Dataset {
  std::string name;
  int64_t num_items = 0;                        // items are 1..num_items
  std::vector<std::string> titles;              // [num_items + 1], titles[0] = ""
  std::vector<std::vector<int32_t>> sequences;  // [num_users], chronological, each of length >= 2
  std::vector<std::string> user_raw_ids;        // [num_users]
  std::vector<std::string> item_raw_ids;        // [num_items + 1], item_raw_ids[0] = ""

  size_t num_users() const { return sequences.size(); }
  std::span<const int32_t> train(size_t u) const {
    return std::span(sequences[u]).first(sequences[u].size() - 2);
  }
  int32_t val_target(size_t u) const { return sequences[u][sequences[u].size() - 2]; }
  int32_t test_target(size_t u) const { return sequences[u].back(); }
  // Everything the user saw before the split's target: train for kVal, train + val for kTest.
  std::span<const int32_t> history(size_t u, Split split) const {
    return std::span(sequences[u]).first(sequences[u].size() - (split == Split::kVal ? 2 : 1));
  }
  int64_t num_interactions() const;
};

// Detects the format, reads and preprocesses the raw files (or generates the synthetic data), and uses
// the cache in cfg.cache_dir: a hit is returned as is, a stale or corrupt cache file is rebuilt with a
// log line saying why. Throws lrec::Error naming the file:line, config key or filter at fault.
Dataset load_dataset(const DatasetConfig& cfg);

// The statistics of the papers' dataset tables.
struct Stats {
  int64_t users = 0;
  int64_t items = 0;
  int64_t interactions = 0;
  double avg_length = 0;  // interactions / users
  double density = 0;     // interactions / (users * items)
  int64_t min_length = 0;
  int64_t max_length = 0;
};

Stats compute_stats(const Dataset& dataset);

// One table: "Dataset  Users  Items  Interactions  Avg. length  Density", as in LlamaRec's Table 2.
std::string format_stats(const std::string& name, const Stats& stats);

}  // namespace lrec::data
