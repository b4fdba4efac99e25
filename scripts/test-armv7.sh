#!/usr/bin/env bash
# Cross-build the kernel checks for 32-bit ARMv7 (Cortex-A7 terminals) and run them under qemu-arm,
# next to scripts/test-aarch64.sh.
#
# Why: the most common face-terminal SoCs are 32-bit. On armv7 edgeid uses the scalar kernels:
# NEON intrinsics (core::arch::arm) are still unstable in Rust (feature
# stdarch_arm_neon_intrinsics, rustc 1.95/1.96 here), so the scalar code is compiled with
# `-C target-feature=+neon` and LLVM may vectorise it. The checks are the same as on aarch64
# (every kernel table the CPU offers against the scalar reference), single-threaded because a
# second thread hangs under qemu-user here.
set -euo pipefail

cd "$(dirname "$0")/.."

need_install=0
for cmd in /usr/bin/rustc arm-linux-gnueabihf-gcc qemu-arm; do
    command -v "$cmd" >/dev/null 2>&1 || need_install=1
done
if ! dpkg -s libstd-rust-web-dev:armhf >/dev/null 2>&1 || ! dpkg -s libc6-dev-armhf-cross >/dev/null 2>&1; then
    need_install=1
fi

if [ "$need_install" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "test-armv7: missing packages and not root; cannot install" >&2
        exit 1
    fi
    echo "test-armv7: installing cross toolchain (Debian packages)"
    dpkg --add-architecture armhf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y rustc-web libstd-rust-web-dev:armhf gcc-arm-linux-gnueabihf \
        libc6-dev-armhf-cross qemu-user
fi

export RUSTC=/usr/bin/rustc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER="qemu-arm -L /usr/arm-linux-gnueabihf"
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-C target-feature=+neon"
export CARGO_TARGET_DIR="${ARMV7_TARGET_DIR:-target/armv7}"

echo "test-armv7: $("$RUSTC" --version)"
cargo test --target armv7-unknown-linux-gnueabihf --test kernels_aarch64
