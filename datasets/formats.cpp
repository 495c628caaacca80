// Format detection, the expected files of each format, and the shared parts of RawData.
#include <fmt/ranges.h>

#include <algorithm>

#include "core/error.h"
#include "datasets/raw.h"
#include "datasets/text.h"

namespace lrec::data {

namespace fs = std::filesystem;

namespace {

struct FormatInfo {
  Format format;
  std::string_view name;
  std::string_view expected;   // the files, for error messages
  std::string_view published;  // where to download them
};

constexpr FormatInfo kFormats[] = {
    {Format::kMl100k, "ml-100k", "u.data (user<TAB>item<TAB>rating<TAB>timestamp) and u.item (id|title|...)",
     "https://files.grouplens.org/datasets/movielens/ml-100k.zip"},
    {Format::kMlDat, "ml-1m / ml-10m",
     "ratings.dat (user::item::rating::timestamp) and movies.dat (id::title::genres)",
     "https://files.grouplens.org/datasets/movielens/ml-1m.zip (or ml-10m.zip)"},
    {Format::kMlCsv, "ml-latest / ml-latest-small / ml-20m / ml-25m",
     "ratings.csv (userId,movieId,rating,timestamp) and movies.csv (movieId,title,genres), both with a "
     "header",
     "https://files.grouplens.org/datasets/movielens/ (ml-latest-small.zip, ml-latest.zip, ml-20m.zip, "
     "ml-25m.zip)"},
    {Format::kAmazon2014, "amazon2014",
     "ratings_<Cat>.csv (user,item,rating,time; no header) and meta_<Cat>.json.gz (one Python dict per line)",
     "http://snap.stanford.edu/data/amazon/productGraph/categoryFiles/"},
    {Format::kAmazon2018, "amazon2018",
     "<Cat>.csv (item,user,rating,time; no header) and meta_<Cat>.json.gz (one JSON object per line)",
     "https://nijianmo.github.io/amazon/index.html (\"ratings only\" and \"metadata\" files)"},
    {Format::kAtomic, "atomic",
     "<name>.inter (TSV, header like user_id:token item_id:token rating:float timestamp:float) and "
     "<name>.item "
     "(TSV, header like item_id:token title:token_seq)",
     "RecBole's atomic files: https://github.com/RUCAIBox/RecSysDatasets"},
};

const FormatInfo& info(Format format) {
  for (const FormatInfo& f : kFormats) {
    if (f.format == format) return f;
  }
  fail("unknown format {}", static_cast<int>(format));
}

std::string all_formats() {
  std::string out;
  for (const FormatInfo& f : kFormats) {
    out += fmt::format("\n  {}: {}\n    published at {}", f.name, f.expected, f.published);
  }
  return out;
}

[[noreturn]] void missing(const fs::path& dir, Format format, const std::string& what) {
  const FormatInfo& f = info(format);
  fail(
      "dataset.path {} (format {}): {}.\nThis format expects {}.\nIt is published at {}; download it, unpack "
      "it "
      "and point dataset.path at the folder.",
      dir.string(), f.name, what, f.expected, f.published);
}

// Files of `dir` named <prefix><X><suffix>, as the X parts, sorted.
std::vector<std::string> stems(const fs::path& dir, std::string_view prefix, std::string_view suffix) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > prefix.size() + suffix.size() && name.starts_with(prefix) && name.ends_with(suffix)) {
      out.push_back(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Picks the subset <X> among the candidates: the configured one, or the only one present.
std::string pick_subset(const fs::path& dir, Format format, const std::vector<std::string>& candidates,
                        const std::string& subset, std::string_view pattern) {
  if (!subset.empty()) {
    if (std::find(candidates.begin(), candidates.end(), subset) == candidates.end()) {
      missing(dir, format,
              fmt::format("dataset.subset is '{}' but there is no {} for it (found: {})", subset, pattern,
                          candidates.empty() ? "none" : fmt::format("{}", fmt::join(candidates, ", "))));
    }
    return subset;
  }
  if (candidates.empty()) missing(dir, format, fmt::format("no {} file", pattern));
  if (candidates.size() > 1) {
    fail("dataset.path {} holds several datasets ({}): choose one with dataset.subset=<one of them>.",
         dir.string(), fmt::join(candidates, ", "));
  }
  return candidates.front();
}

SourceFiles files_of(const fs::path& dir, Format format, const std::string& subset) {
  switch (format) {
    case Format::kMl100k:
      return {format, dir / "u.data", dir / "u.item"};
    case Format::kMlDat:
      return {format, dir / "ratings.dat", dir / "movies.dat"};
    case Format::kMlCsv:
      return {format, dir / "ratings.csv", dir / "movies.csv"};
    case Format::kAmazon2014: {
      const std::string cat =
          pick_subset(dir, format, stems(dir, "ratings_", ".csv"), subset, "ratings_<Cat>.csv");
      return {format, dir / fmt::format("ratings_{}.csv", cat), dir / fmt::format("meta_{}.json.gz", cat)};
    }
    case Format::kAmazon2018: {
      std::vector<std::string> cats = stems(dir, "meta_", ".json.gz");
      std::erase_if(cats, [&](const std::string& c) { return !fs::exists(dir / (c + ".csv")); });
      const std::string cat = pick_subset(dir, format, cats, subset, "<Cat>.csv + meta_<Cat>.json.gz pair");
      return {format, dir / (cat + ".csv"), dir / fmt::format("meta_{}.json.gz", cat)};
    }
    case Format::kAtomic: {
      const std::string name = pick_subset(dir, format, stems(dir, "", ".inter"), subset, "<name>.inter");
      return {format, dir / (name + ".inter"), dir / (name + ".item")};
    }
  }
  fail("unknown format {}", static_cast<int>(format));
}

Format from_config_name(const std::string& name) {
  if (name == "ml-100k") return Format::kMl100k;
  if (name == "ml-1m" || name == "ml-10m") return Format::kMlDat;
  if (name == "ml-20m" || name == "ml-25m" || name == "ml-latest" || name == "ml-latest-small")
    return Format::kMlCsv;
  if (name == "amazon2014") return Format::kAmazon2014;
  if (name == "amazon2018") return Format::kAmazon2018;
  if (name == "atomic") return Format::kAtomic;
  fail("dataset.format '{}' is not a raw-file format.", name);
}

// The format whose interaction file is present; the items file is checked afterwards.
Format detect(const fs::path& dir) {
  if (fs::exists(dir / "u.data")) return Format::kMl100k;
  if (fs::exists(dir / "ratings.dat")) return Format::kMlDat;
  if (fs::exists(dir / "ratings.csv")) return Format::kMlCsv;
  if (!stems(dir, "ratings_", ".csv").empty()) return Format::kAmazon2014;
  for (const std::string& cat : stems(dir, "meta_", ".json.gz")) {
    if (fs::exists(dir / (cat + ".csv"))) return Format::kAmazon2018;
  }
  if (!stems(dir, "", ".inter").empty()) return Format::kAtomic;
  fail(
      "dataset.path {}: no known dataset files found. The supported formats and their files are:{}\nSet "
      "dataset.format to one of them, or leave dataset.path empty for the built-in synthetic dataset.",
      dir.string(), all_formats());
}

}  // namespace

std::string_view format_name(Format format) { return info(format).name; }

uint32_t IdTable::intern(std::string_view id) {
  if (last_id_ != UINT32_MAX && id == last_) return last_id_;
  auto it = index_.find(id);
  if (it == index_.end()) {
    it = index_.emplace(std::string(id), static_cast<uint32_t>(ids_.size())).first;
    ids_.emplace_back(id);
  }
  last_.assign(id);
  last_id_ = it->second;
  return last_id_;
}

void RawData::set_title(uint32_t item, std::string title) {
  if (titles.size() <= item) titles.resize(item + 1);
  titles[item] = std::move(title);
}

const std::string& RawData::title(uint32_t item) const {
  static const std::string kNone;
  return item < titles.size() ? titles[item] : kNone;
}

const char* add_interaction(RawData& raw, std::string_view user, std::string_view item,
                            std::string_view rating, std::string_view timestamp) {
  user = trim(user);
  item = trim(item);
  if (user.empty()) return "empty user id";
  if (item.empty()) return "empty item id";
  double r = 0;
  if (raw.has_ratings && !parse_double(rating, r)) return "the rating is not a number";
  double t = 0;
  if (!parse_double(timestamp, t)) return "the timestamp is not a number";
  raw.interactions.push_back({raw.users.intern(user), raw.items.intern(item), static_cast<float>(r), t});
  return nullptr;
}

SourceFiles find_source_files(const DatasetConfig& cfg) {
  const fs::path dir = cfg.path;
  if (cfg.path.empty())
    fail("dataset.path is empty but dataset.format is '{}': set dataset.path to the raw files' folder.",
         cfg.format);
  if (!fs::is_directory(dir)) {
    fail("dataset.path {} is not a directory. Point it at the folder holding the raw files.{}", dir.string(),
         fs::exists(dir) ? "" : fmt::format(" Supported formats and where to get them:{}", all_formats()));
  }
  const Format format = cfg.format == "auto" ? detect(dir) : from_config_name(cfg.format);
  SourceFiles files = files_of(dir, format, cfg.subset);
  std::vector<std::string> absent;
  for (const fs::path& p : {files.interactions, files.items}) {
    if (!fs::is_regular_file(p)) absent.push_back(p.filename().string());
  }
  if (!absent.empty()) missing(dir, format, fmt::format("missing {}", fmt::join(absent, " and ")));
  return files;
}

RawData load_raw(const SourceFiles& files, const DatasetConfig& cfg) {
  switch (files.format) {
    case Format::kMl100k:
    case Format::kMlDat:
    case Format::kMlCsv:
      return read_movielens(files, cfg.skip_bad_lines);
    case Format::kAmazon2014:
    case Format::kAmazon2018:
      return read_amazon(files, cfg.skip_bad_lines);
    case Format::kAtomic:
      return read_atomic(files, cfg.skip_bad_lines);
  }
  fail("unknown format {}", static_cast<int>(files.format));
}

}  // namespace lrec::data
