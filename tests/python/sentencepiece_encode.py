"""Encodes and decodes strings with the Python `sentencepiece` package, for the C++ tokenizer test.

usage: sentencepiece_encode.py TOKENIZER.model IN.json OUT.json
IN.json is a list of strings; OUT.json gets {"ids": [[...], ...], "decoded": [...]} (no BOS/EOS).
Exit code 77 when sentencepiece is not importable (the C++ test then skips).
"""
import json
import sys

try:
    import sentencepiece as spm
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)


def main():
    sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        texts = json.load(f)
    ids = [sp.encode(t) for t in texts]
    with open(sys.argv[3], "w", encoding="utf-8") as f:
        json.dump({"ids": ids, "decoded": [sp.decode(i) for i in ids]}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
