//! Training throughput of our training loop, optionally against Keras.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use workbench::models::mnist_cnn;
use workbench::train::fit::{train_step, Samples};
use workbench::train::Adam;
use workbench::{Error, Result};

/// What to time.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Samples trained in the timed part.
    pub samples: usize,
    /// Samples trained before timing starts.
    pub warmup_samples: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Seed of the model and the sample order.
    pub seed: u64,
    /// A Python with TensorFlow to also time Keras on the same network, if any.
    pub python: Option<PathBuf>,
    /// `scripts/bench_keras_train.py`.
    pub script: PathBuf,
    /// The directory with MNIST's `train-images-idx3-ubyte.gz` etc., for the Keras script.
    pub mnist_dir: PathBuf,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            samples: 30_000,
            warmup_samples: 2_000,
            batch_size: 64,
            seed: 0,
            python: None,
            script: PathBuf::from("scripts/bench_keras_train.py"),
            mnist_dir: default_mnist_dir(),
        }
    }
}

/// `mnist/` in the data directory ([`workbench::data_dir::resolve`]).
fn default_mnist_dir() -> PathBuf {
    workbench::data_dir::resolve(None).join("mnist")
}

/// Training throughputs.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// Our samples per second.
    pub ours_samples_per_s: f64,
    /// Keras' samples per second, when a Python was given.
    pub keras_samples_per_s: Option<f64>,
    /// `ours / keras`.
    pub ratio: Option<f64>,
}

/// Times training of [`mnist_cnn`] on `data` (MNIST-shaped), and Keras on the same files if asked.
pub fn bench_train(data: &Samples, cfg: &BenchConfig) -> Result<BenchResult> {
    if data.is_empty() || cfg.batch_size == 0 || cfg.samples == 0 {
        return Err(Error::Msg(
            "bench: need samples and a positive batch size".into(),
        ));
    }
    let model = mnist_cnn(cfg.seed)?;
    let mut opt = Adam::new(model.vars(), 1e-3);
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rng);
    let mut pos = 0;
    let mut run = |n: usize| -> Result<()> {
        let mut done = 0;
        while done < n {
            let b = cfg.batch_size.min(n - done);
            let idx: Vec<usize> = (0..b).map(|j| order[(pos + j) % order.len()]).collect();
            pos = (pos + b) % order.len();
            let (x, y) = data.gather(&idx)?;
            train_step(&model, &mut opt, &x, &y)?;
            done += b;
        }
        Ok(())
    };
    run(cfg.warmup_samples)?;
    let start = Instant::now();
    run(cfg.samples)?;
    let ours = cfg.samples as f64 / start.elapsed().as_secs_f64();
    let keras = match &cfg.python {
        Some(py) => Some(run_keras(py, cfg)?),
        None => None,
    };
    Ok(BenchResult {
        ours_samples_per_s: ours,
        keras_samples_per_s: keras,
        ratio: keras.map(|k| ours / k),
    })
}

fn run_keras(python: &Path, cfg: &BenchConfig) -> Result<f64> {
    run_peer(
        python,
        &cfg.script,
        &[
            ("--data-dir", cfg.mnist_dir.display().to_string()),
            ("--samples", cfg.samples.to_string()),
            ("--warmup-samples", cfg.warmup_samples.to_string()),
            ("--batch-size", cfg.batch_size.to_string()),
        ],
    )
    .map(|v| v["samples_per_s"].as_f64().unwrap_or(0.0))
}

/// Runs a peer's timing script with `args`; returns its last JSON line, which has `samples_per_s`.
pub(crate) fn run_peer(
    python: &Path,
    script: &Path,
    args: &[(&str, String)],
) -> Result<serde_json::Value> {
    let mut cmd = Command::new(python);
    cmd.arg(script);
    for (k, v) in args {
        cmd.arg(k).arg(v);
    }
    let out = cmd.output().map_err(|e| Error::io(python, e))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::Msg(format!(
            "{}: exited with {}: {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )));
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
        Error::Msg(format!(
            "{}: bad JSON output {line:?}: {e}",
            script.display()
        ))
    })?;
    if !v["samples_per_s"].is_f64() {
        return Err(Error::Msg(format!(
            "{}: no samples_per_s in {line:?}",
            script.display()
        )));
    }
    Ok(v)
}
