// CUDA kernels for the LRU scan: the chunked scan of lru_scan_chunked.h, one thread block per (channel
// tile, batch row), its phases separated by __syncthreads(). The backward kernel writes per-row partial
// sums of dL/dλ; the caller sums them over the batch.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "lrurec/cuda/lru_scan_chunked.h"

namespace lrec::lrurec {

namespace {

using chunked::kChunks;
using chunked::kTile;

__device__ chunked::Thread this_thread() {
  return {static_cast<int>(threadIdx.x), static_cast<int>(threadIdx.y), blockIdx.x, blockIdx.y};
}

template <class T>
__global__ void forward_kernel(ScanForwardParams<T> p) {
  __shared__ chunked::Shared<T> sh;
  const chunked::Thread th = this_thread();
  chunked::forward_local(p, th, sh);
  __syncthreads();
  chunked::forward_carry(th, sh);
  __syncthreads();
  chunked::forward_rescan(p, th, sh);
}

template <class T>
__global__ void backward_kernel(ScanBackwardParams<T> p) {
  __shared__ chunked::Shared<T> sh;
  const chunked::Thread th = this_thread();
  chunked::backward_local(p, th, sh);
  __syncthreads();
  chunked::backward_carry(th, sh);
  __syncthreads();
  chunked::backward_rescan(p, th, sh);
  __syncthreads();
  chunked::backward_reduce(p, th, sh);
}

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw std::runtime_error(std::string("lru_scan CUDA ") + what + ": " + cudaGetErrorString(status));
}

dim3 grid_for(int64_t batch, int64_t state) {
  return dim3(static_cast<unsigned>(chunked::tiles(state)), static_cast<unsigned>(batch));
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
