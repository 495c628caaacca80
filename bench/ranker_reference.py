"""transformers + PEFT reference for bench_ranker: the same LoRA ranker, the same shapes, the same work.

usage: ranker_reference.py --only step|rank [--checkpointing 0|1] [--threads N] [--steps N] [--quick]

Model: LlamaForCausalLM(config) built in bfloat16 (random weights, initializer_range 0.02), wrapped by
peft.get_peft_model with LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules=[q_proj, v_proj]).
PEFT (autocast_adapter_dtype=True, its default) keeps the adapters in float32 on a bf16 base; the script
checks that and casts them to float32 itself if a PEFT version does not.

--only step: LoRA training steps on one random batch (seed 0: torch.randint(0, V, (B, T)), the same ids as
  the C++ bench draws): zero_grad, forward with the logits of the last position only, cross-entropy over
  the full vocabulary against the label's letter id, backward, AdamW(lr 1e-4, betas (0.9, 0.999), eps 1e-8,
  weight decay 0.01) over the adapters. 2 warm-up steps, then the median of --steps. With --checkpointing 1,
  activation checkpointing of every decoder layer (transformers' non-reentrant torch.utils.checkpoint).
  Memory: VmRSS once the model, optimizer and batch are set up, then the kernel's peak-RSS counter is
  reset (/proc/self/clear_refs) and VmHWM read after the steps.
--only rank: eval mode, torch.no_grad(), batches of prompts (seed 1), logits of the last position gathered at
  20 letter ids; 2 warm-up batches, then the median of --steps.

Prints "RESULT <name> <value>" lines (seconds, MB, counts); anything else is informational.
"""
import argparse
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5 renames, called by PEFT

try:
    import torch
    import torch.nn.functional as F
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)

WARMUP = 2
LETTERS = list(range(100, 120))  # 20 candidate letter ids (the C++ bench uses the same)


def shapes(quick):
    if quick:
        return dict(hidden=64, layers=2, heads=4, inter=128, vocab=1000, batch=2, length=64, rank_batch=2,
                    rank_length=64)
    return dict(hidden=768, layers=12, heads=12, inter=2048, vocab=32000, batch=4, length=512, rank_batch=8,
                rank_length=512)


def status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def time_calls(steps, fn):
    """(median, min, max) seconds of `steps` calls after WARMUP untimed ones."""
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def build(s, checkpointing):
    cfg = LlamaConfig(hidden_size=s["hidden"], intermediate_size=s["inter"], num_hidden_layers=s["layers"],
                      num_attention_heads=s["heads"], num_key_value_heads=s["heads"], vocab_size=s["vocab"],
                      max_position_embeddings=2048, tie_word_embeddings=False, attention_dropout=0.0)
    model = LlamaForCausalLM._from_config(cfg, dtype=torch.bfloat16)
    if checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(r=8, lora_alpha=32, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                      bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    trainable = [p for p in model.parameters() if p.requires_grad]
    dtypes = sorted({str(p.dtype) for p in trainable})
    if dtypes != ["torch.float32"]:
        for p in trainable:
            p.data = p.data.float()
        print(f"adapters were {dtypes} after get_peft_model: cast to float32")
    else:
        print("adapters: float32 as PEFT made them (autocast_adapter_dtype)")
    print(f"attention implementation: {model.config._attn_implementation}")
    return model, trainable


def bench_step(args, s):
    torch.manual_seed(0)
    ids = torch.randint(0, s["vocab"], (s["batch"], s["length"]))
    model, trainable = build(s, args.checkpointing)
    model.train()
    mask = torch.ones_like(ids)
    labels = torch.tensor([(7 * b) % len(LETTERS) for b in range(s["batch"])])
    target = torch.tensor(LETTERS)[labels]
    opt = torch.optim.AdamW(trainable, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=1)
        loss = F.cross_entropy(out.logits[:, -1].float(), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    print(f"RESULT ids_sum {int(ids.sum())}")
    print(f"RESULT trainable_params {sum(p.numel() for p in trainable)}")
    print(f"RESULT rss_model_mb {status_mb('VmRSS'):.1f}", flush=True)
    reset = reset_peak_rss()
    seconds, fastest, slowest = time_calls(args.steps, step)
    print(f"RESULT step_s {seconds:.6f}")
    print(f"RESULT step_min_s {fastest:.6f}")
    print(f"RESULT step_max_s {slowest:.6f}")
    print(f"RESULT loss0 {losses[0]:.6f}")
    print(f"RESULT loss_last {losses[-1]:.6f}")
    print(f"RESULT rss_peak_mb {status_mb('VmHWM'):.1f}")
    print(f"RESULT peak_reset {int(reset)}", flush=True)


def bench_rank(args, s):
    torch.manual_seed(0)
    torch.randint(0, s["vocab"], (s["batch"], s["length"]))  # the training ids: same weights as --only step
    model, _ = build(s, False)
    model.eval()
    torch.manual_seed(1)
    ids = torch.randint(0, s["vocab"], (s["rank_batch"], s["rank_length"]))
    mask = torch.ones_like(ids)
    letters = torch.tensor(LETTERS)
    with torch.no_grad():
        def rank():
            logits = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=1).logits
            return logits[:, -1].index_select(1, letters).float()

        seconds, fastest, slowest = time_calls(args.steps, rank)
        scores = rank()
    print(f"RESULT rank_ids_sum {int(ids.sum())}")
    print(f"RESULT rank_s {seconds:.6f}")
    print(f"RESULT rank_min_s {fastest:.6f}")
    print(f"RESULT rank_max_s {slowest:.6f}")
    print(f"RESULT rank_score_std {scores.std().item():.6f}", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", choices=["step", "rank"], required=True)
    p.add_argument("--checkpointing", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    s = shapes(args.quick)
    if args.only == "step":
        bench_step(args, s)
    else:
        bench_rank(args, s)


if __name__ == "__main__":
    main()
