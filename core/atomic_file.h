// Atomic file output: data goes to a temporary file beside the target, is fsync'ed, then renamed over
// the target. A crash or an exception never leaves a partial file under the final name.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string_view>

namespace lrec {

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path target);
  ~AtomicFileWriter();  // removes the temporary file unless commit() ran
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  void commit();  // flush, fsync, rename onto the target, fsync the directory

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
};

void write_file_atomic(const std::filesystem::path& target, std::string_view contents);

// fsync a directory so that a rename inside it is durable.
void sync_directory(const std::filesystem::path& dir);

// Puts the complete directory `fresh` in the place of `target` by two renames, keeping the previous
// target as "<target>.old" until the new one is in place, then removing it. A crash between the renames
// leaves only "<target>.old"; recover_replaced_directory(target) renames it back, and readers call it
// before they open target.
void swap_in_directory(const std::filesystem::path& fresh, const std::filesystem::path& target);
void recover_replaced_directory(const std::filesystem::path& target);

std::string read_file(const std::filesystem::path& path);

}  // namespace lrec
