"""Hugging Face PEFT on adapters that the C++ save_peft_adapter wrote, for the C++ LoRA parity test.

usage: peft_parity.py base OUT_DIR
           writes a tiny random Hugging Face Llama checkpoint into OUT_DIR (as llama_reference.py does)
       peft_parity.py logits BASE_DIR ADAPTER_DIR IDS_FILE OUT_FILE
           loads LlamaForCausalLM(BASE_DIR) + PeftModel.from_pretrained(ADAPTER_DIR) and writes the fp32
           logits [B, T, V] of `ids` (from IDS_FILE) to OUT_FILE as "logits"
Exit code 77 when torch, safetensors, transformers or peft is not importable (the C++ test then skips).
"""
import os
import sys

try:
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file, save_file
    from transformers import LlamaForCausalLM

    import llama_reference
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)


def write_base(out_dir):
    overrides = dict(num_key_value_heads=2, tie_word_embeddings=False)
    llama_reference.write_case("base", overrides, torch.float32, 1, out_dir, seed=7)


def peft_logits(base_dir, adapter_dir, ids_file, out_file):
    model = LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager")
    model = PeftModel.from_pretrained(model, adapter_dir).eval()
    ids = load_file(ids_file)["ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    save_file({"logits": logits.contiguous()}, out_file)


def main():
    torch.set_num_threads(1)
    if sys.argv[1] == "base":
        write_base(sys.argv[2])
    else:
        peft_logits(*sys.argv[2:6])
    print("ok")


if __name__ == "__main__":
    main()
