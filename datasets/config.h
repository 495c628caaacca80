// Configuration of the dataset library: which data, where, and how it is preprocessed.
// Defaults are LlamaRec's (config.py: min_rating 0, min_uc 5, min_sc 5; datasets/base.py: iterative
// k-core, sort by (timestamp, item id); datasets/ml_100k.py: drop items without a title, clean titles).
#pragma once

#include <cstdint>
#include <string>

namespace lrec::data {

// The built-in synthetic dataset (see synthetic.h for the generative story).
struct SyntheticConfig {
  uint64_t seed = 42;
  int num_users = 1000;
  int num_items = 600;
  int num_topics = 12;  // at most the number of built-in topic word lists (24)
  int min_length = 12;  // per-user sequence length, uniform in [min_length, max_length]
  int max_length = 40;
  double stay_probability = 0.8;    // the next item keeps the current topic
  double sequel_probability = 0.5;  // within a topic, the next item of the topic's chain follows
  double noise_probability = 0.05;  // a uniformly random item instead
  double drift_probability = 0.03;  // per step, one favourite topic is replaced by a random one

  template <class V>
  void visit(V& v) {
    v("seed", seed);
    v("num_users", num_users);
    v("num_items", num_items);
    v("num_topics", num_topics);
    v("min_length", min_length);
    v("max_length", max_length);
    v("stay_probability", stay_probability);
    v("sequel_probability", sequel_probability);
    v("noise_probability", noise_probability);
    v("drift_probability", drift_probability);
  }
};

struct DatasetConfig {
  // Display name and cache file name; "" = the raw directory's name ("synthetic" for the built-in data).
  std::string name;
  // "auto" detects the format from the files in `path` (synthetic when `path` is empty).
  // ml-1m/ml-10m read ratings.dat + movies.dat; ml-20m/ml-25m/ml-latest/ml-latest-small read the CSVs.
  std::string format = "auto";
  std::string path;    // directory holding the raw files
  std::string subset;  // <Cat> of Amazon files or <name> of RecBole files when `path` holds several
  std::string cache_dir = "runs/cache";   // "" disables the cache
  double min_rating = 0;                  // keep interactions with rating >= min_rating
  int min_uc = 5;                         // k-core: users with at least min_uc interactions (0: no filter)
  int min_sc = 5;                         // k-core: items with at least min_sc interactions (0: no filter)
  std::string kcore = "iterative";        // LlamaRec repeats until stable; "single_pass" = LRURec's code
  bool remove_immediate_repeats = false;  // LRURec drops a user's consecutive repeats of one item
  std::string tie_break = "item_id";      // equal timestamps: by item id (the papers) or "file_order"
  bool clean_titles = true;               // MovieLens titles as LlamaRec (see titles.h)
  bool skip_bad_lines = false;            // skip malformed lines (and report the count) instead of failing
  SyntheticConfig synthetic;

  template <class V>
  void visit(V& v) {
    v("name", name);
    v("format", format,
      {"auto", "synthetic", "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-latest", "ml-latest-small",
       "amazon2014", "amazon2018", "atomic"});
    v("path", path);
    v("subset", subset);
    v("cache_dir", cache_dir);
    v("min_rating", min_rating);
    v("min_uc", min_uc);
    v("min_sc", min_sc);
    v("kcore", kcore, {"iterative", "single_pass"});
    v("remove_immediate_repeats", remove_immediate_repeats);
    v("tie_break", tie_break, {"item_id", "file_order"});
    v("clean_titles", clean_titles);
    v("skip_bad_lines", skip_bad_lines);
    v("synthetic", synthetic);
  }
};

}  // namespace lrec::data
