#!/usr/bin/env bash
# Creates the venv with PyTorch that `workbench bench mobilenet-train` times as its peer
# (git-ignored, <repo>/.venv-torch). Not part of the test command: only the benchmark needs it.
# Usage: scripts/setup-torch.sh     (needs python3.11+ and PyPI; torch's wheel is large)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$repo/.venv-torch}"
python="${PYTHON:-python3}"
[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "torch==2.15.0" "numpy==2.4.6"
"$venv/bin/python" -c 'import torch; print("setup-torch: torch", torch.__version__, "in", "'"$venv"'")'
