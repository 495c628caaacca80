// Letter scoring and the ranking loss (padded batches against one-by-one references), and gradient
// checkpointing against plain autograd.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "llm_ranker/activation_checkpoint.h"
#include "llm_ranker/letter_ranker.h"
#include "llm_ranker/lora_linear.h"
#include "tests/llm_ranker/llama_test_util.h"

namespace lrec::llm {
namespace {

using testing::max_abs_diff;
using testing::random_model;
using testing::tiny_config;

const std::vector<int64_t> kLetters = {10, 11, 12, 13, 14};

std::vector<std::vector<int64_t>> random_prompts(int n, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<std::vector<int64_t>> out;
  for (int i = 0; i < n; ++i) {
    const int64_t length = at::randint(3, 12, {1}).item<int64_t>();
    const at::Tensor ids = at::randint(3, 64, {length}, at::kLong);
    out.emplace_back(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + length);
  }
  return out;
}

TEST(LetterRanker, LeftPadPutsEveryLastTokenAtTheEnd) {
  const PromptBatch batch = left_pad({{5, 6, 7}, {8}}, {}, at::kCPU);
  EXPECT_EQ(batch.input_ids.sizes(), (std::vector<int64_t>{2, 3}));
  EXPECT_TRUE(batch.input_ids.equal(at::tensor({5, 6, 7, 0, 0, 8}, at::kLong).view({2, 3})));
  EXPECT_TRUE(batch.attention_mask.equal(at::tensor({1, 1, 1, 0, 0, 1}, at::kLong).view({2, 3})));
}

TEST(LetterRanker, PaddedScoresEqualOneByOneScores) {
  auto model = random_model(tiny_config(), 1);
  const auto prompts = random_prompts(4, 2);
  const at::Tensor batched = letter_scores(*model, left_pad(prompts, {}, at::kCPU), kLetters);
  const PromptBatch rounded = left_pad(prompts, {0, 16}, at::kCPU);
  EXPECT_EQ(rounded.input_ids.size(1), 16);
  EXPECT_LT(max_abs_diff(letter_scores(*model, rounded, kLetters), batched), 1e-5);
  ASSERT_EQ(batched.sizes(), (std::vector<int64_t>{4, 5}));
  for (size_t b = 0; b < prompts.size(); ++b) {
    const at::Tensor alone = letter_scores(*model, left_pad({prompts[b]}, {}, at::kCPU), kLetters);
    EXPECT_LT(max_abs_diff(batched[static_cast<int64_t>(b)], alone[0]), 1e-5) << b;
    // And the scores are the vocabulary logits at the letters.
    const at::Tensor ids = at::tensor(prompts[b], at::kLong).unsqueeze(0);
    const at::Tensor logits = model->forward(ids, {}, LlamaForCausalLMImpl::Logits::kAll)[0][-1];
    EXPECT_LT(max_abs_diff(alone[0], logits.index_select(0, at::tensor(kLetters, at::kLong))), 1e-5);
  }
}

class LossVariants : public ::testing::TestWithParam<std::pair<bool, bool>> {};

TEST_P(LossVariants, PaddedLossEqualsReference) {
  const auto [letters_only, eos] = GetParam();
  auto model = random_model(tiny_config(), 3);
  const auto prompts = random_prompts(5, 4);
  const std::vector<int64_t> labels = {0, 4, 2, 2, 1};
  const RankingLossOptions options{letters_only, eos ? 2 : -1};
  const RankingLoss got = ranking_loss(*model, prompts, labels, kLetters, {}, options);
  const RankingLoss reference = ranking_loss_reference(*model, prompts, labels, kLetters, options);
  EXPECT_LT(max_abs_diff(got.loss, reference.loss), 1e-5)
      << got.loss.item<double>() << " vs " << reference.loss.item<double>();
  EXPECT_LT(max_abs_diff(got.letter_ce, reference.letter_ce), 1e-5);
  EXPECT_FALSE(got.letter_ce.requires_grad());
  // The letter cross-entropy does not depend on the options: a random model scores near ln 5.
  const RankingLoss bare = ranking_loss(*model, prompts, labels, kLetters, {}, {true, -1});
  EXPECT_LT(max_abs_diff(got.letter_ce, bare.loss), 1e-6);
  EXPECT_NEAR(got.letter_ce.item<double>(), std::log(5.0), 1.0);
  if (letters_only && !eos) {
    EXPECT_LT(max_abs_diff(got.loss, got.letter_ce), 1e-7);
  }
  if (eos) {
    EXPECT_GT(std::abs(got.loss.item<double>() - got.letter_ce.item<double>()), 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(AllOptions, LossVariants,
                         ::testing::Values(std::pair{false, false}, std::pair{true, false},
                                           std::pair{false, true}, std::pair{true, true}));

TEST(LetterRanker, PromptLanguageModelTermEqualsReference) {
  auto model = random_model(tiny_config(), 3);
  const auto prompts = random_prompts(4, 5);
  const std::vector<int64_t> labels = {3, 0, 1, 4};
  for (const int64_t eos : {int64_t{-1}, int64_t{2}}) {
    const RankingLossOptions plain{false, eos}, with_lm{false, eos, 0.5};
    const double base = ranking_loss(*model, prompts, labels, kLetters, {0, 8}, plain).loss.item<double>();
    const double lm = ranking_loss(*model, prompts, labels, kLetters, {0, 8}, with_lm).loss.item<double>();
    const double reference =
        ranking_loss_reference(*model, prompts, labels, kLetters, with_lm).loss.item<double>();
    EXPECT_NEAR(lm, reference, 1e-5) << eos;
    EXPECT_GT(lm - base, 0.5);  // half a next-token loss of a random model over 64 tokens (about ln 64)
  }
}

TEST(LetterRanker, LossErrorsOnBadLabels) {
  auto model = random_model(tiny_config(), 1);
  EXPECT_NE(lrec::testing::error_message([&] {
              ranking_loss(*model, {{1, 2}}, {5}, kLetters, {}, {});
            }).find("label 5 is outside the 5 candidates"),
            std::string::npos);
}

// Loss and every gradient with checkpointed layers equal plain autograd, with LoRA dropout active: the
// recomputation must replay the same dropout masks.
void expect_checkpointing_matches(bool lora) {
  auto model = random_model(tiny_config(), 5);
  NamedParameters trainable;
  if (lora) {
    LoraConfig cfg;
    cfg.dropout = 0.3;
    cfg.target_modules = lora_target_kinds();
    trainable = apply_lora(model, cfg);
    at::manual_seed(6);
    c10::NoGradGuard no_grad;
    for (auto& [name, p] : trainable) p.normal_(0, 0.1);
  } else {
    for (const auto& p : model->named_parameters()) trainable.emplace_back(p.key(), p.value());
  }
  model->train();
  const auto prompts = random_prompts(3, 7);
  const std::vector<int64_t> labels = {1, 3, 0};
  const auto run = [&](bool checkpointing) {
    model->model->layer_call = checkpointing ? checkpointed_layer_call() : LayerCall();
    for (auto& [name, p] : trainable) p.mutable_grad() = at::Tensor();
    at::manual_seed(8);
    const at::Tensor loss = ranking_loss(*model, prompts, labels, kLetters, {}, {false, 2}).loss;
    loss.backward();
    std::vector<at::Tensor> grads;
    for (auto& [name, p] : trainable)
      grads.push_back(p.grad().defined() ? p.grad().clone() : at::zeros_like(p));
    const double after = at::rand({1}).item<double>();  // the generator continues as without recompute
    return std::tuple{loss.item<double>(), grads, after};
  };
  const auto [plain_loss, plain_grads, plain_next] = run(false);
  const auto [ckpt_loss, ckpt_grads, ckpt_next] = run(true);
  // Not bitwise: the first forward runs without grad mode, where attention may take another kernel.
  EXPECT_NEAR(plain_loss, ckpt_loss, 1e-6);
  EXPECT_EQ(plain_next, ckpt_next);
  double grad_norm = 0;
  for (size_t i = 0; i < plain_grads.size(); ++i) {
    EXPECT_LT(max_abs_diff(plain_grads[i], ckpt_grads[i]), 1e-5) << trainable[i].first;
    grad_norm += plain_grads[i].norm().item<double>();
  }
  EXPECT_GT(grad_norm, 0);
  if (!lora) return;
  // Another dropout draw gives another loss: the masks matter, so equality above is not an accident.
  model->model->layer_call = LayerCall();
  at::manual_seed(9);
  EXPECT_GT(std::abs(ranking_loss(*model, prompts, labels, kLetters, {}, {false, 2}).loss.item<double>() -
                     plain_loss),
            1e-4);
  // Every layer's adapters got a gradient, the first layer's too (its input is a frozen embedding).
  EXPECT_GT(ckpt_grads.front().abs().sum().item<double>(), 0) << trainable.front().first;
}

TEST(ActivationCheckpoint, LoraGradientsEqualPlainAutogradWithDropout) { expect_checkpointing_matches(true); }
TEST(ActivationCheckpoint, FullGradientsEqualPlainAutograd) { expect_checkpointing_matches(false); }

TEST(ActivationCheckpoint, InferenceRunsThePlainLayer) {
  auto model = random_model(tiny_config(), 5);
  const auto prompts = random_prompts(2, 7);
  const PromptBatch batch = left_pad(prompts, {}, at::kCPU);
  c10::NoGradGuard no_grad;
  const at::Tensor plain = letter_scores(*model, batch, kLetters);
  model->model->layer_call = checkpointed_layer_call();
  EXPECT_TRUE(letter_scores(*model, batch, kLetters).equal(plain));
}

}  // namespace
}  // namespace lrec::llm
