// Hugging Face export (llm_ranker/hf_export.h) and SentencePiece training (llm_ranker/spm_train.h):
//   - config.json round trip through parse_llama_config (default, linear, dynamic, llama3 RoPE; tied,
//     biases, several EOS ids);
//   - save_hf_checkpoint -> load_llama gives bitwise equal fp32 logits (tied and untied);
//   - a LoRA model (some layers merged, some not) is exported merged: no lora_* tensor, same logits (1e-5);
//   - an existing target directory is an error that deletes nothing; no temporary directory is left;
//   - train_sentencepiece: loads, decode(encode(t)) == t, "\n" + A..Z ends in the single letter piece,
//     byte-identical models from the same input, trainer errors become lrec::Error;
//   - transformers' LlamaForCausalLM and Python sentencepiece on the export agree with us (skipped when
//     they are not importable).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "llm_ranker/hf_export.h"
#include "llm_ranker/llama_loader.h"
#include "llm_ranker/lora_linear.h"
#include "llm_ranker/spm_train.h"
#include "llm_ranker/tokenizer.h"
#include "tests/common/test_util.h"
#include "tests/llm_ranker/llama_test_util.h"

namespace lrec::llm {
namespace {

namespace fs = std::filesystem;
using Logits = LlamaForCausalLMImpl::Logits;
using lrec::testing::error_message;
using lrec::testing::TempDir;
using testing::max_abs_diff;

at::Tensor all_logits(LlamaForCausalLMImpl& model, const at::Tensor& ids) {
  c10::NoGradGuard no_grad;
  return model.forward(ids, {}, Logits::kAll);
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void expect_same_config(const LlamaConfig& a, const LlamaConfig& b) {
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, b.rope_scaling.type);
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_EQ(a.mlp_bias, b.mlp_bias);
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.torch_dtype, b.torch_dtype);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
}

// ---- (a) config.json ------------------------------------------------------------------------------------

TEST(HfExport, ConfigJsonRoundTrips) {
  std::vector<LlamaConfig> cases;
  cases.push_back(testing::tiny_config());
  LlamaConfig linear = testing::tiny_config(4, 4, true);
  linear.rope_scaling = {"linear", 2.5};
  linear.rms_norm_eps = 1e-5;
  linear.rope_theta = 500000.0;
  linear.max_position_embeddings = 4096;
  cases.push_back(linear);
  LlamaConfig dynamic = testing::tiny_config(4, 1);
  dynamic.rope_scaling = {"dynamic", 2.0};
  dynamic.head_dim = 16;
  dynamic.attention_bias = true;
  cases.push_back(dynamic);
  LlamaConfig llama3 = testing::tiny_config(4, 2);
  llama3.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 8192};
  llama3.mlp_bias = true;
  llama3.bos_token_id = 128000;
  llama3.eos_token_ids = {128001, 128008, 128009};
  cases.push_back(llama3);

  for (const LlamaConfig& cfg : cases) {
    for (const std::string dtype : {"float32", "bfloat16", "float16"}) {
      SCOPED_TRACE(cfg.rope_scaling.type + " " + dtype);
      const std::string text = llama_config_to_json(cfg, dtype);
      const nlohmann::json j = nlohmann::json::parse(text);
      EXPECT_EQ(j["architectures"], nlohmann::json::array({"LlamaForCausalLM"}));
      EXPECT_EQ(j["model_type"], "llama");
      EXPECT_EQ(j["hidden_act"], "silu");
      EXPECT_EQ(j["torch_dtype"], dtype);
      EXPECT_EQ(j["rope_scaling"].is_null(), cfg.rope_scaling.type == "default");
      LlamaConfig expected = cfg;
      expected.torch_dtype = dtype;
      expect_same_config(parse_llama_config(text, "config.json"), expected);
    }
  }
  EXPECT_NE(error_message([] { llama_config_to_json(testing::tiny_config(), "float64"); }).find("float64"),
            std::string::npos);
}

// ---- (b) checkpoint round trip --------------------------------------------------------------------------

TEST(HfExport, SavedCheckpointLoadsWithBitwiseEqualLogits) {
  TempDir dir;
  at::manual_seed(3);
  const at::Tensor ids = at::randint(0, 64, {2, 9});
  for (const bool tied : {false, true}) {
    SCOPED_TRACE(tied ? "tied" : "untied");
    LlamaConfig cfg = testing::tiny_config(4, 2, tied);
    cfg.attention_bias = !tied;  // biases are exported too
    LlamaForCausalLM model = testing::random_model(cfg, 5);
    const fs::path out = dir / (tied ? "tied" : "untied");
    save_hf_checkpoint(out, *model, at::kFloat);
    EXPECT_EQ(entries(out), (std::vector<std::string>{"config.json", "model.safetensors"}));

    const safetensors::Checkpoint checkpoint = safetensors::Checkpoint::open(out);
    std::vector<std::string> expected;
    for (const auto& p : model->named_parameters()) expected.push_back(p.key());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(checkpoint.names(), expected);
    EXPECT_EQ(checkpoint.contains("lm_head.weight"), !tied);
    EXPECT_TRUE(checkpoint.contains("model.layers.1.self_attn.q_proj.weight"));
    EXPECT_EQ(checkpoint.info("model.embed_tokens.weight").dtype, safetensors::DType::kF32);

    LlamaForCausalLM loaded = load_llama(out, at::kFloat);
    EXPECT_TRUE(at::equal(all_logits(*model, ids), all_logits(*loaded, ids)));
  }
}

TEST(HfExport, WritesTheRequestedDtype) {
  TempDir dir;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 6);
  save_hf_checkpoint(dir / "bf16", *model, at::kBFloat16);
  EXPECT_EQ(load_llama_config(dir / "bf16").torch_dtype, "bfloat16");
  const auto tensors = safetensors::load_all(dir / "bf16" / "model.safetensors");
  const at::Tensor w = model->named_parameters()["model.layers.0.mlp.down_proj.weight"];
  const at::Tensor saved = tensors.at("model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(saved.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(saved, w.to(at::kBFloat16)));
  const std::string message = error_message([&] { save_hf_checkpoint(dir / "f64", *model, at::kDouble); });
  EXPECT_NE(message.find("cannot export a Llama checkpoint in Double"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir / "f64"));
}

// ---- (c) LoRA exported merged ---------------------------------------------------------------------------

TEST(HfExport, LoraModelIsExportedMerged) {
  TempDir dir;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 8);
  LoraConfig lora;
  lora.r = 4;
  lora.alpha = 8;
  lora.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  apply_lora(model, lora);
  model->eval();
  at::manual_seed(9);
  {
    c10::NoGradGuard no_grad;
    for (auto& [name, layer] : lora_layers(*model)) layer->lora_B->weight.normal_(0, 0.2);
  }
  // Layer 0's q_proj is merged already: written as is, not merged twice.
  lora_layers(*model).front().second->merge();
  ASSERT_EQ(lora_layers(*model).front().first, "model.layers.0.self_attn.q_proj");

  at::manual_seed(10);
  const at::Tensor ids = at::randint(0, 64, {2, 11});
  const at::Tensor before = all_logits(*model, ids);
  save_hf_checkpoint(dir / "merged", *model, at::kFloat);
  EXPECT_TRUE(at::equal(all_logits(*model, ids), before)) << "exporting changed the model";

  const safetensors::Checkpoint checkpoint = safetensors::Checkpoint::open(dir / "merged");
  for (const std::string& name : checkpoint.names()) EXPECT_EQ(name.find("lora"), std::string::npos) << name;
  LlamaForCausalLM plain = testing::random_model(testing::tiny_config(), 8);
  std::vector<std::string> expected;
  for (const auto& p : plain->named_parameters()) expected.push_back(p.key());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(checkpoint.names(), expected);

  LlamaForCausalLM loaded = load_llama(dir / "merged", at::kFloat);
  const at::Tensor after = all_logits(*loaded, ids);
  const double diff = max_abs_diff(before, after);
  const double effect = max_abs_diff(all_logits(*plain, ids), before);  // the adapters must matter
  std::printf("[hf export] LoRA merged: max |diff| %.3g, adapter effect %.3g\n", diff, effect);
  EXPECT_LT(diff, 1e-5);
  EXPECT_GT(effect, 0.1);
}

// ---- (d) the directory is written whole, never over anything ---------------------------------------------

TEST(HfExport, ExistingTargetIsAnErrorAndNothingIsLeftBehind) {
  TempDir dir;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 11);
  lrec::testing::write_text(dir / "out" / "notes.txt", "mine");
  fs::create_directory(dir / "empty");
  for (const char* name : {"out", "empty", "out/"}) {
    const std::string message = error_message([&] { save_hf_checkpoint(dir / name, *model, at::kFloat); });
    EXPECT_NE(message.find("already exists; remove it or choose another output path"), std::string::npos)
        << message;
  }
  EXPECT_EQ(read_file(dir / "out" / "notes.txt"), "mine");
  EXPECT_TRUE(fs::is_empty(dir / "empty"));
  // A failure while writing removes the temporary directory and leaves no target.
  const std::string message = error_message([&] {
    write_new_directory(dir / "new", [](const fs::path& staging) {
      write_file_atomic(staging / "half.txt", "x");
      fail("disk full");
    });
  });
  EXPECT_EQ(message, "disk full");
  EXPECT_EQ(entries(dir.path()), (std::vector<std::string>{"empty", "out"}));
  // A nested target gets its parents.
  save_hf_checkpoint(dir / "a" / "b", *model, at::kFloat);
  EXPECT_EQ(entries(dir / "a"), (std::vector<std::string>{"b"}));
}

// ---- (e) SentencePiece training -------------------------------------------------------------------------

// Titles like the datasets': capitalised words (never Q, X or Z first), years, numbers, punctuation and
// a few non-ASCII characters.
std::vector<std::string> synthetic_titles(int n) {
  static const std::vector<std::string> kAdjectives = {"Midnight", "Silent", "Golden",  "Broken",
                                                       "Hidden",   "Lost",   "Crimson", "Eternal",
                                                       "Wild",     "Little", "Café",    "Über"};
  static const std::vector<std::string> kNouns = {"Dragon",  "Castle",  "Garden", "River",  "Empire", "Storm",
                                                  "Kingdom", "Journey", "Secret", "Shadow", "Voyage"};
  std::mt19937 rng(5);
  std::vector<std::string> titles;
  for (int i = 0; i < n; ++i) {
    std::string t = "The " + kAdjectives[rng() % kAdjectives.size()] + " " + kNouns[rng() % kNouns.size()];
    switch (rng() % 5) {
      case 0:
        t += fmt::format(" ({})", 1950 + rng() % 70);
        break;
      case 1:
        t += fmt::format(": Part {}", 1 + rng() % 12);
        break;
      case 2:
        t += " and the " + kNouns[rng() % kNouns.size()] + "'s Ω";
        break;
      case 3:
        t = kNouns[rng() % kNouns.size()] + ",  " + t;  // two spaces
        break;
      default:
        break;
    }
    titles.push_back(t);
  }
  return titles;
}

TEST(SentencePieceTraining, TrainsALlama2StyleTokenizer) {
  TempDir dir;
  const std::vector<std::string> titles = synthetic_titles(300);
  train_sentencepiece(titles, 400, dir / "a" / "tokenizer.model");
  train_sentencepiece(titles, 400, dir / "b" / "tokenizer.model");
  EXPECT_EQ(read_file(dir / "a" / "tokenizer.model"), read_file(dir / "b" / "tokenizer.model"))
      << "the same input must give the same model bytes";
  EXPECT_EQ(entries(dir / "a"), (std::vector<std::string>{"tokenizer.model"}));

  const Tokenizer tok = Tokenizer::load(dir / "a" / "tokenizer.model");
  EXPECT_LE(tok.vocab_size(), 400);
  EXPECT_GT(tok.vocab_size(), 3 + 256 + 26);
  EXPECT_EQ(tok.id_to_piece(0), "<unk>");
  EXPECT_EQ(tok.id_to_piece(1), "<s>");
  EXPECT_EQ(tok.id_to_piece(2), "</s>");
  EXPECT_EQ(tok.id_to_piece(3), "<0x00>");
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.pad_id(), -1);
  for (const std::string& title : titles) {
    const std::vector<int64_t> ids = tok.encode(title, false, false);
    EXPECT_EQ(tok.decode(ids), title);
    for (int64_t id : ids) EXPECT_NE(id, tok.unk_id()) << title;
  }
  // Byte fallback for characters never seen, split digits, the dummy prefix.
  for (const std::string text : {"日本 {x} ~", "1234", "  spaced   out  ", "tab\there"}) {
    EXPECT_EQ(tok.decode(tok.encode(text, false, false)), text);
  }
  EXPECT_EQ(tok.encode("1234", false, false).size(), 5u);  // "▁" then one piece per digit
  EXPECT_EQ(tok.id_to_piece(tok.encode("The", false, false).front()), "\u2581The");

  // Every capital letter after "\n" is one piece: "▁" (dummy prefix), "<0x0A>", then the bare letter.
  const int64_t newline = tok.piece_to_id("<0x0A>");
  for (char letter = 'A'; letter <= 'Z'; ++letter) {
    const std::string piece(1, letter);
    SCOPED_TRACE(piece);
    const int64_t id = tok.piece_to_id(piece);
    ASSERT_NE(id, tok.unk_id());
    const std::vector<int64_t> ids = tok.encode("\n" + piece, false, false);
    ASSERT_GE(ids.size(), 2u);
    EXPECT_EQ(ids[ids.size() - 2], newline);
    EXPECT_EQ(ids.back(), id);
    const std::vector<int64_t> in_prompt = tok.encode("### Response:\n" + piece, false, false);
    EXPECT_EQ(in_prompt.back(), id);
  }
}

TEST(SentencePieceTraining, ErrorsAreLrecErrors) {
  TempDir dir;
  const std::vector<std::string> titles = synthetic_titles(50);
  const std::string small = error_message([&] { train_sentencepiece(titles, 100, dir / "t.model"); });
  EXPECT_NE(small.find("Vocabulary size is smaller than required_chars"), std::string::npos) << small;
  EXPECT_NE(error_message([&] {
              train_sentencepiece({"", "\n"}, 400, dir / "t.model");
            }).find("no text"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "t.model"));
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

// ---- (f) transformers and Python sentencepiece on the export ----------------------------------------------

TEST(HfExport, TransformersAndPythonSentencepieceAgree) {
  TempDir dir;
  const fs::path out = dir / "tiny";
  const std::vector<std::string> titles = synthetic_titles(300);
  LlamaConfig cfg;
  write_new_directory(out, [&](const fs::path& staging) {
    train_sentencepiece(titles, 500, staging / "tokenizer.model");
    cfg = testing::tiny_config(4, 2);
    cfg.vocab_size = Tokenizer::load(staging / "tokenizer.model").vocab_size();
    cfg.rms_norm_eps = 1e-5;
    LlamaForCausalLM model = testing::random_model(cfg, 12);
    write_hf_checkpoint_files(staging, *model, at::kFloat);
  });
  const Tokenizer tok = Tokenizer::load(out);
  const std::vector<std::string> texts = {titles[0], titles[7], "### Response:\nC", "Café 1999 Ω 日本",
                                          "  two  spaces\tand a tab"};
  std::map<std::string, at::Tensor> inputs;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int64_t> ids = tok.encode(texts[i]);  // with <s>
    inputs[fmt::format("ids_{}", i)] = at::tensor(ids, at::kLong).unsqueeze(0);
  }
  safetensors::save(dir / "ids.safetensors", inputs);
  write_file_atomic(dir / "texts.json", nlohmann::json(texts).dump());

  const int rc = testing::run_python(
      "hf_export_check.py", fmt::format("{} {} {} {}", out.string(), (dir / "texts.json").string(),
                                        (dir / "ids.safetensors").string(), (dir / "python").string()));
  if (rc == lrec::testing::kPythonPackagesMissing) {
    GTEST_SKIP() << "torch/transformers/safetensors/sentencepiece not importable in " << LREC_PYTHON;
  }
  ASSERT_EQ(rc, 0) << "tests/python/hf_export_check.py failed";

  const nlohmann::json encoded = nlohmann::json::parse(read_file(dir / "python" / "ids.json"));
  const auto logits = safetensors::load_all(dir / "python" / "logits.safetensors");
  LlamaForCausalLM ours = load_llama(out, at::kFloat);
  for (size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE(nlohmann::json(texts[i]).dump());
    EXPECT_EQ(encoded[i].get<std::vector<int64_t>>(), tok.encode(texts[i], false, false));
    const at::Tensor theirs = logits.at(fmt::format("logits_{}", i));
    const at::Tensor mine = all_logits(*ours, inputs.at(fmt::format("ids_{}", i)));
    ASSERT_EQ(theirs.sizes(), mine.sizes());
    const double diff = max_abs_diff(mine, theirs);
    std::printf("[hf export] transformers, text %zu (%lld tokens): max |diff| %.3g, max |logit| %.3g\n", i,
                static_cast<long long>(mine.size(1)), diff, theirs.abs().max().item<double>());
    EXPECT_LT(diff, 1e-4);
  }
}

}  // namespace
}  // namespace lrec::llm
