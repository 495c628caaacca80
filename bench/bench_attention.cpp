// Causal self-attention in bf16 on the ranker's shapes: the AVX512-BF16 kernel (attention_bf16_cpu.h)
// against LibTorch's scaled_dot_product_attention, forward and forward + backward, with and without a
// left-padding mask, and the causal model FLOPs per second of each.
//   bench_attention [steps=5] [threads=0] [batch=4] [heads=12] [kv_heads=12] [length=512] [head_dim=64]
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <cstdio>

#include "bench/bench_util.h"
#include "core/config.h"
#include "core/log.h"
#include "core/program.h"
#include "core/runtime.h"
#include "llm_ranker/attention_bf16_cpu.h"
#include "llm_ranker/llama_attention.h"

namespace lrec {
namespace {

struct BenchConfig {
  int steps = 5;
  int threads = 0;
  int batch = 4;
  int heads = 12;
  int kv_heads = 12;
  int length = 512;
  int head_dim = 64;
  template <typename V>
  void visit(V& v) {
    v("steps", steps);
    v("threads", threads);
    v("batch", batch);
    v("heads", heads);
    v("kv_heads", kv_heads);
    v("length", length);
    v("head_dim", head_dim);
  }
};

using Attention = at::Tensor (*)(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                 const llm::LayerInputs&);

struct Timing {
  double forward, forward_backward;
};

Timing time_kernel(Attention attention, const BenchConfig& c, const llm::LayerInputs& in) {
  at::manual_seed(0);
  const auto make = [&](int64_t heads) {
    return at::randn({c.batch, heads, c.length, c.head_dim}).to(at::kBFloat16).requires_grad_(true);
  };
  const at::Tensor q = make(c.heads), k = make(c.kv_heads), v = make(c.kv_heads);
  const at::Tensor grad = at::randn({c.batch, c.heads, c.length, c.head_dim}).to(at::kBFloat16);
  Timing t{};
  {
    c10::NoGradGuard no_grad;
    t.forward = bench::median_seconds(c.steps, [&] { attention(q, k, v, in); });
  }
  t.forward_backward = bench::median_seconds(c.steps, [&] {
    attention(q, k, v, in).backward(grad);
    for (const at::Tensor& x : {q, k, v}) x.mutable_grad().reset();
  });
  return t;
}

constexpr const char* kUsage =
    "bench_attention [steps=N] [threads=N] [batch=B] [heads=H] [kv_heads=KVH] [length=T] [head_dim=hd]";

int run(const BenchConfig& cfg) {
  configure_runtime(cfg.threads);
  log_startup("bench_attention", config::to_yaml(cfg));
  const at::Tensor probe = at::zeros({1, cfg.heads, cfg.length, cfg.head_dim}, at::kBFloat16);
  if (!llm::attention_bf16_cpu_applies(probe, probe.narrow(1, 0, cfg.kv_heads), llm::LayerInputs{})) {
    std::printf("the bf16 kernel does not apply here (no AVX512-BF16, or head_dim not a multiple of 16)\n");
    return 0;
  }
  // Causal attention FLOPs: Q Kᵀ and P V over the T (T + 1) / 2 visible pairs; backward does 2.5x that.
  const double pairs = double(cfg.length) * (cfg.length + 1) / 2;
  const double forward_flops = 4.0 * cfg.batch * cfg.heads * pairs * cfg.head_dim;
  // Half the batch left-padded by a quarter of the length, as LlamaModel masks it.
  const int64_t t = cfg.length;
  const at::Tensor i = at::arange(t).unsqueeze(1), j = at::arange(t).unsqueeze(0);
  const at::Tensor pad = (at::arange(cfg.batch) % 2 * (t / 4)).view({cfg.batch, 1, 1});
  const at::Tensor padded = j.le(i).unsqueeze(0).logical_and(j.unsqueeze(0).ge(pad).logical_or(j.eq(i)));
  const std::vector<std::pair<std::string, llm::LayerInputs>> cases = {
      {"causal", llm::LayerInputs{{}, {}, {}, true}},
      {"left-padded mask", llm::LayerInputs{{}, {}, padded.unsqueeze(1), false}}};
  std::printf("\nbf16, B %d, H %d, KVH %d, T %d, hd %d, %d threads; median of %d\n", cfg.batch, cfg.heads,
              cfg.kv_heads, cfg.length, cfg.head_dim, at::get_num_threads(), cfg.steps);
  std::printf("%-34s %12s %12s %8s\n", "ms (causal GFLOP/s)", "bf16 kernel", "SDPA", "speed-up");
  for (const auto& [name, in] : cases) {
    const Timing ours = time_kernel(llm::attention_bf16_cpu, cfg, in);
    const Timing sdpa = time_kernel(llm::attention_sdpa, cfg, in);
    const auto row = [&](const std::string& what, double a, double b, double flops) {
      std::printf("%-34s %5.1f (%4.0f) %5.1f (%4.0f) %7.2fx\n", what.c_str(), a * 1e3, flops / a / 1e9,
                  b * 1e3, flops / b / 1e9, b / a);
    };
    row(name + ", forward", ours.forward, sdpa.forward, forward_flops);
    row(name + ", forward + backward", ours.forward_backward, sdpa.forward_backward, 3.5 * forward_flops);
  }
  return 0;
}

}  // namespace
}  // namespace lrec

int main(int argc, char** argv) {
  return lrec::program_main<lrec::BenchConfig>(argc, argv, lrec::kUsage, lrec::run);
}
