#!/usr/bin/env bash
# Idempotent set-up on Debian: system packages, the project venv with the pinned LibTorch, configure and
# build. Fast when everything is already there.
#   scripts/setup.sh          # what the main job needs
#   scripts/setup.sh --test   # also the Python references the tests compare against
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

say() { printf '[setup] %s\n' "$*" >&2; }

# ---- Debian packages ------------------------------------------------------------------------------
apt_packages=(build-essential cmake ninja-build pkg-config ccache python3 python3-venv
  libsentencepiece-dev sentencepiece libyaml-cpp-dev libfmt-dev libgtest-dev nlohmann-json3-dev zlib1g-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- Project venv ---------------------------------------------------------------------------------
venv="$root/.venv"
python="$venv/bin/python"
if [[ ! -x "$python" ]]; then
  say "creating $venv"
  python3 -m venv "$venv"
fi
install_requirements() {  # $1: requirements file; re-installs only when the file changed
  local stamp="$venv/.installed-$(basename "$1")"
  if ! cmp -s "$1" "$stamp" 2>/dev/null; then
    say "installing $(basename "$1") into the venv (LibTorch alone is several GB the first time)"
    "$python" -m pip install -q --disable-pip-version-check -r "$1"
    cp "$1" "$stamp"
  fi
}
install_requirements scripts/requirements.txt
((want_test)) && install_requirements scripts/requirements-test.txt

# ---- Configure and build --------------------------------------------------------------------------
build="${LREC_BUILD_DIR:-$root/build}"
if [[ ! -f "$build/build.ninja" ]]; then
  say "configuring $build"
  cmake -S "$root" -B "$build" -G Ninja -DPython3_EXECUTABLE="$python" >"$root/.cmake-configure.log" 2>&1 ||
    { cat "$root/.cmake-configure.log" >&2; exit 1; }
fi
say "building"
cmake --build "$build" -j"$(nproc)"
