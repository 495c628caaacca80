// Prints the environment every run reports at start-up: library versions, threads, CPU features.
//   lrec_info [threads=N]
#include "core/config.h"
#include "core/log.h"
#include "core/runtime.h"

namespace {

struct InfoConfig {
  int threads = 0;  // 0 = all cores
  template <class V>
  void visit(V& v) {
    v("threads", threads);
  }
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto cli = lrec::config::parse_command_line(argc, argv, "lrec_info [--config FILE] [threads=N]");
    const auto cfg = lrec::config::load<InfoConfig>(cli);
    lrec::configure_runtime(cfg.threads);
    lrec::log_startup("lrec_info", lrec::config::to_yaml(cfg));
  } catch (const std::exception& e) {
    lrec::log::error("{}", e.what());
    return 1;
  }
  return 0;
}
