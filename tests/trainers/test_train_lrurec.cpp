// train_lrurec end to end on a small synthetic dataset: resume continues the same run, Ctrl-C saves and
// exits cleanly, bad input is refused with a clear message.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "tests/common/run_program.h"
#include "tests/common/test_util.h"

namespace lrec {
namespace {

namespace fs = std::filesystem;
using testing::logged_losses;
using testing::run_program;
using testing::TempDir;

const std::string kProgram = std::string(LREC_BINARY_DIR) + "/trainers/train_lrurec";

std::vector<std::string> small_run(const fs::path& out, int max_steps) {
  return {"output_dir=" + out.string(),
          "dataset.format=synthetic",
          "dataset.cache_dir=",
          "dataset.synthetic.num_users=120",
          "dataset.synthetic.num_items=80",
          "dataset.synthetic.min_length=8",
          "dataset.synthetic.max_length=20",
          "model.hidden=16",
          "train.batch_size=8",
          "train.eval_batch_size=64",
          "train.max_len=16",
          "train.val_iterations=6",
          "train.patience=100",
          "train.log_every=1",
          "train.max_steps=" + std::to_string(max_steps),
          "threads=1"};
}

TEST(TrainLrurec, ResumeContinuesTheSameRun) {
  TempDir dir;
  const auto straight = run_program(kProgram, small_run(dir / "straight", 24), dir / "straight.log");
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  const auto first = run_program(kProgram, small_run(dir / "resumed", 12), dir / "first.log");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  // Resuming with other settings would continue another run: refused, naming the key, writing nothing.
  const std::string config_before = read_file(dir / "resumed" / "config.yaml");
  auto other = small_run(dir / "resumed", 24);
  other.insert(other.end(), {"train.lr=0.5", "--resume"});
  const auto changed = run_program(kProgram, other, dir / "changed.log");
  EXPECT_EQ(changed.exit_code, 1);
  EXPECT_NE(changed.output.find("these settings differ from it:\n  train.lr: "), std::string::npos)
      << changed.output;
  EXPECT_EQ(read_file(dir / "resumed" / "config.yaml"), config_before);

  auto args = small_run(dir / "resumed", 24);
  args.push_back("--resume");
  const auto second = run_program(kProgram, args, dir / "second.log");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("resumed from"), std::string::npos) << second.output;

  const auto want = logged_losses(dir / "straight"), got = logged_losses(dir / "resumed");
  ASSERT_EQ(want.size(), 24u);
  ASSERT_EQ(got.size(), 24u);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second, want[i].second) << "loss differs at step " << want[i].first;
  }
  // Both runs exported candidates, and tested the same best model: the same metrics, both averages.
  EXPECT_TRUE(fs::exists(dir / "resumed" / "candidates.safetensors"));
  const auto metrics = [&](const char* run) {
    return nlohmann::json::parse(read_file(dir / run / "test_metrics.json"));
  };
  const nlohmann::json a = metrics("straight"), b = metrics("resumed");
  EXPECT_EQ(a["best_step"], b["best_step"]);
  EXPECT_EQ(a["test"], b["test"]);
  EXPECT_EQ(a["test"].size(), 15u);  // Recall, NDCG and MRR at 1, 5, 10, 20, 50
  EXPECT_EQ(a["batch_means"]["batch_size"], 64);
  EXPECT_EQ(a["batch_means"]["test"], b["batch_means"]["test"]);
  EXPECT_EQ(a["batch_means"]["test"].size(), 15u);
}

// A stop between two lines of train.jsonl (step 12, a line every 5 steps): the resumed run's line at step
// 15 still averages steps 11-15, and a crash's extra lines after the checkpoint are dropped.
TEST(TrainLrurec, ResumeBetweenLogLinesWritesTheSameLines) {
  TempDir dir;
  const auto every_five = [&](const fs::path& out, int max_steps) {
    auto args = small_run(out, max_steps);
    args.push_back("train.log_every=5");
    return args;
  };
  ASSERT_EQ(run_program(kProgram, every_five(dir / "straight", 24), dir / "straight.log").exit_code, 0);
  ASSERT_EQ(run_program(kProgram, every_five(dir / "resumed", 12), dir / "first.log").exit_code, 0);
  // As if the run had gone on past its checkpoint and crashed: a line the resumed run will write again.
  {
    std::ofstream log(dir / "resumed" / "train.jsonl", std::ios::app);
    log << "{\"elapsed_s\":1.0,\"epoch\":0.0,\"loss\":99.0,\"step\":15.0}\n";
  }
  auto args = every_five(dir / "resumed", 24);
  args.push_back("--resume");
  const auto second = run_program(kProgram, args, dir / "second.log");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  const auto want = logged_losses(dir / "straight"), got = logged_losses(dir / "resumed");
  ASSERT_EQ(want.size(), 4u);  // steps 5, 10, 15, 20
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second, want[i].second) << "line of step " << want[i].first;
  }
}

TEST(TrainLrurec, CtrlCSavesACheckpointAndExitsCleanly) {
  TempDir dir;
  bool signalled = false;
  const auto result =
      run_program(kProgram, small_run(dir / "run", 1'000'000), dir / "run.log", [&](pid_t pid) {
        // Interrupt once training is under way (the first validation checkpoint exists).
        if (!signalled && fs::exists(dir / "run" / "checkpoints")) {
          ::kill(pid, SIGINT);
          signalled = true;
        }
      });
  ASSERT_TRUE(signalled) << result.output;
  EXPECT_EQ(result.exit_code, 130) << result.output;
  EXPECT_NE(result.output.find("continue with --resume"), std::string::npos) << result.output;
  // The interrupted run resumes from its newest checkpoint.
  auto args = small_run(dir / "run", 1);
  args.push_back("--resume");
  const auto resumed = run_program(kProgram, args, dir / "resume.log");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
}

TEST(TrainLrurec, RefusesToOverwriteAnEarlierRunAndCorruptCheckpoints) {
  TempDir dir;
  ASSERT_EQ(run_program(kProgram, small_run(dir / "run", 6), dir / "a.log").exit_code, 0);
  const auto again = run_program(kProgram, small_run(dir / "run", 6), dir / "b.log");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("already holds checkpoints"), std::string::npos) << again.output;

  fs::path checkpoint;
  for (const auto& e : fs::directory_iterator(dir / "run" / "checkpoints")) checkpoint = e.path();
  write_file_atomic(checkpoint / "model.safetensors", "garbage");
  auto args = small_run(dir / "run", 12);
  args.push_back("--resume");
  const auto corrupt = run_program(kProgram, args, dir / "c.log");
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_NE(corrupt.output.find("is corrupt"), std::string::npos) << corrupt.output;
}

TEST(TrainLrurec, BadConfigNamesTheKey) {
  TempDir dir;
  auto args = small_run(dir / "run", 6);
  args.push_back("train.lrr=0.1");
  const auto result = run_program(kProgram, args, dir / "log");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find("unknown config key 'train.lrr'. Did you mean 'train.lr'?"), std::string::npos)
      << result.output;
  EXPECT_FALSE(fs::exists(dir / "run"));
  // A value out of range is refused before anything is written (0 would divide by zero in the loop).
  args.back() = "train.log_every=0";
  const auto zero = run_program(kProgram, args, dir / "log");
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_NE(zero.output.find("config key 'train.log_every' must be >= 1"), std::string::npos) << zero.output;
  EXPECT_FALSE(fs::exists(dir / "run" / "checkpoints"));
  // Cut-offs the progress lines need, a best metric that is computed, and candidates that exist.
  const std::pair<const char*, const char*> refused[] = {
      {"train.metric_ks=[10]",
       "config key 'train.metric_ks' must be a list of cut-offs >= 1 that holds 10 and 20"},
      {"train.metric_ks=[0,10,20]", "config key 'train.metric_ks' must be"},
      {"train.best_metric=Recall@7",
       "config key 'train.best_metric' must be Recall@K, NDCG@K or MRR@K with K "
       "from train.metric_ks, e.g. Recall@10 (got 'Recall@7')"},
      {"export_top_k=81", "config key 'export_top_k' must be at most the dataset's 80 items"}};
  for (const auto& [setting, message] : refused) {
    args.back() = setting;
    const auto bad = run_program(kProgram, args, dir / "log");
    EXPECT_EQ(bad.exit_code, 1) << setting;
    EXPECT_NE(bad.output.find(message), std::string::npos) << bad.output;
    EXPECT_FALSE(fs::exists(dir / "run")) << setting;
  }
}

}  // namespace
}  // namespace lrec
