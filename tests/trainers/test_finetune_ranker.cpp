// finetune_ranker and rank end to end on a small synthetic dataset, with the retriever's candidates from
// train_lrurec and a tiny random Llama from make_tiny_llama: resume continues the same run, Ctrl-C saves
// and exits cleanly, the outputs are complete, the merged export ranks as base + adapter, bad input is
// refused with a clear message.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "llm_ranker/ranker_model.h"
#include "tests/common/run_program.h"
#include "tests/common/test_util.h"

namespace lrec {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::logged_losses;
using testing::run_program;
using testing::TempDir;

const std::string kBin = LREC_BINARY_DIR;
const std::string kFinetune = kBin + "/trainers/finetune_ranker";
const std::string kRank = kBin + "/trainers/rank";

const std::vector<std::string> kDataset = {
    "dataset.format=synthetic",        "dataset.cache_dir=",
    "dataset.synthetic.num_users=120", "dataset.synthetic.num_items=80",
    "dataset.synthetic.min_length=8",  "dataset.synthetic.max_length=20"};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Stage 1 and the tiny model, made once for the whole suite.
class FinetuneRanker : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const auto lrurec = run_program(
        kBin + "/trainers/train_lrurec",
        with({"output_dir=" + (*dir_ / "lrurec").string(), "model.hidden=16", "train.batch_size=8",
              "train.max_len=16", "train.val_iterations=6", "train.max_steps=6", "threads=1"},
             kDataset),
        *dir_ / "lrurec.log");
    ASSERT_EQ(lrurec.exit_code, 0) << lrurec.output;
    const auto tiny = run_program(kBin + "/llm_ranker/make_tiny_llama",
                                  with({"output_dir=" + (*dir_ / "tiny").string(), "vocab_size=400",
                                        "hidden_size=32", "intermediate_size=64", "init_std=0.1"},
                                       kDataset),
                                  *dir_ / "tiny.log");
    ASSERT_EQ(tiny.exit_code, 0) << tiny.output;
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::vector<std::string> run_args(const fs::path& out, int max_steps) {
    return with(
        {"output_dir=" + out.string(), "candidates=" + (*dir_ / "lrurec/candidates.safetensors").string(),
         "model.path=" + (*dir_ / "tiny").string(), "model.dtype=float32", "examples.max_history=5",
         "examples.examples_per_user=2", "train.micro_batch_size=2", "train.grad_accum_steps=2",
         "train.warmup_steps=1000",  // the schedule then does not depend on max_steps
         "train.lr=0.01", "train.eval_every=4", "train.eval_batch_size=16", "train.max_val_users=30",
         "train.log_every=1", "train.max_steps=" + std::to_string(max_steps), "threads=1"},
        kDataset);
  }

  static TempDir* dir_;
};
TempDir* FinetuneRanker::dir_ = nullptr;

TEST_F(FinetuneRanker, ResumeContinuesTheSameRun) {
  TempDir dir;
  const auto straight = run_program(kFinetune, run_args(dir / "straight", 8), dir / "straight.log");
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  const auto first = run_program(kFinetune, run_args(dir / "resumed", 4), dir / "first.log");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto args = run_args(dir / "resumed", 8);
  args.push_back("--resume");
  const auto second = run_program(kFinetune, args, dir / "second.log");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("resumed from"), std::string::npos) << second.output;

  const auto want = logged_losses(dir / "straight"), got = logged_losses(dir / "resumed");
  ASSERT_EQ(want.size(), 8u);
  ASSERT_EQ(got.size(), 8u);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].first, want[i].first);
    EXPECT_EQ(got[i].second, want[i].second) << "loss differs at step " << want[i].first;
  }
  EXPECT_NE(want.front().second, want.back().second);  // it trained
  EXPECT_EQ(read_file(dir / "straight/best_adapter/adapter_model.safetensors"),
            read_file(dir / "resumed/best_adapter/adapter_model.safetensors"));
}

TEST_F(FinetuneRanker, WritesAdapterMetricsAndTheTable) {
  TempDir dir;
  const auto run = run_program(kFinetune, run_args(dir / "run", 4), dir / "run.log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  for (const char* file : {"best_adapter/adapter_config.json", "best_adapter/adapter_model.safetensors",
                           "test_metrics.json", "train.csv", "val.csv", "config.yaml"}) {
    EXPECT_TRUE(fs::exists(dir / "run" / file)) << file;
  }
  const json metrics = json::parse(read_file(dir / "run/test_metrics.json"));
  const json& test = metrics.at("test");
  EXPECT_EQ(test.at("users").get<int>(), 120);
  const double rate = test.at("retrieved_users").get<double>() / 120;
  for (const char* who : {"ranker", "retriever"}) {
    for (const char* k : {"Recall@1", "NDCG@5", "MRR@10"}) {
      // Overall = subset x retrieval rate: the users whose target was not retrieved score 0.
      EXPECT_NEAR(test.at(who).at("overall").at(k).get<double>(),
                  test.at(who).at("subset").at(k).get<double>() * rate, 1e-12)
          << who << " " << k;
    }
  }
  EXPECT_NE(run.output.find("ranker, subset"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("retriever, overall"), std::string::npos) << run.output;
  const json adapter = json::parse(read_file(dir / "run/best_adapter/adapter_config.json"));
  EXPECT_EQ(adapter.at("peft_type"), "LORA");
}

// examples.eval_order=shuffled: the ranker sees each user's candidates in a fixed random order; the
// retriever-order baseline, computed from the retriever's ranks, stays the same to the last digit, while
// the ranker's figures move (the untrained tiny model prefers some positions).
TEST_F(FinetuneRanker, ShuffledEvalOrderKeepsTheRetrieverBaseline) {
  TempDir dir;
  json metrics[2];
  const char* orders[2] = {"retriever", "shuffled"};
  for (int i = 0; i < 2; ++i) {
    const fs::path out = dir / orders[i];
    const auto run =
        run_program(kFinetune, with(run_args(out, 1), {std::string("examples.eval_order=") + orders[i]}),
                    dir / (std::string(orders[i]) + ".log"));
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find(i == 0 ? "candidates in retriever order" : "candidates shuffled"),
              std::string::npos)
        << run.output;
    metrics[i] = json::parse(read_file(out / "test_metrics.json"));
    EXPECT_EQ(metrics[i].at("eval_order"), orders[i]);
  }
  for (const char* split : {"test", "val"}) {
    EXPECT_EQ(metrics[0].at(split).at("retriever"), metrics[1].at(split).at("retriever")) << split;
    EXPECT_NE(metrics[0].at(split).at("ranker"), metrics[1].at(split).at("ranker")) << split;
  }
  const auto bad =
      run_program(kFinetune, with(run_args(dir / "bad", 1), {"examples.eval_order=sorted"}), dir / "bad.log");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("examples.eval_order"), std::string::npos) << bad.output;
}

// The other options run end to end: retriever negatives, the letters-only loss without EOS, a bf16 base
// with gradient checkpointing and LoRA on every projection.
TEST_F(FinetuneRanker, OtherOptionsRun) {
  TempDir dir;
  const auto run =
      run_program(kFinetune,
                  with(run_args(dir / "run", 3),
                       {"examples.negatives=retriever", "train.loss=letters", "train.eos=false",
                        "model.dtype=bfloat16", "model.gradient_checkpointing=true",
                        "lora.target_modules=[q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj]"}),
                  dir / "run.log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto rows = logged_losses(dir / "run");
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& [step, loss] : rows) EXPECT_TRUE(std::isfinite(loss) && loss > 0) << step;
}

// Hugging Face PEFT loads the adapter that finetune_ranker kept, and gives our logits.
TEST_F(FinetuneRanker, PeftLoadsTheTrainedAdapter) {
  TempDir dir;
  // Validation every step at a high learning rate, so that the best adapter is a trained one (checked
  // below), not the untrained one of step 0.
  auto args = with(run_args(dir / "run", 6), {"lora.target_modules=[q_proj,v_proj,down_proj]",
                                              "train.eval_every=1", "train.warmup_steps=0", "train.lr=0.05"});
  ASSERT_EQ(run_program(kFinetune, args, dir / "run.log").exit_code, 0);
  llm::RankerModelConfig cfg;
  cfg.path = (*dir_ / "tiny").string();
  cfg.dtype = "float32";
  cfg.adapter = (dir / "run/best_adapter").string();
  llm::RankerModel ranker = llm::load_ranker_model(cfg, {});
  ranker.model->eval();
  at::manual_seed(3);
  const at::Tensor ids = at::randint(0, ranker.model->config().vocab_size, {2, 9});
  c10::NoGradGuard no_grad;
  const at::Tensor ours = ranker.model->forward(ids, {}, llm::LlamaForCausalLMImpl::Logits::kAll);
  safetensors::save(dir / "ids.safetensors", {{"ids", ids}});
  const int rc = testing::run_python("peft_parity.py", "logits " + cfg.path + " " + cfg.adapter + " " +
                                                           (dir / "ids.safetensors").string() + " " +
                                                           (dir / "peft.safetensors").string());
  if (rc == testing::kPythonPackagesMissing)
    GTEST_SKIP() << "transformers/peft not importable in " << LREC_PYTHON;
  ASSERT_EQ(rc, 0);
  const at::Tensor theirs = safetensors::load_all(dir / "peft.safetensors").at("logits");
  EXPECT_LT((ours - theirs).abs().max().item<double>(), 1e-4);
  // The adapter must matter for the comparison to mean anything.
  cfg.adapter.clear();
  llm::RankerModel base = llm::load_ranker_model(cfg, {});
  base.model->eval();
  const at::Tensor plain = base.model->forward(ids, {}, llm::LlamaForCausalLMImpl::Logits::kAll);
  EXPECT_GT((ours - plain).abs().max().item<double>(), 1e-3);
}

TEST_F(FinetuneRanker, CtrlCSavesACheckpointAndExitsCleanly) {
  TempDir dir;
  bool signalled = false;
  const auto result =
      run_program(kFinetune, run_args(dir / "run", 1'000'000), dir / "run.log", [&](pid_t pid) {
        if (!signalled && fs::exists(dir / "run" / "checkpoints") &&
            !fs::is_empty(dir / "run" / "checkpoints")) {
          ::kill(pid, SIGINT);
          signalled = true;
        }
      });
  ASSERT_TRUE(signalled) << result.output;
  EXPECT_EQ(result.exit_code, 130) << result.output;
  EXPECT_NE(result.output.find("continue with --resume"), std::string::npos) << result.output;
  auto args = run_args(dir / "run", 1);
  args.push_back("--resume");
  const auto resumed = run_program(kFinetune, args, dir / "resume.log");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_NE(resumed.output.find("resumed from"), std::string::npos) << resumed.output;
}

TEST_F(FinetuneRanker, MergedExportAndServingRankAlike) {
  TempDir dir;
  auto args = run_args(dir / "run", 4);
  args.push_back("export_merged=true");
  ASSERT_EQ(run_program(kFinetune, args, dir / "run.log").exit_code, 0);
  testing::write_text(
      dir / "requests.jsonl",
      "{\"history\": [\"The Red Dragon\", \"A Quiet Castle\"], \"candidates\": [\"Moon Garden\", "
      "\"The Dragon Returns\", \"Castle Nights\"]}\n\n"
      "{\"history\": [], \"candidates\": [\"One\", \"Two\"]}\n");
  const auto serve = [&](const std::vector<std::string>& model, const std::string& name) {
    const auto result =
        run_program(kRank,
                    with({"input=" + (dir / "requests.jsonl").string(), "output=" + (dir / name).string(),
                          "threads=1", "max_history=5"},  // as trained (run_args)
                         model),
                    dir / (name + ".log"));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("latency per request"), std::string::npos) << result.output;
    std::vector<json> lines;
    std::ifstream in(dir / name);
    for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
    return lines;
  };
  const auto adapter = serve({"model.path=" + (*dir_ / "tiny").string(), "model.dtype=float32",
                              "model.adapter=" + (dir / "run/best_adapter").string()},
                             "adapter.jsonl");
  const auto merged =
      serve({"model.path=" + (dir / "run/merged_model").string(),
             "model.tokenizer=" + (*dir_ / "tiny").string(), "model.dtype=float32", "model.mode=full"},
            "merged.jsonl");
  ASSERT_EQ(adapter.size(), 2u);
  ASSERT_EQ(merged.size(), 2u);
  // Serving with other prompts than the adapter was trained on is refused, naming the setting.
  const auto other = run_program(kRank,
                                 {"input=" + (dir / "requests.jsonl").string(), "max_history=20",
                                  "model.path=" + (*dir_ / "tiny").string(), "model.dtype=float32",
                                  "model.adapter=" + (dir / "run/best_adapter").string()},
                                 dir / "other.log");
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.output.find("trained: max_history: 5"), std::string::npos) << other.output;
  EXPECT_NE(other.output.find("serving: max_history: 20"), std::string::npos) << other.output;
  for (size_t i = 0; i < 2; ++i) {
    const json& a = adapter[i].at("ranking");
    ASSERT_EQ(a.size(), i == 0 ? 3u : 2u);
    for (size_t r = 0; r < a.size(); ++r) {
      EXPECT_EQ(a[r].at("candidate"), merged[i].at("ranking")[r].at("candidate"));
      EXPECT_NEAR(a[r].at("score").get<double>(), merged[i].at("ranking")[r].at("score").get<double>(), 1e-4);
      if (r > 0) {
        EXPECT_GE(a[r - 1].at("score").get<double>(), a[r].at("score").get<double>());
      }
    }
  }
}

TEST_F(FinetuneRanker, RankRejectsBadRequestsNamingTheLine) {
  TempDir dir;
  const std::vector<std::string> model = {"model.path=" + (*dir_ / "tiny").string(), "model.dtype=float32"};
  const auto rank = [&](const std::string& requests) {
    testing::write_text(dir / "in.jsonl", requests);
    return run_program(
        kRank,
        with({"input=" + (dir / "in.jsonl").string(), "output=" + (dir / "out.jsonl").string()}, model),
        dir / "log");
  };
  const auto bad_json = rank("{\"history\": [], \"candidates\": [\"a\"]}\n{oops\n");
  EXPECT_EQ(bad_json.exit_code, 1);
  EXPECT_NE(bad_json.output.find("in.jsonl:2: not valid JSON"), std::string::npos) << bad_json.output;
  EXPECT_FALSE(fs::exists(dir / "out.jsonl"));  // no partial output file
  const auto ids = rank("{\"history\": [3], \"candidates\": [\"a\"]}\n");
  EXPECT_NE(ids.output.find("in.jsonl:1: \"history\" holds the item id 3; set use_dataset=true"),
            std::string::npos)
      << ids.output;
  std::string many = "{\"history\": [], \"candidates\": [";
  for (int i = 0; i < 27; ++i) many += (i ? ",\"t" : "\"t") + std::to_string(i) + "\"";
  const auto too_many = rank(many + "]}\n");
  EXPECT_NE(too_many.output.find("in.jsonl:1: 27 candidates; give 1 to 26"), std::string::npos)
      << too_many.output;
}

TEST_F(FinetuneRanker, BadInputNamesTheKeyOrFile) {
  TempDir dir;
  const auto run = [&](const std::vector<std::string>& extra) {
    return run_program(kFinetune, with(run_args(dir / "run", 2), extra), dir / "log");
  };
  const auto other_data = run({"dataset.synthetic.num_users=100"});
  EXPECT_EQ(other_data.exit_code, 1);
  EXPECT_NE(other_data.output.find("was written for 120 users"), std::string::npos) << other_data.output;
  const auto no_model = run({"model.path=" + (dir / "nope").string()});
  EXPECT_NE(no_model.output.find("config key 'model.path'"), std::string::npos) << no_model.output;
  const auto other_seed = run({"dataset.synthetic.seed=7"});  // the same sizes, other targets
  EXPECT_EQ(other_seed.exit_code, 1);
  EXPECT_NE(other_seed.output.find("the file was written for other data"), std::string::npos)
      << other_seed.output;
  const auto letters = run({"examples.num_candidates=27"});
  EXPECT_NE(letters.output.find("'examples.num_candidates' must be in 2..26"), std::string::npos)
      << letters.output;
  const auto zero = run({"train.eval_every=0"});
  EXPECT_NE(zero.output.find("config key 'train.eval_every' must be >= 1"), std::string::npos) << zero.output;
  const auto beyond = run({"train.metric_ks=[1, 10, 25]"});
  EXPECT_NE(beyond.output.find("'train.metric_ks' must be values in 1..examples.num_candidates = 20"),
            std::string::npos)
      << beyond.output;
  const auto no_ten = run({"train.metric_ks=[1, 5]"});
  EXPECT_NE(no_ten.output.find("'train.metric_ks' must be a list holding 10 once"), std::string::npos)
      << no_ten.output;
  const auto full_bf16 = run({"model.mode=full", "model.dtype=bfloat16"});
  EXPECT_NE(full_bf16.output.find("needs model.dtype=float32"), std::string::npos) << full_bf16.output;
  const auto typo = run({"train.micro_batch=2"});
  EXPECT_NE(typo.output.find("Did you mean 'train.micro_batch_size'"), std::string::npos) << typo.output;
}

TEST_F(FinetuneRanker, FullFineTuneWritesAHuggingFaceModel) {
  TempDir dir;
  auto args = run_args(dir / "run", 4);
  args.push_back("model.mode=full");
  const auto run = run_program(kFinetune, args, dir / "run.log");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(fs::exists(dir / "run/best_model/config.json"));
  EXPECT_TRUE(fs::exists(dir / "run/best_model/model.safetensors"));
  EXPECT_NE(run.output.find("full fine-tune"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace lrec
