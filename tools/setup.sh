#!/usr/bin/env bash
# Sets spiral_tf up on Debian/Ubuntu: system packages (apt), a virtual
# environment in .venv and the package in it (editable, with the mujoco and
# dev extras). Safe to run again: each step is skipped when already done.
#   PYTHON=python3.12 bash tools/setup.sh   # choose the interpreter (3.11 or 3.12)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${SPIRAL_VENV:-$ROOT/.venv}"
# libmypaint and its brushes for painting; OSMesa for MuJoCo renders on a CPU.
APT_PACKAGES=(libmypaint-1.5-1 mypaint-brushes libosmesa6)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ! "$PYTHON" -m venv --help >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
if ((${#missing[@]})); then
  cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then
    echo "[setup] installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "[setup] installing system packages with sudo: ${missing[*]}"
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -q
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "[setup] missing system packages: ${missing[*]}" >&2
    echo "[setup] run this as root, then run this script again:" >&2
    echo "    sudo sh -c '$cmd'" >&2
    exit 1
  fi
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating virtual environment $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.spiral_tf_installed"
want="$(cat "$ROOT/setup.cfg" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "[setup] installing spiral_tf and its dependencies into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[mujoco,dev]"
  echo "$want" > "$stamp"
fi
echo "[setup] ready: $VENV/bin/python"
