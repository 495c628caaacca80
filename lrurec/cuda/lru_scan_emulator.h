// A CPU emulation of the CUDA scan kernels' launch (lru_scan.cu): every block of the grid (channel tiles x
// batch rows), and in each block every phase of lru_scan_chunked.h run by all kTile x kChunks threads
// before the next phase starts, as __syncthreads() orders them. Shared memory starts as NaN, so a read
// before a write shows; running the threads of a phase in reverse order shows any dependence between the
// threads of one phase (a race on the GPU). Used by the scan tests where no GPU is present, and as the
// reference of the CUDA check (bench/bench_lru_scan_cuda.cu).
#pragma once

#include <algorithm>
#include <limits>

#include "lrurec/cuda/lru_scan_chunked.h"

namespace lrec::lrurec::chunked {

enum class ThreadOrder { kForward, kReverse };

template <class T, class... Phases>
void emulate_launch(int64_t batch, int64_t state, ThreadOrder order, Phases... phases) {
  constexpr int kThreads = kTile * kChunks;
  for (int64_t tile = 0; tile < tiles(state); ++tile) {
    for (int64_t b = 0; b < batch; ++b) {
      Shared<T> shared;
      T* raw = reinterpret_cast<T*>(&shared);
      std::fill(raw, raw + sizeof(shared) / sizeof(T), std::numeric_limits<T>::quiet_NaN());
      const auto run_phase = [&](const auto& phase) {
        for (int i = 0; i < kThreads; ++i) {
          const int j = order == ThreadOrder::kForward ? i : kThreads - 1 - i;
          phase(Thread{j % kTile, j / kTile, tile, b}, shared);
        }
      };
      (run_phase(phases), ...);
    }
  }
}

template <class T>
void emulate_forward(const ScanForwardParams<T>& p, ThreadOrder order = ThreadOrder::kForward) {
  emulate_launch<T>(
      p.batch, p.state, order, [&](const Thread& th, Shared<T>& sh) { forward_local(p, th, sh); },
      [&](const Thread& th, Shared<T>& sh) { forward_carry(th, sh); },
      [&](const Thread& th, Shared<T>& sh) { forward_rescan(p, th, sh); });
}

template <class T>
void emulate_backward(const ScanBackwardParams<T>& p, ThreadOrder order = ThreadOrder::kForward) {
  emulate_launch<T>(
      p.batch, p.state, order, [&](const Thread& th, Shared<T>& sh) { backward_local(p, th, sh); },
      [&](const Thread& th, Shared<T>& sh) { backward_carry(th, sh); },
      [&](const Thread& th, Shared<T>& sh) { backward_rescan(p, th, sh); },
      [&](const Thread& th, Shared<T>& sh) { backward_reduce(p, th, sh); });
}

}  // namespace lrec::lrurec::chunked
