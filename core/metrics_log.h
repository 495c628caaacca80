// Metrics written as JSONL and CSV side by side in the run's output directory, flushed at every write so
// that a crashed run keeps what it logged.
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lrec {

class MetricsLog {
 public:
  // Creates (or, when `append`, continues) <dir>/<name>.jsonl and <dir>/<name>.csv.
  MetricsLog(const std::filesystem::path& dir, const std::string& name, bool append = false);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  // One record. The CSV columns are fixed by the first record (or the existing file's header); a later
  // record must have the same keys.
  void write(const std::map<std::string, double>& values);

 private:
  std::filesystem::path csv_path_;
  std::FILE* jsonl_ = nullptr;
  std::FILE* csv_ = nullptr;
  std::vector<std::string> columns_;
};

}  // namespace lrec
