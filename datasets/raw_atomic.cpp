// RecBole atomic files, the generic format for users' own data: tab-separated with a typed header.
//   <name>.inter: user_id:token  item_id:token  [rating:float]  [timestamp:float]  (other columns ignored)
//   <name>.item:  item_id:token  title:token_seq (or movie_title:token_seq, as RecBole's MovieLens files)
// Without a timestamp column the line order is the time order.
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "datasets/line_reader.h"
#include "datasets/raw.h"
#include "datasets/text.h"

namespace lrec::data {

namespace {

constexpr size_t kAbsent = SIZE_MAX;

// Column positions by name ("user_id:token" has the name "user_id").
struct Header {
  std::vector<std::string> names;

  Header(const std::filesystem::path& path, std::string_view line) {
    std::vector<std::string_view> fields;
    split(line, "\t", fields);
    for (const std::string_view f : fields) {
      const size_t colon = f.find(':');
      if (colon == std::string_view::npos) {
        fail(
            "{}: the header field \"{}\" has no type; RecBole headers are name:type (e.g. user_id:token), "
            "separated by tabs. Header: {}",
            path.string(), f, quote_line(line));
      }
      names.emplace_back(trim(f.substr(0, colon)));
    }
  }

  size_t find(std::initializer_list<std::string_view> candidates) const {
    for (const std::string_view c : candidates) {
      const auto it = std::find(names.begin(), names.end(), c);
      if (it != names.end()) return static_cast<size_t>(it - names.begin());
    }
    return kAbsent;
  }

  size_t require(const std::filesystem::path& path,
                 std::initializer_list<std::string_view> candidates) const {
    const size_t column = find(candidates);
    if (column == kAbsent) {
      fail("{}: the header has no {} column (found: {}). Name the column {}:token.", path.string(),
           fmt::join(candidates.begin(), candidates.end(), " or "), fmt::join(names, ", "),
           *candidates.begin());
    }
    return column;
  }
};

// Splits a data row into `fields`; a row without the header's number of fields is reported (or skipped)
// and gives false.
bool split_row(std::string_view line, size_t number, size_t columns, std::vector<std::string_view>& fields,
               BadLines& bad) {
  split(line, "\t", fields);
  if (fields.size() == columns) return true;
  bad.report(
      number, line,
      fmt::format("expected {} tab-separated fields as in the header, found {}", columns, fields.size()));
  return false;
}

void read_inter(const std::filesystem::path& path, RawData& raw, bool skip) {
  BadLines bad(path, skip);
  std::vector<std::string_view> fields;
  size_t user = 0, item = 0, rating = 0, timestamp = 0, columns = 0;
  std::string line_order;
  bool header = true;
  for_each_line(path, [&](std::string_view line, size_t number) {
    if (std::exchange(header, false)) {
      const Header header(path, line);
      user = header.require(path, {"user_id"});
      item = header.require(path, {"item_id"});
      rating = header.find({"rating"});
      timestamp = header.find({"timestamp"});
      columns = header.names.size();
      raw.has_ratings = rating != kAbsent;
      return;
    }
    if (!split_row(line, number, columns, fields, bad)) return;
    if (timestamp == kAbsent) line_order = std::to_string(number);
    const char* why =
        add_interaction(raw, fields[user], fields[item], rating == kAbsent ? "" : fields[rating],
                        timestamp == kAbsent ? line_order : fields[timestamp]);
    if (why) bad.report(number, line, why);
  });
  bad.finish();
}

void read_item(const std::filesystem::path& path, RawData& raw, bool skip) {
  BadLines bad(path, skip);
  std::vector<std::string_view> fields;
  size_t item = 0, title = 0, columns = 0;
  bool header = true;
  for_each_line(path, [&](std::string_view line, size_t number) {
    if (std::exchange(header, false)) {
      const Header header(path, line);
      item = header.require(path, {"item_id"});
      title = header.require(path, {"title", "movie_title"});
      columns = header.names.size();
      return;
    }
    if (!split_row(line, number, columns, fields, bad)) return;
    if (trim(fields[item]).empty()) return bad.report(number, line, "empty item id");
    raw.set_title(raw.items.intern(trim(fields[item])), to_utf8(trim(fields[title])));
  });
  bad.finish();
}

}  // namespace

RawData read_atomic(const SourceFiles& files, bool skip) {
  RawData raw;
  read_inter(files.interactions, raw, skip);
  read_item(files.items, raw, skip);
  return raw;
}

}  // namespace lrec::data
