#include "datasets/synthetic.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "core/config.h"
#include "core/error.h"
#include "datasets/random.h"

namespace lrec::data {

namespace {

const std::vector<std::vector<std::string>>& topics() {
  static const std::vector<std::vector<std::string>> kTopics = {
      {"Galaxy", "Rocket", "Planet", "Astronaut", "Comet", "Nebula", "Orbit", "Starship"},
      {"Ocean", "Pirate", "Harbor", "Island", "Tide", "Reef", "Sailor", "Lighthouse"},
      {"Detective", "Murder", "Alibi", "Clue", "Suspect", "Inspector", "Witness", "Mystery"},
      {"Love", "Wedding", "Heart", "Kiss", "Romance", "Bride", "Sweetheart", "Valentine"},
      {"Cowboy", "Sheriff", "Saloon", "Outlaw", "Frontier", "Canyon", "Ranch", "Stagecoach"},
      {"Dragon", "Wizard", "Castle", "Sword", "Kingdom", "Knight", "Spell", "Unicorn"},
      {"Ghost", "Vampire", "Haunting", "Zombie", "Curse", "Crypt", "Nightmare", "Phantom"},
      {"Soldier", "Battle", "General", "Trench", "Regiment", "Siege", "Warship", "Frontline"},
      {"Kitchen", "Recipe", "Chef", "Bakery", "Feast", "Spice", "Dessert", "Banquet"},
      {"Champion", "Stadium", "Coach", "Marathon", "Trophy", "League", "Rookie", "Playoff"},
      {"Symphony", "Guitar", "Melody", "Concert", "Rhythm", "Ballad", "Piano", "Chorus"},
      {"Robot", "Android", "Circuit", "Machine", "Cyborg", "Algorithm", "Laser", "Drone"},
      {"Jungle", "Tiger", "Safari", "River", "Explorer", "Temple", "Monkey", "Expedition"},
      {"School", "Teacher", "Exam", "Campus", "Classroom", "Graduate", "Homework", "Professor"},
      {"Gangster", "Heist", "Mafia", "Bandit", "Smuggler", "Vault", "Getaway", "Racket"},
      {"Family", "Grandmother", "Holiday", "Puppy", "Picnic", "Birthday", "Cousin", "Backyard"},
      {"Emperor", "Empire", "Pharaoh", "Dynasty", "Chronicle", "Crown", "Throne", "Legion"},
      {"Snow", "Blizzard", "Glacier", "Sleigh", "Frost", "Avalanche", "Igloo", "Snowman"},
      {"Laboratory", "Experiment", "Scientist", "Formula", "Atom", "Microscope", "Theory", "Genome"},
      {"Journey", "Passport", "Train", "Highway", "Voyage", "Suitcase", "Compass", "Road"},
      {"Painter", "Canvas", "Museum", "Portrait", "Sculpture", "Gallery", "Masterpiece", "Studio"},
      {"President", "Election", "Senator", "Campaign", "Parliament", "Scandal", "Ballot", "Diplomat"},
      {"Horse", "Falcon", "Wolf", "Elephant", "Bear", "Fox", "Eagle", "Dolphin"},
      {"City", "Subway", "Skyscraper", "Taxi", "Neighborhood", "Rooftop", "Boulevard", "Downtown"},
  };
  return kTopics;
}

const std::vector<std::string> kAdjectives = {"Silent", "Golden",   "Hidden", "Last",    "Secret",  "Broken",
                                              "Wild",   "Midnight", "Lost",   "Eternal", "Crimson", "Little",
                                              "Great",  "Dark",     "Bright", "Final"};

void check(const SyntheticConfig& cfg) {
  auto require = [](bool ok, std::string_view key, std::string_view rule) {
    config::require(ok, fmt::format("dataset.synthetic.{}", key), rule);
  };
  require(cfg.num_users >= 1, "num_users", ">= 1");
  require(cfg.num_topics >= 1 && cfg.num_topics <= synthetic_topic_count(), "num_topics",
          fmt::format("between 1 and {} (the built-in word lists)", synthetic_topic_count()));
  require(cfg.num_items >= 2 * cfg.num_topics, "num_items", "at least 2 * num_topics");
  require(cfg.min_length >= 3, "min_length", ">= 3 (train, validation and test need one item each)");
  require(cfg.max_length >= cfg.min_length && cfg.max_length <= cfg.num_items, "max_length",
          "between min_length and num_items (users never repeat an item)");
  for (const auto& [key, p] : {std::pair<std::string_view, double>{"stay_probability", cfg.stay_probability},
                               {"sequel_probability", cfg.sequel_probability},
                               {"noise_probability", cfg.noise_probability},
                               {"drift_probability", cfg.drift_probability}}) {
    require(p >= 0 && p <= 1, key, "a probability in [0, 1]");
  }
}

struct Topic {
  std::vector<int32_t> series;     // items in series order
  std::vector<int32_t> by_weight;  // items, most popular first
  std::vector<double> cumulative;  // Zipf weights of by_weight, cumulated
};

std::string make_title(int32_t item, const std::vector<std::string>& words, std::mt19937_64& rng) {
  const std::string& adjective = kAdjectives[uniform_index(rng, kAdjectives.size())];
  const size_t a = uniform_index(rng, words.size());
  const size_t b = (a + 1 + uniform_index(rng, words.size() - 1)) % words.size();
  return item % 2 ? fmt::format("The {} {} and the {}", adjective, words[a], words[b])
                  : fmt::format("{} of the {} {}", words[a], adjective, words[b]);
}

// Titles in series order: each run of kSagaLength items is a saga, whose first part has a fresh base
// title and whose later parts add their number ("... 2", "... 3"), as film sequels do. Bases are unique;
// when random draws keep colliding (tiny word lists, huge topics), the saga's index tells them apart.
constexpr size_t kSagaLength = 5;

void title_series(const std::vector<int32_t>& series, const std::vector<std::string>& words,
                  std::set<std::string>& used, std::mt19937_64& rng, std::vector<std::string>& titles) {
  std::string base;
  for (size_t k = 0; k < series.size(); ++k) {
    const int32_t item = series[k];
    const size_t part = k % kSagaLength;
    if (part == 0) {
      base = make_title(item, words, rng);
      for (int attempt = 0; used.count(base) && attempt < 64; ++attempt) base = make_title(item, words, rng);
      if (used.count(base)) base = fmt::format("{}, Saga {}", base, k / kSagaLength + 1);
      used.insert(base);
    }
    titles[static_cast<size_t>(item)] = part == 0 ? base : fmt::format("{} {}", base, part + 1);
  }
}

}  // namespace

int synthetic_topic_count() { return static_cast<int>(topics().size()); }

const std::vector<std::string>& synthetic_topic_words(int topic) {
  return topics().at(static_cast<size_t>(topic));
}

Dataset generate_synthetic(const SyntheticConfig& cfg) {
  check(cfg);
  std::mt19937_64 rng(cfg.seed);
  const int T = cfg.num_topics;
  Dataset ds;
  ds.name = "synthetic";
  ds.num_items = cfg.num_items;
  ds.item_raw_ids.assign(1, "");
  std::vector<Topic> topic(static_cast<size_t>(T));
  ds.titles.assign(static_cast<size_t>(cfg.num_items) + 1, "");
  for (int32_t item = 1; item <= cfg.num_items; ++item) {
    ds.item_raw_ids.push_back(fmt::format("i{:06d}", item));
    topic[static_cast<size_t>(synthetic_topic(item, T))].series.push_back(item);
  }
  std::vector<size_t> series_position(static_cast<size_t>(cfg.num_items) + 1, 0);
  std::set<std::string> used;  // saga base titles
  for (int t = 0; t < T; ++t) {
    Topic& tp = topic[static_cast<size_t>(t)];
    shuffle(tp.series, rng);
    title_series(tp.series, synthetic_topic_words(t), used, rng, ds.titles);
    tp.by_weight = tp.series;
    shuffle(tp.by_weight, rng);
    double total = 0;
    for (size_t r = 0; r < tp.by_weight.size(); ++r)
      tp.cumulative.push_back(total += 1.0 / static_cast<double>(r + 1));
    for (size_t k = 0; k < tp.series.size(); ++k) series_position[static_cast<size_t>(tp.series[k])] = k;
  }

  std::vector<uint8_t> seen(static_cast<size_t>(cfg.num_items) + 1, 0);
  auto popular = [&](const Topic& tp) {
    const double x = uniform_unit(rng) * tp.cumulative.back();
    const size_t r = std::upper_bound(tp.cumulative.begin(), tp.cumulative.end(), x) - tp.cumulative.begin();
    return tp.by_weight[std::min(r, tp.by_weight.size() - 1)];
  };
  auto any_unseen = [&](int32_t start) {  // deterministic fallback when sampling keeps hitting seen items
    for (int32_t k = 0; k < cfg.num_items; ++k) {
      const int32_t item = 1 + (start - 1 + k) % cfg.num_items;
      if (!seen[static_cast<size_t>(item)]) return item;
    }
    fail("synthetic: no unseen item left");  // excluded by check(): max_length <= num_items
  };

  const int num_favourites = std::min(3, T);
  for (int u = 0; u < cfg.num_users; ++u) {
    std::vector<int> favourites;
    while (static_cast<int>(favourites.size()) < num_favourites) {
      const int t = static_cast<int>(uniform_index(rng, static_cast<uint64_t>(T)));
      if (std::find(favourites.begin(), favourites.end(), t) == favourites.end()) favourites.push_back(t);
    }
    int current = favourites[uniform_index(rng, favourites.size())];
    const int length = cfg.min_length + static_cast<int>(uniform_index(
                                            rng, static_cast<uint64_t>(cfg.max_length - cfg.min_length + 1)));
    std::vector<int32_t>& seq = ds.sequences.emplace_back();
    for (int step = 0; step < length; ++step) {
      if (step > 0 && uniform_unit(rng) < cfg.drift_probability) {
        favourites[uniform_index(rng, favourites.size())] =
            static_cast<int>(uniform_index(rng, static_cast<uint64_t>(T)));
      }
      int32_t item = 0;
      if (uniform_unit(rng) < cfg.noise_probability) {
        item = any_unseen(1 + static_cast<int32_t>(uniform_index(rng, static_cast<uint64_t>(cfg.num_items))));
      } else {
        if (step > 0 && uniform_unit(rng) >= cfg.stay_probability)
          current = favourites[uniform_index(rng, favourites.size())];
        const Topic& tp = topic[static_cast<size_t>(current)];
        if (!seq.empty() && synthetic_topic(seq.back(), T) == current &&
            uniform_unit(rng) < cfg.sequel_probability) {
          const size_t next = series_position[static_cast<size_t>(seq.back())] + 1;
          if (next < tp.series.size() && !seen[static_cast<size_t>(tp.series[next])]) item = tp.series[next];
        }
        for (int attempt = 0; item == 0 && attempt < 32; ++attempt) {
          const int32_t candidate = popular(tp);
          if (!seen[static_cast<size_t>(candidate)]) item = candidate;
        }
        if (item == 0) item = any_unseen(tp.series.front());
      }
      seen[static_cast<size_t>(item)] = 1;
      seq.push_back(item);
    }
    for (const int32_t item : seq) seen[static_cast<size_t>(item)] = 0;
    ds.user_raw_ids.push_back(fmt::format("u{:06d}", u));
  }
  return ds;
}

}  // namespace lrec::data
