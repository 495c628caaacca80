// The LlamaRec ranker's cost on a ~110M Llama shape (hidden 768, 12 layers, 12 heads MHA, SwiGLU 2048,
// vocab 32000, untied head; random bf16 weights; LoRA r 8, alpha 32, dropout 0.05 on q_proj, v_proj with
// fp32 adapters), side by side with transformers + PEFT (bench/ranker_reference.py) on the same threads:
//   1. LoRA training step: ranking_loss (cross-entropy at the last position over the full vocabulary) on
//      B 4 x T 512 random ids, backward, AdamW(lr 1e-4) on the adapters; median of --steps after 2
//      warm-ups; tokens/s, model FLOP/s and its fraction of the measured bf16 matmul rate;
//   2. memory of that step, with and without gradient checkpointing: RSS once the model is set up and the
//      peak RSS of the steps (each variant in its own process, since the peak only grows);
//   3. ranking: users/s scoring 20-candidate prompts of 512 tokens, eval batch 8, no grad.
// The bench runs every measurement in a child process (itself with --only step|rank, and the Python
// script with the same arguments) and prints the table. Each timing row has its fastest-slowest spread, and
// the matmul rate is measured before and after the children (a gap of more than 10% is flagged: the machine
// was busy, rerun).
//   bench_ranker [--threads 2] [--steps 5] [--skip-python] [--quick]
//                [--only step --checkpointing 0|1 | --only rank]   (child modes, print RESULT lines)
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/error.h"
#include "core/log.h"
#include "core/runtime.h"
#include "llm_ranker/activation_checkpoint.h"
#include "llm_ranker/letter_ranker.h"
#include "llm_ranker/llama_model.h"
#include "llm_ranker/lora_linear.h"

namespace lrec {
namespace {

constexpr int kWarmup = 2;
constexpr int64_t kLetters = 20, kFirstLetter = 100;  // candidate letter ids 100..119 (as the Python side)

struct Options {
  int threads = 2;
  int steps = 5;
  bool python = true;
  bool quick = false;
  std::string only;  // "" (the parent), step or rank
  int checkpointing = 0;
};

struct Shape {
  llm::LlamaConfig model;
  int64_t batch, length;            // training batch
  int64_t rank_batch, rank_length;  // ranking batch
};

Shape bench_shape(bool quick) {
  llm::LlamaConfig c;
  c.hidden_size = quick ? 64 : 768;
  c.intermediate_size = quick ? 128 : 2048;
  c.num_hidden_layers = quick ? 2 : 12;
  c.num_attention_heads = quick ? 4 : 12;
  c.num_key_value_heads = c.num_attention_heads;
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.vocab_size = quick ? 1000 : 32000;
  c.max_position_embeddings = 2048;
  c.tie_word_embeddings = false;
  if (quick) return {c, 2, 64, 2, 64};
  return {c, 4, 512, 8, 512};
}

struct Timing {
  double median, min, max;  // seconds per call
};

// `steps` timed calls after kWarmup untimed ones.
template <class Fn>
Timing time_calls(int steps, Fn&& fn) {
  for (int i = 0; i < kWarmup; ++i) fn();
  std::vector<double> times;
  for (int i = 0; i < steps; ++i) {
    const double start = bench::now_seconds();
    fn();
    times.push_back(bench::now_seconds() - start);
  }
  std::sort(times.begin(), times.end());
  const size_t n = times.size();
  return {n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2, times.front(), times.back()};
}

// Model FLOPs (the work the model needs, the same count for both implementations; recomputation under
// checkpointing is not counted). N = decoder-layer weights, BT = tokens, a = per-sequence causal attention
// of one forward (q kᵀ and a v over the lower triangle, 2 · 2 · H · hd · T(T+1)/2 per layer), n_lora =
// Σ r · (in + out) over the adapted projections:
//   forward             2 N BT + L B a + 2 n_lora BT + 2 D V B      (head at the last position only)
//   backward (frozen)   2 N BT + 2 L B a + 4 n_lora BT + 2 D V B    (input gradients; weight grads for
//                                                                   the adapters only)
struct Flops {
  double train, rank;
};

Flops model_flops(const Shape& s, const llm::LoraConfig& lora) {
  const llm::LlamaConfig& c = s.model;
  const double d = c.hidden_size, hd = c.head_dim, h = c.num_attention_heads, kv = c.num_key_value_heads;
  const double layers = c.num_hidden_layers, vocab = c.vocab_size;
  const double n = layers * (d * hd * (2 * h + 2 * kv) + 3 * d * c.intermediate_size);
  double n_lora = 0;
  for (const std::string& m : lora.target_modules) {
    const double out = m == "q_proj" || m == "o_proj"   ? h * hd
                       : m == "k_proj" || m == "v_proj" ? kv * hd
                       : m == "down_proj"               ? d
                                                        : c.intermediate_size;
    const double in = m == "o_proj" ? h * hd : m == "down_proj" ? c.intermediate_size : d;
    n_lora += layers * lora.r * (in + out);
  }
  const auto attention = [&](double t) { return layers * 2 * 2 * h * hd * t * (t + 1) / 2; };
  const double bt = double(s.batch) * s.length, rbt = double(s.rank_batch) * s.rank_length;
  Flops f;
  f.train = 4 * n * bt + 3 * s.batch * attention(s.length) + 6 * n_lora * bt + 4 * d * vocab * s.batch;
  f.rank =
      2 * n * rbt + s.rank_batch * attention(s.rank_length) + 2 * n_lora * rbt + 2 * d * vocab * s.rank_batch;
  return f;
}

// GFLOP/s of at::matmul on bf16 [2048 x 768] x [768 x 2048].
double matmul_rate() {
  const at::Tensor a = at::randn({2048, 768}).to(at::kBFloat16), b = at::randn({768, 2048}).to(at::kBFloat16);
  const double s = time_calls(20, [&] { at::matmul(a, b); }).median;
  return 2.0 * 2048 * 768 * 2048 / s / 1e9;
}

double status_mb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stod(line.substr(key.size() + 1)) / 1024.0;  // kB
  }
  return NAN;
}

// Resets the kernel's peak-RSS counter (VmHWM) to the current RSS (Linux >= 4.0).
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return out.good();
}

void result(const std::string& name, double value) {
  std::printf("RESULT %s %.6f\n", name.c_str(), value);
  std::fflush(stdout);
}

// The ranker's model: random bf16 weights, then fresh fp32 adapters. The training ids are drawn first from
// seed 0 (the same ids as torch.randint in the Python script, which draws them the same way).
struct Setup {
  at::Tensor ids;  // [B, T]
  llm::LlamaForCausalLM model{nullptr};
  NamedParameters trainable;
};

Setup setup(const Shape& s) {
  at::manual_seed(0);
  Setup out;
  out.ids = at::randint(0, s.model.vocab_size, {s.batch, s.length}, at::kLong);
  out.model = llm::LlamaForCausalLM(s.model, at::TensorOptions().dtype(at::kBFloat16));
  out.model->init_random();
  out.trainable = llm::apply_lora(out.model, llm::LoraConfig{});
  return out;
}

std::vector<int64_t> letter_ids() {
  std::vector<int64_t> ids;
  for (int64_t j = 0; j < kLetters; ++j) ids.push_back(kFirstLetter + j);
  return ids;
}

void bench_step(const Options& o, const Shape& s) {
  Setup m = setup(s);
  if (o.checkpointing) m.model->model->layer_call = llm::checkpointed_layer_call();
  m.model->train();
  std::vector<at::Tensor> params;
  int64_t trainable = 0;
  for (const auto& [name, p] : m.trainable) {
    params.push_back(p);
    trainable += p.numel();
  }
  torch::optim::AdamW optimizer(
      params, torch::optim::AdamWOptions(1e-4).betas({0.9, 0.999}).eps(1e-8).weight_decay(0.01));
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t b = 0; b < s.batch; ++b) {
    const at::Tensor row = m.ids[b].contiguous();
    prompts.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + s.length);
  }
  std::vector<int64_t> labels;
  for (int64_t b = 0; b < s.batch; ++b) labels.push_back((7 * b) % kLetters);
  const std::vector<int64_t> letters = letter_ids();
  std::vector<double> losses;
  const auto step = [&] {
    optimizer.zero_grad();
    const at::Tensor loss = llm::ranking_loss(*m.model, prompts, labels, letters, llm::Padding{0, 1},
                                              llm::RankingLossOptions{false, -1})
                                .loss;
    loss.backward();
    optimizer.step();
    losses.push_back(loss.item<double>());
  };
  result("ids_sum", double(m.ids.sum().item<int64_t>()));
  result("trainable_params", double(trainable));
  result("rss_model_mb", status_mb("VmRSS"));
  const bool reset = reset_peak_rss();
  const Timing t = time_calls(o.steps, step);
  result("step_s", t.median);
  result("step_min_s", t.min);
  result("step_max_s", t.max);
  result("loss0", losses.front());
  result("loss_last", losses.back());
  result("rss_peak_mb", status_mb("VmHWM"));
  result("peak_reset", reset);
}

void bench_rank(const Options& o, const Shape& s) {
  Setup m = setup(s);
  m.model->eval();
  c10::NoGradGuard no_grad;
  at::manual_seed(1);
  const at::Tensor ids = at::randint(0, s.model.vocab_size, {s.rank_batch, s.rank_length}, at::kLong);
  const llm::PromptBatch batch{ids, at::ones_like(ids)};
  const std::vector<int64_t> letters = letter_ids();
  at::Tensor scores;
  const Timing t = time_calls(o.steps, [&] { scores = llm::letter_scores(*m.model, batch, letters); });
  result("rank_ids_sum", double(ids.sum().item<int64_t>()));
  result("rank_s", t.median);
  result("rank_min_s", t.min);
  result("rank_max_s", t.max);
  result("rank_score_std", scores.std().item<double>());
}

std::string flags(const Options& o) {
  return fmt::format("--threads {} --steps {}{}", o.threads, o.steps, o.quick ? " --quick" : "");
}

using Results = std::map<std::string, double>;

double get(const Results& r, const std::string& key) { return r.count(key) ? r.at(key) : NAN; }

std::string num(double v, int decimals) { return std::isnan(v) ? "-" : fmt::format("{:.{}f}", v, decimals); }

// One row: ours, theirs and ours/theirs (higher_is_better: the ratio of the values; else theirs/ours,
// so > 1 always means ours is better).
void row(const std::string& what, double ours, double theirs, int decimals, bool higher_is_better = true) {
  const double ratio = higher_is_better ? ours / theirs : theirs / ours;
  std::printf("%-44s %12s %14s %9s\n", what.c_str(), num(ours, decimals).c_str(),
              num(theirs, decimals).c_str(), std::isnan(ratio) ? "-" : fmt::format("{:.2f}x", ratio).c_str());
}

// "min-max" ms of the timed calls, to tell a quiet run from a noisy one.
void spread(const std::string& what, const Results& ours, const Results& theirs, const std::string& key) {
  const auto text = [&](const Results& r) {
    const double lo = get(r, key + "_min_s"), hi = get(r, key + "_max_s");
    return std::isnan(lo) ? std::string("-") : fmt::format("{:.0f}-{:.0f}", 1e3 * lo, 1e3 * hi);
  };
  std::printf("%-44s %12s %14s\n", what.c_str(), text(ours).c_str(), text(theirs).c_str());
}

void row_plain(const std::string& what, double ours, double theirs, int decimals) {
  std::printf("%-44s %12s %14s\n", what.c_str(), num(ours, decimals).c_str(), num(theirs, decimals).c_str());
}

int parent(const Options& o, const Shape& s) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string py = fmt::format("{} {}/bench/ranker_reference.py", LREC_PYTHON, LREC_SOURCE_DIR);
  const double matmul_before = matmul_rate();
  log::info("bf16 matmul 2048x768x2048: {:.1f} GFLOP/s", matmul_before);
  Results ours[2], theirs[2], ours_rank, theirs_rank;
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    log::info("C++ training steps, checkpointing {}", ckpt);
    ours[ckpt] =
        bench::run_reference(fmt::format("{} --only step --checkpointing {} {}", self, ckpt, flags(o)));
    if (o.python) {
      log::info("transformers + PEFT training steps, checkpointing {}", ckpt);
      theirs[ckpt] =
          bench::run_reference(fmt::format("{} --only step --checkpointing {} {}", py, ckpt, flags(o)));
    }
  }
  log::info("C++ ranking");
  ours_rank = bench::run_reference(fmt::format("{} --only rank {}", self, flags(o)));
  if (o.python) {
    log::info("transformers + PEFT ranking");
    theirs_rank = bench::run_reference(fmt::format("{} --only rank {}", py, flags(o)));
  }

  // The rate once more after the children: a machine busy with other work shows as a gap between the two.
  const double matmul_after = matmul_rate(), matmul = std::max(matmul_before, matmul_after);
  const llm::LlamaConfig& c = s.model;
  const Flops flops = model_flops(s, llm::LoraConfig{});
  const double tokens = double(s.batch) * s.length;
  std::printf(
      "\nshape: hidden %ld, %ld layers, %ld heads (MHA), intermediate %ld, vocab %ld, untied; bf16 base, "
      "fp32 "
      "LoRA r 8 alpha 32 dropout 0.05 on q_proj,v_proj; threads %d; median of %d after %d warm-ups\n",
      long(c.hidden_size), long(c.num_hidden_layers), long(c.num_attention_heads), long(c.intermediate_size),
      long(c.vocab_size), o.threads, o.steps, kWarmup);
  std::printf("\n%-44s %12s %14s %9s\n",
              fmt::format("1. LoRA training step, {} x {} tokens", s.batch, s.length).c_str(), "C++",
              "transformers", "ours/them");
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    const std::string tag = ckpt ? ", checkpointing" : "";
    const double a = get(ours[ckpt], "step_s"), b = get(theirs[ckpt], "step_s");
    row("ms/step" + tag, 1e3 * a, 1e3 * b, 0, false);
    spread("  fastest - slowest step", ours[ckpt], theirs[ckpt], "step");
    row("tokens/s" + tag, tokens / a, tokens / b, 0);
    row("model GFLOP/s" + tag, flops.train / a / 1e9, flops.train / b / 1e9, 1);
    row("  % of the bf16 matmul rate" + tag, 100 * flops.train / a / 1e9 / matmul,
        100 * flops.train / b / 1e9 / matmul, 1);
  }
  row_plain("loss at step 0 (random weights; ln V = " + num(std::log(double(c.vocab_size)), 2) + ")",
            get(ours[0], "loss0"), get(theirs[0], "loss0"), 4);
  row_plain("loss after the last step", get(ours[0], "loss_last"), get(theirs[0], "loss_last"), 4);
  row_plain("trainable parameters", get(ours[0], "trainable_params"), get(theirs[0], "trainable_params"), 0);
  row_plain("sum of the training ids (same batch?)", get(ours[0], "ids_sum"), get(theirs[0], "ids_sum"), 0);

  std::printf("\n%-44s %12s %14s %9s\n", "2. memory of the training step (MB)", "C++", "transformers",
              "them/ours");
  double activation[2][2];
  for (int ckpt = 0; ckpt < 2; ++ckpt) {
    const std::string tag = ckpt ? "checkpointing" : "no checkpointing";
    const double om = get(ours[ckpt], "rss_model_mb"), tm = get(theirs[ckpt], "rss_model_mb");
    const double op = get(ours[ckpt], "rss_peak_mb"), tp = get(theirs[ckpt], "rss_peak_mb");
    activation[ckpt][0] = op - om;
    activation[ckpt][1] = tp - tm;
    row("RSS with the model set up, " + tag, om, tm, 0, false);
    row("peak RSS over the steps, " + tag, op, tp, 0, false);
    row("  peak - set up (activations, grads, optimizer)", op - om, tp - tm, 0, false);
  }
  row_plain("cut by checkpointing (MB)", activation[0][0] - activation[1][0],
            activation[0][1] - activation[1][1], 0);
  row_plain("cut by checkpointing (%)", 100 * (1 - activation[1][0] / activation[0][0]),
            100 * (1 - activation[1][1] / activation[0][1]), 1);
  if (get(ours[0], "peak_reset") != 1 || (o.python && get(theirs[0], "peak_reset") != 1))
    std::printf("(the peak counter could not be reset: peaks include the set-up)\n");

  const double ra = get(ours_rank, "rank_s"), rb = get(theirs_rank, "rank_s");
  std::printf(
      "\n%-44s %12s %14s %9s\n",
      fmt::format("3. ranking, batch {} x {} tokens, {} letters", s.rank_batch, s.rank_length, kLetters)
          .c_str(),
      "C++", "transformers", "ours/them");
  row("ms/batch", 1e3 * ra, 1e3 * rb, 0, false);
  spread("  fastest - slowest batch", ours_rank, theirs_rank, "rank");
  row("users/s", s.rank_batch / ra, s.rank_batch / rb, 2);
  row("tokens/s", s.rank_batch * s.rank_length / ra, s.rank_batch * s.rank_length / rb, 0);
  row("model GFLOP/s", flops.rank / ra / 1e9, flops.rank / rb / 1e9, 1);
  row("  % of the bf16 matmul rate", 100 * flops.rank / ra / 1e9 / matmul,
      100 * flops.rank / rb / 1e9 / matmul, 1);
  row_plain("sum of the prompt ids (same batch?)", get(ours_rank, "rank_ids_sum"),
            get(theirs_rank, "rank_ids_sum"), 0);

  std::printf(
      "\nbf16 matmul [2048 x 768] x [768 x 2048]: %.1f GFLOP/s before the runs, %.1f after (the ratios use "
      "the higher)\n",
      matmul_before, matmul_after);
  if (std::abs(matmul_before - matmul_after) > 0.1 * matmul)
    std::printf(
        "WARNING: the two matmul rates differ by more than 10%%: the machine was busy; rerun when quiet.\n");
  std::printf(
      "model FLOPs per training step %.1f G, per ranking batch %.1f G (same count for both; recomputation "
      "under checkpointing not counted):\n"
      "  N = decoder-layer weights, BT = tokens, a = L · 4 · H · hd · T(T+1)/2 (causal attention, one "
      "forward, per sequence),\n"
      "  n_lora = Σ r · (in + out) over the adapters, D V = the head at the last position only;\n"
      "  training = 4 N BT + 3 B a + 6 n_lora BT + 4 D V B (forward 2 N BT; backward 2 N BT input gradients "
      "of the frozen weights,\n"
      "  2 B a attention, 4 n_lora BT adapter input and weight gradients); ranking = 2 N BT + B a + 2 n_lora "
      "BT "
      "+ 2 D V B\n",
      flops.train / 1e9, flops.rank / 1e9);
  return 0;
}

Options parse(int argc, char** argv) {
  Options o;
  const auto value = [&](int& i) -> std::string {
    if (i + 1 >= argc) fail("{} needs a value.", argv[i]);
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads") {
      o.threads = std::stoi(value(i));
    } else if (a == "--steps") {
      o.steps = std::stoi(value(i));
    } else if (a == "--skip-python") {
      o.python = false;
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--only") {
      o.only = value(i);
      if (o.only != "step" && o.only != "rank") fail("--only takes step or rank, not '{}'.", o.only);
    } else if (a == "--checkpointing") {
      o.checkpointing = std::stoi(value(i));
    } else {
      fail(
          "unknown argument '{}'. usage: bench_ranker [--threads N] [--steps N] [--skip-python] [--quick] "
          "[--only step|rank] [--checkpointing 0|1]",
          a);
    }
  }
  if (o.steps < 1) fail("--steps must be at least 1.");
  return o;
}

}  // namespace
}  // namespace lrec

int main(int argc, char** argv) {
  using namespace lrec;
  try {
    const Options o = parse(argc, argv);
    const int threads = configure_runtime(o.threads);
    const Shape s = bench_shape(o.quick);
    if (o.only == "step") {
      bench_step(o, s);
    } else if (o.only == "rank") {
      bench_rank(o, s);
    } else {
      log_startup("bench_ranker", fmt::format("threads: {}\nsteps: {}\npython: {}\nquick: {}\n", threads,
                                              o.steps, o.python, o.quick));
      return parent(o, s);
    }
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    return 1;
  }
  return 0;
}
