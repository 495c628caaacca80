// Model inputs drawn from a Dataset: LRURec training windows, evaluation inputs, and a seeded shuffler
// whose position can be saved and restored.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "datasets/dataset.h"

namespace lrec::data {

// One training sample; tokens and labels are exactly max_len long, left-padded with 0.
struct SequenceSample {
  std::vector<int32_t> tokens;
  std::vector<int32_t> labels;  // labels[i] is the item that follows tokens[i] (0 = no loss)
};

// LRURec's training samples (dataloader/sas.py, sliding_window_size 1.0), for each user in order:
// - a train sequence shorter than 2 * max_len is one piece;
// - a longer one is cut into non-overlapping windows of max_len taken from the end; the
//   len % max_len oldest items that do not fill a window are left out, as in the official code;
// - each piece gives tokens = piece[:-1][-max_len:], labels = piece[-max_len:], left-padded with 0.
// Users with an empty train sequence give no sample (theirs would be all padding).
std::vector<SequenceSample> make_train_windows(const Dataset& dataset, int max_len);

// One evaluation input.
struct EvalSample {
  int32_t user;
  std::vector<int32_t> tokens;   // the last max_len items before the target, left-padded with 0
  int32_t target;                // val: seq[-2], test: seq[-1]
  std::vector<int32_t> history;  // every item before the target (train; + val for test), sorted, unique
};

// One sample per user, in user order. LRURec's code masks only the items in `tokens` when scoring;
// `history` is the full set to mask for the usual "exclude everything seen" protocol.
std::vector<EvalSample> make_eval_samples(const Dataset& dataset, Split split, int max_len);

// A seeded shuffle of 0..n-1 per epoch. Batches follow each other through the epoch; the last batch
// of an epoch holds what is left (like a DataLoader without drop_last), and the next call starts the
// next epoch. Epoch e's order depends only on (seed, e), so state() saved after any batch and
// restore()d later continues with exactly the batches an uninterrupted run would have produced.
class EpochShuffler {
 public:
  struct State {
    uint64_t seed = 0;
    uint64_t epoch = 0;
    uint64_t position = 0;  // index of the next element in this epoch's order
  };

  EpochShuffler(uint64_t seed, size_t n);

  std::vector<size_t> next_batch(size_t batch_size);
  int64_t epoch() const { return static_cast<int64_t>(state_.epoch); }  // the epoch the next batch comes from
  State state() const { return state_; }
  void restore(State state);  // throws lrec::Error when the position does not fit this shuffler's size

 private:
  void make_order();

  size_t n_;
  State state_;
  std::vector<size_t> order_;
};

// As JSON in checkpoints: {"seed": ..., "epoch": ..., "position": ...}.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EpochShuffler::State, seed, epoch, position)

}  // namespace lrec::data
