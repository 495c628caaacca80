// Preprocessing stages on hand-made raw data: filters, k-core variants, ordering, re-indexing, split.
#include <gtest/gtest.h>

#include <tuple>

#include "datasets/preprocess.h"
#include "test_util.h"

namespace lrec::data {
namespace {

using testing::error_of;
using testing::raw_sequence;
using Seq = std::vector<std::string>;
using Row = std::tuple<std::string, std::string, float, double>;  // user, item, rating, timestamp

RawData raw_from(const std::vector<Row>& rows) {
  RawData raw;
  for (const auto& [user, item, rating, time] : rows) {
    raw.interactions.push_back({raw.users.intern(user), raw.items.intern(item), rating, time});
  }
  for (uint32_t i = 0; i < raw.items.size(); ++i) raw.set_title(i, "title " + raw.items.ids()[i]);
  return raw;
}

DatasetConfig options(int min_uc, int min_sc) {
  DatasetConfig cfg;
  cfg.min_uc = min_uc;
  cfg.min_sc = min_sc;
  return cfg;
}

TEST(Preprocess, IterativeKcoreRepeatsUntilStableSinglePassDoesNot) {
  // Items x:2 y:3 z:2 pass min_sc = 2; user D (1 item) fails min_uc = 2. Removing D leaves z with one
  // interaction: the iterative filter then drops z, then C, which the single pass keeps.
  const RawData raw = raw_from({{"A", "x", 1, 1},
                                {"A", "y", 1, 2},
                                {"B", "x", 1, 1},
                                {"B", "y", 1, 2},
                                {"C", "y", 1, 1},
                                {"C", "z", 1, 2},
                                {"D", "z", 1, 1}});
  const Dataset iterative = preprocess(raw, options(2, 2), "t");
  EXPECT_EQ(iterative.user_raw_ids, (Seq{"A", "B"}));
  EXPECT_EQ(iterative.item_raw_ids, (Seq{"", "x", "y"}));
  DatasetConfig single = options(2, 2);
  single.kcore = "single_pass";
  const Dataset once = preprocess(raw, single, "t");
  EXPECT_EQ(once.user_raw_ids, (Seq{"A", "B", "C"}));
  EXPECT_EQ(once.item_raw_ids, (Seq{"", "x", "y", "z"}));
}

TEST(Preprocess, ZeroDisablesAFilter) {
  const RawData raw = raw_from({{"A", "x", 1, 1},
                                {"A", "y", 1, 2},
                                {"B", "x", 1, 1},
                                {"B", "y", 1, 2},
                                {"B", "w", 1, 3},
                                {"C", "z", 1, 1}});
  const Dataset users_only = preprocess(raw, options(2, 0), "t");  // C goes, w stays
  EXPECT_EQ(users_only.user_raw_ids, (Seq{"A", "B"}));
  EXPECT_EQ(users_only.item_raw_ids, (Seq{"", "w", "x", "y"}));
  const Dataset items_only = preprocess(raw, options(0, 2), "t");  // w and z go; C has nothing left
  EXPECT_EQ(items_only.user_raw_ids, (Seq{"A", "B"}));
  EXPECT_EQ(items_only.item_raw_ids, (Seq{"", "x", "y"}));
}

TEST(Preprocess, TimeOrderWithItemIdOrFileOrderTieBreak) {
  // Equal timestamps; ids are numeric, so "9" sorts before "10" (lexicographic order would not).
  const RawData raw = raw_from({{"u", "30", 1, 5}, {"u", "10", 1, 5}, {"u", "9", 1, 5}, {"u", "7", 1, 1}});
  EXPECT_EQ(raw_sequence(preprocess(raw, options(2, 0), "t"), 0), (Seq{"7", "9", "10", "30"}));
  DatasetConfig file_order = options(2, 0);
  file_order.tie_break = "file_order";
  EXPECT_EQ(raw_sequence(preprocess(raw, file_order, "t"), 0), (Seq{"7", "30", "10", "9"}));
}

TEST(Preprocess, DenseIdsFollowRawIdOrder) {
  const RawData raw = raw_from({{"10", "b", 1, 1},
                                {"10", "a", 1, 2},
                                {"2", "c", 1, 1},
                                {"2", "b", 1, 2},
                                {"1", "a", 1, 1},
                                {"1", "c", 1, 2}});
  const Dataset ds = preprocess(raw, options(2, 0), "t");
  EXPECT_EQ(ds.user_raw_ids, (Seq{"1", "2", "10"}));
  EXPECT_EQ(ds.item_raw_ids, (Seq{"", "a", "b", "c"}));
  EXPECT_EQ(ds.sequences[2], (std::vector<int32_t>{2, 1}));  // user "10": b then a
  EXPECT_EQ(ds.titles[3], "title c");
}

TEST(Preprocess, ImmediateRepeatsAreDroppedInTimeOrder) {
  // In time order the user saw a, a, b, a (the file lists them out of order).
  const RawData raw = raw_from({{"u", "b", 1, 3}, {"u", "a", 1, 1}, {"u", "a", 1, 4}, {"u", "a", 1, 2}});
  EXPECT_EQ(raw_sequence(preprocess(raw, options(2, 0), "t"), 0), (Seq{"a", "a", "b", "a"}));
  DatasetConfig repeats = options(2, 0);
  repeats.remove_immediate_repeats = true;
  EXPECT_EQ(raw_sequence(preprocess(raw, repeats, "t"), 0), (Seq{"a", "b", "a"}));
}

TEST(Preprocess, MinRatingKeepsRatingsAtOrAboveIt) {
  const RawData raw =
      raw_from({{"u", "a", 3.5, 1}, {"u", "b", 4, 2}, {"u", "c", 3.49f, 3}, {"u", "d", 5, 4}});
  DatasetConfig cfg = options(2, 0);
  cfg.min_rating = 3.5;
  EXPECT_EQ(raw_sequence(preprocess(raw, cfg, "t"), 0), (Seq{"a", "b", "d"}));
}

TEST(Preprocess, ItemsWithoutTitleAreDroppedBeforeKcore) {
  RawData raw = raw_from({{"u", "a", 1, 1},
                          {"u", "b", 1, 2},
                          {"u", "c", 1, 3},
                          {"v", "a", 1, 1},
                          {"v", "b", 1, 2},
                          {"v", "c", 1, 3}});
  raw.set_title(raw.items.intern("c"), "  ");
  const Dataset ds = preprocess(raw, options(2, 2), "t");
  EXPECT_EQ(ds.item_raw_ids, (Seq{"", "a", "b"}));
  EXPECT_EQ(ds.num_interactions(), 4);
  EXPECT_TRUE(error_of([&] { preprocess(raw, options(3, 0), "t"); }).find("k-core") != std::string::npos);
}

TEST(Preprocess, MovieLensTitlesAreCleanedOnlyWhenAsked) {
  RawData raw = raw_from({{"u", "1", 1, 1}, {"u", "2", 1, 2}});
  raw.set_title(0, "Heat, The (Fire) (1995)");
  raw.movielens_titles = true;
  EXPECT_EQ(preprocess(raw, options(2, 0), "t").titles[1], "The Heat (1995)");
  DatasetConfig keep = options(2, 0);
  keep.clean_titles = false;
  EXPECT_EQ(preprocess(raw, keep, "t").titles[1], "Heat, The (Fire) (1995)");
  raw.movielens_titles = false;  // e.g. Amazon: parentheses are part of product names
  EXPECT_EQ(preprocess(raw, options(2, 0), "t").titles[1], "Heat, The (Fire) (1995)");
}

TEST(Dataset, LeaveOneOutAccessors) {
  const Dataset ds = testing::make_dataset({{4, 2, 3, 1}, {5, 6}}, 6);
  EXPECT_EQ(std::vector<int32_t>(ds.train(0).begin(), ds.train(0).end()), (std::vector<int32_t>{4, 2}));
  EXPECT_EQ(ds.val_target(0), 3);
  EXPECT_EQ(ds.test_target(0), 1);
  EXPECT_EQ(ds.history(0, Split::kTest).size(), 3u);
  EXPECT_TRUE(ds.train(1).empty());
  EXPECT_EQ(ds.val_target(1), 5);
  EXPECT_EQ(ds.test_target(1), 6);
  const Stats s = compute_stats(ds);
  EXPECT_EQ(s.users, 2);
  EXPECT_EQ(s.interactions, 6);
  EXPECT_DOUBLE_EQ(s.avg_length, 3.0);
  EXPECT_DOUBLE_EQ(s.density, 6.0 / 12.0);
  EXPECT_EQ(s.min_length, 2);
  EXPECT_EQ(s.max_length, 4);
  EXPECT_NE(format_stats("handmade", s).find("handmade"), std::string::npos);
}

}  // namespace
}  // namespace lrec::data
