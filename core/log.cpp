#include "core/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace lrec::log {

void write(Level level, std::string_view message) {
  static std::mutex mutex;
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%H:%M:%S", &local);
  const char* tag = level == Level::kInfo ? "" : level == Level::kWarn ? "WARNING: " : "ERROR: ";
  std::lock_guard<std::mutex> lock(mutex);
  std::fprintf(stderr, "[%s] %s%.*s\n", stamp, tag, static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

}  // namespace lrec::log
