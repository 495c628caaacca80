// Shared by the benchmarks: running a Python reference side by side, in the same run.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lrec::bench {

// Seconds on a monotonic clock.
inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Mean seconds of `calls` calls after one warm-up.
template <typename Fn>
double mean_seconds(int calls, Fn&& fn) {
  fn();
  const double start = now_seconds();
  for (int i = 0; i < calls; ++i) fn();
  return (now_seconds() - start) / calls;
}

// Median seconds of `steps` calls after one warm-up.
template <typename Fn>
double median_seconds(int steps, Fn&& fn) {
  fn();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const double start = now_seconds();
    fn();
    times.push_back(now_seconds() - start);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Runs `command` (a Python reference script). Its lines "RESULT <name> <seconds>" become the map; every
// other line is passed through to stderr. Empty when the command cannot start.
inline std::map<std::string, double> run_reference(const std::string& command) {
  std::map<std::string, double> out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen((command + " 2>&1").c_str(), "r"), ::pclose);
  if (!pipe) return out;
  char line[512];
  while (std::fgets(line, sizeof(line), pipe.get())) {
    char name[128];
    double seconds = 0;
    if (std::sscanf(line, "RESULT %127s %lf", name, &seconds) == 2) {
      out[name] = seconds;
    } else {
      std::fputs(line, stderr);
    }
  }
  return out;
}

}  // namespace lrec::bench
