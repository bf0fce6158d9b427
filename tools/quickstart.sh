#!/usr/bin/env bash
# The README's two commands: set everything up, then train the default
# experiment end to end (`train`) or run the test suite (`test`).
#   bash tools/quickstart.sh train [extra tools/train.py flags]
#   bash tools/quickstart.sh test  [extra pytest flags]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
what="${1:-}"
shift || true
case "$what" in
  train|test) ;;
  *) echo "usage: bash tools/quickstart.sh train|test [args]" >&2; exit 2 ;;
esac
bash tools/setup.sh
PY="${SPIRAL_VENV:-$ROOT/.venv}/bin/python"
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
if [[ "$what" == train ]]; then
  exec "$PY" tools/train.py --config configs/default.json "$@"
fi
exec "$PY" -m pytest -q "$@"
