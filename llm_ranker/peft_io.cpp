#include "llm_ranker/peft_io.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/ranges.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/safetensors.h"

namespace lrec::llm {

namespace {

using json = nlohmann::json;

constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";
const std::string kPrefix = "base_model.model.";  // PEFT's PeftModelForCausalLM -> LoraModel -> our model

// The adapter tensors a model gets for `cfg`, by PEFT name, with their shapes.
std::map<std::string, std::vector<int64_t>> expected_tensors(LlamaForCausalLMImpl& model,
                                                             const LoraConfig& cfg) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const Projection& proj : model.projections()) {
    if (std::find(cfg.target_modules.begin(), cfg.target_modules.end(), proj.kind) ==
        cfg.target_modules.end()) {
      continue;
    }
    const at::Tensor& w = (*proj.slot)->weight;  // [out, in]
    out[kPrefix + proj.name + ".lora_A.weight"] = {cfg.r, w.size(1)};
    out[kPrefix + proj.name + ".lora_B.weight"] = {w.size(0), cfg.r};
  }
  return out;
}

// Fails unless `key` is absent, null, or equal to `allowed` (a setting of PEFT's that we do not implement).
void require_default(const json& root, const std::string& key, const json& allowed, const std::string& file,
                     const std::string& why) {
  if (!root.contains(key) || root[key].is_null() || root[key] == allowed) return;
  fail("{}: {} = {} is not supported ({}).", file, key, root[key].dump(), why);
}

LoraConfig parse_config(const std::filesystem::path& path) {
  const std::string file = path.string();
  if (!std::filesystem::exists(path)) {
    fail("{}: not found; a PEFT adapter directory holds {} and {}.", file, kConfigFile, kWeightsFile);
  }
  const json root = json::parse(read_file(path), nullptr, false);
  if (root.is_discarded() || !root.is_object()) fail("{}: not a JSON object.", file);
  const auto field = [&](const std::string& key, auto check, const char* expected) -> const json& {
    if (!root.contains(key)) fail("{}: '{}' is missing; expected {}.", file, key, expected);
    if (!(root[key].*check)()) fail("{}: '{}' is {}; expected {}.", file, key, root[key].dump(), expected);
    return root[key];
  };
  if (field("peft_type", &json::is_string, "\"LORA\"") != "LORA") {
    fail("{}: peft_type is {}; only LORA adapters are supported.", file, root["peft_type"].dump());
  }
  require_default(root, "task_type", "CAUSAL_LM", file, "the model is a causal LM");
  require_default(root, "bias", "none", file, "only bias \"none\" is implemented");
  require_default(root, "use_dora", false, file, "DoRA is not implemented");
  require_default(root, "fan_in_fan_out", false, file, "Llama projections are [out, in]");
  require_default(root, "rank_pattern", json::object(), file, "one r for every layer");
  require_default(root, "alpha_pattern", json::object(), file, "one lora_alpha for every layer");
  require_default(root, "modules_to_save", json::array(), file, "only LoRA tensors are loaded");
  require_default(root, "layers_to_transform", json(), file, "LoRA is applied to every layer");

  LoraConfig cfg;
  cfg.r = field("r", &json::is_number_integer, "a positive integer").get<int64_t>();
  cfg.alpha = field("lora_alpha", &json::is_number, "a number").get<double>();
  if (root.contains("lora_dropout"))
    cfg.dropout = field("lora_dropout", &json::is_number, "a number").get<double>();
  if (root.contains("use_rslora"))
    cfg.use_rslora = field("use_rslora", &json::is_boolean, "true or false").get<bool>();
  const json& targets = field("target_modules", &json::is_array,
                              "a list of module names (a regular expression is not supported)");
  cfg.target_modules.clear();
  for (const json& t : targets) {
    if (!t.is_string()) fail("{}: target_modules holds {}; expected module names.", file, t.dump());
    cfg.target_modules.push_back(t.get<std::string>());
  }
  try {
    cfg.validate();
  } catch (const Error& e) {
    fail("{}: {}", file, e.what());
  }
  return cfg;
}

}  // namespace

void save_peft_adapter(const std::filesystem::path& dir, LlamaForCausalLMImpl& model, const LoraConfig& cfg,
                       const std::string& base_model_name_or_path) {
  cfg.validate();
  const auto layers = lora_layers(model);
  if (layers.empty()) fail("save_peft_adapter: the model has no LoRA layers (call apply_lora first).");
  const auto expected = expected_tensors(model, cfg);
  std::map<std::string, at::Tensor> tensors;
  for (const auto& [name, layer] : layers) {
    tensors[kPrefix + name + ".lora_A.weight"] = layer->lora_A->weight.detach();
    tensors[kPrefix + name + ".lora_B.weight"] = layer->lora_B->weight.detach();
    if (layer->scaling() != cfg.scaling()) {
      fail("save_peft_adapter: layer '{}' has scaling {}, but the config gives {}.", name, layer->scaling(),
           cfg.scaling());
    }
  }
  for (const auto& [key, shape] : expected) {
    const auto it = tensors.find(key);
    if (it == tensors.end() || it->second.sizes() != c10::IntArrayRef(shape)) {
      fail(
          "save_peft_adapter: the model's LoRA layers do not match the config (r = {}, target_modules = "
          "{}) at '{}'.",
          cfg.r, fmt::join(cfg.target_modules, ","), key);
    }
  }
  if (tensors.size() != expected.size()) {
    fail("save_peft_adapter: the model has LoRA layers outside target_modules = {}.",
         fmt::join(cfg.target_modules, ","));
  }
  const json config = {{"peft_type", "LORA"},
                       {"task_type", "CAUSAL_LM"},
                       {"r", cfg.r},
                       {"lora_alpha", cfg.alpha},
                       {"lora_dropout", cfg.dropout},
                       {"target_modules", cfg.target_modules},
                       {"bias", "none"},
                       {"use_rslora", cfg.use_rslora},
                       {"use_dora", false},
                       {"fan_in_fan_out", false},
                       {"init_lora_weights", true},
                       {"inference_mode", true},
                       {"modules_to_save", nullptr},
                       {"base_model_name_or_path", base_model_name_or_path}};
  std::filesystem::create_directories(dir);
  safetensors::save(dir / kWeightsFile, tensors, {{"format", "pt"}});
  write_file_atomic(dir / kConfigFile, config.dump(2) + "\n");
}

PeftAdapter load_peft_adapter(const std::filesystem::path& dir, LlamaForCausalLM& model) {
  if (!lora_layers(*model).empty()) fail("load_peft_adapter: the model already has LoRA adapters.");
  PeftAdapter adapter;
  adapter.config = parse_config(dir / kConfigFile);
  const auto file = safetensors::File::open(dir / kWeightsFile);
  const std::string name = file->path().string();
  // Everything is checked before the model changes.
  const auto expected = expected_tensors(*model, adapter.config);
  for (const auto& [key, shape] : expected) {
    const safetensors::TensorInfo* info = file->find(key);
    if (info == nullptr)
      fail("{}: tensor '{}' is missing (expected shape {}).", name, key, c10::str(c10::IntArrayRef(shape)));
    if (info->dtype != safetensors::DType::kF32 && info->dtype != safetensors::DType::kF16 &&
        info->dtype != safetensors::DType::kBF16) {
      fail("{}: tensor '{}' has dtype {}; expected F32, F16 or BF16.", name, key,
           safetensors::dtype_name(info->dtype));
    }
    if (info->shape != shape) {
      fail("{}: tensor '{}' has shape {}; expected {} (r = {}).", name, key,
           c10::str(c10::IntArrayRef(info->shape)), c10::str(c10::IntArrayRef(shape)), adapter.config.r);
    }
  }
  for (const safetensors::TensorInfo& info : file->tensors()) {
    if (!expected.count(info.name)) {
      fail("{}: unexpected tensor '{}': not a LoRA A/B weight of target_modules = {}.", name, info.name,
           fmt::join(adapter.config.target_modules, ","));
    }
  }
  adapter.parameters = apply_lora(model, adapter.config);
  c10::NoGradGuard no_grad;
  for (auto& [param_name, param] : adapter.parameters) param.copy_(file->tensor(kPrefix + param_name));
  return adapter;
}

}  // namespace lrec::llm
