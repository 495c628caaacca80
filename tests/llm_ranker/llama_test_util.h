// Helpers of the Llama tests: tiny configs, random models, the Python reference scripts.
#pragma once

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "llm_ranker/llama_model.h"
#include "tests/common/test_util.h"

namespace lrec::llm::testing {

inline LlamaConfig tiny_config(int64_t heads = 4, int64_t kv_heads = 2, bool tied = false) {
  LlamaConfig cfg;
  cfg.hidden_size = 32;
  cfg.intermediate_size = 48;
  cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = heads;
  cfg.num_key_value_heads = kv_heads;
  cfg.head_dim = 32 / heads;
  cfg.vocab_size = 64;
  cfg.tie_word_embeddings = tied;
  return cfg;
}

inline LlamaForCausalLM random_model(const LlamaConfig& cfg, uint64_t seed,
                                     at::ScalarType dtype = at::kFloat) {
  at::manual_seed(seed);
  LlamaForCausalLM model(cfg, at::TensorOptions().dtype(dtype));
  model->init_random(0.2);
  model->eval();
  return model;
}

using lrec::testing::run_python;

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace lrec::llm::testing
