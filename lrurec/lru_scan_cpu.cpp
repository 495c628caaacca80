// Fused CPU kernels for the LRU scan: one pass over time per batch row, vectorized over the state
// channels, rows in parallel. No power-of-two padding and no O(L log L) temporaries.
#include <ATen/Parallel.h>

#include <algorithm>

#include "lrurec/lru_scan_params.h"

namespace lrec::lrurec {

template <class T>
void scan_forward_cpu(const ScanForwardParams<T>& p) {
  const int64_t N = p.state, L = p.length, stride = 2 * N;
  const T* __restrict lambda_re = p.lambda;
  const T* __restrict lambda_im = p.lambda + N;
  at::parallel_for(0, p.batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const uint8_t* mask = p.mask + b * L;
      for (int64_t t = 0; t < L; ++t) {
        const T* __restrict u = p.u + (b * L + t) * stride;
        T* __restrict h = p.h + (b * L + t) * stride;
        if (t == 0 || mask[t - 1] == 0) {  // no state carried in: h_t = u_t
          std::copy(u, u + stride, h);
          continue;
        }
        const T* __restrict prev = h - stride;
        for (int64_t n = 0; n < N; ++n) {  // h_t = λ h_{t-1} + u_t, complex product in real pairs
          h[n] = lambda_re[n] * prev[n] - lambda_im[n] * prev[N + n] + u[n];
          h[N + n] = lambda_re[n] * prev[N + n] + lambda_im[n] * prev[n] + u[N + n];
        }
      }
    }
  });
}

// Reverse scan. With d_t = dL/dh_t in total (from above and through h_{t+1}):
//   d_t = g_t + m_t conj(λ) d_{t+1},   dL/du_t = d_t,   dL/dλ = Σ_t m_{t-1} d_t conj(h_{t-1})
// (conjugates: the transpose of multiplying by λ, in real pairs, is multiplying by conj(λ)).
template <class T>
void scan_backward_cpu(const ScanBackwardParams<T>& p) {
  const int64_t N = p.state, L = p.length, stride = 2 * N;
  const T* __restrict lambda_re = p.lambda;
  const T* __restrict lambda_im = p.lambda + N;
  at::parallel_for(0, p.batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const uint8_t* mask = p.mask + b * L;
      T* __restrict grad_lambda = p.grad_lambda + b * stride;
      std::fill(grad_lambda, grad_lambda + stride, T(0));
      for (int64_t t = L - 1; t >= 0; --t) {
        const T* __restrict g = p.grad_h + (b * L + t) * stride;
        T* __restrict d = p.grad_u + (b * L + t) * stride;
        if (t == L - 1 || mask[t] == 0) {
          std::copy(g, g + stride, d);
        } else {
          const T* __restrict next = d + stride;  // d_{t+1}
          for (int64_t n = 0; n < N; ++n) {
            d[n] = g[n] + lambda_re[n] * next[n] + lambda_im[n] * next[N + n];
            d[N + n] = g[N + n] + lambda_re[n] * next[N + n] - lambda_im[n] * next[n];
          }
        }
        if (t > 0 && mask[t - 1] != 0) {
          const T* __restrict prev = p.h + (b * L + t - 1) * stride;  // h_{t-1}
          for (int64_t n = 0; n < N; ++n) {
            grad_lambda[n] += d[n] * prev[n] + d[N + n] * prev[N + n];
            grad_lambda[N + n] += d[N + n] * prev[n] - d[n] * prev[N + n];
          }
        }
      }
    }
  });
}

template void scan_forward_cpu<float>(const ScanForwardParams<float>&);
template void scan_forward_cpu<double>(const ScanForwardParams<double>&);
template void scan_backward_cpu<float>(const ScanBackwardParams<float>&);
template void scan_backward_cpu<double>(const ScanBackwardParams<double>&);

}  // namespace lrec::lrurec
