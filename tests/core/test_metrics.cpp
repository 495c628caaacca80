#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/metrics.h"

namespace lrec {
namespace {

TEST(Metrics, HandComputedValues) {
  // Ranks 1, 3, 12 and "not retrieved" for four users.
  RankingMetrics m({1, 5, 10, 20});
  m.add(1);
  m.add(3);
  m.add(12);
  m.add(kNotRanked);
  const auto r = m.result();
  EXPECT_DOUBLE_EQ(r.at("Recall@1"), 1.0 / 4);
  EXPECT_DOUBLE_EQ(r.at("Recall@5"), 2.0 / 4);
  EXPECT_DOUBLE_EQ(r.at("Recall@10"), 2.0 / 4);
  EXPECT_DOUBLE_EQ(r.at("Recall@20"), 3.0 / 4);
  EXPECT_DOUBLE_EQ(r.at("NDCG@5"), (1.0 + 1.0 / 2.0) / 4);  // 1/log2(2) + 1/log2(4)
  EXPECT_DOUBLE_EQ(r.at("NDCG@20"), (1.0 + 0.5 + 1.0 / std::log2(13.0)) / 4);
  EXPECT_DOUBLE_EQ(r.at("MRR@5"), (1.0 + 1.0 / 3) / 4);
  EXPECT_DOUBLE_EQ(r.at("MRR@20"), (1.0 + 1.0 / 3 + 1.0 / 12) / 4);
  EXPECT_EQ(m.count(), 4);
}

TEST(Metrics, ExactMeanOverUsersNotMeanOfBatchMeans) {
  // Batches of 3 and 1 users: the mean of batch means would be (1/3 + 1) / 2 = 2/3.
  RankingMetrics m({1});
  m.add(at::tensor({1, 2, 2}, at::kLong));
  m.add(at::tensor({1}, at::kLong));
  EXPECT_DOUBLE_EQ(m.result().at("Recall@1"), 2.0 / 4);
}

TEST(Metrics, BatchMeansAreTheOfficialCodesAverage) {
  // The same two batches as above: the official codes report (1/3 + 1) / 2, not 2/4.
  BatchMeanMetrics m({1, 5});
  m.add_batch(at::tensor({1, 2, 2}, at::kLong));
  m.add_batch(at::tensor({1}, at::kLong));
  m.add_batch(at::empty({0}, at::kLong));  // no users, no batch
  EXPECT_EQ(m.batches(), 2);
  EXPECT_DOUBLE_EQ(m.result().at("Recall@1"), (1.0 / 3 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(m.result().at("NDCG@5"), ((1.0 + 2.0 / std::log2(3.0)) / 3 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(m.result().at("MRR@5"), ((1.0 + 2 * 0.5) / 3 + 1.0) / 2);
  // Batches of equal size give the exact mean.
  BatchMeanMetrics even({1});
  even.add_batch(at::tensor({1, 2}, at::kLong));
  even.add_batch(at::tensor({1, 1}, at::kLong));
  EXPECT_DOUBLE_EQ(even.result().at("Recall@1"), 3.0 / 4);
  EXPECT_DOUBLE_EQ(BatchMeanMetrics({10}).result().at("Recall@10"), 0.0);
}

TEST(Metrics, RanksFromScoresWithTiesArePessimistic) {
  const at::Tensor scores = at::tensor({0.9f, 0.5f, 0.5f, 0.1f, 0.5f, 0.2f}).reshape({2, 3});
  // Row 0: target 1 (0.5) ties with item 2 -> rank 3. Row 1: target 0 (0.1) below both -> rank 3.
  const at::Tensor ranks = target_ranks(scores, at::tensor({1, 0}, at::kLong));
  EXPECT_EQ(ranks[0].item<int64_t>(), 3);
  EXPECT_EQ(ranks[1].item<int64_t>(), 3);
  // A constant model gets the worst rank, not the best.
  const at::Tensor constant = at::zeros({1, 5});
  EXPECT_EQ(target_ranks(constant, at::tensor({2}, at::kLong))[0].item<int64_t>(), 5);
}

TEST(Metrics, MaskedHistoryAndNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const at::Tensor scores = at::tensor({-inf, 0.3f, 0.7f, std::nanf("")}).reshape({1, 4});
  EXPECT_EQ(target_ranks(scores, at::tensor({1}, at::kLong))[0].item<int64_t>(), 2);
  EXPECT_EQ(target_ranks(scores, at::tensor({3}, at::kLong))[0].item<int64_t>(), 4);
}

TEST(Metrics, KLargerThanCandidateCount) {
  // 3 candidates, K = 50: every retrieved target counts, like K = 3.
  RankingMetrics m({3, 50});
  m.add(target_ranks(at::tensor({0.1f, 0.2f, 0.3f}).reshape({1, 3}), at::tensor({0}, at::kLong)));
  const auto r = m.result();
  EXPECT_DOUBLE_EQ(r.at("Recall@50"), 1.0);
  EXPECT_DOUBLE_EQ(r.at("Recall@3"), 1.0);
  EXPECT_DOUBLE_EQ(r.at("NDCG@50"), 0.5);
}

TEST(Metrics, BadCutoffIsRefused) { EXPECT_THROW(RankingMetrics({0}), std::runtime_error); }

}  // namespace
}  // namespace lrec
