#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "llm_ranker/tokenizer.h"
#include "tests/common/test_util.h"
#include "tests/llm_ranker/llama_test_util.h"

namespace lrec::llm {
namespace {

using lrec::testing::error_message;
using lrec::testing::TempDir;
namespace fs = std::filesystem;

class Llama2Tokenizer : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path shared = lrec::testing::shared_dir();
    model_ = shared / "fixtures/llama2-tokenizer/tokenizer.model";
    if (shared.empty() || !fs::exists(model_)) GTEST_SKIP() << "no Llama 2 tokenizer in ../shared/fixtures";
  }
  // A model directory with a link to the Llama 2 tokenizer.model (nothing is copied).
  TempDir model_dir() const {
    TempDir dir;
    fs::create_symlink(model_, dir / "tokenizer.model");
    return dir;
  }
  fs::path model_;
};

TEST_F(Llama2Tokenizer, SpecialIdsAndDefaults) {
  const Tokenizer tok = Tokenizer::load(model_);
  EXPECT_EQ(tok.vocab_size(), 32000);
  EXPECT_EQ(tok.unk_id(), 0);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.pad_id(), -1);
  EXPECT_EQ(tok.piece_to_id("<0x0A>"), 13);
  EXPECT_EQ(tok.encode("Hello world"), (std::vector<int64_t>{1, 15043, 3186}));  // BOS added by default
  EXPECT_EQ(tok.encode("Hello world", false, true), (std::vector<int64_t>{15043, 3186, 2}));
  EXPECT_EQ(tok.decode({1, 15043, 3186, 2}), "Hello world");
}

// Ids from Python sentencepiece 0.2.3 on the same tokenizer.model.
TEST_F(Llama2Tokenizer, LetterIdsAloneAndAfterNewlineDiffer) {
  const Tokenizer tok = Tokenizer::load(model_);
  const std::vector<int64_t> alone = {319, 350, 315, 360, 382, 383, 402, 379, 306, 435,
                                      476, 365, 341, 405, 438, 349, 660, 390, 317, 323};
  const std::vector<int64_t> after_newline = {29909, 29933, 29907, 29928, 29923, 29943, 29954,
                                              29950, 29902, 29967, 29968, 29931, 29924, 29940,
                                              29949, 29925, 29984, 29934, 29903, 29911};
  for (int i = 0; i < 20; ++i) {
    const std::string letter(1, static_cast<char>('A' + i));
    EXPECT_EQ(tok.encode(letter, false, false), std::vector<int64_t>{alone[i]}) << letter;
    EXPECT_EQ(tok.id_to_piece(alone[i]), "\xE2\x96\x81" + letter);  // "▁A": the dummy prefix
    // "\nA" = "▁" (dummy prefix), "<0x0A>", then the bare letter.
    EXPECT_EQ(tok.encode("\n" + letter, false, false), (std::vector<int64_t>{29871, 13, after_newline[i]}))
        << letter;
    EXPECT_EQ(tok.id_to_piece(after_newline[i]), letter);
  }
}

TEST_F(Llama2Tokenizer, RoundTrips) {
  const Tokenizer tok = Tokenizer::load(model_);
  for (const std::string text :
       {"Hello, world!", "### Instruction:\nRank the items.\n\n### Response:\nC",
        "(1) Toy Story (1995) \n (2) Jumanji", "naïve café, Ünïcödé, 你好, 🙂🚀", "a\tb\nc",
        "x  y   z", "1234567890 3.14159"}) {
    EXPECT_EQ(tok.decode(tok.encode(text)), text);
  }
}

std::vector<std::string> random_strings(int n) {
  const std::vector<std::string> atoms = {
      "the", " movie",    "Star",  " Wars", "(",    ")", "1995", " ",  "  ", "\n",     "\t", "é",
      "ñ",   "ü",         "你",    "好",    "🙂", "—", "'",    "\"", ":",  ";",      "A",  "B",
      "###", " Response", "Input", "ID",    "x",    "?", "!",    ".",  ",",  "\u00a0", "ß",  "Ω"};
  std::mt19937 rng(7);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string s;
    const int len = 1 + static_cast<int>(rng() % 12);
    for (int j = 0; j < len; ++j) s += atoms[rng() % atoms.size()];
    out.push_back(s);
  }
  return out;
}

TEST_F(Llama2Tokenizer, AgreesWithPythonSentencepiece) {
  TempDir dir;
  const std::vector<std::string> texts = random_strings(300);
  std::ofstream(dir / "in.json") << nlohmann::json(texts).dump();
  const int rc = testing::run_python(
      "sentencepiece_encode.py",
      fmt::format("{} {} {}", model_.string(), (dir / "in.json").string(), (dir / "out.json").string()));
  if (rc == 77) GTEST_SKIP() << "Python sentencepiece not importable in " << LREC_PYTHON;
  ASSERT_EQ(rc, 0);
  std::ifstream in(dir / "out.json");
  const nlohmann::json out = nlohmann::json::parse(in);
  const Tokenizer tok = Tokenizer::load(model_);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int64_t> ids = tok.encode(texts[i], false, false);
    EXPECT_EQ(ids, out["ids"][i].get<std::vector<int64_t>>()) << nlohmann::json(texts[i]).dump();
    EXPECT_EQ(tok.decode(ids), out["decoded"][i].get<std::string>()) << nlohmann::json(texts[i]).dump();
  }
}

TEST_F(Llama2Tokenizer, ReadsTokenizerConfigAndSpecialTokensMap) {
  const TempDir dir = model_dir();
  lrec::testing::write_text(dir / "special_tokens_map.json",
                            R"({"bos_token": {"content": "<s>", "lstrip": false}, "pad_token": "<unk>"})");
  lrec::testing::write_text(dir / "tokenizer_config.json",
                            R"({"add_bos_token": false, "add_eos_token": true})");
  const Tokenizer tok = Tokenizer::load(dir.path());
  EXPECT_FALSE(tok.add_bos());
  EXPECT_TRUE(tok.add_eos());
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.encode("Hello"), (std::vector<int64_t>{15043, 2}));

  lrec::testing::write_text(dir / "tokenizer_config.json", R"({"pad_token": "<pad>"})");
  const std::string error = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(error.find("pad_token '<pad>' is not a piece"), std::string::npos) << error;
}

TEST(Tokenizer, Llama3TokenizerJsonIsNotSupportedYet) {
  TempDir dir;
  lrec::testing::write_text(dir / "tokenizer.json", R"({"model": {"type": "BPE"}})");
  const std::string error = error_message([&] { Tokenizer::load(dir.path()); });
  EXPECT_NE(error.find("tokenizer.json"), std::string::npos) << error;
  EXPECT_NE(error.find("not supported yet"), std::string::npos) << error;
  const TempDir empty;
  EXPECT_NE(error_message([&] { Tokenizer::load(empty.path()); }).find("no SentencePiece tokenizer.model"),
            std::string::npos);
}

}  // namespace
}  // namespace lrec::llm
