// Llama (Touvron et al. 2023) as transformers' LlamaForCausalLM, with the same module names, so
// `named_parameters()` are the Hugging Face tensor names ("model.layers.0.self_attn.q_proj.weight"):
//   h = embed_tokens[ids]                                    [B, T, D]
//   per decoder layer:  h = h + self_attn(input_layernorm(h))
//                       h = h + mlp(post_attention_layernorm(h))
//   logits = lm_head(norm(h))    lm_head = embed_tokensᵀ when tie_word_embeddings   [B, T, V]
// Activations stay in the parameters' dtype (fp32 or bf16) except RMSNorm and RoPE angles (fp32).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "llm_ranker/kv_cache.h"
#include "llm_ranker/linear.h"
#include "llm_ranker/llama_attention.h"
#include "llm_ranker/llama_config.h"
#include "llm_ranker/llama_mlp.h"
#include "llm_ranker/rms_norm.h"
#include "llm_ranker/rotary.h"

namespace lrec::llm {

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  LlamaDecoderLayerImpl(const LlamaConfig& cfg, const at::TensorOptions& options);
  at::Tensor forward(const at::Tensor& h, const LayerInputs& in, LayerCache* cache = nullptr);  // [B, T, D]

  RMSNorm input_layernorm{nullptr};
  LlamaAttention self_attn{nullptr};
  RMSNorm post_attention_layernorm{nullptr};
  LlamaMLP mlp{nullptr};
};
TORCH_MODULE(LlamaDecoderLayer);

struct ForwardOptions {
  // [B, S] with S = cache length + T: 1 = token, 0 = padding (left padding: every row ends at T - 1).
  // Undefined: no padding.
  at::Tensor attention_mask = {};
  // [B, T]. Undefined: the number of tokens before each position (cumsum(attention_mask) - 1), i.e.
  // left padding does not shift positions; without a mask, cache length + [0, T).
  at::Tensor position_ids = {};
  KVCache* cache = nullptr;  // appended to
};

// Runs one decoder layer. The default calls layer.forward; the ranker wraps it (gradient checkpointing).
using LayerCall = std::function<at::Tensor(LlamaDecoderLayerImpl& layer, const at::Tensor& h,
                                           const LayerInputs& in, LayerCache* cache)>;

class LlamaModelImpl : public torch::nn::Module {
 public:
  LlamaModelImpl(const LlamaConfig& cfg, const at::TensorOptions& options);
  // input_ids [B, T] int64 -> hidden states after the final norm [B, T, D]
  at::Tensor forward(const at::Tensor& input_ids, const ForwardOptions& opts = {});
  // The rotary tables and attention mask of one forward (what forward passes to every layer).
  LayerInputs layer_inputs(int64_t batch, int64_t length, const ForwardOptions& opts,
                           at::ScalarType dtype) const;
  LlamaDecoderLayerImpl& layer(int64_t i) { return *layers->ptr<LlamaDecoderLayerImpl>(i); }

  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};  // of LlamaDecoderLayer
  RMSNorm norm{nullptr};
  LayerCall layer_call;  // empty: layer.forward

 private:
  int64_t num_layers_;
  RotaryEmbedding rotary_;
};
TORCH_MODULE(LlamaModel);

// One linear projection of the model, found by name.
struct Projection {
  std::string name;           // "model.layers.3.self_attn.q_proj"
  std::string kind;           // q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj
  Linear* slot;               // the member of `parent` that holds it
  torch::nn::Module* parent;  // the LlamaAttentionImpl or LlamaMLPImpl
  // Puts `replacement` (e.g. a LoRA layer deriving from LinearImpl) in its place, in the member and in
  // the module tree, so forward, named_parameters and state dicts all see it.
  void replace(std::shared_ptr<LinearImpl> replacement) const;
};

class LlamaForCausalLMImpl : public torch::nn::Module {
 public:
  enum class Logits { kLast, kAll };
  LlamaForCausalLMImpl(const LlamaConfig& cfg, const at::TensorOptions& options);
  // input_ids [B, T] -> logits of the last position [B, V] (kLast: what ranking and decoding need; only
  // that position goes through lm_head) or of every position [B, T, V] (kAll).
  at::Tensor forward(const at::Tensor& input_ids, const ForwardOptions& opts = {},
                     Logits which = Logits::kLast);
  at::Tensor lm_logits(const at::Tensor& hidden);  // [..., D] -> [..., V]

  // Every projection in layer order (q, k, v, o, gate, up, down per layer).
  std::vector<Projection> projections();
  // transformers' _init_weights: weights ~ N(0, std²), biases 0, RMSNorm weights 1.
  void init_random(double std = 0.02);
  void set_attention_kernel(AttentionKernel kernel);
  const LlamaConfig& config() const { return cfg_; }

  LlamaModel model{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  LlamaConfig cfg_;
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace lrec::llm
