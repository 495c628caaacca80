// Ranking metrics for a single target per user: Recall@K (= hit@K), NDCG@K = 1 / log2(rank + 1), MRR@K.
//
// Averages are exact over all users: sums are accumulated and divided once by the user count. LRURec's and
// LlamaRec's code instead averages per-batch means, which over-weights the last, smaller batch (on
// ml-latest-small's 610 users in batches of 16, each of the last 2 users weighs 8 times as much as any
// other); BatchMeanMetrics computes that figure, to compare with numbers from those codes and papers.
//
// Ties are ranked pessimistically: rank = 1 + #{other items with score >= the target's score}. A model that
// scores everything alike therefore gets no credit.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace lrec {

// scores [B, N], targets [B] (column index of each row's target) -> ranks [B] (int64, 1-based).
// Entries set to -inf (masked history) rank below everything finite.
at::Tensor target_ranks(const at::Tensor& scores, const at::Tensor& targets);

// Rank value for a target that is not among the candidates at all: it scores 0 at every K.
inline constexpr int64_t kNotRanked = INT64_MAX;

class RankingMetrics {
 public:
  explicit RankingMetrics(std::vector<int> ks);
  void add(int64_t rank);
  void add(std::span<const int64_t> ranks);
  void add(const at::Tensor& ranks);  // int64 [B]
  int64_t count() const { return count_; }
  // {"Recall@10": ..., "NDCG@10": ..., "MRR@10": ...} for every K, exact means over all added users.
  std::map<std::string, double> result() const;
  const std::vector<int>& ks() const { return ks_; }

 private:
  std::vector<int> ks_;
  std::vector<double> recall_sum_, ndcg_sum_, mrr_sum_;
  int64_t count_ = 0;
};

// The official codes' average: the mean over batches of each batch's exact mean. Comparable with their
// figures only when the batches are theirs (same users, same order, same batch size).
class BatchMeanMetrics {
 public:
  explicit BatchMeanMetrics(std::vector<int> ks) : ks_(std::move(ks)) {}
  void add_batch(const at::Tensor& ranks);  // int64 [B], one batch
  int64_t batches() const { return batches_; }
  std::map<std::string, double> result() const;

 private:
  std::vector<int> ks_;
  std::map<std::string, double> sum_;  // of the batches' means
  int64_t batches_ = 0;
};

}  // namespace lrec
