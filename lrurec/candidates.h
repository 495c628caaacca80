// The retriever's candidate file: each user's top-K items and scores for validation and test, in
// retriever order, as one safetensors file (compact; no full score vectors).
//
//   val.items   I32 [U, K]   item ids, best first (dense ids 1..num_items, as in the dataset)
//   val.scores  F32 [U, K]
//   val.targets I32 [U]      the validation target of each user
//   test.items / test.scores / test.targets   likewise for test
//   __metadata__: format = "lrec-candidates/1", dataset, num_users, num_items, top_k
// Row u is dense user u of the dataset the retriever was trained on.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>

#include "datasets/ranker_examples.h"

namespace lrec::lrurec {

struct SplitCandidates {
  at::Tensor items;    // I32 [U, K]
  at::Tensor scores;   // F32 [U, K]
  at::Tensor targets;  // I32 [U]
};

struct CandidateFile {
  std::string dataset;
  int64_t num_items = 0;
  SplitCandidates val, test;
};

void save_candidates(const std::filesystem::path& path, const CandidateFile& file);
// Validates shapes and ids; throws lrec::Error naming the file and the problem.
CandidateFile load_candidates(const std::filesystem::path& path);

// One split as the dataset library's per-user lists.
data::RetrievedCandidates to_retrieved(const SplitCandidates& split);

}  // namespace lrec::lrurec
