//! Training throughput of MobileNetV1 (SGD, Nesterov momentum): ours against PyTorch on the CPU.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::{rngs::StdRng, Rng, SeedableRng};

use workbench::models::{mobilenet_v1, MobileNetV1Config};
use workbench::train::fit::{train_step, OptimizerChoice};
use workbench::train::SgdConfig;
use workbench::{Error, Result};

use super::train::run_peer;

/// What to time.
#[derive(Clone, Debug)]
pub struct MobileNetBenchConfig {
    /// Width multiplier (default 0.25).
    pub width: f64,
    /// Input side (default 96).
    pub resolution: usize,
    /// Output classes (default 10, as shapes-synth).
    pub classes: usize,
    /// Images per step (default 32, the tutorial's).
    pub batch_size: usize,
    /// Timed steps (default 20).
    pub steps: usize,
    /// Steps before timing starts (default 3).
    pub warmup_steps: usize,
    /// Threads for both engines (default: one per core).
    pub threads: usize,
    /// A Python with `torch` to time PyTorch on the same network, if any.
    pub python: Option<PathBuf>,
    /// `scripts/bench_torch_mobilenet.py`.
    pub script: PathBuf,
}

impl Default for MobileNetBenchConfig {
    fn default() -> Self {
        MobileNetBenchConfig {
            width: 0.25,
            resolution: 96,
            classes: 10,
            batch_size: 32,
            steps: 20,
            warmup_steps: 3,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            python: None,
            script: PathBuf::from("scripts/bench_torch_mobilenet.py"),
        }
    }
}

/// Training throughputs of both engines.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetBenchResult {
    /// Our images per second.
    pub ours_per_s: f64,
    /// PyTorch's images per second, when a Python was given.
    pub torch_per_s: Option<f64>,
}

/// Times SGD steps of [`mobilenet_v1`] on random images, then PyTorch's if asked.
pub fn bench_mobilenet_train(cfg: &MobileNetBenchConfig) -> Result<MobileNetBenchResult> {
    if cfg.batch_size == 0 || cfg.steps == 0 {
        return Err(Error::Config(
            "bench mobilenet-train: steps and batch size must be positive".into(),
        ));
    }
    let model = mobilenet_v1(&MobileNetV1Config {
        width: cfg.width,
        resolution: cfg.resolution,
        classes: cfg.classes,
        ..Default::default()
    })?;
    let sgd = OptimizerChoice::Sgd {
        config: SgdConfig {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 4e-5,
            ..Default::default()
        },
        decay_vectors: false,
    };
    let mut opt = sgd.build(model.vars(), 0.01)?;
    let mut rng = StdRng::seed_from_u64(0);
    let side = cfg.resolution;
    let x = Tensor::randn(0f32, 1.0, (cfg.batch_size, 3, side, side), &Device::Cpu)?;
    let labels: Vec<u32> = (0..cfg.batch_size)
        .map(|_| rng.random_range(0..cfg.classes as u32))
        .collect();
    let y = Tensor::new(labels.as_slice(), &Device::Cpu)?;
    for _ in 0..cfg.warmup_steps {
        train_step(&model, opt.as_mut(), &x, &y)?;
    }
    let start = Instant::now();
    for _ in 0..cfg.steps {
        train_step(&model, opt.as_mut(), &x, &y)?;
    }
    let ours = (cfg.steps * cfg.batch_size) as f64 / start.elapsed().as_secs_f64();
    let params: usize = model.vars().iter().map(|v| v.elem_count()).sum();
    let torch = match &cfg.python {
        Some(py) => Some(run_peer(
            py,
            &cfg.script,
            &[
                ("--width", cfg.width.to_string()),
                ("--resolution", cfg.resolution.to_string()),
                ("--classes", cfg.classes.to_string()),
                ("--batch-size", cfg.batch_size.to_string()),
                ("--steps", cfg.steps.to_string()),
                ("--warmup-steps", cfg.warmup_steps.to_string()),
                ("--threads", cfg.threads.to_string()),
            ],
        )?),
        None => None,
    };
    let torch = match torch {
        Some(v) if v["parameters"].as_u64() != Some(params as u64) => {
            return Err(Error::Msg(format!(
                "{}: its network has {} trainable parameters, ours {params}: not the same network",
                cfg.script.display(),
                v["parameters"]
            )))
        }
        Some(v) => v["samples_per_s"].as_f64(),
        None => None,
    };
    Ok(MobileNetBenchResult {
        ours_per_s: ours,
        torch_per_s: torch,
    })
}
