// Runs the project's programs from tests, as a user would from the shell.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace lrec::testing {

struct ProgramResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `program args...`, capturing its output in `log`. While it runs, `poll` is called every 50 ms
// with the child's pid (e.g. to send it a signal once some file appears).
inline ProgramResult run_program(const std::string& program, const std::vector<std::string>& args,
                                 const std::filesystem::path& log,
                                 const std::function<void(pid_t)>& poll = nullptr) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (poll) poll(pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ProgramResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(log);
  std::stringstream buffer;
  buffer << in.rdbuf();
  result.output = buffer.str();
  return result;
}

// (step, loss) of every line of a trainer's <out>/train.jsonl.
inline std::vector<std::pair<int64_t, double>> logged_losses(const std::filesystem::path& out) {
  std::vector<std::pair<int64_t, double>> rows;
  std::ifstream in(out / "train.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    rows.emplace_back(j.at("step").get<int64_t>(), j.at("loss").get<double>());
  }
  return rows;
}

}  // namespace lrec::testing
