// lrurec::evaluate (batched, packed, masked full ranking) against a per-user loop written from the
// protocol: score every item after the user's input window, mask the window's items and item 0, rank the
// target pessimistically.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <random>

#include "core/metrics.h"
#include "lrurec/evaluate.h"

namespace lrec::lrurec {
namespace {

constexpr int64_t kItems = 40, kLen = 12;

// Users with 1 to kLen real items (left-padded), some targets inside their own window.
std::vector<data::EvalSample> make_samples(int users) {
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> item(1, kItems);
  std::uniform_int_distribution<int> length(1, kLen);
  std::vector<data::EvalSample> samples;
  for (int u = 0; u < users; ++u) {
    data::EvalSample s{u + 1, std::vector<int32_t>(kLen, 0), item(rng), {}};
    const int n = length(rng);
    for (int i = kLen - n; i < kLen; ++i) s.tokens[i] = item(rng);
    if (u % 4 == 0) s.target = s.tokens.back();  // repeated item: masked when the window is
    samples.push_back(s);
  }
  return samples;
}

struct Reference {
  RankingMetrics metrics{{1, 5, 10, 20}};
  at::Tensor top_items;  // [U, k]
};

Reference reference(LRURec& model, const std::vector<data::EvalSample>& samples, bool mask_history,
                    int64_t k) {
  c10::NoGradGuard no_grad;
  Reference ref;
  std::vector<at::Tensor> tops;
  for (const auto& s : samples) {
    const at::Tensor tokens = at::tensor(std::vector<int64_t>(s.tokens.begin(), s.tokens.end())).unsqueeze(0);
    at::Tensor scores = model->scores(model->forward(tokens).select(1, kLen - 1)).squeeze(0);  // [V]
    if (mask_history) {
      for (int32_t item : s.tokens) scores[item] = -1e9;
    }
    scores[0] = -1e9;
    const at::Tensor target_score = scores[s.target];
    ref.metrics.add((scores >= target_score).sum().item<int64_t>());
    tops.push_back(std::get<1>(at::topk(scores, k)).to(at::kInt));
  }
  ref.top_items = at::stack(tops);
  return ref;
}

LRURec random_model() {
  at::manual_seed(5);
  ModelConfig cfg;
  cfg.hidden = 16;
  LRURec model(cfg, kItems);
  model->eval();
  return model;
}

void expect_near(const std::map<std::string, double>& a, const std::map<std::string, double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, value] : a) EXPECT_NEAR(value, b.at(name), 1e-12) << name;
}

TEST(Evaluate, EqualsAPerUserLoopAtAnyBatchSize) {
  LRURec model = random_model();
  const auto samples = make_samples(23);
  for (const bool mask : {true, false}) {
    const Reference ref = reference(model, samples, mask, 5);
    for (const int64_t batch : {1, 4, 23, 64}) {
      const EvalResult r = evaluate(model, samples, {batch, mask, {1, 5, 10, 20}, 5});
      expect_near(r.metrics, ref.metrics.result());
      EXPECT_TRUE(at::equal(r.top_items, ref.top_items)) << "batch " << batch << " mask " << mask;
      EXPECT_EQ(r.targets.size(0), 23);
    }
  }
  // The masking matters here: a quarter of the targets repeat the window's last item.
  const EvalResult masked = evaluate(model, samples, {8, true, {1, 5, 10, 20}, 0});
  const EvalResult unmasked = evaluate(model, samples, {8, false, {1, 5, 10, 20}, 0});
  EXPECT_NE(masked.metrics.at("Recall@20"), unmasked.metrics.at("Recall@20"));
}

TEST(Evaluate, BatchMeansAverageEachBatchsExactMean) {
  LRURec model = random_model();
  const auto samples = make_samples(23);  // batches of 10, 10 and 3
  const EvalResult all = evaluate(model, samples, {10, true, {1, 5, 10, 20}, 0});
  std::map<std::string, double> expected;
  for (size_t begin = 0; begin < samples.size(); begin += 10) {
    const std::vector<data::EvalSample> batch(samples.begin() + begin,
                                              samples.begin() + std::min(samples.size(), begin + 10));
    for (const auto& [name, value] : evaluate(model, batch, {10, true, {1, 5, 10, 20}, 0}).metrics)
      expected[name] += value / 3;
  }
  expect_near(all.batch_means, expected);
  EXPECT_NE(all.batch_means.at("Recall@20"), all.metrics.at("Recall@20"));  // the last batch weighs more
  // One batch holding every user: the two averages agree.
  const EvalResult one = evaluate(model, samples, {64, true, {1, 5, 10, 20}, 0});
  expect_near(one.batch_means, one.metrics);
}

}  // namespace
}  // namespace lrec::lrurec
