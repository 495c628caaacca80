// The LRU's linear recurrence as one differentiable op, with interchangeable kernels:
//   h_t = λ ⊙ m_{t-1} h_{t-1} + u_t,  h_{-1} = 0
// m_t = (token_t > 0) stops the state from crossing padding, so real positions never see it and their
// outputs do not depend on the amount of left padding.
//
// Tensors use the split complex layout: u and h are [B, L, 2N] with real parts in [..., :N] and imaginary
// parts in [..., N:]; λ is [2N] likewise.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace lrec::lrurec {

enum class ScanKernel {
  kFused,       // fused CPU kernel, or the CUDA kernel for CUDA tensors (custom autograd function)
  kLogDepth,    // recursive doubling in complex tensor ops, exactly as the official LRURec code
  kSequential,  // a plain loop over time in tensor ops: the slow, obvious reference
};

// "fused", "log_depth" or "sequential".
ScanKernel parse_scan_kernel(const std::string& name);

// u [B, L, 2N] (float or double), lambda [2N], mask [B, L] (bool) -> h [B, L, 2N]. Differentiable in u
// and lambda with every kernel.
at::Tensor lru_scan(const at::Tensor& u, const at::Tensor& lambda, const at::Tensor& mask,
                    ScanKernel kernel = ScanKernel::kFused);

// The positions of a [B, L] batch that a packed [P, ...] tensor holds, for layers that skip padding: its
// rows are the entries of `index` (flat b·L + t, ascending), which include every real position.
struct PackedPositions {
  at::Tensor index;      // [P] int64
  at::Tensor mask;       // [B, L] bool, token > 0
  at::Tensor carry;      // [P] uint8: row i continues row i − 1's state (position t − 1 is real)
  at::Tensor row_begin;  // [B + 1] int64: batch row b owns packed rows [row_begin[b], row_begin[b + 1])
  int64_t batch = 0, length = 0;
};

// mask [B, L] (token > 0), keep [B, L] (bool, true at every real position and any others wanted).
PackedPositions pack_positions(const at::Tensor& mask, const at::Tensor& keep);

// u [P, 2N] at `positions` -> h [P, 2N], equal to lru_scan on the dense layout at those positions. The
// fused CPU kernel runs on the packed rows directly; the other kernels through the dense layout.
at::Tensor lru_scan_packed(const at::Tensor& u, const at::Tensor& lambda, const PackedPositions& positions,
                           ScanKernel kernel = ScanKernel::kFused);

}  // namespace lrec::lrurec
