#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <map>

#include "lrurec/lrurec_model.h"

namespace lrec::lrurec {
namespace {

LRURec make_model(int64_t num_items, const std::string& scan = "fused",
                  const std::string& precision = "float32") {
  ModelConfig cfg;
  cfg.hidden = 16;
  cfg.scan = scan;
  cfg.matmul_precision = precision;
  return LRURec(cfg, num_items);
}

TEST(LRURecModel, OutputsDoNotDependOnLeftPadding) {
  at::manual_seed(0);
  LRURec model = make_model(50);
  model->eval();
  c10::NoGradGuard no_grad;
  const at::Tensor short_pad = at::tensor({0, 5, 3, 7}, at::kLong).unsqueeze(0);
  const at::Tensor long_pad = at::tensor({0, 0, 0, 0, 0, 0, 5, 3, 7}, at::kLong).unsqueeze(0);
  const at::Tensor a = model->forward(short_pad).narrow(1, 1, 3);
  const at::Tensor b = model->forward(long_pad).narrow(1, 6, 3);
  EXPECT_TRUE(at::allclose(a, b, 1e-5, 1e-6));
}

TEST(LRURecModel, IncrementalStepEqualsParallelForwardAtEveryPosition) {
  at::manual_seed(1);
  LRURec model = make_model(40);
  model->eval();
  c10::NoGradGuard no_grad;
  const at::Tensor items = at::randint(1, 41, {3, 12}, at::kLong);
  const at::Tensor parallel = model->scores(model->forward(items));  // [3, 12, 41]
  auto state = model->initial_state(3);
  for (int64_t t = 0; t < items.size(1); ++t) {
    const at::Tensor stepped = model->step(state, items.select(1, t));
    EXPECT_TRUE(at::allclose(stepped, parallel.select(1, t), 1e-4, 1e-5)) << "position " << t;
  }
}

TEST(LRURecModel, KernelsAgreeOnLossAndEveryParameterGradient) {
  at::manual_seed(2);
  const at::Tensor tokens = at::randint(0, 31, {4, 10}, at::kLong);
  const at::Tensor labels = at::randint(0, 31, {4, 10}, at::kLong);
  std::map<std::string, at::Tensor> reference;
  double reference_loss = 0;
  for (const char* scan : {"sequential", "log_depth", "fused"}) {
    at::manual_seed(7);  // same initial weights
    LRURec model = make_model(30, scan);
    model->eval();  // no dropout: deterministic
    const at::Tensor loss = model->loss(tokens, labels);
    loss.backward();
    if (reference.empty()) {
      reference_loss = loss.item<double>();
      for (const auto& p : model->named_parameters()) reference[p.key()] = p.value().grad().clone();
      continue;
    }
    EXPECT_NEAR(loss.item<double>(), reference_loss, 1e-5 * std::abs(reference_loss)) << scan;
    for (const auto& p : model->named_parameters()) {
      const at::Tensor& want = reference.at(p.key());
      const double scale = std::max(want.abs().max().item<double>(), 1e-12);
      EXPECT_LT((p.value().grad() - want).abs().max().item<double>() / scale, 1e-4) << scan << " " << p.key();
    }
  }
}

TEST(LRURecModel, LossIgnoresPaddingLabels) {
  at::manual_seed(4);
  LRURec model = make_model(20);
  model->eval();
  c10::NoGradGuard no_grad;
  const at::Tensor tokens = at::tensor({0, 0, 3, 4, 5}, at::kLong).unsqueeze(0);
  const at::Tensor labels = at::tensor({0, 0, 4, 5, 6}, at::kLong).unsqueeze(0);
  const at::Tensor hidden = model->forward(tokens);
  const at::Tensor scores = model->scores(hidden).squeeze(0).narrow(0, 2, 3);  // [3, 21]
  const at::Tensor want = at::cross_entropy_loss(scores, at::tensor({4, 5, 6}, at::kLong));
  EXPECT_NEAR(model->loss(tokens, labels).item<double>(), want.item<double>(), 1e-6);
}

// The packed path (position-wise layers on real and labelled positions only) against the dense forward:
// the same hidden states where kept, and the same loss and gradients as cross-entropy over every position's
// scores with label 0 ignored. Padding inside rows too, where the mask also cuts the state.
TEST(LRURecModel, PackedPositionsEqualTheDenseForward) {
  at::manual_seed(8);
  const at::Tensor tokens = at::randint(0, 31, {5, 13}, at::kLong) * (at::rand({5, 13}) > 0.3);
  at::Tensor labels = at::randint(0, 31, {5, 13}, at::kLong);
  labels.select(0, 1).zero_();
  at::manual_seed(9);
  LRURec dense = make_model(30);
  at::manual_seed(9);
  LRURec packed = make_model(30);
  dense->eval();
  packed->eval();
  const at::Tensor keep = (tokens > 0) | (at::rand({5, 13}) > 0.8);
  {
    c10::NoGradGuard no_grad;
    const at::Tensor want =
        dense->forward(tokens).reshape({65, -1}).index_select(0, keep.reshape(-1).nonzero().squeeze(1));
    EXPECT_TRUE(at::allclose(packed->forward_packed(tokens, keep), want, 1e-5, 1e-6));
  }
  const at::Tensor scores = dense->scores(dense->forward(tokens));  // [5, 13, 31]
  const at::Tensor want_loss = at::cross_entropy_loss(scores.reshape({65, 31}), labels.reshape(-1), {},
                                                      at::Reduction::Mean, /*ignore_index=*/0);
  want_loss.backward();
  const at::Tensor loss = packed->loss(tokens, labels);
  loss.backward();
  EXPECT_NEAR(loss.item<double>(), want_loss.item<double>(), 1e-5 * want_loss.item<double>());
  const auto want_grads = dense->named_parameters();
  for (const auto& p : packed->named_parameters()) {
    const at::Tensor& want = want_grads[p.key()].grad();
    const double scale = std::max(want.abs().max().item<double>(), 1e-12);
    EXPECT_LT((p.value().grad() - want).abs().max().item<double>() / scale, 1e-4) << p.key();
  }
  try {
    packed->forward_packed(tokens, tokens < 0);
    ADD_FAILURE() << "a keep mask without the real positions was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("leaves out real positions"), std::string::npos) << e.what();
  }
}

// model.matmul_precision=bfloat16 (bf16 inputs to every product, fp32 accumulation) against fp32: a
// documented tolerance of 1% on the loss and 5% of the largest gradient entry per parameter.
TEST(LRURecModel, Bf16MatmulsStayCloseToFp32) {
  at::manual_seed(10);
  const at::Tensor tokens = at::randint(1, 41, {6, 20}, at::kLong) * (at::arange(20) >= 5);
  const at::Tensor labels = at::randint(1, 41, {6, 20}, at::kLong) * (at::arange(20) >= 5);
  std::map<std::string, at::Tensor> grads[2];
  double losses[2];
  for (int i = 0; i < 2; ++i) {
    at::manual_seed(11);  // same initial weights
    LRURec model = make_model(40, "fused", i == 0 ? "float32" : "bfloat16");
    model->eval();
    const at::Tensor loss = model->loss(tokens, labels);
    loss.backward();
    losses[i] = loss.item<double>();
    for (const auto& p : model->named_parameters()) grads[i][p.key()] = p.value().grad();
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-2 * losses[0]);
  EXPECT_NE(losses[1], losses[0]);  // the bf16 path is taken
  for (const auto& [name, want] : grads[0]) {
    const double scale = std::max(want.abs().max().item<double>(), 1e-12);
    EXPECT_LT((grads[1].at(name) - want).abs().max().item<double>() / scale, 5e-2) << name;
  }
}

TEST(LRURecModel, ParametersFollowThePaper) {
  at::manual_seed(5);
  LRURec model = make_model(100);
  int64_t count = 0;
  for (const auto& p : model->named_parameters()) {
    count += p.value().numel();
    const std::string& name = p.key();
    if (name.find("theta_log") != std::string::npos) {
      const at::Tensor theta = at::exp(p.value());
      EXPECT_GE(theta.min().item<float>(), 0.f);
      EXPECT_LT(theta.max().item<float>(), 2 * M_PI);
    } else if (name.find("nu_log") != std::string::npos) {
      const at::Tensor magnitude = at::exp(-at::exp(p.value()));  // |λ| on the ring [0.8, 0.99]
      EXPECT_GE(magnitude.min().item<float>(), 0.8f - 1e-6f);
      EXPECT_LE(magnitude.max().item<float>(), 0.99f + 1e-6f);
    } else if (name.find("gamma_log") == std::string::npos && name.find("layer_norm") == std::string::npos) {
      EXPECT_LE(p.value().abs().max().item<float>(), 0.04f) << name << " is not truncated-normal initialized";
    }
  }
  // Per block with d = 16, N = 32: ν/θ/γ 3N, B and b 2(N·d + N), C and Re(c) 2·d·N + d, LayerNorm 2d,
  // FFN d·4d + 4d + 4d·d + d, LayerNorm 2d. Plus the embedding, its LayerNorm and the output bias.
  const int64_t d = 16, N = 32, V = 101;
  const int64_t block =
      3 * N + 2 * (N * d + N) + 2 * d * N + d + 2 * d + (d * 4 * d + 4 * d + 4 * d * d + d) + 2 * d;
  EXPECT_EQ(count, V * d + 2 * d + 2 * block + V);
  EXPECT_TRUE(is_no_decay("blocks.0.lru_layer.in_bias_real"));
  EXPECT_TRUE(is_no_decay("blocks.1.feed_forward.layer_norm.weight"));
  EXPECT_FALSE(is_no_decay("blocks.0.lru_layer.nu_log"));
  EXPECT_FALSE(is_no_decay("token.weight"));
}

}  // namespace
}  // namespace lrec::lrurec
