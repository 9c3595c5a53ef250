//! Preparation throughput: ours against the scipy/numpy reference, same sessions, same run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use workbench::dataset::emg::prepare::{prepare, PrepareConfig};
use workbench::dataset::emg::session::read_parquet;
use workbench::{Error, Result};

/// Samples per second of preparing two sessions (filter, trim, split, scale, window), reading excluded.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareBench {
    /// Raw samples in both sessions.
    pub samples: usize,
    /// Our samples per second.
    pub ours_samples_per_s: f64,
    /// scipy's samples per second, if the peer ran.
    pub scipy_samples_per_s: Option<f64>,
}

impl PrepareBench {
    /// How many times faster we are than scipy.
    pub fn ratio(&self) -> Option<f64> {
        self.scipy_samples_per_s
            .map(|s| self.ours_samples_per_s / s)
    }
}

/// Times [`prepare`] `repeats` times on the two files, then `script` (scripts/emg_prepare_ref.py) with `python`.
pub fn bench_prepare(
    train_val: &Path,
    test: &Path,
    repeats: usize,
    python: &Path,
    script: &Path,
) -> Result<PrepareBench> {
    let cfg = PrepareConfig::default();
    let s1 = read_parquet(train_val, cfg.channels)?;
    let s2 = read_parquet(test, cfg.channels)?;
    let repeats = repeats.max(1);
    prepare(&s1, &s2, &cfg)?; // warm-up
    let t0 = Instant::now();
    for _ in 0..repeats {
        prepare(&s1, &s2, &cfg)?;
    }
    let dt = t0.elapsed().as_secs_f64() / repeats as f64;
    let samples = s1.len() + s2.len();
    let scipy = run_scipy(train_val, test, repeats, python, script);
    if let Err(e) = &scipy {
        eprintln!("workbench: scipy peer not measured: {e}");
    }
    Ok(PrepareBench {
        samples,
        ours_samples_per_s: samples as f64 / dt,
        scipy_samples_per_s: scipy.ok(),
    })
}

fn run_scipy(
    train_val: &Path,
    test: &Path,
    repeats: usize,
    python: &Path,
    script: &Path,
) -> Result<f64> {
    let out = Command::new(python)
        .arg(script)
        .arg(train_val)
        .arg(test)
        .arg("--bench")
        .arg(repeats.to_string())
        .output()
        .map_err(|e| Error::Msg(format!("cannot run {}: {e}", python.display())))?;
    if !out.status.success() {
        return Err(Error::Msg(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| Error::Msg(format!("{}: bad output: {e}", script.display())))?;
    v["samples_per_s"]
        .as_f64()
        .ok_or_else(|| Error::Msg(format!("{}: no samples_per_s", script.display())))
}
