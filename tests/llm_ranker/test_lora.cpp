// LoRA layers (llm_ranker/lora_linear.h) and their PEFT export (llm_ranker/peft_io.h):
//   - a fresh adapter (B = 0) changes nothing; merged forward == unmerged forward (fp32, 1e-5);
//   - autograd gradients of A and B == the gradients through the explicit weight W + B A · scaling;
//   - only adapter parameters require grad; a bf16 base keeps fp32 adapters;
//   - save -> load round trip, and clear errors for a bad adapter directory;
//   - PEFT parity: transformers + PeftModel.from_pretrained on our export give our logits within 1e-4
//     (fp32; skipped when transformers/peft are not importable).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/safetensors.h"
#include "llm_ranker/llama_loader.h"
#include "llm_ranker/lora_linear.h"
#include "llm_ranker/peft_io.h"
#include "tests/common/test_util.h"
#include "tests/llm_ranker/llama_test_util.h"

namespace lrec::llm {
namespace {

using Logits = LlamaForCausalLMImpl::Logits;
using testing::max_abs_diff;

const std::vector<std::string> kAllTargets = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                              "gate_proj", "up_proj", "down_proj"};

// Gives every B random values so that the adapters change the output.
void randomize_b(LlamaForCausalLMImpl& model, uint64_t seed, double std = 0.2) {
  at::manual_seed(seed);
  c10::NoGradGuard no_grad;
  for (auto& [name, layer] : lora_layers(model)) layer->lora_B->weight.normal_(0, std);
}

at::Tensor all_logits(LlamaForCausalLMImpl& model, const at::Tensor& ids) {
  c10::NoGradGuard no_grad;
  return model.forward(ids, {}, Logits::kAll);
}

TEST(Lora, FreshAdapterChangesNothingAndAInitIsKaimingUniform) {
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 1);
  const at::Tensor ids = at::randint(0, 64, {2, 7});
  const at::Tensor before = all_logits(*model, ids);
  LoraConfig cfg;
  cfg.target_modules = kAllTargets;
  apply_lora(model, cfg);
  EXPECT_EQ(max_abs_diff(all_logits(*model, ids), before), 0.0);
  for (auto& [name, layer] : lora_layers(*model)) {
    const at::Tensor a = layer->lora_A->weight;  // [r, in]: U(-1/sqrt(in), 1/sqrt(in))
    EXPECT_EQ(a.size(0), 8) << name;
    EXPECT_LE(a.abs().max().item<double>(), 1 / std::sqrt(static_cast<double>(a.size(1)))) << name;
    EXPECT_EQ(layer->lora_B->weight.abs().max().item<double>(), 0.0) << name;
    EXPECT_DOUBLE_EQ(layer->scaling(), 32.0 / 8);
  }
  cfg.use_rslora = true;
  EXPECT_DOUBLE_EQ(cfg.scaling(), 32.0 / std::sqrt(8.0));
}

TEST(Lora, MergedForwardEqualsUnmergedForward) {
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 2);
  LoraConfig cfg;
  cfg.target_modules = kAllTargets;
  apply_lora(model, cfg);
  randomize_b(*model, 3);
  const at::Tensor ids = at::randint(0, 64, {2, 9});
  const at::Tensor unmerged = all_logits(*model, ids);
  const at::Tensor weight_before = lora_layers(*model).front().second->weight.clone();
  for (auto& [name, layer] : lora_layers(*model)) layer->merge();
  const at::Tensor merged = all_logits(*model, ids);
  const double diff = max_abs_diff(merged, unmerged);
  std::printf("[lora merge] max |merged - unmerged| %.3g, max |logit| %.4g\n", diff,
              unmerged.abs().max().item<double>());
  EXPECT_LT(diff, 1e-5);
  EXPECT_GT(max_abs_diff(lora_layers(*model).front().second->weight, weight_before), 1e-3);
  EXPECT_NE(lrec::testing::error_message([&] {
              lora_layers(*model).front().second->merge();
            }).find("already merged"),
            std::string::npos);
  for (auto& [name, layer] : lora_layers(*model)) layer->unmerge();
  EXPECT_LT(max_abs_diff(lora_layers(*model).front().second->weight, weight_before), 1e-6);
  EXPECT_LT(max_abs_diff(all_logits(*model, ids), unmerged), 1e-5);
}

TEST(Lora, GradientsEqualThoseOfTheExplicitFormula) {
  at::manual_seed(4);
  const at::TensorOptions options = at::TensorOptions().dtype(at::kFloat);
  Linear base(6, 5, true, options);
  base->weight.data().normal_();
  base->bias.data().normal_();
  LoraConfig cfg;
  cfg.r = 3;
  cfg.alpha = 5;
  cfg.use_rslora = true;
  LoraLinear lora(*base, cfg);
  lora->eval();  // dropout off: the formula has none
  lora->lora_B->weight.data().normal_();
  const at::Tensor x = at::randn({2, 4, 6});
  const at::Tensor g = at::randn({2, 4, 5});  // loss = <y, g>
  (lora(x) * g).sum().backward();

  const at::Tensor a = lora->lora_A->weight.detach().clone().requires_grad_();
  const at::Tensor b = lora->lora_B->weight.detach().clone().requires_grad_();
  const double s = 5 / std::sqrt(3.0);
  const at::Tensor w = base->weight.detach() + at::matmul(b, a) * s;  // [out, in]
  (at::linear(x, w, base->bias.detach()) * g).sum().backward();
  EXPECT_LT(max_abs_diff(lora->lora_A->weight.grad(), a.grad()), 1e-5);
  EXPECT_LT(max_abs_diff(lora->lora_B->weight.grad(), b.grad()), 1e-5);
  EXPECT_GT(a.grad().abs().max().item<double>(), 1e-2);
  // And against the closed form: dL/dB = s · Gᵀ (X Aᵀ), dL/dA = s · (G B)ᵀ X over all rows.
  const at::Tensor xs = x.reshape({-1, 6}).to(at::kDouble), gs = g.reshape({-1, 5}).to(at::kDouble);
  const at::Tensor ad = a.detach().to(at::kDouble), bd = b.detach().to(at::kDouble);
  EXPECT_LT(max_abs_diff(b.grad(), s * at::matmul(gs.t(), at::matmul(xs, ad.t()))), 1e-4);
  EXPECT_LT(max_abs_diff(a.grad(), s * at::matmul(at::matmul(gs, bd).t(), xs)), 1e-4);
}

TEST(Lora, OnlyAdapterParametersRequireGrad) {
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 5);
  LoraConfig cfg;  // q_proj, v_proj
  const NamedParameters adapters = apply_lora(model, cfg);
  ASSERT_EQ(adapters.size(), 2u * 2 * 2);  // layers x targets x {A, B}
  EXPECT_EQ(adapters.front().first, "model.layers.0.self_attn.q_proj.lora_A.weight");
  EXPECT_TRUE(std::is_sorted(adapters.begin(), adapters.end(),
                             [](const auto& x, const auto& y) { return x.first < y.first; }));
  for (const auto& p : model->named_parameters()) {
    const bool adapter = p.key().find(".lora_") != std::string::npos;
    EXPECT_EQ(p.value().requires_grad(), adapter) << p.key();
    if (adapter) {
      EXPECT_TRUE(p.key().find("q_proj") != std::string::npos || p.key().find("v_proj") != std::string::npos);
    }
  }
  // Training mode: backward reaches the adapters only.
  model->train();
  randomize_b(*model, 6);
  model->forward(at::randint(0, 64, {2, 5})).sum().backward();
  for (const auto& [name, p] : adapters) EXPECT_TRUE(p.grad().defined()) << name;
  EXPECT_FALSE(model->model->embed_tokens->weight.grad().defined());
  EXPECT_NE(lrec::testing::error_message([&] { apply_lora(model, cfg); }).find("already has LoRA"),
            std::string::npos);
  cfg.target_modules = {"q_proj", "qkv_proj"};
  LlamaForCausalLM other = testing::random_model(testing::tiny_config(), 5);
  EXPECT_NE(lrec::testing::error_message([&] { apply_lora(other, cfg); }).find("unknown module 'qkv_proj'"),
            std::string::npos);
}

TEST(Lora, Bf16BaseKeepsFp32Adapters) {
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 7, at::kBFloat16);
  LoraConfig cfg;
  cfg.dropout = 0.1;
  const NamedParameters adapters = apply_lora(model, cfg);
  for (const auto& [name, p] : adapters) EXPECT_EQ(p.scalar_type(), at::kFloat) << name;
  model->train();
  randomize_b(*model, 8);
  const at::Tensor logits = model->forward(at::randint(0, 64, {2, 5}));
  EXPECT_EQ(logits.scalar_type(), at::kBFloat16);
  logits.to(at::kFloat).sum().backward();
  for (const auto& [name, p] : adapters) EXPECT_EQ(p.grad().scalar_type(), at::kFloat) << name;
}

TEST(Lora, PeftSaveLoadRoundTrip) {
  lrec::testing::TempDir dir;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 9);
  LoraConfig cfg;
  cfg.r = 4;
  cfg.alpha = 16;
  cfg.target_modules = {"v_proj", "down_proj"};
  cfg.use_rslora = true;
  apply_lora(model, cfg);
  randomize_b(*model, 10);
  save_peft_adapter(dir.path(), *model, cfg, "tiny-llama");

  const auto json = nlohmann::json::parse(read_file(dir / "adapter_config.json"));
  EXPECT_EQ(json["peft_type"], "LORA");
  EXPECT_EQ(json["task_type"], "CAUSAL_LM");
  EXPECT_EQ(json["bias"], "none");
  EXPECT_EQ(json["base_model_name_or_path"], "tiny-llama");
  EXPECT_EQ(json["r"], 4);
  const auto file = safetensors::File::open(dir / "adapter_model.safetensors");
  EXPECT_EQ(file->tensors().size(), 2u * 2 * 2);
  EXPECT_EQ(file->info("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight").shape,
            (std::vector<int64_t>{4, 48}));  // [r, in]
  EXPECT_EQ(file->info("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").shape,
            (std::vector<int64_t>{32, 4}));  // [out, r]

  LlamaForCausalLM loaded = testing::random_model(testing::tiny_config(), 9);
  const PeftAdapter adapter = load_peft_adapter(dir.path(), loaded);
  EXPECT_EQ(adapter.config.r, 4);
  EXPECT_EQ(adapter.config.alpha, 16);
  EXPECT_EQ(adapter.config.target_modules, cfg.target_modules);
  EXPECT_TRUE(adapter.config.use_rslora);
  const NamedParameters original = [&] {
    NamedParameters out;
    for (const auto& p : model->named_parameters()) {
      if (p.value().requires_grad()) out.emplace_back(p.key(), p.value());
    }
    std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    return out;
  }();
  ASSERT_EQ(adapter.parameters.size(), original.size());
  for (size_t i = 0; i < original.size(); ++i) {
    EXPECT_EQ(adapter.parameters[i].first, original[i].first);
    EXPECT_TRUE(adapter.parameters[i].second.equal(original[i].second)) << original[i].first;
    EXPECT_TRUE(adapter.parameters[i].second.requires_grad());
  }
  const at::Tensor ids = at::randint(0, 64, {2, 6});
  EXPECT_EQ(max_abs_diff(all_logits(*loaded, ids), all_logits(*model, ids)), 0.0);
}

TEST(Lora, PeftLoadErrorsNameTheFileAndTensor) {
  lrec::testing::TempDir dir;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 11);
  LoraConfig cfg;
  apply_lora(model, cfg);
  save_peft_adapter(dir.path(), *model, cfg, "tiny");
  const auto load_error = [&] {
    LlamaForCausalLM fresh = testing::random_model(testing::tiny_config(), 11);
    return lrec::testing::error_message([&] { load_peft_adapter(dir.path(), fresh); });
  };
  const std::string config_text = read_file(dir / "adapter_config.json");
  const auto with_config = [&](const std::string& key, const nlohmann::json& value) {
    auto json = nlohmann::json::parse(config_text);
    json[key] = value;
    write_file_atomic(dir / "adapter_config.json", json.dump());
  };

  with_config("r", 4);  // the tensors have r = 8
  std::string message = load_error();
  EXPECT_NE(
      message.find("adapter_model.safetensors: tensor "
                   "'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight' has shape [8, 32]; "
                   "expected [4, 32]"),
      std::string::npos)
      << message;
  with_config("r", 8);
  with_config("target_modules", nlohmann::json::array({"q_proj", "v_proj", "k_proj"}));
  message = load_error();
  EXPECT_NE(
      message.find("tensor 'base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight' is missing"),
      std::string::npos)
      << message;
  with_config("target_modules", nlohmann::json::array({"q_proj"}));
  message = load_error();
  EXPECT_NE(
      message.find("unexpected tensor 'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight'"),
      std::string::npos)
      << message;
  with_config("target_modules", ".*proj");
  message = load_error();
  EXPECT_NE(message.find("adapter_config.json: 'target_modules' is \".*proj\"; expected a list"),
            std::string::npos)
      << message;
  with_config("target_modules", nlohmann::json::array({"q_proj", "v_proj"}));
  with_config("use_dora", true);
  EXPECT_NE(load_error().find("use_dora = true is not supported"), std::string::npos);
  with_config("use_dora", false);
  with_config("peft_type", "IA3");
  EXPECT_NE(load_error().find("only LORA adapters"), std::string::npos);
  std::filesystem::remove(dir / "adapter_config.json");
  EXPECT_NE(load_error().find("adapter_config.json: not found"), std::string::npos);
}

// transformers + PEFT on our export. Cases: the default targets; all seven targets with rsLoRA.
class PeftParity : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new lrec::testing::TempDir();
    status_ = testing::run_python("peft_parity.py", "base " + dir_->path().string());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (status_ == lrec::testing::kPythonPackagesMissing) {
      GTEST_SKIP() << "transformers/peft/torch/safetensors not importable in " << LREC_PYTHON;
    }
    ASSERT_EQ(status_, 0) << "tests/python/peft_parity.py base failed";
  }

  static inline lrec::testing::TempDir* dir_ = nullptr;
  static inline int status_ = -1;
};

TEST_P(PeftParity, LogitsWithin1e4) {
  const bool all_targets = GetParam();
  const std::string name = all_targets ? "all_rslora" : "q_v";
  const std::filesystem::path base = dir_->path() / "base", out = dir_->path() / name;
  LlamaForCausalLM model = load_llama(base, at::kFloat);
  LoraConfig cfg;
  if (all_targets) {
    cfg.r = 4;
    cfg.alpha = 8;
    cfg.target_modules = kAllTargets;
    cfg.use_rslora = true;
  }
  apply_lora(model, cfg);
  randomize_b(*model, 12);
  save_peft_adapter(out, *model, cfg, base.string());

  at::manual_seed(13);
  const at::Tensor ids = at::randint(0, model->config().vocab_size, {2, 11});
  safetensors::save(out / "ids.safetensors", {{"ids", ids}});
  const at::Tensor ours = all_logits(*model, ids);
  ASSERT_EQ(testing::run_python("peft_parity.py", "logits " + base.string() + " " + out.string() + " " +
                                                      (out / "ids.safetensors").string() + " " +
                                                      (out / "peft_logits.safetensors").string()),
            0);
  const at::Tensor theirs = safetensors::load_all(out / "peft_logits.safetensors").at("logits");
  ASSERT_EQ(theirs.sizes(), ours.sizes());
  const double diff = max_abs_diff(ours, theirs);
  // The adapters must matter for the comparison to mean anything.
  LlamaForCausalLM plain = load_llama(base, at::kFloat);
  const double effect = max_abs_diff(all_logits(*plain, ids), ours);
  std::printf("[peft parity] %s: max |diff| %.3g, max |logit| %.4g, adapter effect %.3g\n", name.c_str(),
              diff, theirs.abs().max().item<double>(), effect);
  EXPECT_LT(diff, 1e-4) << name;
  EXPECT_GT(effect, 0.1) << name;
}

INSTANTIATE_TEST_SUITE_P(Cases, PeftParity, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "AllTargetsRsLora" : "QV"; });

}  // namespace
}  // namespace lrec::llm
