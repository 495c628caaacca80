#include "core/metrics.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace lrec {

at::Tensor target_ranks(const at::Tensor& scores, const at::Tensor& targets) {
  if (scores.dim() != 2 || targets.dim() != 1 || scores.size(0) != targets.size(0)) {
    fail("target_ranks: expected scores [B, N] and targets [B], got {} and {}", c10::str(scores.sizes()),
         c10::str(targets.sizes()));
  }
  const at::Tensor target_scores = scores.gather(1, targets.unsqueeze(1).to(at::kLong));  // [B, 1]
  // >= counts the target itself once; that is the "1 +" of the rank. A NaN target score ranks last.
  const at::Tensor ranks = (scores >= target_scores).sum(1).to(at::kLong);
  return at::where(target_scores.squeeze(1).isnan(), scores.size(1), ranks);
}

RankingMetrics::RankingMetrics(std::vector<int> ks)
    : ks_(std::move(ks)), recall_sum_(ks_.size()), ndcg_sum_(ks_.size()), mrr_sum_(ks_.size()) {
  for (int k : ks_) {
    if (k <= 0) fail("metric cut-offs must be positive, got {}", k);
  }
}

void RankingMetrics::add(int64_t rank) {
  if (rank < 1) fail("internal: rank must be >= 1, got {}", rank);
  for (size_t i = 0; i < ks_.size(); ++i) {
    if (rank > ks_[i]) continue;
    recall_sum_[i] += 1.0;
    ndcg_sum_[i] += 1.0 / std::log2(static_cast<double>(rank) + 1.0);
    mrr_sum_[i] += 1.0 / static_cast<double>(rank);
  }
  ++count_;
}

void RankingMetrics::add(std::span<const int64_t> ranks) {
  for (int64_t r : ranks) add(r);
}

void RankingMetrics::add(const at::Tensor& ranks) {
  const at::Tensor cpu = ranks.to(at::kCPU, at::kLong).contiguous();
  add(std::span<const int64_t>(cpu.data_ptr<int64_t>(), static_cast<size_t>(cpu.numel())));
}

std::map<std::string, double> RankingMetrics::result() const {
  std::map<std::string, double> out;
  const double n = count_ > 0 ? static_cast<double>(count_) : 1.0;
  for (size_t i = 0; i < ks_.size(); ++i) {
    out[fmt::format("Recall@{}", ks_[i])] = recall_sum_[i] / n;
    out[fmt::format("NDCG@{}", ks_[i])] = ndcg_sum_[i] / n;
    out[fmt::format("MRR@{}", ks_[i])] = mrr_sum_[i] / n;
  }
  return out;
}

void BatchMeanMetrics::add_batch(const at::Tensor& ranks) {
  RankingMetrics batch(ks_);
  batch.add(ranks);
  if (batch.count() == 0) return;  // an empty batch is no batch
  for (const auto& [name, mean] : batch.result()) sum_[name] += mean;
  ++batches_;
}

std::map<std::string, double> BatchMeanMetrics::result() const {
  if (batches_ == 0) return RankingMetrics(ks_).result();  // every key, 0
  std::map<std::string, double> out = sum_;
  for (auto& [name, value] : out) value /= static_cast<double>(batches_);
  return out;
}

}  // namespace lrec
