// Llama inference speed on a ~125M-parameter shape (hidden 768, 12 layers, 12 heads, 4 KV heads, SwiGLU
// 2048, vocab 32000, untied head; random weights), side by side with transformers' LlamaForCausalLM
// (bench/llama_reference.py) in the same run, on the same threads, fp32 and bf16:
//   prefill: one batch x length forward with last-position logits (what ranking and generate's prefill do)
//   decode:  batch 1, a 128-token prompt in the KV cache, then one token per forward
// and the bf16 matrix-multiply rate of this machine, with the prefill's model FLOP/s as a fraction of it.
//   bench_llama [steps=2] [threads=0] [batch=8] [length=512] [decode=32] [python=true]
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <memory>

#include "bench/bench_util.h"
#include "core/config.h"
#include "core/gemm_f32_cpu.h"
#include "core/log.h"
#include "core/runtime.h"
#include "llm_ranker/llama_model.h"

namespace lrec {
namespace {

struct BenchConfig {
  int steps = 2;
  int threads = 0;
  int batch = 8;
  int length = 512;
  int decode = 32;
  bool python = true;
  template <class V>
  void visit(V& v) {
    v("steps", steps);
    v("threads", threads);
    v("batch", batch);
    v("length", length);
    v("decode", decode);
    v("python", python);
  }
};

constexpr int64_t kPrompt = 128;

llm::LlamaConfig bench_config() {
  llm::LlamaConfig cfg;
  cfg.hidden_size = 768;
  cfg.intermediate_size = 2048;
  cfg.num_hidden_layers = 12;
  cfg.num_attention_heads = 12;
  cfg.num_key_value_heads = 4;
  cfg.head_dim = 64;
  cfg.vocab_size = 32000;
  return cfg;
}

// Forward FLOPs of a prefill: 2 per weight per token in the decoder layers, causal attention (q kᵀ and
// a v over the lower triangle), and the head at the last position.
double prefill_flops(const llm::LlamaConfig& c, int64_t batch, int64_t length) {
  const double d = c.hidden_size, hd = c.head_dim, h = c.num_attention_heads, kv = c.num_key_value_heads;
  const double layer_weights = d * hd * (2 * h + 2 * kv) + 3 * d * c.intermediate_size;
  const double attention = 2.0 * 2 * h * hd * length * (length + 1) / 2.0;  // per sequence per layer
  return c.num_hidden_layers * (2 * layer_weights * batch * length + attention * batch) +
         2 * d * c.vocab_size * batch;
}

// FLOP/s of a 4096 x 768 x 2048 product: at::matmul in `dtype`, or (kernel) our fp32 kernel.
double matmul_rate(at::ScalarType dtype, int steps, bool kernel = false) {
  const at::Tensor a = at::randn({4096, 768}).to(dtype), b = at::randn({768, 2048}).to(dtype);
  at::Tensor c = at::empty({4096, 2048});
  const double s = bench::mean_seconds(steps * 5, [&] {
    if (!kernel) return void(at::matmul(a, b));
    f32::gemm(4096, 2048, 768, f32::row_major(a.const_data_ptr<float>(), 768),
              f32::row_major(b.const_data_ptr<float>(), 2048), c.mutable_data_ptr<float>(), 2048, false);
  });
  return 2.0 * 4096 * 768 * 2048 / s;
}

struct Measured {
  double prefill = 0, decode = 0;  // seconds per prefill, per decoded token
};

Measured measure(at::ScalarType dtype, const BenchConfig& cfg) {
  c10::NoGradGuard no_grad;
  at::manual_seed(0);
  const llm::LlamaConfig shape = bench_config();
  llm::LlamaForCausalLM model(shape, at::TensorOptions().dtype(dtype));
  model->init_random();
  model->eval();
  Measured m;
  const at::Tensor ids = at::randint(0, shape.vocab_size, {cfg.batch, cfg.length}, at::kLong);
  m.prefill = bench::mean_seconds(cfg.steps, [&] { model->forward(ids); });
  const at::Tensor prompt = at::randint(0, shape.vocab_size, {1, kPrompt}, at::kLong);
  const auto decode = [&] {
    llm::KVCache cache(shape.num_hidden_layers);
    llm::ForwardOptions opts{.cache = &cache};
    at::Tensor token = model->forward(prompt, opts).argmax(-1, true);  // [1, 1]
    const double start = bench::now_seconds();
    for (int i = 0; i < cfg.decode; ++i) token = model->forward(token, opts).argmax(-1, true);
    return (bench::now_seconds() - start) / cfg.decode;
  };
  decode();  // warm-up
  m.decode = 1e9;
  for (int i = 0; i < cfg.steps; ++i) m.decode = std::min(m.decode, decode());
  return m;
}

// Runs the transformers reference; returns its "RESULT name seconds" lines, or nothing when unavailable.
std::map<std::string, double> python_reference(const BenchConfig& cfg, int threads) {
  return bench::run_reference(fmt::format(
      "{} {}/bench/llama_reference.py --threads {} --steps {} --batch {} --length {} --prompt {} --decode {}",
      LREC_PYTHON, LREC_SOURCE_DIR, threads, cfg.steps, cfg.batch, cfg.length, kPrompt, cfg.decode));
}

void print_row(const std::string& what, double ours_per_s, const std::map<std::string, double>& ref,
               const std::string& key, double units) {
  if (ref.count(key)) {
    const double theirs = units / ref.at(key);
    std::printf("%-34s %12.1f %14.1f %9.2fx\n", what.c_str(), ours_per_s, theirs, ours_per_s / theirs);
  } else {
    std::printf("%-34s %12.1f %14s %10s\n", what.c_str(), ours_per_s, "-", "-");
  }
}

}  // namespace
}  // namespace lrec

int main(int argc, char** argv) {
  using namespace lrec;
  try {
    const auto cfg = config::load<BenchConfig>(config::parse_command_line(
        argc, argv, "bench_llama [steps=N] [threads=N] [batch=B] [length=T] [decode=N] [python=false]"));
    const int threads = configure_runtime(cfg.threads);
    log_startup("bench_llama", config::to_yaml(cfg));
    const llm::LlamaConfig shape = bench_config();
    {
      llm::LlamaForCausalLM probe(shape, at::TensorOptions().dtype(at::kBFloat16));
      int64_t params = 0;
      for (const auto& p : probe->parameters()) params += p.numel();
      log::info("model: {:.1f}M parameters", params / 1e6);
    }
    const double bf16_rate = matmul_rate(at::kBFloat16, cfg.steps),
                 fp32_rate = matmul_rate(at::kFloat, cfg.steps),
                 fp32_kernel_rate = f32::gemm_applies() ? matmul_rate(at::kFloat, cfg.steps, true) : 0.0;
    const Measured fp32 = measure(at::kFloat, cfg), bf16 = measure(at::kBFloat16, cfg);
    const auto ref = cfg.python ? python_reference(cfg, threads) : std::map<std::string, double>{};
    const double tokens = double(cfg.batch) * cfg.length, flops = prefill_flops(shape, cfg.batch, cfg.length);
    std::printf("\n%-34s %12s %14s %10s\n", fmt::format("tokens/s (threads = {})", threads).c_str(), "C++",
                "transformers", "speed-up");
    print_row(fmt::format("prefill {}x{} fp32", cfg.batch, cfg.length), tokens / fp32.prefill, ref,
              "prefill_fp32", tokens);
    print_row(fmt::format("prefill {}x{} bf16", cfg.batch, cfg.length), tokens / bf16.prefill, ref,
              "prefill_bf16", tokens);
    print_row("decode batch 1 fp32", 1 / fp32.decode, ref, "decode_fp32", 1);
    print_row("decode batch 1 bf16", 1 / bf16.decode, ref, "decode_bf16", 1);
    std::printf(
        "\nmatmul 4096x768x2048: bf16 %.1f GFLOP/s, fp32 %.1f GFLOP/s (at::matmul); fp32 %.1f GFLOP/s (our "
        "%s kernel, core/gemm_f32_cpu)\n",
        bf16_rate / 1e9, fp32_rate / 1e9, fp32_kernel_rate / 1e9, f32::isa_name(f32::active_isa()));
    std::printf(
        "prefill model FLOPs %.1f G: bf16 %.1f GFLOP/s = %.0f%% of the bf16 matmul rate; fp32 %.1f GFLOP/s = "
        "%.0f%% of at::matmul's fp32 rate, %.0f%% of our kernel's\n",
        flops / 1e9, flops / bf16.prefill / 1e9, 100 * flops / bf16.prefill / bf16_rate,
        flops / fp32.prefill / 1e9, 100 * flops / fp32.prefill / fp32_rate,
        fp32_kernel_rate > 0 ? 100 * flops / fp32.prefill / fp32_kernel_rate : 0.0);
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    return 1;
  }
  return 0;
}
