#include "core/dropout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <mutex>
#include <type_traits>

#include "core/bf16_cpu.h"
#include "core/error.h"

namespace lrec {

namespace {

// The mask rule: element i of a call is kept when the low 32 bits of mix(seed + kGolden · i) reach the
// threshold, mix being SplitMix64's finalizer (a strong 64-bit mix, cheap enough to run per element).
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull, kMix1 = 0xBF58476D1CE4E5B9ull,
                   kMix2 = 0x94D049BB133111EBull;

inline uint64_t key(uint64_t seed, int64_t i) { return seed + kGolden * static_cast<uint64_t>(i); }

inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  return z ^ (z >> 31);
}

inline uint32_t threshold(double p) {
  return static_cast<uint32_t>(p * 4294967296.0 > 4294967295.0 ? 4294967295.0 : p * 4294967296.0);
}

inline bool keeps(uint64_t seed, int64_t i, uint32_t limit) {
  return static_cast<uint32_t>(mix(key(seed, i))) >= limit;
}

// out[i] = in[i] * scale when element i is kept, else 0, for i in [begin, end), one element at a time: the
// reference rule, run for the types other than float, on CPUs without AVX2, and for the AVX2 kernel's tail.
template <class T>
void mask_range(const T* in, T* out, int64_t begin, int64_t end, uint64_t seed, uint32_t limit, float scale) {
  for (int64_t i = begin; i < end; ++i)
    out[i] = keeps(seed, i, limit) ? static_cast<T>(static_cast<float>(in[i]) * scale) : T(0);
}

// ---- The same mask on AVX2, 8 floats at a time (the hash in 64-bit lanes, bit for bit) -----------------
// a · c mod 2^64 in each 64-bit lane, from 32-bit products (AVX2 has no 64-bit multiply):
// lo(a)·lo(c) + ((hi(a)·lo(c) + lo(a)·hi(c)) << 32).
LREC_AVX2 inline __m256i mul64(__m256i a, uint64_t c) {
  const __m256i c_lo = _mm256_set1_epi64x(static_cast<int64_t>(c)), c_hi = _mm256_set1_epi64x(c >> 32);
  const __m256i cross =
      _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), c_lo), _mm256_mul_epu32(a, c_hi));
  return _mm256_add_epi64(_mm256_mul_epu32(a, c_lo), _mm256_slli_epi64(cross, 32));
}

LREC_AVX2 inline __m256i mix4(__m256i z) {  // mix() in each lane
  z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), kMix1);
  z = mul64(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), kMix2);
  return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

// All ones in the lanes whose hash keeps the element: low 32 bits >= limit.
LREC_AVX2 inline __m256i keep4(__m256i z, __m256i limit_minus_1) {
  const __m256i low = _mm256_and_si256(mix4(z), _mm256_set1_epi64x(0xFFFFFFFFll));
  return _mm256_cmpgt_epi64(low, limit_minus_1);  // both in [-1, 2^32): exact as signed 64-bit numbers
}

LREC_AVX2 void mask_range_avx2(const float* in, float* out, int64_t begin, int64_t end, uint64_t seed,
                               uint32_t limit, float scale) {
  const auto lane = [&](int64_t i) { return static_cast<int64_t>(key(seed, i)); };
  const __m256i limit_minus_1 = _mm256_set1_epi64x(static_cast<int64_t>(limit) - 1);
  const __m256i step = _mm256_set1_epi64x(static_cast<int64_t>(kGolden * 8));
  const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const __m256 vscale = _mm256_set1_ps(scale);
  int64_t i = begin;
  __m256i z0 = _mm256_setr_epi64x(lane(i), lane(i + 1), lane(i + 2), lane(i + 3));      // elements i .. i+3
  __m256i z1 = _mm256_setr_epi64x(lane(i + 4), lane(i + 5), lane(i + 6), lane(i + 7));  // elements i+4 .. i+7
  for (; i + 8 <= end; i += 8) {
    const __m256i k0 = _mm256_permutevar8x32_epi32(keep4(z0, limit_minus_1), low_halves);
    const __m256i k1 = _mm256_permutevar8x32_epi32(keep4(z1, limit_minus_1), low_halves);
    const __m256 keep = _mm256_castsi256_ps(_mm256_blend_epi32(k0, k1, 0xF0));
    _mm256_storeu_ps(out + i, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(in + i), vscale)));
    z0 = _mm256_add_epi64(z0, step);
    z1 = _mm256_add_epi64(z1, step);
  }
  mask_range(in, out, i, end, seed, limit, scale);
}

template <class T>
void apply_mask(const T* in, T* out, int64_t n, uint64_t seed, double p) {
  const uint32_t limit = threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  at::parallel_for(0, n, 1 << 14, [&](int64_t begin, int64_t end) {
    if constexpr (std::is_same_v<T, float>) {
      if (bf16::cpu_has_avx2_fma()) return mask_range_avx2(in, out, begin, end, seed, limit, scale);
    }
    mask_range(in, out, begin, end, seed, limit, scale);
  });
}

void masked(const at::Tensor& in, at::Tensor& out, uint64_t seed, double p) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, in.scalar_type(), "lrec_dropout", [&] {
    apply_mask(in.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), in.numel(), seed, p);
  });
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class HashDropout : public torch::autograd::Function<HashDropout> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, double p) {
    uint64_t seed = 0;
    {
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      seed = at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
    }
    const at::Tensor in = x.contiguous();
    at::Tensor out = at::empty_like(in);
    masked(in, out, seed, p);
    ctx->saved_data["seed"] = static_cast<int64_t>(seed);
    ctx->saved_data["p"] = p;
    return out;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const at::Tensor grad = grad_outputs[0].contiguous();
    at::Tensor grad_in = at::empty_like(grad);
    masked(grad, grad_in, static_cast<uint64_t>(ctx->saved_data["seed"].toInt()),
           ctx->saved_data["p"].toDouble());
    return {grad_in, at::Tensor()};
  }
};

}  // namespace

bool dropout_keeps(uint64_t seed, int64_t index, double p) { return keeps(seed, index, threshold(p)); }

at::Tensor counter_dropout(const at::Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  if (p < 0.0 || p >= 1.0) fail("dropout probability must be in [0, 1), got {}", p);
  if (!x.device().is_cpu()) return at::dropout(x, p, training);
  return HashDropout::apply(x, p);
}

DropoutImpl::DropoutImpl(double p) : p_(p) {
  if (p < 0.0 || p >= 1.0) fail("dropout probability must be in [0, 1), got {}", p);
}

}  // namespace lrec
