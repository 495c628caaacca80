#include "core/metrics_log.h"

#include <fmt/ranges.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace lrec {

namespace fs = std::filesystem;

namespace {

std::FILE* open_or_fail(const fs::path& path, const char* mode) {
  std::FILE* f = std::fopen(path.c_str(), mode);
  if (f == nullptr) fail("cannot open {} for writing: {}", path.string(), std::strerror(errno));
  return f;
}

std::string format_number(double v) { return fmt::format("{:.10g}", v); }

}  // namespace

MetricsLog::MetricsLog(const fs::path& dir, const std::string& name, bool append) {
  fs::create_directories(dir);
  csv_path_ = dir / (name + ".csv");
  if (append && fs::exists(csv_path_)) {
    std::ifstream in(csv_path_);
    std::string header;
    std::getline(in, header);
    for (size_t start = 0; !header.empty() && start <= header.size();) {
      const size_t comma = header.find(',', start);
      columns_.push_back(header.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  jsonl_ = open_or_fail(dir / (name + ".jsonl"), append ? "a" : "w");
  csv_ = open_or_fail(csv_path_, append ? "a" : "w");
}

MetricsLog::~MetricsLog() {
  if (jsonl_ != nullptr) std::fclose(jsonl_);
  if (csv_ != nullptr) std::fclose(csv_);
}

void MetricsLog::write(const std::map<std::string, double>& values) {
  if (columns_.empty()) {
    for (const auto& [key, v] : values) columns_.push_back(key);
    std::string header;
    for (const auto& c : columns_) header += (header.empty() ? "" : ",") + c;
    std::fprintf(csv_, "%s\n", header.c_str());
  }
  if (values.size() != columns_.size()) {
    fail("internal: metrics record has {} keys, but {} has columns {}", values.size(), csv_path_.string(),
         fmt::join(columns_, ","));
  }
  std::string row;
  nlohmann::ordered_json record;
  for (const auto& c : columns_) {
    const auto it = values.find(c);
    if (it == values.end()) fail("internal: metrics record lacks column '{}' of {}", c, csv_path_.string());
    row += (row.empty() ? "" : ",") + format_number(it->second);
    record[c] = it->second;
  }
  std::fprintf(csv_, "%s\n", row.c_str());
  std::fprintf(jsonl_, "%s\n", record.dump().c_str());
  std::fflush(csv_);
  std::fflush(jsonl_);
}

}  // namespace lrec
