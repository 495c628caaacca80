// The llama_infer command, run as a process.
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "core/safetensors.h"
#include "llm_ranker/llama_loader.h"
#include "tests/common/test_util.h"

namespace lrec::llm {
namespace {

namespace fs = std::filesystem;

// Runs llama_infer with `args`; returns (exit code, stdout + stderr).
std::pair<int, std::string> infer(const std::string& args) {
  const std::string command = fmt::format("{} {} 2>&1", LREC_LLAMA_INFER, args);
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

class LlamaInfer : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path shared = lrec::testing::shared_dir();
    model_ = shared / "fixtures/stories260K";
    if (shared.empty() || !fs::exists(model_ / "model.safetensors")) GTEST_SKIP() << "no stories260K";
  }
  fs::path model_;
};

TEST_F(LlamaInfer, GreedyPrintsTheGeneratedIds) {
  // The ids transformers generates (test_stories260k.cpp).
  const auto [rc, out] =
      infer(fmt::format("--model {} --ids \"1 403 407\" --greedy 20 --threads 1", model_.string()));
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(
      out.find("ids: 405 292 303 416 377 482 482 482 466 466 288 292 330 283 427 427 460 473 465 466\n"),
      std::string::npos)
      << out;
  const auto [rc_bf16, out_bf16] =
      infer(fmt::format("--model {} --ids \"1 403\" --greedy 5 --dtype bf16", model_.string()));
  EXPECT_EQ(rc_bf16, 0) << out_bf16;
  EXPECT_NE(out_bf16.find("ids: "), std::string::npos);
}

TEST_F(LlamaInfer, LogitsOutHoldsEveryPosition) {
  lrec::testing::TempDir dir;
  const fs::path file = dir / "logits.safetensors";
  const auto [rc, out] = infer(
      fmt::format("--model {} --ids \"1 403 407 292\" --logits-out {}", model_.string(), file.string()));
  ASSERT_EQ(rc, 0) << out;
  const at::Tensor logits = safetensors::load_all(file).at("logits");
  EXPECT_EQ(logits.scalar_type(), at::kFloat);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{4, 512}));
  LlamaForCausalLM model = load_llama(model_, at::kFloat);
  const at::Tensor want = model->forward(at::tensor({1, 403, 407, 292}, at::kLong).unsqueeze(0), {},
                                         LlamaForCausalLMImpl::Logits::kAll)[0];
  EXPECT_TRUE(at::allclose(logits, want, 1e-5, 1e-5));
}

TEST_F(LlamaInfer, BadArgumentsExplainThemselves) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--ids \"1 2\" --greedy 3", "--model DIR is required"},
      {fmt::format("--model {} --greedy 3", model_.string()), "exactly one of --ids and --prompt"},
      {fmt::format("--model {} --ids \"1 x\" --greedy 3", model_.string()),
       "--ids expects an integer, found 'x'"},
      {fmt::format("--model {} --ids \"1 999\" --greedy 3", model_.string()),
       "token id 999 is outside [0, 512)"},
      {fmt::format("--model {} --ids 1 --greedy 3 --dtype fp8", model_.string()),
       "--dtype must be fp32 or bf16"},
      {fmt::format("--model {} --prompt hi --greedy 3", model_.string()), "no SentencePiece tokenizer.model"},
      {fmt::format("--model {} --ids 1", model_.string()), "--greedy N and/or --logits-out"},
      {"--bogus 1", "unknown argument '--bogus'"},
  };
  for (const auto& [args, expect] : cases) {
    const auto [rc, out] = infer(args);
    EXPECT_EQ(rc, 1) << args;
    EXPECT_NE(out.find(expect), std::string::npos) << args << "\n" << out;
  }
}

}  // namespace
}  // namespace lrec::llm
