// Examples for the LLM ranker (LlamaRec, dataloader/llm.py): a user's recent history, a candidate
// list, and the position of the true next item in it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace lrec::data {

// The retriever's output, per user (dense user ids): items best first (its scores stay in the candidate
// file; the ranker needs only the order).
struct RetrievedCandidates {
  std::vector<std::vector<int32_t>> items;
};

struct RankerExample {
  int32_t user;
  std::vector<int32_t> history;     // the last max_history items before the target, chronological
  std::vector<int32_t> candidates;  // num_candidates items
  int32_t label;                    // index of the target in candidates; -1 when it was not retrieved
  int32_t retriever_rank = 0;       // eval examples: the target's 1-based rank in the retriever's list, 0
                                    // when it was not retrieved (unused in training examples)
};

struct RankerExampleConfig {
  int max_history = 20;                  // LlamaRec llm_max_history
  int num_candidates = 20;               // LlamaRec llm_negative_sample_size + 1
  std::string negatives = "random";      // "random" (LlamaRec) or "retriever" (hard negatives)
  int64_t max_train_examples = 0;        // 0: all; else a seeded uniform subset of this size
  int examples_per_user = 0;             // 0: all prefixes; else each user's most recent ones
  std::string eval_order = "retriever";  // val/test candidates: "retriever" (LlamaRec) or "shuffled"
  uint64_t seed = 42;

  template <class V>
  void visit(V& v) {
    v("max_history", max_history);
    v("num_candidates", num_candidates);
    v("negatives", negatives, {"random", "retriever"});
    v("max_train_examples", max_train_examples);
    v("examples_per_user", examples_per_user);
    v("eval_order", eval_order, {"retriever", "shuffled"});
    v("seed", seed);
  }
};

// Training examples, as LlamaRec: every prefix train[:i] (i >= 2) of each user's train sequence gives
// target = train[i-1] and history = train[:i-1][-max_history:]. Candidates are the target plus
// num_candidates - 1 distinct negatives, shuffled (label = the target's position). Negatives never
// include an item the user interacted with (LlamaRec excludes the prefix; excluding the whole sequence
// also keeps validation and test targets from being taught as negatives):
// - "random": uniform over the items;
// - "retriever": the best-ranked items of `retrieved` for that user (the same ranking for all of a
//   user's prefixes), topped up with random ones when the ranking runs out.
// Deterministic for a given seed; a trainer wanting fresh negatives per epoch passes seed + epoch.
std::vector<RankerExample> make_ranker_train_examples(const Dataset& dataset, const RankerExampleConfig& cfg,
                                                      const RetrievedCandidates* retrieved = nullptr);

// Validation or test examples: candidates = the retriever's top num_candidates for the user, in the
// retriever's order (LlamaRec does not shuffle them); label = the target's index, or -1 when the
// retriever missed it (LlamaRec evaluates the ranker on retrieved users only and counts the others as
// misses). History = the last max_history items before the target.
std::vector<RankerExample> make_ranker_eval_examples(const Dataset& dataset, Split split,
                                                     const RetrievedCandidates& retrieved, int num_candidates,
                                                     int max_history);

// Presents each example's candidates in a new order, for measuring what a ranker reads from the
// candidates rather than from their positions: LLM rankers favour some positions (Hou et al. 2023, "Large
// Language Models are Zero-Shot Rankers"), and in the retriever's order the positions carry the
// retriever's ranking. The targets are dealt to the positions in turn along `order` (a permutation of
// the example indices; the first retrieved example takes a seeded position, the next the following one,
// and so on, wrapping), so that in every prefix of `order` each position holds the target equally often
// within one: a ranker that reads nothing but the positions then scores what a random order scores on
// average, whatever positions it prefers. The other candidates are shuffled (seeded by seed and the
// user). label follows the target; retriever_rank stays.
void shuffle_candidates(std::vector<RankerExample>& examples, std::span<const size_t> order, uint64_t seed);

}  // namespace lrec::data
