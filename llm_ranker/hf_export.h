// Writes a Llama model as a Hugging Face checkpoint directory that transformers'
// `LlamaForCausalLM.from_pretrained(dir)` and our `load_llama(dir)` both read:
//   <dir>/config.json         LlamaForCausalLM config (llama_config_to_json)
//   <dir>/model.safetensors   one tensor per parameter under its HF name ("model.embed_tokens.weight",
//                             "model.layers.{i}.self_attn.q_proj.weight", ..., "lm_head.weight" only
//                             when the embeddings are not tied), in the requested dtype
// LoRA layers are exported merged: an unmerged layer's weight is written as W + B A · scaling (summed in
// fp32, rounded once to the dtype) and no lora_* tensor is written, so the result is a plain model.
//
// The directory appears whole or not at all: everything is written into a temporary sibling directory
// that is renamed onto `dir` at the end. An existing `dir` is an error; nothing is ever deleted.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "llm_ranker/llama_config.h"
#include "llm_ranker/llama_model.h"

namespace lrec::llm {

// A transformers-compatible config.json text ("architectures": ["LlamaForCausalLM"], "model_type": "llama",
// "hidden_act": "silu", every field of LlamaConfig, rope_scaling unless its type is "default").
// `torch_dtype` (float32 | float16 | bfloat16) is written instead of cfg.torch_dtype.
// parse_llama_config(llama_config_to_json(cfg, d)) == cfg with torch_dtype = d.
std::string llama_config_to_json(const LlamaConfig& cfg, const std::string& torch_dtype);

// Writes config.json and model.safetensors (in `dtype`: kFloat, kHalf or kBFloat16) as a new directory.
void save_hf_checkpoint(const std::filesystem::path& dir, LlamaForCausalLMImpl& model, at::ScalarType dtype);

// The same two files, written into an existing directory (each atomically); what save_hf_checkpoint
// does inside its temporary directory.
void write_hf_checkpoint_files(const std::filesystem::path& dir, LlamaForCausalLMImpl& model,
                               at::ScalarType dtype);

// The tensors save_hf_checkpoint writes, by HF name, on the CPU in `dtype` (LoRA layers merged).
std::map<std::string, at::Tensor> hf_state_dict(LlamaForCausalLMImpl& model, at::ScalarType dtype);

// Creates `dir` with the content that `fill` writes into a fresh temporary sibling directory, then renames
// it onto `dir` (without replacing anything: a `dir` that exists, before or by the end, is an error naming
// it). The parent directories are created. When `fill` throws, the temporary directory is removed and
// the exception propagates.
void write_new_directory(const std::filesystem::path& dir,
                         const std::function<void(const std::filesystem::path& staging)>& fill);

// "float32", "float16" or "bfloat16" for kFloat, kHalf, kBFloat16; anything else is an error.
std::string hf_dtype_name(at::ScalarType dtype);

}  // namespace lrec::llm
