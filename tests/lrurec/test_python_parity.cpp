// Parity of our LRURec with the official-style PyTorch model (bench/lrurec_reference.py) on the same
// weights and batch: scores at every position, the loss and every parameter gradient, with each scan
// kernel. tests/python/lrurec_parity.py maps our split real/imaginary parameters onto the reference's
// complex ones, runs it in eval mode and writes its outputs back. Set LREC_PARITY_VERBOSE=1 to print the
// error of every tensor.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/safetensors.h"
#include "lrurec/lrurec_model.h"
#include "tests/common/test_util.h"

namespace lrec::lrurec {
namespace {

using testing::TempDir;

constexpr int64_t kItems = 60;
constexpr int64_t kLength = 13;  // not a power of two: the reference pads to 16

// Left-padded rows of lengths 13 (full), 7, 1, 0 (all padding) and 10. Labels are the next items at
// real positions and 0 at padding, as in the official training windows; one label inside a row is 0
// too, to exercise ignore_index.
std::pair<at::Tensor, at::Tensor> parity_batch() {
  const std::vector<int64_t> lengths = {kLength, 7, 1, 0, 10};
  const int64_t B = static_cast<int64_t>(lengths.size()), L = kLength;
  const at::Tensor items = at::randint(1, kItems + 1, {B, L + 1}, at::kLong);
  at::Tensor tokens = at::zeros({B, L}, at::kLong), labels = at::zeros({B, L}, at::kLong);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = lengths[b];
    tokens[b].narrow(0, L - n, n).copy_(items[b].narrow(0, 0, n));
    labels[b].narrow(0, L - n, n).copy_(items[b].narrow(0, 1, n));
  }
  labels[4][L - 3] = 0;
  return {tokens, labels};
}

// Weights at a larger scale than the initialization (std 0.1 instead of 0.02, LayerNorms away from the
// identity), so that every term, including the imaginary parts, moves the outputs visibly.
std::map<std::string, at::Tensor> parity_weights(LRURec& model) {
  c10::NoGradGuard no_grad;
  std::map<std::string, at::Tensor> weights;
  for (const auto& p : model->named_parameters()) {
    const std::string& name = p.key();
    at::Tensor w = p.value().detach().clone();
    if (name.find("layer_norm.weight") != std::string::npos) {
      w = 1 + 0.1 * at::randn_like(w);
    } else if (name.find("layer_norm.bias") != std::string::npos) {
      w = 0.1 * at::randn_like(w);
    } else if (name.find("_log") == std::string::npos) {
      w *= 5;
    }
    weights[name] = w;
  }
  return weights;
}

// max |got − want| / max |want|
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  const double scale = want.abs().max().item<double>();
  const double error = (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>();
  return scale > 0 ? error / scale : error;
}

int run_python(const std::string& args) { return lrec::testing::run_python("lrurec_parity.py", args); }

TEST(LRURecPythonParity, ScoresLossAndGradientsMatchTheOfficialStyleModel) {
  TempDir dir;
  ModelConfig cfg;  // the official sizes: d 64, 2 blocks
  at::manual_seed(11);
  const auto [tokens, labels] = parity_batch();
  std::map<std::string, at::Tensor> weights;
  {
    LRURec model(cfg, kItems);
    weights = parity_weights(model);
  }
  std::map<std::string, at::Tensor> inputs = weights;
  inputs["tokens"] = tokens;
  inputs["labels"] = labels;
  safetensors::save(dir / "inputs.safetensors", inputs);

  const int rc =
      run_python((dir / "inputs.safetensors").string() + " " + (dir / "reference.safetensors").string());
  if (rc == 77) GTEST_SKIP() << "python torch/safetensors not importable; skipping the parity check";
  ASSERT_EQ(rc, 0) << "the Python reference failed (its output is above)";
  const auto want = safetensors::load_all(dir / "reference.safetensors");
  const bool verbose = std::getenv("LREC_PARITY_VERBOSE") != nullptr;

  for (const char* scan : {"fused", "log_depth", "sequential"}) {
    SCOPED_TRACE(scan);
    cfg.scan = scan;
    LRURec model(cfg, kItems);
    {
      c10::NoGradGuard no_grad;
      for (auto& p : model->named_parameters()) p.value().copy_(weights.at(p.key()));
    }
    model->eval();  // no dropout on either side

    const at::Tensor hidden = model->forward(tokens);
    const double scores_error = relative_error(model->scores(hidden).detach(), want.at("scores"));
    EXPECT_LT(scores_error, 1e-4) << "scores";

    const at::Tensor loss = model->loss(tokens, labels);
    loss.backward();
    const double want_loss = want.at("loss").item<double>();
    const double loss_error = std::abs(loss.item<double>() - want_loss) / std::abs(want_loss);
    EXPECT_LT(loss_error, 1e-5) << "loss " << loss.item<double>() << " vs " << want_loss;

    std::string worst_name;
    double worst = 0;
    for (const auto& p : model->named_parameters()) {
      const std::string key = "grad/" + p.key();
      ASSERT_TRUE(want.count(key)) << "the reference wrote no gradient for " << p.key();
      const double error = relative_error(p.value().grad(), want.at(key));
      EXPECT_LT(error, 1e-4) << "gradient of " << p.key();
      if (verbose) std::printf("  [%s] grad %-44s %.3e\n", scan, p.key().c_str(), error);
      if (error >= worst) worst = error, worst_name = p.key();
    }
    std::printf("[%s] relative error: scores %.3e, loss %.3e, worst gradient %.3e (%s)\n", scan, scores_error,
                loss_error, worst, worst_name.c_str());
  }
}

}  // namespace
}  // namespace lrec::lrurec
