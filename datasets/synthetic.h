// The built-in synthetic dataset, the default when no raw files are configured. Deterministic from
// the seed; the default size generates in milliseconds.
//
// The story, chosen so that sequence models and title-reading rankers both have something to learn:
// - T topics, each with its own word list. Item i belongs to topic (i - 1) mod T.
// - Inside a topic, items have Zipf-like popularity and a fixed "series" order. The series is cut into
//   sagas of five: the first part's title joins a generic adjective with two of the topic's words ("The
//   Midnight Dragon and the Castle"), the later parts add their number ("The Midnight Dragon and the
//   Castle 2"), as film sequels do.
// - Each user has three favourite topics. At each step the user keeps the current topic with
//   stay_probability (else jumps to a favourite); within the topic they take the next item of the
//   series after their last one with sequel_probability, else a popular one. With drift_probability a
//   favourite is replaced by a random topic (tastes drift), with noise_probability the item is random.
// So the last item predicts the next one (series and topic) far better than popularity does, and the
// titles carry the same signal: the topic words, and within a saga the next part's number.
#pragma once

#include <string>
#include <vector>

#include "datasets/config.h"
#include "datasets/dataset.h"

namespace lrec::data {

Dataset generate_synthetic(const SyntheticConfig& cfg);

// The topic of a synthetic item (1..num_items), for tests and analyses.
inline int synthetic_topic(int32_t item, int num_topics) { return (item - 1) % num_topics; }

// The words of topic t (0 <= t < synthetic_topic_count()).
const std::vector<std::string>& synthetic_topic_words(int topic);
int synthetic_topic_count();

}  // namespace lrec::data
