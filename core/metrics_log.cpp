#include "core/metrics_log.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
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

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  for (size_t start = 0; !line.empty() && start <= line.size();) {
    const size_t comma = line.find(',', start);
    fields.push_back(line.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return fields;
}

// Rewrites `path` (atomically) without the lines that `drop` selects.
void drop_lines(const fs::path& path, const std::function<bool(const std::string&)>& drop) {
  std::ifstream in(path);
  std::string text;
  for (std::string line; std::getline(in, line);) {
    if (!drop(line)) text += line + "\n";
  }
  write_file_atomic(path, text);
}

}  // namespace

MetricsLog::MetricsLog(const fs::path& dir, const std::string& name, std::optional<double> resume_step) {
  fs::create_directories(dir);
  csv_path_ = dir / (name + ".csv");
  const fs::path jsonl_path = dir / (name + ".jsonl");
  const bool append = resume_step.has_value();
  if (append && fs::exists(jsonl_path)) {
    drop_lines(jsonl_path, [&](const std::string& line) {
      const nlohmann::json record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      return record.is_object() && record.contains("step") && record["step"].get<double>() > *resume_step;
    });
  }
  if (append && fs::exists(csv_path_)) {
    size_t step_column = std::string::npos;
    drop_lines(csv_path_, [&](const std::string& line) {
      const std::vector<std::string> fields = split_csv_line(line);
      if (columns_.empty()) {  // the header
        columns_ = fields;
        step_column = size_t(std::find(columns_.begin(), columns_.end(), "step") - columns_.begin());
        return false;
      }
      return step_column < fields.size() && std::stod(fields[step_column]) > *resume_step;
    });
  }
  jsonl_ = open_or_fail(jsonl_path, append ? "a" : "w");
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
