// Plain parameter structs for the LRU scan kernels: sizes and raw pointers only, so that the CPU and
// CUDA kernels share one description and no torch type reaches a kernel.
//
// The recurrence, per batch row b and complex state channel n:
//   h_t = λ ⊙ m_{t-1} h_{t-1} + u_t,   h_{-1} = 0,   m_t = (token_t > 0)
// Complex numbers are real pairs in split layout: for a [.., 2N] buffer, [.., :N] are the real parts and
// [.., N:] the imaginary parts (the layout the complex linear maps produce and consume without copies).
#pragma once

#include <cstdint>

#include "core/build_config.h"

namespace lrec::lrurec {

template <class T>
struct ScanForwardParams {
  int64_t batch = 0, length = 0, state = 0;  // B, L, N (complex channels)
  const T* u = nullptr;                      // [B, L, 2N]
  const T* lambda = nullptr;                 // [2N]
  const uint8_t* mask = nullptr;             // [B, L]
  T* h = nullptr;                            // [B, L, 2N] out
};

template <class T>
struct ScanBackwardParams {
  int64_t batch = 0, length = 0, state = 0;
  const T* grad_h = nullptr;      // [B, L, 2N] dL/dh_t from above
  const T* h = nullptr;           // [B, L, 2N] forward output
  const T* lambda = nullptr;      // [2N]
  const uint8_t* mask = nullptr;  // [B, L]
  T* grad_u = nullptr;            // [B, L, 2N] out: total dL/dh_t, which equals dL/du_t
  T* grad_lambda = nullptr;       // [B, 2N] out: per-row partial sums (summed over B by the caller)
};

template <class T>
void scan_forward_cpu(const ScanForwardParams<T>& p);
template <class T>
void scan_backward_cpu(const ScanBackwardParams<T>& p);

#if LREC_WITH_CUDA
template <class T>
void scan_forward_cuda(const ScanForwardParams<T>& p, void* stream);
template <class T>
void scan_backward_cuda(const ScanBackwardParams<T>& p, void* stream);
#endif

}  // namespace lrec::lrurec
