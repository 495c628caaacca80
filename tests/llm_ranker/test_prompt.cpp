// The LlamaRec prompt and its letter verbalizer, on Llama 2's real tokenizer.
#include <gtest/gtest.h>

#include <filesystem>

#include "llm_ranker/prompt.h"
#include "tests/common/test_util.h"

namespace lrec::llm {
namespace {

namespace fs = std::filesystem;
using lrec::testing::error_message;

class Llama2Prompt : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path shared = lrec::testing::shared_dir();
    const fs::path model = shared / "fixtures/llama2-tokenizer/tokenizer.model";
    if (shared.empty() || !fs::exists(model)) GTEST_SKIP() << "no Llama 2 tokenizer in ../shared/fixtures";
    tokenizer_ = Tokenizer::load(model);
  }
  Tokenizer tokenizer_;
};

std::vector<std::string> titles(const std::string& stem, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(stem + " " + std::to_string(i));
  return out;
}

TEST(Substitute, ReplacesOncePassAndKeepsEscapedBraces) {
  EXPECT_EQ(substitute("a {x} {{y}} {z}", {{"x", "{z}"}, {"z", "1"}}, "t"), "a {z} {y} 1");
  EXPECT_NE(error_message([] {
              substitute("{nope}", {{"x", ""}}, "file.yaml, input");
            }).find("file.yaml, input: unknown placeholder {nope}"),
            std::string::npos);
  EXPECT_NE(error_message([] { substitute("a {x", {{"x", ""}}, "t"); }).find("unclosed"), std::string::npos);
}

TEST_F(Llama2Prompt, RendersLlamaRecText) {
  const PromptBuilder builder(tokenizer_, {});
  const std::string text = builder.render({"Heat (1995)", "Up (2009)"}, {"Alien (1979)", "Big (1988)"});
  EXPECT_EQ(
      text,
      "### Instruction:\nGiven user history in chronological order, recommend an item from the candidate "
      "pool with its index letter.\n\n### Input:\nUser history: (1) Heat (1995) \n (2) Up (2009); \n "
      "Candidate pool: (A) Alien (1979) \n (B) Big (1988)\n\n### Response:\n");
}

// LlamaRec trains on the bare "A" after "\n" but scores encode("A") = "▁A". Ours derives the scored id
// from the prompt itself, and it is the id the training sequence holds after the prompt.
TEST_F(Llama2Prompt, TrainingAndScoringUseTheSameLetterIds) {
  const PromptBuilder builder(tokenizer_, {});
  ASSERT_EQ(builder.letter_ids().size(), 26u);
  EXPECT_EQ(builder.letter_ids()[0], 29909);                                       // bare "A"
  EXPECT_NE(builder.letter_ids()[0], tokenizer_.encode("A", false, false).at(0));  // "▁A" = 319
  const std::vector<std::string> history = titles("Movie", 5), candidates = titles("Film", 20);
  const std::vector<int64_t> prompt = builder.encode(history, candidates);
  for (int j = 0; j < 20; ++j) {
    const std::string full = builder.render(history, candidates) + candidate_letter(j);
    const std::vector<int64_t> trained = tokenizer_.encode(full, true, false);
    ASSERT_EQ(trained.size(), prompt.size() + 1) << candidate_letter(j);
    EXPECT_TRUE(std::equal(prompt.begin(), prompt.end(), trained.begin()));
    EXPECT_EQ(trained.back(), builder.letter_ids()[static_cast<size_t>(j)]) << candidate_letter(j);
    EXPECT_EQ(tokenizer_.id_to_piece(trained.back()), candidate_letter(j));
  }
}

TEST_F(Llama2Prompt, TitlesAreCutTo32Tokens) {
  const PromptBuilder builder(tokenizer_, {});
  std::string long_title;
  for (int i = 0; i < 40; ++i) long_title += "word" + std::to_string(i) + " ";
  const std::string cut = builder.truncate_title(long_title);
  EXPECT_EQ(tokenizer_.encode(cut, false, false).size(), 32u);
  EXPECT_EQ(long_title.rfind(cut, 0), 0u) << cut;
  EXPECT_EQ(builder.truncate_title("Heat (1995)"), "Heat (1995)");
}

TEST_F(Llama2Prompt, DropsOldestHistoryFirstAndKeepsCandidates) {
  PromptConfig cfg;
  const std::vector<std::string> history = titles("An old movie about many things", 20);
  const std::vector<std::string> candidates = titles("Candidate", 20);
  const size_t full = PromptBuilder(tokenizer_, cfg).encode(history, candidates).size();
  cfg.max_length = static_cast<int>(full) - 20 + 2;  // a little too short for all 20 items
  const PromptBuilder builder(tokenizer_, cfg);
  const std::vector<int64_t> ids = builder.encode(history, candidates);
  EXPECT_LE(ids.size(), full - 20);
  // It kept the longest suffix that fits: the newest items, renumbered from 1, and every candidate.
  const std::string text = tokenizer_.decode(ids);
  std::vector<bool> present;
  for (int i = 0; i < 20; ++i) {
    const std::string item = "things " + std::to_string(i);
    present.push_back(text.find(item + " \n") != std::string::npos ||
                      text.find(item + ";") != std::string::npos);
  }
  const auto kept = static_cast<size_t>(std::count(present.begin(), present.end(), true));
  for (size_t i = 0; i < 20; ++i) EXPECT_EQ(present[i], i >= 20 - kept) << i;  // the newest `kept` items
  ASSERT_GT(kept, 0u);
  ASSERT_LT(kept, 20u);
  EXPECT_NE(text.find("(1) An old movie"), std::string::npos);
  EXPECT_NE(text.find("(T) Candidate 19"), std::string::npos);
  const std::vector<std::string> one_more(history.end() - static_cast<ptrdiff_t>(kept) - 1, history.end());
  EXPECT_GT(tokenizer_.encode(builder.render(one_more, candidates), true, false).size() + 2,
            static_cast<size_t>(cfg.max_length));

  cfg.max_length = 50;
  EXPECT_NE(error_message([&] {
              PromptBuilder(tokenizer_, cfg).encode(history, candidates);
            }).find("Raise prompt.max_length"),
            std::string::npos);
}

TEST_F(Llama2Prompt, TemplateFileErrorsNameTheFile) {
  lrec::testing::TempDir dir;
  const fs::path file = dir.path() / "bad.yaml";
  lrec::testing::write_text(file, "prompt: \"{instruction} {inputs}\"\n");
  PromptConfig cfg;
  cfg.template_file = file.string();
  const std::string message = error_message([&] { PromptBuilder(tokenizer_, cfg); });
  EXPECT_NE(message.find("bad.yaml, prompt: unknown placeholder {inputs}"), std::string::npos) << message;

  lrec::testing::write_text(file, "promt: \"x\"\n");
  EXPECT_NE(error_message([&] { PromptBuilder(tokenizer_, cfg); }).find("Did you mean 'prompt'"),
            std::string::npos);
  // A template whose letter merges into the prompt's last token has no answer position.
  lrec::testing::write_text(file, "prompt: \"{instruction} {input} Answer: \"\n");
  const std::string merged = error_message([&] { PromptBuilder(tokenizer_, cfg); });
  EXPECT_NE(merged.find("merges the letter"), std::string::npos) << merged;
  // Every part must reach the prompt.
  lrec::testing::write_text(file, "input: \"User history: {history}\"\n");
  const std::string blind = error_message([&] { PromptBuilder(tokenizer_, cfg); });
  EXPECT_NE(blind.find("bad.yaml: 'input' has no {candidates}"), std::string::npos) << blind;
  lrec::testing::write_text(file, "candidate_item: \"- {title}\"\n");
  const std::string unlettered = error_message([&] { PromptBuilder(tokenizer_, cfg); });
  EXPECT_NE(unlettered.find("'candidate_item' has no {letter}"), std::string::npos) << unlettered;
}

TEST_F(Llama2Prompt, BuiltInTemplateEqualsTheShippedFile) {
  const fs::path file = fs::path(LREC_SOURCE_DIR) / "configs/prompts/llamarec.yaml";
  PromptConfig cfg;
  cfg.template_file = file.string();
  const PromptBuilder from_file(tokenizer_, cfg), built_in(tokenizer_, {});
  EXPECT_EQ(from_file.render({"x"}, {"y", "z"}), built_in.render({"x"}, {"y", "z"}));
}

// The shipped variant for small models puts each letter after its title; the answer position and the
// letter ids stay those of LlamaRec's template.
TEST_F(Llama2Prompt, LetterAfterTitleTemplateMovesOnlyTheLetters) {
  PromptConfig cfg;
  cfg.template_file = (fs::path(LREC_SOURCE_DIR) / "configs/prompts/letter_after_title.yaml").string();
  const PromptBuilder after(tokenizer_, cfg), built_in(tokenizer_, {});
  EXPECT_EQ(
      after.render({"Heat (1995)"}, {"Alien (1979)", "Big (1988)"}),
      "### Instruction:\nGiven user history in chronological order, recommend an item from the candidate "
      "pool with its index letter.\n\n### Input:\nUser history: (1) Heat (1995); \n Candidate pool: "
      "Alien (1979) (A) \n Big (1988) (B)\n\n### Response:\n");
  EXPECT_EQ(after.letter_ids(), built_in.letter_ids());
}

}  // namespace
}  // namespace lrec::llm
