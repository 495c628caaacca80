#include "lrurec/softmax_rows_cpu.h"

#include <ATen/Parallel.h>

#include <cstring>
#include <vector>

namespace lrec::lrurec {

namespace {

// exp(x) for x <= 0 as 2^k · 2^f: k = floor(x·log2 e), 2^f on [0, 1) by a degree-6 minimax polynomial
// (relative error below 3e-7). Plain float arithmetic, so compilers may vectorize the row loops below.
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

// The portable kernel on one row of V columns.
double softmax_gradient_row(float* __restrict s, const float* __restrict bias, int64_t V, int64_t target,
                            float inv_count) {
  for (int64_t v = 0; v < V; ++v) s[v] += bias[v];
  const float target_logit = s[target];
  const float max = row_max(s, V);
  const float sum = exp_and_sum(s, V, max);
  const float scale = inv_count / sum;
  for (int64_t v = 0; v < V; ++v) s[v] *= scale;
  s[target] -= inv_count;
  return static_cast<double>(max) + std::log(static_cast<double>(sum)) - target_logit;
}

LREC_AVX512 void softmax_gradient_rows_avx512(float* logits, int64_t begin, int64_t end, int64_t V,
                                              const float* bias, const int64_t* targets, float inv_count,
                                              double* row_loss) {
  for (int64_t r = begin; r < end; ++r)
    row_loss[r] = softmax_gradient_row_avx512(logits + r * V, bias, V, V, targets[r], inv_count, true);
}

}  // namespace

SoftmaxRowKernel fastest_softmax_row_kernel() {
  return bf16::cpu_has_avx512() ? SoftmaxRowKernel::kAvx512 : SoftmaxRowKernel::kPortable;
}

double softmax_cross_entropy_rows(float* logits, int64_t rows, int64_t V, const float* bias,
                                  const int64_t* targets, float inv_count, SoftmaxRowKernel kernel) {
  std::vector<double> row_loss(rows);
  at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
    if (kernel == SoftmaxRowKernel::kAvx512) {
      softmax_gradient_rows_avx512(logits, begin, end, V, bias, targets, inv_count, row_loss.data());
      return;
    }
    for (int64_t r = begin; r < end; ++r)
      row_loss[r] = softmax_gradient_row(logits + r * V, bias, V, targets[r], inv_count);
  });
  double total = 0;
  for (double l : row_loss) total += l;
  return total;
}

}  // namespace lrec::lrurec
