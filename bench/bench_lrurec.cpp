// LRURec speed, side by side with a PyTorch eager (Python) implementation in the official code's style
// (bench/lrurec_reference.py), in the same run on the same machine and threads.
//   bench_lrurec [steps=10] [threads=0] [python=true] [bf16=true]
// Prints: the scan kernels alone (fused vs the official log-depth tensor ops, forward + backward), and
// full training steps (forward, loss, backward, clipping, AdamW) at ML-1M shape (B 128, L 200, d 64,
// 3,416 items) and at LlamaRec's ml-latest-small shape (B 16, L 200, 3,650 items).
#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <cstdio>
#include <memory>

#include "bench/bench_util.h"
#include "core/config.h"
#include "core/log.h"
#include "core/runtime.h"
#include "lrurec/lru_scan.h"
#include "lrurec/lrurec_model.h"

namespace lrec {
namespace {

struct BenchConfig {
  int steps = 10;
  int threads = 0;
  bool python = true;
  bool bf16 = true;   // false: skip the bf16 steps (slow on CPUs without AVX512-BF16 or AMX)
  std::string trace;  // write a chrome trace of one ML-1M-shaped step here
  template <class V>
  void visit(V& v) {
    v("trace", trace);
    v("steps", steps);
    v("threads", threads);
    v("python", python);
    v("bf16", bf16);
  }
};

// Left-padded random training windows (tokens = items[:-1], labels = items[1:], padded alike, as
// train_lrurec's windows): lengths uniform in [L/4, L].
std::pair<at::Tensor, at::Tensor> random_batch(int64_t B, int64_t L, int64_t items) {
  const at::Tensor sequence = at::randint(1, items + 1, {B, L + 1}, at::kLong);
  const at::Tensor lengths = at::randint(L / 4, L + 1, {B, 1}, at::kLong);
  const at::Tensor real = at::arange(L, at::kLong).unsqueeze(0) >= (L - lengths);  // [B, L]
  return {sequence.narrow(1, 0, L) * real, sequence.narrow(1, 1, L) * real};
}

double scan_seconds(lrurec::ScanKernel kernel, int steps) {
  const int64_t B = 128, L = 200, N = 64;  // 2d = 128 real numbers per position: N = 64 complex channels
  at::manual_seed(0);
  const at::Tensor u0 = at::randn({B, L, 2 * N});
  const at::Tensor r = 0.8 + 0.19 * at::rand({N}), phase = at::rand({N}) * 6.283;
  const at::Tensor lambda0 = at::cat({r * at::cos(phase), r * at::sin(phase)});
  const at::Tensor mask = random_batch(B, L, 10).first > 0;
  const at::Tensor upstream = at::randn({B, L, 2 * N});
  const at::Tensor u = u0.clone().requires_grad_(), lambda = lambda0.clone().requires_grad_();
  return bench::mean_seconds(steps, [&] {  // the op alone: forward, then backward from a given dL/dh
    torch::autograd::grad({lrurec::lru_scan(u, lambda, mask, kernel)}, {u, lambda}, {upstream});
  });
}

// Seconds per training step; also prints where the time goes (forward + loss, backward, clip + AdamW).
double step_seconds(int64_t B, int64_t L, int64_t items, int steps, const std::string& precision,
                    const std::string& trace = "") {
  at::manual_seed(0);
  lrurec::ModelConfig model_cfg;
  model_cfg.matmul_precision = precision;
  lrurec::LRURec model(model_cfg, items);
  model->train();
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : model->named_parameters())
    (lrurec::is_no_decay(p.key()) ? no_decay : decay).push_back(p.value());
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(1e-3).eps(1e-9).weight_decay(0.01)));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(1e-3).eps(1e-9).weight_decay(0)));
  torch::optim::AdamW optimizer(groups, torch::optim::AdamWOptions(1e-3));
  const auto [tokens, labels] = random_batch(B, L, items);
  const auto params = model->parameters();
  double phase[3] = {0, 0, 0};
  const auto lap = [](double& t) {  // seconds since t; t becomes now
    const double now = bench::now_seconds(), s = now - t;
    t = now;
    return s;
  };
  int calls = 0;
  if (!trace.empty()) {
    torch::autograd::profiler::RecordProfile guard(trace);
    optimizer.zero_grad();
    model->loss(tokens, labels).backward();
  }
  const double total = bench::mean_seconds(steps, [&] {
    double t = bench::now_seconds();
    optimizer.zero_grad();
    at::Tensor loss = model->loss(tokens, labels);
    phase[0] += lap(t);
    loss.backward();
    phase[1] += lap(t);
    torch::nn::utils::clip_grad_norm_(params, 5.0);
    optimizer.step();
    phase[2] += lap(t);
    ++calls;
  });
  std::printf(
      "  B %ld L %ld items %ld matmul %s: forward + loss (with the head's gradients) %.4f s, backward %.4f "
      "s, "
      "clip+AdamW %.4f s\n",
      B, L, items, precision.c_str(), phase[0] / calls, phase[1] / calls, phase[2] / calls);
  return total;
}

// Runs the Python reference; returns its "RESULT name seconds" lines, or nothing when unavailable.
std::map<std::string, double> python_reference(int steps, int threads, bool bf16) {
  return bench::run_reference(fmt::format("{} {}/bench/lrurec_reference.py --steps {} --threads {}{}",
                                          LREC_PYTHON, LREC_SOURCE_DIR, steps, threads,
                                          bf16 ? "" : " --no-bf16"));
}

void print_row(const std::string& what, double ours, const std::map<std::string, double>& ref,
               const std::string& key) {
  if (ref.count(key)) {
    std::printf("%-44s %10.4f s %10.4f s %8.1fx\n", what.c_str(), ours, ref.at(key), ref.at(key) / ours);
  } else {
    std::printf("%-44s %10.4f s %12s %9s\n", what.c_str(), ours, "-", "-");
  }
}

}  // namespace
}  // namespace lrec

int main(int argc, char** argv) {
  using namespace lrec;
  try {
    const auto cfg = config::load<BenchConfig>(config::parse_command_line(
        argc, argv, "bench_lrurec [steps=N] [threads=N] [python=false] [bf16=false]"));
    const int threads = configure_runtime(cfg.threads);
    log_startup("bench_lrurec", config::to_yaml(cfg));
    const double fused = scan_seconds(lrurec::ScanKernel::kFused, cfg.steps);
    const double log_depth = scan_seconds(lrurec::ScanKernel::kLogDepth, cfg.steps);
    const double ml1m = step_seconds(128, 200, 3416, cfg.steps, "float32", cfg.trace);
    const double small = step_seconds(16, 200, 3650, cfg.steps, "float32");
    const double ml1m_bf16 = cfg.bf16 ? step_seconds(128, 200, 3416, cfg.steps, "bfloat16") : 0.0;
    const double small_bf16 = cfg.bf16 ? step_seconds(16, 200, 3650, cfg.steps, "bfloat16") : 0.0;
    const auto ref =
        cfg.python ? python_reference(cfg.steps, threads, cfg.bf16) : std::map<std::string, double>{};
    const std::string header = fmt::format("measure (threads = {})", threads);
    std::printf("\n%-44s %12s %12s %9s\n", header.c_str(), "C++", "Python eager", "speed-up");
    print_row("scan fwd+bwd B128 L200 2d128: fused kernel", fused, {{"scan", log_depth}}, "scan");
    std::printf("%-44s %10.4f s   (the log-depth tensor ops, C++)\n", "", log_depth);
    print_row("scan fwd+bwd: official log-depth, Python", log_depth, ref, "scan_log_depth");
    print_row("train step ML-1M shape (B128 L200 3416)", ml1m, ref, "step_ml1m");
    print_row("train step ml-latest-small (B16 L200 3650)", small, ref, "step_small");
    if (!cfg.bf16) return 0;
    print_row("  same, bf16 products (model.matmul_precision)", small_bf16, ref, "step_small");
    print_row("    vs Python under bf16 autocast", small_bf16, ref, "step_small_autocast");
    print_row("train step ML-1M shape, bf16 products", ml1m_bf16, ref, "step_ml1m");
    print_row("  vs Python under bf16 autocast", ml1m_bf16, ref, "step_ml1m_autocast");
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    return 1;
  }
  return 0;
}
