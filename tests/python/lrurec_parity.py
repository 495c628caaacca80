"""Runs the official-style LRURec (bench/lrurec_reference.py) on our C++ model's weights.

usage: lrurec_parity.py IN.safetensors OUT.safetensors [--dtype float32|float64]

IN holds our parameters under their C++ names (token.weight, bias, layer_norm.*,
blocks.{i}.lru_layer.{nu_log, theta_log, gamma_log, in_weight_real, ...}, blocks.{i}.feed_forward.*),
plus `tokens` [B, L] (left-padded, 0 = padding) and `labels` [B, L] (0 = ignored).

The script copies them onto the reference model's complex parameters, runs it in eval mode, and writes
to OUT: `scores` [B, L, num_items + 1] at every position, `loss` (CrossEntropyLoss(ignore_index=0)) and
`grad/<C++ name>` for every C++ parameter, mapped back to the split real/imaginary layout.
--dtype float64 runs the reference in double: a diagnostic of how far fp32 rounding alone moves it.
Exit code 77 when torch or safetensors is not importable (the C++ test then skips).
"""
import argparse
import os
import re
import sys

try:
    import torch
    from safetensors.torch import load_file, save_file
except ImportError as e:  # the C++ test reports the skip
    print(f"skip: {e}")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from lrurec_reference import LRURec, loss_fn  # noqa: E402


def check_complex_grad_convention():
    """PyTorch's gradient of a real loss w.r.t. a complex leaf z = x + iy is dL/dx + i dL/dy.

    For L = Re(a z) = Re(a) x − Im(a) y that is conj(a); the mapping below relies on it.
    """
    a = torch.tensor([0.3 - 1.7j, -2.0 + 0.5j], dtype=torch.cdouble)
    z = torch.tensor([1.0 + 2.0j, -0.5 + 0.25j], dtype=torch.cdouble, requires_grad=True)
    (a * z).real.sum().backward()
    assert torch.allclose(z.grad, a.conj()), (z.grad, a.conj())


def block_count(ours):
    return 1 + max(int(m.group(1)) for name in ours if (m := re.match(r"blocks\.(\d+)\.", name)))


def complex_of(ours, prefix):
    return torch.complex(ours[prefix + "_real"], ours[prefix + "_imag"])


def reference_weights(ours, blocks):
    """Our tensors -> the reference model's state dict (official names and complex layout)."""
    ref = {
        "embedding.token.weight": ours["token.weight"],
        "embedding.layer_norm.weight": ours["layer_norm.weight"],
        "embedding.layer_norm.bias": ours["layer_norm.bias"],
        "model.bias": ours["bias"],
    }
    for i in range(blocks):
        lru, ffn = f"blocks.{i}.lru_layer.", f"blocks.{i}.feed_forward."
        to = f"model.lru_blocks.{i}."
        ref[to + "lru_layer.params_log"] = torch.stack(
            [ours[lru + "nu_log"], ours[lru + "theta_log"], ours[lru + "gamma_log"]]
        )
        ref[to + "lru_layer.in_proj.weight"] = complex_of(ours, lru + "in_weight")
        ref[to + "lru_layer.in_proj.bias"] = complex_of(ours, lru + "in_bias")
        ref[to + "lru_layer.out_proj.weight"] = complex_of(ours, lru + "out_weight")
        # Im(c) cannot reach Re(C h + c); ours has no such parameter, so it is 0 here.
        out_bias = ours[lru + "out_bias"]
        ref[to + "lru_layer.out_proj.bias"] = torch.complex(out_bias, torch.zeros_like(out_bias))
        for part in ("weight", "bias"):
            ref[to + f"lru_layer.layer_norm.{part}"] = ours[lru + f"layer_norm.{part}"]
            for name in ("w_1", "w_2", "layer_norm"):
                ref[to + f"feed_forward.{name}.{part}"] = ours[ffn + f"{name}.{part}"]
    return ref


def our_grads(params, blocks):
    """The reference model's gradients -> our names and split layout."""
    g = {name: p.grad for name, p in params.items()}
    out = {
        "token.weight": g["embedding.token.weight"],
        "layer_norm.weight": g["embedding.layer_norm.weight"],
        "layer_norm.bias": g["embedding.layer_norm.bias"],
        "bias": g["model.bias"],
    }
    for i in range(blocks):
        lru, ffn = f"blocks.{i}.lru_layer.", f"blocks.{i}.feed_forward."
        src = f"model.lru_blocks.{i}."
        nu, theta, gamma = g[src + "lru_layer.params_log"]
        out.update({lru + "nu_log": nu, lru + "theta_log": theta, lru + "gamma_log": gamma})
        for ours_prefix, theirs in (("in_weight", "in_proj.weight"), ("in_bias", "in_proj.bias"),
                                    ("out_weight", "out_proj.weight")):
            grad = g[src + "lru_layer." + theirs]
            out[lru + ours_prefix + "_real"] = grad.real
            out[lru + ours_prefix + "_imag"] = grad.imag
        out[lru + "out_bias"] = g[src + "lru_layer.out_proj.bias"].real
        for part in ("weight", "bias"):
            out[lru + f"layer_norm.{part}"] = g[src + f"lru_layer.layer_norm.{part}"]
            for name in ("w_1", "w_2", "layer_norm"):
                out[ffn + f"{name}.{part}"] = g[src + f"feed_forward.{name}.{part}"]
    return out


def to_float64(model):
    model.double()  # converts the real parameters only
    for module in model.modules():
        for name, p in list(module.named_parameters(recurse=False)):
            if p.is_complex():
                setattr(module, name, torch.nn.Parameter(p.detach().to(torch.cdouble)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    check_complex_grad_convention()

    ours = load_file(args.input)
    tokens, labels = ours.pop("tokens").long(), ours.pop("labels").long()
    blocks = block_count(ours)
    num_items, hidden = ours["token.weight"].shape[0] - 1, ours["token.weight"].shape[1]

    model = LRURec(num_items, hidden=hidden, blocks=blocks)
    weights = reference_weights(ours, blocks)
    assert sorted(weights) == sorted(n for n, _ in model.named_parameters()), "name mapping is incomplete"
    model.load_state_dict(weights, strict=True)
    if args.dtype == "float64":  # a diagnostic: which side does fp32 rounding move?
        to_float64(model)
    model.eval()  # no dropout

    scores = model(tokens)
    loss = loss_fn(scores, labels)
    loss.backward()

    grads = our_grads(dict(model.named_parameters()), blocks)
    assert sorted(grads) == sorted(ours), "gradient mapping does not cover our parameters"
    out = {"scores": scores.detach().float(), "loss": loss.detach().double()}
    out.update({f"grad/{name}": grad.detach().float().contiguous() for name, grad in grads.items()})
    save_file(out, args.output)
    print(f"lrurec_parity: loss {loss.item():.8f} ({args.dtype}), {len(grads)} gradients written")


if __name__ == "__main__":
    main()
