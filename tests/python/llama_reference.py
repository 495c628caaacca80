"""Golden logits from transformers' LlamaForCausalLM for the C++ Llama parity tests.

usage: llama_reference.py OUT_DIR
Writes one Hugging Face checkpoint per case into OUT_DIR/<case>/ (config.json + weights, in the case's
disk dtype, some sharded) and OUT_DIR/<case>/golden.safetensors with
  padded_ids [B, T], padded_mask [B, T]  left-padded batch;  padded_fp32, padded_bf16 [B, T, V] logits
  ids [B, T] (no padding);                                   fp32, bf16 [B, T, V] logits
Exit code 77 when torch, safetensors or transformers is not importable (the C++ test then skips).
"""
import json
import os
import sys

try:
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)

BASE = dict(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0, initializer_range=0.2)

# name -> (config overrides, disk dtype, shards)
CASES = {
    "mha_untied": (dict(num_key_value_heads=4, tie_word_embeddings=False), torch.float32, 1),
    "gqa_tied_bf16_disk": (dict(num_key_value_heads=2, tie_word_embeddings=True), torch.bfloat16, 1),
    "mqa_llama3_bias": (dict(num_key_value_heads=1, attention_bias=True, mlp_bias=True,
                             rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0,
                                                  low_freq_factor=1.0, high_freq_factor=4.0,
                                                  original_max_position_embeddings=8)),
                        torch.float16, 1),
    "gqa_linear_head_dim_sharded": (dict(num_key_value_heads=2, head_dim=16,
                                         rope_scaling=dict(type="linear", factor=2.0)), torch.float32, 3),
    "mha_dynamic": (dict(num_key_value_heads=4, max_position_embeddings=8,
                         rope_scaling=dict(type="dynamic", factor=2.0)), torch.float32, 1),
}


def save_sharded(state, out, shards):
    names = sorted(state)
    if shards == 1:
        save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
        return
    weight_map = {}
    for s in range(shards):
        part = {n: state[n] for n in names[s::shards]}
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file(part, os.path.join(out, file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)


def logits(model, ids, mask=None):
    position_ids = None
    if mask is not None:
        position_ids = (mask.cumsum(1) - 1).clamp_min(0)
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask, position_ids=position_ids).logits.float()


def write_case(name, overrides, disk_dtype, shards, out_root, seed):
    torch.manual_seed(seed)
    cfg = LlamaConfig(**{**BASE, **overrides}, dtype="float32")
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # non-trivial norms and biases; weights rounded to the disk dtype
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif pname.endswith(".bias"):
                p.copy_(0.2 * torch.randn_like(p))
            p.copy_(p.to(disk_dtype).float())
    out = os.path.join(out_root, name)
    os.makedirs(out, exist_ok=True)
    cfg.dtype = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}[disk_dtype]
    cfg.to_json_file(os.path.join(out, "config.json"))
    if "rope_scaling" in overrides:  # transformers 5 writes rope_parameters; keep the older spelling too
        with open(os.path.join(out, "config.json")) as f:
            text = json.load(f)
        rope = text.pop("rope_parameters")
        text["rope_theta"] = rope.pop("rope_theta")
        text["rope_scaling"] = {"type": rope.pop("rope_type"), **rope}
        text["torch_dtype"] = text.pop("dtype")
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(text, f, indent=2)
    state = {k: v.to(disk_dtype).contiguous() for k, v in model.state_dict().items()}
    if cfg.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    save_sharded(state, out, shards)

    T = 12 if name != "mha_dynamic" else 20  # dynamic: past max_position_embeddings
    ids = torch.randint(0, cfg.vocab_size, (2, T))
    padded = torch.randint(0, cfg.vocab_size, (3, T))
    mask = torch.ones(3, T, dtype=torch.long)
    mask[1, :3] = 0
    mask[2, :7] = 0
    padded = padded.masked_fill(mask == 0, 0)
    golden = {"ids": ids, "padded_ids": padded, "padded_mask": mask}
    model.config._attn_implementation = "eager"  # the formula, in fp32
    golden["fp32"] = logits(model, ids)
    golden["padded_fp32"] = logits(model, padded, mask)
    model = model.to(torch.bfloat16)
    model.config._attn_implementation = "sdpa"
    golden["bf16"] = logits(model, ids)
    golden["padded_bf16"] = logits(model, padded, mask)
    save_file({k: v.contiguous() for k, v in golden.items()}, os.path.join(out, "golden.safetensors"))


def main():
    torch.set_num_threads(1)
    out_root = sys.argv[1]
    for i, (name, (overrides, disk_dtype, shards)) in enumerate(CASES.items()):
        write_case(name, overrides, disk_dtype, shards, out_root, seed=100 + i)
    print("ok")


if __name__ == "__main__":
    main()
