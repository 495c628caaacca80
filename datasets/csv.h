// CSV records as RFC 4180 writes them: comma-separated fields; a field in double quotes may contain
// commas and doubled quotes ("" for "). MovieLens movies.csv quotes every title that holds a comma.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lrec::data {

// Splits one line into `fields` (reused). Returns false and sets `error` for a quote inside an
// unquoted field, text after a closing quote, or a quoted field left open at the end of the line
// (fields spanning several lines are not supported: no dataset here has them).
bool split_csv(std::string_view line, std::vector<std::string>& fields, std::string& error);

}  // namespace lrec::data
