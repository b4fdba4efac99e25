#!/usr/bin/env bash
# Peer benchmark entry point: edgeid vs FAISS IndexFlatIP vs usearch exact search.
# Usage: benches/peers/run.sh [--gallery 10000,100000[,1000000]] [--dim 512] [--queries 200] [peers.py options]
# See benches/peers/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  PY="$(command -v python3.11 || command -v python3 || true)"
fi
if [ -z "$PY" ]; then
  echo "run.sh: no python3 found (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
  echo "run.sh: creating $VENV with $("$PY" --version 2>&1) and installing requirements.txt" >&2
  "$PY" -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  echo "$want" > "$STAMP"
fi

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set machine-wide; they slow
# numpy's and faiss's OpenBLAS. Drop both for the benchmark process only and
# pass their former values along so peers.py can record them.
was="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>}"
exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PEERS_OPENBLAS_WAS="$was" \
  "$VENV/bin/python" "$HERE/peers.py" "$@"
