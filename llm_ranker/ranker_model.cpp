#include "llm_ranker/ranker_model.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "llm_ranker/activation_checkpoint.h"
#include "llm_ranker/llama_loader.h"
#include "llm_ranker/peft_io.h"

namespace lrec::llm {

namespace fs = std::filesystem;

RankerModel load_ranker_model(const RankerModelConfig& cfg, const LoraConfig& lora) {
  if (!fs::is_directory(cfg.path)) {
    fail(
        "config key 'model.path' is '{}', which is not a directory. Point it at a Hugging Face Llama "
        "directory (config.json, *.safetensors), e.g. one written by make_tiny_llama.",
        cfg.path);
  }
  const bool full = cfg.mode == "full";
  if (full && cfg.dtype != "float32") {
    fail(
        "model.mode=full trains every weight, which needs model.dtype=float32 (bf16 weights cannot take "
        "updates of lr 1e-4 size). Set model.dtype=float32, or use model.mode=lora.");
  }
  if (full && !cfg.adapter.empty()) fail("model.adapter is set, but model.mode=full has no adapters.");
  at::Device device(at::kCPU);
  try {
    device = at::Device(cfg.device);
  } catch (const std::exception&) {
    fail("config key 'model.device' is '{}'; use cpu, cuda or cuda:N.", cfg.device);
  }

  RankerModel out;
  out.model = load_llama(cfg.path, parse_dtype(cfg.dtype), device);
  out.tokenizer = Tokenizer::load(cfg.tokenizer.empty() ? cfg.path : cfg.tokenizer);
  if (out.tokenizer.vocab_size() > out.model->config().vocab_size) {
    fail(
        "the tokenizer has {} tokens but the model's vocabulary only {}. Do model.tokenizer and model.path "
        "belong "
        "together?",
        out.tokenizer.vocab_size(), out.model->config().vocab_size);
  }
  out.pad_id = out.tokenizer.pad_id() >= 0 ? out.tokenizer.pad_id() : out.tokenizer.eos_id();
  if (full) {
    for (const auto& p : out.model->named_parameters()) out.trainable.emplace_back(p.key(), p.value());
    std::sort(out.trainable.begin(), out.trainable.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
  } else if (!cfg.adapter.empty()) {
    PeftAdapter adapter = load_peft_adapter(cfg.adapter, out.model);
    out.lora = adapter.config;
    out.trainable = std::move(adapter.parameters);
    log::info("LoRA adapter loaded from {} (r {}, alpha {}, targets {})", cfg.adapter, out.lora.r,
              out.lora.alpha, fmt::join(out.lora.target_modules, ","));
  } else {
    lora.validate();
    out.lora = lora;
    out.trainable = apply_lora(out.model, lora);
  }
  if (cfg.gradient_checkpointing) out.model->model->layer_call = checkpointed_layer_call();
  int64_t trainable = 0, total = 0;
  for (const auto& [name, p] : out.trainable) trainable += p.numel();
  for (const auto& p : out.model->parameters()) total += p.numel();
  if (full) trainable = total;
  log::info("model {}: {} parameters ({}), {} trainable ({:.3f}%), {}", cfg.path, total, cfg.dtype, trainable,
            100.0 * static_cast<double>(trainable) / static_cast<double>(total),
            full ? "full fine-tune" : "LoRA");
  return out;
}

}  // namespace lrec::llm
