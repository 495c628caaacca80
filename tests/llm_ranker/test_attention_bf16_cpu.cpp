// The bf16 CPU attention kernel against the fp32 formula (attention_reference) on the same bf16 inputs:
// output and the gradients of q, k and v, for causal, masked (random and left-padded) and full attention,
// MHA/GQA/MQA, lengths around the 64-row blocks and the 32-key padding, and rows with no allowed key.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <vector>

#include "llm_ranker/attention_bf16_cpu.h"
#include "llm_ranker/llama_attention.h"
#include "llm_ranker/llama_model.h"
#include "tests/llm_ranker/llama_test_util.h"

namespace lrec::llm {
namespace {

struct Result {
  at::Tensor out, grad_q, grad_k, grad_v;
};

template <typename Attention>
Result run(const Attention& attention, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
           const at::Tensor& grad_out, const LayerInputs& in, at::ScalarType dtype) {
  const auto leaf = [&](const at::Tensor& x) { return x.to(dtype).clone().requires_grad_(true); };
  at::Tensor qg = leaf(q), kg = leaf(k), vg = leaf(v);
  at::Tensor out = attention(qg, kg, vg, in);
  (out.to(at::kFloat) * grad_out).sum().backward();
  return {out.to(at::kFloat), qg.grad().to(at::kFloat), kg.grad().to(at::kFloat), vg.grad().to(at::kFloat)};
}

// Largest error relative to the largest magnitude of the reference (at least 1: T = 1 has zero dq, dk).
double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got - want).abs().max().item<double>() / std::max(want.abs().max().item<double>(), 1.0);
}

bool kernel_available() {
  const at::Tensor probe = at::zeros({1, 1, 1, 16}, at::kBFloat16);
  return attention_bf16_cpu_applies(probe, probe, LayerInputs{});
}

// Left padding as LlamaModel builds it: key j visible to query i when j <= i and j is a token, or j == i.
at::Tensor left_padding_mask(int64_t t, const std::vector<int64_t>& pads) {
  const at::Tensor i = at::arange(t).unsqueeze(1), j = at::arange(t).unsqueeze(0);
  std::vector<at::Tensor> rows;
  for (const int64_t pad : pads) rows.push_back(j.le(i).logical_and(j.ge(pad).logical_or(j.eq(i))));
  return at::stack(rows).unsqueeze(1);  // [B, 1, T, T]
}

TEST(AttentionBf16Cpu, MatchesTheFp32FormulaForwardAndBackward) {
  if (!kernel_available()) GTEST_SKIP() << "this CPU has no AVX512-BF16; the kernel is never used here";
  at::manual_seed(0);
  for (const int64_t t : {1, 7, 64, 65, 130, 200}) {
    for (const int64_t kv_heads : {4, 2, 1}) {
      for (const int64_t head_dim : {16, 64}) {
        const at::Tensor q = at::randn({2, 4, t, head_dim}).to(at::kBFloat16);
        const at::Tensor k = at::randn({2, kv_heads, t, head_dim}).to(at::kBFloat16);
        const at::Tensor v = at::randn({2, kv_heads, t, head_dim}).to(at::kBFloat16);
        const at::Tensor grad_out = at::randn({2, 4, t, head_dim});
        const at::Tensor random_mask =
            (at::rand({2, 1, t, t}) > 0.4).logical_or(at::eye(t, at::kBool));  // diagonal always allowed
        const std::vector<std::pair<const char*, LayerInputs>> cases = {
            {"causal", LayerInputs{{}, {}, {}, true}},
            {"full", LayerInputs{{}, {}, {}, false}},
            {"random mask", LayerInputs{{}, {}, random_mask, false}},
            {"left padding", LayerInputs{{}, {}, left_padding_mask(t, {0, t / 2}), false}},
        };
        for (const auto& [name, in] : cases) {
          SCOPED_TRACE(::testing::Message()
                       << name << " T " << t << " KVH " << kv_heads << " hd " << head_dim);
          ASSERT_TRUE(attention_bf16_cpu_applies(q, k, in));
          const Result got = run(attention_bf16_cpu, q, k, v, grad_out, in, at::kBFloat16);
          const Result want = run(attention_reference, q, k, v, grad_out, in, at::kFloat);
          // P and dS are rounded to bf16 before their products, and the results are bf16.
          EXPECT_LT(relative_error(got.out, want.out), 1e-2);
          EXPECT_LT(relative_error(got.grad_q, want.grad_q), 2e-2);
          EXPECT_LT(relative_error(got.grad_k, want.grad_k), 2e-2);
          EXPECT_LT(relative_error(got.grad_v, want.grad_v), 2e-2);
        }
      }
    }
  }
}

TEST(AttentionBf16Cpu, ARowWithNoAllowedKeyGivesZerosAndNoGradient) {
  if (!kernel_available()) GTEST_SKIP() << "this CPU has no AVX512-BF16; the kernel is never used here";
  at::manual_seed(1);
  const int64_t t = 9;
  const at::Tensor q = at::randn({1, 2, t, 32}).to(at::kBFloat16),
                   k = at::randn({1, 2, t, 32}).to(at::kBFloat16),
                   v = at::randn({1, 2, t, 32}).to(at::kBFloat16);
  at::Tensor mask = at::ones({1, 1, t, t}, at::kBool).tril();
  mask.select(2, 3).fill_(false);  // query 3 sees nothing
  const Result got = run(attention_bf16_cpu, q, k, v, at::ones({1, 2, t, 32}),
                         LayerInputs{{}, {}, mask, false}, at::kBFloat16);
  EXPECT_EQ(got.out.select(2, 3).abs().max().item<float>(), 0.0f);
  EXPECT_EQ(got.grad_q.select(2, 3).abs().max().item<float>(), 0.0f);
  EXPECT_GT(got.out.select(2, 4).abs().max().item<float>(), 0.0f);
  EXPECT_TRUE(at::isfinite(got.grad_k).all().item<bool>());
}

// The whole bf16 model on a left-padded batch: the kernel (kAuto) against the fp32 formula (kReference),
// with autograd (plain ops) and without (the in-place inference ops).
TEST(AttentionBf16Cpu, Bf16ModelLogitsMatchTheReferenceKernel) {
  if (!kernel_available()) GTEST_SKIP() << "this CPU has no AVX512-BF16; the kernel is never used here";
  const LlamaConfig cfg =
      testing::tiny_config(/*heads=*/2, /*kv_heads=*/1);  // head_dim 16: the kernel applies
  LlamaForCausalLM model = testing::random_model(cfg, 3, at::kBFloat16);
  const at::Tensor ids = at::randint(1, cfg.vocab_size, {2, 70});
  at::Tensor attention_mask = at::ones({2, 70}, at::kLong);
  attention_mask[1].narrow(0, 0, 9).zero_();  // 9 left-padding tokens
  const ForwardOptions opts{.attention_mask = attention_mask};
  const auto logits = [&](AttentionKernel kernel, bool grad) {
    model->set_attention_kernel(kernel);
    c10::AutoGradMode mode(grad);
    return model->forward(ids, opts, LlamaForCausalLMImpl::Logits::kAll).to(at::kFloat).detach();
  };
  const at::Tensor reference = logits(AttentionKernel::kReference, false);
  const at::Tensor valid = attention_mask.to(at::kBool);  // padding positions are never read
  for (const bool grad : {false, true}) {
    SCOPED_TRACE(grad ? "with autograd" : "inference");
    const at::Tensor fused = logits(AttentionKernel::kAuto, grad);
    EXPECT_LT(relative_error(fused.index({valid}), reference.index({valid})), 2e-2);
  }
}

TEST(AttentionBf16Cpu, DoesNotApplyToAKvCacheOrFp32) {
  const at::Tensor q = at::zeros({1, 2, 3, 16}, at::kBFloat16),
                   k10 = at::zeros({1, 2, 10, 16}, at::kBFloat16);
  EXPECT_FALSE(attention_bf16_cpu_applies(q, k10, LayerInputs{}));
  EXPECT_FALSE(attention_bf16_cpu_applies(q.to(at::kFloat), q.to(at::kFloat), LayerInputs{}));
  EXPECT_FALSE(attention_bf16_cpu_applies(at::zeros({1, 2, 3, 24}, at::kBFloat16),
                                          at::zeros({1, 2, 3, 24}, at::kBFloat16), LayerInputs{}));
}

}  // namespace
}  // namespace lrec::llm
