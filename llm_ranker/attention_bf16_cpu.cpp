#include "llm_ranker/attention_bf16_cpu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/bf16_cpu.h"
#include "llm_ranker/llama_attention.h"

namespace lrec::llm {

namespace {

using bf16::cpu_has_avx512_bf16;
using bf16::exp_ps;
using bf16::gemm_bf16;
using bf16::lanes_below;
using bf16::store_bf16;
using bf16::store_bf16_pairs;

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kBlockQ = 64;    // query rows per block
constexpr int64_t kKeyAlign = 32;  // keys are zero-padded to a multiple of this (products run 16 wide)

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// ---- elementwise pieces ---------------------------------------------------------------------------------
// Which keys one query row may attend to: keys < limit, and where `bytes` is given, bytes[key] != 0.
struct RowMask {
  const uint8_t* bytes;
  int64_t limit;
};

// Lanes [c, c + 16) of a row.
LREC_AVX512_BF16 inline __mmask16 allowed16(const RowMask& m, int64_t c) {
  const __mmask16 in_range = lanes_below(c, m.limit);
  if (m.bytes == nullptr) return in_range;
  const __m128i bytes = _mm_maskz_loadu_epi8(in_range, m.bytes + c);
  return _mm_test_epi8_mask(bytes, bytes);
}

// One row of raw scores s[0, kn) -> e = exp(scale · s - max) over the allowed keys, in bf16 (0 elsewhere),
// the numerator of softmax(scale · s); the caller divides by the returned sum. Also returns the row's
// log-sum-exp of scale · s. A row with no allowed key gets e = 0, sum 0 and lse 0.
struct RowSoftmax {
  float sum, lse;
};

LREC_AVX512_BF16 RowSoftmax softmax_numerator_row(const float* s, int64_t kn, const RowMask& m, float scale,
                                                  uint16_t* e) {
  const __m512 scale_v = _mm512_set1_ps(scale);
  __m512 max_v = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t c = 0; c < kn; c += 16)
    max_v = _mm512_mask_max_ps(max_v, allowed16(m, c), max_v, _mm512_mul_ps(_mm512_loadu_ps(s + c), scale_v));
  const float row_max = _mm512_reduce_max_ps(max_v);
  if (row_max == -std::numeric_limits<float>::infinity()) {
    std::memset(e, 0, sizeof(uint16_t) * kn);
    return {0.0f, 0.0f};
  }
  const __m512 shift = _mm512_set1_ps(row_max);
  __m512 sum_v = _mm512_setzero_ps();
  for (int64_t c = 0; c < kn; c += 16) {
    const __m512 x =
        _mm512_maskz_mov_ps(allowed16(m, c), exp_ps(_mm512_fmsub_ps(_mm512_loadu_ps(s + c), scale_v, shift)));
    store_bf16(e + c, x);
    sum_v = _mm512_add_ps(sum_v, x);
  }
  const float sum = _mm512_reduce_add_ps(sum_v);
  return {sum, row_max + std::log(sum)};
}

LREC_AVX512_BF16 void store_rows_bf16(uint16_t* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) store_bf16(dst + i, _mm512_loadu_ps(src + i));
}

// ---- one call's shapes and operands ---------------------------------------------------------------------
struct Shape {
  int64_t batch, heads, kv_heads, length, head_dim;
  int64_t keys_padded;    // Sp: length rounded up to kKeyAlign
  int64_t length_padded;  // Tp: length rounded up to 2 (columns of Qᵀ and dOᵀ)
  int64_t blocks;         // query blocks of kBlockQ
  float scale;
  bool causal;
};

struct Operands {
  const uint8_t* mask;  // [B, T, T] or nullptr (then `causal` decides)
  const int64_t* kend;  // [B, blocks]: the keys a query block needs are [0, kend)
};

RowMask row_mask(const Shape& sh, const Operands& op, int64_t b, int64_t t) {
  if (op.mask != nullptr) return {op.mask + (b * sh.length + t) * sh.length, sh.length};
  return {nullptr, sh.causal ? t + 1 : sh.length};
}

const uint16_t* bits(const at::Tensor& t) { return reinterpret_cast<const uint16_t*>(t.const_data_ptr()); }
uint16_t* mutable_bits(const at::Tensor& t) { return reinterpret_cast<uint16_t*>(t.mutable_data_ptr()); }

// ---- operand layouts (plain loops; x is one head, [n, d] row-major bf16) -------------------------------
// out[j][i] = convert(x[i][j]) for i < n, j < d, in 16 x 16 tiles (both sides stay in L1).
template <class From, class To, class Convert>
void transpose_tiled(const From* x, int64_t n, int64_t d, int64_t ldx, To* out, int64_t ldo,
                     Convert convert) {
  constexpr int64_t kTile = 16;
  for (int64_t i0 = 0; i0 < n; i0 += kTile) {
    for (int64_t j0 = 0; j0 < d; j0 += kTile) {
      for (int64_t j = j0; j < std::min(d, j0 + kTile); ++j) {
        for (int64_t i = i0; i < std::min(n, i0 + kTile); ++i) out[j * ldo + i] = convert(x[i * ldx + j]);
      }
    }
  }
}

// xᵀ, [d, ld], zero for columns in [n, ld).
template <class T>
void transpose(const T* x, int64_t n, int64_t d, int64_t ld, T* out) {
  transpose_tiled(x, n, d, d, out, ld, [](T v) { return v; });
  for (int64_t j = 0; j < d; ++j) std::fill(out + j * ld + n, out + (j + 1) * ld, T{});
}

// Two bf16 values moved as one: x[i][2p], x[i][2p + 1].
struct Pair {
  uint16_t v[2];
};

// xᵀ in VNNI pairs, the B operand of a product with xᵀ: out[p][i][e] = x[i][2p + e], [d / 2, ld, 2], zero
// for rows i in [n, ld): the transpose of x seen as [n, d / 2] pairs.
void pack_transposed(const uint16_t* x, int64_t n, int64_t d, int64_t ld, uint16_t* out) {
  transpose(reinterpret_cast<const Pair*>(x), n, d / 2, ld, reinterpret_cast<Pair*>(out));
}

// x in VNNI pairs of rows, the B operand of a product with x: out[i / 2][j][i % 2] = x[i][j],
// [rows / 2, d, 2], zero for rows i in [n, rows).
void pack_rows(const uint16_t* x, int64_t n, int64_t d, int64_t rows, uint16_t* out) {
  for (int64_t i = 0; i < rows; ++i) {
    uint16_t* dst = out + (i / 2) * 2 * d + i % 2;
    if (i < n) {
      for (int64_t j = 0; j < d; ++j) dst[2 * j] = x[i * d + j];
    } else {
      for (int64_t j = 0; j < d; ++j) dst[2 * j] = 0;
    }
  }
}

// ---- forward: one block of query rows -------------------------------------------------------------------
struct ForwardArgs {
  const uint16_t *q, *kt_packed, *v_packed;  // [B, H, T, hd], [B, KVH, hd/2, Sp, 2], [B, KVH, Sp/2, hd, 2]
  uint16_t* out;                             // [B, H, T, hd]
  float* lse;                                // [B, H, T]
};

struct ForwardScratch {
  explicit ForwardScratch(const Shape& sh)
      : scores(kBlockQ * sh.keys_padded), rows(kBlockQ * sh.head_dim), p(kBlockQ * sh.keys_padded) {}
  std::vector<float> scores, rows;  // S of the block, then (e V)
  std::vector<uint16_t> p;          // the softmax numerators e, bf16
};

LREC_AVX512_BF16 void forward_block(const Shape& sh, const Operands& op, const ForwardArgs& a, int64_t item,
                                    ForwardScratch& w) {
  const int64_t block = item % sh.blocks, bh = item / sh.blocks, b = bh / sh.heads, h = bh % sh.heads;
  const int64_t kvh = h / (sh.heads / sh.kv_heads), d = sh.head_dim, sp = sh.keys_padded;
  const int64_t i0 = block * kBlockQ, rows = std::min(kBlockQ, sh.length - i0);
  const int64_t kn = round_up(op.kend[b * sh.blocks + block], 16);
  const uint16_t* q = a.q + (bh * sh.length + i0) * d;
  gemm_bf16(rows, kn, d, q, d, a.kt_packed + (b * sh.kv_heads + kvh) * d * sp, sp, w.scores.data(), sp,
            false);
  float inv_sum[kBlockQ];
  for (int64_t r = 0; r < rows; ++r) {
    const RowSoftmax row = softmax_numerator_row(w.scores.data() + r * sp, kn, row_mask(sh, op, b, i0 + r),
                                                 sh.scale, w.p.data() + r * sp);
    a.lse[bh * sh.length + i0 + r] = row.lse;
    inv_sum[r] = row.sum > 0 ? 1.0f / row.sum : 0.0f;
  }
  gemm_bf16(rows, d, kn, w.p.data(), sp, a.v_packed + (b * sh.kv_heads + kvh) * sp * d, d, w.rows.data(), d,
            false);  // (e V), divided by the sums below
  uint16_t* out = a.out + (bh * sh.length + i0) * d;
  for (int64_t r = 0; r < rows; ++r) {
    const __m512 inv = _mm512_set1_ps(inv_sum[r]);
    for (int64_t j = 0; j < d; j += 16)
      store_bf16(out + r * d + j, _mm512_mul_ps(_mm512_loadu_ps(w.rows.data() + r * d + j), inv));
  }
}

// ---- backward: every query head of one (batch, KV head) -------------------------------------------------
struct BackwardArgs {
  const uint16_t *q, *k, *v, *out, *grad_out;  // [B, H, T, hd], [B, KVH, T, hd] (k, v)
  const float* lse;                            // [B, H, T]
  uint16_t *grad_q, *grad_k, *grad_v;          // as q, k, v
};

struct BackwardScratch {
  explicit BackwardScratch(const Shape& sh)
      : scores(kBlockQ * sh.keys_padded),
        grad_scores(kBlockQ * sh.keys_padded),
        rows(kBlockQ * sh.head_dim),
        grad_kt(sh.head_dim * sh.keys_padded),
        grad_vt(sh.head_dim * sh.keys_padded),
        ds(kBlockQ * sh.keys_padded),
        p_pairs(kBlockQ * sh.keys_padded),
        ds_pairs(kBlockQ * sh.keys_padded),
        kt_packed(sh.head_dim * sh.keys_padded),
        vt_packed(sh.head_dim * sh.keys_padded),
        k_packed(sh.head_dim * sh.keys_padded),
        qt(sh.head_dim * sh.length_padded),
        grad_out_t(sh.head_dim * sh.length_padded) {}
  std::vector<float> scores, grad_scores, rows, grad_kt, grad_vt;
  std::vector<uint16_t> ds, p_pairs, ds_pairs, kt_packed, vt_packed, k_packed, qt, grad_out_t;
};

// 16 bf16 values widened to fp32 (a named function: a lambda would not inherit the target attribute).
LREC_AVX512 inline __m512 widen_bf16(const uint16_t* p) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
}

LREC_AVX512_BF16 float dot_bf16(const uint16_t* x, const uint16_t* y, int64_t n) {
  __m512 sum = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) sum = _mm512_fmadd_ps(widen_bf16(x + i), widen_bf16(y + i), sum);
  return _mm512_reduce_add_ps(sum);
}

// dKᵀ and dVᵀ of one query head's blocks, added to w.grad_kt and w.grad_vt; dQ written.
LREC_AVX512_BF16 void backward_query_head(const Shape& sh, const Operands& op, const BackwardArgs& a,
                                          int64_t b, int64_t h, BackwardScratch& w) {
  const int64_t d = sh.head_dim, sp = sh.keys_padded, tp = sh.length_padded, bh = b * sh.heads + h;
  const __m512 scale_v = _mm512_set1_ps(sh.scale);
  transpose(a.q + bh * sh.length * d, sh.length, d, tp, w.qt.data());
  transpose(a.grad_out + bh * sh.length * d, sh.length, d, tp, w.grad_out_t.data());
  for (int64_t block = 0; block < sh.blocks; ++block) {
    const int64_t i0 = block * kBlockQ, rows = std::min(kBlockQ, sh.length - i0);
    const int64_t kn = round_up(op.kend[b * sh.blocks + block], 16);
    const int64_t row0 = bh * sh.length + i0;
    gemm_bf16(rows, kn, d, a.q + row0 * d, d, w.kt_packed.data(), sp, w.scores.data(), sp,
              false);  // S = Q Kᵀ
    gemm_bf16(rows, kn, d, a.grad_out + row0 * d, d, w.vt_packed.data(), sp, w.grad_scores.data(), sp,
              false);  // dP = dO Vᵀ
    for (int64_t r = 0; r < rows; r += 2) {
      // Rows r and r + 1 together, to write P and dS also as VNNI pairs of rows (a missing last row is 0).
      const int64_t n_rows = std::min<int64_t>(2, rows - r);
      __m512 lse[2], delta[2], p[2], ds[2];
      RowMask mask[2] = {row_mask(sh, op, b, i0 + r), RowMask{nullptr, 0}};
      for (int e = 0; e < 2; ++e) {
        const bool real = e < n_rows;
        if (real) mask[e] = row_mask(sh, op, b, i0 + r + e);
        lse[e] = _mm512_set1_ps(real ? a.lse[row0 + r + e] : 0.0f);
        delta[e] = _mm512_set1_ps(
            real ? dot_bf16(a.grad_out + (row0 + r + e) * d, a.out + (row0 + r + e) * d, d) : 0.0f);
      }
      for (int64_t c = 0; c < kn; c += 16) {
        for (int e = 0; e < 2; ++e) {
          const int64_t at = (r + e) * sp + c;
          const bool real = e < n_rows;
          const __m512 s = real ? _mm512_loadu_ps(w.scores.data() + at) : _mm512_setzero_ps();
          const __m512 dp = real ? _mm512_loadu_ps(w.grad_scores.data() + at) : _mm512_setzero_ps();
          p[e] = _mm512_maskz_mov_ps(allowed16(mask[e], c), exp_ps(_mm512_fmsub_ps(s, scale_v, lse[e])));
          ds[e] = _mm512_mul_ps(_mm512_mul_ps(p[e], _mm512_sub_ps(dp, delta[e])), scale_v);
          if (real) store_bf16(w.ds.data() + at, ds[e]);
        }
        store_bf16_pairs(w.p_pairs.data() + r * sp + 2 * c, p[0], p[1]);
        store_bf16_pairs(w.ds_pairs.data() + r * sp + 2 * c, ds[0], ds[1]);
      }
    }
    gemm_bf16(rows, d, kn, w.ds.data(), sp, w.k_packed.data(), d, w.rows.data(), d, false);  // dQ = dS K
    store_rows_bf16(a.grad_q + row0 * d, w.rows.data(), rows * d);
    // dKᵀ += Qᵀ dS and dVᵀ += dOᵀ P over this block's (even-padded) rows.
    const int64_t rows_even = round_up(rows, 2);
    gemm_bf16(d, kn, rows_even, w.qt.data() + i0, tp, w.ds_pairs.data(), sp, w.grad_kt.data(), sp, true);
    gemm_bf16(d, kn, rows_even, w.grad_out_t.data() + i0, tp, w.p_pairs.data(), sp, w.grad_vt.data(), sp,
              true);
  }
}

// xᵀ [d, ld] fp32 -> x [n, d] bf16.
void store_transposed_bf16(const float* xt, int64_t n, int64_t d, int64_t ld, uint16_t* x) {
  transpose_tiled(xt, d, n, ld, x, d, [](float v) { return c10::BFloat16(v).x; });  // round to nearest even
}

void backward_kv_head(const Shape& sh, const Operands& op, const BackwardArgs& a, int64_t item,
                      BackwardScratch& w) {
  const int64_t b = item / sh.kv_heads, kvh = item % sh.kv_heads, group = sh.heads / sh.kv_heads;
  const int64_t d = sh.head_dim, sp = sh.keys_padded, n = sh.length;
  const uint16_t *k = a.k + item * n * d, *v = a.v + item * n * d;
  pack_transposed(k, n, d, sp, w.kt_packed.data());
  pack_transposed(v, n, d, sp, w.vt_packed.data());
  pack_rows(k, n, d, sp, w.k_packed.data());
  std::fill(w.grad_kt.begin(), w.grad_kt.end(), 0.0f);
  std::fill(w.grad_vt.begin(), w.grad_vt.end(), 0.0f);
  for (int64_t h = kvh * group; h < (kvh + 1) * group; ++h) backward_query_head(sh, op, a, b, h, w);
  store_transposed_bf16(w.grad_kt.data(), n, d, sp, a.grad_k + item * n * d);
  store_transposed_bf16(w.grad_vt.data(), n, d, sp, a.grad_v + item * n * d);
}

// ---- the autograd function ------------------------------------------------------------------------------
Shape shape_of(const at::Tensor& q, const at::Tensor& k, bool causal) {
  Shape sh{};
  sh.batch = q.size(0);
  sh.heads = q.size(1);
  sh.kv_heads = k.size(1);
  sh.length = q.size(2);
  sh.head_dim = q.size(3);
  sh.keys_padded = round_up(sh.length, kKeyAlign);
  sh.length_padded = round_up(sh.length, 2);
  sh.blocks = (sh.length + kBlockQ - 1) / kBlockQ;
  sh.scale = float(1.0 / std::sqrt(double(sh.head_dim)));
  sh.causal = causal;
  return sh;
}

// [B, blocks] int64: one past the last key any row of the block may attend to.
at::Tensor block_key_ends(const Shape& sh, const at::Tensor& mask) {
  at::Tensor ends = at::empty({sh.batch, sh.blocks}, at::TensorOptions().dtype(at::kLong));
  int64_t* out = ends.mutable_data_ptr<int64_t>();
  const uint8_t* bytes = mask.defined() ? reinterpret_cast<const uint8_t*>(mask.const_data_ptr()) : nullptr;
  const int64_t n = sh.length;
  at::parallel_for(0, sh.batch * sh.blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / sh.blocks, i0 = item % sh.blocks * kBlockQ, i1 = std::min(n, i0 + kBlockQ);
      if (bytes == nullptr) {
        out[item] = sh.causal ? i1 : n;
        continue;
      }
      int64_t last = 0;  // scan each row back from its end, down to the block's end so far
      for (int64_t t = i0; t < i1; ++t) {
        const uint8_t* row = bytes + (b * n + t) * n;
        for (int64_t key = n; key > last; --key) {
          if (row[key - 1] != 0) {
            last = key;
            break;
          }
        }
      }
      out[item] = last;
    }
  });
  return ends;
}

Operands operands(const at::Tensor& mask, const at::Tensor& kend) {
  return {mask.defined() ? reinterpret_cast<const uint8_t*>(mask.const_data_ptr()) : nullptr,
          kend.const_data_ptr<int64_t>()};
}

// Which keys each query sees; not a tensor argument of the autograd function (it has no gradient).
struct KeyMask {
  at::Tensor mask;  // [B, T, T] bool, contiguous, or undefined (then `causal` decides)
  bool causal;
};

class AttentionBf16Cpu : public torch::autograd::Function<AttentionBf16Cpu> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in, const KeyMask& key_mask) {
    const at::Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const Shape sh = shape_of(q, k, key_mask.causal);
    const at::Tensor kend = block_key_ends(sh, key_mask.mask);
    const int64_t d = sh.head_dim, sp = sh.keys_padded, n = sh.length;
    at::Tensor kt_packed = at::empty({sh.batch, sh.kv_heads, d / 2, sp, 2}, q.options());
    at::Tensor v_packed = at::empty({sh.batch, sh.kv_heads, sp / 2, d, 2}, q.options());
    at::parallel_for(0, sh.batch * sh.kv_heads, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        pack_transposed(bits(k) + i * n * d, n, d, sp, mutable_bits(kt_packed) + i * d * sp);
        pack_rows(bits(v) + i * n * d, n, d, sp, mutable_bits(v_packed) + i * sp * d);
      }
    });
    at::Tensor out = at::empty_like(q);
    at::Tensor lse = at::empty({sh.batch, sh.heads, n}, q.options().dtype(at::kFloat));
    const Operands op = operands(key_mask.mask, kend);
    const ForwardArgs args{bits(q), bits(kt_packed), bits(v_packed), mutable_bits(out),
                           lse.mutable_data_ptr<float>()};
    at::parallel_for(0, sh.batch * sh.heads * sh.blocks, 1, [&](int64_t begin, int64_t end) {
      ForwardScratch w(sh);
      for (int64_t item = begin; item < end; ++item) forward_block(sh, op, args, item, w);
    });
    ctx->save_for_backward({q, k, v, out, lse});
    ctx->saved_data["mask"] = key_mask.mask;
    ctx->saved_data["kend"] = kend;
    ctx->saved_data["causal"] = key_mask.causal;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const std::vector<at::Tensor> saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &out = saved[3], &lse = saved[4];
    const at::Tensor mask = ctx->saved_data["mask"].toOptional<at::Tensor>().value_or(at::Tensor());
    const at::Tensor kend = ctx->saved_data["kend"].toTensor();
    const Shape sh = shape_of(q, k, ctx->saved_data["causal"].toBool());
    const at::Tensor grad_out = grad_outputs[0].to(at::kBFloat16).contiguous();
    at::Tensor grad_q = at::empty_like(q), grad_k = at::empty_like(k), grad_v = at::empty_like(v);
    const Operands op = operands(mask, kend);
    const BackwardArgs args{bits(q),
                            bits(k),
                            bits(v),
                            bits(out),
                            bits(grad_out),
                            lse.const_data_ptr<float>(),
                            mutable_bits(grad_q),
                            mutable_bits(grad_k),
                            mutable_bits(grad_v)};
    // One item per (batch, KV head): its query heads add into the same dK and dV.
    at::parallel_for(0, sh.batch * sh.kv_heads, 1, [&](int64_t begin, int64_t end) {
      BackwardScratch w(sh);
      for (int64_t item = begin; item < end; ++item) backward_kv_head(sh, op, args, item, w);
    });
    return {grad_q, grad_k, grad_v, at::Tensor()};  // none for the KeyMask
  }
};

}  // namespace

bool attention_bf16_cpu_applies(const at::Tensor& q, const at::Tensor& k, const LayerInputs& in) {
  return cpu_has_avx512_bf16() && q.device().is_cpu() && q.scalar_type() == at::kBFloat16 &&
         k.scalar_type() == at::kBFloat16 && q.size(2) == k.size(2) && q.size(3) % 16 == 0 &&
         q.size(3) <= 256 && q.size(1) % k.size(1) == 0;
}

at::Tensor attention_bf16_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              const LayerInputs& in) {
  const int64_t b = q.size(0), t = q.size(2);
  const at::Tensor mask =
      in.mask.defined() ? in.mask.expand({b, 1, t, t}).reshape({b, t, t}).contiguous() : at::Tensor();
  return AttentionBf16Cpu::apply(q, k, v, KeyMask{mask, in.causal});
}

}  // namespace lrec::llm
