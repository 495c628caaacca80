// LoRA adapters in Hugging Face PEFT's layout, so `PeftModel.from_pretrained(base, dir)` loads our export
// and we load PEFT's:
//   <dir>/adapter_config.json        peft_type LORA, task_type CAUSAL_LM, r, lora_alpha, lora_dropout,
//                                    target_modules, bias "none", use_rslora, base_model_name_or_path
//   <dir>/adapter_model.safetensors  "base_model.model.<our parameter name>", e.g.
//                                    base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight [r, in]
//                                    base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight [out, r]
#pragma once

#include <filesystem>
#include <string>

#include "core/checkpoint.h"
#include "llm_ranker/llama_model.h"
#include "llm_ranker/lora_linear.h"

namespace lrec::llm {

// Writes both files (each atomically) into `dir`, creating it. `model` must carry LoRA layers made with
// `cfg` (apply_lora).
void save_peft_adapter(const std::filesystem::path& dir, LlamaForCausalLMImpl& model, const LoraConfig& cfg,
                       const std::string& base_model_name_or_path);

// Reads `<dir>/adapter_config.json`, applies LoRA to `model` (which must not have adapters yet) with its
// settings, and copies every adapter tensor in (as fp32). Returns the config and the adapter parameters
// (name-sorted, requiring grad). Settings we cannot honour (bias other than "none", DoRA, per-layer
// rank patterns, ...), missing, unexpected or misshapen tensors are errors naming the file and key.
struct PeftAdapter {
  LoraConfig config;
  NamedParameters parameters;
};
PeftAdapter load_peft_adapter(const std::filesystem::path& dir, LlamaForCausalLM& model);

}  // namespace lrec::llm
