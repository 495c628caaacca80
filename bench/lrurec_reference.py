"""LRURec (Yue et al., WSDM 2024) in PyTorch eager, written the way the official code writes it.

This is the Python side of two checks:
  - bench/bench_lrurec.cpp runs this file and prints its timings beside ours;
  - tests/python/lrurec_parity.py imports `LRURec` from here as the official-style model that our C++
    model must match with the same weights.

It follows the official implementation (github.com/yueqirex/LRURec, model/lru.py, trainer/) in every
choice that shapes its math or its speed:
  - complex parameters as complex tensors: nn.Linear(...).to(torch.cfloat) for B and C, and ν, θ, γ as
    one real parameter `params_log` of shape [3, N];
  - the sequence is left-padded to a power of two once, before the blocks, and the recurrence is the
    log-depth recursive doubling in tensor ops (`lru_parallel`), with carries masked by the token mask;
  - embedding -> dropout -> LayerNorm; blocks of (LRU layer, position-wise FFN with exact GELU);
    head x Eᵀ + bias at every position;
  - CrossEntropyLoss(ignore_index=0), AdamW (eps 1e-9, weight decay 0.01 except for names that contain
    "bias" or "layer_norm"), clip_grad_norm_ at 5.0.

usage: python bench/lrurec_reference.py [--steps N] [--threads T] [--scan-device cuda]
Prints `RESULT <name> <seconds>` lines on stdout (scan_log_depth, step_ml1m, step_small, and the two steps
under bf16 autocast: step_ml1m_autocast, step_small_autocast; with --scan-device, the scan alone on that
device); everything else goes to stderr.
"""
import argparse
import math
import sys
import time

from bench_common import seconds_per_call
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

# nn.Linear(...).to(torch.cfloat) is what the official code does; PyTorch warns about it on every layer.
warnings.filterwarnings("ignore", message="Complex modules are a new feature")


def truncated_normal_(tensor, std=0.02, bound=0.04):
    """The official initialization: normal(0, std) cut at ±bound, real and imaginary parts separately."""
    with torch.no_grad():
        target = torch.view_as_real(tensor) if tensor.is_complex() else tensor
        nn.init.trunc_normal_(target, mean=0.0, std=std, a=-bound, b=bound)


def lru_parallel(u, lamb, mask):
    """Log-depth linear recurrence h_t = λ ⊙ h_{t-1} + u_t, carries stopped at padding.

    u [B, L, N] complex with L a power of two, lamb [N] complex, mask [B, L] bool (token > 0).
    Level k joins neighbouring blocks of 2^(k-1) positions: every position of the right block adds
    λ^j times the last state of the left block (j = its offset + 1), unless that last position is
    padding. The powers λ^1..λ^(2^(k-1)) are built by repeated multiplication, as the official code does.
    """
    B, L, N = u.shape
    h = u
    powers = lamb.unsqueeze(0)  # [1, N]: λ^1
    half = 1
    while half < L:
        size = 2 * half
        blocks = h.reshape(B * L // size, size, N)
        block_mask = mask.reshape(B * L // size, size)
        left, right = blocks[:, :half], blocks[:, half:]
        carry = left[:, -1:] * block_mask[:, half - 1 : half].unsqueeze(-1)  # [*, 1, N]
        right = right + powers * carry
        h = torch.cat([left, right], dim=1)
        half = size
        if half < L:
            powers = torch.cat([powers, powers * powers[-1]], dim=0)  # λ^1..λ^half
    return h.reshape(B, L, N)


def pad_to_power_of_two(x, mask):
    """Left-pads x [B, L, ...] with zeros and mask [B, L] with False to the next power of two."""
    L = x.size(1)
    extra = (1 << (L - 1).bit_length()) - L
    pad_x = [0, 0] * (x.dim() - 2) + [extra, 0]
    return F.pad(x, pad_x), F.pad(mask, (extra, 0))


class LRUEmbedding(nn.Module):
    def __init__(self, num_items, hidden, dropout):
        super().__init__()
        self.token = nn.Embedding(num_items + 1, hidden)  # row 0 (padding) is an ordinary learned row
        self.embed_dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(hidden)

    def forward(self, tokens):
        return self.layer_norm(self.embed_dropout(self.token(tokens))), tokens > 0


class LRULayer(nn.Module):
    """y = LayerNorm(Dropout(Re(C h + c)) + x), h_t = λ h_{t-1} + γ ⊙ (B x_t + b); state size N = 2d."""

    def __init__(self, d_model, dropout, r_min=0.8, r_max=0.99):
        super().__init__()
        N = 2 * d_model
        # Ring initialization: |λ|² uniform on [r_min², r_max²], phase uniform in [0, 2π).
        u1, u2 = torch.rand(N), torch.rand(N)
        nu_log = torch.log(-0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2))
        theta_log = torch.log(2 * math.pi * u2)
        lamb_abs = torch.exp(-torch.exp(nu_log))
        gamma_log = torch.log(torch.sqrt(1 - lamb_abs**2))
        self.params_log = nn.Parameter(torch.stack([nu_log, theta_log, gamma_log]))  # [3, N]
        self.in_proj = nn.Linear(d_model, N).to(torch.cfloat)  # B, b
        self.out_proj = nn.Linear(N, d_model).to(torch.cfloat)  # C, c
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, x, mask):
        nu, theta, gamma = torch.exp(self.params_log)  # [N] each
        lamb = torch.exp(torch.complex(-nu, theta))
        u = self.in_proj(x.to(self.in_proj.weight.dtype)) * gamma  # [B, L, N] complex (cfloat)
        h = lru_parallel(u, lamb, mask)
        return self.layer_norm(self.dropout(self.out_proj(h).real) + x)


class PositionwiseFeedForward(nn.Module):
    """LN(Dropout(W2 Dropout(GELU(W1 x + b1)) + b2) + x), inner size 4d, exact GELU."""

    def __init__(self, d_model, dropout):
        super().__init__()
        self.w_1 = nn.Linear(d_model, 4 * d_model)
        self.w_2 = nn.Linear(4 * d_model, d_model)
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(d_model)

    def forward(self, x):
        inner = self.dropout(self.activation(self.w_1(x)))
        return self.layer_norm(self.dropout(self.w_2(inner)) + x)


class LRUBlock(nn.Module):
    def __init__(self, d_model, dropout, attn_dropout):
        super().__init__()
        self.lru_layer = LRULayer(d_model, attn_dropout)
        self.feed_forward = PositionwiseFeedForward(d_model, dropout)

    def forward(self, x, mask):
        return self.feed_forward(self.lru_layer(x, mask))


class LRUModel(nn.Module):
    def __init__(self, num_items, hidden, blocks, dropout, attn_dropout):
        super().__init__()
        self.lru_blocks = nn.ModuleList([LRUBlock(hidden, dropout, attn_dropout) for _ in range(blocks)])
        self.bias = nn.Parameter(torch.zeros(num_items + 1))

    def forward(self, x, embedding_weight, mask):
        L = x.size(1)
        x, mask = pad_to_power_of_two(x, mask)  # once, before the blocks, as the official code does
        for block in self.lru_blocks:
            x = block(x, mask)
        x = x[:, -L:]
        return x @ embedding_weight.T + self.bias  # [B, L, num_items + 1]


class LRURec(nn.Module):
    """tokens [B, L] (0 = padding, left-padded) -> scores [B, L, num_items + 1] at every position.

    Parameter names follow the official code (embedding.*, model.lru_blocks.{i}.*, model.bias), which
    the optimizer's no-decay rule relies on.
    """

    def __init__(self, num_items, hidden=64, blocks=2, dropout=0.2, attn_dropout=0.2):
        super().__init__()
        self.embedding = LRUEmbedding(num_items, hidden, dropout)
        self.model = LRUModel(num_items, hidden, blocks, dropout, attn_dropout)
        for name, p in self.named_parameters():
            if "layer_norm" not in name and "params_log" not in name:
                truncated_normal_(p)

    def forward(self, tokens):
        x, mask = self.embedding(tokens)
        return self.model(x, self.embedding.token.weight, mask)


def make_optimizer(model, lr=1e-3, weight_decay=0.01, eps=1e-9):
    """AdamW with the official two groups: no decay for names containing "bias" or "layer_norm"."""
    no_decay = ("bias", "layer_norm")
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if any(word in name for word in no_decay) else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, eps=eps)


def loss_fn(scores, labels):
    """Full-softmax cross-entropy at every position, ignoring label 0."""
    return nn.CrossEntropyLoss(ignore_index=0)(scores.reshape(-1, scores.size(-1)), labels.reshape(-1))


# ----------------------------------------------------------------------------------------------------
# Benchmarks (same shapes and setup as bench/bench_lrurec.cpp)


def random_batch(B, L, num_items):
    """Left-padded training windows (tokens = items[:-1], labels = items[1:], padded alike), lengths
    uniform in [L/4, L]."""
    sequence = torch.randint(1, num_items + 1, (B, L + 1))
    lengths = torch.randint(L // 4, L + 1, (B, 1))
    real = torch.arange(L).unsqueeze(0) >= (L - lengths)
    return sequence[:, :L] * real, sequence[:, 1:] * real


def bench_scan(steps, device="cpu"):
    """The official log-depth scan alone, forward + backward, B 128, L 200, N 64 complex channels."""
    B, L, N = 128, 200, 64
    torch.manual_seed(0)
    u0 = torch.randn(B, L, N, dtype=torch.cfloat)
    r = 0.8 + 0.19 * torch.rand(N)
    phase = 2 * math.pi * torch.rand(N)
    lamb0 = torch.polar(r, phase)
    mask = (random_batch(B, L, 10)[0] > 0).to(device)
    upstream = torch.randn(B, L, N, 2, device=device)

    u, lamb = u0.to(device).requires_grad_(), lamb0.to(device).requires_grad_()

    def call():  # the op alone: forward, then backward from a given dL/dh
        padded_u, padded_mask = pad_to_power_of_two(u, mask)
        h = lru_parallel(padded_u, lamb, padded_mask)[:, -L:]
        torch.autograd.grad(torch.view_as_real(h), (u, lamb), upstream)
        if device != "cpu":
            torch.cuda.synchronize()

    return seconds_per_call(steps, call)


def bench_step(B, L, num_items, steps, autocast=False):
    """A full training step: forward, loss, backward, clipping, AdamW. Prints where the time goes.

    autocast: forward and loss under torch.autocast("cpu", bfloat16), PyTorch's own way to run the
    real-valued products in bf16 (the complex B and C stay complex64: autocast casts no complex op)."""
    torch.manual_seed(0)
    model = LRURec(num_items)
    model.train()
    optimizer = make_optimizer(model)
    tokens, labels = random_batch(B, L, num_items)
    phase = [0.0, 0.0, 0.0, 0.0]
    calls = 0

    def step():
        nonlocal calls
        t0 = time.perf_counter()
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            scores = model(tokens)
            t1 = time.perf_counter()
            loss = loss_fn(scores, labels)
        t2 = time.perf_counter()
        loss.backward()
        t3 = time.perf_counter()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        t4 = time.perf_counter()
        for i, dt in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            phase[i] += dt
        calls += 1

    seconds = seconds_per_call(steps, step)
    forward, loss, backward, update = (seconds / calls for seconds in phase)
    precision = " bf16 autocast" if autocast else ""
    print(
        f"  python B {B} L {L} items {num_items}{precision}: forward {forward:.4f} s, loss {loss:.4f} s, "
        f"backward {backward:.4f} s, clip+AdamW {update:.4f} s",
        file=sys.stderr,
    )
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps after one warm-up")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--no-bf16", action="store_true", help="skip the steps under bf16 autocast")
    parser.add_argument("--scan-device", default="", help="only the scan, on this device (e.g. cuda)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"lrurec_reference: torch {torch.__version__}, {torch.get_num_threads()} threads", file=sys.stderr)
    if args.scan_device:
        print(f"RESULT scan_log_depth {bench_scan(args.steps, args.scan_device):.6f}", flush=True)
        return
    results = [
        ("scan_log_depth", bench_scan(args.steps)),
        ("step_ml1m", bench_step(128, 200, 3416, args.steps)),
        ("step_small", bench_step(16, 200, 3650, args.steps)),
    ]
    if not args.no_bf16:
        results += [
            ("step_ml1m_autocast", bench_step(128, 200, 3416, args.steps, autocast=True)),
            ("step_small_autocast", bench_step(16, 200, 3650, args.steps, autocast=True)),
        ]
    for name, seconds in results:
        print(f"RESULT {name} {seconds:.6f}", flush=True)


if __name__ == "__main__":
    main()
