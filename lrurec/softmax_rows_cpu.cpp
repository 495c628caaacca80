#include "lrurec/softmax_rows_cpu.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/bf16_cpu.h"

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

// The portable kernel on one row (the reference).
double softmax_gradient_row(float* __restrict s, const float* __restrict bias, int64_t V, int64_t width,
                            int64_t target, float inv_count, bool need_grad) {
  for (int64_t v = 0; v < V; ++v) s[v] += bias[v];
  const float target_logit = s[target];
  const float max = row_max(s, V);
  const float sum = exp_and_sum(s, V, max);
  std::fill(s + V, s + width, 0.0f);
  if (need_grad) {
    const float scale = inv_count / sum;
    for (int64_t v = 0; v < V; ++v) s[v] *= scale;
    s[target] -= inv_count;
  }
  return static_cast<double>(max) + std::log(static_cast<double>(sum)) - target_logit;
}

// The AVX-512 kernel on one row (16 lanes; the partial last vector by masks).
LREC_AVX512 double softmax_gradient_row_avx512(float* s, const float* bias, int64_t V, int64_t width,
                                               int64_t target, float inv_count, bool need_grad) {
  __m512 max_v = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t c = 0; c < width; c += 16) {
    const __mmask16 valid = bf16::lanes_below(c, V);
    const __m512 v =
        _mm512_add_ps(_mm512_maskz_loadu_ps(valid, s + c), _mm512_maskz_loadu_ps(valid, bias + c));
    _mm512_mask_storeu_ps(s + c, bf16::lanes_below(c, width), v);
    max_v = _mm512_mask_max_ps(max_v, valid, max_v, v);
  }
  const float max = _mm512_reduce_max_ps(max_v);
  const float target_logit = s[target];
  const __m512 shift = _mm512_set1_ps(max);
  __m512 sum_v = _mm512_setzero_ps();
  for (int64_t c = 0; c < width; c += 16) {
    const __mmask16 valid = bf16::lanes_below(c, V);
    const __m512 e =
        _mm512_maskz_mov_ps(valid, bf16::exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(valid, s + c), shift)));
    _mm512_mask_storeu_ps(s + c, bf16::lanes_below(c, width), e);
    sum_v = _mm512_add_ps(sum_v, e);
  }
  const float sum = _mm512_reduce_add_ps(sum_v);
  if (need_grad) {
    const __m512 scale = _mm512_set1_ps(inv_count / sum);
    for (int64_t c = 0; c < width; c += 16) {
      const __mmask16 stored = bf16::lanes_below(c, width);
      _mm512_mask_storeu_ps(s + c, stored, _mm512_mul_ps(_mm512_maskz_loadu_ps(stored, s + c), scale));
    }
    s[target] -= inv_count;
  }
  return static_cast<double>(max) + std::log(static_cast<double>(sum)) - target_logit;
}

// The AVX2 kernel on one row (8 lanes; the partial last vector by masked moves).
LREC_AVX2 double softmax_gradient_row_avx2(float* s, const float* bias, int64_t V, int64_t width,
                                           int64_t target, float inv_count, bool need_grad) {
  __m256 max_v = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t c = 0;
  for (; c + 8 <= V; c += 8) {
    const __m256 v = _mm256_add_ps(_mm256_loadu_ps(s + c), _mm256_loadu_ps(bias + c));
    _mm256_storeu_ps(s + c, v);
    max_v = _mm256_max_ps(max_v, v);
  }
  if (c < V) {
    const __m256i valid = bf16::lanes_below8(c, V);
    const __m256 v = _mm256_add_ps(_mm256_maskload_ps(s + c, valid), _mm256_maskload_ps(bias + c, valid));
    _mm256_maskstore_ps(s + c, valid, v);
    max_v = _mm256_max_ps(max_v, _mm256_blendv_ps(max_v, v, _mm256_castsi256_ps(valid)));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, max_v);
  const float max = *std::max_element(lanes, lanes + 8);
  const float target_logit = s[target];
  const __m256 shift = _mm256_set1_ps(max);
  __m256 sum_v = _mm256_setzero_ps();
  for (c = 0; c + 8 <= V; c += 8) {
    const __m256 e = bf16::exp256_ps(_mm256_sub_ps(_mm256_loadu_ps(s + c), shift));
    _mm256_storeu_ps(s + c, e);
    sum_v = _mm256_add_ps(sum_v, e);
  }
  if (c < V) {
    const __m256i valid = bf16::lanes_below8(c, V);
    const __m256 e = _mm256_and_ps(bf16::exp256_ps(_mm256_sub_ps(_mm256_maskload_ps(s + c, valid), shift)),
                                   _mm256_castsi256_ps(valid));
    _mm256_maskstore_ps(s + c, valid, e);
    sum_v = _mm256_add_ps(sum_v, e);
  }
  std::fill(s + V, s + width, 0.0f);
  _mm256_storeu_ps(lanes, sum_v);
  float sum = 0.0f;
  for (const float l : lanes) sum += l;
  if (need_grad) {
    const __m256 scale = _mm256_set1_ps(inv_count / sum);
    for (c = 0; c + 8 <= V; c += 8) _mm256_storeu_ps(s + c, _mm256_mul_ps(_mm256_loadu_ps(s + c), scale));
    for (; c < V; ++c) s[c] *= inv_count / sum;
    s[target] -= inv_count;
  }
  return static_cast<double>(max) + std::log(static_cast<double>(sum)) - target_logit;
}

}  // namespace

SoftmaxRowKernel fastest_softmax_row_kernel() {
  if (bf16::cpu_has_avx512()) return SoftmaxRowKernel::kAvx512;
  return bf16::cpu_has_avx2_fma() ? SoftmaxRowKernel::kAvx2 : SoftmaxRowKernel::kPortable;
}

void softmax_gradient_rows(SoftmaxRowKernel kernel, float* s, int64_t rows, int64_t width, const float* bias,
                           int64_t V, const int64_t* targets, float inv_count, bool need_grad,
                           double* row_loss) {
  const auto row_kernel = kernel == SoftmaxRowKernel::kAvx512 ? softmax_gradient_row_avx512
                          : kernel == SoftmaxRowKernel::kAvx2 ? softmax_gradient_row_avx2
                                                              : softmax_gradient_row;
  for (int64_t r = 0; r < rows; ++r)
    row_loss[r] = row_kernel(s + r * width, bias, V, width, targets[r], inv_count, need_grad);
}

double softmax_cross_entropy_rows(float* logits, int64_t rows, int64_t V, const float* bias,
                                  const int64_t* targets, float inv_count, SoftmaxRowKernel kernel) {
  std::vector<double> row_loss(rows);
  at::parallel_for(0, rows, 8, [&](int64_t begin, int64_t end) {
    softmax_gradient_rows(kernel, logits + begin * V, end - begin, V, bias, V, targets + begin, inv_count,
                          /*need_grad=*/true, row_loss.data() + begin);
  });
  double total = 0;
  for (double l : row_loss) total += l;
  return total;
}

}  // namespace lrec::lrurec
