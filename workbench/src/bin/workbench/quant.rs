//! `workbench quant ...`: post-training quantization of a float .tflite, as TF's converter does it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};

use workbench::npy::{self, NpyArray};
use workbench::quant::convert::{self, ConvertOptions, Io};
use workbench::quant::debug::{self, Debugger};
use workbench::tflite::{self, Graph};

/// `workbench quant` subcommands.
#[derive(Subcommand)]
pub enum QuantCmd {
    /// Quantizes a float32 .tflite to int8 as TensorFlow's converter does (calibrated on a
    /// representative set), or its weights only with --dynamic-range.
    Convert {
        /// The float32 .tflite model.
        #[arg(long = "float")]
        float: PathBuf,
        /// Representative inputs, float32 [N, ...input shape]; repeat once per model input, in order.
        #[arg(long, required_unless_present = "dynamic_range")]
        representative: Vec<PathBuf>,
        /// Dynamic-range quantization (TF's Optimize.DEFAULT without representative data):
        /// int8 weights, float32 activations, run by TFLite's hybrid kernels.
        #[arg(long, conflicts_with_all = ["representative", "io", "denylist_nodes", "denylist_ops", "per_tensor"])]
        dynamic_range: bool,
        /// Model input and output type.
        #[arg(long, value_enum, default_value_t = IoArg::Int8)]
        io: IoArg,
        /// Nodes kept float32, named by their first output tensor (comma-separated).
        #[arg(long, value_delimiter = ',')]
        denylist_nodes: Vec<String>,
        /// Op types kept float32, by TFLite builtin name, e.g. MEAN,LOGISTIC (comma-separated).
        #[arg(long, value_delimiter = ',')]
        denylist_ops: Vec<String>,
        /// Weights per tensor instead of per channel.
        #[arg(long)]
        per_tensor: bool,
        /// The int8 .tflite to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Per-layer quantization errors as TF's Quantization Debugger reports them, model metrics, sensitivity.
    Debug {
        /// The float32 .tflite model.
        #[arg(long = "float")]
        float: PathBuf,
        /// An int8 model of it to debug (ops matched by output tensor name).
        #[arg(
            long,
            conflicts_with = "representative",
            required_unless_present = "representative"
        )]
        int8: Option<PathBuf>,
        /// Representative inputs to calibrate and quantize with (one NPY per model input).
        #[arg(long)]
        representative: Vec<PathBuf>,
        /// Data to measure on, float32 [N, ...input shape] (one NPY per model input).
        #[arg(long, required = true)]
        data: Vec<PathBuf>,
        /// Labels, one integer class per sample (accuracy instead of top-1 agreement).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Nodes kept float32, named by their first output tensor (comma-separated).
        #[arg(long, value_delimiter = ',')]
        denylist_nodes: Vec<String>,
        /// Op types kept float32, e.g. MEAN,LOGISTIC (comma-separated).
        #[arg(long, value_delimiter = ',')]
        denylist_ops: Vec<String>,
        /// Also write DIR/sensitivity.csv (each layer quantized alone, and left float alone).
        #[arg(long)]
        sensitivity: bool,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
}

/// `--io`.
#[derive(Clone, Copy, ValueEnum)]
pub enum IoArg {
    /// int8 input and output.
    Int8,
    /// float32 input and output (QUANTIZE / DEQUANTIZE inside).
    Float,
}

/// Reads a .tflite model, naming the file on error.
pub fn read_model(path: &Path) -> Result<Graph> {
    // The reader's errors name the file.
    Ok(tflite::read_file(path)?)
}

/// Reads one NPY per path, naming the file on error.
pub fn read_arrays(paths: &[PathBuf]) -> Result<Vec<NpyArray>> {
    paths
        .iter()
        .map(|p| npy::read_npy(p).with_context(|| format!("reading {}", p.display())))
        .collect()
}

/// Runs one `workbench quant` subcommand.
pub fn run(cmd: QuantCmd) -> Result<()> {
    match cmd {
        QuantCmd::Convert {
            float,
            dynamic_range: true,
            out,
            ..
        } => {
            let graph = read_model(&float)?;
            let q = workbench::quant::dynamic_range(&graph)
                .with_context(|| format!("quantizing {}", float.display()))?;
            let bytes = tflite::write(&q).context("writing the dynamic-range model")?;
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            let hybrid: Vec<&str> = q
                .nodes
                .iter()
                .filter(|n| {
                    n.inputs
                        .get(1)
                        .copied()
                        .flatten()
                        .is_some_and(|t| q.tensors[t].dtype == tflite::DType::I8)
                })
                .map(|n| n.op.name())
                .collect();
            writeln!(
                std::io::stdout().lock(),
                "wrote {} ({} bytes, {} ops; int8 weights in {} ops: {})",
                out.display(),
                bytes.len(),
                q.nodes.len(),
                hybrid.len(),
                hybrid.join(", ")
            )?;
        }
        QuantCmd::Convert {
            float,
            representative,
            io,
            denylist_nodes,
            denylist_ops,
            per_tensor,
            out,
            ..
        } => {
            let graph = read_model(&float)?;
            let rep = read_arrays(&representative)?;
            let options = ConvertOptions {
                io: match io {
                    IoArg::Int8 => Io::Int8,
                    IoArg::Float => Io::Float,
                },
                denylist_nodes,
                denylist_ops,
                per_tensor,
            };
            let names: Vec<String> = representative
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let cal = convert::calibrate(&graph, &rep).with_context(|| {
                format!("calibrating {} on {}", float.display(), names.join(", "))
            })?;
            let q = convert::quantize_graph(&graph, &cal, &options)
                .with_context(|| format!("quantizing {}", float.display()))?;
            let bytes = tflite::write(&q).context("writing the int8 model")?;
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            let kept: Vec<&str> = q
                .nodes
                .iter()
                .filter(|n| {
                    n.outputs
                        .iter()
                        .any(|&t| q.tensors[t].dtype == tflite::DType::F32)
                        && !matches!(n.op, tflite::Op::Dequantize)
                })
                .map(|n| n.op.name())
                .collect();
            writeln!(
                std::io::stdout().lock(),
                "wrote {} ({} bytes, {} ops, calibrated on {} samples{})",
                out.display(),
                bytes.len(),
                q.nodes.len(),
                cal.samples,
                if kept.is_empty() {
                    String::new()
                } else {
                    format!("; kept float32: {}", kept.join(", "))
                }
            )?;
        }
        QuantCmd::Debug {
            float,
            int8,
            representative,
            data,
            labels,
            denylist_nodes,
            denylist_ops,
            sensitivity,
            out,
        } => {
            let graph = read_model(&float)?;
            let data_arrays = read_arrays(&data)?;
            let labels = labels.map(|p| read_labels(&p)).transpose()?;
            let dbg = match int8 {
                Some(q) => {
                    if !denylist_nodes.is_empty() || !denylist_ops.is_empty() {
                        bail!("--denylist-nodes and --denylist-ops re-quantize: give --representative, not --int8");
                    }
                    Debugger::from_models(graph, read_model(&q)?)
                }
                None => {
                    let rep = read_arrays(&representative)?;
                    // Float input and output, as TF's debug model.
                    let options = ConvertOptions {
                        io: Io::Float,
                        denylist_nodes,
                        denylist_ops,
                        ..ConvertOptions::default()
                    };
                    Debugger::new(graph, &rep, options)
                        .with_context(|| format!("quantizing {}", float.display()))?
                }
            };
            let names: Vec<String> = data.iter().map(|p| p.display().to_string()).collect();
            let ctx = || format!("debugging on {}", names.join(", "));
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let rows = dbg.report(&data_arrays).with_context(ctx)?;
            let report = out.join("quant_report.csv");
            std::fs::write(&report, debug::report_csv(&rows))
                .with_context(|| format!("writing {}", report.display()))?;
            let m = dbg
                .metrics(&data_arrays, labels.as_deref())
                .with_context(ctx)?;
            let metrics = out.join("model_metrics.csv");
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
            std::fs::write(
                &metrics,
                format!(
                    "samples,float_accuracy,int8_accuracy,top1_agreement,output_rmse,output_sqnr_db\n{},{},{},{:.6},{:e},{:.3}\n",
                    m.samples,
                    opt(m.float_accuracy),
                    opt(m.int8_accuracy),
                    m.top1_agreement,
                    m.output_rmse,
                    m.output_sqnr_db
                ),
            )
            .with_context(|| format!("writing {}", metrics.display()))?;
            writeln!(
                std::io::stdout().lock(),
                "wrote {} ({} layers), {} and quant_report.html",
                report.display(),
                rows.len(),
                metrics.display()
            )?;
            match (m.float_accuracy, m.int8_accuracy) {
                (Some(f), Some(q)) => writeln!(
                std::io::stdout().lock(),
                    "float accuracy {:.2}%   int8 accuracy {:.2}%   top-1 agreement {:.2}%   ({} samples)",
                    100.0 * f, 100.0 * q, 100.0 * m.top1_agreement, m.samples
                )?,
                _ => writeln!(
                std::io::stdout().lock(),"top-1 agreement float vs int8 {:.2}%   ({} samples)", 100.0 * m.top1_agreement, m.samples)?,
            }
            let html = out.join("quant_report.html");
            let page = workbench::display::DebugReport {
                rows: rows.clone(),
                metrics: m.clone(),
            }
            .page();
            std::fs::write(&html, page).with_context(|| format!("writing {}", html.display()))?;
            let mut worst: Vec<&debug::LayerStats> = rows.iter().collect();
            worst.sort_by(|a, b| b.rmse_over_scale.total_cmp(&a.rmse_over_scale));
            writeln!(
                std::io::stdout().lock(),
                "worst layers by rmse/scale (ideal 0.289):"
            )?;
            for r in worst.iter().take(3) {
                writeln!(
                    std::io::stdout().lock(),
                    "  {:<16} {:<40} rmse/scale {:.3}  scale {:.4e}  range {:.2}",
                    r.op_name,
                    r.tensor_name,
                    r.rmse_over_scale,
                    r.scale,
                    r.range
                )?;
            }
            if sensitivity {
                let rows = dbg
                    .sensitivity(&data_arrays, labels.as_deref())
                    .with_context(ctx)?;
                let path = out.join("sensitivity.csv");
                std::fs::write(&path, debug::sensitivity_csv(&rows))
                    .with_context(|| format!("writing {}", path.display()))?;
                writeln!(
                    std::io::stdout().lock(),
                    "wrote {} ({} layers)",
                    path.display(),
                    rows.len()
                )?;
            }
        }
    }
    Ok(())
}

/// Reads one integer label per sample, naming the file on error.
fn read_labels(path: &Path) -> Result<Vec<usize>> {
    use workbench::npy::NpyData;
    let a = npy::read_npy(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Vec<i64> = match a.data {
        NpyData::I8(v) => v.into_iter().map(i64::from).collect(),
        NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
        NpyData::I32(v) => v.into_iter().map(i64::from).collect(),
        NpyData::I64(v) => v,
        NpyData::F32(_) => bail!("{}: labels must be integers, got float32", path.display()),
    };
    v.into_iter()
        .map(|x| {
            usize::try_from(x)
                .map_err(|_| anyhow::anyhow!("{}: negative label {x}", path.display()))
        })
        .collect()
}
