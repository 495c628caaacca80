// Trains a SentencePiece tokenizer (`tokenizer.model`) with the settings of Llama 2's, via
// libsentencepiece_train:
//   BPE; byte_fallback (every byte has a piece <0xNN>, so no text is ever <unk>); split_digits;
//   add_dummy_prefix ("A" alone encodes as "▁A"); identity normalization, whitespace kept as is
//   (remove_extra_whitespaces false, allow_whitespace_only_pieces); <unk> 0, <s> 1, </s> 2, no padding
//   piece; character_coverage 1.0.
// On top of Llama 2: the capital letters A-Z are always pieces of their own (each is added to the corpus
// as a one-letter sentence), so a letter after "\n" (the ranker's answer labels) is one token, "<0x0A>"
// then "A", even when the corpus lacks the letter; and the vocabulary may end below `vocab_size` when a
// small corpus has no more merges (hard_vocab_limit false).
//
// Deterministic: one thread, every sentence used in order (no sampling or shuffling), so the same texts
// and vocab_size give the same model bytes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace lrec::llm {

// `texts` are split into lines (the trainer's sentences; "\n" itself is left to byte fallback, as in
// Llama 2); empty lines are skipped. Writes `model_path` atomically (creating its directory). The
// trainer's errors (e.g. a vocab_size below the 259 byte and special pieces plus the corpus's
// characters) become lrec::Error with its message.
void train_sentencepiece(const std::vector<std::string>& texts, int vocab_size,
                         const std::filesystem::path& model_path);

}  // namespace lrec::llm
