// Fast line-by-line reading of raw text files, plain or gzip-compressed, and the policy for
// malformed lines (fail with file:line and the line, or skip and count).
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace lrec::data {

// Calls fn(line, line_number) for every line (1-based numbers). The line excludes "\n" and a trailing
// "\r"; blank lines are skipped (but counted), a UTF-8 byte-order mark at the start is dropped. .gz files are
// decompressed on the fly (zlib reads plain files unchanged). Data is read in 4 MiB chunks: no per-line I/O.
void for_each_line(const std::filesystem::path& path,
                   const std::function<void(std::string_view line, size_t line_number)>& fn);

// Handles malformed lines of one file: report() throws lrec::Error "file:line: reason: "<line>"" with
// the fix, or, when skipping, counts the line; finish() logs how many lines were skipped.
class BadLines {
 public:
  BadLines(std::filesystem::path file, bool skip) : file_(std::move(file)), skip_(skip) {}
  void report(size_t line_number, std::string_view line, std::string_view reason);
  void finish() const;
  size_t skipped() const { return skipped_; }

 private:
  std::filesystem::path file_;
  bool skip_;
  size_t skipped_ = 0;
  std::string first_;  // the first skipped line's message, shown in the summary
};

}  // namespace lrec::data
