//! Benchmarks: int8 inference against the TFLite interpreter, run in the same
//! process tree on the same inputs, so ratios are fair on any machine;
//! training against Keras ([`train`]) and the depthwise op against candle's
//! grouped convolution ([`depthwise`]).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Serialize;

use workbench::tflite::runtime::{Interpreter, Kernels};
use workbench::tflite::Graph;
use workbench::{Error, Result};

pub mod depthwise;
pub mod depthwise_table;
pub mod emg_prepare;
pub mod mobilenet_train;
pub mod train;

pub use mobilenet_train::{bench_mobilenet_train, MobileNetBenchConfig};
pub use train::{bench_train, BenchConfig};

/// Inferences per second of one engine.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// Engine name, e.g. `workbench optimized`.
    pub engine: String,
    /// Batch-1 inferences per second.
    pub per_second: f64,
}

/// Times `graph` with the given kernels on `inputs` (one int8 sample each), cycling for `budget`.
pub fn time_int8(
    graph: &Graph,
    kernels: Kernels,
    inputs: &[Vec<i8>],
    budget: Duration,
) -> Result<f64> {
    if inputs.is_empty() {
        return Err(Error::Msg("bench: no inputs".into()));
    }
    let mut interp = Interpreter::with_kernels(graph.clone(), kernels)?;
    // Warm up once per input.
    for x in inputs {
        interp.set_input_i8(0, x)?;
        interp.invoke()?;
    }
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed() < budget {
        for x in inputs {
            interp.set_input_i8(0, x)?;
            interp.invoke()?;
        }
        runs += inputs.len() as u64;
    }
    Ok(runs as f64 / start.elapsed().as_secs_f64())
}

/// Runs `script` (scripts/bench_tflite.py) with `python` on the same model and inputs; returns its engines.
pub fn time_tflite(
    python: &Path,
    script: &Path,
    model: &Path,
    input_npy: &Path,
    seconds: f64,
) -> Result<Vec<Throughput>> {
    let out = Command::new(python)
        .arg(script)
        .arg(model)
        .arg(input_npy)
        .arg("--seconds")
        .arg(seconds.to_string())
        .output()
        .map_err(|e| Error::Msg(format!("bench: cannot run {}: {e}", python.display())))?;
    if !out.status.success() {
        return Err(Error::Msg(format!(
            "bench: {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::Msg(format!(
            "bench: unexpected output from {}: {e}",
            script.display()
        ))
    })?;
    // {"reference": {"inferences_per_s": ..}, "default": {..}, ..}
    let engines = v
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            v.get("inferences_per_s")
                .and_then(|x| x.as_f64())
                .map(|x| Throughput {
                    engine: match k.as_str() {
                        "default" => "tflite default (XNNPACK)".to_string(),
                        _ => format!("tflite {k}"),
                    },
                    per_second: x,
                })
        })
        .collect::<Vec<_>>();
    if engines.is_empty() {
        return Err(Error::Msg(format!(
            "bench: no inferences_per_s in the output of {}",
            script.display()
        )));
    }
    Ok(engines)
}
