// Helpers for the dataset tests: tiny fixture files and hand-made datasets.
#pragma once

#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "datasets/dataset.h"
#include "tests/common/test_util.h"

namespace lrec::data::testing {

// The shared helpers, under the names these tests use.
using lrec::testing::TempDir;
using lrec::testing::write_text;

inline void write_gz(const std::filesystem::path& path, std::string_view text) {
  std::filesystem::create_directories(path.parent_path());
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

// The message of the lrec::Error that fn throws ("" when it does not throw).
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const lrec::Error& e) {
    return e.what();
  }
  return "";
}

// A dataset from hand-written sequences (items 1..num_items).
inline Dataset make_dataset(std::vector<std::vector<int32_t>> sequences, int64_t num_items) {
  Dataset ds;
  ds.name = "handmade";
  ds.num_items = num_items;
  ds.sequences = std::move(sequences);
  for (int64_t i = 0; i <= num_items; ++i) {
    ds.titles.push_back(i == 0 ? "" : "item " + std::to_string(i));
    ds.item_raw_ids.push_back(i == 0 ? "" : std::to_string(i));
  }
  for (size_t u = 0; u < ds.sequences.size(); ++u) ds.user_raw_ids.push_back(std::to_string(u));
  return ds;
}

// The raw ids of a user's sequence, to compare with fixtures written in raw ids.
inline std::vector<std::string> raw_sequence(const Dataset& ds, size_t u) {
  std::vector<std::string> out;
  for (const int32_t item : ds.sequences[u]) out.push_back(ds.item_raw_ids[static_cast<size_t>(item)]);
  return out;
}

}  // namespace lrec::data::testing
