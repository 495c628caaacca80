// Raw interactions and titles as read from a dataset's files, before any filtering, and the readers of
// each supported on-disk format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "datasets/config.h"

namespace lrec::data {

enum class Format { kMl100k, kMlDat, kMlCsv, kAmazon2014, kAmazon2018, kAtomic };

std::string_view format_name(Format format);

// Raw ids interned to local ids 0, 1, ... in first-seen order.
class IdTable {
 public:
  uint32_t intern(std::string_view id);
  const std::vector<std::string>& ids() const { return ids_; }
  size_t size() const { return ids_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> index_;
  std::vector<std::string> ids_;
  // Interaction files list one user's lines together: remembering the last id skips most lookups.
  std::string last_;
  uint32_t last_id_ = UINT32_MAX;
};

struct RawInteraction {
  uint32_t user;  // local ids of RawData's tables
  uint32_t item;
  float rating;
  double timestamp;
};

struct RawData {
  IdTable users;
  IdTable items;
  std::vector<std::string> titles;           // by local item id; "" = no title
  std::vector<RawInteraction> interactions;  // in file order
  bool has_ratings = true;                   // false for atomic files without a rating column
  bool movielens_titles = false;             // clean_titles applies

  void set_title(uint32_t item, std::string title);
  const std::string& title(uint32_t item) const;  // "" when none was set
};

// The files of one dataset on disk.
struct SourceFiles {
  Format format;
  std::filesystem::path interactions;
  std::filesystem::path items;  // titles
};

// Finds the files of cfg.format (or detects the format when it is "auto"). Missing files give an
// error listing the files each format expects and where the dataset is published.
SourceFiles find_source_files(const DatasetConfig& cfg);

RawData load_raw(const SourceFiles& files, const DatasetConfig& cfg);

// Appends one interaction from its text fields (rating may be empty when the file has no ratings).
// Returns null, or why the fields are malformed.
const char* add_interaction(RawData& raw, std::string_view user, std::string_view item,
                            std::string_view rating, std::string_view timestamp);

// The per-format readers (raw_movielens.cpp, raw_amazon.cpp, raw_atomic.cpp).
RawData read_movielens(const SourceFiles& files, bool skip_bad_lines);
RawData read_amazon(const SourceFiles& files, bool skip_bad_lines);
RawData read_atomic(const SourceFiles& files, bool skip_bad_lines);

}  // namespace lrec::data
