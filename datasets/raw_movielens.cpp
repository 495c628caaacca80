// MovieLens readers: 100K (u.data + u.item), 1M/10M (ratings.dat + movies.dat), and the CSV releases
// (ratings.csv + movies.csv: ml-latest, ml-latest-small, 20M, 25M).
#include <fmt/ranges.h>

#include <utility>

#include "core/error.h"
#include "datasets/csv.h"
#include "datasets/line_reader.h"
#include "datasets/raw.h"
#include "datasets/text.h"

namespace lrec::data {

namespace {

// Interaction lines split on `separator` into exactly user, item, rating, timestamp.
void read_separated_ratings(const std::filesystem::path& path, std::string_view separator, RawData& raw,
                            bool skip) {
  BadLines bad(path, skip);
  std::vector<std::string_view> fields;
  for_each_line(path, [&](std::string_view line, size_t number) {
    split(line, separator, fields);
    if (fields.size() != 4) {
      return bad.report(
          number, line,
          fmt::format("expected 4 fields (user, item, rating, timestamp) separated by '{}', found {}",
                      separator == "\t" ? "\\t" : separator, fields.size()));
    }
    if (const char* why = add_interaction(raw, fields[0], fields[1], fields[2], fields[3])) {
      bad.report(number, line, why);
    }
  });
  bad.finish();
}

void read_csv_ratings(const std::filesystem::path& path, RawData& raw, bool skip) {
  BadLines bad(path, skip);
  std::vector<std::string> fields;
  std::string error;
  bool header = true;
  for_each_line(path, [&](std::string_view line, size_t number) {
    if (!split_csv(line, fields, error)) return bad.report(number, line, error);
    if (std::exchange(header, false)) {
      if (fields.size() != 4 || fields[0] != "userId" || fields[1] != "movieId") {
        fail(
            "{}:{}: expected the header \"userId,movieId,rating,timestamp\", found {}. Is this a MovieLens "
            "ratings.csv?",
            path.string(), number, quote_line(line));
      }
      return;
    }
    if (fields.size() != 4) {
      return bad.report(
          number, line,
          fmt::format("expected 4 fields (userId,movieId,rating,timestamp), found {}", fields.size()));
    }
    if (const char* why = add_interaction(raw, fields[0], fields[1], fields[2], fields[3])) {
      bad.report(number, line, why);
    }
  });
  bad.finish();
}

// Title files: `id_title(line)` yields the id and the title (raw bytes) or a reason it cannot.
template <class Split>
void read_titles(const std::filesystem::path& path, RawData& raw, bool skip, bool has_header,
                 Split id_title) {
  BadLines bad(path, skip);
  std::string id, title, error;
  bool header = has_header;
  for_each_line(path, [&](std::string_view line, size_t number) {
    if (!id_title(line, id, title, error)) return bad.report(number, line, error);
    if (std::exchange(header, false)) {
      if (id != "movieId" || title != "title") {
        fail("{}:{}: expected the header \"movieId,title,genres\", found {}. Is this a MovieLens movies.csv?",
             path.string(), number, quote_line(line));
      }
      return;
    }
    if (trim(id).empty()) return bad.report(number, line, "empty movie id");
    raw.set_title(raw.items.intern(trim(id)), to_utf8(trim(title)));
  });
  bad.finish();
}

}  // namespace

RawData read_movielens(const SourceFiles& files, bool skip) {
  RawData raw;
  raw.movielens_titles = true;
  switch (files.format) {
    case Format::kMl100k:
      read_separated_ratings(files.interactions, "\t", raw, skip);
      read_titles(files.items, raw, skip, false,
                  [](std::string_view line, std::string& id, std::string& title, std::string& error) {
                    const size_t a = line.find('|');
                    const size_t b = a == std::string_view::npos ? a : line.find('|', a + 1);
                    if (b == std::string_view::npos) {
                      error = "expected id|title|... (fields separated by '|')";
                      return false;
                    }
                    id.assign(line.substr(0, a));
                    title.assign(line.substr(a + 1, b - a - 1));
                    return true;
                  });
      break;
    case Format::kMlDat:
      read_separated_ratings(files.interactions, "::", raw, skip);
      // id::title::genres; the title is everything between the first and the last "::".
      read_titles(files.items, raw, skip, false,
                  [](std::string_view line, std::string& id, std::string& title, std::string& error) {
                    const size_t a = line.find("::");
                    const size_t b = line.rfind("::");
                    if (a == std::string_view::npos || b == a) {
                      error = "expected id::title::genres";
                      return false;
                    }
                    id.assign(line.substr(0, a));
                    title.assign(line.substr(a + 2, b - a - 2));
                    return true;
                  });
      break;
    case Format::kMlCsv: {
      read_csv_ratings(files.interactions, raw, skip);
      std::vector<std::string> fields;
      read_titles(files.items, raw, skip, true,
                  [&fields](std::string_view line, std::string& id, std::string& title, std::string& error) {
                    if (!split_csv(line, fields, error)) return false;
                    if (fields.size() != 3) {
                      error =
                          fmt::format("expected 3 fields (movieId,title,genres), found {}", fields.size());
                      return false;
                    }
                    id = fields[0];
                    title = fields[1];
                    return true;
                  });
      break;
    }
    default:
      fail("read_movielens: not a MovieLens format");
  }
  return raw;
}

}  // namespace lrec::data
