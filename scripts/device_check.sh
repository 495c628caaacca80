#!/usr/bin/env bash
# The project's GPU checks as one script, for a machine with an NVIDIA GPU, nvcc and PyTorch (such as the
# `device` tool's machine, which has no LibTorch build of this project and no network):
#   1. builds bench/bench_lru_scan_cuda.cu alone with nvcc (no LibTorch), which checks the CUDA scan
#      kernels against the CPU emulation of their launch and times them (fails on any difference);
#   2. times the official log-depth scan in PyTorch on the same GPU (bench/lrurec_reference.py).
# Usage: scripts/device_check.sh [timed_calls=200]; CUDA_ARCH overrides nvcc's -arch (default: native).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/generated/core"
printf '#pragma once\n#define LREC_WITH_CUDA 1\n' >"$work/generated/core/build_config.h"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
nvcc --version | tail -1
nvcc -O3 -std=c++17 -arch="${CUDA_ARCH:-native}" -I"$root" -I"$work/generated" \
  "$root/bench/bench_lru_scan_cuda.cu" "$root/lrurec/cuda/lru_scan.cu" -o "$work/bench_lru_scan_cuda"
"$work/bench_lru_scan_cuda" "${1:-200}"
echo "PyTorch eager, official log-depth scan on the same GPU (forward + backward, same shape):"
(cd "$root/bench" && python3 lrurec_reference.py --scan-device cuda --steps 50)
