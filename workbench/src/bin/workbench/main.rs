//! `workbench`: the TinyML workbench's command line. It parses flags and
//! glues library calls; the work happens in the `workbench` library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod bench;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

mod kws;
mod kws_train;

use workbench::tflite::runtime::Kernels;
use workbench::tutorial::mnist::{self, MnistConfig};
use workbench::{data_dir, dataset, estimate, infer, npy, tflite};

mod emg;
#[cfg(feature = "images")]
mod mobilenet;
mod quant;

#[derive(Parser)]
#[command(
    name = "workbench",
    version,
    about = "Train, quantize to int8, inspect and deploy TinyML models"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The MNIST tutorial: train, quantize, evaluate, report, export.
    Mnist {
        #[command(subcommand)]
        cmd: MnistCmd,
    },
    /// Runs an int8 .tflite model on a batch from an NPY file.
    Infer {
        /// The .tflite model.
        #[arg(long)]
        model: PathBuf,
        /// Input batch (leading dimension N): int8 as-is, or float32 to quantize.
        #[arg(long)]
        input: PathBuf,
        /// Where to write the outputs.
        #[arg(long)]
        output: PathBuf,
        /// Write float32 outputs (dequantized) instead of int8.
        #[arg(long)]
        dequantize: bool,
    },
    /// The guided tour: the MNIST flow on whatever data it finds, with a summary.
    Tour {
        #[command(flatten)]
        run: RunArgs,
        /// Output directory.
        #[arg(long, default_value = "out/tour")]
        out: PathBuf,
    },
    /// Shows a .tflite model's layers, its model parameters and its ROM/RAM/MAC estimates.
    Inspect {
        /// The .tflite model.
        model: PathBuf,
    },
    /// Writes a .tflite model as a C array for firmware (like `xxd -i`).
    ExportC {
        /// The .tflite model.
        model: PathBuf,
        /// The .cc file to write.
        #[arg(long)]
        out: PathBuf,
        /// The array's name.
        #[arg(long, default_value = "g_model")]
        name: String,
    },
    /// Downloads a dataset into the data directory (verifying SHA-256).
    Download {
        /// Dataset name: mnist or speech_commands.
        dataset: String,
        /// Data directory (default: $WORKBENCH_DATA, else the user cache).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// EMG gesture data: import, synthesize, prepare.
    Emg {
        #[command(subcommand)]
        cmd: emg::EmgCmd,
    },
    /// Keyword spotting: audio features, training.
    Kws {
        #[command(subcommand)]
        cmd: kws::KwsCmd,
    },
    /// Post-training quantization of a float .tflite, as TensorFlow's converter does it.
    Quant {
        #[command(subcommand)]
        cmd: quant::QuantCmd,
    },
    /// The MobileNet tutorial: MobileNetV1 on an ImageFolder tree.
    #[cfg(feature = "images")]
    Mobilenet {
        #[command(subcommand)]
        cmd: mobilenet::MobilenetCmd,
    },
    /// Benchmarks against the Python peers, in the same run.
    Bench {
        #[command(subcommand)]
        cmd: BenchCmd,
    },
}

#[derive(Subcommand)]
enum MnistCmd {
    /// Trains the tutorial CNN and writes the model, its int8 .tflite, C array, report and metrics.
    Train {
        #[command(flatten)]
        run: RunArgs,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Keyword-spotting features: clips/s of our micro front end and MFCC against TensorFlow and librosa.
    Features(kws::BenchFeaturesArgs),
    /// int8 inferences/s: our kernels against the TFLite interpreter (reference and XNNPACK).
    Infer {
        /// The int8 .tflite model.
        #[arg(long)]
        model: PathBuf,
        /// Inputs (int8 NPY, leading dimension N); default: 16 random samples.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Seconds per engine.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Python with ai-edge-litert (default: .venv/bin/python in the repo).
        #[arg(long)]
        python: Option<PathBuf>,
        /// Print one JSON object (`ours_per_s`, `ours_reference_per_s`,
        /// `tflite_reference_per_s`, `tflite_xnnpack_per_s`; null where not measured).
        #[arg(long)]
        json: bool,
    },
    /// Forward + backward ms of our depthwise conv against candle's grouped conv2d.
    Depthwise {
        /// Batch size.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// Timed iterations per engine (the median is shown).
        #[arg(long, default_value_t = 10)]
        iters: usize,
    },
    /// Training samples/s of the MNIST CNN: candle against Keras.
    Train {
        /// Data directory (default: $WORKBENCH_DATA, else the user cache).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Training samples to time.
        #[arg(long, default_value_t = 30000)]
        samples: usize,
        /// Python with tensorflow-cpu (default: .venv/bin/python in the repo).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// Training images/s of MobileNetV1 (SGD, Nesterov): ours against PyTorch on the CPU.
    MobilenetTrain {
        /// Width multiplier.
        #[arg(long, default_value_t = 0.25)]
        width: f64,
        /// Input side.
        #[arg(long, default_value_t = 96)]
        resolution: usize,
        /// Images per step.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Timed steps per engine.
        #[arg(long, default_value_t = 20)]
        steps: usize,
        /// Threads of both engines (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Python with torch (default: .venv-torch/bin/python, made by scripts/setup-torch.sh).
        #[arg(long)]
        python: Option<PathBuf>,
    },
    /// EMG preparation samples/s: ours against scipy/numpy on the same sessions.
    EmgPrepare {
        #[command(flatten)]
        args: emg::BenchPrepareArgs,
        /// Data directory (default: $WORKBENCH_DATA, else the user cache).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Data directory (default: $WORKBENCH_DATA, else the user cache).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Epochs.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Train on the first N images only.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Never download; use the embedded sample when no data is found.
    #[arg(long)]
    offline: bool,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The repository root, for default script and venv paths.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn default_python(p: Option<PathBuf>) -> PathBuf {
    p.or_else(|| std::env::var_os("WORKBENCH_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

fn run_mnist(args: &RunArgs, out: &Path) -> Result<mnist::MnistRun> {
    let dir = data_dir::resolve(args.data_dir.as_deref());
    let (data, source) = dataset::mnist::load(
        &dir,
        &dataset::mnist::LoadOptions {
            download: !args.offline,
        },
    )?;
    println!("{source}");
    let cfg = MnistConfig {
        epochs: args.epochs,
        train_limit: args.train_limit,
        seed: args.seed,
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ..MnistConfig::default()
    };
    let run = mnist::run(&data, &source, &cfg)?;
    for f in run.save(out)? {
        println!("wrote {}", f.display());
    }
    Ok(run)
}

fn print_summary(run: &mnist::MnistRun) {
    let m = &run.metrics;
    println!();
    println!(
        "float accuracy {:.2}%   int8 accuracy {:.2}%   (drop {:+.2} points, {} test images)",
        100.0 * m.float_accuracy,
        100.0 * m.int8_accuracy,
        100.0 * (m.int8_accuracy - m.float_accuracy),
        m.test_images
    );
    println!(
        "training: {} images x {} epochs at {:.0} samples/s",
        m.train_images, m.epochs, m.train_samples_per_s
    );
    println!();
    println!("worst layers by rmse/scale (ideal 0.289):");
    for r in run.report.worst(3) {
        println!(
            "  {:<16} {:<14} rmse/scale {:.3}  scale {:.4e}  range {:.2}",
            r.op_name, r.tensor_name, r.rmse_over_scale, r.scale, r.range
        );
    }
    println!();
    println!("{}", run.estimate);
    println!(
        "ROM {} bytes, RAM {} bytes worst / {} best, {} MACs, .tflite {} bytes",
        m.rom_bytes, m.ram_bytes_worst, m.ram_bytes_best, m.macs, m.tflite_bytes
    );
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Kws { cmd } => kws::run(cmd)?,
        Cmd::Quant { cmd } => quant::run(cmd)?,
        #[cfg(feature = "images")]
        Cmd::Mobilenet { cmd } => mobilenet::run(cmd)?,
        Cmd::Bench {
            cmd: BenchCmd::Features(a),
        } => {
            let python = default_python(a.python.clone());
            kws::bench_features(a, &python, &repo_root().join("scripts/bench_features.py"))?
        }
        Cmd::Mnist {
            cmd: MnistCmd::Train { run, out },
        } => {
            let r = run_mnist(&run, &out)?;
            print_summary(&r);
        }
        Cmd::Tour { run, out } => {
            println!("workbench tour: the MNIST tutorial, from training to an int8 model for a microcontroller");
            let r = run_mnist(&run, &out)?;
            print_summary(&r);
        }
        Cmd::Infer {
            model,
            input,
            output,
            dequantize,
        } => {
            let graph = tflite::read_file(&model)?;
            let x = npy::read_npy(&input)?;
            let y = infer::infer_batch(
                &graph,
                &x,
                &infer::InferOptions {
                    dequantize,
                    ..Default::default()
                },
            )
            .with_context(|| format!("running {} on {}", model.display(), input.display()))?;
            npy::write_npy(&output, &y)?;
            println!("wrote {} {:?}", output.display(), y.shape);
        }
        Cmd::Inspect { model } => {
            let graph = tflite::read_file(&model)?;
            for (i, n) in graph.nodes.iter().enumerate() {
                let out = n.outputs.first().map(|&t| &graph.tensors[t]);
                println!(
                    "{i:>3} {:<18} -> {:?} {}",
                    n.op.name(),
                    out.map(|t| t.shape.clone()).unwrap_or_default(),
                    out.map(|t| t.name.as_str()).unwrap_or("")
                );
            }
            if !graph.params.is_empty() {
                println!("model parameters ({}):", tflite::params::METADATA_NAME);
                for line in graph.params.to_string().lines() {
                    println!("  {line}");
                }
                match tflite::InputNormalization::from_params(&graph.params) {
                    Ok(norm) => println!("input normalization: {norm}"),
                    Err(e) => println!("input normalization: unusable ({e})"),
                }
            }
            println!("{}", estimate::estimate(&graph));
        }
        Cmd::ExportC { model, out, name } => {
            let bytes = std::fs::read(&model).with_context(|| model.display().to_string())?;
            tflite::read(&bytes).with_context(|| model.display().to_string())?;
            std::fs::write(&out, tflite::c_array::to_c_array(&bytes, &name))
                .with_context(|| out.display().to_string())?;
            println!("wrote {}", out.display());
        }
        Cmd::Download { dataset, data_dir } => {
            let dir = data_dir::resolve(data_dir.as_deref());
            match dataset.as_str() {
                "mnist" => {
                    dataset::download::fetch(
                        &dataset::mnist::url_base(),
                        &dataset::mnist::REMOTE_FILES,
                        &dir.join("mnist"),
                        &Default::default(),
                    )?;
                    println!("mnist is in {}", dir.join("mnist").display());
                }
                "speech_commands" => {
                    let d = dataset::speech_commands::download(&dir, &Default::default())?;
                    println!("speech commands v0.02 is in {}", d.display());
                }
                other => bail!("unknown dataset {other:?}; known: mnist, speech_commands"),
            }
        }
        Cmd::Emg { cmd } => emg::run(cmd)?,
        Cmd::Bench {
            cmd: BenchCmd::EmgPrepare { mut args, data_dir },
        } => {
            let python = default_python(args.python.take());
            let script = repo_root().join("scripts/emg_prepare_ref.py");
            let dir = data_dir::resolve(data_dir.as_deref());
            emg::bench_prepare(args, &dir, &python, &script)?
        }
        Cmd::Bench {
            cmd:
                BenchCmd::Infer {
                    model,
                    input,
                    seconds,
                    python,
                    json,
                },
        } => bench_infer(
            &model,
            input.as_deref(),
            seconds,
            &default_python(python),
            json,
        )?,
        Cmd::Bench {
            cmd: BenchCmd::Depthwise { batch, iters },
        } => bench::depthwise_table::run(batch, iters)?,
        Cmd::Bench {
            cmd:
                BenchCmd::MobilenetTrain {
                    width,
                    resolution,
                    batch_size,
                    steps,
                    threads,
                    python,
                },
        } => {
            let defaults = bench::MobileNetBenchConfig::default();
            let threads = threads.unwrap_or(defaults.threads);
            let python = python.unwrap_or_else(|| repo_root().join(".venv-torch/bin/python"));
            if !python.exists() {
                bail!(
                    "{}: no Python with torch; run scripts/setup-torch.sh or pass --python",
                    python.display()
                );
            }
            let cfg = bench::MobileNetBenchConfig {
                width,
                resolution,
                batch_size,
                steps,
                threads,
                python: Some(python),
                script: repo_root().join("scripts/bench_torch_mobilenet.py"),
                ..defaults
            };
            let r = bench::bench_mobilenet_train(&cfg)?;
            println!(
                "MobileNetV1 {width} at {resolution}x{resolution}, batch {batch_size}, {threads} thread(s), {steps} timed steps"
            );
            println!("{:<20} {:>12}", "engine", "images/s");
            println!("{:<20} {:>12.1}", "workbench (candle)", r.ours_per_s);
            if let Some(t) = r.torch_per_s {
                println!("{:<20} {:>12.1}", "pytorch", t);
                println!("workbench is {:.2}x PyTorch", r.ours_per_s / t);
            }
        }
        Cmd::Bench {
            cmd:
                BenchCmd::Train {
                    data_dir,
                    samples,
                    python,
                },
        } => {
            let dir = data_dir::resolve(data_dir.as_deref());
            let (data, source) =
                dataset::mnist::load(&dir, &dataset::mnist::LoadOptions { download: false })?;
            println!("{source}");
            let samples_set = data.train_samples(data.train_len())?;
            let cfg = bench::BenchConfig {
                samples,
                python: Some(default_python(python)),
                script: repo_root().join("scripts/bench_keras_train.py"),
                mnist_dir: dir.join("mnist"),
                ..Default::default()
            };
            let r = bench::bench_train(&samples_set, &cfg)?;
            println!("{:<20} {:>12}", "engine", "samples/s");
            println!(
                "{:<20} {:>12.0}",
                "workbench (candle)", r.ours_samples_per_s
            );
            match (r.keras_samples_per_s, r.ratio) {
                (Some(k), Some(ratio)) => {
                    println!("{:<20} {:>12.0}", "keras (tensorflow)", k);
                    println!("workbench is {ratio:.2}x Keras");
                }
                _ => println!("keras not measured"),
            }
        }
    }
    Ok(())
}

fn bench_infer(
    model: &Path,
    input: Option<&Path>,
    seconds: f64,
    python: &Path,
    json: bool,
) -> Result<()> {
    let graph = tflite::read_file(model)?;
    let in_t = &graph.tensors[graph.inputs[0]];
    let per = in_t.num_elements();
    let tmp;
    let (samples, input_path): (Vec<Vec<i8>>, PathBuf) = match input {
        Some(p) => {
            let a = npy::read_npy(p)?;
            let v = match a.data {
                npy::NpyData::I8(v) => v,
                _ => bail!("{}: bench needs an int8 NPY", p.display()),
            };
            (v.chunks(per).map(|c| c.to_vec()).collect(), p.to_path_buf())
        }
        None => {
            // 16 deterministic pseudo-random samples (xorshift).
            let mut s = 0x2545_f491_4f6c_dd1du64;
            let v: Vec<i8> = (0..16 * per)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 56) as u8 as i8
                })
                .collect();
            tmp = std::env::temp_dir().join(format!("workbench-bench-{}.npy", std::process::id()));
            let mut shape = vec![16];
            shape.extend(in_t.shape.iter().skip(1));
            npy::write_npy(
                &tmp,
                &npy::NpyArray {
                    shape,
                    data: npy::NpyData::I8(v.clone()),
                },
            )?;
            (v.chunks(per).map(|c| c.to_vec()).collect(), tmp.clone())
        }
    };
    let budget = Duration::from_secs_f64(seconds);
    let mut rows = vec![
        bench::Throughput {
            engine: "workbench optimized".into(),
            per_second: bench::time_int8(&graph, Kernels::Optimized, &samples, budget)?,
        },
        bench::Throughput {
            engine: "workbench reference".into(),
            per_second: bench::time_int8(&graph, Kernels::Reference, &samples, budget)?,
        },
    ];
    let script = repo_root().join("scripts/bench_tflite.py");
    match bench::time_tflite(python, &script, model, &input_path, seconds) {
        Ok(t) => rows.extend(t),
        Err(e) => eprintln!("workbench: TFLite peer not measured: {e}"),
    }
    let ours = rows[0].per_second;
    if json {
        let rate = |engine: &str| {
            rows.iter()
                .find(|r| r.engine == engine)
                .map(|r| r.per_second)
        };
        let v = serde_json::json!({
            "model": model.display().to_string(),
            "ours_per_s": ours,
            "ours_reference_per_s": rate("workbench reference"),
            "tflite_reference_per_s": rate("tflite reference"),
            "tflite_xnnpack_per_s": rate("tflite default (XNNPACK)"),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<28} {:>14} {:>18}",
        "engine", "inferences/s", "optimized is x"
    );
    for r in &rows {
        println!(
            "{:<28} {:>14.0} {:>18.2}",
            r.engine,
            r.per_second,
            ours / r.per_second
        );
    }
    Ok(())
}

/// The error and its causes, skipping a cause whose text the message already shows.
fn error_chain(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    msg
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `bench mobilenet-train --threads N` sizes our pool as it sizes PyTorch's.
    let rayon = match &cli.cmd {
        Cmd::Bench {
            cmd: BenchCmd::MobilenetTrain { threads, .. },
        } => *threads,
        _ => None,
    };
    workbench::threads::configure(&workbench::threads::Threads {
        rayon,
        ..Default::default()
    });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            let _ = std::io::stdout().flush();
            eprintln!("workbench: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}
