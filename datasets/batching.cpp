#include "datasets/batching.h"

#include <algorithm>

#include "core/error.h"
#include "datasets/random.h"

namespace lrec::data {

namespace {

std::vector<int32_t> left_padded(std::span<const int32_t> items, size_t length) {
  std::vector<int32_t> out(length, 0);
  const auto n = static_cast<ptrdiff_t>(std::min(items.size(), length));
  std::copy(items.end() - n, items.end(), out.end() - n);
  return out;
}

void check_max_len(int max_len) {
  if (max_len < 1) fail("max_len must be >= 1, got {}.", max_len);
}

}  // namespace

std::vector<SequenceSample> make_train_windows(const Dataset& ds, int max_len) {
  check_max_len(max_len);
  const size_t L = static_cast<size_t>(max_len);
  std::vector<SequenceSample> samples;
  auto add = [&](std::span<const int32_t> piece) {
    samples.push_back({left_padded(piece.first(piece.size() - 1), L), left_padded(piece, L)});
  };
  for (size_t u = 0; u < ds.num_users(); ++u) {
    const std::span<const int32_t> seq = ds.train(u);
    if (seq.empty()) continue;
    if (seq.size() < 2 * L) {
      add(seq);
      continue;
    }
    for (size_t end = seq.size(); end >= L; end -= L) add(seq.subspan(end - L, L));
  }
  return samples;
}

std::vector<EvalSample> make_eval_samples(const Dataset& ds, Split split, int max_len) {
  check_max_len(max_len);
  std::vector<EvalSample> samples;
  samples.reserve(ds.num_users());
  for (size_t u = 0; u < ds.num_users(); ++u) {
    const std::span<const int32_t> before = ds.history(u, split);
    std::vector<int32_t> history(before.begin(), before.end());
    std::sort(history.begin(), history.end());
    history.erase(std::unique(history.begin(), history.end()), history.end());
    samples.push_back({static_cast<int32_t>(u), left_padded(before, static_cast<size_t>(max_len)),
                       split == Split::kVal ? ds.val_target(u) : ds.test_target(u), std::move(history)});
  }
  return samples;
}

EpochShuffler::EpochShuffler(uint64_t seed, size_t n) : n_(n) {
  if (n == 0) fail("EpochShuffler: nothing to shuffle (0 samples). Is the training set empty?");
  state_.seed = seed;
  make_order();
}

void EpochShuffler::make_order() {
  order_.resize(n_);
  for (size_t i = 0; i < n_; ++i) order_[i] = i;
  std::mt19937_64 rng(mix_seed(state_.seed, state_.epoch));
  shuffle(order_, rng);
}

std::vector<size_t> EpochShuffler::next_batch(size_t batch_size) {
  if (batch_size == 0) fail("EpochShuffler: batch_size must be >= 1.");
  const size_t begin = static_cast<size_t>(state_.position);
  const size_t end = std::min(n_, begin + batch_size);
  std::vector<size_t> batch(order_.begin() + static_cast<ptrdiff_t>(begin),
                            order_.begin() + static_cast<ptrdiff_t>(end));
  state_.position = end;
  if (end == n_) {
    ++state_.epoch;
    state_.position = 0;
    make_order();
  }
  return batch;
}

void EpochShuffler::restore(State state) {
  if (state.position >= n_) {
    fail(
        "EpochShuffler: the saved position {} does not fit {} samples. Was the checkpoint made with another "
        "dataset?",
        state.position, n_);
  }
  state_ = state;
  make_order();
}

}  // namespace lrec::data
