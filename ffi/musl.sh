#!/usr/bin/env bash
# Builds libedgeid for x86_64-unknown-linux-musl (firmware on musl, e.g. OpenWrt or Alpine based),
# links the example statically against it with musl-gcc, and runs the walk-through of README.md
# (faces enrolled and identified, then the example sync deltas, status and a card), then the C API
# test programs (api_test, finger_test, sync_test with its threads, stream_test).
#
#   ffi/musl.sh
#
# Needs the Rust target (`rustup target add x86_64-unknown-linux-musl`) and Debian's musl-tools
# (musl-gcc: the C example is compiled against musl's headers); installs both when missing (apt
# only as root). The Rust part needs no C toolchain of musl: Rust's musl target brings its own C
# runtime objects and links statically.
set -euo pipefail

ffi="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$ffi")"
triple=x86_64-unknown-linux-musl

if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    rustup target add "$triple"
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "musl: musl-gcc is missing (Debian package musl-tools) and not root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y musl-tools
fi

export CARGO_TARGET_DIR="${MUSL_TARGET_DIR:-$root/target/musl}"
cargo build --release --target "$triple" -p edgeid-ffi --manifest-path "$root/Cargo.toml"
lib="$CARGO_TARGET_DIR/$triple/release"
ls -l "$lib"/libedgeid.* || true

build="$CARGO_TARGET_DIR/example"
mkdir -p "$build"
# Static (musl's usual way; the musl target builds no libedgeid.so: cargo drops the cdylib because
# Rust links musl statically): libedgeid.a, then the unwinder Rust's musl target brings (LLVM
# libunwind, in the target's self-contained directory). Without it musl-gcc takes the unwinder
# from Debian's libgcc_eh.a, which is built for glibc: "undefined reference to _dl_find_object".
unwind="$(rustc --print sysroot)/lib/rustlib/$triple/lib/self-contained/libunwind.a"
musl-gcc -std=c99 -D_DEFAULT_SOURCE -O2 -Wall -Wextra -Werror -static \
    -ffunction-sections -fdata-sections -Wl,--gc-sections \
    -I "$ffi/include" "$ffi/examples/terminal.c" -o "$build/terminal-static" \
    "$lib/libedgeid.a" "$unwind" -lpthread -lm -ldl
file "$build/terminal-static"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work" <<'EOF'
import struct, sys, random
r = random.Random(7)
people = {n: [r.uniform(-1, 1) for _ in range(128)] for n in ("ann", "bo")}
for n, v in people.items():
    open(f"{sys.argv[1]}/{n}.f32", "wb").write(struct.pack("<128f", *v))
probe = [x + r.uniform(-0.05, 0.05) for x in people["bo"]]
open(f"{sys.argv[1]}/probe.f32", "wb").write(struct.pack("<128f", *probe))
EOF
t="$build/terminal-static"
"$t" "$work/store" enroll lobby ann "$work/ann.f32"
"$t" "$work/store" enroll lobby bo "$work/bo.f32"
out="$("$t" "$work/store" identify "$work/probe.f32")"
echo "$out"
case "$out" in *"user bo"*) ;; *) echo "musl: did not find bo" >&2; exit 1 ;; esac
export EDGEID_MODEL=w600k_mbf
"$t" "$work/sync" apply "$root/testdata/sync/01-full.json"
"$t" "$work/sync" apply "$root/testdata/sync/02-changes.json"
status=0
"$t" "$work/sync" apply "$root/testdata/sync/03-gap.json" || status=$?
[ "$status" = 3 ] || { echo "musl: the gap was not refused (exit $status)" >&2; exit 1; }
out="$("$t" "$work/sync" status)"
echo "$out"
case "$out" in *"hq-amsterdam: sequence 42, 2 users, 3 faces, 1 fingers, digest 69ae8100a3b7e5a0"*) ;;
    *) echo "musl: unexpected sync status" >&2; exit 1 ;; esac
out="$("$t" "$work/sync" card csn 04A1B2C3D4E5F6)"
echo "$out"
case "$out" in *"user u-1001 at hq-amsterdam"*) ;; *) echo "musl: card not found" >&2; exit 1 ;; esac
# The C API test programs, linked the same way, threads and all (natively, not emulated).
for t in api_test sync_test finger_test stream_test; do
    musl-gcc -std=c99 -D_DEFAULT_SOURCE -O1 -Wall -Wextra -Werror -static \
        -I "$ffi/include" -I "$ffi/tests/c" "$ffi/tests/c/$t.c" -o "$build/$t" \
        "$lib/libedgeid.a" "$unwind" -lpthread -lm -ldl
done
mkdir "$work/api" "$work/sync-test" "$work/finger" "$work/stream"
"$build/api_test" "$work/api"
"$build/finger_test" "$work/finger" "$root/testdata/fingerprint"
"$build/sync_test" "$work/sync-test" "$root/testdata/sync" 100
"$build/stream_test" "$work/stream" "$root/testdata/sync"
echo "musl: ok"
