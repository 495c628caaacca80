// Full-ranking evaluation of LRURec: every user's next item is ranked against all items, with the items
// of the input window (and the padding item 0) masked out as in the official code.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "datasets/batching.h"
#include "lrurec/lrurec_model.h"

namespace lrec::lrurec {

struct EvalOptions {
  int64_t batch_size = 256;
  bool mask_history = true;  // LlamaRec validates ml-latest-small without it
  std::vector<int> ks = {1, 5, 10, 20, 50};
  int64_t top_k = 0;  // also return each user's top-k items and scores (candidate export)
};

struct EvalResult {
  std::map<std::string, double> metrics;  // exact means over users
  // The official codes' mean of per-batch means (batches of options.batch_size users in user order), to
  // compare with their published figures; see core/metrics.h.
  std::map<std::string, double> batch_means;
  at::Tensor top_items;   // I32 [U, top_k] (when top_k > 0)
  at::Tensor top_scores;  // F32 [U, top_k]
  at::Tensor targets;     // I32 [U]
};

// Runs the model in eval mode without gradients; samples are in user order.
EvalResult evaluate(LRURec& model, const std::vector<data::EvalSample>& samples, const EvalOptions& options);

// Rows of item ids as an int64 [rows, L] tensor.
at::Tensor stack_rows(const std::vector<const std::vector<int32_t>*>& rows);

}  // namespace lrec::lrurec
