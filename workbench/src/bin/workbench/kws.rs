//! `workbench kws ...` and `workbench bench features`: keyword-spotting features.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};

use workbench::dataset::clips::{read_clips, write_clips_npy, ClipOptions};
use workbench::dsp::features::features_array;
use workbench::dsp::{FeatureExtractor, Mfcc, MfccConfig, MicroFrontend, MicroFrontendConfig};
use workbench::npy;

#[derive(Subcommand)]
pub enum KwsCmd {
    /// Audio features as float32 NPY (N, frames, coefficients): (N, 49, 40) for 1 s clips.
    Features(FeaturesArgs),
    /// Train DS-CNN S or micro_kws_xs as the lab does, convert to int8, evaluate and estimate.
    Train(super::kws_train::TrainArgs),
}

/// Which front end computes the features.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Frontend {
    /// The TFLite-Micro front end (micro_speech settings), times 10/256.
    Micro,
    /// MFCC as tf.signal computes it.
    Mfcc,
}

#[derive(Args)]
pub struct FeaturesArgs {
    /// Front end.
    #[arg(long, value_enum)]
    frontend: Frontend,
    /// MFCC coefficients kept, or the micro front end's channels (default 40).
    #[arg(long)]
    coefficients: Option<usize>,
    /// A WAV, a directory of WAVs (sorted by path) or an int16 NPY (N, samples).
    #[arg(long)]
    input: PathBuf,
    /// The float32 NPY to write.
    #[arg(long)]
    output: PathBuf,
    /// Samples per WAV clip: shorter ones are zero-padded, longer ones cut.
    #[arg(long, default_value_t = 16000)]
    samples: usize,
    /// Convert WAVs that are not 16 kHz mono 16-bit PCM (printing a line each) instead of failing.
    #[arg(long)]
    convert: bool,
}

#[derive(Args)]
pub struct BenchFeaturesArgs {
    /// Clips: a WAV directory or an int16 NPY (default: the kws-synth corpus in the data directory).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Data directory (default: $WORKBENCH_DATA, else the user cache).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Clips to cycle through.
    #[arg(long, default_value_t = 100)]
    clips: usize,
    /// Seconds per engine.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Python with tensorflow-cpu and librosa (default: .venv/bin/python in the repo).
    #[arg(long)]
    pub python: Option<PathBuf>,
}

fn extractor(frontend: Frontend, coefficients: Option<usize>) -> Result<FeatureExtractor> {
    Ok(match frontend {
        Frontend::Micro => FeatureExtractor::micro(MicroFrontendConfig {
            num_channels: coefficients.unwrap_or(40),
            ..MicroFrontendConfig::micro_speech()
        })?,
        Frontend::Mfcc => FeatureExtractor::mfcc(MfccConfig {
            num_coefficients: coefficients.unwrap_or(40),
            ..MfccConfig::default()
        })?,
    })
}

pub fn run(cmd: KwsCmd) -> Result<()> {
    match cmd {
        KwsCmd::Features(a) => {
            if a.samples == 0 {
                bail!("--samples must be positive");
            }
            let fx = extractor(a.frontend, a.coefficients)?;
            let (clips, per) = read_clips(
                &a.input,
                &ClipOptions {
                    samples: a.samples,
                    convert: a.convert,
                },
            )?;
            let y = features_array(&fx, &clips, per)?;
            npy::write_npy(&a.output, &y)?;
            println!("wrote {} {:?} float32", a.output.display(), y.shape);
        }
        KwsCmd::Train(a) => super::kws_train::train(a)?,
    }
    Ok(())
}

/// Clips per second of `f` over `clips`, cycling for `budget`, one thread.
fn clips_per_s(clips: &[&[i16]], budget: Duration, mut f: impl FnMut(&[i16]) -> usize) -> f64 {
    let mut sink = 0usize;
    for c in clips {
        sink = sink.wrapping_add(f(c));
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for c in clips {
            sink = sink.wrapping_add(f(c));
        }
        n += clips.len() as u64;
    }
    std::hint::black_box(sink);
    n as f64 / start.elapsed().as_secs_f64()
}

pub fn bench_features(a: BenchFeaturesArgs, python: &Path, script: &Path) -> Result<()> {
    let input = match a.input {
        Some(p) => p,
        None => workbench::data_dir::resolve(a.data_dir.as_deref()).join("kws-synth"),
    };
    let (mut clips, per) = read_clips(&input, &ClipOptions::default())
        .with_context(|| format!("reading clips from {}", input.display()))?;
    clips.truncate(a.clips.max(1) * per);
    let n = clips.len() / per;
    let tmp = std::env::temp_dir().join(format!(
        "workbench-bench-features-{}.npy",
        std::process::id()
    ));
    write_clips_npy(&tmp, &clips, per)?;
    let views: Vec<&[i16]> = clips.chunks_exact(per).collect();
    let budget = Duration::from_secs_f64(a.seconds);
    let mut micro = MicroFrontend::new(MicroFrontendConfig::micro_speech())?;
    let mut portable = MicroFrontend::new(MicroFrontendConfig::micro_speech())?.portable();
    let mut mfcc = Mfcc::new(MfccConfig::default())?;
    let mut rows: Vec<(String, f64)> = vec![
        (
            "workbench micro front end".into(),
            clips_per_s(&views, budget, |c| micro.compute(c).len()),
        ),
        (
            "workbench mfcc".into(),
            clips_per_s(&views, budget, |c| mfcc.compute_i16(c).len()),
        ),
        (
            "workbench micro (no AVX2)".into(),
            clips_per_s(&views, budget, |c| portable.compute(c).len()),
        ),
    ];
    println!("{n} clips of {per} samples, one clip per call, one thread");
    let out = Command::new(python)
        .arg(script)
        .arg(&tmp)
        .arg("--seconds")
        .arg(a.seconds.to_string())
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output();
    let _ = std::fs::remove_file(&tmp);
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)
                .with_context(|| format!("parsing the output of {}", script.display()))?;
            for (k, x) in v.as_object().into_iter().flatten() {
                if let Some(r) = x.get("clips_per_s").and_then(|r| r.as_f64()) {
                    rows.push((k.clone(), r));
                }
            }
        }
        Ok(o) => eprintln!(
            "workbench: Python peers not measured: {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => eprintln!(
            "workbench: Python peers not measured: cannot run {}: {e}",
            python.display()
        ),
    }
    let (micro_ours, mfcc_ours) = (rows[0].1, rows[1].1);
    println!(
        "{:<34} {:>10} {:>12} {:>14}",
        "engine", "clips/s", "us/clip", "ours is x"
    );
    for (name, r) in &rows {
        let ours = if name.contains("micro") {
            micro_ours
        } else {
            mfcc_ours
        };
        println!("{name:<34} {r:>10.0} {:>12.1} {:>14.1}", 1e6 / r, ours / r);
    }
    Ok(())
}
