#include "llm_ranker/letter_ranker.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace lrec::llm {

namespace {

at::Tensor long_tensor(const std::vector<int64_t>& values, at::Device device) {
  return at::tensor(values, at::TensorOptions().dtype(at::kLong)).to(device);
}

void check_labels(const std::vector<int64_t>& labels, size_t batch, size_t num_candidates) {
  if (labels.size() != batch) fail("{} labels for {} prompts.", labels.size(), batch);
  for (const int64_t label : labels) {
    if (label < 0 || label >= static_cast<int64_t>(num_candidates))
      fail("label {} is outside the {} candidates.", label, num_candidates);
  }
}

// The sequences the loss reads: prompt, then the letter when EOS is trained after it.
std::vector<std::vector<int64_t>> answer_inputs(const std::vector<std::vector<int64_t>>& prompts,
                                                const std::vector<int64_t>& labels,
                                                const std::vector<int64_t>& letter_ids, bool with_eos) {
  std::vector<std::vector<int64_t>> out = prompts;
  if (with_eos) {
    for (size_t b = 0; b < out.size(); ++b) out[b].push_back(letter_ids[static_cast<size_t>(labels[b])]);
  }
  return out;
}

}  // namespace

PromptBatch left_pad(const std::vector<std::vector<int64_t>>& sequences, const Padding& padding,
                     at::Device device) {
  if (sequences.empty()) fail("left_pad: no sequences.");
  size_t length = 0;
  for (const auto& s : sequences) length = std::max(length, s.size());
  const auto multiple = static_cast<size_t>(std::max<int64_t>(padding.multiple, 1));
  length = (length + multiple - 1) / multiple * multiple;
  const auto batch = static_cast<int64_t>(sequences.size()), t = static_cast<int64_t>(length);
  at::Tensor ids = at::full({batch, t}, padding.id, at::kLong);
  at::Tensor mask = at::zeros({batch, t}, at::kLong);
  auto ids_a = ids.accessor<int64_t, 2>();
  auto mask_a = mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    const auto& s = sequences[static_cast<size_t>(b)];
    const int64_t start = t - static_cast<int64_t>(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
      ids_a[b][start + static_cast<int64_t>(i)] = s[i];
      mask_a[b][start + static_cast<int64_t>(i)] = 1;
    }
  }
  return {ids.to(device), mask.to(device)};
}

at::Tensor letter_scores(LlamaForCausalLMImpl& model, const PromptBatch& prompts,
                         const std::vector<int64_t>& letter_ids) {
  const at::Tensor logits = model.forward(prompts.input_ids, {prompts.attention_mask},
                                          LlamaForCausalLMImpl::Logits::kLast);            // [B, V]
  return logits.index_select(1, long_tensor(letter_ids, logits.device())).to(at::kFloat);  // [B, n]
}

RankingLoss ranking_loss(LlamaForCausalLMImpl& model, const std::vector<std::vector<int64_t>>& prompts,
                         const std::vector<int64_t>& labels, const std::vector<int64_t>& letter_ids,
                         const Padding& padding, const RankingLossOptions& options) {
  check_labels(labels, prompts.size(), letter_ids.size());
  const bool with_eos = options.eos_id >= 0;
  const at::Device device = model.model->embed_tokens->weight.device();
  const PromptBatch batch = left_pad(answer_inputs(prompts, labels, letter_ids, with_eos), padding, device);
  const int64_t t = batch.input_ids.size(1), answer_len = with_eos ? 2 : 1;
  const at::Tensor hidden = model.model->forward(batch.input_ids, {batch.attention_mask});  // [B, T, D]
  const at::Tensor logits = model.lm_logits(hidden.narrow(1, t - answer_len, answer_len)).to(at::kFloat);
  const at::Tensor at_letter = logits.select(1, 0);  // [B, V]: predicts the letter
  const at::Tensor label = long_tensor(labels, device);
  const at::Tensor letters = long_tensor(letter_ids, device);
  const at::Tensor letter_ce = at::cross_entropy_loss(at_letter.index_select(1, letters), label);
  at::Tensor loss =
      options.letters_only ? letter_ce : at::cross_entropy_loss(at_letter, letters.index_select(0, label));
  if (with_eos) {
    const at::Tensor eos = at::full({batch.input_ids.size(0)}, options.eos_id, label.options());
    loss = (loss + at::cross_entropy_loss(logits.select(1, 1), eos)) / 2;
  }
  if (options.prompt_lm_weight > 0) {
    // Position i predicts token i + 1 for the prompt's tokens (not the answer, not padding).
    const int64_t prompt_end = t - (answer_len - 1);  // the prompt occupies [.., prompt_end)
    const at::Tensor inputs = hidden.narrow(1, 0, prompt_end - 1);
    const at::Tensor lm = model.lm_logits(inputs).to(at::kFloat);                        // [B, P - 1, V]
    at::Tensor targets = batch.input_ids.narrow(1, 1, prompt_end - 1).clone();           // [B, P - 1]
    const at::Tensor counted = batch.attention_mask.narrow(1, 0, prompt_end - 1).eq(1);  // input is a token
    targets.masked_fill_(counted.logical_not(), -100);
    const at::Tensor lm_loss =
        at::cross_entropy_loss(lm.flatten(0, 1), targets.flatten(), {}, at::Reduction::Mean,
                               /*ignore_index=*/-100);
    loss = loss + options.prompt_lm_weight * lm_loss;
  }
  return {loss, letter_ce.detach()};
}

RankingLoss ranking_loss_reference(LlamaForCausalLMImpl& model,
                                   const std::vector<std::vector<int64_t>>& prompts,
                                   const std::vector<int64_t>& labels, const std::vector<int64_t>& letter_ids,
                                   const RankingLossOptions& options) {
  check_labels(labels, prompts.size(), letter_ids.size());
  const at::Device device = model.model->embed_tokens->weight.device();
  at::Tensor total = at::zeros({}, at::kFloat), lm_sum = at::zeros({}, at::kFloat);
  at::Tensor letter_ce_sum = at::zeros({}, at::kFloat);
  int64_t lm_count = 0;
  for (size_t b = 0; b < prompts.size(); ++b) {
    const int64_t letter = letter_ids[static_cast<size_t>(labels[b])];
    std::vector<int64_t> sequence = prompts[b];
    sequence.push_back(letter);
    const at::Tensor ids = long_tensor(sequence, device).unsqueeze(0);  // [1, T + 1]
    const at::Tensor logp = model.forward(ids, {}, LlamaForCausalLMImpl::Logits::kAll)
                                .squeeze(0)
                                .to(at::kFloat)
                                .log_softmax(-1);  // [T + 1, V]
    const int64_t last = static_cast<int64_t>(prompts[b].size()) - 1;
    const at::Tensor at_letters = logp[last].index_select(0, long_tensor(letter_ids, device)).log_softmax(0);
    const at::Tensor letter_nll = -at_letters[labels[b]];
    letter_ce_sum = letter_ce_sum + letter_nll.detach().cpu();
    at::Tensor nll = options.letters_only ? letter_nll : -logp[last][letter];
    if (options.eos_id >= 0) nll = (nll - logp[last + 1][options.eos_id]) / 2;
    total = total + nll.cpu();
    for (int64_t i = 0; i < last; ++i) {
      lm_sum = lm_sum - logp[i][prompts[b][static_cast<size_t>(i + 1)]].cpu();
      ++lm_count;
    }
  }
  at::Tensor loss = total / static_cast<double>(prompts.size());
  if (options.prompt_lm_weight > 0)
    loss = loss + options.prompt_lm_weight * lm_sum / static_cast<double>(lm_count);
  return {loss, letter_ce_sum / static_cast<double>(prompts.size())};
}

}  // namespace lrec::llm
