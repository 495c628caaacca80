#include "llm_ranker/hf_export.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "llm_ranker/lora_linear.h"

namespace lrec::llm {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

std::string hf_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return "float32";
    case at::kHalf:
      return "float16";
    case at::kBFloat16:
      return "bfloat16";
    default:
      fail("cannot export a Llama checkpoint in {}: use float32, float16 or bfloat16.", c10::toString(dtype));
  }
}

std::string llama_config_to_json(const LlamaConfig& cfg, const std::string& torch_dtype) {
  if (torch_dtype != "float32" && torch_dtype != "float16" && torch_dtype != "bfloat16") {
    fail("config.json: torch_dtype '{}' is not one of float32, float16, bfloat16.", torch_dtype);
  }
  ordered_json j;
  j["architectures"] = {"LlamaForCausalLM"};
  j["model_type"] = "llama";
  j["hidden_act"] = "silu";
  j["hidden_size"] = cfg.hidden_size;
  j["intermediate_size"] = cfg.intermediate_size;
  j["num_hidden_layers"] = cfg.num_hidden_layers;
  j["num_attention_heads"] = cfg.num_attention_heads;
  j["num_key_value_heads"] = cfg.num_key_value_heads;
  j["head_dim"] = cfg.head_dim;
  j["vocab_size"] = cfg.vocab_size;
  j["max_position_embeddings"] = cfg.max_position_embeddings;
  j["rms_norm_eps"] = cfg.rms_norm_eps;
  j["rope_theta"] = cfg.rope_theta;
  const RopeScaling& rope = cfg.rope_scaling;
  if (rope.type == "default") {
    j["rope_scaling"] = nullptr;
  } else if (rope.type == "linear" || rope.type == "dynamic") {
    j["rope_scaling"] = {{"rope_type", rope.type}, {"factor", rope.factor}};
  } else if (rope.type == "llama3") {
    j["rope_scaling"] = {{"rope_type", rope.type},
                         {"factor", rope.factor},
                         {"low_freq_factor", rope.low_freq_factor},
                         {"high_freq_factor", rope.high_freq_factor},
                         {"original_max_position_embeddings", rope.original_max_position_embeddings}};
  } else {
    fail("config.json: rope type '{}' cannot be exported (default, linear, dynamic or llama3).", rope.type);
  }
  j["attention_bias"] = cfg.attention_bias;
  j["mlp_bias"] = cfg.mlp_bias;
  j["tie_word_embeddings"] = cfg.tie_word_embeddings;
  j["torch_dtype"] = torch_dtype;
  j["bos_token_id"] = cfg.bos_token_id;
  if (cfg.eos_token_ids.size() == 1) {
    j["eos_token_id"] = cfg.eos_token_ids.front();
  } else {
    j["eos_token_id"] = cfg.eos_token_ids;
  }
  j["use_cache"] = true;
  return j.dump(2) + "\n";
}

std::map<std::string, at::Tensor> hf_state_dict(LlamaForCausalLMImpl& model, at::ScalarType dtype) {
  hf_dtype_name(dtype);  // validates
  c10::NoGradGuard no_grad;
  // The adapters' own tensors are skipped; an unmerged layer's weight is replaced by the merged one.
  std::set<std::string> adapter_tensors;
  std::map<std::string, const LoraLinearImpl*> lora_weights;  // "<layer>.weight" -> layer
  for (const auto& [name, layer] : lora_layers(model)) {
    for (const auto& p : layer->named_parameters()) {
      if (p.key().starts_with("lora_")) adapter_tensors.insert(name + "." + p.key());
    }
    lora_weights[name + ".weight"] = layer;
  }
  std::map<std::string, at::Tensor> out;
  for (const auto& p : model.named_parameters()) {
    const std::string& name = p.key();
    if (adapter_tensors.count(name)) continue;
    if (name.find("lora_") != std::string::npos) {
      fail("cannot export '{}': an adapter tensor outside the model's LoRA layers.", name);
    }
    at::Tensor tensor = p.value().detach();
    const auto lora = lora_weights.find(name);
    if (lora != lora_weights.end() && !lora->second->merged()) tensor = lora->second->merged_weight();
    out[name] = tensor.to(at::kCPU, dtype).contiguous();
  }
  return out;
}

void write_hf_checkpoint_files(const fs::path& dir, LlamaForCausalLMImpl& model, at::ScalarType dtype) {
  const std::map<std::string, at::Tensor> tensors = hf_state_dict(model, dtype);
  write_file_atomic(dir / "config.json", llama_config_to_json(model.config(), hf_dtype_name(dtype)));
  // transformers reads the "format" metadata of a safetensors checkpoint ("pt" = PyTorch tensors).
  safetensors::save(dir / "model.safetensors", tensors, {{"format", "pt"}});
}

void save_hf_checkpoint(const fs::path& dir, LlamaForCausalLMImpl& model, at::ScalarType dtype) {
  hf_dtype_name(dtype);  // fail before creating anything
  write_new_directory(dir,
                      [&](const fs::path& staging) { write_hf_checkpoint_files(staging, model, dtype); });
}

namespace {

[[noreturn]] void fail_exists(const fs::path& dir) {
  fail("{} already exists; remove it or choose another output path (nothing was written or deleted).",
       dir.string());
}

// Removes the temporary directory unless it was renamed into place.
struct StagingGuard {
  fs::path path;
  bool armed = true;
  ~StagingGuard() {
    if (!armed) return;
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

}  // namespace

void write_new_directory(const fs::path& dir, const std::function<void(const fs::path& staging)>& fill) {
  fs::path target = fs::absolute(dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "out/" -> "out"
  const fs::path parent = target.parent_path();
  if (fs::exists(fs::symlink_status(target))) fail_exists(dir);
  fs::create_directories(parent);

  // A fresh sibling, so the final rename stays on one file system. create_directory (not mkdtemp) keeps the
  // umask's permissions, which the final directory inherits.
  std::random_device entropy;
  fs::path staging;
  for (int attempt = 0;; ++attempt) {
    staging = parent / fmt::format(".{}.tmp.{}.{:08x}", target.filename().string(), ::getpid(), entropy());
    if (fs::create_directory(staging)) break;
    if (attempt == 100) fail("cannot create a temporary directory beside {}.", target.string());
  }
  StagingGuard guard{staging};
  fill(staging);
  sync_directory(staging);

  // RENAME_NOREPLACE: never replaces a directory that appeared meanwhile (plain rename would replace an
  // empty one). File systems without it answer EINVAL: check, then rename.
  if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
    const int error = errno;
    if (error == EEXIST || error == ENOTEMPTY) fail_exists(dir);
    if (error != EINVAL && error != ENOSYS) {
      fail("cannot rename {} to {}: {}.", staging.string(), target.string(), std::strerror(error));
    }
    if (fs::exists(fs::symlink_status(target))) fail_exists(dir);
    std::error_code ec;
    fs::rename(staging, target, ec);
    if (ec) fail("cannot rename {} to {}: {}.", staging.string(), target.string(), ec.message());
  }
  guard.armed = false;
  sync_directory(parent);
}

}  // namespace lrec::llm
