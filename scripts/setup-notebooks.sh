#!/usr/bin/env bash
# Sets up the Rust notebook platform, touching nothing global:
#   - evcxr_jupyter 0.22.0 from its released source with notebooks/kernel/*.patch applied
#     (a cell's printed lines are published before the kernel reports the cell done; see
#     notebooks/kernel/README.md), built --locked into <repo>/.tools/evcxr-0.22.0-patched/bin
#     (git-ignored); its build cache is ~/.cache/workbench/evcxr-0.22.0-target;
#   - a Jupyter venv <repo>/.venv-jupyter (JupyterLab, nbclient, nbconvert, papermill,
#     plotly's JupyterLab renderer) with the evcxr kernel registered inside it
#     (<repo>/.venv-jupyter/share/jupyter/kernels/rust, found through JUPYTER_PATH);
#   - Debian's chromium for the headless browser check of exported notebooks (apt, as root);
#   - Debian's mold, which evcxr then links each notebook cell with (apt, as root; optional);
#   - the notebooks' evcxr build, warmed by running each notebook's `:dep` cell once.
#
# Idempotent: each part is skipped when already in place. Open the notebooks with
#   JUPYTER_PATH=$PWD/.venv-jupyter/share/jupyter .venv-jupyter/bin/jupyter lab notebooks/
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
evcxr_version=0.22.0
patch_file="$repo/notebooks/kernel/evcxr-$evcxr_version-output-order.patch"
patch_hash="$(sha256sum "$patch_file" | cut -c1-12)"
tools="$repo/.tools/evcxr-$evcxr_version-patched"
venv="${JUPYTER_VENV:-$repo/.venv-jupyter}"
kernels="$venv/share/jupyter"
log() { echo "setup-notebooks: [${SECONDS}s] $*"; }
die() { echo "setup-notebooks: error: $*" >&2; exit 1; }

# 1. evcxr_jupyter, patched. The stamp names the version and the patch's hash, so a changed
#    patch rebuilds the kernel.
stamp_kernel="$tools/.workbench-kernel"
if [[ -x "$tools/bin/evcxr_jupyter" && "$(cat "$stamp_kernel" 2>/dev/null)" == "$evcxr_version $patch_hash" ]]; then
  log "evcxr_jupyter $evcxr_version (patch $patch_hash) is in $tools"
else
  command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain"
  src="$repo/.tools/src"
  rm -rf "$src" && mkdir -p "$src/fetch/src"
  # Cargo downloads (and checks against the crates.io index) the released sources of both
  # crates: a throw-away package that depends on them exactly.
  cat > "$src/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-evcxr-sources"
version = "0.0.0"
edition = "2021"
[workspace]
[dependencies]
evcxr = "=$evcxr_version"
evcxr_jupyter = "=$evcxr_version"
TOML
  : > "$src/fetch/src/lib.rs"
  cargo fetch -q --manifest-path "$src/fetch/Cargo.toml" || die "cargo fetch of evcxr $evcxr_version failed"
  registry_src="$(cargo metadata -q --format-version 1 --manifest-path "$src/fetch/Cargo.toml" \
    | python3 -c 'import json,sys,os; m=json.load(sys.stdin); print("\n".join(os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"] in ("evcxr","evcxr_jupyter")))')"
  for dir in $registry_src; do cp -r "$dir" "$src/"; done
  [[ -d "$src/evcxr-$evcxr_version" && -d "$src/evcxr_jupyter-$evcxr_version" ]] || die "evcxr sources not found in cargo's registry"
  patch -s -p1 -d "$src" < <(sed -e 's#^--- orig/#--- a/#' -e 's#^+++ new/#+++ b/#' "$patch_file") \
    || die "$patch_file does not apply to evcxr $evcxr_version"
  log "building patched evcxr_jupyter $evcxr_version --locked into $tools (about 9 minutes cold on 2 cores)"
  cargo install -q --path "$src/evcxr_jupyter-$evcxr_version" --locked --force --root "$tools" \
    --target-dir "${EVCXR_BUILD_DIR:-$HOME/.cache/workbench/evcxr-$evcxr_version-target}"
  echo "$evcxr_version $patch_hash" > "$stamp_kernel"
fi

# 2. Jupyter venv with pinned packages
requirements=(
  "jupyterlab==4.6.6"
  "nbclient==0.11.0"
  "nbconvert==7.17.2"
  "papermill==2.7.0"
  "ipykernel==7.4.0"
  "plotly==7.1.0"
)
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
  done
fi
[[ -n "$python" ]] || die "no python3 found"
hash="$(printf '%s\n' "$("$python" --version 2>&1)" "${requirements[@]}" | sha256sum | cut -d' ' -f1)"
stamp="$venv/.workbench-jupyter.sha256"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" && -x "$venv/bin/jupyter" ]]; then
  log "$venv is up to date"
else
  [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv" || die "'$python -m venv' failed (apt-get install python3-venv)"
  export PIP_CACHE_DIR="${PIP_CACHE_DIR:-$HOME/.cache/pip}" PIP_DISABLE_PIP_VERSION_CHECK=1
  log "installing ${requirements[*]} into $venv"
  "$venv/bin/python" -m pip install --quiet "${requirements[@]}"
  echo "$hash" > "$stamp"
fi

# 3. The kernel, registered inside the venv (evcxr_jupyter --install honours JUPYTER_PATH).
kernel_json="$kernels/kernels/rust/kernel.json"
if [[ -f "$kernel_json" ]] && grep -q "$tools/bin/evcxr_jupyter" "$kernel_json"; then
  log "kernel 'rust' registered in $kernels"
else
  JUPYTER_PATH="$kernels" "$tools/bin/evcxr_jupyter" --install >/dev/null
  "$venv/bin/python" - "$kernel_json" <<'PY'
import json, sys
p = sys.argv[1]
k = json.load(open(p))
k["display_name"] = "Rust (workbench, evcxr 0.22)"
json.dump(k, open(p, "w"), indent=1)
PY
  log "kernel 'rust' registered in $kernels"
fi
JUPYTER_PATH="$kernels" "$venv/bin/jupyter" kernelspec list | grep -q "^ *rust " || die "the rust kernel is not visible to jupyter"

# Installs Debian packages quietly. scripts/test.sh runs this beside setup-firmware.sh:
# apt takes turns on one lock file.
apt_install() {
  flock /tmp/workbench-apt.lock sh -c 'apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null' apt_install "$@"
}

# 4. Chromium for the browser check.
if command -v chromium >/dev/null 2>&1; then
  log "chromium: $(chromium --version 2>/dev/null | head -1)"
elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  log "installing chromium (apt)"
  apt_install chromium || die "apt-get install chromium failed"
else
  die "chromium is missing and cannot be installed here (needs root and apt): install Debian's chromium"
fi
# 4b. mold: evcxr links every cell's library against the workbench and candle, and uses mold
#     (`mold -run cargo`) when it finds it on PATH, else rustc's default (rust-lld). Optional:
#     without it the notebooks run the same, a little slower (README, Notebooks).
if command -v mold >/dev/null 2>&1; then
  log "mold: $(mold --version 2>/dev/null | head -1)"
elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  log "installing mold (apt)"
  apt_install mold || die "apt-get install mold failed"
else
  log "warning: mold is missing and cannot be installed here (needs root and apt); evcxr links with rust-lld"
fi
# 5. Warm the notebooks' build: evcxr compiles the workbench and its dependencies the first
#    time a notebook's `:dep` cell runs (minutes on 2 cores). Run each notebook's first cell
#    once through the kernel now, so opening a notebook afterwards starts computing in seconds;
#    the build folder is the notebooks' own (notebooks/evcxr.toml), shared by Jupyter and
#    workbench-notebook. Then time a fresh kernel's first cell: what a student waits for.
#    WORKBENCH_WARM_NOTEBOOKS=0 skips this.
if [[ "${WORKBENCH_WARM_NOTEBOOKS:-1}" != 0 ]]; then
  warm="$repo/notebooks/.warm-up.ipynb"
  "$venv/bin/python" - "$repo/notebooks" "$warm" <<'PY'
import json, pathlib, sys
folder, out = pathlib.Path(sys.argv[1]), sys.argv[2]
firsts = []
for nb in sorted(folder.glob("*.ipynb")):
    if nb.name.startswith("."):
        continue
    cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
    src = "".join(cells[0]["source"]) if cells else ""
    if src.lstrip().startswith(":dep") and src not in firsts:
        firsts.append(src)
cells = [{"cell_type": "code", "execution_count": None, "id": f"warm-{i}", "metadata": {},
          "outputs": [], "source": s} for i, s in enumerate(firsts)]
cells.append({"cell_type": "code", "execution_count": None, "id": "warm-use", "metadata": {},
              "outputs": [], "source": "workbench::dataset::Samples::new(vec![0.0; 4], vec![0], [1, 2, 2]).is_ok()"})
nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"}},
      "nbformat": 4, "nbformat_minor": 5}
json.dump(nb, open(out, "w"), indent=1)
PY
  run_warm() {
    (cd "$repo/notebooks" && JUPYTER_PATH="$kernels" "$venv/bin/jupyter" nbconvert --to notebook --execute \
      --ExecutePreprocessor.timeout=3600 --output "$repo/out/warm-up-executed.ipynb" "$warm" >/dev/null 2>&1)
  }
  mkdir -p "$repo/out"
  log "warming the notebooks' build (each notebook's :dep cell through the kernel)"
  start=$SECONDS
  if run_warm; then
    log "notebooks' build warm ($((SECONDS - start)) s)"
    start=$SECONDS
    run_warm && log "first cell of a fresh kernel, after set-up: $((SECONDS - start)) s"
  else
    log "warning: the warm-up run failed (notebooks will compile on first open); see out/warm-up-executed.ipynb"
  fi
  rm -f "$warm"
fi
log "done. Open the notebooks with:"
log "  JUPYTER_PATH=$kernels $venv/bin/jupyter lab $repo/notebooks"
