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

// The dense form, used by the CUDA kernels.
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

// The CPU kernels take the packed (variable-length) form, of which the dense [B, L] batch is the case
// P = B·L: rows of u and h are positions, sequence s owns rows [row_begin[s], row_begin[s + 1]), and
// row i continues row i − 1's state when carry[i] is set (for the dense batch carry = m_{t−1}):
//   h_i = λ ⊙ carry_i h_{i−1} + u_i
template <class T>
struct PackedScanForwardParams {
  int64_t sequences = 0, state = 0;    // S, N (complex channels)
  const int64_t* row_begin = nullptr;  // [S + 1]
  const uint8_t* carry = nullptr;      // [P]
  const T* u = nullptr;                // [P, 2N]
  const T* lambda = nullptr;           // [2N]
  T* h = nullptr;                      // [P, 2N] out
};

template <class T>
struct PackedScanBackwardParams {
  int64_t sequences = 0, state = 0;
  const int64_t* row_begin = nullptr;  // [S + 1]
  const uint8_t* carry = nullptr;      // [P]
  const T* grad_h = nullptr;           // [P, 2N] dL/dh_i from above
  const T* h = nullptr;                // [P, 2N] forward output
  const T* lambda = nullptr;           // [2N]
  T* grad_u = nullptr;                 // [P, 2N] out: total dL/dh_i, which equals dL/du_i
  T* grad_lambda = nullptr;            // [S, 2N] out: per-sequence partial sums (summed by the caller)
};

template <class T>
void scan_forward_cpu(const PackedScanForwardParams<T>& p);
template <class T>
void scan_backward_cpu(const PackedScanBackwardParams<T>& p);

#if LREC_WITH_CUDA
template <class T>
void scan_forward_cuda(const ScanForwardParams<T>& p, void* stream);
template <class T>
void scan_backward_cuda(const ScanBackwardParams<T>& p, void* stream);
#endif

}  // namespace lrec::lrurec
