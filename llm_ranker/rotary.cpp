#include "llm_ranker/rotary.h"

#include <ATen/ATen.h>

#include <cmath>
#include <numbers>

namespace lrec::llm {

// The same tensor operations as transformers' modeling_rope_utils, so the frequencies agree to the bit.
at::Tensor rope_inv_freq(const LlamaConfig& cfg, int64_t seq_len) {
  const int64_t dim = cfg.head_dim;
  const RopeScaling& s = cfg.rope_scaling;
  double base = cfg.rope_theta;
  if (s.type == "dynamic" && seq_len > cfg.max_position_embeddings) {
    const double grown =
        s.factor * static_cast<double>(seq_len) / cfg.max_position_embeddings - (s.factor - 1);
    base *= std::pow(grown, static_cast<double>(dim) / (dim - 2));
  }
  const at::Tensor exponent = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim;
  at::Tensor inv_freq = 1.0 / at::pow(base, exponent);  // [hd/2]
  if (s.type == "linear") return inv_freq / s.factor;
  if (s.type != "llama3") return inv_freq;
  const double old_context = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / s.low_freq_factor;
  const double high_freq_wavelen = old_context / s.high_freq_factor;
  const at::Tensor wavelen = 2 * std::numbers::pi / inv_freq;
  // Long wavelengths (low frequencies) are divided by factor, short ones kept, the band between ramps.
  const at::Tensor scaled = at::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  const at::Tensor smooth =
      (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  const at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  const at::Tensor medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return at::where(medium, smoothed, scaled);
}

RotaryEmbedding::RotaryEmbedding(const LlamaConfig& cfg)
    : cfg_(cfg), inv_freq_(rope_inv_freq(cfg, cfg.max_position_embeddings)) {}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::cos_sin(const at::Tensor& position_ids) const {
  at::Tensor inv_freq = inv_freq_;
  if (cfg_.rope_scaling.type == "dynamic") {
    const int64_t seq_len = position_ids.max().item<int64_t>() + 1;
    if (seq_len > cfg_.max_position_embeddings) inv_freq = rope_inv_freq(cfg_, seq_len);
  }
  const at::Tensor freqs =
      position_ids.unsqueeze(-1).to(at::kFloat) * inv_freq.to(position_ids.device());  // [B, T, hd/2]
  const at::Tensor angles = at::cat({freqs, freqs}, -1);                               // [B, T, hd]
  return {angles.cos(), angles.sin()};
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (!at::GradMode::is_enabled()) return rotate_half(x).mul_(sin).addcmul_(x, cos);  // one temporary
  return x * cos + rotate_half(x) * sin;
}

}  // namespace lrec::llm
