// Parity with transformers' LlamaForCausalLM on tiny random checkpoints that
// tests/python/llama_reference.py writes (skipped when transformers is not importable).
//   fp32: every logit within 1e-4 absolute (logits are O(1): the weights are drawn with std 0.2).
//   bf16: both sides compute in bf16, rounding differently (our RMSNorm/RoPE/residual order is the same,
//   but matmul and attention kernels accumulate differently); the documented tolerance is
//   max |Δ| <= 0.04 · max |logit| (about 5 bf16 ulps at that scale).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "core/safetensors.h"
#include "llm_ranker/llama_loader.h"
#include "tests/common/test_util.h"
#include "tests/llm_ranker/llama_test_util.h"

namespace lrec::llm {
namespace {

using Logits = LlamaForCausalLMImpl::Logits;

class LlamaParity : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new lrec::testing::TempDir();
    status_ = testing::run_python("llama_reference.py", dir_->path().string());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (status_ == 77) GTEST_SKIP() << "transformers/torch/safetensors not importable in " << LREC_PYTHON;
    ASSERT_EQ(status_, 0) << "tests/python/llama_reference.py failed";
  }
  std::filesystem::path case_dir() const { return dir_->path() / GetParam(); }

  // Compares our logits with the golden ones at every non-padding position; returns max |Δ| and max |golden|.
  static std::pair<double, double> compare(LlamaForCausalLMImpl& model,
                                           const std::map<std::string, at::Tensor>& golden,
                                           const std::string& dtype) {
    c10::NoGradGuard no_grad;
    double diff = 0, scale = 0;
    for (const bool padded : {false, true}) {
      const std::string prefix = padded ? "padded_" : "";
      const at::Tensor ids = golden.at(prefix + "ids");
      ForwardOptions opts;
      if (padded) opts.attention_mask = golden.at("padded_mask");
      const at::Tensor want = golden.at(prefix + dtype);  // [B, T, V]
      const at::Tensor got = model.forward(ids, opts, Logits::kAll).to(at::kFloat);
      const at::Tensor keep = padded ? golden.at("padded_mask").ne(0) : at::ones_like(ids, at::kBool);
      diff = std::max(diff, testing::max_abs_diff(got.index({keep}), want.index({keep})));
      scale = std::max(scale, want.abs().max().item<double>());
      // The last position alone, through the kLast path.
      const at::Tensor last = model.forward(ids, opts).to(at::kFloat);  // [B, V]
      diff = std::max(diff, testing::max_abs_diff(last, want.select(1, want.size(1) - 1)));
    }
    return {diff, scale};
  }

  static inline lrec::testing::TempDir* dir_ = nullptr;
  static inline int status_ = -1;
};

TEST_P(LlamaParity, Fp32LogitsWithin1e4) {
  LlamaForCausalLM model = load_llama(case_dir(), at::kFloat);
  const auto golden = safetensors::load_all(case_dir() / "golden.safetensors");
  const auto [diff, scale] = compare(*model, golden, "fp32");
  std::printf("[fp32 parity] %s: max |diff| %.3g, max |logit| %.4g\n", GetParam().c_str(), diff, scale);
  EXPECT_LT(diff, 1e-4) << GetParam() << ": logits up to " << scale;
  EXPECT_GT(scale, 0.5) << "logits too small for the check to mean anything";
  model->set_attention_kernel(AttentionKernel::kReference);
  EXPECT_LT(compare(*model, golden, "fp32").first, 1e-4) << GetParam() << " with the reference attention";
}

TEST_P(LlamaParity, Bf16LogitsWithinDocumentedTolerance) {
  LlamaForCausalLM model = load_llama(case_dir(), at::kBFloat16);
  const auto golden = safetensors::load_all(case_dir() / "golden.safetensors");
  const auto [diff, scale] = compare(*model, golden, "bf16");
  std::printf("[bf16 parity] %s: max |diff| %.4g, max |logit| %.4g, ratio %.4g\n", GetParam().c_str(), diff,
              scale, diff / scale);
  EXPECT_LE(diff, 0.04 * scale) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Cases, LlamaParity,
                         ::testing::Values("mha_untied", "gqa_tied_bf16_disk", "mqa_llama3_bias",
                                           "gqa_linear_head_dim_sharded", "mha_dynamic"));

}  // namespace
}  // namespace lrec::llm
