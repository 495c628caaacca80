#include "llm_ranker/llama_loader.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <set>

#include "core/error.h"
#include "core/log.h"

namespace lrec::llm {

void load_weights(LlamaForCausalLMImpl& model, const safetensors::Checkpoint& checkpoint) {
  c10::NoGradGuard no_grad;
  std::set<std::string> unused;
  for (const std::string& name : checkpoint.names()) unused.insert(name);
  for (auto& p : model.named_parameters()) {
    const std::string& name = p.key();
    at::Tensor& param = p.value();
    if (!checkpoint.contains(name)) {
      fail("checkpoint tensor '{}' is missing: expected shape {}, found none.", name,
           c10::str(param.sizes()));
    }
    const safetensors::TensorInfo& info = checkpoint.info(name);
    const auto dtype = info.dtype;
    if (dtype != safetensors::DType::kF32 && dtype != safetensors::DType::kF16 &&
        dtype != safetensors::DType::kBF16) {
      fail("checkpoint tensor '{}' has dtype {}; expected F32, F16 or BF16.", name,
           safetensors::dtype_name(dtype));
    }
    if (c10::IntArrayRef(info.shape) != param.sizes()) {
      fail("checkpoint tensor '{}' has the wrong shape: expected {}, found {}.", name,
           c10::str(param.sizes()), c10::str(c10::IntArrayRef(info.shape)));
    }
    param.copy_(checkpoint.tensor(name));
    checkpoint.release(name);
    unused.erase(name);
  }
  std::vector<std::string> unexpected;
  for (const std::string& name : unused) {
    const bool tied_head = name == "lm_head.weight" && model.config().tie_word_embeddings;
    if (!tied_head && !name.ends_with("rotary_emb.inv_freq")) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    log::warn("{} checkpoint tensor(s) not used by the Llama model, e.g. '{}'.", unexpected.size(),
              unexpected.front());
  }
}

LlamaForCausalLM load_llama(const std::filesystem::path& dir, at::ScalarType dtype, at::Device device) {
  const LlamaConfig cfg = load_llama_config(dir);
  const safetensors::Checkpoint checkpoint = safetensors::Checkpoint::open(dir);
  LlamaForCausalLM model(cfg, at::TensorOptions().dtype(dtype).device(device));
  load_weights(*model, checkpoint);
  model->eval();
  return model;
}

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "float32") return at::kFloat;
  if (name == "bf16" || name == "bfloat16") return at::kBFloat16;
  if (name == "fp16" || name == "float16") return at::kHalf;
  fail("unknown dtype '{}': use fp32, bf16 or fp16.", name);
}

}  // namespace lrec::llm
