#!/usr/bin/env bash
# The test command: set-up (idempotent), build, then every test through ctest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh" --test
cd "${LREC_BUILD_DIR:-$root/build}"
exec ctest --output-on-failure -j"$(nproc)" "$@"
