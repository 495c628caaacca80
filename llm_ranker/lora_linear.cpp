#include "llm_ranker/lora_linear.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/ranges.h>
#include <torch/nn/init.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"

namespace lrec::llm {

const std::vector<std::string>& lora_target_kinds() {
  static const std::vector<std::string> kinds = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                 "gate_proj", "up_proj", "down_proj"};
  return kinds;
}

double LoraConfig::scaling() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
}

void LoraConfig::validate() const {
  if (r <= 0) fail("lora.r must be a positive integer, got {}.", r);
  if (!(alpha > 0)) fail("lora.alpha must be positive, got {}.", alpha);
  if (dropout < 0 || dropout >= 1) fail("lora.dropout must be in [0, 1), got {}.", dropout);
  if (target_modules.empty()) {
    fail("lora.target_modules is empty: name at least one of {}.", fmt::join(lora_target_kinds(), ", "));
  }
  std::set<std::string> seen;
  for (const std::string& target : target_modules) {
    const auto& kinds = lora_target_kinds();
    if (std::find(kinds.begin(), kinds.end(), target) == kinds.end()) {
      fail("lora.target_modules: unknown module '{}'; use any of {}.", target, fmt::join(kinds, ", "));
    }
    if (!seen.insert(target).second) fail("lora.target_modules names '{}' twice.", target);
  }
}

LoraLinearImpl::LoraLinearImpl(const LinearImpl& base, const LoraConfig& cfg)
    : LinearImpl(base.weight, base.bias), scaling_(cfg.scaling()) {
  cfg.validate();
  const int64_t out = weight.size(0), in = weight.size(1);
  const auto options = weight.options().dtype(at::kFloat);
  lora_A = register_module("lora_A", Linear(in, cfg.r, false, options));
  lora_B = register_module("lora_B", Linear(cfg.r, out, false, options));
  lora_dropout = register_module("lora_dropout", Dropout(cfg.dropout));
  c10::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
  lora_B->weight.zero_();
}

at::Tensor LoraLinearImpl::forward(const at::Tensor& x) {
  const at::Tensor y = LinearImpl::forward(x);
  if (merged_) return y;
  const at::Tensor h = lora_dropout(x.to(lora_A->weight.scalar_type()));
  // A bf16 y plus the fp32 adapter output adds in fp32 (type promotion), then back to the base dtype.
  return (y + lora_B(lora_A(h)) * scaling_).to(y.scalar_type());
}

at::Tensor LoraLinearImpl::delta_weight() const {
  return at::matmul(lora_B->weight, lora_A->weight) * scaling_;
}

at::Tensor LoraLinearImpl::merged_weight() const {
  c10::NoGradGuard no_grad;
  const at::Tensor base = weight.detach().to(at::kFloat);
  return merged_ ? base.clone() : base + delta_weight();
}

void LoraLinearImpl::merge() {
  if (merged_) fail("LoRA layer is already merged; unmerge() it first.");
  c10::NoGradGuard no_grad;
  weight.add_(delta_weight().to(weight.scalar_type()));
  merged_ = true;
}

void LoraLinearImpl::unmerge() {
  if (!merged_) fail("LoRA layer is not merged; nothing to unmerge.");
  c10::NoGradGuard no_grad;
  weight.sub_(delta_weight().to(weight.scalar_type()));
  merged_ = false;
}

std::vector<std::pair<std::string, LoraLinearImpl*>> lora_layers(LlamaForCausalLMImpl& model) {
  std::vector<std::pair<std::string, LoraLinearImpl*>> out;
  for (const Projection& proj : model.projections()) {
    if (auto* lora = dynamic_cast<LoraLinearImpl*>(proj.slot->get())) out.emplace_back(proj.name, lora);
  }
  return out;
}

NamedParameters apply_lora(LlamaForCausalLM& model, const LoraConfig& cfg) {
  cfg.validate();
  if (!lora_layers(*model).empty()) fail("the model already has LoRA adapters; apply LoRA only once.");
  for (at::Tensor& p : model->parameters()) p.set_requires_grad(false);
  const std::set<std::string> targets(cfg.target_modules.begin(), cfg.target_modules.end());
  for (const Projection& proj : model->projections()) {
    if (!targets.count(proj.kind)) continue;
    auto lora = std::make_shared<LoraLinearImpl>(**proj.slot, cfg);
    lora->train(proj.parent->is_training());  // a new module starts in training mode
    proj.replace(std::move(lora));
  }
  NamedParameters adapters;
  for (const auto& p : model->named_parameters()) {
    if (p.value().requires_grad()) adapters.emplace_back(p.key(), p.value());
  }
  std::sort(adapters.begin(), adapters.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return adapters;
}

}  // namespace lrec::llm
