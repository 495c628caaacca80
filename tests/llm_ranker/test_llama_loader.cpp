#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <fstream>

#include "core/safetensors.h"
#include "llm_ranker/llama_loader.h"
#include "tests/common/test_util.h"
#include "tests/llm_ranker/llama_test_util.h"

namespace lrec::llm {
namespace {

using lrec::testing::error_message;
using lrec::testing::TempDir;

constexpr const char* kTinyConfig = R"({"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
  "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 64, "tie_word_embeddings": %s})";

std::map<std::string, at::Tensor> state_of(LlamaForCausalLMImpl& model, at::ScalarType dtype) {
  std::map<std::string, at::Tensor> state;
  for (const auto& p : model.named_parameters()) state[p.key()] = p.value().to(dtype);
  return state;
}

void write_checkpoint(const TempDir& dir, const std::map<std::string, at::Tensor>& state, bool tied = false) {
  char config[512];
  std::snprintf(config, sizeof(config), kTinyConfig, tied ? "true" : "false");
  lrec::testing::write_text(dir / "config.json", config);
  safetensors::save(dir / "model.safetensors", state);
}

TEST(LlamaLoader, CastsEveryDiskDtypeToTheComputeDtype) {
  LlamaForCausalLM source = testing::random_model(testing::tiny_config(), 1);
  for (const at::ScalarType disk : {at::kFloat, at::kHalf, at::kBFloat16}) {
    TempDir dir;
    write_checkpoint(dir, state_of(*source, disk));
    for (const at::ScalarType compute : {at::kFloat, at::kBFloat16}) {
      LlamaForCausalLM loaded = load_llama(dir.path(), compute);
      for (const auto& p : loaded->named_parameters()) {
        EXPECT_EQ(p.value().scalar_type(), compute) << p.key();
        const at::Tensor want = source->named_parameters()[p.key()].to(disk).to(compute);
        EXPECT_TRUE(at::equal(p.value(), want)) << p.key() << " disk " << disk << " compute " << compute;
      }
    }
  }
}

TEST(LlamaLoader, MissingOrMisshapenTensorsNameTensorAndShapes) {
  LlamaForCausalLM source = testing::random_model(testing::tiny_config(), 2);
  TempDir dir;
  auto state = state_of(*source, at::kFloat);
  state.erase("model.layers.1.mlp.up_proj.weight");
  write_checkpoint(dir, state);
  const std::string missing = error_message([&] { load_llama(dir.path(), at::kFloat); });
  EXPECT_NE(
      missing.find("'model.layers.1.mlp.up_proj.weight' is missing: expected shape [48, 32], found none"),
      std::string::npos)
      << missing;

  state = state_of(*source, at::kFloat);
  state["model.layers.0.self_attn.k_proj.weight"] = at::zeros({8, 32});
  write_checkpoint(dir, state);
  const std::string shape = error_message([&] { load_llama(dir.path(), at::kFloat); });
  EXPECT_NE(
      shape.find(
          "'model.layers.0.self_attn.k_proj.weight' has the wrong shape: expected [16, 32], found [8, 32]"),
      std::string::npos)
      << shape;

  state = state_of(*source, at::kFloat);
  state["model.norm.weight"] = at::ones({32}, at::kLong);
  write_checkpoint(dir, state);
  EXPECT_NE(
      error_message([&] { load_llama(dir.path(), at::kFloat); }).find("'model.norm.weight' has dtype I64"),
      std::string::npos);
}

TEST(LlamaLoader, TiedCheckpointsMayCarryTheHeadAndOldRotaryBuffers) {
  LlamaForCausalLM source = testing::random_model(testing::tiny_config(4, 2, /*tied=*/true), 3);
  TempDir dir;
  auto state = state_of(*source, at::kFloat);
  EXPECT_FALSE(state.contains("lm_head.weight"));
  state["lm_head.weight"] = state.at("model.embed_tokens.weight");
  state["model.layers.0.self_attn.rotary_emb.inv_freq"] = at::ones({4});
  write_checkpoint(dir, state, /*tied=*/true);
  LlamaForCausalLM loaded = load_llama(dir.path(), at::kFloat);
  const at::Tensor ids = at::randint(0, 64, {1, 4}, at::kLong);
  EXPECT_TRUE(at::equal(loaded->forward(ids), source->forward(ids)));
}

long status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::strlen(key)));
  }
  return -1;
}

// Peak RSS while loading stays below 1.2x the model's bytes in the compute dtype (measured with VmHWM
// after resetting it through /proc/self/clear_refs). The fp32 file is 2x the bf16 model: reading it
// must not keep its pages.
TEST(LlamaLoader, PeakMemoryStaysBelow1Point2xTheModel) {
  TempDir dir;
  const char* config = R"({"hidden_size": 512, "intermediate_size": 1536, "num_hidden_layers": 12,
      "num_attention_heads": 8, "vocab_size": 4000})";
  lrec::testing::write_text(dir / "config.json", config);
  int64_t model_bytes = 0;
  {
    LlamaForCausalLM source(parse_llama_config(config, "config"), at::TensorOptions().dtype(at::kFloat));
    source->init_random();
    safetensors::save(dir / "model.safetensors", state_of(*source, at::kFloat));
    for (const auto& p : source->parameters()) model_bytes += p.numel() * 4;
  }
  for (const at::ScalarType compute : {at::kFloat, at::kBFloat16}) {
    const double bytes = compute == at::kFloat ? model_bytes : model_bytes / 2.0;
    ::malloc_trim(0);  // freed heap pages go back to the system, so the model cannot hide in them
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.close();
    if (!clear) GTEST_SKIP() << "cannot reset the peak RSS through /proc/self/clear_refs";
    const long before_kb = status_kb("VmRSS:");
    LlamaForCausalLM loaded = load_llama(dir.path(), compute);
    const double peak = (status_kb("VmHWM:") - before_kb) * 1024.0;
    std::printf("[load] %s: model %.1f MB, peak RSS growth %.1f MB (%.2fx)\n", c10::toString(compute),
                bytes / 1e6, peak / 1e6, peak / bytes);
    EXPECT_LT(peak, 1.2 * bytes) << c10::toString(compute);
  }
}

}  // namespace
}  // namespace lrec::llm
