// Fused CPU kernels for the LRU scan: one pass over time per sequence, vectorized over the state
// channels, sequences in parallel. No power-of-two padding and no O(L log L) temporaries; on packed
// positions, no padding at all.
#include <ATen/Parallel.h>

#include <algorithm>

#include "lrurec/lru_scan_params.h"

namespace lrec::lrurec {

template <class T>
void scan_forward_cpu(const PackedScanForwardParams<T>& p) {
  const int64_t N = p.state, stride = 2 * N;
  const T* __restrict lambda_re = p.lambda;
  const T* __restrict lambda_im = p.lambda + N;
  at::parallel_for(0, p.sequences, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      for (int64_t i = p.row_begin[s]; i < p.row_begin[s + 1]; ++i) {
        const T* __restrict u = p.u + i * stride;
        T* __restrict h = p.h + i * stride;
        if (i == p.row_begin[s] || p.carry[i] == 0) {  // no state carried in: h_i = u_i
          std::copy(u, u + stride, h);
          continue;
        }
        const T* __restrict prev = h - stride;
#pragma GCC ivdep                          // h and prev are different rows: no dependence between channels
        for (int64_t n = 0; n < N; ++n) {  // h_i = λ h_{i-1} + u_i, complex product in real pairs
          h[n] = lambda_re[n] * prev[n] - lambda_im[n] * prev[N + n] + u[n];
          h[N + n] = lambda_re[n] * prev[N + n] + lambda_im[n] * prev[n] + u[N + n];
        }
      }
    }
  });
}

// Reverse scan. With d_i = dL/dh_i in total (from above and through h_{i+1}):
//   d_i = g_i + carry_{i+1} conj(λ) d_{i+1},   dL/du_i = d_i,   dL/dλ = Σ_i carry_i d_i conj(h_{i-1})
// (conjugates: the transpose of multiplying by λ, in real pairs, is multiplying by conj(λ)).
template <class T>
void scan_backward_cpu(const PackedScanBackwardParams<T>& p) {
  const int64_t N = p.state, stride = 2 * N;
  const T* __restrict lambda_re = p.lambda;
  const T* __restrict lambda_im = p.lambda + N;
  at::parallel_for(0, p.sequences, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const int64_t first = p.row_begin[s], last = p.row_begin[s + 1] - 1;
      T* __restrict grad_lambda = p.grad_lambda + s * stride;
      std::fill(grad_lambda, grad_lambda + stride, T(0));
      for (int64_t i = last; i >= first; --i) {
        const T* __restrict g = p.grad_h + i * stride;
        T* __restrict d = p.grad_u + i * stride;
        if (i == last || p.carry[i + 1] == 0) {
          std::copy(g, g + stride, d);
        } else {
          const T* __restrict next = d + stride;  // d_{i+1}
#pragma GCC ivdep                                 // d and next are different rows
          for (int64_t n = 0; n < N; ++n) {
            d[n] = g[n] + lambda_re[n] * next[n] + lambda_im[n] * next[N + n];
            d[N + n] = g[N + n] + lambda_re[n] * next[N + n] - lambda_im[n] * next[n];
          }
        }
        if (i > first && p.carry[i] != 0) {
          const T* __restrict prev = p.h + (i - 1) * stride;  // h_{i-1}
#pragma GCC ivdep                                             // grad_lambda, d and prev do not overlap
          for (int64_t n = 0; n < N; ++n) {
            grad_lambda[n] += d[n] * prev[n] + d[N + n] * prev[N + n];
            grad_lambda[N + n] += d[N + n] * prev[n] - d[n] * prev[N + n];
          }
        }
      }
    }
  });
}

template void scan_forward_cpu<float>(const PackedScanForwardParams<float>&);
template void scan_forward_cpu<double>(const PackedScanForwardParams<double>&);
template void scan_backward_cpu<float>(const PackedScanBackwardParams<float>&);
template void scan_backward_cpu<double>(const PackedScanBackwardParams<double>&);

}  // namespace lrec::lrurec
