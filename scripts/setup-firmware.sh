#!/usr/bin/env bash
# Installs what the Cortex-M4 firmware (device-bridge/firmware/) needs: QEMU, the ARM
# GNU linker, and a Rust 1.96 toolchain with the rust-src needed by
# `-Zbuild-std=core,alloc`, extracted from Debian bookworm-security's
# `rustc-web` packages into the git-ignored `.tools/` (the rustup toolchain
# here has no thumb targets and no rust-src).
#
# Usage: scripts/setup-firmware.sh   (as root; idempotent)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.tools/rust-web

export DEBIAN_FRONTEND=noninteractive
# scripts/test.sh runs this beside setup-notebooks.sh: apt takes turns on one lock file.
apt_get() { flock /tmp/workbench-apt.lock apt-get "$@"; }
if ! command -v qemu-system-arm >/dev/null || ! command -v arm-none-eabi-gcc >/dev/null; then
    apt_get update -q
    apt_get install -y -q --no-install-recommends qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi
fi

if [ ! -x "$tools/usr/bin/rustc" ]; then
    apt_get update -q
    mkdir -p "$root/.tools/debs" "$tools"
    cd "$root/.tools/debs"
    ver=1.96
    apt_get download rustc-web "libstd-rust-web-$ver" libstd-rust-web-dev rust-web-src libllvm22
    for deb in ./*.deb; do dpkg -x "$deb" "$tools"; done
    cd "$root"
fi

# rustc-web's binary is rustc; it finds its sysroot relative to itself and
# libLLVM through the extracted lib dir.
libdirs=$(find "$tools/usr/lib" -maxdepth 2 -name 'libLLVM*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
cat > "$root/.tools/env.sh" <<ENV
# Source me: the firmware toolchain from scripts/setup-firmware.sh.
export FIRMWARE_RUSTC=$tools/usr/bin/rustc
export LD_LIBRARY_PATH=${libdirs}\${LD_LIBRARY_PATH:-}
ENV
echo "setup-firmware: [${SECONDS}s] firmware toolchain ready: source .tools/env.sh" >&2
