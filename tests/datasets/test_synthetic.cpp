// The synthetic dataset: deterministic, sized by the config, and with learnable structure: a bigram
// model and title-reading models (the topic, the saga's next part) beat popularity at predicting the test
// item.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "datasets/synthetic.h"
#include "test_util.h"

namespace lrec::data {
namespace {

// Hit rate @10 on the test targets of a scorer(user, item) -> score; the user's history is excluded.
template <class Score>
double hit_rate_at_10(const Dataset& ds, Score score) {
  int hits = 0;
  std::vector<std::pair<double, int32_t>> ranked;
  for (size_t u = 0; u < ds.num_users(); ++u) {
    const auto history = ds.history(u, Split::kTest);
    const std::set<int32_t> seen(history.begin(), history.end());
    ranked.clear();
    for (int32_t item = 1; item <= ds.num_items; ++item) {
      if (!seen.count(item)) ranked.emplace_back(-score(u, item), item);  // ties: lower id first
    }
    std::partial_sort(ranked.begin(), ranked.begin() + 10, ranked.end());
    for (int k = 0; k < 10; ++k) hits += ranked[static_cast<size_t>(k)].second == ds.test_target(u);
  }
  return static_cast<double>(hits) / static_cast<double>(ds.num_users());
}

std::vector<double> popularity(const Dataset& ds) {
  std::vector<double> count(static_cast<size_t>(ds.num_items) + 1, 0);
  for (size_t u = 0; u < ds.num_users(); ++u) {
    for (const int32_t item : ds.history(u, Split::kTest)) count[static_cast<size_t>(item)] += 1;
  }
  return count;
}

// The topic whose words appear in a title (read from the text only).
int topic_of_title(const std::string& title, int num_topics) {
  std::istringstream words(title);
  std::map<int, int> votes;
  for (std::string w; words >> w;) {
    for (int t = 0; t < num_topics; ++t) {
      const auto& list = synthetic_topic_words(t);
      votes[t] += std::count(list.begin(), list.end(), w);
    }
  }
  return std::max_element(votes.begin(), votes.end(), [](auto a, auto b) { return a.second < b.second; })
      ->first;
}

// A title's saga base and part number, read from the text: "X 3" -> {"X", 3}, "X" -> {"X", 1}.
std::pair<std::string, int> saga_part(const std::string& title) {
  const size_t space = title.rfind(' ');
  const std::string last = title.substr(space + 1);
  if (last.size() == 1 && last[0] >= '2' && last[0] <= '9') return {title.substr(0, space), last[0] - '0'};
  return {title, 1};
}

// The title of the next part of the saga that `title` belongs to ("X" -> "X 2", "X 2" -> "X 3").
std::string next_part(const std::string& title) {
  const auto [base, part] = saga_part(title);
  return base + " " + std::to_string(part + 1);
}

TEST(Synthetic, NextItemStructureBeatsPopularity) {
  const SyntheticConfig cfg;
  const Dataset ds = generate_synthetic(cfg);
  const std::vector<double> pop = popularity(ds);
  const double popular = hit_rate_at_10(ds, [&](size_t, int32_t i) { return pop[static_cast<size_t>(i)]; });

  std::map<std::pair<int32_t, int32_t>, double> bigrams;
  for (size_t u = 0; u < ds.num_users(); ++u) {
    const auto h = ds.history(u, Split::kTest);
    for (size_t k = 1; k < h.size(); ++k) bigrams[{h[k - 1], h[k]}] += 1;
  }
  const double bigram = hit_rate_at_10(ds, [&](size_t u, int32_t i) {
    const auto it = bigrams.find({ds.val_target(u), i});
    return (it == bigrams.end() ? 0 : it->second) * 1e6 + pop[static_cast<size_t>(i)];
  });

  std::vector<int> title_topic(static_cast<size_t>(ds.num_items) + 1);
  for (int32_t i = 1; i <= ds.num_items; ++i)
    title_topic[static_cast<size_t>(i)] = topic_of_title(ds.titles[static_cast<size_t>(i)], cfg.num_topics);
  const double titles = hit_rate_at_10(ds, [&](size_t u, int32_t i) {
    const bool same =
        title_topic[static_cast<size_t>(i)] == title_topic[static_cast<size_t>(ds.val_target(u))];
    return same * 1e6 + pop[static_cast<size_t>(i)];
  });

  const std::map<std::string, int32_t> by_title = [&] {
    std::map<std::string, int32_t> m;
    for (int32_t i = 1; i <= ds.num_items; ++i) m[ds.titles[static_cast<size_t>(i)]] = i;
    return m;
  }();
  const double sequel_titles = hit_rate_at_10(ds, [&](size_t u, int32_t i) {
    const auto next = by_title.find(next_part(ds.titles[static_cast<size_t>(ds.val_target(u))]));
    const bool sequel = next != by_title.end() && next->second == i;
    const bool same =
        title_topic[static_cast<size_t>(i)] == title_topic[static_cast<size_t>(ds.val_target(u))];
    return sequel * 1e9 + same * 1e6 + pop[static_cast<size_t>(i)];
  });

  RecordProperty("hr10_popularity", std::to_string(popular));
  RecordProperty("hr10_bigram", std::to_string(bigram));
  RecordProperty("hr10_title_topic", std::to_string(titles));
  RecordProperty("hr10_title_sequel", std::to_string(sequel_titles));
  EXPECT_GT(bigram, 2 * popular) << "bigram " << bigram << " vs popularity " << popular;
  EXPECT_GT(titles, 1.5 * popular) << "title topic " << titles << " vs popularity " << popular;
  EXPECT_GT(sequel_titles, titles + 0.1) << "title sequel " << sequel_titles << " vs title topic " << titles;
}

TEST(Synthetic, SagaPartsFollowEachOtherInTheSequences) {
  const Dataset ds = generate_synthetic(SyntheticConfig{});
  std::map<std::string, int> part_count;  // base title -> parts
  for (int32_t i = 1; i <= ds.num_items; ++i)
    part_count[saga_part(ds.titles[static_cast<size_t>(i)]).first] += 1;
  EXPECT_EQ(part_count.size(), static_cast<size_t>(ds.num_items) / 5);  // 600 items: 120 sagas of 5
  int readable = 0, pairs = 0;
  for (const auto& seq : ds.sequences) {
    for (size_t k = 1; k < seq.size(); ++k, ++pairs)
      readable +=
          ds.titles[static_cast<size_t>(seq[k])] == next_part(ds.titles[static_cast<size_t>(seq[k - 1])]);
  }
  // stay 0.8 x sequel 0.5 x (4 of 5 series steps stay inside a saga), less noise and seen items
  EXPECT_GT(readable, pairs / 5) << readable << " of " << pairs << " steps take the saga's next part";
}

TEST(Synthetic, TitlesNameTheirTopic) {
  SyntheticConfig cfg;
  const Dataset ds = generate_synthetic(cfg);
  int right = 0;
  for (int32_t i = 1; i <= ds.num_items; ++i) {
    right += topic_of_title(ds.titles[static_cast<size_t>(i)], cfg.num_topics) ==
             synthetic_topic(i, cfg.num_topics);
  }
  EXPECT_EQ(right, ds.num_items);
}

TEST(Synthetic, SizesAndInvariantsFollowTheConfig) {
  SyntheticConfig cfg;
  cfg.num_users = 123;
  cfg.num_items = 77;
  cfg.num_topics = 5;
  cfg.min_length = 4;
  cfg.max_length = 9;
  const Dataset ds = generate_synthetic(cfg);
  EXPECT_EQ(ds.num_users(), 123u);
  EXPECT_EQ(ds.num_items, 77);
  ASSERT_EQ(ds.titles.size(), 78u);
  ASSERT_EQ(ds.item_raw_ids.size(), 78u);
  EXPECT_EQ(std::set<std::string>(ds.titles.begin() + 1, ds.titles.end()).size(), 77u);  // unique titles
  for (const auto& seq : ds.sequences) {
    EXPECT_GE(seq.size(), 4u);
    EXPECT_LE(seq.size(), 9u);
    EXPECT_EQ(std::set<int32_t>(seq.begin(), seq.end()).size(), seq.size());  // no repeats
    for (const int32_t item : seq) {
      EXPECT_GE(item, 1);
      EXPECT_LE(item, 77);
    }
  }
}

TEST(Synthetic, DeterministicFromTheSeed) {
  SyntheticConfig cfg;
  const Dataset a = generate_synthetic(cfg);
  const Dataset b = generate_synthetic(cfg);
  EXPECT_EQ(a.sequences, b.sequences);
  EXPECT_EQ(a.titles, b.titles);
  cfg.seed = 7;
  const Dataset c = generate_synthetic(cfg);
  EXPECT_NE(a.sequences, c.sequences);
}

TEST(Synthetic, IsTheDefaultDataset) {
  DatasetConfig cfg;  // no path
  cfg.synthetic.num_users = 10;
  const Dataset ds = load_dataset(cfg);
  EXPECT_EQ(ds.name, "synthetic");
  EXPECT_EQ(ds.num_users(), 10u);
}

TEST(Synthetic, RejectsImpossibleConfigs) {
  auto error_with = [](auto change) {
    SyntheticConfig cfg;
    change(cfg);
    return testing::error_of([&] { generate_synthetic(cfg); });
  };
  EXPECT_NE(error_with([](SyntheticConfig& c) { c.num_topics = 99; }).find("dataset.synthetic.num_topics"),
            std::string::npos);
  EXPECT_NE(error_with([](SyntheticConfig& c) { c.min_length = 2; }).find("dataset.synthetic.min_length"),
            std::string::npos);
  EXPECT_NE(error_with([](SyntheticConfig& c) { c.max_length = 10000; }).find("dataset.synthetic.max_length"),
            std::string::npos);
  EXPECT_NE(error_with([](SyntheticConfig& c) { c.noise_probability = 1.5; }).find("noise_probability"),
            std::string::npos);
}

}  // namespace
}  // namespace lrec::data
