#!/usr/bin/env bash
# bozorth3 scores of every ordered pair of every set of testdata/fingerprint/fvc2002 (both
# extractors), written to testdata/fingerprint/fvc2002/bozorth3_nbis-py_scores.tsv, with the
# comparison to the released bozorth3 scores of the mindtct sets on stderr. See bozorth3.py.
# Usage: benches/peers/bozorth3.sh [OUT.tsv]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="$HERE/.venv-bozorth3"
REQ="$HERE/requirements-bozorth3.txt"
STAMP="$VENV/.requirements.sha256"
PY="${PYTHON:-$(command -v python3 || true)}"
[ -n "$PY" ] || { echo "bozorth3.sh: no python3 found" >&2; exit 1; }
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
  "$PY" -m venv --clear "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: --require-hashes -r "$REQ"
  echo "$want" > "$STAMP"
fi
T="$ROOT/testdata/fingerprint"
OUT="${1:-$T/fvc2002/bozorth3_nbis-py_scores.tsv}"
exec "$VENV/bin/python" "$HERE/bozorth3.py" "$OUT" --root "$T" \
  --check "$T/fvc2002/bozorth3_scores.tsv" "$T"/fvc2002/DB*_B/mindtct "$T"/fvc2002/DB*_B/secugen
