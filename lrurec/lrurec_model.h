// LRURec: item embedding, a stack of (LRU layer, feed-forward) blocks, and a dot-product head over all
// items (the official code's math; see lru_layer.h and feed_forward.h).
//   x = LayerNorm(Dropout(E[tokens]))     E: [num_items + 1, d], row 0 (padding) is an ordinary row
//   x = FFN(LRU(x, mask)) per block       mask = tokens > 0
//   scores = x Eᵀ + bias                   bias: [num_items + 1]
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>

#include <string>
#include <vector>

#include "lrurec/feed_forward.h"
#include "lrurec/lru_layer.h"

namespace lrec::lrurec {

struct ModelConfig {
  int64_t hidden = 64;  // d
  int64_t blocks = 2;
  double dropout = 0.2;       // embedding, feed-forward
  double attn_dropout = 0.2;  // inside the LRU layer (the official code's bert_attn_dropout)
  std::string scan = "fused";
  // "bfloat16": every matrix product (the output head's fused kernel, and the blocks' linear maps) takes
  // bf16 inputs with fp32 accumulation, mixed precision as under autocast; the scan, LayerNorms, softmax,
  // weights and optimizer stay fp32. "float32" computes exactly as the official code.
  std::string matmul_precision = "float32";
  template <class V>
  void visit(V& v) {
    v("hidden", hidden);
    v("blocks", blocks);
    v("dropout", dropout);
    v("attn_dropout", attn_dropout);
    v("scan", scan, {"fused", "log_depth", "sequential"});
    v("matmul_precision", matmul_precision, {"float32", "bfloat16"});
  }
};

class LruBlockImpl : public torch::nn::Module {
 public:
  LruBlockImpl(const ModelConfig& cfg, ScanKernel kernel);
  LruLayer lru_layer{nullptr};
  FeedForward feed_forward{nullptr};
};
TORCH_MODULE(LruBlock);

class LRURecImpl : public torch::nn::Module {
 public:
  LRURecImpl(const ModelConfig& cfg, int64_t num_items);

  // tokens [B, L] int64 (0 = padding) -> hidden states [B, L, d]
  at::Tensor forward(const at::Tensor& tokens);
  // The hidden states at the positions where keep [B, L] (bool) is true, in row-major order: [P, d], the
  // same values as forward(tokens) there. `keep` must hold every real position (token > 0); the layers never
  // compute the padding outside it, which cannot influence a kept position.
  at::Tensor forward_packed(const at::Tensor& tokens, const at::Tensor& keep);
  // hidden [..., d] -> scores over all items [..., num_items + 1]
  at::Tensor scores(const at::Tensor& hidden) const;
  // tokens, labels [B, L] -> the mean full-softmax cross-entropy over the positions whose label is not 0,
  // computed on the real and labelled positions only (padded training windows cost nothing).
  at::Tensor loss(const at::Tensor& tokens, const at::Tensor& labels);

  // Incremental inference, O(1) per new item: the state is one [B, 2N] tensor per block.
  std::vector<at::Tensor> initial_state(int64_t batch) const;
  // items [B] (> 0) -> scores [B, num_items + 1]; updates `state`.
  at::Tensor step(std::vector<at::Tensor>& state, const at::Tensor& items);

  void set_scan_kernel(ScanKernel kernel);
  int64_t num_items() const { return num_items_; }

  torch::nn::Embedding token{nullptr};
  lrec::Dropout embed_dropout{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  at::Tensor bias;  // [num_items + 1]

 private:
  // The blocks on packed positions: tokens [B, L] -> hidden states [P, d] at positions.index.
  at::Tensor forward_at(const at::Tensor& tokens, const PackedPositions& positions);

  int64_t num_items_;
  bool bf16_matmul_;
};
TORCH_MODULE(LRURec);

// Parameters that get no weight decay, as in the official code: names containing "bias" or "layer_norm".
bool is_no_decay(const std::string& name);

}  // namespace lrec::lrurec
