#include "llm_ranker/llama_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace lrec::llm {
namespace {

using json = nlohmann::json;

// Reads an optional key of `object` into `out`, checking its JSON type; `where` prefixes the key in errors.
template <class T>
void read(const json& object, const std::string& key, T& out, const std::string& source,
          const std::string& where = "") {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return;
  bool ok = false;
  if constexpr (std::is_same_v<T, bool>)
    ok = it->is_boolean();
  else if constexpr (std::is_integral_v<T>)
    ok = it->is_number_integer();
  else if constexpr (std::is_floating_point_v<T>)
    ok = it->is_number();
  else
    ok = it->is_string();
  if (!ok) {
    const char* expected = std::is_same_v<T, bool>       ? "true or false"
                           : std::is_integral_v<T>       ? "an integer"
                           : std::is_floating_point_v<T> ? "a number"
                                                         : "a string";
    fail("{}: key '{}{}' must be {}, found {}.", source, where, key, expected, it->dump());
  }
  out = it->get<T>();
}

void require(const json& object, const std::string& key, int64_t& out, const std::string& source) {
  if (!object.contains(key) || object[key].is_null())
    fail("{}: key '{}' is required for a Llama model.", source, key);
  read(object, key, out, source);
  if (out <= 0) fail("{}: key '{}' must be positive, found {}.", source, key, out);
}

// `rope_scaling` (older configs) or `rope_parameters` (transformers >= 5): {"rope_type" or "type", "factor",
// ...}; rope_parameters may also carry rope_theta.
void read_rope(const json& root, LlamaConfig& cfg, const std::string& source) {
  const char* key = root.contains("rope_parameters") && !root["rope_parameters"].is_null() ? "rope_parameters"
                                                                                           : "rope_scaling";
  if (!root.contains(key) || root[key].is_null()) return;
  const json& rope = root[key];
  if (!rope.is_object()) fail("{}: key '{}' must be an object or null, found {}.", source, key, rope.dump());
  const std::string where = std::string(key) + ".";
  RopeScaling& s = cfg.rope_scaling;
  read(rope, "type", s.type, source, where);
  read(rope, "rope_type", s.type, source, where);
  read(rope, "rope_theta", cfg.rope_theta, source, where);
  double partial = 1.0;
  read(rope, "partial_rotary_factor", partial, source, where);
  if (partial != 1.0)
    fail("{}: key '{}partial_rotary_factor' = {} is not supported (only 1.0).", source, where, partial);
  const auto need = [&](const char* name, double& out) {
    if (!rope.contains(name))
      fail("{}: key '{}{}' is required for rope type '{}'.", source, where, name, s.type);
    read(rope, name, out, source, where);
  };
  if (s.type == "default") return;
  if (s.type == "linear" || s.type == "dynamic") {
    need("factor", s.factor);
  } else if (s.type == "llama3") {
    need("factor", s.factor);
    need("low_freq_factor", s.low_freq_factor);
    need("high_freq_factor", s.high_freq_factor);
    s.original_max_position_embeddings = cfg.max_position_embeddings;
    read(rope, "original_max_position_embeddings", s.original_max_position_embeddings, source, where);
    if (s.high_freq_factor <= s.low_freq_factor) {
      fail("{}: key '{}high_freq_factor' ({}) must exceed low_freq_factor ({}).", source, where,
           s.high_freq_factor, s.low_freq_factor);
    }
  } else {
    fail("{}: key '{}rope_type' = '{}' is not supported (supported: default, linear, dynamic, llama3).",
         source, where, s.type);
  }
  if (s.factor <= 0) fail("{}: key '{}factor' must be positive, found {}.", source, where, s.factor);
}

}  // namespace

LlamaConfig parse_llama_config(const std::string& json_text, const std::string& source) {
  const json root = json::parse(json_text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) fail("{}: not a JSON object.", source);
  LlamaConfig cfg;
  std::string model_type = "llama", hidden_act = "silu";
  read(root, "model_type", model_type, source);
  if (model_type != "llama")
    fail("{}: key 'model_type' = '{}' is not supported (only 'llama').", source, model_type);
  read(root, "hidden_act", hidden_act, source);
  if (hidden_act != "silu")
    fail("{}: key 'hidden_act' = '{}' is not supported (Llama uses 'silu').", source, hidden_act);
  require(root, "hidden_size", cfg.hidden_size, source);
  require(root, "intermediate_size", cfg.intermediate_size, source);
  require(root, "num_hidden_layers", cfg.num_hidden_layers, source);
  require(root, "num_attention_heads", cfg.num_attention_heads, source);
  require(root, "vocab_size", cfg.vocab_size, source);
  cfg.num_key_value_heads = cfg.num_attention_heads;
  read(root, "num_key_value_heads", cfg.num_key_value_heads, source);
  if (cfg.num_key_value_heads <= 0 || cfg.num_attention_heads % cfg.num_key_value_heads != 0) {
    fail("{}: key 'num_key_value_heads' = {} must divide num_attention_heads = {}.", source,
         cfg.num_key_value_heads, cfg.num_attention_heads);
  }
  cfg.head_dim = cfg.hidden_size / cfg.num_attention_heads;
  read(root, "head_dim", cfg.head_dim, source);
  if (cfg.head_dim <= 0 || cfg.head_dim % 2 != 0) {
    fail("{}: key 'head_dim' = {} must be a positive even number (RoPE rotates pairs).", source,
         cfg.head_dim);
  }
  read(root, "max_position_embeddings", cfg.max_position_embeddings, source);
  read(root, "rms_norm_eps", cfg.rms_norm_eps, source);
  read(root, "rope_theta", cfg.rope_theta, source);
  read_rope(root, cfg, source);
  read(root, "attention_bias", cfg.attention_bias, source);
  read(root, "mlp_bias", cfg.mlp_bias, source);
  read(root, "tie_word_embeddings", cfg.tie_word_embeddings, source);
  const char* dtype_key = root.contains("dtype") ? "dtype" : "torch_dtype";
  read(root, dtype_key, cfg.torch_dtype, source);
  if (cfg.torch_dtype != "float32" && cfg.torch_dtype != "float16" && cfg.torch_dtype != "bfloat16") {
    fail("{}: key '{}' = '{}' is not supported (float32, float16 or bfloat16).", source, dtype_key,
         cfg.torch_dtype);
  }
  read(root, "bos_token_id", cfg.bos_token_id, source);
  if (root.contains("eos_token_id") && root["eos_token_id"].is_array()) {
    cfg.eos_token_ids.clear();
    for (const json& id : root["eos_token_id"]) {
      if (!id.is_number_integer())
        fail("{}: key 'eos_token_id' must hold integers, found {}.", source, id.dump());
      cfg.eos_token_ids.push_back(id.get<int64_t>());
    }
  } else {
    read(root, "eos_token_id", cfg.eos_token_ids.front(), source);
  }
  return cfg;
}

LlamaConfig load_llama_config(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / "config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot read it. Point --model to a Hugging Face model directory.", path.string());
  std::stringstream text;
  text << in.rdbuf();
  return parse_llama_config(text.str(), path.string());
}

}  // namespace lrec::llm
