#!/usr/bin/env bash
# The Python side of the vision work (the reference pipeline of scripts/vision-reference.py, the
# Python stages of `edgeid bench vision`): a venv in the cache with pinned onnxruntime, numpy and
# Pillow from PyPI. Prints the venv's python on stdout. Safe to run concurrently and again.
set -euo pipefail
CACHE="${EDGEID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeid}"
VENV="$CACHE/pyenv"
PINS="onnxruntime==1.32.0 numpy==2.4.6 pillow==13.0.0"
mkdir -p "$CACHE"
exec 9>"$CACHE/.pyenv.lock"
flock 9
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PINS" ]; then
  rm -rf "$VENV"
  "$(command -v python3 || command -v python)" -m venv "$VENV" >&2
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install --quiet --only-binary=:all: $PINS >&2
  echo "$PINS" > "$VENV/.pins"
fi
echo "$VENV/bin/python"
