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

}  // namespace lrec::lrurec
