#include "llm_ranker/spm_train.h"

#include <sentencepiece_trainer.h>

#include <string_view>
#include <unordered_map>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lrec::llm {

namespace {

// Feeds the trainer one line at a time.
class LineIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(const std::vector<std::string>& lines) : lines_(lines) {}
  bool done() const override { return next_ >= lines_.size(); }
  void Next() override { ++next_; }
  const std::string& value() const override { return lines_[next_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& lines_;
  size_t next_ = 0;
};

std::vector<std::string> split_lines(const std::vector<std::string>& texts) {
  std::vector<std::string> lines;
  for (const std::string& text : texts) {
    std::string_view rest = text;
    while (!rest.empty()) {
      const size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) lines.emplace_back(line);
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  return lines;
}

}  // namespace

void train_sentencepiece(const std::vector<std::string>& texts, int vocab_size,
                         const std::filesystem::path& model_path) {
  std::vector<std::string> lines = split_lines(texts);
  if (lines.empty()) fail("cannot train a tokenizer for {}: no text was given.", model_path.string());
  // Every character of the corpus gets a piece (character_coverage 1.0), so each capital letter is added
  // as a sentence of its own. (The trainer's required_chars would be the direct way, but 0.1.97's BPE
  // trainer aborts the process, CHECK(freq > 0), on a required character absent from the corpus.)
  for (char letter = 'A'; letter <= 'Z'; ++letter) lines.emplace_back(1, letter);
  if (vocab_size <= 0) fail("tokenizer vocab_size must be positive, got {}.", vocab_size);

  const std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},
      {"vocab_size", std::to_string(vocab_size)},
      {"hard_vocab_limit", "false"},  // a small corpus may run out of merges before vocab_size
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"add_dummy_prefix", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"character_coverage", "1.0"},
      {"unk_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"pad_id", "-1"},
      {"unk_piece", "<unk>"},
      {"bos_piece", "<s>"},
      {"eos_piece", "</s>"},
      // Determinism: every sentence, in order, on one thread.
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"num_threads", "1"},
      {"max_sentence_length", "65536"},  // bytes; longer lines would be dropped silently
      {"minloglevel", "1"},              // warnings only (the trainer logs every merge otherwise)
  };
  LineIterator iterator(lines);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &model);
  if (!status.ok()) {
    fail("training the SentencePiece tokenizer for {} failed: {}", model_path.string(), status.ToString());
  }
  if (model.empty()) fail("training the SentencePiece tokenizer for {} gave no model.", model_path.string());
  write_file_atomic(model_path, model);
}

}  // namespace lrec::llm
