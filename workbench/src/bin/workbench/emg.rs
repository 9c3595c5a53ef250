//! `workbench emg ...` and `workbench bench emg-prepare`: flags and glue for the EMG data library.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use workbench::dataset::emg::{self, synth, ChannelType, PrepareConfig};

use crate::bench::emg_prepare as bench;

#[derive(Subcommand)]
pub enum EmgCmd {
    /// Converts a BioWolf armband recording (.bin) to a Parquet session, footer in the metadata.
    ImportBiowolf {
        /// The .bin recording.
        input: PathBuf,
        /// The Parquet file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Writes synthetic subjects' sessions as DIR/subject_<id>/session_<n>.parquet.
    Synth {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// How many subjects (a multi-subject set for pre-training when > 1).
        #[arg(long, default_value_t = 1)]
        subjects: u64,
        /// The first subject's id (ids of a pre-training set and a new subject must differ).
        #[arg(long, default_value_t = 0)]
        first_subject: u64,
        /// Sessions per subject.
        #[arg(long, default_value_t = 2)]
        sessions: u64,
        /// The world's seed (gesture template and subjects).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Repetitions per gesture.
        #[arg(long, default_value_t = 5)]
        repetitions: usize,
    },
    /// The hands-on's preparation: filter, trim, split, scale, window; writes NPYs and rescaling_values.json.
    Prepare {
        /// The session for training and validation (repetitions 0..=3 and 4).
        #[arg(long)]
        train_val: PathBuf,
        /// The test session.
        #[arg(long)]
        test: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Train and test both become train + test.
        #[arg(long)]
        concatenate_all: bool,
    },
    /// TEMPONet as the hands-on trains it: pre-train on synthetic subjects, zero-shot, fine-tune, int8, export.
    Train(TrainArgs),
}

/// Flags of `workbench emg train`.
#[derive(Args)]
pub struct TrainArgs {
    /// The new subject's first session (fine-tuning; default: emg-synth/subject_a/session_1.parquet in the data directory).
    #[arg(long)]
    train_val: Option<PathBuf>,
    /// The new subject's second session (evaluation; default: emg-synth/subject_a/session_2.parquet).
    #[arg(long)]
    test: Option<PathBuf>,
    /// Data directory (default: $WORKBENCH_DATA, else ~/.cache/workbench).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Output directory for the model, the .tflite and the metrics.
    #[arg(long, default_value = "out/emg")]
    out: PathBuf,
    /// Most fine-tuning epochs (the hands-on: 300).
    #[arg(long, default_value_t = 300)]
    epochs: usize,
    /// Most pre-training epochs.
    #[arg(long, default_value_t = 300)]
    pretrain_epochs: usize,
    /// Synthetic pre-training subjects (ids 100..100+N).
    #[arg(long, default_value_t = 8)]
    pretrain_subjects: u64,
    /// Early-stopping patience in epochs, on the validation loss.
    #[arg(long, default_value_t = 50)]
    patience: usize,
    /// Fine-tuning learning rate (Adam).
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    /// Pre-training learning rate (Adam).
    #[arg(long, default_value_t = 1e-3)]
    pretrain_lr: f64,
    /// Seed of the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most quantization-aware training epochs after fine-tuning, early-stopped with the
    /// hands-on's patience of 50 (0: no QAT, integer network or ONNX).
    #[arg(long, default_value_t = 300)]
    qat_epochs: usize,
    /// Right shift of the integer network's requantization.
    #[arg(long, default_value_t = workbench::quant::integer::DEFAULT_SHIFT)]
    shift_pos: u32,
}

fn train(args: TrainArgs) -> Result<()> {
    use workbench::tutorial::emg as t;
    let subject =
        workbench::data_dir::resolve(args.data_dir.as_deref()).join("emg-synth/subject_a");
    let p1 = args
        .train_val
        .unwrap_or_else(|| subject.join("session_1.parquet"));
    let p2 = args
        .test
        .unwrap_or_else(|| subject.join("session_2.parquet"));
    let s1 = emg::read_parquet(&p1, 8)?;
    let s2 = emg::read_parquet(&p2, 8)?;
    let defaults = t::EmgConfig::default();
    let cfg = t::EmgConfig {
        pretrain: t::TrainConfig {
            epochs: args.pretrain_epochs,
            learning_rate: args.pretrain_lr,
            patience: args.patience,
            seed: args.seed,
            ..defaults.pretrain.clone()
        },
        finetune: t::TrainConfig {
            epochs: args.epochs,
            learning_rate: args.lr,
            patience: args.patience,
            seed: args.seed,
            ..defaults.finetune.clone()
        },
        pretrain_subjects: 100..100 + args.pretrain_subjects,
        seed: args.seed,
        ..defaults
    };
    let run = t::run(&s1, &s2, &cfg)?;
    let m = &run.metrics;
    println!(
        "windows: pre-training {} / {} (train / val), subject {} / {} / {} (train / val / test)",
        m.pretrain_windows.0,
        m.pretrain_windows.1,
        m.subject_windows.0,
        m.subject_windows.1,
        m.subject_windows.2
    );
    println!("session 2 of {}:", p2.display());
    for (name, e) in [
        ("zero-shot (pre-trained)", &m.zero_shot),
        ("fine-tuned (float)", &m.fine_tuned),
        ("fine-tuned (int8 TFLite)", &m.int8),
    ] {
        println!(
            "  {name:<26} accuracy {:.4}  macro accuracy {:.4}",
            e.accuracy, e.macro_accuracy
        );
    }
    for f in run.save(&args.out)? {
        println!("wrote {}", f.display());
    }
    if args.qat_epochs > 0 {
        use workbench::tutorial::emg_qat::{quantization_aware, QatConfig};
        let p = emg::prepare(&s1, &s2, &cfg.prepare)?;
        let (tr, va, te) = (
            t::samples(&p.train)?,
            t::samples(&p.val)?,
            t::samples(&p.test)?,
        );
        let qd = QatConfig::default();
        let qcfg = QatConfig {
            train: t::TrainConfig {
                epochs: args.qat_epochs,
                learning_rate: args.lr,
                seed: args.seed,
                ..qd.train.clone()
            },
            shift: args.shift_pos,
            ..qd
        };
        let q = quantization_aware(&run.model, &tr, &va, &te, &qcfg)?;
        println!("quantization-aware training, session 2:\n{}", q.table);
        println!(
            "clip_val {:.4}; largest integer accumulator {}",
            q.qat.input_clip_value()?,
            q.peak_accumulator
        );
        for f in q.save(&args.out, &p.rescaling)? {
            println!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// Flags of `workbench bench emg-prepare`.
#[derive(Args)]
pub struct BenchPrepareArgs {
    /// The train/val session (default: emg-synth/subject_a/session_1.parquet in the data directory).
    #[arg(long)]
    train_val: Option<PathBuf>,
    /// The test session (default: emg-synth/subject_a/session_2.parquet in the data directory).
    #[arg(long)]
    test: Option<PathBuf>,
    /// Timed repetitions per engine.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Python with scipy and pyarrow (default: $WORKBENCH_PYTHON, else .venv/bin/python in the repo).
    #[arg(long)]
    pub python: Option<PathBuf>,
}

pub fn run(cmd: EmgCmd) -> Result<()> {
    match cmd {
        EmgCmd::ImportBiowolf { input, out } => {
            let s = emg::read_biowolf(&input)?;
            emg::write_parquet(&out, &s, ChannelType::F64)?;
            println!(
                "wrote {}: {} samples x {} channels, subject {:?}, {} Hz, gain G{}",
                out.display(),
                s.len(),
                s.channels.len(),
                s.meta("subject").unwrap_or(""),
                s.meta("sample_rate").unwrap_or("?"),
                s.meta("gain").unwrap_or("?")
            );
        }
        EmgCmd::Synth {
            out,
            subjects,
            first_subject,
            sessions,
            seed,
            repetitions,
        } => {
            if subjects == 0 || sessions == 0 {
                bail!("nothing to make: --subjects and --sessions must be at least 1");
            }
            let cfg = emg::SynthConfig {
                seed,
                repetitions,
                ..Default::default()
            };
            let bar = ProgressBar::new(subjects * sessions);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} sessions {elapsed}")
                    .expect("static template"),
            );
            if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            for id in first_subject..first_subject + subjects {
                let dir = out.join(format!("subject_{id}"));
                std::fs::create_dir_all(&dir).map_err(|e| workbench::Error::io(&dir, e))?;
                for n in 1..=sessions {
                    let s = synth::session(&cfg, id, n);
                    let path = dir.join(format!("session_{n}.parquet"));
                    emg::write_parquet(&path, &s, ChannelType::F32)?;
                    bar.inc(1);
                }
            }
            bar.finish_and_clear();
            println!(
                "wrote {} subjects x {sessions} sessions to {} (seed {seed})",
                subjects,
                out.display()
            );
        }
        EmgCmd::Prepare {
            train_val,
            test,
            out,
            concatenate_all,
        } => {
            let cfg = PrepareConfig {
                concatenate_all,
                ..Default::default()
            };
            let p = emg::prepare_files(&train_val, &test, &cfg)?;
            p.save(&out)?;
            for (name, w) in [("train", &p.train), ("val", &p.val), ("test", &p.test)] {
                println!(
                    "{name:<5} {:>6} windows, per class {:?}",
                    w.len(),
                    w.class_counts()
                );
            }
            println!("wrote {}", out.display());
        }
        EmgCmd::Train(args) => train(args)?,
    }
    Ok(())
}

pub fn bench_prepare(
    args: BenchPrepareArgs,
    data_dir: &Path,
    python: &Path,
    script: &Path,
) -> Result<()> {
    let subject = data_dir.join("emg-synth/subject_a");
    let s1 = args
        .train_val
        .unwrap_or_else(|| subject.join("session_1.parquet"));
    let s2 = args
        .test
        .unwrap_or_else(|| subject.join("session_2.parquet"));
    let r = bench::bench_prepare(&s1, &s2, args.repeats, python, script)?;
    println!(
        "{} samples (both sessions), {} repeats",
        r.samples, args.repeats
    );
    println!("{:<24} {:>14}", "engine", "samples/s");
    println!("{:<24} {:>14.0}", "workbench", r.ours_samples_per_s);
    match (r.scipy_samples_per_s, r.ratio()) {
        (Some(s), Some(ratio)) => {
            println!("{:<24} {:>14.0}", "scipy/numpy", s);
            println!("workbench is {ratio:.2}x scipy");
        }
        _ => println!("scipy not measured"),
    }
    Ok(())
}
