#include "core/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>

namespace lrec {

namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int signal) {
  if (g_interrupted.exchange(true)) std::_Exit(128 + signal);
  constexpr char kMessage[] =
      "\ninterrupt: finishing this step, saving a checkpoint, then exiting (again to abort)\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupted() { return g_interrupted.load(); }

}  // namespace lrec
