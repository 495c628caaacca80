#include "lrurec/lrurec_model.h"

#include <ATen/ATen.h>

#include "core/linear.h"
#include "lrurec/init.h"
#include "lrurec/linear_cross_entropy.h"

namespace lrec::lrurec {

LruBlockImpl::LruBlockImpl(const ModelConfig& cfg, ScanKernel kernel) {
  const bool bf16 = cfg.matmul_precision == "bfloat16";
  lru_layer = register_module("lru_layer", LruLayer(cfg.hidden, cfg.attn_dropout, kernel, bf16));
  feed_forward = register_module("feed_forward", FeedForward(cfg.hidden, cfg.dropout, bf16));
}

LRURecImpl::LRURecImpl(const ModelConfig& cfg, int64_t num_items)
    : num_items_(num_items), bf16_matmul_(cfg.matmul_precision == "bfloat16") {
  const ScanKernel kernel = parse_scan_kernel(cfg.scan);
  token = register_module("token", torch::nn::Embedding(num_items + 1, cfg.hidden));
  truncated_normal_(token->weight);
  embed_dropout = register_module("embed_dropout", lrec::Dropout(cfg.dropout));
  layer_norm = register_module("layer_norm",
                               torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.hidden}).eps(1e-5)));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.blocks; ++i) blocks->push_back(LruBlock(cfg, kernel));
  bias = register_parameter("bias", at::empty({num_items + 1}));
  truncated_normal_(bias);
}

at::Tensor LRURecImpl::forward(const at::Tensor& tokens) {
  const at::Tensor all = at::ones(tokens.sizes(), tokens.options().dtype(at::kBool));
  return forward_packed(tokens, all).view({tokens.size(0), tokens.size(1), -1});
}

at::Tensor LRURecImpl::forward_packed(const at::Tensor& tokens, const at::Tensor& keep) {
  return forward_at(tokens, pack_positions(tokens > 0, keep));
}

at::Tensor LRURecImpl::forward_at(const at::Tensor& tokens, const PackedPositions& positions) {
  const at::Tensor items = tokens.reshape(-1).index_select(0, positions.index);  // [P]
  at::Tensor x = layer_norm(embed_dropout(token(items)));                        // [P, d]
  for (const auto& module : *blocks) {
    auto* block = module->as<LruBlockImpl>();
    x = block->feed_forward(block->lru_layer(x, positions));
  }
  return x;
}

at::Tensor LRURecImpl::scores(const at::Tensor& hidden) const {
  return lrec::linear(hidden, token->weight, bias);
}

at::Tensor LRURecImpl::loss(const at::Tensor& tokens, const at::Tensor& labels) {
  // Only labelled positions enter the softmax: the same mean as cross_entropy(ignore_index=0) over all
  // positions, without computing padding or its scores.
  const at::Tensor real = tokens > 0, labelled = labels > 0;  // [B, L]
  at::Tensor keep = real | labelled;                          // [B, L]
  // Round the kept count up to a multiple of B·L / 16 with padding positions (which cannot change a real
  // position): batches then come in a few shapes, so freed blocks fit the next step's tensors.
  const int64_t total = keep.numel(), bucket = std::max<int64_t>(1, total / 16);
  const int64_t kept = keep.sum().item<int64_t>(),
                extra = std::min(total, (kept + bucket - 1) / bucket * bucket) - kept;
  if (extra > 0)
    keep.view(-1).index_fill_(0, (~keep).reshape(-1).nonzero().squeeze(1).narrow(0, 0, extra), true);
  const PackedPositions positions = pack_positions(real, keep);
  const at::Tensor hidden = forward_at(tokens, positions);  // [P, d]
  const at::Tensor rows = labelled.reshape(-1).index_select(0, positions.index).nonzero().squeeze(1);
  const at::Tensor h = hidden.index_select(0, rows);  // [P', d]: the labelled ones
  const at::Tensor targets = labels.reshape(-1).masked_select(labelled.reshape(-1));
  return linear_cross_entropy(h, token->weight, bias, targets, bf16_matmul_);
}

std::vector<at::Tensor> LRURecImpl::initial_state(int64_t batch) const {
  std::vector<at::Tensor> state;
  for (const auto& module : *blocks) {
    const auto* block = module->as<LruBlockImpl>();
    state.push_back(at::zeros({batch, 2 * block->lru_layer->state_size()}, token->weight.options()));
  }
  return state;
}

at::Tensor LRURecImpl::step(std::vector<at::Tensor>& state, const at::Tensor& items) {
  at::Tensor x = layer_norm(embed_dropout(token(items)));  // [B, d]
  size_t i = 0;
  for (const auto& module : *blocks) {
    auto* block = module->as<LruBlockImpl>();
    auto [y, h] = block->lru_layer->step(x, state[i]);
    state[i++] = h;
    x = block->feed_forward(y);
  }
  return scores(x);
}

void LRURecImpl::set_scan_kernel(ScanKernel kernel) {
  for (const auto& module : *blocks) module->as<LruBlockImpl>()->lru_layer->set_scan_kernel(kernel);
}

bool is_no_decay(const std::string& name) {
  return name.find("bias") != std::string::npos || name.find("layer_norm") != std::string::npos;
}

}  // namespace lrec::lrurec
