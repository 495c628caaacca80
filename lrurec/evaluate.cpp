#include "lrurec/evaluate.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "core/metrics.h"

namespace lrec::lrurec {

at::Tensor stack_rows(const std::vector<const std::vector<int32_t>*>& rows) {
  const int64_t L = rows.empty() ? 0 : static_cast<int64_t>(rows.front()->size());
  at::Tensor out = at::empty({static_cast<int64_t>(rows.size()), L}, at::kLong);
  int64_t* data = out.data_ptr<int64_t>();
  for (const auto* row : rows) data = std::copy(row->begin(), row->end(), data);
  return out;
}

EvalResult evaluate(LRURec& model, const std::vector<data::EvalSample>& samples, const EvalOptions& options) {
  c10::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const at::Device device = model->token->weight.device();
  RankingMetrics metrics(options.ks);
  BatchMeanMetrics batch_means(options.ks);
  std::vector<at::Tensor> top_items, top_scores;
  at::Tensor targets = at::empty({static_cast<int64_t>(samples.size())}, at::kInt);
  for (size_t begin = 0; begin < samples.size(); begin += options.batch_size) {
    const size_t end = std::min(samples.size(), begin + static_cast<size_t>(options.batch_size));
    std::vector<const std::vector<int32_t>*> rows;
    for (size_t i = begin; i < end; ++i) {
      rows.push_back(&samples[i].tokens);
      targets[static_cast<int64_t>(i)] = samples[i].target;
    }
    const at::Tensor tokens = stack_rows(rows).to(device);  // [b, L]
    const at::Tensor keep =
        (tokens > 0).index_fill_(1, at::scalar_tensor(tokens.size(1) - 1, at::kLong), true);
    const at::Tensor hidden = model->forward_packed(tokens, keep);              // [P, d], padding skipped
    const at::Tensor last = hidden.index_select(0, keep.sum(1).cumsum(0) - 1);  // [b, d]: each row's last
    at::Tensor scores = model->scores(last);                                    // [b, V]
    if (options.mask_history) scores.scatter_(1, tokens, -1e9);                 // items in the input window
    scores.select(1, 0).fill_(-1e9);                                            // padding is no item
    const at::Tensor batch_targets = targets.slice(0, begin, end).to(device, at::kLong);
    const at::Tensor ranks = target_ranks(scores, batch_targets).cpu();  // [b], copied off the device once
    metrics.add(ranks);
    batch_means.add_batch(ranks);
    if (options.top_k > 0) {
      const auto [values, indices] = at::topk(scores, options.top_k, 1);
      top_items.push_back(indices.to(at::kCPU, at::kInt));
      top_scores.push_back(values.to(at::kCPU, at::kFloat));
    }
  }
  if (was_training) model->train();
  EvalResult result{metrics.result(), batch_means.result(), {}, {}, targets};
  if (options.top_k > 0) {
    result.top_items = at::cat(top_items);
    result.top_scores = at::cat(top_scores);
  }
  return result;
}

}  // namespace lrec::lrurec
