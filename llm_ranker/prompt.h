// LlamaRec's ranking prompt and its letter verbalizer (Yue et al. 2023, Section 3.2):
//
//   <s>### Instruction:
//   Given user history in chronological order, recommend an item from the candidate pool with its index
//   letter.
//
//   ### Input:
//   User history: (1) title \n (2) title ...; \n Candidate pool: (A) title \n (B) title ... (T) title
//
//   ### Response:
//   {letter}</s>
//
// The template is data (configs/prompts/llamarec.yaml holds the built-in one). Every title is cut to
// max_title_tokens tokens. A prompt longer than max_length - 2 tokens (2 = the letter and EOS) loses its
// oldest history items first; the instruction and the candidates are never cut.
//
// Verbalizer: the score of candidate j is the logit, at the last prompt position, of the token the model
// emits for letter j there. That token is found by tokenizing prompt + letter and taking the first token
// after the prompt's own tokens, so training targets and ranking scores use the same ids. (With Llama 2,
// "A" after "\n" is the bare piece "A" = 29909, while encode("A") alone is "▁A" = 319.)
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "llm_ranker/tokenizer.h"

namespace lrec::llm {

inline constexpr int kMaxCandidates = 26;  // letters A..Z

struct PromptTemplate {
  std::string prompt = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n";
  std::string instruction =
      "Given user history in chronological order, recommend an item from the candidate pool with its index "
      "letter.";
  std::string input = "User history: {history}; \n Candidate pool: {candidates}";
  std::string history_item = "({index}) {title}";
  std::string candidate_item = "({letter}) {title}";
  std::string separator = " \n ";

  // A YAML file with these keys (all optional); errors name the file and line.
  static PromptTemplate load(const std::filesystem::path& path);

  template <class V>
  void visit(V& v) {
    v("prompt", prompt);
    v("instruction", instruction);
    v("input", input);
    v("history_item", history_item);
    v("candidate_item", candidate_item);
    v("separator", separator);
  }
};

struct PromptConfig {
  std::string template_file;  // "": the built-in LlamaRec template
  int max_title_tokens = 32;  // LlamaRec llm_max_title_len
  int max_length = 1536;      // LlamaRec llm_max_text_len: prompt + letter + EOS

  template <class V>
  void visit(V& v) {
    v("template_file", template_file);
    v("max_title_tokens", max_title_tokens);
    v("max_length", max_length);
  }
};

// Replaces each {name} in `text` by values[name] in one pass (inserted values are not scanned again);
// "{{" and "}}" are literal braces. An unknown or unclosed placeholder is an error naming `where`.
std::string substitute(const std::string& text,
                       const std::vector<std::pair<std::string, std::string>>& values,
                       const std::string& where);

std::string candidate_letter(int index);  // 0 -> "A"

class PromptBuilder {
 public:
  // Checks the template and derives the letter ids for up to kMaxCandidates candidates.
  PromptBuilder(const Tokenizer& tokenizer, PromptConfig cfg);

  // The title as its first max_title_tokens tokens (LlamaRec cuts the token list and decodes it).
  std::string truncate_title(const std::string& title) const;

  // Token ids of the prompt (BOS included, answer excluded) for already truncated titles: history
  // chronological, candidates in letter order. Drops the oldest history items until it fits.
  std::vector<int64_t> encode(const std::vector<std::string>& history_titles,
                              const std::vector<std::string>& candidate_titles) const;
  // The prompt text with `history_titles` as given (no dropping).
  std::string render(const std::vector<std::string>& history_titles,
                     const std::vector<std::string>& candidate_titles) const;

  // The answer token of candidate j (0 = "A"): letter_ids()[j].
  const std::vector<int64_t>& letter_ids() const { return letter_ids_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const PromptConfig& config() const { return cfg_; }
  const PromptTemplate& prompt_template() const { return template_; }

 private:
  Tokenizer tokenizer_;  // shares the processor
  PromptConfig cfg_;
  PromptTemplate template_;
  std::string template_source_;
  std::vector<int64_t> letter_ids_;
};

// How a ranker's prompts are built, saved beside its trained adapter (or model) as kPromptSettingsFile so
// that `rank` serves with the prompts it was trained on: the template's text, not its file name.
struct PromptSettings {
  int max_history = 20;
  int max_title_tokens = 32;
  int max_length = 1536;
  PromptTemplate prompt_template;

  PromptSettings() = default;
  PromptSettings(const PromptBuilder& builder, int max_history);

  template <class V>
  void visit(V& v) {
    v("max_history", max_history);
    v("max_title_tokens", max_title_tokens);
    v("max_length", max_length);
    v("template", prompt_template);
  }
};

inline constexpr const char* kPromptSettingsFile = "lrec_prompt.yaml";

void save_prompt_settings(const std::filesystem::path& dir, const PromptSettings& settings);
// When `dir` holds kPromptSettingsFile: fails unless `serving` equals it, naming the settings that differ.
// Without the file (an adapter from elsewhere, e.g. PEFT) there is nothing to check.
void check_prompt_settings(const std::filesystem::path& dir, const PromptSettings& serving);

}  // namespace lrec::llm
