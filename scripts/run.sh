#!/usr/bin/env bash
# The main job on the embedded default: the synthetic dataset through the pipeline that exists so far
# (stage 1: train_lrurec, which exports the ranker's candidates). Set-up is idempotent. Each run writes
# to its own folder under runs/synthetic/; extra arguments are overrides for train_lrurec.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
build="${LREC_BUILD_DIR:-$root/build}"
cd "$root"
run_dir="runs/synthetic/$(date +%Y%m%d-%H%M%S)"
"$build/trainers/train_lrurec" --config configs/synthetic/lrurec.yaml output_dir="$run_dir/lrurec" "$@"
echo "stage 1 (retriever) results: $run_dir/lrurec/test_metrics.json, candidates: $run_dir/lrurec/candidates.safetensors"
