#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the Python references
# (a git-ignored venv) and the notebook platform (the patched evcxr_jupyter, a
# Jupyter venv, chromium) and the Cortex-M4 firmware tools, then checks
# formatting and lints and runs every test binary, even when one fails.
# Ends with one line: "tests: N passed, N failed, N skipped", and exits
# non-zero if a check or a test failed.
# Environment: WORKBENCH_DATA (default ../shared/data beside the repo),
# CARGO_TARGET_DIR (default <repo>/target, the folder `cargo run` uses: the README's
# two commands share one build).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export WORKBENCH_DATA=${WORKBENCH_DATA:-$root/../shared/data}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
export WORKBENCH_PYTHON=${WORKBENCH_PYTHON:-$root/.venv/bin/python}
t0=$(date +%s)
logs="$root/out/test-logs"
mkdir -p "$logs"
failed=()
# "name seconds" of every step, printed at the end: where a run's time went.
timings=()
# Whether the build cache and the kernel were there before this run (cold or warm).
cache_state="target cache $([[ -d $CARGO_TARGET_DIR/release ]] && echo warm || echo cold), kernel $([[ -x .tools/evcxr-0.22.0-patched/bin/evcxr_jupyter ]] && echo built || echo absent)"
step() { echo "== $* ($(($(date +%s) - t0)) s)"; }
# Runs a named step; a failure is recorded and the run goes on.
check() {
  local name=$1
  shift
  local s=$(date +%s)
  if "$@"; then
    echo "== $name: ok ($(($(date +%s) - s)) s)"
  else
    echo "== $name: FAILED ($(($(date +%s) - s)) s)"
    failed+=("$name")
  fi
  timings+=("$name $(($(date +%s) - s))s")
}

# Set-up. Downloads and installs (pip, apt) run in the background while the
# workspace compiles; each writes its log to out/test-logs/ and is waited for
# before the first step that needs it.
step "set-up in the background: python references, Jupyter venv and kernel, firmware tools"
bash scripts/setup-venv.sh >"$logs/setup-venv.log" 2>&1 &
venv_pid=$!
# Both use apt (they take turns on a lock file); the kernel build inside setup-notebooks
# overlaps the workspace build below.
bash scripts/setup-firmware.sh >"$logs/setup-firmware.log" 2>&1 &
firmware_pid=$!
bash scripts/setup-notebooks.sh >"$logs/setup-notebooks.log" 2>&1 &
notebooks_pid=$!
waitfor() {
  local name=$1 pid=$2
  local s=$(date +%s)
  if wait "$pid"; then
    echo "== $name: ok ($(($(date +%s) - t0)) s since start)"
    tail -n 2 "$logs/$name.log"
  else
    echo "== $name: FAILED (log: out/test-logs/$name.log)"
    tail -n 30 "$logs/$name.log"
    failed+=("$name")
  fi
  # Its own duration is in its log; this is how long the run waited for it.
  timings+=("waited for $name $(($(date +%s) - s))s")
}

check "cargo fmt --check" cargo fmt --all -- --check

step "build the workspace and its tests (release: tests train real networks)"
check "cargo build" cargo test --workspace --release --no-run -q

check "cargo clippy" cargo clippy --workspace --all-targets --release -q -- -D warnings

waitfor setup-firmware "$firmware_pid"
check "firmware build (device-bridge/firmware)" bash scripts/build-firmware.sh -q
waitfor setup-venv "$venv_pid"
waitfor setup-notebooks "$notebooks_pid"

step "cargo test --no-fail-fast"
s=$(date +%s)
# tests/notebooks.rs appends each notebook command's wall time here (printed at the end).
notebook_times="$root/out/notebooks-test/times.tsv"
rm -f "$notebook_times"
cargo test --workspace --release --no-fail-fast 2>&1 | tee "$logs/cargo-test.log"
test_status=${PIPESTATUS[0]}
[[ $test_status == 0 ]] || failed+=("cargo test")
timings+=("cargo test $(($(date +%s) - s))s")

# One summary line over every test binary (unit, integration and doc tests).
read -r passed failed_tests ignored < <(awk '
  /^test result:/ { for (i = 1; i <= NF; i++) {
      if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i } }
  END { print p + 0, f + 0, g + 0 }' "$logs/cargo-test.log")
if [[ $test_status != 0 && $failed_tests == 0 ]]; then
  failed_tests=1 # a test binary that did not build or crashed counts once
fi
step "done"
echo "time: $(($(date +%s) - t0)) s ($cache_state); $(IFS=,; echo "${timings[*]}" | sed 's/,/, /g')"
# The slowest test binaries.
awk '/^ *(Running|Doc-tests) / { name = $2 }
  /^test result:/ { for (i = 1; i <= NF; i++) if ($i == "in") { t = $(i+1); sub(/s$/, "", t); print t, name } }' \
  "$logs/cargo-test.log" | sort -rn | head -6 | awk '{ printf "  %s s  %s\n", $1, $2 }'
# Each notebook command of tests/notebooks.rs (after set-up warmed the notebooks' build).
if [[ -f $notebook_times ]]; then
  echo "notebook runs (warm evcxr build):"
  awk -F'\t' '{ printf "  %s s  %s\n", $2, $1 }' "$notebook_times"
fi
# The set-up scripts' own steps, with seconds since each started.
grep -h '^setup-[a-z]*: \[[0-9]*s\]' "$logs"/setup-*.log 2>/dev/null | sed 's/^/  /'
if ((${#failed[@]})); then
  echo "failed steps: ${failed[*]}"
  grep -E '^test .* \.\.\. FAILED$' "$logs/cargo-test.log" | sed 's/^/  /'
fi
echo "tests: $passed passed, $failed_tests failed, $ignored skipped"
((${#failed[@]} == 0))
