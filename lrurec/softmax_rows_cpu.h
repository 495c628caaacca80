// The softmax step of LRURec's fused output head (lrurec/linear_cross_entropy): one row of logits s (bias not
// yet added) becomes, in place,
//   G = (softmax(s + b) − onehot(y)) · inv_count      the gradient of the mean loss w.r.t. the logits
// and the row's loss logsumexp(s + b) − (s + b)[y] is returned. Two kernels of the same math: a portable
// one (plain float loops, the reference) and an AVX-512 one (vector exp), which the chunked portable head and
// the fused heads of lrurec/linear_cross_entropy_cpu (fp32 and bf16 products) use.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/bf16_cpu.h"

namespace lrec::lrurec {

enum class SoftmaxRowKernel { kPortable, kAvx512 };

// kAvx512 when this CPU has AVX-512 (F/BW/VL/DQ), kPortable otherwise.
SoftmaxRowKernel fastest_softmax_row_kernel();

// Rows [rows, V] of logits without bias, in place -> G; returns the summed loss of the rows. Parallel over
// rows. targets: int64 in [0, V).
double softmax_cross_entropy_rows(float* logits, int64_t rows, int64_t V, const float* bias,
                                  const int64_t* targets, float inv_count, SoftmaxRowKernel kernel);

// The AVX-512 kernel on one row stored in s[0, width), width >= V: columns [V, width) are padding and get
// G = 0. With need_grad false the row holds exp(s + b − max) afterwards instead of G.
LREC_AVX512 inline double softmax_gradient_row_avx512(float* s, const float* bias, int64_t V, int64_t width,
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

}  // namespace lrec::lrurec
