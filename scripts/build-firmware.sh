#!/usr/bin/env bash
# Builds device-bridge/firmware for thumbv7em-none-eabi with the toolchain that
# scripts/setup-firmware.sh extracted into .tools/ (run that first).
# Output: device-bridge/firmware/target/thumbv7em-none-eabi/release/device-bridge-firmware
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f .tools/env.sh ]; then
    echo "build-firmware: .tools/env.sh missing; run scripts/setup-firmware.sh first" >&2
    exit 1
fi
# shellcheck disable=SC1091
source .tools/env.sh
cd device-bridge/firmware
# The firmware has its own target dir (a workspace-wide CARGO_TARGET_DIR would mix hosts' builds).
unset CARGO_TARGET_DIR
RUSTC="$FIRMWARE_RUSTC" RUSTC_BOOTSTRAP=1 cargo build --release "$@"
