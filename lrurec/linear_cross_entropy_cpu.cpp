#include "lrurec/linear_cross_entropy_cpu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/gemm_f32_cpu.h"
#include "lrurec/softmax_rows_cpu.h"

namespace lrec::lrurec {

namespace {

using bf16::gemm_bf16;
using bf16::store_bf16;
using bf16::store_bf16_pairs;

constexpr int64_t kBlockRows = 64;  // rows per task (even: the bf16 G is stored in VNNI pairs of rows)

struct Problem {
  int64_t rows, d, V, Vp;  // Vp: V rounded up to the head's alignment; the padded columns are masked out
  const float* x;          // [P, d]
  const float* W;          // [V, d]
  const float* bias;       // [V]
  const int64_t* targets;  // [P]
  float inv_count;         // 1 / P: gradients are of the mean loss
  float* grad_x;           // [P, d] or nullptr
};

// One thread's sums over the blocks it ran.
struct Accumulators {
  Accumulators(const Problem& pr, bool need_grad)
      : grad_w(need_grad ? pr.d * pr.Vp : 0, 0.0f), grad_b(need_grad ? pr.Vp : 0, 0.0f) {}
  std::vector<float> grad_w;  // dW in the head's layout (Head::grad_w_index)
  std::vector<float> grad_b;  // [Vp]
  double loss = 0;
};

// The softmax of the block's logit rows s [rows, Vp] in place -> G, adding the rows' losses.
void softmax_block(const Problem& pr, int64_t begin, int64_t rows, float* s, Accumulators& acc,
                   bool need_grad) {
  double row_loss[kBlockRows];
  softmax_gradient_rows(fastest_softmax_row_kernel(), s, rows, pr.Vp, pr.bias, pr.V, pr.targets + begin,
                        pr.inv_count, need_grad, row_loss);
  for (int64_t r = 0; r < rows; ++r) acc.loss += row_loss[r];
}

// ---- fp32 products on AVX-512 or AVX2 (core/gemm_f32_cpu) ----------------------------------------------
class Float32Head {
 public:
  static constexpr int64_t kVocabAlign = 16;

  explicit Float32Head(const Problem& pr)
      : wt_(pr.d, pr.V, f32::transposed(pr.W, pr.d)), w_(pr.V, pr.d, f32::row_major(pr.W, pr.d)) {}

  static int64_t grad_w_index(const Problem& pr, int64_t v, int64_t j) { return v * pr.d + j; }  // [V, d]

  struct Scratch {
    explicit Scratch(const Problem& pr) : s(kBlockRows * pr.Vp) {}
    std::vector<float> s;  // logits, then G [R, Vp]
    f32::PackedB x_block;  // the block's x rows [rows, d]: the B operand of Gᵀ x
  };

  void block(const Problem& pr, int64_t begin, Scratch& w, Accumulators& acc, bool need_grad) const {
    const int64_t d = pr.d, V = pr.V, Vp = pr.Vp;
    const int64_t rows = std::min(kBlockRows, pr.rows - begin);
    const float* x = pr.x + begin * d;
    float* s = w.s.data();
    f32::gemm_serial(rows, f32::row_major(x, d), wt_, s, Vp, /*accumulate=*/false);  // S = x Wᵀ
    softmax_block(pr, begin, rows, s, acc, need_grad);
    if (!need_grad) return;
    float* __restrict grad_b = acc.grad_b.data();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < Vp; ++c) grad_b[c] += s[r * Vp + c];
    f32::gemm_serial(rows, f32::row_major(s, Vp), w_, pr.grad_x + begin * d, d, false);  // dx = G W
    w.x_block.pack(rows, d, f32::row_major(x, d));
    f32::gemm_serial(V, f32::transposed(s, Vp), w.x_block, acc.grad_w.data(), d, true);  // dW += Gᵀ x
  }

 private:
  f32::PackedB wt_;  // Wᵀ [d, V]
  f32::PackedB w_;   // W [V, d]
};

// ---- bf16 products on AVX512-BF16 -----------------------------------------------------------------------
uint16_t to_bf16(float v) { return c10::BFloat16(v).x; }

class BFloat16Head {
 public:
  static constexpr int64_t kVocabAlign = 32;

  // The weight's two bf16 layouts.
  explicit BFloat16Head(const Problem& pr) : wt_(pr.d * pr.Vp, 0), wv_(pr.Vp * pr.d, 0) {
    const int64_t d = pr.d, Vp = pr.Vp;
    at::parallel_for(0, pr.V, 256, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        for (int64_t k = 0; k < d; ++k) {
          const uint16_t v = to_bf16(pr.W[n * d + k]);
          wt_[(k / 2) * 2 * Vp + 2 * n + k % 2] = v;
          wv_[(n / 2) * 2 * d + 2 * k + n % 2] = v;
        }
      }
    });
  }

  static int64_t grad_w_index(const Problem& pr, int64_t v, int64_t j) {
    return j * pr.Vp + v;
  }  // dWᵀ [d, Vp]

  struct Scratch {
    explicit Scratch(const Problem& pr)
        : xb(kBlockRows * pr.d),
          xt(pr.d * kBlockRows),
          s(kBlockRows * pr.Vp),
          g_rows(kBlockRows * pr.Vp),
          g_pairs(kBlockRows * pr.Vp) {}
    std::vector<uint16_t> xb, xt;   // the block's x rows in bf16: [R, d] and transposed [d, R]
    std::vector<float> s;           // logits, then G, fp32 [R, Vp]
    std::vector<uint16_t> g_rows;   // G in bf16, row-major [R, Vp]: the A operand of G W
    std::vector<uint16_t> g_pairs;  // G in bf16, VNNI pairs of rows [R / 2, Vp, 2]: the B operand of xᵀ G
  };

  LREC_AVX512_BF16 void block(const Problem& pr, int64_t begin, Scratch& w, Accumulators& acc,
                              bool need_grad) const {
    const int64_t R = kBlockRows, d = pr.d, Vp = pr.Vp;
    const int64_t rows = std::min(R, pr.rows - begin);
    for (int64_t r = 0; r < R; ++r) {
      for (int64_t j = 0; j < d; ++j) {
        const uint16_t v = r < rows ? to_bf16(pr.x[(begin + r) * d + j]) : 0;
        w.xb[r * d + j] = v;
        w.xt[j * R + r] = v;
      }
    }
    float* s = w.s.data();
    gemm_bf16(rows, Vp, d, w.xb.data(), d, wt_.data(), Vp, s, Vp, /*accumulate=*/false);  // S = x Wᵀ
    softmax_block(pr, begin, rows, s, acc, need_grad);
    if (!need_grad) return;
    std::fill(s + rows * Vp, s + R * Vp, 0.0f);  // padding rows: G = 0
    for (int64_t r = 0; r < R; r += 2) {
      const float* g0 = s + r * Vp;
      const float* g1 = g0 + Vp;
      for (int64_t c = 0; c < Vp; c += 16) {
        const __m512 a = _mm512_loadu_ps(g0 + c), b = _mm512_loadu_ps(g1 + c);
        store_bf16(w.g_rows.data() + r * Vp + c, a);
        store_bf16(w.g_rows.data() + (r + 1) * Vp + c, b);
        store_bf16_pairs(w.g_pairs.data() + r * Vp + 2 * c, a, b);
        _mm512_storeu_ps(acc.grad_b.data() + c,
                         _mm512_add_ps(_mm512_loadu_ps(acc.grad_b.data() + c), _mm512_add_ps(a, b)));
      }
    }
    gemm_bf16(rows, d, Vp, w.g_rows.data(), Vp, wv_.data(), d, pr.grad_x + begin * d, d, false);  // dx = G W
    gemm_bf16(d, Vp, R, w.xt.data(), R, w.g_pairs.data(), Vp, acc.grad_w.data(), Vp, true);  // dWᵀ += xᵀ G
  }

 private:
  std::vector<uint16_t> wt_;  // Wᵀ in VNNI pairs over d: [d / 2, Vp, 2], zero columns n >= V
  std::vector<uint16_t> wv_;  // W in VNNI pairs over V: [Vp / 2, d, 2], zero rows v >= V
};

// Blocks are dealt out round-robin to the threads, each with its own scratch and accumulators; the
// accumulators are summed at the end.
template <class Head>
double run_head(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                const at::Tensor& targets, HeadGradients* grads) {
  const int64_t P = x.size(0), d = x.size(1), V = weight.size(0);
  const bool need_grad = grads != nullptr;
  if (need_grad) grads->x = at::empty({P, d}, x.options());
  const Problem pr{P,
                   d,
                   V,
                   (V + Head::kVocabAlign - 1) / Head::kVocabAlign * Head::kVocabAlign,
                   x.const_data_ptr<float>(),
                   weight.const_data_ptr<float>(),
                   bias.const_data_ptr<float>(),
                   targets.const_data_ptr<int64_t>(),
                   1.0f / static_cast<float>(P),
                   need_grad ? grads->x.mutable_data_ptr<float>() : nullptr};
  const Head head(pr);

  const int64_t threads = at::get_num_threads(), blocks = (P + kBlockRows - 1) / kBlockRows;
  std::vector<Accumulators> acc;
  for (int64_t t = 0; t < threads; ++t) acc.emplace_back(pr, need_grad);
  at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      typename Head::Scratch w(pr);
      for (int64_t block = t; block < blocks; block += threads)
        head.block(pr, block * kBlockRows, w, acc[t], need_grad);
    }
  });

  double loss = 0;
  for (const Accumulators& a : acc) loss += a.loss;
  if (need_grad) {
    grads->weight = at::empty({V, d}, weight.options());
    grads->bias = at::empty({V}, bias.options());
    float* gw = grads->weight.mutable_data_ptr<float>();
    float* gb = grads->bias.mutable_data_ptr<float>();
    at::parallel_for(0, V, 256, [&](int64_t begin, int64_t end) {
      for (int64_t v = begin; v < end; ++v) {
        for (int64_t j = 0; j < d; ++j) {
          float sum = 0;
          for (const Accumulators& a : acc) sum += a.grad_w[Head::grad_w_index(pr, v, j)];
          gw[v * d + j] = sum;
        }
        float sum = 0;
        for (const Accumulators& a : acc) sum += a.grad_b[v];
        gb[v] = sum;
      }
    });
  }
  return loss;
}

}  // namespace

bool linear_cross_entropy_cpu_applies(const at::Tensor& x, const at::Tensor& weight, HeadProducts products) {
  const bool cpu_runs_it =
      products == HeadProducts::kFloat32 ? f32::gemm_applies() : bf16::cpu_has_avx512_bf16();
  return cpu_runs_it && x.device().is_cpu() && x.scalar_type() == at::kFloat &&
         weight.scalar_type() == at::kFloat && x.size(1) % 16 == 0;
}

double linear_cross_entropy_cpu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                                const at::Tensor& targets, HeadProducts products, HeadGradients* grads) {
  const at::Tensor xc = x.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  return products == HeadProducts::kFloat32 ? run_head<Float32Head>(xc, wc, bc, targets, grads)
                                            : run_head<BFloat16Head>(xc, wc, bc, targets, grads);
}

}  // namespace lrec::lrurec
