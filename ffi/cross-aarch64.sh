#!/usr/bin/env bash
# Cross-builds libedgeid and the C example for aarch64 (ARM terminals) on x86-64 and runs them
# under qemu-user: the example end to end (faces, then the example sync deltas), and the C API
# test programs (api_test, sync_test, finger_test, stream_test).
#
#   ffi/cross-aarch64.sh [PREFIX]        (default PREFIX: target/aarch64-stage)
#   ARCH=armv7 ffi/cross-aarch64.sh [PREFIX]   the same for 32-bit ARMv7 (Cortex-A7) terminals:
#                                        armv7-unknown-linux-gnueabihf, qemu-arm, default PREFIX
#                                        target/armv7-stage (Debian: libstd-rust-web-dev:armhf,
#                                        gcc-arm-linux-gnueabihf, libc6-dev-armhf-cross)
#
# Needs (Debian, see shared/aarch64.md): rustc-web and libstd-rust-web-dev:arm64 (Debian's rustc
# with an arm64 standard library: rustup cannot fetch targets here), gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross, qemu-user, pkg-config. Installs them when run as root and missing.
#
# Under qemu-user on x86-64 a second thread hangs, so everything runs with one search thread
# (EDGEID_THREADS=1, EDGEID_TEST_ONE_THREAD=1); on a real ARM terminal threads work as anywhere.
set -euo pipefail

ffi="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$ffi")"
arch="${ARCH:-aarch64}"
case "$arch" in
    aarch64) triple=aarch64-unknown-linux-gnu gnu=aarch64-linux-gnu deb=arm64 qemu=qemu-aarch64 ;;
    armv7) triple=armv7-unknown-linux-gnueabihf gnu=arm-linux-gnueabihf deb=armhf qemu=qemu-arm ;;
    *) echo "cross-aarch64: ARCH must be aarch64 or armv7, got $arch" >&2; exit 2 ;;
esac
prefix="${1:-$root/target/$arch-stage}"

missing=0
for cmd in /usr/bin/rustc "$gnu-gcc" "$qemu" pkg-config; do
    command -v "$cmd" >/dev/null 2>&1 || missing=1
done
dpkg -s "libstd-rust-web-dev:$deb" >/dev/null 2>&1 || missing=1
dpkg -s "libc6-dev-$deb-cross" >/dev/null 2>&1 || missing=1
if [ "$missing" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "cross-aarch64: missing packages and not root; see shared/aarch64.md" >&2
        exit 1
    fi
    dpkg --add-architecture "$deb"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y rustc-web "libstd-rust-web-dev:$deb" "gcc-$gnu" \
        "libc6-dev-$deb-cross" qemu-user pkg-config
fi

# Debian's rustc for this build only; its own target dir (another compiler than rustup's).
export RUSTC=/usr/bin/rustc
upper="$(echo "$triple" | tr 'a-z-' 'A-Z_')"
export "CARGO_TARGET_${upper}_LINKER=$gnu-gcc"
if [ "$arch" = armv7 ]; then
    # NEON intrinsics are unstable on 32-bit ARM (stdarch_arm_neon_intrinsics): the scalar
    # kernels are compiled with NEON enabled so LLVM may vectorise them (Cortex-A7 has NEON).
    export "CARGO_TARGET_${upper}_RUSTFLAGS=-C target-feature=+neon"
fi
if [ "$arch" = aarch64 ]; then
    export CARGO_TARGET_DIR="${AARCH64_TARGET_DIR:-$root/target/aarch64}"
else
    export CARGO_TARGET_DIR="${ARMV7_TARGET_DIR:-$root/target/armv7}"
fi
echo "cross-aarch64: $arch, $("$RUSTC" --version), target dir $CARGO_TARGET_DIR"

# 1. libedgeid.so / libedgeid.a for aarch64, installed with header and pkg-config file.
make -C "$ffi" install TARGET="$triple" PREFIX="$prefix"
file "$prefix"/lib/libedgeid.so.* 2>/dev/null || true

# 2. The example, cross-compiled against the staged installation through pkg-config.
build="$CARGO_TARGET_DIR/example"
mkdir -p "$build"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make -C "$ffi/examples" CC="$gnu-gcc" O="$build" all

# 3. The C API test programs, cross-compiled and linked statically against libedgeid.a.
for t in api_test sync_test finger_test stream_test; do
    "$gnu-gcc" -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -O1 \
        -I "$prefix/include" -I "$ffi/tests/c" "$ffi/tests/c/$t.c" -o "$build/$t" \
        "$prefix/lib/libedgeid.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
done

# 4. Run under qemu-user, single-threaded.
# Bounded: a program that hangs under emulation fails the run instead of spinning (it once did:
# a thread started despite threads = 1).
run() { timeout "${QEMU_TIMEOUT:-900}" "$qemu" -L "/usr/$gnu" -E LD_LIBRARY_PATH="$prefix/lib" "$@"; }
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
export EDGEID_THREADS=1 EDGEID_TEST_ONE_THREAD=1
for exe in terminal terminal-static; do
    rm -rf "$work/store"
    run "$build/$exe" "$work/store" enroll lobby ann "$work/ann.f32"
    run "$build/$exe" "$work/store" enroll lobby bo "$work/bo.f32"
    out="$(run "$build/$exe" "$work/store" identify "$work/probe.f32")"
    echo "$out"
    case "$out" in *"user bo"*) ;; *) echo "cross-aarch64: $exe did not find bo" >&2; exit 1 ;; esac
    rm -rf "$work/sync-store"
    out="$(EDGEID_MODEL=w600k_mbf run "$build/$exe" "$work/sync-store" apply \
        "$root/testdata/sync/01-full.json")"
    echo "$out"
    case "$out" in *"applied: hq-amsterdam sequence 41"*) ;;
        *) echo "cross-aarch64: $exe did not apply the delta" >&2; exit 1 ;; esac
done
mkdir "$work/api" "$work/sync" "$work/finger" "$work/stream"
run "$build/api_test" "$work/api"
run "$build/finger_test" "$work/finger" "$root/testdata/fingerprint"
# No concurrency phase here (EDGEID_TEST_ONE_THREAD): threads hang under qemu-user.
run "$build/sync_test" "$work/sync" "$root/testdata/sync" 0
run "$build/stream_test" "$work/stream" "$root/testdata/sync"
echo "cross-aarch64: $arch ok"
