// The LRU scan kernels against the sequential reference loop: forward, dL/du and dL/dλ, in fp32 within
// 1e-5 relative; the fused kernel against finite differences in fp64. The CUDA kernels' chunked scan also
// runs here without a GPU, through a CPU emulation of its thread blocks.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <limits>

#include "lrurec/cuda/lru_scan_emulator.h"
#include "lrurec/lru_scan.h"

namespace lrec::lrurec {
namespace {

struct Case {
  int64_t batch, length, state;
};

// |λ| in [0.8, 0.99] as after ring initialization; [2N] split layout.
at::Tensor random_lambda(int64_t N, at::ScalarType dtype) {
  const at::Tensor r = 0.8 + 0.19 * at::rand({N}, at::kDouble);
  const at::Tensor phase = at::rand({N}, at::kDouble) * 2 * M_PI;
  return at::cat({r * at::cos(phase), r * at::sin(phase)}).to(dtype);
}

// Left padding of random length per row; row 0 is all padding, row 1 holds a single item.
at::Tensor left_padding_mask(int64_t B, int64_t L) {
  at::Tensor lengths = at::randint(1, L + 1, {B}, at::kLong);
  if (B > 2) {
    lengths[0] = 0;
    lengths[1] = 1;
  }
  const at::Tensor positions = at::arange(L, at::kLong).unsqueeze(0);  // [1, L]
  return positions >= (L - lengths).unsqueeze(1);                      // [B, L]
}

double max_relative_error(const at::Tensor& got, const at::Tensor& want) {
  const double scale = want.abs().max().item<double>();
  return (got - want).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

struct ScanResult {
  at::Tensor h, grad_u, grad_lambda;
};

ScanResult run(ScanKernel kernel, const at::Tensor& u0, const at::Tensor& lambda0, const at::Tensor& mask,
               const at::Tensor& upstream) {
  at::Tensor u = u0.clone().requires_grad_(), lambda = lambda0.clone().requires_grad_();
  at::Tensor h = lru_scan(u, lambda, mask, kernel);
  (h * upstream).sum().backward();
  // With L = 1 the sequential loop never touches λ, so autograd leaves its gradient undefined.
  const at::Tensor grad_lambda = lambda.grad().defined() ? lambda.grad() : at::zeros_like(lambda);
  return {h.detach(), u.grad(), grad_lambda};
}

void expect_parity(const Case& c, ScanKernel kernel, at::Device device = at::kCPU) {
  at::manual_seed(c.batch * 1000 + c.length);
  const at::Tensor u = at::randn({c.batch, c.length, 2 * c.state});
  const at::Tensor lambda = random_lambda(c.state, at::kFloat);
  const at::Tensor mask = left_padding_mask(c.batch, c.length);
  const at::Tensor upstream = at::randn({c.batch, c.length, 2 * c.state});
  const ScanResult want = run(ScanKernel::kSequential, u, lambda, mask, upstream);
  const ScanResult got = run(kernel, u.to(device), lambda.to(device), mask.to(device), upstream.to(device));
  const std::string label = fmt::format("B={} L={} N={}", c.batch, c.length, c.state);
  EXPECT_LT(max_relative_error(got.h.cpu(), want.h), 1e-5) << label;
  EXPECT_LT(max_relative_error(got.grad_u.cpu(), want.grad_u), 1e-5) << label;
  EXPECT_LT(max_relative_error(got.grad_lambda.cpu(), want.grad_lambda), 1e-5) << label;
}

const std::vector<Case> kCases = {{4, 7, 5},  {5, 1, 3},    {3, 2, 4},   {6, 200, 16},
                                  {3, 64, 8}, {2, 1024, 4}, {4, 33, 128}};

TEST(LruScan, FusedMatchesSequentialReference) {
  for (const Case& c : kCases) expect_parity(c, ScanKernel::kFused);
}

TEST(LruScan, LogDepthMatchesSequentialReference) {
  for (const Case& c : kCases) expect_parity(c, ScanKernel::kLogDepth);
}

TEST(LruScan, CudaKernelMatchesSequentialReference) {
  if (!torch::cuda::is_available())
    GTEST_SKIP() << "no CUDA device: the CUDA scan kernel is compiled but not run here";
  for (const Case& c : kCases) expect_parity(c, ScanKernel::kFused, at::Device(at::kCUDA, 0));
}

template <class T>
ScanResult run_chunked_emulation(const at::Tensor& u, const at::Tensor& lambda, const at::Tensor& mask,
                                 const at::Tensor& upstream, chunked::ThreadOrder order) {
  const int64_t B = u.size(0), L = u.size(1), N = u.size(2) / 2;
  const at::Tensor mask_u8 = mask.to(at::kByte).contiguous();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  at::Tensor h = at::full_like(u, nan), grad_u = at::full_like(u, nan);
  at::Tensor grad_lambda_rows = at::full({B, 2 * N}, nan, u.options());  // [B, 2N] per-row partial sums
  chunked::emulate_forward(ScanForwardParams<T>{B, L, N, u.data_ptr<T>(), lambda.data_ptr<T>(),
                                                mask_u8.data_ptr<uint8_t>(), h.data_ptr<T>()},
                           order);
  chunked::emulate_backward(ScanBackwardParams<T>{B, L, N, upstream.data_ptr<T>(), h.data_ptr<T>(),
                                                  lambda.data_ptr<T>(), mask_u8.data_ptr<uint8_t>(),
                                                  grad_u.data_ptr<T>(), grad_lambda_rows.data_ptr<T>()},
                            order);
  return {h, grad_u, grad_lambda_rows.sum(0)};
}

template <class T>
void expect_chunked_emulation_parity(const Case& c, at::ScalarType dtype, double tolerance) {
  at::manual_seed(c.batch * 1000 + c.length);
  const at::Tensor u = at::randn({c.batch, c.length, 2 * c.state}, dtype);
  const at::Tensor lambda = random_lambda(c.state, dtype);
  const at::Tensor mask = left_padding_mask(c.batch, c.length);
  const at::Tensor upstream = at::randn({c.batch, c.length, 2 * c.state}, dtype);
  const ScanResult want = run(ScanKernel::kSequential, u, lambda, mask, upstream);
  const ScanResult got = run_chunked_emulation<T>(u, lambda, mask, upstream, chunked::ThreadOrder::kForward);
  const ScanResult reversed =
      run_chunked_emulation<T>(u, lambda, mask, upstream, chunked::ThreadOrder::kReverse);
  const std::string label = fmt::format("B={} L={} N={} {}", c.batch, c.length, c.state, at::toString(dtype));
  EXPECT_LT(max_relative_error(got.h, want.h), tolerance) << label;
  EXPECT_LT(max_relative_error(got.grad_u, want.grad_u), tolerance) << label;
  EXPECT_LT(max_relative_error(got.grad_lambda, want.grad_lambda), tolerance) << label;
  EXPECT_TRUE(at::equal(got.h, reversed.h) && at::equal(got.grad_u, reversed.grad_u) &&
              at::equal(got.grad_lambda, reversed.grad_lambda))
      << label << ": the result depends on the order of the threads within a phase";
}

// The CUDA kernels' launch emulated on the CPU (lrurec/cuda/lru_scan_emulator.h), with its outputs
// starting as NaN so that a missed one shows, and the threads of each phase in both orders.
// L below, at and far above kChunks, N across several channel tiles and with a partial last tile.
TEST(LruScan, CudaChunkedScanEmulatedOnCpuMatchesSequentialReference) {
  std::vector<Case> cases = kCases;
  cases.push_back({3, 9, 40});
  cases.push_back({2, chunked::kChunks, chunked::kTile});
  for (const Case& c : cases) {
    expect_chunked_emulation_parity<float>(c, at::kFloat, 1e-5);
    expect_chunked_emulation_parity<double>(c, at::kDouble, 1e-12);
  }
}

TEST(LruScan, PaddingNeverLeaksIntoRealPositions) {
  // A row's real positions give the same states whatever the padded positions hold.
  at::manual_seed(3);
  const at::Tensor lambda = random_lambda(4, at::kFloat);
  const at::Tensor mask = left_padding_mask(5, 9);
  const at::Tensor u = at::randn({5, 9, 8});
  const at::Tensor noise = at::randn({5, 9, 8}) * (~mask).unsqueeze(-1);
  for (ScanKernel k : {ScanKernel::kFused, ScanKernel::kLogDepth, ScanKernel::kSequential}) {
    const at::Tensor a = lru_scan(u, lambda, mask, k), b = lru_scan(u + noise, lambda, mask, k);
    EXPECT_TRUE(at::allclose(a * mask.unsqueeze(-1), b * mask.unsqueeze(-1), 1e-6, 1e-6));
  }
}

TEST(LruScan, FusedGradientsMatchFiniteDifferencesInDouble) {
  at::manual_seed(11);
  const int64_t B = 3, L = 6, N = 2;
  const at::Tensor u0 = at::randn({B, L, 2 * N}, at::kDouble);
  const at::Tensor lambda0 = random_lambda(N, at::kDouble);
  const at::Tensor mask = left_padding_mask(B, L);
  const at::Tensor upstream = at::randn({B, L, 2 * N}, at::kDouble);
  const ScanResult analytic = run(ScanKernel::kFused, u0, lambda0, mask, upstream);
  const auto objective = [&](const at::Tensor& u, const at::Tensor& lambda) {
    c10::NoGradGuard no_grad;
    return (lru_scan(u, lambda, mask, ScanKernel::kFused) * upstream).sum().item<double>();
  };
  const double eps = 1e-6;
  const auto check = [&](const at::Tensor& x0, const at::Tensor& grad, bool is_lambda) {
    for (int64_t i = 0; i < x0.numel(); ++i) {
      at::Tensor plus = x0.clone(), minus = x0.clone();
      plus.view(-1)[i] += eps;
      minus.view(-1)[i] -= eps;
      const double numeric = is_lambda ? (objective(u0, plus) - objective(u0, minus)) / (2 * eps)
                                       : (objective(plus, lambda0) - objective(minus, lambda0)) / (2 * eps);
      EXPECT_NEAR(grad.view(-1)[i].item<double>(), numeric, 1e-7 * std::max(1.0, std::abs(numeric)))
          << (is_lambda ? "lambda" : "u") << " element " << i;
    }
  };
  check(u0, analytic.grad_u, false);
  check(lambda0, analytic.grad_lambda, true);
}

// Packed positions (the fused kernel on the packed rows) against the sequential reference on the dense
// layout at the kept positions: forward, dL/du and dL/dλ. Left padding, padding inside rows, kept padding
// positions, rows with nothing kept, and the dense case.
TEST(LruScan, PackedFusedMatchesTheDenseSequentialReference) {
  at::manual_seed(12);
  for (const Case& c : std::vector<Case>{{6, 11, 4}, {4, 200, 16}, {3, 1, 3}}) {
    const std::string label = fmt::format("B={} L={} N={}", c.batch, c.length, c.state);
    const at::Tensor mask = left_padding_mask(c.batch, c.length) & (at::rand({c.batch, c.length}) > 0.1);
    for (const at::Tensor& keep : {mask | (at::rand({c.batch, c.length}) > 0.7), mask.clone(),
                                   at::ones({c.batch, c.length}, at::kBool)}) {
      const PackedPositions positions = pack_positions(mask, keep);
      const int64_t P = positions.index.size(0);
      const at::Tensor u0 = at::randn({P, 2 * c.state}), lambda0 = random_lambda(c.state, at::kFloat);
      const at::Tensor upstream = at::randn({P, 2 * c.state});
      at::Tensor u = u0.clone().requires_grad_(), lambda = lambda0.clone().requires_grad_();
      const at::Tensor h = lru_scan_packed(u, lambda, positions, ScanKernel::kFused);
      (h * upstream).sum().backward();
      at::Tensor ur = u0.clone().requires_grad_(), lambdar = lambda0.clone().requires_grad_();
      const at::Tensor want = lru_scan_packed(ur, lambdar, positions, ScanKernel::kSequential);
      (want * upstream).sum().backward();
      EXPECT_LT(max_relative_error(h.detach(), want.detach()), 1e-5) << label;
      EXPECT_LT(max_relative_error(u.grad(), ur.grad()), 1e-5) << label;
      if (lambdar.grad().defined()) {
        EXPECT_LT(max_relative_error(lambda.grad(), lambdar.grad()), 1e-5) << label;
      }
    }
  }
  EXPECT_THROW(pack_positions(at::ones({2, 3}, at::kBool), at::zeros({2, 3}, at::kBool)), std::runtime_error);
}

TEST(LruScan, BadShapesAreRefused) {
  const at::Tensor u = at::zeros({2, 3, 4});
  EXPECT_THROW(lru_scan(u, at::zeros({3}), at::ones({2, 3}, at::kBool)), std::runtime_error);
  EXPECT_THROW(lru_scan(u, at::zeros({4}), at::ones({2, 4}, at::kBool)), std::runtime_error);
  EXPECT_THROW(lru_scan(u.to(at::kHalf), at::zeros({4}, at::kHalf), at::ones({2, 3}, at::kBool)),
               std::runtime_error);
  const PackedPositions positions = pack_positions(at::ones({2, 3}, at::kBool), at::ones({2, 3}, at::kBool));
  EXPECT_THROW(lru_scan_packed(at::zeros({5, 4}), at::zeros({4}), positions), std::runtime_error);  // P = 6
  EXPECT_THROW(lru_scan_packed(at::zeros({6, 4}), at::zeros({3}), positions), std::runtime_error);
  EXPECT_THROW(lru_scan_packed(at::zeros({6, 4}, at::kHalf), at::zeros({4}, at::kHalf), positions),
               std::runtime_error);
}

}  // namespace
}  // namespace lrec::lrurec
