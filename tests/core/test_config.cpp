#include <gtest/gtest.h>

#include "core/config.h"
#include "tests/common/test_util.h"

namespace lrec {
namespace {

using testing::error_message;
using testing::TempDir;
using testing::write_text;

struct OptimConfig {
  double lr = 1e-3;
  std::vector<int> ks = {1, 5, 10};
  template <class V>
  void visit(V& v) {
    v("lr", lr);
    v("ks", ks);
  }
};

struct RunConfig {
  std::string path;
  int batch_size = 128;
  bool resume = false;
  std::string negatives = "random";
  OptimConfig optim;
  template <class V>
  void visit(V& v) {
    v.required("path", path);
    v("batch_size", batch_size);
    v("resume", resume);
    v("negatives", negatives, {"random", "retriever"});
    v("optim", optim);
  }
};

config::CommandLine cli(const std::filesystem::path& file, std::vector<std::string> overrides = {}) {
  return {file, std::move(overrides), false};
}

TEST(Config, FileAndOverridesMapOntoTypedStruct) {
  TempDir dir;
  write_text(dir / "c.yaml", "path: /data\nbatch_size: 16\noptim:\n  lr: 0.01\n");
  const auto cfg = config::load<RunConfig>(cli(dir / "c.yaml", {"optim.ks=[10, 20]", "negatives=retriever"}));
  EXPECT_EQ(cfg.path, "/data");
  EXPECT_EQ(cfg.batch_size, 16);
  EXPECT_DOUBLE_EQ(cfg.optim.lr, 0.01);
  EXPECT_EQ(cfg.optim.ks, (std::vector<int>{10, 20}));
  EXPECT_EQ(cfg.negatives, "retriever");
  EXPECT_FALSE(cfg.resume);
}

TEST(Config, OverrideCreatesMissingSectionAndWinsOverFile) {
  TempDir dir;
  write_text(dir / "c.yaml", "path: /data\n");
  const auto cfg = config::load<RunConfig>(cli(dir / "c.yaml", {"optim.lr=0.5", "path=/other"}));
  EXPECT_DOUBLE_EQ(cfg.optim.lr, 0.5);
  EXPECT_EQ(cfg.path, "/other");
}

TEST(Config, UnknownKeyNamesKeyFileLineAndSuggestion) {
  TempDir dir;
  write_text(dir / "c.yaml", "path: /data\noptim:\n  lrr: 0.01\n");
  const std::string msg = error_message([&] { config::load<RunConfig>(cli(dir / "c.yaml")); });
  EXPECT_NE(msg.find("c.yaml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'optim.lrr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Did you mean 'optim.lr'?"), std::string::npos) << msg;
}

TEST(Config, UnknownOverrideNamesTheOverride) {
  const std::string msg = error_message([&] { config::load<RunConfig>(cli("", {"path=x", "batchsize=3"})); });
  EXPECT_NE(msg.find("command-line override 'batchsize=3'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Did you mean 'batch_size'?"), std::string::npos) << msg;
}

TEST(Config, KeyInWrongSectionSuggestsTheRightOne) {
  const std::string msg = error_message([&] { config::load<RunConfig>(cli("", {"path=x", "lr=0.1"})); });
  EXPECT_NE(msg.find("Did you mean 'optim.lr'?"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesKeyAndExpectedType) {
  TempDir dir;
  write_text(dir / "c.yaml", "path: /data\nbatch_size: big\n");
  std::string msg = error_message([&] { config::load<RunConfig>(cli(dir / "c.yaml")); });
  EXPECT_NE(msg.find("c.yaml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'batch_size' expects an integer, got 'big'"), std::string::npos) << msg;
  msg = error_message([&] { config::load<RunConfig>(cli("", {"path=x", "optim.ks=3"})); });
  EXPECT_NE(msg.find("'optim.ks' expects a list of integers"), std::string::npos) << msg;
  msg = error_message([&] { config::load<RunConfig>(cli("", {"path=x", "optim=3"})); });
  EXPECT_NE(msg.find("'optim' expects a section"), std::string::npos) << msg;
  msg = error_message([&] { config::load<RunConfig>(cli("", {"path=x", "resume=maybe"})); });
  EXPECT_NE(msg.find("'resume' expects a boolean"), std::string::npos) << msg;
}

TEST(Config, MissingRequiredKeyIsNamed) {
  TempDir dir;
  write_text(dir / "c.yaml", "batch_size: 3\n");
  const std::string msg = error_message([&] { config::load<RunConfig>(cli(dir / "c.yaml")); });
  EXPECT_NE(msg.find("required config key 'path' is missing"), std::string::npos) << msg;
}

TEST(Config, ValueOutsideChoicesListsThem) {
  const std::string msg = error_message([&] {
    config::load<RunConfig>(cli("", {"path=x", "negatives=hard"}));
  });
  EXPECT_NE(msg.find("must be one of 'random', 'retriever'"), std::string::npos) << msg;
}

TEST(Config, SyntaxErrorAndMissingFileAreClear) {
  TempDir dir;
  write_text(dir / "bad.yaml", "path: [unclosed\n");
  std::string msg = error_message([&] { config::load<RunConfig>(cli(dir / "bad.yaml")); });
  EXPECT_NE(msg.find("bad.yaml:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
  msg = error_message([&] { config::load<RunConfig>(cli(dir / "absent.yaml")); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(Config, OverrideThroughAValueIsAnError) {
  const std::string msg = error_message([&] { config::load<RunConfig>(cli("", {"path=x", "path.sub=1"})); });
  EXPECT_NE(msg.find("'path' is a value, not a section"), std::string::npos) << msg;
}

TEST(Config, ResolvedYamlRoundTrips) {
  RunConfig cfg;
  cfg.path = "/some where";
  cfg.optim.lr = 0.1234567890123;
  cfg.optim.ks = {3, 7};
  TempDir dir;
  config::save_resolved(dir.path(), cfg);
  const auto back = config::load<RunConfig>(cli(dir / "config.yaml"));
  EXPECT_EQ(back.path, cfg.path);
  EXPECT_DOUBLE_EQ(back.optim.lr, cfg.optim.lr);
  EXPECT_EQ(back.optim.ks, cfg.optim.ks);
  EXPECT_EQ(back.batch_size, cfg.batch_size);
}

TEST(Config, CommandLineParsing) {
  const char* argv[] = {"prog", "--config", "a.yaml", "x.y=1", "--resume"};
  const auto parsed = config::parse_command_line(5, argv, "prog --config FILE");
  EXPECT_EQ(parsed.config_file, "a.yaml");
  EXPECT_EQ(parsed.overrides, (std::vector<std::string>{"x.y=1", "resume=true"}));
  const char* bad[] = {"prog", "--lr", "3"};
  const std::string msg = error_message([&] { config::parse_command_line(3, bad, "prog --config FILE"); });
  EXPECT_NE(msg.find("unknown argument '--lr'"), std::string::npos) << msg;
}

}  // namespace
}  // namespace lrec
