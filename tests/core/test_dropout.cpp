#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "core/dropout.h"

namespace lrec {
namespace {

TEST(Dropout, KeepsTheRightFractionAndScales) {
  at::manual_seed(0);
  const at::Tensor x = at::ones({1000, 100});
  const at::Tensor y = counter_dropout(x, 0.2, /*training=*/true);
  const double kept = (y != 0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.8, 0.005);  // 100k Bernoulli draws: std 0.0013
  EXPECT_TRUE(at::allclose(y.masked_select(y != 0), at::full({1}, 1.25)));
  EXPECT_TRUE(at::equal(counter_dropout(x, 0.2, /*training=*/false), x));
}

TEST(Dropout, BackwardUsesTheForwardMask) {
  at::manual_seed(1);
  at::Tensor x = at::randn({64, 33}).requires_grad_();
  const at::Tensor y = counter_dropout(x, 0.3, true);
  y.sum().backward();
  // dy/dx is the scale where the element was kept and 0 where it was dropped.
  EXPECT_TRUE(at::allclose(x.grad(), (y != 0).to(at::kFloat) / 0.7));
}

TEST(Dropout, ReproducibleFromGeneratorStateAndIndependentOfThreads) {
  const at::Tensor x = at::randn({300, 77});
  at::manual_seed(5);
  at::set_num_threads(1);
  const at::Tensor a = counter_dropout(x, 0.5, true);
  at::manual_seed(5);
  at::set_num_threads(2);
  const at::Tensor b = counter_dropout(x, 0.5, true);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(counter_dropout(x, 0.5, true), b));  // the next call draws a new seed
}

// The kernels (AVX2 where the CPU has it, 8 elements at a time, and the scalar loop for the rest) keep
// exactly the elements that the documented rule keeps, under the seed the call draws from the default
// generator.
TEST(Dropout, KernelKeepsExactlyTheElementsOfTheRule) {
  for (const int64_t n : {1, 7, 8, 9, 100, 40001}) {  // 40001: several parallel chunks, each with a tail
    for (const double p : {0.05, 0.2, 0.5}) {
      const at::Tensor x = at::randn({n}) + 3.0;  // no zeros: y != 0 exactly where kept
      at::manual_seed(n);
      const at::Tensor y = counter_dropout(x, p, true);
      at::manual_seed(n);
      const uint64_t seed =
          at::check_generator<at::CPUGeneratorImpl>(at::detail::getDefaultCPUGenerator())->random64();
      const float scale = static_cast<float>(1.0 / (1.0 - p));
      const float* xs = x.const_data_ptr<float>();
      const float* ys = y.const_data_ptr<float>();
      int64_t wrong = 0;
      for (int64_t i = 0; i < n; ++i) wrong += ys[i] != (dropout_keeps(seed, i, p) ? xs[i] * scale : 0.0f);
      EXPECT_EQ(wrong, 0) << "n " << n << " p " << p;
    }
  }
}

TEST(Dropout, MaskRuleIsTheDocumentedOne) {
  int kept = 0;
  for (int64_t i = 0; i < 10000; ++i) kept += dropout_keeps(12345, i, 0.1);
  EXPECT_NEAR(kept / 10000.0, 0.9, 0.01);
  EXPECT_THROW(counter_dropout(at::ones({2}), 1.0, true), std::runtime_error);
}

}  // namespace
}  // namespace lrec
