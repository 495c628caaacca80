#!/usr/bin/env bash
# The main job on the embedded default. Set-up is idempotent; extra arguments go to the pipeline.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
build="${LREC_BUILD_DIR:-$root/build}"
"$build/core/lrec_info" "$@"
