#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "llm_ranker/generate.h"
#include "llm_ranker/llama_model.h"
#include "tests/common/test_util.h"
#include "tests/llm_ranker/llama_test_util.h"

namespace lrec::llm {
namespace {

using Logits = LlamaForCausalLMImpl::Logits;
using testing::max_abs_diff;

// Random allowed-key masks with the diagonal (or the last key) always allowed, as the model builds them.
at::Tensor random_mask(int64_t b, int64_t t, int64_t s) {
  at::Tensor mask = at::rand({b, 1, t, s}) > 0.4;
  const at::Tensor own = at::arange(s - t, s).unsqueeze(1).eq(at::arange(s).unsqueeze(0));  // [T, S]
  return mask.logical_or(own);
}

TEST(LlamaAttention, SdpaAgreesWithTheFormulaForMhaGqaMqa) {
  at::manual_seed(0);
  for (const int64_t kv_heads : {4, 2, 1}) {
    for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      const double tol = dtype == at::kFloat ? 1e-5 : 2e-2;
      const at::Tensor q = at::randn({2, 4, 7, 16}).to(dtype);
      const at::Tensor k = at::randn({2, kv_heads, 7, 16}).to(dtype),
                       v = at::randn({2, kv_heads, 7, 16}).to(dtype);
      SCOPED_TRACE(::testing::Message() << "kv_heads " << kv_heads << " dtype " << dtype);
      const LayerInputs causal{{}, {}, {}, true};
      EXPECT_LT(max_abs_diff(attention_sdpa(q, k, v, causal), attention_reference(q, k, v, causal)), tol);
      const LayerInputs masked{{}, {}, random_mask(2, 7, 7), false};
      EXPECT_LT(max_abs_diff(attention_sdpa(q, k, v, masked), attention_reference(q, k, v, masked)), tol);
      // Three new queries against ten keys (a KV cache), padded.
      const at::Tensor k10 = at::randn({2, kv_heads, 10, 16}).to(dtype),
                       v10 = at::randn({2, kv_heads, 10, 16}).to(dtype);
      const LayerInputs cached{{}, {}, random_mask(2, 3, 10), false};
      const at::Tensor q3 = q.narrow(2, 0, 3);
      EXPECT_LT(max_abs_diff(attention_sdpa(q3, k10, v10, cached), attention_reference(q3, k10, v10, cached)),
                tol);
      const LayerInputs all{{}, {}, {}, false};
      EXPECT_LT(max_abs_diff(attention_sdpa(q3, k10, v10, all), attention_reference(q3, k10, v10, all)), tol);
    }
  }
}

TEST(RMSNorm, FusedKernelAgreesWithTheFormula) {
  at::manual_seed(2);
  for (const at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    const at::Tensor x = (3 * at::randn({5, 7, 96})).to(dtype), w = (1 + at::randn({96})).to(dtype);
    const at::Tensor fused = rms_norm_fused(x, w, 1e-5), reference = rms_norm_reference(x, w, 1e-5);
    EXPECT_EQ(fused.sizes(), x.sizes());
    // fp32: summation order only. bf16: a rounding of x / rms may land one ulp apart, scaled by |w|.
    EXPECT_TRUE(
        at::allclose(fused.to(at::kFloat), reference.to(at::kFloat), dtype == at::kFloat ? 1e-5 : 1e-2, 1e-5))
        << dtype;
  }
  // The module takes the formula whenever a gradient is needed.
  RMSNorm norm(8, 1e-6, at::TensorOptions());
  norm->weight.data().fill_(1);
  const at::Tensor x = at::randn({3, 8}).requires_grad_();
  norm(x).sum().backward();
  EXPECT_TRUE(x.grad().defined());
}

TEST(Rotary, ScoresDependOnRelativePositionOnly) {
  at::manual_seed(1);
  LlamaConfig cfg = testing::tiny_config();
  const RotaryEmbedding rope(cfg);
  const at::Tensor q = at::randn({1, 1, 1, cfg.head_dim}), k = at::randn({1, 1, 1, cfg.head_dim});
  const auto score = [&](int64_t m, int64_t n) {
    const auto [cos, sin] = rope.cos_sin(at::tensor({m, n}, at::kLong).unsqueeze(0));  // [1, 2, hd]
    const at::Tensor qm = apply_rotary(q, cos.narrow(1, 0, 1).unsqueeze(1), sin.narrow(1, 0, 1).unsqueeze(1));
    const at::Tensor kn = apply_rotary(k, cos.narrow(1, 1, 1).unsqueeze(1), sin.narrow(1, 1, 1).unsqueeze(1));
    return (qm * kn).sum().item<double>();
  };
  EXPECT_NEAR(score(7, 3), score(107, 103), 1e-4);
  EXPECT_GT(std::abs(score(7, 3) - score(3, 7)), 1e-3);  // the order matters
  // rotate_half is a quarter turn: applying it twice negates.
  EXPECT_TRUE(at::equal(rotate_half(rotate_half(q)), -q));
}

TEST(LlamaModel, LeftPaddingDoesNotChangeTheTokensLogits) {
  c10::NoGradGuard no_grad;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(4, 2), 3);
  const at::Tensor seq = at::randint(0, 64, {1, 6}, at::kLong);
  const at::Tensor alone = model->forward(seq, {}, Logits::kAll);  // [1, 6, V]
  const at::Tensor batch = at::cat({at::zeros({1, 4}, at::kLong), seq}, 1);
  const at::Tensor mask = at::cat({at::zeros({1, 4}, at::kLong), at::ones({1, 6}, at::kLong)}, 1);
  const at::Tensor padded = model->forward(batch, {.attention_mask = mask}, Logits::kAll);  // [1, 10, V]
  EXPECT_TRUE(at::isfinite(padded).all().item<bool>()) << "padding rows must not produce NaN";
  EXPECT_LT(max_abs_diff(padded.narrow(1, 4, 6), alone), 1e-5);
}

TEST(LlamaModel, IncrementalDecodingWithTheCacheEqualsTheFullForward) {
  c10::NoGradGuard no_grad;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(4, 1), 4);
  const at::Tensor ids = at::randint(0, 64, {2, 9}, at::kLong);
  at::Tensor mask = at::ones({2, 9}, at::kLong);
  mask.narrow(1, 0, 2).select(0, 1).zero_();  // row 1 is left-padded by two
  const at::Tensor full = model->forward(ids, {.attention_mask = mask}, Logits::kAll);  // [2, 9, V]
  KVCache cache(2);
  // A prefill of 4, a chunk of 3 (queries with past keys), then one token at a time.
  int64_t done = 0;
  for (const int64_t chunk : {4, 3, 1, 1}) {
    const at::Tensor out = model->forward(ids.narrow(1, done, chunk),
                                          {mask.narrow(1, 0, done + chunk), {}, &cache}, Logits::kAll);
    at::Tensor want = full.narrow(1, done, chunk);
    at::Tensor got = out;
    if (done == 0) {  // row 1's first two positions are padding: their outputs are never read
      want = want.narrow(1, 2, chunk - 2);
      got = got.narrow(1, 2, chunk - 2);
    }
    EXPECT_LT(max_abs_diff(got, want), 1e-5) << "after " << done << " cached positions";
    done += chunk;
    EXPECT_EQ(cache.length(), done);
  }
}

TEST(LlamaModel, GreedyGenerationWithAndWithoutCacheAgree) {
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(4, 2, /*tied=*/true), 5);
  const at::Tensor ids = at::randint(0, 64, {2, 5}, at::kLong);
  const at::Tensor mask = at::tensor({1, 1, 1, 1, 1, 0, 0, 1, 1, 1}, at::kLong).view({2, 5});
  GenerateOptions opts;
  opts.max_new_tokens = 12;
  const at::Tensor cached = generate_greedy(*model, ids, mask, opts);
  opts.use_cache = false;
  const at::Tensor uncached = generate_greedy(*model, ids, mask, opts);
  EXPECT_EQ(cached.sizes(), (std::vector<int64_t>{2, 12}));
  EXPECT_TRUE(at::equal(cached, uncached));
  // Row 1 alone, without padding, generates the same tokens.
  opts.use_cache = true;
  const at::Tensor alone = generate_greedy(*model, ids.narrow(0, 1, 1).narrow(1, 2, 3), {}, opts);
  EXPECT_TRUE(at::equal(alone[0], cached[1]));
}

TEST(LlamaModel, StopTokenEndsGenerationPerRow) {
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 6);
  const at::Tensor ids = at::randint(0, 64, {1, 4}, at::kLong);
  GenerateOptions opts;
  opts.max_new_tokens = 8;
  const at::Tensor free_run = generate_greedy(*model, ids, {}, opts);
  opts.stop_token = free_run[0][2].item<int64_t>();
  const at::Tensor stopped = generate_greedy(*model, ids, {}, opts);
  ASSERT_LE(stopped.size(1), 3);
  EXPECT_TRUE(at::equal(stopped[0], free_run[0].narrow(0, 0, stopped.size(1))));
  EXPECT_EQ(stopped[0][-1].item<int64_t>(), opts.stop_token);
}

// A projection that adds a constant: what a LoRA layer looks like to the model.
class ShiftedLinear : public LinearImpl {
 public:
  explicit ShiftedLinear(const LinearImpl& base, double shift)
      : LinearImpl(base.weight.size(1), base.weight.size(0), base.bias.defined(), base.weight.options()),
        shift_(shift) {
    weight.set_data(base.weight);
    if (bias.defined()) bias.set_data(base.bias);
    extra = register_parameter("extra", at::zeros({1}));
  }
  at::Tensor forward(const at::Tensor& x) override { return LinearImpl::forward(x) + shift_; }
  at::Tensor extra;

 private:
  double shift_;
};

TEST(LlamaModel, ProjectionsAreFoundByNameAndReplaceable) {
  c10::NoGradGuard no_grad;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 7);
  const at::Tensor ids = at::randint(0, 64, {1, 5}, at::kLong);
  const at::Tensor before = model->forward(ids);
  std::vector<Projection> projections = model->projections();
  ASSERT_EQ(projections.size(), 14u);
  EXPECT_EQ(projections[0].name, "model.layers.0.self_attn.q_proj");
  EXPECT_EQ(projections[13].name, "model.layers.1.mlp.down_proj");
  const auto params = model->named_parameters();
  for (const Projection& p : projections) ASSERT_TRUE(params.contains(p.name + ".weight")) << p.name;

  for (Projection& p : projections) {
    if (p.kind == "v_proj") p.replace(std::make_shared<ShiftedLinear>(**p.slot, 0.0));
  }
  EXPECT_LT(max_abs_diff(model->forward(ids), before), 1e-6) << "a zero shift changes nothing";
  EXPECT_TRUE(model->named_parameters().contains("model.layers.1.self_attn.v_proj.extra"));
  projections[0].replace(std::make_shared<ShiftedLinear>(**projections[0].slot, 0.5));
  EXPECT_GT(max_abs_diff(model->forward(ids), before), 1e-3) << "the replacement runs";
}

TEST(LlamaModel, LayerCallWrapsEveryDecoderLayer) {
  c10::NoGradGuard no_grad;
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 8);
  const at::Tensor ids = at::randint(0, 64, {2, 5}, at::kLong);
  const at::Tensor before = model->forward(ids);
  int calls = 0;
  model->model->layer_call = [&](LlamaDecoderLayerImpl& layer, const at::Tensor& h, const LayerInputs& in,
                                 LayerCache* cache) {
    ++calls;
    return layer.forward(h, in, cache);
  };
  EXPECT_TRUE(at::equal(model->forward(ids), before));
  EXPECT_EQ(calls, 2);
}

TEST(LlamaModel, BadInputsGiveClearErrors) {
  LlamaForCausalLM model = testing::random_model(testing::tiny_config(), 9);
  const at::Tensor ids = at::randint(0, 64, {2, 5}, at::kLong);
  const std::string mask_error = lrec::testing::error_message([&] {
    model->forward(ids, {.attention_mask = at::ones({2, 4})});
  });
  EXPECT_NE(mask_error.find("attention_mask has shape [2, 4], expected [2, 5]"), std::string::npos)
      << mask_error;
  const std::string ids_error = lrec::testing::error_message([&] { model->forward(ids[0]); });
  EXPECT_NE(ids_error.find("input_ids must be [batch, length]"), std::string::npos) << ids_error;
}

}  // namespace
}  // namespace lrec::llm
