// Ranking with the letter verbalizer (LlamaRec): one forward pass over the prompt, then the logits of
// the candidate letters at the last position are the candidates' scores.
//
//   scores[b, j] = logits(prompt_b)[T - 1, letter_ids[j]]            [B, n]
//
// Training maximises log p(letter of the target | prompt), as LlamaRec's causal-LM loss on the answer:
//   full vocabulary:  CE(logits[T - 1, :],          letter_ids[label])
//   letters only:     CE(logits[T - 1, letter_ids], label)
// and, with EOS, also CE(logits at the letter, eos) — the answer "A</s>" of LlamaRec's labels, averaged
// over the answer tokens as transformers does. Optionally plus a weighted language-model loss on the prompt.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "llm_ranker/llama_model.h"

namespace lrec::llm {

// Prompts of different lengths, left-padded so that every row's last token is at T - 1.
struct PromptBatch {
  at::Tensor input_ids;       // [B, T] int64, padding = Padding::id
  at::Tensor attention_mask;  // [B, T] int64, 1 = token, 0 = padding
};

struct Padding {
  int64_t id = 0;  // the pad token (masked out, so any id works)
  // The padded length is rounded up to a multiple of this. LibTorch's CPU kernels (oneDNN) set up
  // per tensor shape, at a cost of many forward passes: with prompts of every length, rounding to 64
  // makes a training step about 15x faster on the tiny default model.
  int64_t multiple = 1;
};

PromptBatch left_pad(const std::vector<std::vector<int64_t>>& sequences, const Padding& padding,
                     at::Device device);

// [B, n] fp32 scores of the candidates labelled letter_ids[0..n).
at::Tensor letter_scores(LlamaForCausalLMImpl& model, const PromptBatch& prompts,
                         const std::vector<int64_t>& letter_ids);

struct RankingLossOptions {
  bool letters_only = false;  // CE over the candidate letters instead of the whole vocabulary
  int64_t eos_id = -1;        // >= 0: also train EOS after the letter
  // > 0: adds this weight times the mean next-token loss over the prompt's own tokens (torchtune's
  // train_on_input, weighted). LlamaRec uses 0. It gives a small model from scratch a dense signal.
  double prompt_lm_weight = 0;
};

// The loss to train, and beside it, detached, the cross-entropy of the target's letter among the n
// candidate letters alone: the figure to read against chance (ln n) whatever the options add to the loss
// (the full vocabulary, EOS averaged in, the prompt's next-token loss).
struct RankingLoss {
  at::Tensor loss;       // [] mean over the batch, with grad
  at::Tensor letter_ce;  // [] mean over the batch, detached
};

// prompts[b] are the prompt ids (no answer); labels[b] the target's index among the n candidates
// (n = letter_ids.size()).
RankingLoss ranking_loss(LlamaForCausalLMImpl& model, const std::vector<std::vector<int64_t>>& prompts,
                         const std::vector<int64_t>& labels, const std::vector<int64_t>& letter_ids,
                         const Padding& padding, const RankingLossOptions& options);

// The same written out step by step from the full logits of every position (kAll), for tests.
RankingLoss ranking_loss_reference(LlamaForCausalLMImpl& model,
                                   const std::vector<std::vector<int64_t>>& prompts,
                                   const std::vector<int64_t>& labels, const std::vector<int64_t>& letter_ids,
                                   const RankingLossOptions& options);

}  // namespace lrec::llm
