// The CUDA LRU scan kernels on a GPU, without LibTorch: first their parity with the CPU emulation of
// their launch (lrurec/cuda/lru_scan_emulator.h, which test_lrurec holds to the sequential reference), in
// fp32 and fp64 on the test suite's shapes, then the time of forward + backward at the bench_lrurec shape
// (B 128, L 200, N 64 complex channels, left padding of random length).
//   bench_lru_scan_cuda [timed_calls=200]
// Exits 1 when a result differs. Built by CMake with the CUDA kernels, or alone with nvcc by
// scripts/device_check.sh, which also times the official log-depth scan in PyTorch on the same GPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "lrurec/cuda/lru_scan_emulator.h"

namespace lrec::lrurec {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
}

template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(const std::vector<T>& host) : size_(host.size()) {
    check(cudaMalloc(&ptr_, std::max<size_t>(1, size_) * sizeof(T)), "cudaMalloc");
    check(cudaMemcpy(ptr_, host.data(), size_ * sizeof(T), cudaMemcpyHostToDevice), "copy to device");
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(ptr_); }
  T* get() const { return ptr_; }
  std::vector<T> download() const {
    std::vector<T> host(size_);
    check(cudaMemcpy(host.data(), ptr_, size_ * sizeof(T), cudaMemcpyDeviceToHost), "copy to host");
    return host;
  }

 private:
  T* ptr_ = nullptr;
  size_t size_;
};

struct Shape {
  int64_t batch, length, state;  // B, L, N
};

// Random inputs as the CPU tests draw them: |λ| in [0.8, 0.99], left padding of random length per row,
// row 0 all padding and row 1 a single item.
template <class T>
struct Problem {
  Shape shape;
  std::vector<T> u, lambda, grad_h;  // [B, L, 2N], [2N], [B, L, 2N]
  std::vector<uint8_t> mask;         // [B, L]
};

template <class T>
Problem<T> make_problem(const Shape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unit;
  Problem<T> p{s, {}, {}, {}, std::vector<uint8_t>(static_cast<size_t>(s.batch * s.length), 0)};
  const size_t values = static_cast<size_t>(s.batch * s.length * 2 * s.state);
  for (size_t i = 0; i < values; ++i) p.u.push_back(static_cast<T>(normal(rng)));
  for (size_t i = 0; i < values; ++i) p.grad_h.push_back(static_cast<T>(normal(rng)));
  p.lambda.resize(static_cast<size_t>(2 * s.state));
  for (int64_t n = 0; n < s.state; ++n) {
    const double r = 0.8 + 0.19 * unit(rng), phase = 2 * M_PI * unit(rng);
    p.lambda[n] = static_cast<T>(r * std::cos(phase));
    p.lambda[s.state + n] = static_cast<T>(r * std::sin(phase));
  }
  for (int64_t b = 0; b < s.batch; ++b) {
    int64_t real = 1 + static_cast<int64_t>(unit(rng) * s.length) % s.length;
    if (s.batch > 2 && b < 2) real = b;  // row 0: all padding, row 1: one item
    for (int64_t t = s.length - real; t < s.length; ++t) p.mask[b * s.length + t] = 1;
  }
  return p;
}

template <class T>
struct Result {
  std::vector<T> h, grad_u, grad_lambda;  // [B, L, 2N], [B, L, 2N], [B, 2N] per-row partial sums
};

template <class T>
Result<T> run_emulated(Problem<T>& p) {
  const Shape& s = p.shape;
  Result<T> r{std::vector<T>(p.u.size(), NAN), std::vector<T>(p.u.size(), NAN),
              std::vector<T>(static_cast<size_t>(s.batch * 2 * s.state), NAN)};
  chunked::emulate_forward(ScanForwardParams<T>{s.batch, s.length, s.state, p.u.data(), p.lambda.data(),
                                                p.mask.data(), r.h.data()});
  chunked::emulate_backward(ScanBackwardParams<T>{s.batch, s.length, s.state, p.grad_h.data(), r.h.data(),
                                                  p.lambda.data(), p.mask.data(), r.grad_u.data(),
                                                  r.grad_lambda.data()});
  return r;
}

// The kernels on the device; with timed_calls > 0, also the mean milliseconds of forward + backward.
template <class T>
Result<T> run_cuda(const Problem<T>& p, int timed_calls = 0, double* ms_per_call = nullptr) {
  const Shape& s = p.shape;
  const DeviceBuffer<T> u(p.u), lambda(p.lambda), grad_h(p.grad_h);
  const DeviceBuffer<uint8_t> mask(p.mask);
  const DeviceBuffer<T> h(std::vector<T>(p.u.size(), NAN)), grad_u(std::vector<T>(p.u.size(), NAN));
  const DeviceBuffer<T> grad_lambda(std::vector<T>(static_cast<size_t>(s.batch * 2 * s.state), NAN));
  const ScanForwardParams<T> fwd{s.batch, s.length, s.state, u.get(), lambda.get(), mask.get(), h.get()};
  const ScanBackwardParams<T> bwd{s.batch,      s.length,   s.state,      grad_h.get(),     h.get(),
                                  lambda.get(), mask.get(), grad_u.get(), grad_lambda.get()};
  const auto call = [&] {
    scan_forward_cuda(fwd, nullptr);
    scan_backward_cuda(bwd, nullptr);
  };
  call();
  check(cudaDeviceSynchronize(), "kernels");
  if (timed_calls > 0) {
    cudaEvent_t start, stop;
    check(cudaEventCreate(&start), "event");
    check(cudaEventCreate(&stop), "event");
    check(cudaEventRecord(start), "event");
    for (int i = 0; i < timed_calls; ++i) call();
    check(cudaEventRecord(stop), "event");
    check(cudaEventSynchronize(stop), "kernels");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "event");
    *ms_per_call = ms / timed_calls;
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  return {h.download(), grad_u.download(), grad_lambda.download()};
}

// max |got - want| / max |want|; NaN anywhere (an output never written) counts as infinite.
template <class T>
double max_relative_error(const std::vector<T>& got, const std::vector<T>& want) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(static_cast<double>(got[i]))) return INFINITY;
    diff = std::max(diff, std::abs(static_cast<double>(got[i]) - want[i]));
    scale = std::max(scale, std::abs(static_cast<double>(want[i])));
  }
  return diff / (scale > 0 ? scale : 1.0);
}

template <class T>
bool check_parity(const Shape& s, double tolerance, const char* dtype) {
  Problem<T> p = make_problem<T>(s, static_cast<uint64_t>(s.batch * 1000 + s.length));
  const Result<T> want = run_emulated(p), got = run_cuda(p);
  const double e_h = max_relative_error(got.h, want.h), e_u = max_relative_error(got.grad_u, want.grad_u);
  const double e_lambda = max_relative_error(got.grad_lambda, want.grad_lambda);
  const bool ok = e_h < tolerance && e_u < tolerance && e_lambda < tolerance;
  std::printf("%-5s B=%-3lld L=%-5lld N=%-4lld h %.1e  dL/du %.1e  dL/dlambda %.1e  %s\n", dtype,
              static_cast<long long>(s.batch), static_cast<long long>(s.length),
              static_cast<long long>(s.state), e_h, e_u, e_lambda, ok ? "ok" : "DIFFERS");
  return ok;
}

}  // namespace
}  // namespace lrec::lrurec

int main(int argc, char** argv) {
  using namespace lrec::lrurec;
  try {
    const int timed_calls = argc > 1 ? std::atoi(argv[1]) : 200;
    cudaDeviceProp prop{};
    check(cudaGetDeviceProperties(&prop, 0), "no CUDA device");
    std::printf(
        "device: %s, %d SMs\nparity with the CPU emulation of the launch (tolerance 1e-5 fp32, 1e-12 fp64)\n",
        prop.name, prop.multiProcessorCount);
    bool ok = true;
    for (const Shape& s : std::vector<Shape>{{4, 7, 5},
                                             {5, 1, 3},
                                             {3, 2, 4},
                                             {6, 200, 16},
                                             {3, 64, 8},
                                             {2, 1024, 4},
                                             {4, 33, 128},
                                             {3, 9, 40},
                                             {128, 200, 64}}) {
      ok &= check_parity<float>(s, 1e-5, "fp32");
      ok &= check_parity<double>(s, 1e-12, "fp64");
    }
    const Shape s{128, 200, 64};
    double ms = 0;
    run_cuda(make_problem<float>(s, 0), timed_calls, &ms);
    // Least traffic: forward reads u twice and writes h; backward reads dL/dh twice and h, writes dL/du.
    const double bytes = 7.0 * s.batch * s.length * 2 * s.state * sizeof(float);
    std::printf("RESULT scan_cuda_fused %.6f\n", ms / 1e3);
    std::printf(
        "fp32 B 128 L 200 N 64, forward + backward: %.4f ms per call (mean of %d), %.0f GB/s of the "
        "least traffic\n",
        ms, timed_calls, bytes / (ms / 1e3) / 1e9);
    if (!ok) std::printf("FAILED: the CUDA kernels differ from the emulation of their launch\n");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_lru_scan_cuda: %s\n", e.what());
    return 1;
  }
}
