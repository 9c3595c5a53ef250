//! The real TFLite interpreter, through `tests/refs/run_tflite.py` in the reference venv,
//! and TFLite Micro's, through `tests/refs/run_tflm.py` (the `tflite-micro` wheel).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::{refs_dir, workspace_root, Array};

/// Which TFLite kernels run the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TfliteKernels {
    /// TFLite's reference kernels (`OpResolverType.BUILTIN_REF`): what we must match bit for bit.
    Reference,
    /// The default resolver: optimized kernels plus the XNNPACK delegate.
    Default,
}

impl TfliteKernels {
    fn arg(self) -> &'static str {
        match self {
            TfliteKernels::Reference => "reference",
            TfliteKernels::Default => "default",
        }
    }
}

/// The reference venv's python: `$WORKBENCH_PYTHON`, else `<workspace>/.venv/bin/python`.
///
/// Fails (never skips) when it is missing, saying how to create it.
pub fn python() -> Result<PathBuf> {
    let (path, origin) = match std::env::var_os("WORKBENCH_PYTHON") {
        Some(p) if !p.is_empty() => (PathBuf::from(p), "$WORKBENCH_PYTHON"),
        _ => (
            workspace_root().join(".venv/bin/python"),
            "the default venv",
        ),
    };
    if !path.exists() {
        bail!(
            "the TFLite reference python ({origin}: {}) does not exist; these tests compare with \
             the real TFLite interpreter and need it: run scripts/setup-venv.sh (creates \
             <repo>/.venv), or set WORKBENCH_PYTHON to a python with ai-edge-litert 2.3.0",
            path.display()
        );
    }
    Ok(path)
}

fn run_script(args: &[&std::ffi::OsStr]) -> Result<()> {
    run_named_script("run_tflite.py", args)
}

fn run_named_script(name: &str, args: &[&std::ffi::OsStr]) -> Result<()> {
    let python = python()?;
    let script = refs_dir().join(name);
    let out = Command::new(&python)
        .arg(&script)
        .args(args)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .with_context(|| format!("cannot start {}", python.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{} {} {:?} failed ({}):\n{}",
            python.display(),
            script.display(),
            args,
            out.status,
            tail.join("\n")
        );
    }
    Ok(())
}

/// Runs every sample of `input` through `model` in TFLite; returns the stacked outputs.
pub fn run_tflite(
    model: &Path,
    input: &Path,
    kernels: TfliteKernels,
    scratch: &Path,
) -> Result<Array> {
    let stem = model.file_stem().unwrap_or_default().to_string_lossy();
    let out = scratch.join(format!("{stem}.tflite-{}.npy", kernels.arg()));
    run_script(&[
        model.as_os_str(),
        input.as_os_str(),
        out.as_os_str(),
        "--kernels".as_ref(),
        kernels.arg().as_ref(),
    ])?;
    Array::read_npy(&out)
}

/// Runs every sample of `input` through `model` in TFLite Micro's interpreter; returns the stacked outputs.
pub fn run_tflm(model: &Path, input: &Path, scratch: &Path) -> Result<Array> {
    let stem = model.file_stem().unwrap_or_default().to_string_lossy();
    let out = scratch.join(format!("{stem}.tflm.npy"));
    run_named_script(
        "run_tflm.py",
        &[model.as_os_str(), input.as_os_str(), out.as_os_str()],
    )?;
    Array::read_npy(&out)
}

/// One tensor of a TFLite dump (`tensors.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct DumpTensor {
    /// TFLite tensor index.
    pub index: usize,
    /// Tensor name in the model.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// numpy dtype name, e.g. `int8`.
    pub dtype: String,
    /// Quantization scales (empty when not quantized).
    pub scale: Vec<f64>,
    /// Quantization zero points.
    pub zero_point: Vec<i64>,
    /// Quantized dimension of per-channel quantization.
    pub axis: usize,
    /// Whether `<index>.npy` was written.
    pub dumped: bool,
}

/// Every tensor of one sample, as TFLite's reference kernels computed them.
#[derive(Debug, Clone)]
pub struct Dump {
    /// Directory with `tensors.json` and `<index>.npy`.
    pub dir: PathBuf,
    /// Tensor descriptions, by TFLite index.
    pub tensors: Vec<DumpTensor>,
}

impl Dump {
    /// The value of TFLite tensor `index`.
    pub fn value(&self, index: usize) -> Result<Array> {
        Array::read_npy(&self.dir.join(format!("{index}.npy")))
    }
}

/// Runs `input` through `model` with TFLite's reference kernels, keeping every tensor of `sample`.
pub fn dump_tflite(model: &Path, input: &Path, sample: usize, dir: &Path) -> Result<Dump> {
    let out = dir.join("outputs.npy");
    let sample = sample.to_string();
    run_script(&[
        model.as_os_str(),
        input.as_os_str(),
        out.as_os_str(),
        "--kernels".as_ref(),
        "reference".as_ref(),
        "--dump-dir".as_ref(),
        dir.as_os_str(),
        "--dump-sample".as_ref(),
        sample.as_ref(),
    ])?;
    let json = dir.join("tensors.json");
    let text = std::fs::read_to_string(&json).with_context(|| format!("{}", json.display()))?;
    let tensors: Vec<DumpTensor> =
        serde_json::from_str(&text).with_context(|| format!("{}", json.display()))?;
    Ok(Dump {
        dir: dir.to_path_buf(),
        tensors,
    })
}
