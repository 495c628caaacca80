#include "datasets/csv.h"

#include <algorithm>

namespace lrec::data {

bool split_csv(std::string_view line, std::vector<std::string>& fields, std::string& error) {
  size_t count = 0;
  size_t i = 0;
  while (true) {
    if (fields.size() <= count) fields.emplace_back();
    std::string& field = fields[count++];
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        const size_t quote = line.find('"', i);
        if (quote == std::string_view::npos) {
          error = "a quoted field has no closing quote";
          return false;
        }
        field.append(line.substr(i, quote - i));
        i = quote + 1;
        if (i < line.size() && line[i] == '"') {  // "" inside quotes is one quote
          field += '"';
          ++i;
          continue;
        }
        break;
      }
      if (i < line.size() && line[i] != ',') {
        error = "text after the closing quote of a quoted field";
        return false;
      }
    } else {
      const size_t comma = std::min(line.find(',', i), line.size());
      const std::string_view raw = line.substr(i, comma - i);
      if (raw.find('"') != std::string_view::npos) {
        error = "a quote inside an unquoted field (quote the whole field and double the quote)";
        return false;
      }
      field.assign(raw);
      i = comma;
    }
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  fields.resize(count);
  return true;
}

}  // namespace lrec::data
