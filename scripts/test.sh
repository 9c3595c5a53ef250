#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the Python references
# (a git-ignored venv) and the notebook platform (evcxr_jupyter, a Jupyter venv,
# chromium), then checks formatting and lints and runs every test.
# Environment: WORKBENCH_DATA (default ../shared/data beside the repo),
# CARGO_TARGET_DIR (default ~/.cache/workbench/target, a cache outside the clone).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export WORKBENCH_DATA=${WORKBENCH_DATA:-$root/../shared/data}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/workbench/target}
export WORKBENCH_PYTHON=${WORKBENCH_PYTHON:-$root/.venv/bin/python}
t0=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - t0 )) s)"; }

step "python references (scripts/setup-venv.sh)"
bash scripts/setup-venv.sh

step "notebook platform (scripts/setup-notebooks.sh: evcxr_jupyter, Jupyter venv, chromium)"
bash scripts/setup-notebooks.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --release -- -D warnings

step "cargo test (release: tests train real networks)"
cargo test --workspace --release

step "done"
