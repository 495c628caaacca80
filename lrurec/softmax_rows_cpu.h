// The softmax step of LRURec's fused output head (lrurec/linear_cross_entropy): one row of logits s (bias not
// yet added) becomes, in place,
//   G = (softmax(s + b) − onehot(y)) · inv_count      the gradient of the mean loss w.r.t. the logits
// and the row's loss logsumexp(s + b) − (s + b)[y] is returned. Three kernels of the same math: a portable
// one (plain float loops, the reference; GCC leaves its exp scalar) and AVX2 and AVX-512 ones (a vector exp);
// the chunked head and the fused heads of lrurec/linear_cross_entropy_cpu take the fastest.
#pragma once

#include <cstdint>

namespace lrec::lrurec {

enum class SoftmaxRowKernel { kPortable, kAvx2, kAvx512 };

// kAvx512 when this CPU has AVX-512 (F/BW/VL/DQ), else kAvx2 when it has AVX2 and FMA, else kPortable.
SoftmaxRowKernel fastest_softmax_row_kernel();

// Rows [rows, V] of logits without bias, in place -> G; returns the summed loss of the rows. Parallel over
// rows. targets: int64 in [0, V).
double softmax_cross_entropy_rows(float* logits, int64_t rows, int64_t V, const float* bias,
                                  const int64_t* targets, float inv_count, SoftmaxRowKernel kernel);

// On the calling thread: rows [rows, width] of logits, width >= V, each in place -> G as above; columns
// [V, width) are padding and get G = 0. With need_grad false a row holds exp(s + b − max) afterwards instead
// of G. Row r's loss goes to row_loss[r]; targets[r] in [0, V).
void softmax_gradient_rows(SoftmaxRowKernel kernel, float* s, int64_t rows, int64_t width, const float* bias,
                           int64_t V, const int64_t* targets, float inv_count, bool need_grad,
                           double* row_loss);

}  // namespace lrec::lrurec
