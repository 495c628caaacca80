#include "datasets/ranker_examples.h"

#include <algorithm>

#include "core/error.h"
#include "datasets/random.h"

namespace lrec::data {

namespace {

std::vector<int32_t> last(std::span<const int32_t> items, int count) {
  const size_t n = std::min(items.size(), static_cast<size_t>(count));
  return std::vector<int32_t>(items.end() - static_cast<ptrdiff_t>(n), items.end());
}

void check_retrieved(const Dataset& ds, const RetrievedCandidates& r, size_t needed) {
  if (r.items.size() != ds.num_users()) {
    fail(
        "the retrieved candidates cover {} users but the dataset {} has {}. Were they computed on another "
        "dataset "
        "or with other preprocessing options?",
        r.items.size(), ds.name, ds.num_users());
  }
  for (size_t u = 0; u < r.items.size(); ++u) {
    if (r.items[u].size() < needed) {
      fail("the retriever gave user {} only {} candidates; {} are needed. Retrieve more candidates per user.",
           u, r.items[u].size(), needed);
    }
    for (const int32_t item : r.items[u]) {
      if (item < 1 || item > ds.num_items) {
        fail(
            "the retriever gave user {} the item {}, outside 1..{}. Were the candidates computed on another "
            "dataset?",
            u, item, ds.num_items);
      }
    }
  }
}

// Picks the candidates of one example: the target plus distinct negatives not in `excluded` (a mark
// per item, set for the user's items), shuffled.
class CandidateSampler {
 public:
  CandidateSampler(const Dataset& ds, const RankerExampleConfig& cfg, const RetrievedCandidates* retrieved)
      : ds_(ds),
        cfg_(cfg),
        retrieved_(retrieved),
        rng_(cfg.seed),
        excluded_(static_cast<size_t>(ds.num_items) + 1) {}

  void start_user(size_t u) {
    for (const int32_t item : user_items_) excluded_[static_cast<size_t>(item)] = 0;
    user_items_.assign(ds_.sequences[u].begin(), ds_.sequences[u].end());
    for (const int32_t item : user_items_) excluded_[static_cast<size_t>(item)] = 1;
    std::sort(user_items_.begin(), user_items_.end());
    user_items_.erase(std::unique(user_items_.begin(), user_items_.end()), user_items_.end());
    const int64_t available = ds_.num_items - static_cast<int64_t>(user_items_.size());
    if (available < cfg_.num_candidates - 1) {
      fail(
          "user {} has interacted with {} of the {} items, leaving {} for {} negatives. Lower "
          "num_candidates.",
          u, user_items_.size(), ds_.num_items, available, cfg_.num_candidates - 1);
    }
    user_ = u;
  }

  RankerExample make(int32_t target, std::vector<int32_t> history) {
    std::vector<int32_t> candidates{target};
    std::vector<int32_t> picked;  // to clear the marks of the negatives afterwards
    auto take = [&](int32_t item) {
      if (excluded_[static_cast<size_t>(item)]) return;
      excluded_[static_cast<size_t>(item)] = 1;
      picked.push_back(item);
      candidates.push_back(item);
    };
    const size_t wanted = static_cast<size_t>(cfg_.num_candidates);
    if (cfg_.negatives == "retriever") {
      for (const int32_t item : retrieved_->items[user_]) {
        if (candidates.size() == wanted) break;
        take(item);
      }
    }
    while (candidates.size() < wanted) {
      take(static_cast<int32_t>(1 + uniform_index(rng_, static_cast<uint64_t>(ds_.num_items))));
    }
    for (const int32_t item : picked) excluded_[static_cast<size_t>(item)] = 0;
    shuffle(candidates, rng_);
    const auto label =
        static_cast<int32_t>(std::find(candidates.begin(), candidates.end(), target) - candidates.begin());
    return {static_cast<int32_t>(user_), std::move(history), std::move(candidates), label};
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  const Dataset& ds_;
  const RankerExampleConfig& cfg_;
  const RetrievedCandidates* retrieved_;
  std::mt19937_64 rng_;
  std::vector<uint8_t> excluded_;
  std::vector<int32_t> user_items_;
  size_t user_ = 0;
};

}  // namespace

std::vector<RankerExample> make_ranker_train_examples(const Dataset& ds, const RankerExampleConfig& cfg,
                                                      const RetrievedCandidates* retrieved) {
  if (cfg.num_candidates < 1 || cfg.max_history < 1 || cfg.max_train_examples < 0 ||
      cfg.examples_per_user < 0) {
    fail(
        "ranker examples: num_candidates and max_history must be >= 1, max_train_examples and "
        "examples_per_user "
        ">= 0.");
  }
  if (cfg.negatives == "retriever") {
    if (retrieved == nullptr)
      fail("negatives = retriever needs the retriever's candidates (a retrieved file).");
    check_retrieved(ds, *retrieved, 0);
  }

  // (user, prefix length) of every example, before subsampling.
  std::vector<std::pair<uint32_t, uint32_t>> prefixes;
  for (size_t u = 0; u < ds.num_users(); ++u) {
    const size_t n = ds.train(u).size();
    const size_t first = cfg.examples_per_user > 0 && n + 1 > static_cast<size_t>(cfg.examples_per_user) + 2
                             ? n + 1 - static_cast<size_t>(cfg.examples_per_user)
                             : 2;
    for (size_t i = first; i <= n; ++i)
      prefixes.emplace_back(static_cast<uint32_t>(u), static_cast<uint32_t>(i));
  }
  CandidateSampler sampler(ds, cfg, retrieved);
  if (cfg.max_train_examples > 0 && prefixes.size() > static_cast<size_t>(cfg.max_train_examples)) {
    shuffle(prefixes, sampler.rng());
    prefixes.resize(static_cast<size_t>(cfg.max_train_examples));
    std::sort(prefixes.begin(), prefixes.end());
  }

  std::vector<RankerExample> examples;
  examples.reserve(prefixes.size());
  size_t current_user = SIZE_MAX;
  for (const auto& [u, length] : prefixes) {
    if (u != current_user) sampler.start_user(current_user = u);
    const std::span<const int32_t> prefix = ds.train(u).first(length);
    examples.push_back(sampler.make(prefix.back(), last(prefix.first(length - 1), cfg.max_history)));
  }
  return examples;
}

std::vector<RankerExample> make_ranker_eval_examples(const Dataset& ds, Split split,
                                                     const RetrievedCandidates& retrieved, int num_candidates,
                                                     int max_history) {
  if (num_candidates < 1 || max_history < 1)
    fail("ranker examples: num_candidates and max_history must be >= 1.");
  check_retrieved(ds, retrieved, static_cast<size_t>(num_candidates));
  std::vector<RankerExample> examples;
  examples.reserve(ds.num_users());
  for (size_t u = 0; u < ds.num_users(); ++u) {
    const int32_t target = split == Split::kVal ? ds.val_target(u) : ds.test_target(u);
    std::vector<int32_t> candidates(retrieved.items[u].begin(), retrieved.items[u].begin() + num_candidates);
    std::vector<int32_t> sorted = candidates;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      fail("the retriever's top {} for user {} lists an item twice. Candidates must be distinct items.",
           num_candidates, u);
    }
    const auto it = std::find(candidates.begin(), candidates.end(), target);
    const int32_t label = it == candidates.end() ? -1 : static_cast<int32_t>(it - candidates.begin());
    examples.push_back({static_cast<int32_t>(u), last(ds.history(u, split), max_history),
                        std::move(candidates), label, label + 1});
  }
  return examples;
}

void shuffle_candidates(std::vector<RankerExample>& examples, std::span<const size_t> order, uint64_t seed) {
  std::vector<uint8_t> seen(examples.size(), 0);
  bool permutation = order.size() == examples.size();
  for (const size_t i : order) permutation = permutation && i < examples.size() && !seen[i]++;
  if (!permutation)
    fail("shuffle_candidates: the order must list each of the {} examples once.", examples.size());
  std::mt19937_64 deal(seed);
  uint64_t next = deal();
  for (const size_t i : order) {
    RankerExample& e = examples[i];
    std::mt19937_64 rng(mix_seed(seed, static_cast<uint64_t>(e.user)));
    if (e.label < 0) {
      shuffle(e.candidates, rng);
      continue;
    }
    const int32_t target = e.candidates[static_cast<size_t>(e.label)];
    e.candidates.erase(e.candidates.begin() + e.label);
    shuffle(e.candidates, rng);
    const size_t position = next++ % (e.candidates.size() + 1);
    e.candidates.insert(e.candidates.begin() + static_cast<ptrdiff_t>(position), target);
    e.label = static_cast<int32_t>(position);
  }
}

}  // namespace lrec::data
