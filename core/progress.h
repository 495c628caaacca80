// A console progress bar with rate and ETA. On a terminal it redraws one line in place (at most 10 times
// a second); otherwise (logs, CI) it prints a plain line every `plain_every_seconds`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lrec {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, double plain_every_seconds = 30.0);
  ~ProgressBar();  // finishes the line
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // Advances by `n` units; `status` is shown after the counts (e.g. "loss 3.21").
  void update(int64_t n = 1, const std::string& status = "");
  void finish();
  // Starts over for `total` more units (e.g. the next validation interval).
  void restart(int64_t total);

 private:
  void draw(bool final);
  std::string label_;
  int64_t total_, done_ = 0;
  std::string status_;
  bool tty_, finished_ = false;
  double plain_every_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// "1:02:03", "4:05" from seconds.
std::string format_duration(double seconds);

}  // namespace lrec
