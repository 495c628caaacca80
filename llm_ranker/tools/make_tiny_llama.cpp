// make_tiny_llama: writes a tiny RANDOM Llama in Hugging Face layout, with a SentencePiece tokenizer
// trained on a dataset's item titles: the embedded default model of the ranker (no download needed).
//
//   make_tiny_llama --config configs/synthetic/tiny_llama.yaml [key=value ...]
//
// Output (one directory, created whole or not at all):
//   config.json, model.safetensors   LlamaForCausalLM with vocab_size = the trained tokenizer's size
//   tokenizer.model                  BPE, Llama 2 settings (llm_ranker/spm_train.h)
//   tokenizer_config.json            add_bos_token true, add_eos_token false, <s> </s> <unk>
//   make_tiny_llama.json             what it was made from: the settings and a hash of the training text
// Idempotent: when output_dir already holds a model made from the same settings and text, it says so and
// exits 0; when it holds anything else, it fails and names the difference (it never deletes anything).
#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/checksum.h"
#include "core/config.h"
#include "core/error.h"
#include "core/log.h"
#include "datasets/dataset.h"
#include "llm_ranker/hf_export.h"
#include "llm_ranker/llama_loader.h"
#include "llm_ranker/prompt.h"
#include "llm_ranker/spm_train.h"
#include "llm_ranker/tokenizer.h"

namespace lrec::llm {
namespace {

namespace fs = std::filesystem;
using ordered_json = nlohmann::ordered_json;

struct TinyLlamaConfig {
  std::string output_dir = "runs/synthetic/tiny-llama";
  data::DatasetConfig dataset;  // its titles train the tokenizer (synthetic by default)
  std::string extra_text_file;  // optional: more training text (e.g. the prompt template), one line each
  int vocab_size = 1024;        // target; the written vocab is the trained tokenizer's real size
  int64_t hidden_size = 64;
  int64_t intermediate_size = 176;
  int64_t num_hidden_layers = 2;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 2;
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-5;
  bool tie_word_embeddings = false;
  std::string dtype = "float32";  // on disk
  // Weights ~ N(0, init_std²). transformers' 0.02 suits hidden sizes near 1000; at 64 it caps every logit
  // near |h|·|w| = 8 · 0.02 · 8 ≈ 1.3 through the frozen lm_head, and LoRA cannot lower the loss. 1/sqrt(64).
  double init_std = 0.125;
  uint64_t seed = 42;

  template <class V>
  void visit(V& v) {
    v("output_dir", output_dir);
    v("dataset", dataset);
    v("extra_text_file", extra_text_file);
    v("vocab_size", vocab_size);
    v("hidden_size", hidden_size);
    v("intermediate_size", intermediate_size);
    v("num_hidden_layers", num_hidden_layers);
    v("num_attention_heads", num_attention_heads);
    v("num_key_value_heads", num_key_value_heads);
    v("max_position_embeddings", max_position_embeddings);
    v("rms_norm_eps", rms_norm_eps);
    v("tie_word_embeddings", tie_word_embeddings);
    v("dtype", dtype, {"float32", "bfloat16", "float16"});
    v("init_std", init_std);
    v("seed", seed);
  }
};

constexpr const char* kUsage = "make_tiny_llama [--config FILE] [key=value ...]";
constexpr const char* kStampFile = "make_tiny_llama.json";
const char* const kOutputFiles[] = {"config.json", "model.safetensors", "tokenizer.model",
                                    "tokenizer_config.json", kStampFile};

void validate(const TinyLlamaConfig& cfg) {
  if (cfg.output_dir.empty()) fail("output_dir is empty: name the directory to write.");
  for (auto [key, value] : {std::pair{"hidden_size", cfg.hidden_size},
                            {"intermediate_size", cfg.intermediate_size},
                            {"num_hidden_layers", cfg.num_hidden_layers},
                            {"num_attention_heads", cfg.num_attention_heads},
                            {"num_key_value_heads", cfg.num_key_value_heads},
                            {"max_position_embeddings", cfg.max_position_embeddings}}) {
    if (value <= 0) fail("{} must be positive, got {}.", key, value);
  }
  if (cfg.hidden_size % cfg.num_attention_heads != 0 ||
      (cfg.hidden_size / cfg.num_attention_heads) % 2 != 0) {
    fail("hidden_size ({}) must be num_attention_heads ({}) times an even head size.", cfg.hidden_size,
         cfg.num_attention_heads);
  }
  if (cfg.num_attention_heads % cfg.num_key_value_heads != 0) {
    fail("num_key_value_heads ({}) must divide num_attention_heads ({}).", cfg.num_key_value_heads,
         cfg.num_attention_heads);
  }
  if (cfg.vocab_size <= 0) fail("vocab_size must be positive, got {}.", cfg.vocab_size);
  if (!(cfg.rms_norm_eps > 0)) fail("rms_norm_eps must be positive, got {}.", cfg.rms_norm_eps);
  if (!(cfg.init_std > 0)) fail("init_std must be positive, got {}.", cfg.init_std);
}

// The tokenizer's training text: every non-empty title, then the extra file's lines.
std::vector<std::string> training_texts(const TinyLlamaConfig& cfg) {
  const data::Dataset dataset = data::load_dataset(cfg.dataset);
  std::vector<std::string> texts;
  for (const std::string& title : dataset.titles) {
    if (!title.empty()) texts.push_back(title);
  }
  if (texts.empty()) {
    fail("dataset '{}' has no item titles to train the tokenizer on; use a dataset with titles.",
         dataset.name);
  }
  // The ranker's prompt (the built-in template, rendered), so its words become pieces too.
  const PromptTemplate prompt;
  for (const std::string* text : {&prompt.prompt, &prompt.instruction, &prompt.input}) texts.push_back(*text);
  if (!cfg.extra_text_file.empty()) {
    if (!fs::is_regular_file(cfg.extra_text_file)) {
      fail("extra_text_file: {} is not a readable file.", cfg.extra_text_file);
    }
    texts.push_back(read_file(cfg.extra_text_file));  // train_sentencepiece splits it into lines
  }
  return texts;
}

// What a model is made from: every setting that changes the files, and the training text (by hash, so a
// changed dataset or extra file is noticed even under the same config). Not output_dir, nor where the
// dataset is read or cached from.
ordered_json recipe(const TinyLlamaConfig& cfg, const std::vector<std::string>& texts) {
  uint64_t hash = hash64("");
  for (const std::string& text : texts) hash = hash64(text + '\n', hash);
  ordered_json settings;
  settings["vocab_size"] = cfg.vocab_size;
  settings["hidden_size"] = cfg.hidden_size;
  settings["intermediate_size"] = cfg.intermediate_size;
  settings["num_hidden_layers"] = cfg.num_hidden_layers;
  settings["num_attention_heads"] = cfg.num_attention_heads;
  settings["num_key_value_heads"] = cfg.num_key_value_heads;
  settings["max_position_embeddings"] = cfg.max_position_embeddings;
  settings["rms_norm_eps"] = cfg.rms_norm_eps;
  settings["tie_word_embeddings"] = cfg.tie_word_embeddings;
  settings["dtype"] = cfg.dtype;
  settings["init_std"] = cfg.init_std;
  settings["seed"] = cfg.seed;
  ordered_json out;
  out["tool"] = "make_tiny_llama";
  out["settings"] = settings;
  out["training_text"] = {{"texts", texts.size()}, {"fnv1a64", fmt::format("{:016x}", hash)}};
  return out;
}

// Whether `dir` already holds the model `expected` describes: true if so, an error if it holds anything else.
bool already_made(const fs::path& dir, const ordered_json& expected) {
  if (!fs::exists(fs::symlink_status(dir))) return false;
  const std::string fix = "remove it or choose another output_dir (nothing was changed)";
  if (!fs::is_directory(dir) || !fs::exists(dir / kStampFile)) {
    fail("output_dir {} already exists and is not a make_tiny_llama output; {}.", dir.string(), fix);
  }
  for (const char* file : kOutputFiles) {
    if (!fs::exists(dir / file)) fail("output_dir {} lacks {}; {}.", dir.string(), file, fix);
  }
  const ordered_json found = ordered_json::parse(read_file(dir / kStampFile), nullptr, false);
  if (found.is_discarded() || !found.is_object() || !found.contains("settings")) {
    fail("{}: not a make_tiny_llama record; {}.", (dir / kStampFile).string(), fix);
  }
  std::vector<std::string> differences;
  for (const auto& [key, value] : expected["settings"].items()) {
    const ordered_json was = found["settings"].value(key, ordered_json());
    if (was != value) differences.push_back(fmt::format("{} {} (now {})", key, was.dump(), value.dump()));
  }
  if (found.value("training_text", ordered_json()) != expected["training_text"]) {
    differences.push_back(fmt::format("training text {} (now {})",
                                      found.value("training_text", ordered_json()).dump(),
                                      expected["training_text"].dump()));
  }
  if (!differences.empty()) {
    fail("output_dir {} holds a tiny Llama made from different inputs: {}; {}.", dir.string(),
         fmt::join(differences, "; "), fix);
  }
  return true;
}

std::string tokenizer_config_json(int64_t max_length) {
  ordered_json j;
  j["add_bos_token"] = true;
  j["add_eos_token"] = false;
  j["bos_token"] = "<s>";
  j["eos_token"] = "</s>";
  j["unk_token"] = "<unk>";
  j["pad_token"] = nullptr;
  j["tokenizer_class"] = "LlamaTokenizer";
  j["model_max_length"] = max_length;
  j["clean_up_tokenization_spaces"] = false;
  return j.dump(2) + "\n";
}

int run(const TinyLlamaConfig& cfg) {
  validate(cfg);
  const fs::path out = cfg.output_dir;
  const std::vector<std::string> texts = training_texts(cfg);
  const ordered_json made_from = recipe(cfg, texts);
  if (already_made(out, made_from)) {
    const LlamaConfig existing = load_llama_config(out);
    std::printf("make_tiny_llama: %s is up to date (vocab %lld, same settings and training text)\n",
                out.string().c_str(), static_cast<long long>(existing.vocab_size));
    return 0;
  }

  int64_t parameters = 0, vocab = 0;
  write_new_directory(out, [&](const fs::path& staging) {
    train_sentencepiece(texts, cfg.vocab_size, staging / "tokenizer.model");
    const Tokenizer tokenizer = Tokenizer::load(staging / "tokenizer.model");
    vocab = tokenizer.vocab_size();

    LlamaConfig llama;
    llama.hidden_size = cfg.hidden_size;
    llama.intermediate_size = cfg.intermediate_size;
    llama.num_hidden_layers = cfg.num_hidden_layers;
    llama.num_attention_heads = cfg.num_attention_heads;
    llama.num_key_value_heads = cfg.num_key_value_heads;
    llama.head_dim = cfg.hidden_size / cfg.num_attention_heads;
    llama.vocab_size = vocab;
    llama.max_position_embeddings = cfg.max_position_embeddings;
    llama.rms_norm_eps = cfg.rms_norm_eps;
    llama.tie_word_embeddings = cfg.tie_word_embeddings;
    llama.torch_dtype = cfg.dtype;
    llama.bos_token_id = tokenizer.bos_id();
    llama.eos_token_ids = {tokenizer.eos_id()};
    // Initialised in fp32 whatever the disk dtype, so a bf16 model is the fp32 one rounded.
    at::manual_seed(cfg.seed);
    LlamaForCausalLM model(llama, at::TensorOptions().dtype(at::kFloat));
    model->init_random(cfg.init_std);
    for (const at::Tensor& p : model->parameters()) parameters += p.numel();

    write_hf_checkpoint_files(staging, *model, parse_dtype(cfg.dtype));
    write_file_atomic(staging / "tokenizer_config.json", tokenizer_config_json(cfg.max_position_embeddings));
    write_file_atomic(staging / kStampFile, made_from.dump(2) + "\n");
  });
  std::printf("make_tiny_llama: %lld parameters, vocab %lld, %s -> %s\n", static_cast<long long>(parameters),
              static_cast<long long>(vocab), cfg.dtype.c_str(), out.string().c_str());
  return 0;
}

}  // namespace
}  // namespace lrec::llm

int main(int argc, char** argv) {
  using namespace lrec;
  try {
    const auto cli = config::parse_command_line(argc, argv, llm::kUsage);
    if (cli.help) {
      std::printf("usage: %s\n\nkeys and defaults:\n%s", llm::kUsage,
                  config::to_yaml(llm::TinyLlamaConfig{}).c_str());
      return 0;
    }
    return llm::run(config::load<llm::TinyLlamaConfig>(cli));
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    return 1;
  }
}
