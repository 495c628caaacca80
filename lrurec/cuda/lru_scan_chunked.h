// The chunked scan that the CUDA kernels run (lru_scan.cu), written once for host and device: each phase
// of a thread block is a function of one thread, so that tests/lrurec/test_lru_scan.cpp can run a
// block's schedule on the CPU where no GPU is present.
//
// One thread block per (channel tile, batch row b); thread (c, k) owns state channel n = tile·kTile + c and
// the k-th chunk of time steps. The phases, separated by __syncthreads():
//   forward:  1. local  — scan the chunk from a zero state; keep its end state and its transfer
//                         coefficient (the product of λ m over the chunk, which multiplies the true
//                         incoming state);
//             2. carry  — thread k = 0 of each channel walks the chunks in order and turns those into each
//                         chunk's incoming state;
//             3. rescan — scan the chunk again from the true incoming state and write h.
//   backward: the same in reverse time with conj(λ), d_t = g_t + m_t conj(λ) d_{t+1}; phase 3 writes dL/du
//             and keeps the chunk's part of dL/dλ = Σ_t m_{t-1} d_t conj(h_{t-1}), and
//             4. reduce — thread k = 0 sums the chunks' parts into the row's partial sum.
// See lru_scan_params.h for the recurrence and the split complex layout.
#pragma once

#include <cstdint>

#include "lrurec/lru_scan_params.h"

#if defined(__CUDACC__)
#define LREC_HOST_DEVICE __host__ __device__
#else
#define LREC_HOST_DEVICE
#endif

namespace lrec::lrurec::chunked {

constexpr int kTile = 32;   // state channels per block (one warp wide: coalesced loads)
constexpr int kChunks = 8;  // time chunks per block

// Blocks along the channel axis (the grid is tiles x batch, a block kTile x kChunks threads).
LREC_HOST_DEVICE constexpr int64_t tiles(int64_t state) { return (state + kTile - 1) / kTile; }

template <class T>
struct Complex {
  T re, im;  // no initializers: __shared__ arrays of it need a trivial constructor
  LREC_HOST_DEVICE Complex operator*(const Complex& o) const {
    return {re * o.re - im * o.im, re * o.im + im * o.re};
  }
  LREC_HOST_DEVICE Complex operator+(const Complex& o) const { return {re + o.re, im + o.im}; }
  LREC_HOST_DEVICE Complex conj() const { return {re, -im}; }
};

// A block's shared memory, each array [kChunks][kTile].
template <class T>
struct Shared {
  Complex<T> transfer[kChunks][kTile];  // product of λ m (or conj(λ) m) over the chunk
  Complex<T> partial[kChunks][kTile];   // forward: chunk end state from zero; backward: chunk start gradient
  Complex<T> incoming[kChunks][kTile];  // true state (gradient) entering the chunk
  Complex<T> grad_lambda[kChunks][kTile];  // backward: the chunk's part of dL/dλ
};

// One thread's coordinates: threadIdx.x, threadIdx.y, blockIdx.x, blockIdx.y.
struct Thread {
  int c, k;
  int64_t tile, b;
};

// Where a thread works: its channel n, whether n exists, and its chunk [start, end) of time steps.
struct Span {
  int64_t n, start, end;
  bool active;
};

LREC_HOST_DEVICE inline Span span_of(const Thread& th, int64_t state, int64_t length) {
  const int64_t n = th.tile * kTile + th.c;
  const int64_t len = (length + kChunks - 1) / kChunks, start = th.k * len;
  const int64_t end = start + len < length ? start + len : length;
  return {n, start, end, n < state};
}

template <class T>
LREC_HOST_DEVICE Complex<T> load(const T* x, int64_t N, int64_t t, int64_t n) {  // x [L, 2N] -> x[t, n]
  return {x[t * 2 * N + n], x[t * 2 * N + N + n]};
}

template <class T>
LREC_HOST_DEVICE void store(T* x, int64_t N, int64_t t, int64_t n, const Complex<T>& v) {
  x[t * 2 * N + n] = v.re;
  x[t * 2 * N + N + n] = v.im;
}

// --- forward -------------------------------------------------------------------------------------------

template <class T>
LREC_HOST_DEVICE void forward_local(const ScanForwardParams<T>& p, const Thread& th, Shared<T>& sh) {
  const Span s = span_of(th, p.state, p.length);
  const int64_t N = p.state, L = p.length;
  Complex<T> h{0, 0}, a{1, 0};
  if (s.active) {
    const Complex<T> lambda{p.lambda[s.n], p.lambda[N + s.n]};
    const uint8_t* mask = p.mask + th.b * L;
    const T* u = p.u + th.b * L * 2 * N;
    for (int64_t t = s.start; t < s.end; ++t) {
      const bool carry = t > 0 && mask[t - 1] != 0;
      const Complex<T> u_t = load(u, N, t, s.n);
      h = carry ? lambda * h + u_t : u_t;
      a = carry ? lambda * a : Complex<T>{0, 0};
    }
  }
  sh.transfer[th.k][th.c] = a;
  sh.partial[th.k][th.c] = h;
}

template <class T>
LREC_HOST_DEVICE void forward_carry(const Thread& th, Shared<T>& sh) {
  if (th.k != 0) return;
  Complex<T> state{0, 0};
  for (int j = 0; j < kChunks; ++j) {
    sh.incoming[j][th.c] = state;
    state = sh.partial[j][th.c] + sh.transfer[j][th.c] * state;
  }
}

template <class T>
LREC_HOST_DEVICE void forward_rescan(const ScanForwardParams<T>& p, const Thread& th, const Shared<T>& sh) {
  const Span s = span_of(th, p.state, p.length);
  if (!s.active) return;
  const int64_t N = p.state, L = p.length;
  const Complex<T> lambda{p.lambda[s.n], p.lambda[N + s.n]};
  const uint8_t* mask = p.mask + th.b * L;
  const T* u = p.u + th.b * L * 2 * N;
  T* h_out = p.h + th.b * L * 2 * N;
  Complex<T> h = sh.incoming[th.k][th.c];
  for (int64_t t = s.start; t < s.end; ++t) {
    const bool carry = t > 0 && mask[t - 1] != 0;
    const Complex<T> u_t = load(u, N, t, s.n);
    h = carry ? lambda * h + u_t : u_t;
    store(h_out, N, t, s.n, h);
  }
}

// --- backward ------------------------------------------------------------------------------------------

template <class T>
LREC_HOST_DEVICE void backward_local(const ScanBackwardParams<T>& p, const Thread& th, Shared<T>& sh) {
  const Span s = span_of(th, p.state, p.length);
  const int64_t N = p.state, L = p.length;
  Complex<T> d{0, 0}, a{1, 0};
  if (s.active) {
    const Complex<T> lambda_conj = Complex<T>{p.lambda[s.n], p.lambda[N + s.n]}.conj();
    const uint8_t* mask = p.mask + th.b * L;
    const T* g = p.grad_h + th.b * L * 2 * N;
    for (int64_t t = s.end - 1; t >= s.start; --t) {
      const bool carry = t + 1 < L && mask[t] != 0;
      const Complex<T> g_t = load(g, N, t, s.n);
      d = carry ? lambda_conj * d + g_t : g_t;
      a = carry ? lambda_conj * a : Complex<T>{0, 0};
    }
  }
  sh.transfer[th.k][th.c] = a;
  sh.partial[th.k][th.c] = d;
}

template <class T>
LREC_HOST_DEVICE void backward_carry(const Thread& th, Shared<T>& sh) {
  if (th.k != 0) return;
  Complex<T> state{0, 0};
  for (int j = kChunks - 1; j >= 0; --j) {
    sh.incoming[j][th.c] = state;
    state = sh.partial[j][th.c] + sh.transfer[j][th.c] * state;
  }
}

template <class T>
LREC_HOST_DEVICE void backward_rescan(const ScanBackwardParams<T>& p, const Thread& th, Shared<T>& sh) {
  const Span s = span_of(th, p.state, p.length);
  Complex<T> grad_lambda{0, 0};
  if (s.active) {
    const int64_t N = p.state, L = p.length;
    const Complex<T> lambda_conj = Complex<T>{p.lambda[s.n], p.lambda[N + s.n]}.conj();
    const uint8_t* mask = p.mask + th.b * L;
    const T* g = p.grad_h + th.b * L * 2 * N;
    const T* h = p.h + th.b * L * 2 * N;
    T* d_out = p.grad_u + th.b * L * 2 * N;
    Complex<T> d = sh.incoming[th.k][th.c];
    for (int64_t t = s.end - 1; t >= s.start; --t) {
      const bool carry = t + 1 < L && mask[t] != 0;
      d = carry ? lambda_conj * d + load(g, N, t, s.n) : load(g, N, t, s.n);
      store(d_out, N, t, s.n, d);
      if (t > 0 && mask[t - 1] != 0) grad_lambda = grad_lambda + d * load(h, N, t - 1, s.n).conj();
    }
  }
  sh.grad_lambda[th.k][th.c] = grad_lambda;
}

template <class T>
LREC_HOST_DEVICE void backward_reduce(const ScanBackwardParams<T>& p, const Thread& th, const Shared<T>& sh) {
  const Span s = span_of(th, p.state, p.length);
  if (th.k != 0 || !s.active) return;
  Complex<T> total{0, 0};
  for (int j = 0; j < kChunks; ++j) total = total + sh.grad_lambda[j][th.c];
  store(p.grad_lambda, p.state, th.b, s.n, total);  // grad_lambda [B, 2N]: row b
}

}  // namespace lrec::lrurec::chunked
