// Amazon review datasets: 2014 (SNAP: ratings_<Cat>.csv user,item,rating,time + meta_<Cat>.json.gz of
// Python dicts) and 2018 (<Cat>.csv item,user,rating,time + meta_<Cat>.json.gz of JSON objects).
// As LlamaRec (datasets/beauty.py), an item's title is meta["title"] stripped; items whose metadata has
// no title are left without one (and dropped by preprocessing).
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "datasets/csv.h"
#include "datasets/line_reader.h"
#include "datasets/python_literal.h"
#include "datasets/raw.h"
#include "datasets/text.h"

namespace lrec::data {

namespace {

void read_ratings(const std::filesystem::path& path, bool item_first, RawData& raw, bool skip) {
  BadLines bad(path, skip);
  std::vector<std::string> fields;
  std::string error;
  for_each_line(path, [&](std::string_view line, size_t number) {
    if (!split_csv(line, fields, error)) return bad.report(number, line, error);
    if (fields.size() != 4) {
      return bad.report(
          number, line,
          fmt::format("expected 4 comma-separated fields ({}), found {}",
                      item_first ? "item,user,rating,time" : "user,item,rating,time", fields.size()));
    }
    const std::string& user = fields[item_first ? 1 : 0];
    const std::string& item = fields[item_first ? 0 : 1];
    if (const char* why = add_interaction(raw, user, item, fields[2], fields[3]))
      bad.report(number, line, why);
  });
  bad.finish();
}

// The 2014 files hold Python literals; the parser also reads JSON, which lets LlamaRec's "games" setup
// (2014 ratings with 2018 metadata) load as amazon2014.
void read_meta(const std::filesystem::path& path, bool strict_json, RawData& raw, bool skip) {
  BadLines bad(path, skip);
  static const std::vector<std::string_view> kKeys = {"asin", "title"};
  for_each_line(path, [&](std::string_view line, size_t number) {
    nlohmann::json meta;
    try {
      meta = strict_json ? nlohmann::json::parse(line) : parse_python_dict_fields(line, kKeys);
    } catch (const nlohmann::json::exception& e) {
      return bad.report(number, line, fmt::format("not a JSON object ({})", e.what()));
    } catch (const PythonLiteralError& e) {
      return bad.report(number, line, fmt::format("not a Python dict literal: {}", e.what()));
    }
    if (!meta.is_object()) return bad.report(number, line, "expected one dict per line");
    const auto asin = meta.find("asin");
    if (asin == meta.end() || !asin->is_string() || trim(asin->get_ref<const std::string&>()).empty()) {
      return bad.report(number, line, "no 'asin' string");
    }
    const auto title = meta.find("title");
    if (title == meta.end() || !title->is_string()) return;  // titles may be missing
    raw.set_title(raw.items.intern(trim(asin->get_ref<const std::string&>())),
                  to_utf8(trim(title->get_ref<const std::string&>())));
  });
  bad.finish();
}

}  // namespace

RawData read_amazon(const SourceFiles& files, bool skip) {
  RawData raw;
  const bool is_2018 = files.format == Format::kAmazon2018;
  read_ratings(files.interactions, /*item_first=*/is_2018, raw, skip);
  read_meta(files.items, /*strict_json=*/is_2018, raw, skip);
  return raw;
}

}  // namespace lrec::data
