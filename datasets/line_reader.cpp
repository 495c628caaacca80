#include "datasets/line_reader.h"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/log.h"
#include "datasets/text.h"

namespace lrec::data {

namespace {

constexpr size_t kChunk = size_t{4} << 20;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

}  // namespace

void for_each_line(const std::filesystem::path& path,
                   const std::function<void(std::string_view, size_t)>& fn) {
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) fail("cannot open {}: {}", path.string(), std::strerror(errno));
  gzbuffer(file.get(), 1 << 20);

  std::string buffer(kChunk, '\0');
  size_t carry = 0;  // bytes of an unfinished line at the start of the buffer
  size_t line_number = 0;
  auto emit = [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (++line_number == 1 && line.starts_with("\xEF\xBB\xBF")) line.remove_prefix(3);
    if (!trim(line).empty()) fn(line, line_number);
  };
  while (true) {
    if (buffer.size() < carry + kChunk) buffer.resize(carry + kChunk);  // a line longer than a chunk
    const int n = gzread(file.get(), buffer.data() + carry, static_cast<unsigned>(kChunk));
    if (n < 0) {
      int code = 0;
      fail("reading {} failed: {}. Is the file complete (re-download it)?", path.string(),
           gzerror(file.get(), &code));
    }
    if (n == 0) {
      if (carry > 0) emit(std::string_view(buffer.data(), carry));
      return;
    }
    const std::string_view data(buffer.data(), carry + static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl = data.find('\n'); nl != std::string_view::npos; nl = data.find('\n', start)) {
      emit(data.substr(start, nl - start));
      start = nl + 1;
    }
    carry = data.size() - start;
    std::memmove(buffer.data(), buffer.data() + start, carry);
  }
}

void BadLines::report(size_t line_number, std::string_view line, std::string_view reason) {
  const std::string message =
      fmt::format("{}:{}: {}: {}", file_.string(), line_number, reason, quote_line(line));
  if (!skip_) {
    fail("{}\nFix or delete that line, or set dataset.skip_bad_lines=true to skip malformed lines.", message);
  }
  if (skipped_++ == 0) first_ = message;
}

void BadLines::finish() const {
  if (skipped_ == 0) return;
  log::warn("skipped {} malformed line{} of {} (skip_bad_lines is on); the first: {}", skipped_,
            skipped_ == 1 ? "" : "s", file_.string(), first_);
}

}  // namespace lrec::data
