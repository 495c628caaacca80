#include "core/dropout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <mutex>

#include "core/error.h"

namespace lrec {

namespace {

// SplitMix64 finalizer: a strong 64-bit mix, cheap enough to run per element.
inline uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline uint32_t threshold(double p) {
  return static_cast<uint32_t>(p * 4294967296.0 > 4294967295.0 ? 4294967295.0 : p * 4294967296.0);
}

// out[i] = in[i] * scale when element i is kept, else 0, for i in [begin, end). A function of plain
// arguments, so that it vectorizes: inside the OpenMP-outlined lambda GCC leaves this loop scalar with a
// branch per element.
template <class T>
void mask_range(const T* in, T* out, int64_t begin, int64_t end, uint64_t seed, uint32_t limit, float scale) {
  for (int64_t i = begin; i < end; ++i) {
    const bool keep =
        static_cast<uint32_t>(mix(seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(i))) >= limit;
    out[i] = keep ? static_cast<T>(static_cast<float>(in[i]) * scale) : T(0);
  }
}

template <class T>
void apply_mask(const T* in, T* out, int64_t n, uint64_t seed, double p) {
  const uint32_t limit = threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  at::parallel_for(0, n, 1 << 14,
                   [&](int64_t begin, int64_t end) { mask_range(in, out, begin, end, seed, limit, scale); });
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

bool dropout_keeps(uint64_t seed, int64_t index, double p) {
  return static_cast<uint32_t>(mix(seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(index))) >=
         threshold(p);
}

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
