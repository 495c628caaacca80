// Model inputs: LRURec windows, evaluation samples, the resumable shuffler, and ranker examples.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>

#include "datasets/batching.h"
#include "datasets/ranker_examples.h"
#include "test_util.h"

namespace lrec::data {
namespace {

using testing::error_of;
using testing::make_dataset;
using V = std::vector<int32_t>;

// Sequence 1..n followed by two held-out items.
std::vector<int32_t> with_holdout(int n) {
  V seq(static_cast<size_t>(n));
  std::iota(seq.begin(), seq.end(), 1);
  seq.push_back(n + 1);
  seq.push_back(n + 2);
  return seq;
}

TEST(TrainWindows, ShortSequenceIsOneLeftPaddedSample) {
  const Dataset ds = make_dataset({with_holdout(3)}, 10);  // train = 1 2 3
  const auto samples = make_train_windows(ds, 5);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].tokens, (V{0, 0, 0, 1, 2}));
  EXPECT_EQ(samples[0].labels, (V{0, 0, 1, 2, 3}));
}

TEST(TrainWindows, BelowTwiceMaxLenKeepsTheLastItems) {
  const Dataset ds = make_dataset({with_holdout(7)}, 10);  // train = 1..7, max_len 4: 7 < 8 -> one piece
  const auto samples = make_train_windows(ds, 4);
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_EQ(samples[0].tokens, (V{3, 4, 5, 6}));
  EXPECT_EQ(samples[0].labels, (V{4, 5, 6, 7}));
}

TEST(TrainWindows, LongSequenceIsCutFromTheEndDroppingTheRemainder) {
  const Dataset ds = make_dataset({with_holdout(10), {1, 2}}, 12);  // train = 1..10, max_len 4
  const auto samples = make_train_windows(ds, 4);
  ASSERT_EQ(samples.size(), 2u);  // [7..10], [3..6]; items 1-2 do not fill a window; user 2 has no train
  EXPECT_EQ(samples[0].tokens, (V{0, 7, 8, 9}));
  EXPECT_EQ(samples[0].labels, (V{7, 8, 9, 10}));
  EXPECT_EQ(samples[1].tokens, (V{0, 3, 4, 5}));
  EXPECT_EQ(samples[1].labels, (V{3, 4, 5, 6}));
  EXPECT_FALSE(error_of([&] { make_train_windows(ds, 0); }).empty());
}

TEST(EvalSamples, ValUsesTrainTestUsesTrainPlusVal) {
  const Dataset ds = make_dataset({{5, 3, 5, 1, 2, 4}}, 6);
  const auto val = make_eval_samples(ds, Split::kVal, 3);
  ASSERT_EQ(val.size(), 1u);
  EXPECT_EQ(val[0].tokens, (V{3, 5, 1}));
  EXPECT_EQ(val[0].target, 2);
  EXPECT_EQ(val[0].history, (V{1, 3, 5}));
  const auto test = make_eval_samples(ds, Split::kTest, 8);
  EXPECT_EQ(test[0].tokens, (V{0, 0, 0, 5, 3, 5, 1, 2}));
  EXPECT_EQ(test[0].target, 4);
  EXPECT_EQ(test[0].history, (V{1, 2, 3, 5}));
}

std::vector<size_t> take(EpochShuffler& s, size_t batches, size_t batch_size) {
  std::vector<size_t> out;
  for (size_t b = 0; b < batches; ++b) {
    const auto batch = s.next_batch(batch_size);
    out.insert(out.end(), batch.begin(), batch.end());
  }
  return out;
}

TEST(EpochShuffler, EachEpochIsAPermutationWithAShortLastBatch) {
  EpochShuffler s(42, 10);
  EXPECT_EQ(s.next_batch(4).size(), 4u);
  EXPECT_EQ(s.next_batch(4).size(), 4u);
  EXPECT_EQ(s.epoch(), 0);
  EXPECT_EQ(s.next_batch(4).size(), 2u);
  EXPECT_EQ(s.epoch(), 1);
  EpochShuffler fresh(42, 10);
  const auto epoch0 = take(fresh, 1, 10);
  const auto epoch1 = take(fresh, 1, 10);
  EXPECT_EQ(std::set<size_t>(epoch0.begin(), epoch0.end()).size(), 10u);
  EXPECT_EQ(std::set<size_t>(epoch1.begin(), epoch1.end()).size(), 10u);
  EXPECT_NE(epoch0, epoch1);
  std::vector<size_t> identity(10);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_NE(epoch0, identity);
}

TEST(EpochShuffler, RestoredStateContinuesTheSameOrder) {
  EpochShuffler uninterrupted(7, 23);
  const auto expected = take(uninterrupted, 20, 5);  // crosses several epochs
  EpochShuffler first(7, 23);
  auto got = take(first, 9, 5);
  const EpochShuffler::State saved = first.state();
  EpochShuffler resumed(0, 23);  // another seed: restore() brings the saved one back
  resumed.restore(saved);
  const auto rest = take(resumed, 11, 5);
  got.insert(got.end(), rest.begin(), rest.end());
  EXPECT_EQ(got, expected);
  EpochShuffler other_seed(8, 23);
  EXPECT_NE(take(other_seed, 20, 5), expected);
  EXPECT_FALSE(error_of([&] { resumed.restore({7, 0, 23}); }).empty());
  EXPECT_FALSE(error_of([] { EpochShuffler(1, 0); }).empty());
}

Dataset ranker_dataset() {
  // User 0: train 1 2 3 4, val 5, test 6. User 1: train 7 8, val 9, test 10. 40 items in all.
  return make_dataset({{1, 2, 3, 4, 5, 6}, {7, 8, 9, 10}}, 40);
}

TEST(RankerExamples, EveryPrefixWithRandomNegatives) {
  const Dataset ds = ranker_dataset();
  RankerExampleConfig cfg;
  cfg.max_history = 2;
  cfg.num_candidates = 5;
  const auto examples = make_ranker_train_examples(ds, cfg);
  ASSERT_EQ(examples.size(), 4u);  // user 0: prefixes of length 2, 3, 4; user 1: length 2
  const std::vector<std::pair<V, int32_t>> expected = {{{1}, 2}, {{1, 2}, 3}, {{2, 3}, 4}, {{7}, 8}};
  for (size_t k = 0; k < examples.size(); ++k) {
    const RankerExample& e = examples[k];
    EXPECT_EQ(e.history, expected[k].first);
    ASSERT_EQ(e.candidates.size(), 5u);
    ASSERT_GE(e.label, 0);
    EXPECT_EQ(e.candidates[static_cast<size_t>(e.label)], expected[k].second);
    EXPECT_EQ(std::set<int32_t>(e.candidates.begin(), e.candidates.end()).size(), 5u);
    for (const int32_t c : e.candidates) {
      const auto& seq = ds.sequences[static_cast<size_t>(e.user)];
      if (c != expected[k].second) {
        EXPECT_EQ(std::count(seq.begin(), seq.end(), c), 0) << "negative " << c;
      }
    }
  }
  // Deterministic for a seed, different for another.
  const auto again = make_ranker_train_examples(ds, cfg);
  cfg.seed = 43;
  const auto other = make_ranker_train_examples(ds, cfg);
  bool all_same = true, any_different = false;
  for (size_t k = 0; k < examples.size(); ++k) {
    all_same &= again[k].candidates == examples[k].candidates;
    any_different |= other[k].candidates != examples[k].candidates;
  }
  EXPECT_TRUE(all_same);
  EXPECT_TRUE(any_different);
}

TEST(RankerExamples, LabelPositionsAreSpreadByTheShuffle) {
  const Dataset ds = make_dataset({with_holdout(200)}, 400);
  RankerExampleConfig cfg;
  const auto examples = make_ranker_train_examples(ds, cfg);
  std::set<int32_t> labels;
  for (const auto& e : examples) labels.insert(e.label);
  EXPECT_EQ(labels.size(), 20u);
}

TEST(RankerExamples, RetrieverNegativesAreTheTopRankedUnseenItems) {
  const Dataset ds = ranker_dataset();
  RetrievedCandidates r;
  r.items = {{5, 30, 2, 31, 32, 33, 34}, {35}};  // user 0's ranking holds its val item 5 and train item 2
  RankerExampleConfig cfg;
  cfg.negatives = "retriever";
  cfg.num_candidates = 4;
  const auto examples = make_ranker_train_examples(ds, cfg, &r);
  const auto& first = examples[0];  // user 0, target 2
  EXPECT_EQ(std::set<int32_t>(first.candidates.begin(), first.candidates.end()),
            (std::set<int32_t>{2, 30, 31, 32}));
  const auto& last = examples.back();  // user 1: 35 and then random ones
  EXPECT_EQ(std::count(last.candidates.begin(), last.candidates.end(), 35), 1);
  EXPECT_FALSE(error_of([&] { make_ranker_train_examples(ds, cfg); }).empty());
}

TEST(RankerExamples, SubsamplingLimits) {
  const Dataset ds = make_dataset({with_holdout(30), with_holdout(30)}, 100);
  RankerExampleConfig cfg;
  cfg.examples_per_user = 3;
  auto examples = make_ranker_train_examples(ds, cfg);
  ASSERT_EQ(examples.size(), 6u);
  EXPECT_EQ(examples[0].history.back(), 27);  // the most recent prefixes: targets 28, 29, 30
  EXPECT_EQ(examples[2].candidates[static_cast<size_t>(examples[2].label)], 30);
  cfg.examples_per_user = 0;
  cfg.max_train_examples = 10;
  examples = make_ranker_train_examples(ds, cfg);
  EXPECT_EQ(examples.size(), 10u);
}

TEST(RankerExamples, EvalCandidatesKeepRetrieverOrderAndMarkMisses) {
  const Dataset ds = ranker_dataset();
  RetrievedCandidates r;
  r.items = {{11, 5, 12, 13}, {14, 15, 16, 9}};
  const auto val = make_ranker_eval_examples(ds, Split::kVal, r, 3, 20);
  EXPECT_EQ(val[0].candidates, (V{11, 5, 12}));
  EXPECT_EQ(val[0].label, 1);
  EXPECT_EQ(val[0].history, (V{1, 2, 3, 4}));
  EXPECT_EQ(val[1].label, -1);  // 9 is fourth
  const auto test = make_ranker_eval_examples(ds, Split::kTest, r, 4, 2);
  EXPECT_EQ(test[0].history, (V{4, 5}));
  EXPECT_EQ(test[0].label, -1);
  r.items[1] = {14, 14, 16, 9};
  EXPECT_NE(error_of([&] { make_ranker_eval_examples(ds, Split::kVal, r, 3, 20); }).find("twice"),
            std::string::npos);
  r.items.pop_back();
  EXPECT_NE(error_of([&] { make_ranker_eval_examples(ds, Split::kVal, r, 3, 20); }).find("cover 1 users"),
            std::string::npos);
}

// The shuffled evaluation order: the same candidates, the label follows the target, the retriever's rank
// stays, misses stay misses, and along the given order the targets take every position equally often
// (within one) in every prefix.
TEST(RankerExamples, ShuffledCandidatesDealTheTargetsEvenly) {
  const int n = 7;
  std::mt19937_64 rng(3);
  std::vector<RankerExample> in_order;
  for (int32_t u = 0; u < 100; ++u) {
    V candidates(n);
    std::iota(candidates.begin(), candidates.end(), 100 * u);
    const int32_t label = u % 10 == 9 ? -1 : static_cast<int32_t>(rng() % n);  // every tenth: a miss
    in_order.push_back({u, {1}, candidates, label, label + 1});
  }
  std::vector<size_t> order(in_order.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  auto shuffled = in_order;
  shuffle_candidates(shuffled, order, 7);
  std::vector<int> count(n, 0);
  int moved = 0;
  for (const size_t i : order) {
    const RankerExample &before = in_order[i], &after = shuffled[i];
    EXPECT_EQ(std::multiset<int32_t>(after.candidates.begin(), after.candidates.end()),
              std::multiset<int32_t>(before.candidates.begin(), before.candidates.end()));
    moved += after.candidates != before.candidates;
    EXPECT_EQ(after.retriever_rank, before.retriever_rank);
    if (before.label < 0) {
      EXPECT_EQ(after.label, -1);
      continue;
    }
    EXPECT_EQ(after.candidates[static_cast<size_t>(after.label)],
              before.candidates[static_cast<size_t>(before.label)]);
    ++count[static_cast<size_t>(after.label)];
    EXPECT_LE(*std::max_element(count.begin(), count.end()) - *std::min_element(count.begin(), count.end()),
              1);
  }
  EXPECT_GT(moved, 90);
  auto again = in_order;
  shuffle_candidates(again, order, 7);
  for (size_t i = 0; i < again.size(); ++i) EXPECT_EQ(again[i].candidates, shuffled[i].candidates);  // seeded
  order.pop_back();
  EXPECT_NE(error_of([&] { shuffle_candidates(again, order, 7); }).find("each of the 100 examples once"),
            std::string::npos);
  order.push_back(order.front());
  EXPECT_NE(error_of([&] { shuffle_candidates(again, order, 7); }).find("once"), std::string::npos);
}

}  // namespace
}  // namespace lrec::data
