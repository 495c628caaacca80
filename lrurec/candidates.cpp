#include "lrurec/candidates.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "core/safetensors.h"

namespace lrec::lrurec {

namespace {

constexpr const char* kFormat = "lrec-candidates/1";

}  // namespace

void save_candidates(const std::filesystem::path& path, const CandidateFile& file) {
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, split] :
       {std::pair<std::string, const SplitCandidates*>{"val", &file.val}, {"test", &file.test}}) {
    tensors[name + ".items"] = split->items.to(at::kInt);
    tensors[name + ".scores"] = split->scores.to(at::kFloat);
    tensors[name + ".targets"] = split->targets.to(at::kInt);
  }
  safetensors::save(path, tensors,
                    {{"format", kFormat},
                     {"dataset", file.dataset},
                     {"num_users", std::to_string(file.val.items.size(0))},
                     {"num_items", std::to_string(file.num_items)},
                     {"top_k", std::to_string(file.val.items.size(1))}});
}

CandidateFile load_candidates(const std::filesystem::path& path) {
  const auto st = safetensors::File::open(path);
  const auto& meta = st->metadata();
  if (!meta.count("format") || meta.at("format") != kFormat) {
    fail("{}: not a candidate file (metadata format should be '{}'). Produce one with train_lrurec.",
         path.string(), kFormat);
  }
  CandidateFile file;
  file.dataset = meta.count("dataset") ? meta.at("dataset") : "";
  file.num_items = meta.count("num_items") ? std::stoll(meta.at("num_items")) : 0;
  for (const auto& [name, split] :
       {std::pair<std::string, SplitCandidates*>{"val", &file.val}, {"test", &file.test}}) {
    split->items = st->tensor(name + ".items").clone();
    split->scores = st->tensor(name + ".scores").clone();
    split->targets = st->tensor(name + ".targets").clone();
    if (split->items.dim() != 2 || split->scores.sizes() != split->items.sizes() ||
        split->targets.dim() != 1 || split->targets.size(0) != split->items.size(0)) {
      fail("{}: {}.items, {}.scores and {}.targets must be [U, K], [U, K] and [U].", path.string(), name,
           name, name);
    }
    if (split->items.numel() > 0 &&
        (split->items.min().item<int64_t>() < 1 || split->items.max().item<int64_t>() > file.num_items)) {
      fail("{}: {}.items holds ids outside 1..{}.", path.string(), name, file.num_items);
    }
  }
  if (file.test.items.size(0) != file.val.items.size(0))
    fail("{}: {} test rows but {} validation rows; both hold one row per user.", path.string(),
         file.test.items.size(0), file.val.items.size(0));
  return file;
}

data::RetrievedCandidates to_retrieved(const SplitCandidates& split) {
  data::RetrievedCandidates out;
  const at::Tensor items = split.items.to(at::kInt).contiguous();
  const int64_t U = items.size(0), K = items.size(1);
  for (int64_t u = 0; u < U; ++u) {
    const int32_t* i = items.data_ptr<int32_t>() + u * K;
    out.items.emplace_back(i, i + K);
  }
  return out;
}

}  // namespace lrec::lrurec
