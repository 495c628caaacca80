// Helpers shared by the test suites.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace lrec::testing {

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "lrec_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& path, std::string_view text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Runs `body` and returns the message of the lrec::Error it throws (fails the test if none).
template <class Fn>
std::string error_message(Fn&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an error, but none was thrown";
  return "";
}

// Runs tests/python/<script> with `args` in the project's Python; returns its exit code. The scripts exit
// with 77 when their packages are not importable, and the calling test then skips.
inline int run_python(const std::string& script, const std::string& args) {
  const std::string command =
      std::string(LREC_PYTHON) + " " + LREC_SOURCE_DIR + "/tests/python/" + script + " " + args;
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
inline constexpr int kPythonPackagesMissing = 77;

// The shared data folder (../shared), or "" when it is absent.
inline std::filesystem::path shared_dir() {
  const std::filesystem::path dir = LREC_SHARED_DIR;
  return std::filesystem::exists(dir) ? dir : std::filesystem::path();
}

}  // namespace lrec::testing
