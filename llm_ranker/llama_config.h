// The Llama architecture hyper-parameters, read from a Hugging Face `config.json`.
//
// Keys (defaults as in transformers' LlamaConfig): hidden_size, intermediate_size, num_hidden_layers,
// num_attention_heads, num_key_value_heads (= heads: MHA; 1: MQA; else GQA), head_dim (= hidden / heads),
// rms_norm_eps, vocab_size, max_position_embeddings, rope_theta, rope_scaling or its newer spelling
// rope_parameters, attention_bias, mlp_bias, tie_word_embeddings, torch_dtype (or dtype), bos/eos_token_id.
// Other keys are ignored; a key whose value we cannot honour (hidden_act other than silu, a RoPE type
// other than default/linear/dynamic/llama3, ...) is an error naming the key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lrec::llm {

// RoPE frequency scaling (transformers' modeling_rope_utils):
//   linear:  inv_freq / factor
//   dynamic: NTK-aware base growth once a forward reaches past max_position_embeddings
//   llama3:  low frequencies / factor, high ones kept, a smooth ramp in between
struct RopeScaling {
  std::string type = "default";  // default | linear | dynamic | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;                  // llama3
  double high_freq_factor = 4.0;                 // llama3
  int64_t original_max_position_embeddings = 0;  // llama3
};

struct LlamaConfig {
  int64_t hidden_size = 0;        // D
  int64_t intermediate_size = 0;  // F (SwiGLU inner size)
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;  // H
  int64_t num_key_value_heads = 0;  // KVH, divides H
  int64_t head_dim = 0;             // hd (often D / H)
  int64_t vocab_size = 0;           // V
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool attention_bias = false;
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  std::string torch_dtype = "float32";  // float32 | float16 | bfloat16: the dtype the weights were saved in
  int64_t bos_token_id = 1;
  std::vector<int64_t> eos_token_ids = {2};  // Llama 3 lists several
};

// Parses the text of a config.json; `source` names it in error messages.
LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source);
// Reads `<dir>/config.json`.
LlamaConfig load_llama_config(const std::filesystem::path& dir);

}  // namespace lrec::llm
