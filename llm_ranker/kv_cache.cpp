#include "llm_ranker/kv_cache.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace lrec::llm {

std::pair<at::Tensor, at::Tensor> LayerCache::append(const at::Tensor& k, const at::Tensor& v) {
  const int64_t t = k.size(2), needed = length_ + t;
  if (keys_.defined() &&
      (k.size(0) != keys_.size(0) || k.size(1) != keys_.size(1) || k.size(3) != keys_.size(3))) {
    fail("KV cache: keys {} do not match the cached batch/heads/head_dim {}.", c10::str(k.sizes()),
         c10::str(keys_.sizes()));
  }
  if (!keys_.defined() || needed > keys_.size(2)) {
    const int64_t capacity = std::max<int64_t>(needed, keys_.defined() ? 2 * keys_.size(2) : 0);
    at::Tensor keys = k.new_empty({k.size(0), k.size(1), capacity, k.size(3)});
    at::Tensor values = v.new_empty({v.size(0), v.size(1), capacity, v.size(3)});
    if (length_ > 0) {
      keys.narrow(2, 0, length_).copy_(keys_.narrow(2, 0, length_));
      values.narrow(2, 0, length_).copy_(values_.narrow(2, 0, length_));
    }
    keys_ = keys;
    values_ = values;
  }
  keys_.narrow(2, length_, t).copy_(k);
  values_.narrow(2, length_, t).copy_(v);
  length_ = needed;
  return {keys_.narrow(2, 0, length_), values_.narrow(2, 0, length_)};
}

}  // namespace lrec::llm
