// Loads a Hugging Face Llama checkpoint directory: config.json plus model.safetensors or the shards of
// model.safetensors.index.json, F32/F16/BF16 on disk, cast to the compute dtype on load.
//
// The parameters are allocated once, in the compute dtype on the target device, and each tensor is
// copied from the memory-mapped file and its pages dropped right after, so the peak resident memory is
// the model in its compute dtype plus one tensor as stored (no second full copy).
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>

#include "core/safetensors.h"
#include "llm_ranker/llama_model.h"

namespace lrec::llm {

LlamaForCausalLM load_llama(const std::filesystem::path& dir, at::ScalarType dtype,
                            at::Device device = at::kCPU);

// Copies every parameter of `model` from the checkpoint tensor of the same name, casting. A missing or
// misshapen tensor is an error naming the tensor, the expected shape and the found shape. Checkpoint
// tensors that the model has no parameter for are listed in a warning (the rotary inv_freq buffers of
// old checkpoints and a tied checkpoint's lm_head.weight are expected and skipped silently).
void load_weights(LlamaForCausalLMImpl& model, const safetensors::Checkpoint& checkpoint);

at::ScalarType parse_dtype(const std::string& name);  // fp32 | float32 | bf16 | bfloat16 | fp16 | float16

}  // namespace lrec::llm
