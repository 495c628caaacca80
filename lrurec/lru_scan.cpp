#include "lrurec/lru_scan.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "core/build_config.h"
#include "core/error.h"
#include "lrurec/lru_scan_params.h"

#if LREC_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace lrec::lrurec {

namespace {

// u [..., 2N] and λ [2N]: dtypes and devices.
void check_values(const at::Tensor& u, const at::Tensor& lambda) {
  if (u.size(-1) % 2 != 0)
    fail("lru_scan: u's last dimension must be 2N (even), got {}", c10::str(u.sizes()));
  if (lambda.dim() != 1 || lambda.size(0) != u.size(-1)) {
    fail("lru_scan: lambda must be [2N] = [{}], got {}", u.size(-1), c10::str(lambda.sizes()));
  }
  if (u.scalar_type() != at::kFloat && u.scalar_type() != at::kDouble) {
    fail("lru_scan: u must be float32 or float64, got {}", c10::toString(u.scalar_type()));
  }
  if (lambda.scalar_type() != u.scalar_type()) fail("lru_scan: lambda and u must have the same dtype");
  if (lambda.device() != u.device()) fail("lru_scan: u and lambda must be on the same device");
}

void check_inputs(const at::Tensor& u, const at::Tensor& lambda, const at::Tensor& mask) {
  if (u.dim() != 3) fail("lru_scan: u must be [B, L, 2N], got {}", c10::str(u.sizes()));
  check_values(u, lambda);
  if (mask.dim() != 2 || mask.size(0) != u.size(0) || mask.size(1) != u.size(1)) {
    fail("lru_scan: mask must be [B, L] = [{}, {}], got {}", u.size(0), u.size(1), c10::str(mask.sizes()));
  }
  if (mask.device() != u.device()) fail("lru_scan: u, lambda and mask must be on the same device");
}

// Complex view helpers for the reference kernels.
at::Tensor to_complex(const at::Tensor& split) {  // [..., 2N] -> complex [..., N]
  const int64_t n = split.size(-1) / 2;
  return at::complex(split.narrow(-1, 0, n), split.narrow(-1, n, n));
}
at::Tensor to_split(const at::Tensor& complex) { return at::cat({at::real(complex), at::imag(complex)}, -1); }

at::Tensor scan_sequential(const at::Tensor& u, const at::Tensor& lambda, const at::Tensor& mask) {
  const at::Tensor uc = to_complex(u);                     // [B, L, N]
  const at::Tensor lam = to_complex(lambda);               // [N]
  const at::Tensor m = mask.to(uc.dtype()).unsqueeze(-1);  // [B, L, 1]
  std::vector<at::Tensor> hs;
  at::Tensor h = uc.select(1, 0);
  hs.push_back(h);
  for (int64_t t = 1; t < uc.size(1); ++t) {
    h = lam * (m.select(1, t - 1) * h) + uc.select(1, t);
    hs.push_back(h);
  }
  return to_split(at::stack(hs, 1));
}

// The official LRURec parallel scan: left-pad to a power of two, then log2(L) levels; at level i blocks of
// l = 2^i positions add λ^{1..l/2} times the last state of their first half to their second half, the carry
// masked by the token mask at that position. Powers of λ are built by repeated multiplication, as there.
at::Tensor scan_log_depth(const at::Tensor& u, const at::Tensor& lambda, const at::Tensor& mask) {
  const int64_t B = u.size(0), L = u.size(1);
  int64_t levels = 0;
  while ((int64_t{1} << levels) < L) ++levels;
  const int64_t padded = int64_t{1} << levels;
  at::Tensor h = to_complex(at::constant_pad_nd(u, {0, 0, padded - L, 0}));       // [B, P, N]
  const at::Tensor m = at::constant_pad_nd(mask.to(u.dtype()), {padded - L, 0});  // [B, P]
  const int64_t N = h.size(2);
  at::Tensor lam = to_complex(lambda).unsqueeze(0);  // [1, N]: λ^1
  for (int64_t i = 1; i <= levels; ++i) {
    const int64_t l = int64_t{1} << i;
    h = h.reshape({B * padded / l, l, N});
    const at::Tensor mi = m.reshape({B * padded / l, l});
    const at::Tensor h1 = h.narrow(1, 0, l / 2), h2 = h.narrow(1, l / 2, l / 2);
    if (i > 1) lam = at::cat({lam, lam * lam.narrow(0, lam.size(0) - 1, 1)}, 0);  // [l/2, N]: λ^1..λ^{l/2}
    const at::Tensor carry = h1.narrow(1, l / 2 - 1, 1) * mi.narrow(1, l / 2 - 1, 1).unsqueeze(-1);
    h = at::cat({h1, h2 + lam * carry}, 1);
  }
  return to_split(h.reshape({B, padded, N}).narrow(1, padded - L, L));
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The fused CPU kernels on packed positions: u [P, 2N], carry [P] (uint8), row_begin [S + 1] (int64).
class CpuScan : public torch::autograd::Function<CpuScan> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u_in, const at::Tensor& lambda_in,
                            const at::Tensor& carry, const at::Tensor& row_begin) {
    const at::Tensor u = u_in.contiguous(), lambda = lambda_in.contiguous();
    at::Tensor h = at::empty_like(u);
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "lru_scan_forward", [&] {
      PackedScanForwardParams<scalar_t> p;
      p.sequences = row_begin.size(0) - 1;
      p.state = u.size(1) / 2;
      p.row_begin = row_begin.const_data_ptr<int64_t>();
      p.carry = carry.const_data_ptr<uint8_t>();
      p.u = u.const_data_ptr<scalar_t>();
      p.lambda = lambda.const_data_ptr<scalar_t>();
      p.h = h.mutable_data_ptr<scalar_t>();
      scan_forward_cpu(p);
    });
    ctx->save_for_backward({h, lambda, carry, row_begin});
    return h;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &h = saved[0], &lambda = saved[1], &carry = saved[2], &row_begin = saved[3];
    const at::Tensor grad_h = grad_outputs[0].contiguous();
    at::Tensor grad_u = at::empty_like(h);
    at::Tensor grad_lambda_rows = at::empty({row_begin.size(0) - 1, h.size(1)}, h.options());  // [S, 2N]
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lru_scan_backward", [&] {
      PackedScanBackwardParams<scalar_t> p;
      p.sequences = row_begin.size(0) - 1;
      p.state = h.size(1) / 2;
      p.row_begin = row_begin.const_data_ptr<int64_t>();
      p.carry = carry.const_data_ptr<uint8_t>();
      p.grad_h = grad_h.const_data_ptr<scalar_t>();
      p.h = h.const_data_ptr<scalar_t>();
      p.lambda = lambda.const_data_ptr<scalar_t>();
      p.grad_u = grad_u.mutable_data_ptr<scalar_t>();
      p.grad_lambda = grad_lambda_rows.mutable_data_ptr<scalar_t>();
      scan_backward_cpu(p);
    });
    return {grad_u, grad_lambda_rows.sum(0), at::Tensor(), at::Tensor()};
  }
};

// The fused CUDA kernels on the dense [B, L, 2N] layout.
class CudaScan : public torch::autograd::Function<CudaScan> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u_in, const at::Tensor& lambda_in,
                            const at::Tensor& mask_in) {
    const at::Tensor u = u_in.contiguous(), lambda = lambda_in.contiguous();
    const at::Tensor mask = mask_in.to(at::kByte).contiguous();
    at::Tensor h = at::empty_like(u);
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "lru_scan_forward", [&] {
      ScanForwardParams<scalar_t> p;
      p.batch = u.size(0);
      p.length = u.size(1);
      p.state = u.size(2) / 2;
      p.u = u.data_ptr<scalar_t>();
      p.lambda = lambda.data_ptr<scalar_t>();
      p.mask = mask.data_ptr<uint8_t>();
      p.h = h.data_ptr<scalar_t>();
      run_forward(p, u.device());
    });
    ctx->save_for_backward({h, lambda, mask});
    return h;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& h = saved[0];
    const at::Tensor& lambda = saved[1];
    const at::Tensor& mask = saved[2];
    const at::Tensor grad_h = grad_outputs[0].contiguous();
    at::Tensor grad_u = at::empty_like(h);
    at::Tensor grad_lambda_rows = at::empty({h.size(0), h.size(2)}, h.options());  // [B, 2N]
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lru_scan_backward", [&] {
      ScanBackwardParams<scalar_t> p;
      p.batch = h.size(0);
      p.length = h.size(1);
      p.state = h.size(2) / 2;
      p.grad_h = grad_h.data_ptr<scalar_t>();
      p.h = h.data_ptr<scalar_t>();
      p.lambda = lambda.data_ptr<scalar_t>();
      p.mask = mask.data_ptr<uint8_t>();
      p.grad_u = grad_u.data_ptr<scalar_t>();
      p.grad_lambda = grad_lambda_rows.data_ptr<scalar_t>();
      run_backward(p, h.device());
    });
    return {grad_u, grad_lambda_rows.sum(0), at::Tensor()};
  }

 private:
  template <class T>
  static void run_forward(const ScanForwardParams<T>& p, const at::Device& device) {
#if LREC_WITH_CUDA
    if (device.is_cuda()) return scan_forward_cuda(p, at::cuda::getCurrentCUDAStream().stream());
#endif
    fail("lru_scan: no fused kernel for device {} in this build (CUDA kernels: {})", device.str(), kHasCuda);
  }
  template <class T>
  static void run_backward(const ScanBackwardParams<T>& p, const at::Device& device) {
#if LREC_WITH_CUDA
    if (device.is_cuda()) return scan_backward_cuda(p, at::cuda::getCurrentCUDAStream().stream());
#endif
    fail("lru_scan: no fused kernel for device {} in this build (CUDA kernels: {})", device.str(), kHasCuda);
  }
  static constexpr bool kHasCuda = LREC_WITH_CUDA;
};

// The dense batch as packed positions: every position, one sequence per row.
PackedPositions dense_positions(const at::Tensor& mask) {
  const at::Tensor all = at::ones(mask.sizes(), mask.options().dtype(at::kBool));
  return pack_positions(mask, all);
}

}  // namespace

ScanKernel parse_scan_kernel(const std::string& name) {
  if (name == "fused") return ScanKernel::kFused;
  if (name == "log_depth") return ScanKernel::kLogDepth;
  if (name == "sequential") return ScanKernel::kSequential;
  fail("unknown scan kernel '{}': use fused, log_depth or sequential", name);
}

at::Tensor lru_scan(const at::Tensor& u, const at::Tensor& lambda, const at::Tensor& mask,
                    ScanKernel kernel) {
  check_inputs(u, lambda, mask);
  switch (kernel) {
    case ScanKernel::kFused:
      if (u.device().is_cpu()) {
        const PackedPositions positions = dense_positions(mask);
        const at::Tensor u_rows = u.reshape({u.size(0) * u.size(1), u.size(2)});
        return CpuScan::apply(u_rows, lambda, positions.carry, positions.row_begin).view(u.sizes());
      }
      return CudaScan::apply(u, lambda, mask);
    case ScanKernel::kLogDepth:
      return scan_log_depth(u, lambda, mask);
    case ScanKernel::kSequential:
      return scan_sequential(u, lambda, mask);
  }
  fail("internal: unhandled scan kernel");
}

PackedPositions pack_positions(const at::Tensor& mask, const at::Tensor& keep) {
  const int64_t B = mask.size(0), L = mask.size(1);
  if (L == 0) fail("lru_scan: empty sequences (L = 0)");
  if ((mask & ~keep).any().item<bool>())
    fail("lru_scan: `keep` leaves out real positions (mask true); the scan needs them all");
  PackedPositions p;
  p.batch = B;
  p.length = L;
  p.mask = mask;
  p.index = keep.reshape(-1).nonzero().squeeze(1);
  // Position t continues the state of t − 1 when t − 1 is real, which then is kept: the previous row.
  const at::Tensor previous_real = at::constant_pad_nd(mask.narrow(1, 0, L - 1), {1, 0}).to(at::kByte);
  p.carry = previous_real.reshape(-1).index_select(0, p.index).contiguous();
  p.row_begin = at::constant_pad_nd(keep.sum(1).cumsum(0), {1, 0}).contiguous();  // [B + 1] int64
  return p;
}

at::Tensor lru_scan_packed(const at::Tensor& u, const at::Tensor& lambda, const PackedPositions& positions,
                           ScanKernel kernel) {
  if (u.dim() != 2 || u.size(0) != positions.index.size(0))
    fail("lru_scan_packed: u must be [P, 2N] with P = {} kept positions, got {}", positions.index.size(0),
         c10::str(u.sizes()));
  check_values(u, lambda);
  if (kernel == ScanKernel::kFused && u.device().is_cpu())
    return CpuScan::apply(u, lambda, positions.carry, positions.row_begin);
  const int64_t B = positions.batch, L = positions.length, N2 = u.size(1);
  // The other kernels run on the dense layout; the zeros outside the kept positions never reach them.
  const at::Tensor u_dense = at::zeros({B * L, N2}, u.options()).index_copy(0, positions.index, u);
  const at::Tensor h_dense = lru_scan(u_dense.view({B, L, N2}), lambda, positions.mask, kernel);
  return h_dense.view({B * L, N2}).index_select(0, positions.index);
}

}  // namespace lrec::lrurec
