#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "datasets/dataset.h"

namespace lrec::data {

namespace {

std::string with_commas(int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

int64_t Dataset::num_interactions() const {
  int64_t n = 0;
  for (const auto& seq : sequences) n += static_cast<int64_t>(seq.size());
  return n;
}

Stats compute_stats(const Dataset& ds) {
  Stats s;
  s.users = static_cast<int64_t>(ds.num_users());
  s.items = ds.num_items;
  s.interactions = ds.num_interactions();
  if (s.users > 0) {
    s.avg_length = static_cast<double>(s.interactions) / static_cast<double>(s.users);
    const auto [shortest, longest] =
        std::minmax_element(ds.sequences.begin(), ds.sequences.end(),
                            [](const auto& a, const auto& b) { return a.size() < b.size(); });
    s.min_length = static_cast<int64_t>(shortest->size());
    s.max_length = static_cast<int64_t>(longest->size());
  }
  if (s.users > 0 && s.items > 0) {
    s.density =
        static_cast<double>(s.interactions) / (static_cast<double>(s.users) * static_cast<double>(s.items));
  }
  return s;
}

std::string format_stats(const std::string& name, const Stats& s) {
  const size_t width = std::max<size_t>(name.size(), 7);
  std::string out = fmt::format("{:<{}}  {:>9}  {:>9}  {:>12}  {:>11}  {:>9}  {:>14}\n", "Dataset", width,
                                "Users", "Items", "Interactions", "Avg. length", "Density", "Length min-max");
  out += fmt::format("{:<{}}  {:>9}  {:>9}  {:>12}  {:>11.2f}  {:>8.4f}%  {:>14}\n", name, width,
                     with_commas(s.users), with_commas(s.items), with_commas(s.interactions), s.avg_length,
                     100 * s.density, fmt::format("{}-{}", s.min_length, s.max_length));
  return out;
}

}  // namespace lrec::data
