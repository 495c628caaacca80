// finetune_ranker: LoRA-fine-tunes a Llama model to rank the retriever's candidates (LlamaRec, Yue et al.
// 2023). Each example is a prompt with the user's recent titles and 20 lettered candidates; training
// maximises the probability of the target's letter at the answer position, ranking sorts the letter
// logits of one forward pass.
//
//   finetune_ranker --config configs/synthetic/ranker.yaml [key=value ...] [--resume]
//
// The recipe reads top to bottom: setup, train (validating every eval_every steps, keeping the best
// adapter by NDCG@10), test, export.
#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/atomic_file.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/metrics_log.h"
#include "core/program.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "core/training_progress.h"
#include "datasets/batching.h"
#include "datasets/dataset.h"
#include "datasets/ranker_examples.h"
#include "llm_ranker/hf_export.h"
#include "llm_ranker/letter_ranker.h"
#include "llm_ranker/peft_io.h"
#include "llm_ranker/prompt.h"
#include "llm_ranker/ranker_model.h"
#include "lrurec/candidates.h"

namespace lrec {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// LlamaRec's settings (config.py: lora_*, llm_*) are the defaults.
struct TrainConfig {
  int micro_batch_size = 4;  // examples per forward/backward
  int grad_accum_steps = 4;  // micro-batches per optimizer step (batch = micro_batch_size * grad_accum_steps)
  double lr = 1e-4;
  int64_t warmup_steps = 100;  // linear warmup from 0, then linear decay to 0 at the last step
  double weight_decay = 0.0;
  double adam_eps = 1e-8;
  double max_grad_norm = 1.0;
  int64_t max_epochs = 1;
  int64_t max_steps = 0;      // optimizer steps; 0: max_epochs over the training examples
  int64_t eval_every = 100;   // validate at step 0 and every this many optimizer steps
  int64_t patience = 20;      // validations without a better NDCG@10 before stopping
  int64_t max_val_users = 0;  // 0: every user; else a fixed seeded subset for the periodic validation
  int eval_batch_size = 8;
  int pad_to_multiple = 64;  // prompt batches are padded to a multiple of this length (see letter_ranker.h)
  std::string loss = "full_vocab";  // full_vocab (LlamaRec) | letters
  bool eos = true;                  // train "</s>" after the letter, as LlamaRec's labels do
  double prompt_lm_weight = 0;  // > 0: plus this times the next-token loss on the prompt (letter_ranker.h)
  std::vector<int> metric_ks = {1, 5, 10};
  int64_t log_every = 10;
  uint64_t seed = 42;
  template <class V>
  void visit(V& v) {
    v("micro_batch_size", micro_batch_size);
    v("grad_accum_steps", grad_accum_steps);
    v("lr", lr);
    v("warmup_steps", warmup_steps);
    v("weight_decay", weight_decay);
    v("adam_eps", adam_eps);
    v("max_grad_norm", max_grad_norm);
    v("max_epochs", max_epochs);
    v("max_steps", max_steps);
    v("eval_every", eval_every);
    v("patience", patience);
    v("max_val_users", max_val_users);
    v("eval_batch_size", eval_batch_size);
    v("pad_to_multiple", pad_to_multiple);
    v("loss", loss, {"full_vocab", "letters"});
    v("eos", eos);
    v("prompt_lm_weight", prompt_lm_weight);
    v("metric_ks", metric_ks);
    v("log_every", log_every);
    v("seed", seed);
  }
};

struct RunConfig {
  std::string output_dir = "runs/ranker";
  int threads = 0;  // 0 = all cores
  bool resume = false;
  int keep_checkpoints = 2;
  std::string candidates;      // the retriever's candidates.safetensors (train_lrurec's export)
  bool export_merged = false;  // also write the best model with the adapters merged, as a HF checkpoint
  data::DatasetConfig dataset;
  llm::RankerModelConfig model;
  llm::LoraConfig lora;
  llm::PromptConfig prompt;
  data::RankerExampleConfig examples;
  TrainConfig train;
  template <class V>
  void visit(V& v) {
    v("output_dir", output_dir);
    v("threads", threads);
    v("resume", resume);
    v("keep_checkpoints", keep_checkpoints);
    v.required("candidates", candidates);
    v("export_merged", export_merged);
    v("dataset", dataset);
    v("model", model);
    v("lora", lora);
    v("prompt", prompt);
    v("examples", examples);
    v("train", train);
  }
};

constexpr const char* kUsage = "finetune_ranker --config FILE [section.key=value ...] [--resume]";

// LlamaRec's two views of one evaluation: the ranker on the users whose target was retrieved (subset),
// and on all users, the others scoring 0 (overall); the retriever's own order on the same users.
struct RankingResult {
  std::map<std::string, double> ranker_subset, ranker_overall, retriever_subset, retriever_overall;
  int64_t users = 0, retrieved = 0;
  json to_json() const {
    return {{"users", users},
            {"retrieved_users", retrieved},
            {"ranker", {{"subset", ranker_subset}, {"overall", ranker_overall}}},
            {"retriever", {{"subset", retriever_subset}, {"overall", retriever_overall}}}};
  }
};

// The expected NDCG@k of a uniformly random order of n candidates holding the target.
double random_order_ndcg(int n, int k) {
  double sum = 0;
  for (int r = 1; r <= std::min(n, k); ++r) sum += 1.0 / std::log2(r + 1.0);
  return sum / n;
}

// The training log's two losses: the one trained, and the target letter's cross-entropy among the
// candidate letters alone (chance: ln n), which reads the same whatever the loss options add.
struct StepLosses {
  double loss = 0, letter_ce = 0;
};

class Recipe {
 public:
  explicit Recipe(RunConfig cfg) : cfg_(std::move(cfg)), out_(cfg_.output_dir) {}

  // ---- setup ----------------------------------------------------------------------------------------
  void setup() {
    const TrainConfig& t = cfg_.train;
    check_settings();
    configure_runtime(cfg_.threads);
    at::manual_seed(t.seed);
    checkpoints_.emplace(out_ / "checkpoints", cfg_.keep_checkpoints);
    checkpoints_->check_start(cfg_.resume);
    if (cfg_.resume)
      check_resume_settings(*checkpoints_, config::to_yaml(cfg_), {"export_merged"});  // output only
    fs::create_directories(out_);
    config::save_resolved(out_, cfg_);
    log_startup("finetune_ranker", config::to_yaml(cfg_));

    dataset_ = data::load_dataset(cfg_.dataset);
    log::info("{}", data::format_stats(dataset_.name, data::compute_stats(dataset_)));
    const lrurec::CandidateFile candidates = lrurec::load_candidates(cfg_.candidates);
    if (candidates.num_items != dataset_.num_items ||
        candidates.val.items.size(0) != int64_t(dataset_.num_users())) {
      fail(
          "{} was written for {} users and {} items, but the dataset has {} users and {} items. Use the "
          "candidates of a train_lrurec run on the same dataset settings.",
          cfg_.candidates, candidates.val.items.size(0), candidates.num_items, dataset_.num_users(),
          dataset_.num_items);
    }
    check_targets(candidates);
    val_retrieved_ = lrurec::to_retrieved(candidates.val);
    const auto n = cfg_.examples.num_candidates, h = cfg_.examples.max_history;
    val_examples_ = data::make_ranker_eval_examples(dataset_, data::Split::kVal, val_retrieved_, n, h);
    test_examples_ = data::make_ranker_eval_examples(dataset_, data::Split::kTest,
                                                     lrurec::to_retrieved(candidates.test), n, h);
    const std::vector<size_t> val_order =
        data::EpochShuffler(t.seed ^ 0x5eed, val_examples_.size()).next_batch(val_examples_.size());
    val_subset_ = periodic_val_subset(val_order);
    if (cfg_.examples.eval_order == "shuffled") {  // targets dealt evenly over the periodic subset too
      data::shuffle_candidates(val_examples_, val_order, cfg_.examples.seed);
      std::vector<size_t> test_order(test_examples_.size());
      std::iota(test_order.begin(), test_order.end(), 0);
      data::shuffle_candidates(test_examples_, test_order, cfg_.examples.seed + 1);
    }

    ranker_ = llm::load_ranker_model(cfg_.model, cfg_.lora);
    if (t.eos && ranker_.tokenizer.eos_id() < 0)
      fail(
          "config key 'train.eos' is true, but the tokenizer of {} has no EOS token to train after the "
          "letter. Set train.eos=false.",
          cfg_.model.path);
    prompts_.emplace(ranker_.tokenizer, cfg_.prompt);
    letter_ids_.assign(prompts_->letter_ids().begin(), prompts_->letter_ids().begin() + n);
    titles_.reserve(dataset_.titles.size());
    for (const std::string& title : dataset_.titles) titles_.push_back(prompts_->truncate_title(title));

    make_train_examples(0);
    const int64_t batch = int64_t(t.micro_batch_size) * t.grad_accum_steps;
    // The shuffler ends each epoch with a short micro-batch of its own.
    const int64_t micro_batches =
        (int64_t(train_examples_.size()) + t.micro_batch_size - 1) / t.micro_batch_size;
    const int64_t steps_per_epoch = (micro_batches + t.grad_accum_steps - 1) / t.grad_accum_steps;
    total_steps_ = t.max_steps > 0 ? t.max_steps : steps_per_epoch * t.max_epochs;
    log::info(
        "{} training examples ({} optimizer steps per epoch of batch {}), {} steps; val {} users ({} with "
        "the target retrieved), test {} users",
        train_examples_.size(), steps_per_epoch, batch, total_steps_, val_examples_.size(),
        count_retrieved(val_examples_), test_examples_.size());
    optimizer_ = make_optimizer();
    shuffler_.emplace(t.seed, train_examples_.size());
    if (cfg_.resume) restore();
  }

  // The candidate file must come from this very dataset: the same sizes can hide another seed or filter.
  void check_targets(const lrurec::CandidateFile& candidates) const {
    const at::Tensor val_targets = candidates.val.targets.to(at::kInt).contiguous();
    const at::Tensor test_targets = candidates.test.targets.to(at::kInt).contiguous();
    const auto val = val_targets.accessor<int32_t, 1>();
    const auto test = test_targets.accessor<int32_t, 1>();
    for (size_t u = 0; u < dataset_.num_users(); ++u) {
      const auto i = int64_t(u);
      if (val[i] != dataset_.val_target(u) || test[i] != dataset_.test_target(u)) {
        fail(
            "{}: user {} has the validation/test targets {}/{} there, but {}/{} in the dataset: the file was "
            "written for other data. Use the candidates of a train_lrurec run with the same dataset "
            "settings.",
            cfg_.candidates, u, val[i], test[i], dataset_.val_target(u), dataset_.test_target(u));
      }
    }
  }

  // Ranges the recipe relies on, checked before any data or model is loaded.
  void check_settings() const {
    const TrainConfig& t = cfg_.train;
    const int n = cfg_.examples.num_candidates;
    config::require(n >= 2 && n <= llm::kMaxCandidates, "examples.num_candidates",
                    fmt::format("in 2..{} (letters A-Z)", llm::kMaxCandidates));
    config::require(t.micro_batch_size >= 1, "train.micro_batch_size", ">= 1");
    config::require(t.grad_accum_steps >= 1, "train.grad_accum_steps", ">= 1");
    config::require(t.eval_batch_size >= 1, "train.eval_batch_size", ">= 1");
    config::require(t.eval_every >= 1, "train.eval_every", ">= 1");
    config::require(t.log_every >= 1, "train.log_every", ">= 1");
    config::require(t.max_grad_norm > 0, "train.max_grad_norm", "> 0");
    config::require(std::count(t.metric_ks.begin(), t.metric_ks.end(), 10) == 1, "train.metric_ks",
                    "a list holding 10 once (the best model is chosen by NDCG@10)");
    for (const int k : t.metric_ks) {
      config::require(k >= 1 && k <= n, "train.metric_ks",
                      fmt::format("values in 1..examples.num_candidates = {} (the ranker orders only the "
                                  "candidates; LlamaRec's are 1, 5, 10)",
                                  n));
    }
  }

  // ---- train ----------------------------------------------------------------------------------------
  // Returns false when stopped by Ctrl-C (after saving a checkpoint).
  bool train() {
    const TrainConfig& t = cfg_.train;
    const std::optional<double> resumed_at =
        cfg_.resume ? std::optional<double>(double(state_.step)) : std::nullopt;
    MetricsLog train_log(out_, "train", resumed_at), val_log(out_, "val", resumed_at);
    const auto start = std::chrono::steady_clock::now();
    const double elapsed_before = state_.elapsed_s;
    const auto elapsed = [&] { return elapsed_before + seconds_since(start); };
    if (state_.step == 0 && !cfg_.resume) stop_ = validate(val_log, elapsed());
    ProgressBar bar("train", std::min(t.eval_every, total_steps_ - state_.step));
    while (!stop_ && state_.step < total_steps_) {
      const double lr = learning_rate(state_.step);
      const StepLosses losses = train_step(lr);
      ++state_.step;
      state_.add_to_log({{"loss", losses.loss}, {"letter_ce", losses.letter_ce}});
      bar.update(1,
                 fmt::format("epoch {} loss {:.4f} letter CE {:.4f} (chance {:.4f}) lr {:.2e}",
                             shuffler_->epoch() + 1, losses.loss, losses.letter_ce, chance_letter_ce(), lr));
      if (state_.step % t.log_every == 0) {
        std::map<std::string, double> line = state_.take_log_line(shuffler_->epoch(), elapsed());
        line["lr"] = lr;
        train_log.write(line);
      }
      if (state_.step % t.eval_every == 0 || state_.step == total_steps_) {
        bar.finish();
        stop_ = validate(val_log, elapsed());
        state_.elapsed_s = elapsed();
        save_checkpoint();
        bar.restart(std::min(t.eval_every, total_steps_ - state_.step));
      }
      if (interrupted()) {
        bar.finish();
        state_.elapsed_s = elapsed();
        save_checkpoint();
        log::info("stopped at step {}; continue with --resume (output_dir={})", state_.step, out_.string());
        return false;
      }
    }
    bar.finish();
    state_.elapsed_s = elapsed();
    if (stop_)
      log::info("early stopping at step {}: {} validations without a better NDCG@10", state_.step,
                t.patience);
    return true;
  }

  // ---- test and export ------------------------------------------------------------------------------
  void test_and_export() {
    load_best();
    const RankingResult test = evaluate(test_examples_, "test");
    const RankingResult val = evaluate(val_examples_, "val");
    const json summary = {{"dataset", dataset_.name},
                          {"best_step", state_.best_step},
                          {"steps", state_.step},
                          {"seconds_to_best", state_.best_elapsed_s},
                          {"seconds_total", state_.elapsed_s},
                          {"num_candidates", cfg_.examples.num_candidates},
                          {"eval_order", cfg_.examples.eval_order},
                          {"random_order_ndcg@10", random_order_ndcg(cfg_.examples.num_candidates, 10)},
                          {"test", test.to_json()},
                          {"val", val.to_json()}};
    write_file_atomic(out_ / "test_metrics.json", summary.dump(2) + "\n");
    if (cfg_.export_merged) {
      const fs::path merged = out_ / "merged_model", fresh = out_ / ".tmp-merged_model";
      fs::remove_all(fresh);
      llm::save_hf_checkpoint(fresh, *ranker_.model,
                              ranker_.model->model->embed_tokens->weight.scalar_type());
      llm::save_prompt_settings(fresh, prompt_settings());
      swap_in_directory(fresh, merged);  // replaces the merged model of an earlier export of this run
      log::info("merged model written to {}", merged.string());
    }
    std::string table = fmt::format(
        "\ntest, best model (step {}): {} users, {} with the target in the retriever's top {} ({:.1f}%); "
        "the ranker saw the candidates {}\n",
        state_.best_step, test.users, test.retrieved, cfg_.examples.num_candidates,
        100.0 * double(test.retrieved) / double(std::max<int64_t>(test.users, 1)), candidate_order());
    table += "                         ";
    for (int k : cfg_.train.metric_ks) table += fmt::format("  Recall@{:<2} NDCG@{:<2} MRR@{:<2}", k, k, k);
    const auto row = [&](const char* name, const std::map<std::string, double>& m) {
      std::string line = fmt::format("\n  {:<23}", name);
      for (int k : cfg_.train.metric_ks) {
        line += fmt::format("  {:9.4f} {:7.4f} {:6.4f}", m.at(fmt::format("Recall@{}", k)),
                            m.at(fmt::format("NDCG@{}", k)), m.at(fmt::format("MRR@{}", k)));
      }
      return line;
    };
    table += row("retriever, subset", test.retriever_subset) + row("ranker, subset", test.ranker_subset);
    table += row("retriever, overall", test.retriever_overall) + row("ranker, overall", test.ranker_overall);
    table += fmt::format("\n  random order of {} candidates: NDCG@10 {:.4f} (subset)",
                         cfg_.examples.num_candidates, random_order_ndcg(cfg_.examples.num_candidates, 10));
    table += fmt::format("\n  time to best validation {:.1f} s, total {:.1f} s; adapter: {}",
                         state_.best_elapsed_s, state_.elapsed_s, best_path().string());
    log::info("{}", table);
  }

 private:
  bool full() const { return cfg_.model.mode == "full"; }
  const char* candidate_order() const {
    return cfg_.examples.eval_order == "shuffled" ? "shuffled" : "in retriever order";
  }
  llm::Padding padding() const { return {ranker_.pad_id, cfg_.train.pad_to_multiple}; }
  fs::path best_path() const { return out_ / (full() ? "best_model" : "best_adapter"); }

  // The first max_val_users of `order` (a seeded permutation of the val examples), in index order.
  std::vector<size_t> periodic_val_subset(const std::vector<size_t>& order) const {
    const auto limit = static_cast<size_t>(cfg_.train.max_val_users);
    const size_t size = limit == 0 ? order.size() : std::min(limit, order.size());
    std::vector<size_t> subset(order.begin(), order.begin() + static_cast<ptrdiff_t>(size));
    std::sort(subset.begin(), subset.end());
    return subset;
  }

  static int64_t count_retrieved(const std::vector<data::RankerExample>& examples) {
    return std::count_if(examples.begin(), examples.end(), [](const auto& e) { return e.label >= 0; });
  }

  // Fresh negatives per epoch, as the seed + epoch rule of make_ranker_train_examples.
  void make_train_examples(int64_t epoch) {
    data::RankerExampleConfig examples = cfg_.examples;
    examples.seed = cfg_.examples.seed + static_cast<uint64_t>(epoch);
    train_examples_ = data::make_ranker_train_examples(
        dataset_, examples, examples.negatives == "retriever" ? &val_retrieved_ : nullptr);
    if (train_examples_.empty())
      fail("dataset {} gives no training examples: every user's train sequence is shorter than 2.",
           dataset_.name);
    examples_epoch_ = epoch;
  }

  std::vector<int64_t> encode(const data::RankerExample& e) const {
    std::vector<std::string> history, candidates;
    for (const int32_t item : e.history) history.push_back(titles_[static_cast<size_t>(item)]);
    for (const int32_t item : e.candidates) candidates.push_back(titles_[static_cast<size_t>(item)]);
    return prompts_->encode(history, candidates);
  }

  double chance_letter_ce() const { return std::log(double(letter_ids_.size())); }

  // HF's linear schedule with warmup: lr · s / warmup, then lr · (total - s) / (total - warmup).
  double learning_rate(int64_t s) const {
    const int64_t warmup = cfg_.train.warmup_steps;
    if (s < warmup) return cfg_.train.lr * double(s) / double(warmup);
    return cfg_.train.lr *
           std::max(0.0, double(total_steps_ - s) / double(std::max<int64_t>(1, total_steps_ - warmup)));
  }

  std::vector<at::Tensor> trainable_tensors() const {
    std::vector<at::Tensor> params;
    for (const auto& [name, p] : ranker_.trainable) params.push_back(p);
    return params;
  }

  std::unique_ptr<torch::optim::AdamW> make_optimizer() {
    const std::vector<at::Tensor> params = trainable_tensors();
    return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(cfg_.train.lr)
                                                             .betas({0.9, 0.999})
                                                             .eps(cfg_.train.adam_eps)
                                                             .weight_decay(cfg_.train.weight_decay));
  }

  // One optimizer step over grad_accum_steps micro-batches; returns the means of the loss and of the
  // target letter's cross-entropy among the candidate letters.
  StepLosses train_step(double lr) {
    const TrainConfig& t = cfg_.train;
    ranker_.model->train();
    optimizer_->zero_grad();
    const llm::RankingLossOptions options{t.loss == "letters", t.eos ? ranker_.tokenizer.eos_id() : -1,
                                          t.prompt_lm_weight};
    StepLosses sums;
    for (int micro = 0; micro < t.grad_accum_steps; ++micro) {
      if (shuffler_->epoch() != examples_epoch_) make_train_examples(shuffler_->epoch());
      std::vector<std::vector<int64_t>> prompts;
      std::vector<int64_t> labels;
      for (const size_t i : shuffler_->next_batch(size_t(t.micro_batch_size))) {
        prompts.push_back(encode(train_examples_[i]));
        labels.push_back(train_examples_[i].label);
      }
      const llm::RankingLoss loss =
          llm::ranking_loss(*ranker_.model, prompts, labels, letter_ids_, padding(), options);
      (loss.loss / t.grad_accum_steps).backward();
      sums.loss += loss.loss.item<double>();
      sums.letter_ce += loss.letter_ce.item<double>();
    }
    torch::nn::utils::clip_grad_norm_(trainable_tensors(), t.max_grad_norm);
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
    optimizer_->step();
    return {sums.loss / t.grad_accum_steps, sums.letter_ce / t.grad_accum_steps};
  }

  // Scores every example whose target was retrieved (the others score 0 whatever the ranker does).
  RankingResult evaluate(const std::vector<data::RankerExample>& examples, const std::string& what,
                         const std::vector<size_t>* subset = nullptr) {
    ranker_.model->eval();
    c10::NoGradGuard no_grad;
    const auto& ks = cfg_.train.metric_ks;
    RankingMetrics ranker_subset(ks), ranker_overall(ks), retriever_subset(ks), retriever_overall(ks);
    std::vector<size_t> order;
    if (subset != nullptr) {
      order = *subset;
    } else {
      order.resize(examples.size());
      std::iota(order.begin(), order.end(), 0);
    }
    std::vector<size_t> scored;
    for (const size_t i : order) {
      if (examples[i].label >= 0) {
        scored.push_back(i);
      } else {
        ranker_overall.add(kNotRanked);
        retriever_overall.add(kNotRanked);
      }
    }
    ProgressBar bar(what, int64_t(scored.size()));
    const auto batch = size_t(cfg_.train.eval_batch_size);
    for (size_t begin = 0; begin < scored.size(); begin += batch) {
      std::vector<std::vector<int64_t>> prompts;
      std::vector<int64_t> labels, retriever_ranks;
      for (size_t j = begin; j < std::min(scored.size(), begin + batch); ++j) {
        prompts.push_back(encode(examples[scored[j]]));
        labels.push_back(examples[scored[j]].label);
        retriever_ranks.push_back(examples[scored[j]].retriever_rank);
      }
      const at::Device device = ranker_.model->model->embed_tokens->weight.device();
      const at::Tensor scores = llm::letter_scores(*ranker_.model, llm::left_pad(prompts, padding(), device),
                                                   letter_ids_)
                                    .cpu();                    // [B, n]
      const at::Tensor label = at::tensor(labels, at::kLong);  // [B]
      const at::Tensor ranks = target_ranks(scores, label);    // [B]
      ranker_subset.add(ranks);
      ranker_overall.add(ranks);
      retriever_subset.add(retriever_ranks);
      retriever_overall.add(retriever_ranks);
      bar.update(int64_t(labels.size()));
    }
    bar.finish();
    RankingResult r;
    r.users = int64_t(order.size());
    r.retrieved = int64_t(scored.size());
    r.ranker_subset = ranker_subset.result();
    r.ranker_overall = ranker_overall.result();
    r.retriever_subset = retriever_subset.result();
    r.retriever_overall = retriever_overall.result();
    return r;
  }

  // Returns true when early stopping triggers.
  bool validate(MetricsLog& log, double elapsed) {
    const RankingResult r = evaluate(val_examples_, "val", &val_subset_);
    const double ndcg = r.ranker_subset.at("NDCG@10");
    if (state_.record(ndcg, elapsed)) save_best();
    const auto& ks = cfg_.train.metric_ks;
    const std::string recall = std::count(ks.begin(), ks.end(), 5) ? "Recall@5" : "Recall@10";
    log::info(
        "val step {}: ranker NDCG@10 {:.4f} {} {:.4f} (retriever order {:.4f} / {:.4f}) over {} users, "
        "candidates {}; best {:.4f} at step {}",
        state_.step, ndcg, recall, r.ranker_subset.at(recall), r.retriever_subset.at("NDCG@10"),
        r.retriever_subset.at(recall), r.retrieved, candidate_order(), state_.best_metric, state_.best_step);
    std::map<std::string, double> row;
    for (const auto& [k, v] : r.ranker_subset) row[k] = v;
    for (const auto& [k, v] : r.retriever_subset) row["retriever_" + k] = v;
    row["step"] = double(state_.step);
    row["elapsed_s"] = elapsed;
    log.write(row);
    return state_.patience_exhausted(cfg_.train.patience);
  }

  // What `rank` must build its prompts with, saved beside the best weights and the merged export.
  llm::PromptSettings prompt_settings() const { return {*prompts_, cfg_.examples.max_history}; }

  // The best weights, replaced as a whole: written beside, then swapped in by renames.
  void save_best() {
    const fs::path fresh = out_ / ".tmp-best";
    fs::remove_all(fresh);
    if (full())
      llm::save_hf_checkpoint(fresh, *ranker_.model, at::kFloat);
    else
      llm::save_peft_adapter(fresh, *ranker_.model, ranker_.lora, cfg_.model.path);
    llm::save_prompt_settings(fresh, prompt_settings());
    swap_in_directory(fresh, best_path());
  }

  void load_best() {
    const fs::path best = best_path();
    recover_replaced_directory(best);
    if (full())
      load_parameters(best / "model.safetensors", ranker_.trainable);
    else
      load_parameters(best / "adapter_model.safetensors", ranker_.trainable, "base_model.model.");
  }

  void save_checkpoint() {
    json state = state_.to_json();
    state["shuffler"] = shuffler_->state();
    state["stopped"] = stop_;
    save_training_checkpoint(*checkpoints_, state_.step, ranker_.trainable, *optimizer_, state,
                             config::to_yaml(cfg_));
  }

  void restore() {
    fs::path dir;
    const json state = restore_training_checkpoint(*checkpoints_, ranker_.trainable, *optimizer_, &dir);
    recover_replaced_directory(best_path());
    state_ = TrainingProgress::from_json(state);
    stop_ = state.at("stopped");
    shuffler_->restore(state.at("shuffler").get<data::EpochShuffler::State>());
    if (shuffler_->epoch() != examples_epoch_) make_train_examples(shuffler_->epoch());
    log::info("resumed from {} (step {}, best NDCG@10 {:.4f} at step {})", dir.string(), state_.step,
              state_.best_metric, state_.best_step);
  }

  RunConfig cfg_;
  fs::path out_;
  data::Dataset dataset_;
  data::RetrievedCandidates val_retrieved_;
  std::vector<data::RankerExample> train_examples_, val_examples_, test_examples_;
  int64_t examples_epoch_ = -1;
  std::vector<size_t> val_subset_;
  llm::RankerModel ranker_;
  std::optional<llm::PromptBuilder> prompts_;
  std::vector<int64_t> letter_ids_;
  std::vector<std::string> titles_;  // truncated, by item id
  int64_t total_steps_ = 0;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::optional<data::EpochShuffler> shuffler_;
  std::optional<CheckpointManager> checkpoints_;
  TrainingProgress state_;
  bool stop_ = false;
};

}  // namespace
}  // namespace lrec

int main(int argc, char** argv) {
  using namespace lrec;
  return program_main<RunConfig>(argc, argv, kUsage, [](const RunConfig& cfg) {
    install_interrupt_handler();
    Recipe recipe(cfg);
    recipe.setup();
    if (!recipe.train()) return kInterruptedExitCode;
    recipe.test_and_export();
    return 0;
  });
}
