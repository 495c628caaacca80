// The ranker's model as both finetune_ranker and rank set it up: a Hugging Face Llama checkpoint, its
// tokenizer, and the trainable part (LoRA adapters, fresh or loaded from a PEFT directory, or every
// weight for a full fine-tune).
#pragma once

#include <string>

#include "core/checkpoint.h"
#include "llm_ranker/llama_model.h"
#include "llm_ranker/lora_linear.h"
#include "llm_ranker/tokenizer.h"

namespace lrec::llm {

struct RankerModelConfig {
  std::string path;                     // Hugging Face model directory (config.json, *.safetensors)
  std::string tokenizer;                // tokenizer.model or its directory; "": `path`
  std::string adapter;                  // a PEFT LoRA adapter directory to start from; "": fresh adapters
  std::string dtype = "bfloat16";       // compute dtype of the frozen base: bfloat16 or float32
  std::string mode = "lora";            // lora | full (every weight trains; needs float32)
  bool gradient_checkpointing = false;  // recompute decoder layers in backward
  std::string device = "cpu";           // cpu | cuda | cuda:N

  template <class V>
  void visit(V& v) {
    v.required("path", path);
    v("tokenizer", tokenizer);
    v("adapter", adapter);
    v("dtype", dtype, {"bfloat16", "float32"});
    v("mode", mode, {"lora", "full"});
    v("gradient_checkpointing", gradient_checkpointing);
    v("device", device);
  }
};

struct RankerModel {
  LlamaForCausalLM model{nullptr};
  Tokenizer tokenizer;
  LoraConfig lora;            // the adapters' settings (from the adapter's config when loaded)
  NamedParameters trainable;  // name-sorted; adapters (fp32) in lora mode, every weight in full mode
  int64_t pad_id = 0;         // the tokenizer's pad, else EOS (padding is masked out either way)
};

// Loads and prepares everything; errors name the config key or file at fault.
RankerModel load_ranker_model(const RankerModelConfig& cfg, const LoraConfig& lora);

}  // namespace lrec::llm
