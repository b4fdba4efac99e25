#!/usr/bin/env bash
# Cross-build the kernel checks for aarch64 and run them under qemu-user.
#
# Why: most terminals are ARM, and the NEON kernels must return exactly what the
# scalar reference returns. rustup cannot fetch another target here, so this uses
# Debian's rustc with an arm64 std, the cross linker and qemu-user
# (see shared/aarch64.md). The test binary is single-threaded (harness = false)
# because under qemu-user a second thread hangs.
set -euo pipefail

cd "$(dirname "$0")/.."

need_install=0
for cmd in /usr/bin/rustc aarch64-linux-gnu-gcc qemu-aarch64; do
    command -v "$cmd" >/dev/null 2>&1 || need_install=1
done
if ! dpkg -s libstd-rust-web-dev:arm64 >/dev/null 2>&1 || ! dpkg -s libc6-dev-arm64-cross >/dev/null 2>&1; then
    need_install=1
fi

if [ "$need_install" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "test-aarch64: missing packages and not root; cannot install" >&2
        exit 1
    fi
    echo "test-aarch64: installing cross toolchain (Debian packages)"
    dpkg --add-architecture arm64
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y rustc-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu \
        libc6-dev-arm64-cross qemu-user
fi

export RUSTC=/usr/bin/rustc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CARGO_TARGET_DIR="${AARCH64_TARGET_DIR:-target/aarch64}"

echo "test-aarch64: $("$RUSTC" --version)"
cargo test --target aarch64-unknown-linux-gnu --test kernels_aarch64
