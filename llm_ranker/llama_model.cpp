#include "llm_ranker/llama_model.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "core/error.h"
#include "core/linear.h"

namespace lrec::llm {

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const LlamaConfig& cfg, const at::TensorOptions& options) {
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, options));
  self_attn = register_module("self_attn", LlamaAttention(cfg, options));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, options));
  mlp = register_module("mlp", LlamaMLP(cfg, options));
}

at::Tensor LlamaDecoderLayerImpl::forward(const at::Tensor& h, const LayerInputs& in, LayerCache* cache) {
  if (!at::GradMode::is_enabled()) {  // inference: the residual sums accumulate in place
    at::Tensor attended = self_attn->forward(input_layernorm(h), in, cache).add_(h);
    return mlp(post_attention_layernorm(attended)).add_(attended);
  }
  const at::Tensor attended = h + self_attn->forward(input_layernorm(h), in, cache);
  return attended + mlp(post_attention_layernorm(attended));
}

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& cfg, const at::TensorOptions& options)
    : num_layers_(cfg.num_hidden_layers), rotary_(cfg) {
  embed_tokens = register_module("embed_tokens", Embedding(cfg.vocab_size, cfg.hidden_size, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(cfg, options));
  norm = register_module("norm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, options));
}

LayerInputs LlamaModelImpl::layer_inputs(int64_t batch, int64_t length, const ForwardOptions& opts,
                                         at::ScalarType dtype) const {
  const int64_t past = opts.cache != nullptr ? opts.cache->length() : 0, total = past + length;
  const at::Device device = embed_tokens->weight.device();
  const auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor valid;  // [B, S] bool
  if (opts.attention_mask.defined()) {
    if (opts.attention_mask.dim() != 2 || opts.attention_mask.size(0) != batch ||
        opts.attention_mask.size(1) != total) {
      fail("attention_mask has shape {}, expected [{}, {}] (batch, cached + new positions).",
           c10::str(opts.attention_mask.sizes()), batch, total);
    }
    valid = opts.attention_mask.to(device).ne(0);
  }
  at::Tensor positions = opts.position_ids;  // [B, T]
  if (!positions.defined()) {
    positions = valid.defined() ? (valid.cumsum(1) - 1).clamp_min(0).narrow(1, past, length)
                                : at::arange(past, total, long_options).expand({batch, length});
  } else if (positions.dim() != 2 || positions.size(0) != batch || positions.size(1) != length) {
    fail("position_ids has shape {}, expected [{}, {}].", c10::str(positions.sizes()), batch, length);
  }
  auto [cos, sin] = rotary_.cos_sin(positions.to(device));
  LayerInputs in{cos.to(dtype).unsqueeze(1), sin.to(dtype).unsqueeze(1), {}, past == 0};
  const bool padded = valid.defined() && !valid.all().item<bool>();
  if (padded || (past > 0 && length > 1)) {
    // Query i (at absolute position past + i) sees key j when j <= past + i and j is a token. A padding
    // query also sees itself, so that no row is empty (its output is never read).
    const at::Tensor query_at = at::arange(past, total, long_options).unsqueeze(1);  // [T, 1]
    const at::Tensor key_at = at::arange(total, long_options).unsqueeze(0);          // [1, S]
    at::Tensor allowed = key_at.le(query_at).unsqueeze(0);                           // [1, T, S]
    if (valid.defined()) allowed = allowed.logical_and(valid.unsqueeze(1).logical_or(key_at.eq(query_at)));
    in.mask = allowed.unsqueeze(1).expand({batch, 1, length, total});
  }
  return in;
}

at::Tensor LlamaModelImpl::forward(const at::Tensor& input_ids, const ForwardOptions& opts) {
  if (input_ids.dim() != 2) fail("input_ids must be [batch, length], found {}.", c10::str(input_ids.sizes()));
  at::Tensor h = embed_tokens(input_ids);  // [B, T, D]
  const LayerInputs in = layer_inputs(input_ids.size(0), input_ids.size(1), opts, h.scalar_type());
  for (int64_t i = 0; i < num_layers_; ++i) {
    LayerCache* cache = opts.cache != nullptr ? &opts.cache->layer(i) : nullptr;
    h = layer_call ? layer_call(layer(i), h, in, cache) : layer(i).forward(h, in, cache);
  }
  return norm(h);
}

void Projection::replace(std::shared_ptr<LinearImpl> replacement) const {
  parent->replace_module(kind, replacement);
  *slot = Linear(std::move(replacement));
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const LlamaConfig& cfg, const at::TensorOptions& options)
    : cfg_(cfg) {
  model = register_module("model", LlamaModel(cfg, options));
  if (!cfg.tie_word_embeddings) {
    lm_head = register_module("lm_head", Linear(cfg.hidden_size, cfg.vocab_size, /*bias=*/false, options));
  }
}

at::Tensor LlamaForCausalLMImpl::lm_logits(const at::Tensor& hidden) {
  return lm_head ? lm_head(hidden) : lrec::linear(hidden, model->embed_tokens->weight, {});
}

at::Tensor LlamaForCausalLMImpl::forward(const at::Tensor& input_ids, const ForwardOptions& opts,
                                         Logits which) {
  const at::Tensor hidden = model(input_ids, opts);  // [B, T, D]
  return lm_logits(which == Logits::kLast ? hidden.select(1, hidden.size(1) - 1) : hidden);
}

std::vector<Projection> LlamaForCausalLMImpl::projections() {
  std::vector<Projection> out;
  for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i) {
    LlamaDecoderLayerImpl& layer = model->layer(i);
    const std::string prefix = "model.layers." + std::to_string(i) + ".";
    LlamaAttentionImpl* attn = layer.self_attn.get();
    LlamaMLPImpl* mlp = layer.mlp.get();
    for (auto [kind, slot] : {std::pair{"q_proj", &attn->q_proj},
                              {"k_proj", &attn->k_proj},
                              {"v_proj", &attn->v_proj},
                              {"o_proj", &attn->o_proj}}) {
      out.push_back({prefix + "self_attn." + kind, kind, slot, attn});
    }
    for (auto [kind, slot] : {std::pair{"gate_proj", &mlp->gate_proj},
                              {"up_proj", &mlp->up_proj},
                              {"down_proj", &mlp->down_proj}}) {
      out.push_back({prefix + "mlp." + kind, kind, slot, mlp});
    }
  }
  return out;
}

void LlamaForCausalLMImpl::init_random(double std) {
  c10::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    if (name.ends_with("norm.weight"))
      p.value().fill_(1);
    else if (name.ends_with(".bias"))
      p.value().zero_();
    else
      p.value().normal_(0, std);
  }
}

void LlamaForCausalLMImpl::set_attention_kernel(AttentionKernel kernel) {
  for (int64_t i = 0; i < cfg_.num_hidden_layers; ++i) model->layer(i).self_attn->kernel = kernel;
}

}  // namespace lrec::llm
