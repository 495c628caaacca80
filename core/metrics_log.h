// Metrics written as JSONL and CSV side by side in the run's output directory, flushed at every write so
// that a crashed run keeps what it logged.
#pragma once

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lrec {

class MetricsLog {
 public:
  // Creates <dir>/<name>.jsonl and <dir>/<name>.csv, or, given `resume_step`, continues them from that
  // step: records with a larger "step" (logged after the checkpoint that the run resumes from, before a
  // crash) are dropped first, so that the resumed run logs each step once.
  MetricsLog(const std::filesystem::path& dir, const std::string& name,
             std::optional<double> resume_step = std::nullopt);
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
