#include "llm_ranker/generate.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <optional>

namespace lrec::llm {

at::Tensor generate_greedy(LlamaForCausalLMImpl& model, const at::Tensor& input_ids,
                           const at::Tensor& attention_mask, const GenerateOptions& opts) {
  c10::NoGradGuard no_grad;
  const int64_t batch = input_ids.size(0);
  at::Tensor mask = attention_mask.defined() ? attention_mask : at::ones_like(input_ids);  // [B, S]
  at::Tensor sequence = input_ids;                                                         // [B, S]
  at::Tensor next = input_ids;  // what the model reads
  std::optional<KVCache> cache;
  if (opts.use_cache) cache.emplace(model.config().num_hidden_layers);
  at::Tensor finished = at::zeros({batch}, input_ids.options().dtype(at::kBool));
  std::vector<at::Tensor> generated;
  for (int64_t step = 0; step < opts.max_new_tokens; ++step) {
    ForwardOptions fo{mask, {}, cache ? &*cache : nullptr};
    at::Tensor token = model.forward(opts.use_cache ? next : sequence, fo).argmax(-1);  // [B]
    if (opts.stop_token >= 0) {
      token = token.masked_fill(finished, opts.stop_token);
      finished = finished.logical_or(token.eq(opts.stop_token));
    }
    generated.push_back(token);
    next = token.unsqueeze(1);
    sequence = at::cat({sequence, next}, 1);
    mask = at::cat({mask, at::ones_like(next)}, 1);
    if (opts.stop_token >= 0 && finished.all().item<bool>()) break;
  }
  return generated.empty() ? input_ids.new_empty({batch, 0}) : at::stack(generated, 1);
}

}  // namespace lrec::llm
