// Keys and values of the positions already processed, one entry per decoder layer, for incremental
// decoding. Each entry is a preallocated buffer [B, KVH, capacity, hd] that doubles when full, so a new
// token costs one copy of its own keys and values, not a copy of the whole past.
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

namespace lrec::llm {

class LayerCache {
 public:
  // Appends k, v [B, KVH, T, hd]; returns the keys and values of all S = past + T positions (views).
  std::pair<at::Tensor, at::Tensor> append(const at::Tensor& k, const at::Tensor& v);
  int64_t length() const { return length_; }

 private:
  at::Tensor keys_, values_;  // [B, KVH, capacity, hd]
  int64_t length_ = 0;
};

class KVCache {
 public:
  explicit KVCache(int64_t num_layers) : layers_(num_layers) {}
  LayerCache& layer(int64_t i) { return layers_.at(i); }
  int64_t length() const { return layers_.empty() ? 0 : layers_.front().length(); }  // past positions

 private:
  std::vector<LayerCache> layers_;
};

}  // namespace lrec::llm
