//! `workbench kws train`: the keyword-spotting lab's training, conversion and estimates.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use workbench::dataset::speech_commands::SpeechCommandsConfig;
use workbench::tutorial::kws::{self, Frontend, KwsConfig, KwsModel};

/// Which model is trained.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModelArg {
    /// ARM's DS-CNN S.
    DsCnnS,
    /// The lab's micro_kws_xs.
    MicroKwsXs,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Corpus in the Speech Commands layout (default: <data dir>/kws-synth).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Data directory (default: $WORKBENCH_DATA, else the user cache).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Comma-separated words to recognize.
    #[arg(long, default_value = "yes,no")]
    words: String,
    /// Silence clips per 100 wanted-word clips (default: 100 / number of classes).
    #[arg(long)]
    silence_percentage: Option<f64>,
    /// Unknown-word clips per 100 wanted-word clips (default: 100 / number of classes).
    #[arg(long)]
    unknown_percentage: Option<f64>,
    /// Front end.
    #[arg(long, value_enum, default_value = "micro")]
    frontend: super::kws::Frontend,
    /// MFCC coefficients kept (with --frontend mfcc).
    #[arg(long, default_value_t = 40)]
    coefficients: usize,
    /// Model (the lab's micro_kws_xs by default).
    #[arg(long, value_enum, default_value = "micro-kws-xs")]
    model: ModelArg,
    /// Steps per learning-rate stage, comma-separated.
    #[arg(long, default_value = "12000,3000")]
    steps: String,
    /// Learning rate per stage, comma-separated.
    #[arg(long, default_value = "0.001,0.0001")]
    learning_rate: String,
    /// Clips per step.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Steps between validations.
    #[arg(long, default_value_t = 400)]
    eval_every: usize,
    /// Stop after N validations without a lower validation loss (the lab uses 10).
    #[arg(long)]
    early_stopping: Option<usize>,
    /// Validation clips calibrating the int8 model.
    #[arg(long, default_value_t = 100)]
    representative: usize,
    /// Batch norm momentum (default: Keras' 0.99; short runs need less, e.g. 0.9).
    #[arg(long)]
    batch_norm_momentum: Option<f64>,
    /// Seed of data augmentation, initialisation and batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output directory for the model, the .tflite, metrics.json and the best
    /// checkpoints (best-stepN.safetensors, the best reloaded after training).
    #[arg(long, default_value = "out/kws")]
    out: PathBuf,
}

fn list<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>> {
    s.split(',')
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{what}: {v:?} is not a number"))
        })
        .collect()
}

pub fn train(a: TrainArgs) -> Result<()> {
    let steps: Vec<u64> = list(&a.steps, "--steps")?;
    let rates: Vec<f64> = list(&a.learning_rate, "--learning-rate")?;
    if steps.len() != rates.len() {
        bail!(
            "{} step stages but {} learning rates",
            steps.len(),
            rates.len()
        );
    }
    let root = match a.data {
        Some(p) => p,
        None => workbench::data_dir::resolve(a.data_dir.as_deref()).join("kws-synth"),
    };
    let cfg = KwsConfig {
        data: SpeechCommandsConfig {
            wanted_words: a.words.split(',').map(|w| w.trim().to_string()).collect(),
            silence_percentage: a.silence_percentage,
            unknown_percentage: a.unknown_percentage,
            seed: a.seed,
            ..SpeechCommandsConfig::default()
        },
        frontend: match a.frontend {
            super::kws::Frontend::Micro => Frontend::Micro,
            super::kws::Frontend::Mfcc => Frontend::Mfcc(a.coefficients),
        },
        model: match a.model {
            ModelArg::DsCnnS => KwsModel::DsCnnS,
            ModelArg::MicroKwsXs => KwsModel::MicroKwsXs,
        },
        schedule: steps.into_iter().zip(rates).collect(),
        batch_size: a.batch_size,
        eval_every: a.eval_every,
        early_stopping_patience: a.early_stopping,
        representative: a.representative,
        seed: a.seed,
        batch_norm_momentum: a.batch_norm_momentum,
        progress: true,
        checkpoint_dir: Some(a.out.clone()),
    };
    let (data, run) =
        kws::run(&root, &cfg).with_context(|| format!("training on {}", root.display()))?;
    let m = &run.metrics;
    println!(
        "classes {:?}; clips train/validation/test {:?}; features {:?}",
        m.labels, m.clips, data.shape
    );
    println!(
        "best checkpoint: step {} (validation accuracy {:.4}), reloaded from {}",
        m.best_step,
        m.best_val_accuracy,
        m.best_checkpoint
            .as_ref()
            .map_or_else(|| "memory".into(), |p| p.display().to_string())
    );
    println!(
        "test accuracy (the .tflite files in the workbench's interpreter): float {:.4}, int8 {:.4}",
        m.float_accuracy, m.int8_accuracy
    );
    for line in m.per_class_lines() {
        println!("{line}");
    }
    println!("int8 confusion matrix (rows: truth, columns: predicted)");
    let head: Vec<String> = m.labels.iter().map(|l| format!("{l:>10}")).collect();
    println!("{:>10}  {}", "", head.join(" "));
    for (name, row) in m.labels.iter().zip(&m.int8_confusion.counts) {
        let cells: Vec<String> = row.iter().map(|c| format!("{c:>10}")).collect();
        println!("{name:>10}: {}", cells.join(" "));
    }
    println!(
        "{:>3} {:<18} {:<16} {:>10} {:>8} {:>9} {:>9}",
        "#", "op", "output", "MACs", "params", "ROM B", "RAM B"
    );
    for l in &run.estimate.layers {
        println!(
            "{:>3} {:<18} {:<16} {:>10} {:>8} {:>9} {:>9}",
            l.index,
            l.op,
            format!("{:?}", l.output_shape),
            l.macs,
            l.params,
            l.rom_bytes,
            l.ram_bytes
        );
    }
    println!(
        "ROM {} B, RAM {} B worst / {} B best, {} MACs; int8 .tflite {} B, float .tflite {} B",
        m.rom_bytes,
        m.ram_bytes_worst,
        m.ram_bytes_best,
        m.macs,
        m.tflite_bytes,
        m.float_tflite_bytes
    );
    for p in run.save(&a.out)? {
        println!("wrote {}", p.display());
    }
    Ok(())
}
