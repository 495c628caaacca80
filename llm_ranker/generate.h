// Greedy decoding with or without the KV cache (both give the same tokens; a test checks it).
#pragma once

#include <ATen/core/Tensor.h>

#include "llm_ranker/llama_model.h"

namespace lrec::llm {

struct GenerateOptions {
  int64_t max_new_tokens = 16;
  bool use_cache = true;    // false: every step reruns the whole sequence
  int64_t stop_token = -1;  // >= 0: stop once every row has produced it (finished rows repeat it)
};

// input_ids [B, T], left padded where attention_mask [B, T] (undefined: no padding) is 0
// -> the generated ids [B, N], N <= max_new_tokens.
at::Tensor generate_greedy(LlamaForCausalLMImpl& model, const at::Tensor& input_ids,
                           const at::Tensor& attention_mask, const GenerateOptions& opts);

}  // namespace lrec::llm
