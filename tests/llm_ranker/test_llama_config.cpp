#include <gtest/gtest.h>

#include "llm_ranker/llama_config.h"
#include "tests/common/test_util.h"

namespace lrec::llm {
namespace {

using lrec::testing::error_message;

constexpr const char* kBase = R"("hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5,
                                  "num_attention_heads": 8, "vocab_size": 512)";

LlamaConfig parse(const std::string& extra) {
  return parse_llama_config(std::string("{") + kBase + (extra.empty() ? "" : ", " + extra) + "}",
                            "config.json");
}

std::string parse_error(const std::string& extra) {
  return error_message([&] { parse(extra); });
}

TEST(LlamaConfig, DefaultsFollowTransformers) {
  const LlamaConfig cfg = parse("");
  EXPECT_EQ(cfg.num_key_value_heads, 8);  // MHA
  EXPECT_EQ(cfg.head_dim, 8);
  EXPECT_EQ(cfg.rms_norm_eps, 1e-6);
  EXPECT_EQ(cfg.rope_theta, 10000.0);
  EXPECT_EQ(cfg.rope_scaling.type, "default");
  EXPECT_FALSE(cfg.tie_word_embeddings || cfg.attention_bias || cfg.mlp_bias);
  EXPECT_EQ(cfg.max_position_embeddings, 2048);
  EXPECT_EQ(cfg.eos_token_ids, std::vector<int64_t>{2});
}

TEST(LlamaConfig, ReadsEveryKey) {
  const LlamaConfig cfg = parse(R"("num_key_value_heads": 1, "head_dim": 16, "rms_norm_eps": 1e-5,
      "max_position_embeddings": 4096, "rope_theta": 500000.0, "attention_bias": true, "mlp_bias": true,
      "tie_word_embeddings": true, "torch_dtype": "bfloat16", "bos_token_id": 128000, "eos_token_id": [128001, 128009])");
  EXPECT_EQ(cfg.num_key_value_heads, 1);
  EXPECT_EQ(cfg.head_dim, 16);
  EXPECT_EQ(cfg.rms_norm_eps, 1e-5);
  EXPECT_EQ(cfg.max_position_embeddings, 4096);
  EXPECT_EQ(cfg.rope_theta, 500000.0);
  EXPECT_TRUE(cfg.attention_bias && cfg.mlp_bias && cfg.tie_word_embeddings);
  EXPECT_EQ(cfg.torch_dtype, "bfloat16");
  EXPECT_EQ(cfg.bos_token_id, 128000);
  EXPECT_EQ(cfg.eos_token_ids, (std::vector<int64_t>{128001, 128009}));
}

TEST(LlamaConfig, RopeScalingOldAndNewSpellings) {
  const LlamaConfig linear = parse(R"("rope_scaling": {"type": "linear", "factor": 2.0})");
  EXPECT_EQ(linear.rope_scaling.type, "linear");
  EXPECT_EQ(linear.rope_scaling.factor, 2.0);
  const LlamaConfig dynamic = parse(R"("rope_scaling": {"rope_type": "dynamic", "factor": 4})");
  EXPECT_EQ(dynamic.rope_scaling.type, "dynamic");
  EXPECT_EQ(dynamic.rope_scaling.factor, 4.0);
  const LlamaConfig llama3 =
      parse(R"("max_position_embeddings": 131072, "rope_parameters": {"rope_type": "llama3",
      "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0})");
  EXPECT_EQ(llama3.rope_scaling.type, "llama3");
  EXPECT_EQ(llama3.rope_theta, 500000.0);
  EXPECT_EQ(llama3.rope_scaling.original_max_position_embeddings,
            131072);  // defaults to max_position_embeddings
  const LlamaConfig plain = parse(R"("rope_parameters": {"rope_type": "default", "rope_theta": 1000.0})");
  EXPECT_EQ(plain.rope_scaling.type, "default");
  EXPECT_EQ(plain.rope_theta, 1000.0);
  EXPECT_EQ(parse(R"("rope_scaling": null)").rope_scaling.type, "default");
}

TEST(LlamaConfig, UnsupportedValuesNameTheKey) {
  EXPECT_NE(parse_error(R"("rope_scaling": {"rope_type": "yarn", "factor": 4.0})")
                .find("'rope_scaling.rope_type' = 'yarn'"),
            std::string::npos);
  EXPECT_NE(
      parse_error(R"("rope_parameters": {"rope_type": "longrope"})").find("'rope_parameters.rope_type'"),
      std::string::npos);
  EXPECT_NE(parse_error(R"("rope_scaling": {"type": "linear"})").find("'rope_scaling.factor' is required"),
            std::string::npos);
  EXPECT_NE(parse_error(R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0})")
                .find("'rope_scaling.high_freq_factor' is required"),
            std::string::npos);
  EXPECT_NE(parse_error(R"("hidden_act": "gelu")").find("'hidden_act' = 'gelu'"), std::string::npos);
  EXPECT_NE(parse_error(R"("model_type": "gpt2")").find("'model_type'"), std::string::npos);
  EXPECT_NE(parse_error(R"("num_key_value_heads": 3)").find("'num_key_value_heads' = 3"), std::string::npos);
  EXPECT_NE(parse_error(R"("torch_dtype": "float8_e4m3fn")").find("'torch_dtype' = 'float8_e4m3fn'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"("rms_norm_eps": "small")").find("'rms_norm_eps' must be a number"),
            std::string::npos);
  EXPECT_NE(parse_error(R"("rope_scaling": {"type": "linear", "factor": 2, "partial_rotary_factor": 0.5})")
                .find("partial_rotary_factor"),
            std::string::npos);
  const std::string missing = error_message([] {
    parse_llama_config(
        R"({"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 8, "vocab_size": 9})", "c");
  });
  EXPECT_NE(missing.find("'intermediate_size' is required"), std::string::npos) << missing;
  EXPECT_NE(error_message([] { parse_llama_config("[1]", "x.json"); }).find("x.json: not a JSON object"),
            std::string::npos);
}

TEST(LlamaConfig, LoadsStories260K) {
  const auto shared = lrec::testing::shared_dir();
  if (shared.empty() || !std::filesystem::exists(shared / "fixtures/stories260K"))
    GTEST_SKIP() << "no stories260K";
  const LlamaConfig cfg = load_llama_config(shared / "fixtures/stories260K");
  EXPECT_EQ(cfg.num_key_value_heads, 4);
  EXPECT_EQ(cfg.head_dim, 8);
  EXPECT_TRUE(cfg.tie_word_embeddings);
  EXPECT_NE(error_message([] { load_llama_config("/nonexistent"); }).find("config.json"), std::string::npos);
}

}  // namespace
}  // namespace lrec::llm
