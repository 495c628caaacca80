// Mean cross-entropy of a linear head, fused and chunked:
//   loss = mean_i [ logsumexp_v(x_i · W_v + b_v) − (x_i · W_{y_i} + b_{y_i}) ]
// The [rows, V] logits are never materialized whole: rows are processed in chunks that stay in cache, and
// the gradients (softmax − one-hot) are folded into dL/dx, dL/dW and dL/db chunk by chunk during the
// forward pass, so backward only scales them. Equals at::cross_entropy_loss(at::linear(x, W, b), y).
// The softmax of each row runs on lrurec/softmax_rows_cpu.h (vector exp on CPUs with AVX-512).
//
// With `bf16_matmul` the three matrix products (logits, dL/dx, dL/dW) take bfloat16 inputs (fp32
// accumulation; about 5x the fp32 rate on this CPU class); the softmax, the loss and the accumulated
// gradients stay fp32.
//
// Two implementations: kFastest runs the fused kernels of linear_cross_entropy_cpu.h where the CPU has them
// (fp32 products on AVX-512 or AVX2, bf16 products on AVX512-BF16 with the logits kept in fp32); kPortable,
// and kFastest elsewhere, loops over chunks of chunk_rows rows with at::mm (on bf16 tensors the logits then
// carry bf16 rounding, relative error ~4e-3).
#pragma once

#include <ATen/core/Tensor.h>

namespace lrec::lrurec {

enum class HeadKernel { kFastest, kPortable };

// x [P, d], weight [V, d], bias [V], targets [P] (int64 in [0, V)) -> scalar loss.
at::Tensor linear_cross_entropy(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& targets, bool bf16_matmul = false,
                                HeadKernel kernel = HeadKernel::kFastest, int64_t chunk_rows = 256);

}  // namespace lrec::lrurec
