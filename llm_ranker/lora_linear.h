// LoRA (Hu et al. 2021) on the Llama projections, as Hugging Face PEFT's lora.Linear:
//   y = base(x) + dropout(x) Aᵀ Bᵀ · scaling      A [r, in], B [out, r]
//   scaling = alpha / r, or alpha / sqrt(r) with rsLoRA (Kalajdzievski 2023)
// A starts kaiming-uniform(a = sqrt(5)) (bound 1 / sqrt(in)), B zeros, so a fresh adapter changes nothing.
// The base weight may be bf16 while the adapters are fp32: the adapter path runs in fp32 and the sum is
// cast back to the base dtype (as PEFT does).
//
// Parameter names: the base keeps `weight` and `bias`; the adapters are `lora_A.weight` and
// `lora_B.weight`, so "model.layers.0.self_attn.q_proj.lora_A.weight" is PEFT's tensor name without its
// "base_model.model." prefix.
#pragma once

#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/dropout.h"
#include "llm_ranker/linear.h"
#include "llm_ranker/llama_model.h"

namespace lrec::llm {

struct LoraConfig {
  int64_t r = 8;
  double alpha = 32;
  double dropout = 0.05;
  // Any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
  std::vector<std::string> target_modules = {"q_proj", "v_proj"};
  bool use_rslora = false;

  double scaling() const;
  // Throws lrec::Error naming the bad setting.
  void validate() const;

  template <class V>
  void visit(V& v) {
    v("r", r);
    v("alpha", alpha);
    v("dropout", dropout);
    v("target_modules", target_modules);
    v("use_rslora", use_rslora);
  }
};

// The projection kinds LoRA can target, in model order.
const std::vector<std::string>& lora_target_kinds();

class LoraLinearImpl : public LinearImpl {
 public:
  // Takes over `base`'s weight and bias (shared, not copied); the adapters are fp32 on base's device.
  LoraLinearImpl(const LinearImpl& base, const LoraConfig& cfg);
  // x [..., in] -> [..., out] in the base weight's dtype.
  at::Tensor forward(const at::Tensor& x) override;

  // Folds (B A · scaling) into the base weight; forward then skips the adapter path. unmerge() subtracts
  // it again (exact in fp32 up to rounding; lossy for a bf16 base).
  void merge();
  void unmerge();
  bool merged() const { return merged_; }
  double scaling() const { return scaling_; }
  // The weight this layer applies, W + B A · scaling [out, in], computed in fp32 and detached; the layer is
  // not modified. Once merged, W already holds the sum and is returned as is (in fp32).
  at::Tensor merged_weight() const;

  Linear lora_A{nullptr};  // weight [r, in]
  Linear lora_B{nullptr};  // weight [out, r]
  Dropout lora_dropout{nullptr};

 private:
  at::Tensor delta_weight() const;  // B A · scaling [out, in], fp32

  double scaling_;
  bool merged_ = false;
};
TORCH_MODULE(LoraLinear);

// Replaces every projection whose kind is in cfg.target_modules by a LoraLinear, freezes every base
// parameter, and returns the adapter parameters (the only ones requiring grad), sorted by name.
NamedParameters apply_lora(LlamaForCausalLM& model, const LoraConfig& cfg);

// The LoRA layers of a model in projection order, by module name ("model.layers.0.self_attn.q_proj").
std::vector<std::pair<std::string, LoraLinearImpl*>> lora_layers(LlamaForCausalLMImpl& model);

}  // namespace lrec::llm
