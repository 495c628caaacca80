#include "lrurec/linear_cross_entropy.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/autograd.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "lrurec/linear_cross_entropy_bf16_cpu.h"

namespace lrec::lrurec {

namespace {

// exp(x) for x <= 0 as 2^k · 2^f: k = floor(x·log2 e), 2^f on [0, 1) by a degree-6 minimax polynomial
// (relative error below 3e-7). Plain float arithmetic, so the row loops below vectorize.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float t = x * 1.4426950408889634f;
  const float k = std::floor(t);
  const float f = t - k;
  float p = 1.5353362e-4f;
  p = p * f + 1.3398874e-3f;
  p = p * f + 9.6184374e-3f;
  p = p * f + 5.5503325e-2f;
  p = p * f + 2.4022648e-1f;
  p = p * f + 6.9314720e-1f;
  p = p * f + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

constexpr int kLanes = 16;  // explicit partial results: the reductions vectorize without -ffast-math

float row_max(const float* __restrict row, int64_t V) {
  float lane[kLanes];
  for (int j = 0; j < kLanes; ++j) lane[j] = -std::numeric_limits<float>::infinity();
  int64_t v = 0;
  for (; v + kLanes <= V; v += kLanes) {
    for (int j = 0; j < kLanes; ++j) lane[j] = row[v + j] > lane[j] ? row[v + j] : lane[j];
  }
  float max = -std::numeric_limits<float>::infinity();
  for (int j = 0; j < kLanes; ++j) max = lane[j] > max ? lane[j] : max;
  for (; v < V; ++v) max = row[v] > max ? row[v] : max;
  return max;
}

// row[v] = exp(row[v] - shift); returns the sum.
float exp_and_sum(float* __restrict row, int64_t V, float shift) {
  float lane[kLanes] = {};
  int64_t v = 0;
  for (; v + kLanes <= V; v += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      row[v + j] = exp_nonpositive(row[v + j] - shift);
      lane[j] += row[v + j];
    }
  }
  float sum = 0.0f;
  for (int j = 0; j < kLanes; ++j) sum += lane[j];
  for (; v < V; ++v) {
    row[v] = exp_nonpositive(row[v] - shift);
    sum += row[v];
  }
  return sum;
}

// Turns a chunk of logits [rows, V] in place into (softmax − one-hot) · inv_count, the gradient of the mean
// loss with respect to the logits, and returns the chunk's summed loss Σ (logsumexp − target logit).
double softmax_cross_entropy_rows(float* logits, int64_t rows, int64_t V, const int64_t* targets,
                                  float inv_count) {
  std::vector<double> row_loss(rows);
  at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      float* __restrict row = logits + r * V;
      const int64_t target = targets[r];
      const float target_logit = row[target];
      const float max = row_max(row, V);
      const float sum = exp_and_sum(row, V, max);
      row_loss[r] = static_cast<double>(max) + std::log(static_cast<double>(sum)) - target_logit;
      const float scale = inv_count / sum;
      for (int64_t v = 0; v < V; ++v) row[v] *= scale;
      row[target] -= inv_count;
    }
  });
  double total = 0;
  for (double l : row_loss) total += l;
  return total;
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const at::Tensor& targets, bool bf16_matmul,
                            int64_t chunk_rows) {
    const int64_t P = x.size(0);
    const bool need_grad = ctx != nullptr;
    const at::Tensor y = targets.to(at::kLong).contiguous();
    if (bf16_matmul && linear_cross_entropy_bf16_cpu_applies(x, weight)) {
      HeadGradients grads;
      const double loss_sum = linear_cross_entropy_bf16_cpu(x, weight, bias, y, need_grad ? &grads : nullptr);
      if (need_grad) ctx->save_for_backward({grads.x, grads.weight, grads.bias});
      return at::scalar_tensor(loss_sum / static_cast<double>(P), x.options());
    }
    at::Tensor grad_x, grad_w, grad_b;
    if (need_grad) {
      grad_x = at::empty_like(x);
      grad_w = at::zeros_like(weight);
      grad_b = at::zeros_like(bias);
    }
    const at::ScalarType mm_dtype = bf16_matmul ? at::kBFloat16 : at::kFloat;
    const at::Tensor w = weight.to(mm_dtype);  // [V, d]
    double loss_sum = 0;
    for (int64_t begin = 0; begin < P; begin += chunk_rows) {
      const int64_t rows = std::min(chunk_rows, P - begin);
      const at::Tensor xc = x.narrow(0, begin, rows).to(mm_dtype);                   // [c, d]
      at::Tensor logits = at::mm(xc, w.t()).to(at::kFloat).add_(bias).contiguous();  // [c, V]
      loss_sum += softmax_cross_entropy_rows(logits.data_ptr<float>(), rows, logits.size(1),
                                             y.data_ptr<int64_t>() + begin, 1.0f / static_cast<float>(P));
      if (!need_grad) continue;
      const at::Tensor& g = logits;  // now d mean / d logits
      const at::Tensor gm = g.to(mm_dtype);
      grad_x.narrow(0, begin, rows).copy_(at::mm(gm, w));
      if (bf16_matmul) {
        grad_w.add_(at::mm(gm.t(), xc));
      } else {
        grad_w.addmm_(gm.t(), xc);
      }
      grad_b.add_(g.sum(0));
    }
    if (need_grad) ctx->save_for_backward({grad_x, grad_w, grad_b});
    return at::scalar_tensor(loss_sum / static_cast<double>(P), x.options());
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& g = grad_outputs[0];
    return {saved[0] * g, saved[1] * g, saved[2] * g, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor linear_cross_entropy(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& targets, bool bf16_matmul, int64_t chunk_rows) {
  if (x.dim() != 2 || weight.dim() != 2 || x.size(1) != weight.size(1) || bias.dim() != 1 ||
      bias.size(0) != weight.size(0) || targets.dim() != 1 || targets.size(0) != x.size(0)) {
    fail("linear_cross_entropy: expected x [P, d], weight [V, d], bias [V], targets [P]; got {}, {}, {}, {}",
         c10::str(x.sizes()), c10::str(weight.sizes()), c10::str(bias.sizes()), c10::str(targets.sizes()));
  }
  if (x.size(0) == 0) fail("linear_cross_entropy: no rows (every label is padding)");
  if (x.scalar_type() != at::kFloat || weight.scalar_type() != at::kFloat || !x.device().is_cpu()) {
    return at::cross_entropy_loss(at::linear(x, weight, bias), targets);  // the fused kernel is CPU fp32
  }
  const bool needs_grad =
      c10::GradMode::is_enabled() && (x.requires_grad() || weight.requires_grad() || bias.requires_grad());
  if (!needs_grad) {
    c10::NoGradGuard no_grad;
    return LinearCrossEntropy::forward(nullptr, x, weight, bias, targets, bf16_matmul, chunk_rows);
  }
  return LinearCrossEntropy::apply(x, weight, bias, targets, bf16_matmul, chunk_rows);
}

}  // namespace lrec::lrurec
