"""Reads a checkpoint that the C++ save_hf_checkpoint / train_sentencepiece wrote, for the C++ export test.

usage: hf_export_check.py MODEL_DIR TEXTS.json IDS.safetensors OUT_DIR
  MODEL_DIR        config.json, model.safetensors, tokenizer.model
  TEXTS.json       a list of strings, encoded with Python sentencepiece (no BOS/EOS)
  IDS.safetensors  ids_0, ids_1, ... int64 [1, T], run through transformers' LlamaForCausalLM (fp32, eager)
Writes OUT_DIR/ids.json (the encodings) and OUT_DIR/logits.safetensors (logits_i [1, T, V]).
Exit code 77 when torch, safetensors, transformers or sentencepiece is not importable (the test then skips).
"""
import json
import os
import sys

try:
    import sentencepiece as spm
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import LlamaForCausalLM
    from transformers.utils import logging as hf_logging
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)


def main():
    model_dir, texts_file, ids_file, out_dir = sys.argv[1:5]
    torch.set_num_threads(1)
    hf_logging.disable_progress_bar()
    os.makedirs(out_dir, exist_ok=True)

    sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
    with open(texts_file, encoding="utf-8") as f:
        texts = json.load(f)
    with open(os.path.join(out_dir, "ids.json"), "w", encoding="utf-8") as f:
        json.dump([sp.encode(t) for t in texts], f)

    model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    inputs = load_file(ids_file)
    out = {}
    with torch.no_grad():
        for name, ids in inputs.items():
            out[name.replace("ids_", "logits_")] = model(input_ids=ids).logits.float().contiguous()
    save_file(out, os.path.join(out_dir, "logits.safetensors"))
    print("ok")


if __name__ == "__main__":
    main()
