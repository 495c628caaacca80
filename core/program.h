// The main() every program shares: `--config FILE [key=value ...] [--resume] [--help]`.
//
//   int main(int argc, char** argv) {
//     return lrec::program_main<RunConfig>(argc, argv, kUsage, [](const RunConfig& cfg) { ...; return 0; });
//   }
//
// --help prints the usage and every key with its default. Otherwise the config is loaded and `run` is
// called; an error becomes one log line naming its cause and exit status 1. (Trainers install the Ctrl-C
// handler of interrupt.h themselves.)
#pragma once

#include <cstdio>
#include <exception>
#include <functional>

#include "core/config.h"
#include "core/log.h"

namespace lrec {

template <class Config>
int program_main(int argc, char** argv, const char* usage, const std::function<int(const Config&)>& run) {
  try {
    const auto cli = config::parse_command_line(argc, argv, usage);
    if (cli.help) {
      std::printf("usage: %s\n\nkeys and defaults:\n%s", usage, config::to_yaml(Config{}).c_str());
      return 0;
    }
    return run(config::load<Config>(cli));
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    return 1;
  }
}

}  // namespace lrec
