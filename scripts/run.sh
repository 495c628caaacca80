#!/usr/bin/env bash
# The main job on the embedded default: the two-stage LlamaRec pipeline on the built-in synthetic dataset.
#   stage 1: train_lrurec trains the LRURec retriever and exports each user's top-20 candidates;
#   stage 2: make_tiny_llama writes a tiny random Llama with a tokenizer trained on the titles (once), and
#            finetune_ranker LoRA-fine-tunes it to rank the candidates, then prints stage-1 and stage-2
#            metrics side by side on the same users.
# Set-up is idempotent. Each run writes to its own folder under runs/synthetic/. Extra arguments are
# overrides for finetune_ranker (e.g. train.max_steps=200); LRUREC_OVERRIDES holds train_lrurec's.
# RANKER_CONFIG picks another ranker config, e.g. the pretrained ranker of the README (about 40 minutes):
#   scripts/get_smollm2.sh && RANKER_CONFIG=configs/synthetic/ranker_smollm2.yaml scripts/run.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
build="${LREC_BUILD_DIR:-$root/build}"
cd "$root"
run_dir="runs/synthetic/$(date +%Y%m%d-%H%M%S)"
# shellcheck disable=SC2086  # LRUREC_OVERRIDES is a list of key=value words
"$build/trainers/train_lrurec" --config configs/synthetic/lrurec.yaml output_dir="$run_dir/lrurec" ${LRUREC_OVERRIDES:-}
"$build/llm_ranker/make_tiny_llama" --config configs/synthetic/tiny_llama.yaml
"$build/trainers/finetune_ranker" --config "${RANKER_CONFIG:-configs/synthetic/ranker.yaml}" output_dir="$run_dir/ranker" \
  candidates="$run_dir/lrurec/candidates.safetensors" "$@"
echo "stage 1 (retriever): $run_dir/lrurec/test_metrics.json"
echo "stage 2 (ranker):    $run_dir/ranker/test_metrics.json, adapter: $run_dir/ranker/best_adapter"
