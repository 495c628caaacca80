// train_lrurec: trains the LRURec retriever by next-item prediction (Yue et al., WSDM 2024), evaluates
// with full ranking, early-stops on validation Recall@10, tests the best model, and exports each user's
// top-K candidates for the ranker.
//
//   train_lrurec --config configs/ml-1m/lrurec.yaml [key=value ...] [--resume]
//
// The recipe reads top to bottom: setup, train (validating every val_iterations steps), test, export.
#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/atomic_file.h"
#include "core/checkpoint.h"
#include "core/config.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/metrics_log.h"
#include "core/program.h"
#include "core/progress.h"
#include "core/runtime.h"
#include "core/safetensors.h"
#include "core/training_progress.h"
#include "datasets/batching.h"
#include "datasets/dataset.h"
#include "lrurec/candidates.h"
#include "lrurec/evaluate.h"
#include "lrurec/lrurec_model.h"

namespace lrec {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Official LRURec settings are the defaults (config.py, set_template).
struct TrainConfig {
  int64_t batch_size = 128;
  int64_t eval_batch_size = 256;
  int max_len = 200;  // 50 for Amazon data
  double lr = 1e-3;
  double weight_decay = 0.01;  // 0 for biases and LayerNorms
  double adam_eps = 1e-9;
  double max_grad_norm = 5.0;
  int64_t val_iterations = 500;  // validate at step 0 and every this many steps
  int64_t patience = 10;         // validations without improvement before stopping
  int64_t max_epochs = 500;
  int64_t max_steps = 0;  // 0: no limit besides early stopping and max_epochs
  std::string best_metric = "Recall@10";
  std::vector<int> metric_ks = {1, 5, 10, 20, 50};
  bool val_mask_history = true;  // LlamaRec validates ml-latest-small without masking
  int64_t log_every = 50;        // steps per line of train.jsonl
  uint64_t seed = 42;
  template <class V>
  void visit(V& v) {
    v("batch_size", batch_size);
    v("eval_batch_size", eval_batch_size);
    v("max_len", max_len);
    v("lr", lr);
    v("weight_decay", weight_decay);
    v("adam_eps", adam_eps);
    v("max_grad_norm", max_grad_norm);
    v("val_iterations", val_iterations);
    v("patience", patience);
    v("max_epochs", max_epochs);
    v("max_steps", max_steps);
    v("best_metric", best_metric);
    v("metric_ks", metric_ks);
    v("val_mask_history", val_mask_history);
    v("log_every", log_every);
    v("seed", seed);
  }
};

struct RunConfig {
  std::string output_dir = "runs/lrurec";
  int threads = 0;  // 0 = all cores
  bool resume = false;
  int keep_checkpoints = 2;
  int export_top_k = 20;
  data::DatasetConfig dataset;
  lrurec::ModelConfig model;
  TrainConfig train;
  template <class V>
  void visit(V& v) {
    v("output_dir", output_dir);
    v("threads", threads);
    v("resume", resume);
    v("keep_checkpoints", keep_checkpoints);
    v("export_top_k", export_top_k);
    v("dataset", dataset);
    v("model", model);
    v("train", train);
  }
};

constexpr const char* kUsage = "train_lrurec --config FILE [section.key=value ...] [--resume]";

class Recipe {
 public:
  explicit Recipe(RunConfig cfg) : cfg_(std::move(cfg)), out_(cfg_.output_dir) {}

  // ---- setup ----------------------------------------------------------------------------------------
  // Ranges the recipe relies on, checked before any data is loaded.
  void check_settings() const {
    const TrainConfig& t = cfg_.train;
    config::require(t.batch_size >= 1, "train.batch_size", ">= 1");
    config::require(t.eval_batch_size >= 1, "train.eval_batch_size", ">= 1");
    config::require(t.max_len >= 1, "train.max_len", ">= 1");
    config::require(t.val_iterations >= 1, "train.val_iterations", ">= 1");
    config::require(t.log_every >= 1, "train.log_every", ">= 1");
    config::require(t.max_grad_norm > 0, "train.max_grad_norm", "> 0");
    config::require(cfg_.export_top_k >= 1, "export_top_k", ">= 1");
    const auto has_k = [&](int k) {
      return std::find(t.metric_ks.begin(), t.metric_ks.end(), k) != t.metric_ks.end();
    };
    config::require(
        has_k(10) && has_k(20) &&
            std::all_of(t.metric_ks.begin(), t.metric_ks.end(), [](int k) { return k >= 1; }),
        "train.metric_ks",
        "a list of cut-offs >= 1 that holds 10 and 20 (each validation line shows Recall@10, NDCG@10 "
        "and Recall@20), e.g. [1, 5, 10, 20, 50]");
    bool known_metric = false;
    for (int k : t.metric_ks) {
      for (const char* name : {"Recall", "NDCG", "MRR"})
        known_metric = known_metric || t.best_metric == fmt::format("{}@{}", name, k);
    }
    config::require(
        known_metric, "train.best_metric",
        fmt::format("Recall@K, NDCG@K or MRR@K with K from train.metric_ks, e.g. Recall@10 (got '{}')",
                    t.best_metric));
  }

  void setup() {
    check_settings();
    configure_runtime(cfg_.threads);
    at::manual_seed(cfg_.train.seed);
    checkpoints_.emplace(out_ / "checkpoints", cfg_.keep_checkpoints);
    checkpoints_->check_start(cfg_.resume);
    if (cfg_.resume)
      check_resume_settings(*checkpoints_, config::to_yaml(cfg_), {"export_top_k"});  // output only
    log_startup("train_lrurec", config::to_yaml(cfg_));

    dataset_ = data::load_dataset(cfg_.dataset);
    log::info("{}", data::format_stats(dataset_.name, data::compute_stats(dataset_)));
    windows_ = data::make_train_windows(dataset_, cfg_.train.max_len);
    val_samples_ = data::make_eval_samples(dataset_, data::Split::kVal, cfg_.train.max_len);
    test_samples_ = data::make_eval_samples(dataset_, data::Split::kTest, cfg_.train.max_len);
    if (windows_.empty())
      fail("dataset {} gives no training windows: every user has fewer than 3 items.", dataset_.name);
    log::info("{} training windows per epoch, {} users", windows_.size(), val_samples_.size());
    config::require(cfg_.export_top_k <= dataset_.num_items, "export_top_k",
                    fmt::format("at most the dataset's {} items", dataset_.num_items));
    fs::create_directories(out_);  // only now: bad settings or data leave nothing behind
    config::save_resolved(out_, cfg_);

    model_ = lrurec::LRURec(cfg_.model, dataset_.num_items);
    for (const auto& p : model_->named_parameters()) params_.emplace_back(p.key(), p.value());
    std::sort(params_.begin(), params_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    optimizer_ = make_optimizer();
    shuffler_.emplace(cfg_.train.seed, windows_.size());
    if (cfg_.resume) restore();
  }

  // ---- train ----------------------------------------------------------------------------------------
  // Returns false when stopped by Ctrl-C (after saving a checkpoint).
  bool train() {
    const std::optional<double> resumed_at =
        cfg_.resume ? std::optional<double>(double(state_.step)) : std::nullopt;
    MetricsLog train_log(out_, "train", resumed_at), val_log(out_, "val", resumed_at);
    const auto start = std::chrono::steady_clock::now();
    const double elapsed_before = state_.elapsed_s;
    const auto elapsed = [&] { return elapsed_before + seconds_since(start); };
    if (state_.step == 0 && !cfg_.resume) stop_ = validate(val_log, elapsed());
    ProgressBar bar("train", cfg_.train.val_iterations);
    while (!stop_) {
      if (cfg_.train.max_steps > 0 && state_.step >= cfg_.train.max_steps) break;
      if (shuffler_->epoch() >= cfg_.train.max_epochs) break;
      const int64_t epoch = shuffler_->epoch();
      const double loss = train_step(shuffler_->next_batch(cfg_.train.batch_size));
      ++state_.step;
      state_.add_to_log({{"loss", loss}});
      bar.update(1, fmt::format("epoch {} loss {:.4f}", epoch + 1, loss));
      if (state_.step % cfg_.train.log_every == 0) {
        train_log.write(state_.take_log_line(epoch, elapsed()));
      }
      if (state_.step % cfg_.train.val_iterations == 0) {
        bar.finish();
        stop_ = validate(val_log, elapsed());
        state_.elapsed_s = elapsed();
        save_checkpoint();
        bar.restart(cfg_.train.val_iterations);
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
      log::info("early stopping at step {}: {} validations without a better {}", state_.step,
                cfg_.train.patience, cfg_.train.best_metric);
    return true;
  }

  // ---- test and export ------------------------------------------------------------------------------
  void test_and_export() {
    load_parameters(out_ / "best_model.safetensors", params_);
    lrurec::EvalOptions options{cfg_.train.eval_batch_size, true, cfg_.train.metric_ks, cfg_.export_top_k};
    const lrurec::EvalResult test = lrurec::evaluate(model_, test_samples_, options);
    const lrurec::EvalResult val = lrurec::evaluate(model_, val_samples_, options);
    const double test_rate = retrieval_rate(test), val_rate = retrieval_rate(val);

    json summary = {
        {"dataset", dataset_.name},
        {"best_step", state_.best_step},
        {"steps", state_.step},
        {"seconds_to_best", state_.best_elapsed_s},
        {"seconds_total", state_.elapsed_s},
        {"test", test.metrics},
        {"val", val.metrics},
        {"retrieval_rate@" + std::to_string(cfg_.export_top_k), {{"val", val_rate}, {"test", test_rate}}},
        {"batch_means",
         {{"about",
           "the official codes' average: the mean of per-batch means, over batches of batch_size users "
           "in user order; compare with their published figures only"},
          {"batch_size", cfg_.train.eval_batch_size},
          {"test", test.batch_means},
          {"val", val.batch_means}}}};
    write_file_atomic(out_ / "test_metrics.json", summary.dump(2) + "\n");
    lrurec::save_candidates(out_ / "candidates.safetensors",
                            {dataset_.name,
                             dataset_.num_items,
                             {val.top_items, val.top_scores, val.targets},
                             {test.top_items, test.top_scores, test.targets}});
    std::string table =
        fmt::format("\ntest metrics of the best model (step {}), exact means over {} users:\n",
                    state_.best_step, test_samples_.size());
    for (int k : cfg_.train.metric_ks) {
      table +=
          fmt::format("  @{:<3} Recall {:.4f}  NDCG {:.4f}  MRR {:.4f}\n", k,
                      test.metrics.at(fmt::format("Recall@{}", k)),
                      test.metrics.at(fmt::format("NDCG@{}", k)), test.metrics.at(fmt::format("MRR@{}", k)));
    }
    const auto& batch_means = test.batch_means;  // metric_ks holds 10 (check_settings)
    table += fmt::format(
        "  the official codes' mean of per-batch means (batches of {}): @10  Recall {:.4f}  NDCG {:.4f}  "
        "MRR {:.4f}\n",
        cfg_.train.eval_batch_size, batch_means.at("Recall@10"), batch_means.at("NDCG@10"),
        batch_means.at("MRR@10"));
    table += fmt::format("  retrieval rate @{}: val {:.4f}, test {:.4f}\n", cfg_.export_top_k, val_rate,
                         test_rate);
    table += fmt::format("  time to best validation {:.1f} s, total {:.1f} s\n", state_.best_elapsed_s,
                         state_.elapsed_s);
    table += fmt::format("  candidates: {}", (out_ / "candidates.safetensors").string());
    log::info("{}", table);
  }

 private:
  std::unique_ptr<torch::optim::AdamW> make_optimizer() {
    // Two groups as the official code: no weight decay for names containing "bias" or "layer_norm".
    std::vector<at::Tensor> decay, no_decay;
    for (const auto& [name, p] : params_) (lrurec::is_no_decay(name) ? no_decay : decay).push_back(p);
    const auto options = [&](double wd) {
      return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(cfg_.train.lr)
                                                              .betas({0.9, 0.999})
                                                              .eps(cfg_.train.adam_eps)
                                                              .weight_decay(wd));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, options(cfg_.train.weight_decay));
    groups.emplace_back(no_decay, options(0.0));
    return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(cfg_.train.lr));
  }

  double train_step(const std::vector<size_t>& batch) {
    std::vector<const std::vector<int32_t>*> tokens, labels;
    for (size_t i : batch) {
      tokens.push_back(&windows_[i].tokens);
      labels.push_back(&windows_[i].labels);
    }
    model_->train();
    optimizer_->zero_grad();
    const at::Tensor loss = model_->loss(lrurec::stack_rows(tokens), lrurec::stack_rows(labels));
    loss.backward();
    torch::nn::utils::clip_grad_norm_(model_->parameters(), cfg_.train.max_grad_norm);
    optimizer_->step();
    return loss.item<double>();
  }

  // Returns true when early stopping triggers.
  bool validate(MetricsLog& log, double elapsed) {
    lrurec::EvalOptions options{cfg_.train.eval_batch_size, cfg_.train.val_mask_history, cfg_.train.metric_ks,
                                0};
    auto metrics = lrurec::evaluate(model_, val_samples_, options).metrics;
    const double value = metrics.at(cfg_.train.best_metric);
    if (state_.record(value, elapsed))
      safetensors::save(out_ / "best_model.safetensors", parameter_map(params_),
                        {{"step", std::to_string(state_.step)}});
    log::info("val step {}: Recall@10 {:.4f} NDCG@10 {:.4f} Recall@20 {:.4f} (best {} {:.4f} at step {})",
              state_.step, metrics.at("Recall@10"), metrics.at("NDCG@10"), metrics.at("Recall@20"),
              cfg_.train.best_metric, state_.best_metric, state_.best_step);
    metrics["step"] = static_cast<double>(state_.step);
    metrics["elapsed_s"] = elapsed;
    log.write(metrics);
    return state_.patience_exhausted(cfg_.train.patience);
  }

  double retrieval_rate(const lrurec::EvalResult& result) const {
    return (result.top_items == result.targets.unsqueeze(1)).any(1).to(at::kDouble).mean().item<double>();
  }

  void save_checkpoint() {
    json state = state_.to_json();
    state["shuffler"] = shuffler_->state();
    state["stopped"] = stop_;
    save_training_checkpoint(*checkpoints_, state_.step, params_, *optimizer_, state, config::to_yaml(cfg_));
  }

  void restore() {
    fs::path dir;
    const json state = restore_training_checkpoint(*checkpoints_, params_, *optimizer_, &dir);
    state_ = TrainingProgress::from_json(state);
    stop_ = state.at("stopped");
    shuffler_->restore(state.at("shuffler").get<data::EpochShuffler::State>());
    log::info("resumed from {} (step {}, best {} {:.4f} at step {})", dir.string(), state_.step,
              cfg_.train.best_metric, state_.best_metric, state_.best_step);
  }

  RunConfig cfg_;
  fs::path out_;
  data::Dataset dataset_;
  std::vector<data::SequenceSample> windows_;
  std::vector<data::EvalSample> val_samples_, test_samples_;
  lrurec::LRURec model_{nullptr};
  NamedParameters params_;
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
