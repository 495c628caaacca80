// CUDA kernels for the LRU scan (see lru_scan_params.h for the recurrence and layout).
//
// Chunked scan over time: one thread block per (channel tile, batch row). Inside a block, thread (c, k)
// owns state channel c of the tile and the k-th chunk of time steps.
//   1. Each thread scans its chunk from a zero state, and keeps the chunk's transfer coefficient
//      (the product of λ m over the chunk), which is what the true incoming state gets multiplied by.
//   2. One thread per channel walks the chunks in order and turns those into each chunk's incoming state.
//   3. Each thread rescans its chunk from the true incoming state and writes h.
// The backward pass is the same scheme in reverse time with conj(λ), and reduces dL/dλ over the chunks
// of the block; the caller sums the per-row partials over the batch. Complex numbers are real pairs.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "lrurec/lru_scan_params.h"

namespace lrec::lrurec {

namespace {

constexpr int kTile = 32;   // state channels per block (one warp wide: coalesced loads)
constexpr int kChunks = 8;  // time chunks per block

template <class T>
struct Complex {
  T re, im;
  __device__ Complex operator*(const Complex& o) const {
    return {re * o.re - im * o.im, re * o.im + im * o.re};
  }
  __device__ Complex operator+(const Complex& o) const { return {re + o.re, im + o.im}; }
  __device__ Complex conj() const { return {re, -im}; }
};

__device__ inline int64_t chunk_length(int64_t L) { return (L + kChunks - 1) / kChunks; }

template <class T>
__global__ void forward_kernel(ScanForwardParams<T> p) {
  const int c = threadIdx.x, k = threadIdx.y;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kTile + c, b = blockIdx.y;
  const int64_t N = p.state, L = p.length, stride = 2 * N;
  __shared__ Complex<T> transfer[kChunks][kTile], local_end[kChunks][kTile], incoming[kChunks][kTile];
  const bool active = n < N;
  const int64_t len = chunk_length(L), start = k * len, end = start + len < L ? start + len : L;
  const Complex<T> lambda = active ? Complex<T>{p.lambda[n], p.lambda[N + n]} : Complex<T>{0, 0};
  const uint8_t* mask = p.mask + b * L;
  const T* u = p.u + b * L * stride;
  T* h_out = p.h + b * L * stride;

  // 1. local scan from a zero state
  Complex<T> h{0, 0}, a{1, 0};
  for (int64_t t = start; active && t < end; ++t) {
    const bool carry = t > 0 && mask[t - 1] != 0;
    const Complex<T> u_t{u[t * stride + n], u[t * stride + N + n]};
    h = carry ? lambda * h + u_t : u_t;
    a = carry ? lambda * a : Complex<T>{0, 0};
  }
  transfer[k][c] = a;
  local_end[k][c] = h;
  __syncthreads();
  // 2. incoming state of every chunk
  if (k == 0) {
    Complex<T> state{0, 0};
    for (int j = 0; j < kChunks; ++j) {
      incoming[j][c] = state;
      state = local_end[j][c] + transfer[j][c] * state;
    }
  }
  __syncthreads();
  // 3. rescan from the true incoming state
  h = incoming[k][c];
  for (int64_t t = start; active && t < end; ++t) {
    const bool carry = t > 0 && mask[t - 1] != 0;
    const Complex<T> u_t{u[t * stride + n], u[t * stride + N + n]};
    h = carry ? lambda * h + u_t : u_t;
    h_out[t * stride + n] = h.re;
    h_out[t * stride + N + n] = h.im;
  }
}

template <class T>
__global__ void backward_kernel(ScanBackwardParams<T> p) {
  const int c = threadIdx.x, k = threadIdx.y;
  const int64_t n = static_cast<int64_t>(blockIdx.x) * kTile + c, b = blockIdx.y;
  const int64_t N = p.state, L = p.length, stride = 2 * N;
  __shared__ Complex<T> transfer[kChunks][kTile], local_start[kChunks][kTile], incoming[kChunks][kTile];
  const bool active = n < N;
  const int64_t len = chunk_length(L), start = k * len, end = start + len < L ? start + len : L;
  const Complex<T> lambda_conj = active ? Complex<T>{p.lambda[n], p.lambda[N + n]}.conj() : Complex<T>{0, 0};
  const uint8_t* mask = p.mask + b * L;
  const T* g = p.grad_h + b * L * stride;
  const T* h = p.h + b * L * stride;
  T* d_out = p.grad_u + b * L * stride;

  // 1. local reverse scan from a zero incoming gradient: d_t = g_t + m_t conj(λ) d_{t+1}
  Complex<T> d{0, 0}, a{1, 0};
  for (int64_t t = end - 1; active && t >= start; --t) {
    const bool carry = t + 1 < L && mask[t] != 0;
    const Complex<T> g_t{g[t * stride + n], g[t * stride + N + n]};
    d = carry ? lambda_conj * d + g_t : g_t;
    a = carry ? lambda_conj * a : Complex<T>{0, 0};
  }
  transfer[k][c] = a;
  local_start[k][c] = d;
  __syncthreads();
  // 2. incoming gradient of every chunk, from the last chunk backwards
  if (k == 0) {
    Complex<T> state{0, 0};
    for (int j = kChunks - 1; j >= 0; --j) {
      incoming[j][c] = state;
      state = local_start[j][c] + transfer[j][c] * state;
    }
  }
  __syncthreads();
  // 3. rescan, write dL/du, accumulate dL/dλ = Σ m_{t-1} d_t conj(h_{t-1})
  d = incoming[k][c];
  Complex<T> grad_lambda{0, 0};
  for (int64_t t = end - 1; active && t >= start; --t) {
    const bool carry = t + 1 < L && mask[t] != 0;
    const Complex<T> g_t{g[t * stride + n], g[t * stride + N + n]};
    d = carry ? lambda_conj * d + g_t : g_t;
    d_out[t * stride + n] = d.re;
    d_out[t * stride + N + n] = d.im;
    if (t > 0 && mask[t - 1] != 0) {
      const Complex<T> prev{h[(t - 1) * stride + n], h[(t - 1) * stride + N + n]};
      grad_lambda = grad_lambda + d * prev.conj();
    }
  }
  __syncthreads();  // reuse `transfer` for the reduction over chunks
  transfer[k][c] = grad_lambda;
  __syncthreads();
  if (k == 0 && active) {
    Complex<T> total{0, 0};
    for (int j = 0; j < kChunks; ++j) total = total + transfer[j][c];
    p.grad_lambda[b * stride + n] = total.re;
    p.grad_lambda[b * stride + N + n] = total.im;
  }
}

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("lru_scan CUDA ") + what + ": " + cudaGetErrorString(status));
}

dim3 grid_for(int64_t batch, int64_t state) {
  return dim3(static_cast<unsigned>((state + kTile - 1) / kTile), static_cast<unsigned>(batch));
}

}  // namespace

template <class T>
void scan_forward_cuda(const ScanForwardParams<T>& p, void* stream) {
  if (p.batch == 0 || p.length == 0) return;
  forward_kernel<T>
      <<<grid_for(p.batch, p.state), dim3(kTile, kChunks), 0, static_cast<cudaStream_t>(stream)>>>(p);
  check(cudaGetLastError(), "forward launch");
}

template <class T>
void scan_backward_cuda(const ScanBackwardParams<T>& p, void* stream) {
  if (p.batch == 0 || p.length == 0) return;
  backward_kernel<T>
      <<<grid_for(p.batch, p.state), dim3(kTile, kChunks), 0, static_cast<cudaStream_t>(stream)>>>(p);
  check(cudaGetLastError(), "backward launch");
}

template void scan_forward_cuda<float>(const ScanForwardParams<float>&, void*);
template void scan_forward_cuda<double>(const ScanForwardParams<double>&, void*);
template void scan_backward_cuda<float>(const ScanBackwardParams<float>&, void*);
template void scan_backward_cuda<double>(const ScanBackwardParams<double>&, void*);

}  // namespace lrec::lrurec
