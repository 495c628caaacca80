"""transformers' LlamaForCausalLM timed on the same shapes as bench_llama (random weights, eager, no grad).

usage: llama_reference.py --threads N --steps S --batch B --length T --prompt P --decode N
Prints "RESULT <name> <seconds>": prefill_<dtype> (one B x T forward, last-position logits as in
generate's prefill) and decode_<dtype> (seconds per generated token, batch 1, with the KV cache).
"""
import argparse
import sys
import time

from bench_common import seconds_per_call

try:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)


def main():
    p = argparse.ArgumentParser()
    for name, default in [("threads", 0), ("steps", 2), ("batch", 8), ("length", 512), ("prompt", 128), ("decode", 32)]:
        p.add_argument(f"--{name}", type=int, default=default)
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = LlamaConfig(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
                      num_key_value_heads=4, vocab_size=32000, max_position_embeddings=2048, tie_word_embeddings=False)
    for dtype, name in [(torch.float32, "fp32"), (torch.bfloat16, "bf16")]:
        model = LlamaForCausalLM(cfg).to(dtype).eval()
        ids = torch.randint(0, cfg.vocab_size, (args.batch, args.length))
        prompt = torch.randint(0, cfg.vocab_size, (1, args.prompt))
        with torch.no_grad():
            prefill = seconds_per_call(args.steps, lambda: model(input_ids=ids, logits_to_keep=1))
            print(f"RESULT prefill_{name} {prefill:.6f}", flush=True)

            def decode():
                out = model(input_ids=prompt, use_cache=True, logits_to_keep=1)
                cache, token = out.cache, out.logits[:, -1].argmax(-1, keepdim=True)
                start = time.perf_counter()
                for _ in range(args.decode):
                    out = model(input_ids=token, cache=cache, use_cache=True, logits_to_keep=1)
                    cache, token = out.cache, out.logits[:, -1].argmax(-1, keepdim=True)
                return (time.perf_counter() - start) / args.decode

            decode()  # warm-up
            print(f"RESULT decode_{name} {min(decode() for _ in range(args.steps)):.6f}", flush=True)


if __name__ == "__main__":
    main()
