// The SentencePiece tokenizer of Llama 1/2 and the Mistral family (`tokenizer.model`), via libsentencepiece.
//
// Encoding follows the model's normalizer: with add_dummy_prefix (Llama 2) a text's first word gets the
// "▁" word-start marker, so "A" alone is "▁A" (id 319) while the "A" after "\n" is the bare "A" (id 29909).
// A directory may hold tokenizer_config.json and special_tokens_map.json: add_bos_token, add_eos_token and
// the bos/eos/pad/unk token strings are read from them (transformers' defaults: BOS added, EOS not).
// Llama 3's byte-level BPE `tokenizer.json` is not supported yet (a clear error).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace lrec::llm {

class Tokenizer {
 public:
  // `path`: a tokenizer.model file, or a model directory holding one.
  static Tokenizer load(const std::filesystem::path& path);

  // With the configured add_bos / add_eos.
  std::vector<int64_t> encode(std::string_view text) const;
  std::vector<int64_t> encode(std::string_view text, bool add_bos, bool add_eos) const;
  std::string decode(const std::vector<int64_t>& ids) const;  // BOS/EOS/padding decode to nothing

  std::string id_to_piece(int64_t id) const;
  int64_t piece_to_id(std::string_view piece) const;  // unk_id() when absent
  int64_t vocab_size() const;
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t pad_id() const { return pad_id_; }  // -1 when the tokenizer has none (Llama 2)
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }

 private:
  std::shared_ptr<sentencepiece::SentencePieceProcessor> sp_;
  int64_t bos_id_ = -1, eos_id_ = -1, unk_id_ = -1, pad_id_ = -1;
  bool add_bos_ = true, add_eos_ = false;
};

}  // namespace lrec::llm
