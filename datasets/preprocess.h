// From raw interactions to a Dataset, in LlamaRec's order (datasets/ml_100k.py, base.py):
//   1. keep interactions with rating >= min_rating;
//   2. drop interactions whose item has no title;
//   3. order each user's interactions by (timestamp, tie-break): the item id (LlamaRec sorts by
//      ['timestamp', 'sid']) or the file order (a stable sort);
//   4. optionally drop immediate repeats (a user's consecutive interactions with one item; LRURec drops
//      repeated adjacent rows of its file, which lists each user's interactions in time order);
//   5. k-core: drop items with fewer than min_sc interactions, then users with fewer than min_uc;
//      "iterative" repeats both until nothing changes (LlamaRec), "single_pass" does each once (LRURec);
//   6. dense re-indexing in raw-id order (see dataset.h) and MovieLens title cleaning (titles.h).
// A stage that leaves nothing is an error naming it; so is a user left with fewer than 2 interactions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/config.h"
#include "datasets/dataset.h"
#include "datasets/raw.h"

namespace lrec::data {

Dataset preprocess(const RawData& raw, const DatasetConfig& cfg, std::string name);

// rank[i] = position of ids[i] in the re-indexing order: numeric when every id is an integer (ties
// between spellings such as "007" and "7" broken lexicographically), else byte-wise lexicographic.
std::vector<uint32_t> raw_id_ranks(const std::vector<std::string>& ids);

}  // namespace lrec::data
