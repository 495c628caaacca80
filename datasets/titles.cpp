#include "datasets/titles.h"

#include <algorithm>
#include <cctype>

#include "datasets/text.h"

namespace lrec::data {

namespace {

// Length of a trailing " (YYYY)" (the year may be followed by more inside the parentheses, e.g. a range).
size_t year_suffix_length(std::string_view title) {
  if (!title.ends_with(')')) return 0;
  const size_t open = title.rfind('(');
  if (open == std::string_view::npos || open + 5 >= title.size()) return 0;
  for (size_t i = open + 1; i < open + 5; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(title[i]))) return 0;
  }
  const size_t start = open > 0 && title[open - 1] == ' ' ? open - 1 : open;
  return title.size() - start;
}

std::string collapse_spaces(std::string_view text) {
  std::string out;
  for (const char c : trim(text)) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

}  // namespace

std::string clean_movielens_title(std::string_view title) {
  title = trim(title);
  const size_t year_length = year_suffix_length(title);
  const std::string_view year = title.substr(title.size() - year_length);
  title.remove_suffix(year_length);

  // Remove "(...)" parts: each '(' up to the next ')', as the non-greedy regex \(.*?\) does.
  std::string kept;
  for (size_t i = 0; i < title.size();) {
    const size_t close = title[i] == '(' ? title.find(')', i) : std::string_view::npos;
    if (close != std::string_view::npos) {
      i = close + 1;
    } else {
      kept += title[i++];
    }
  }
  std::string name = collapse_spaces(kept);

  const size_t comma = name.rfind(", ");
  if (comma != std::string::npos) {
    std::string article = name.substr(comma + 2);
    std::transform(article.begin(), article.end(), article.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (article == "the" || article == "a" || article == "an") {
      name = name.substr(comma + 2) + " " + name.substr(0, comma);
    }
  }
  return name + std::string(year);
}

}  // namespace lrec::data
