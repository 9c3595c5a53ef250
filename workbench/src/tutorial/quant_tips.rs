//! The quantization-tips tutorial (MLTK's "Model Quantization Tips"): train a variant, export
//! its float graph as TF's converter would, quantize and debug it; compare variants; trade
//! accuracy against size and speed by leaving the worst layers in float.
//!
//! A variant's model is built by the caller and trained here, in the same notebook cell
//! (evcxr gives each cell its own copy of candle's statics).

use std::time::Instant;

use crate::dataset::Samples;
use crate::display::html::{percent, sig4, thousands, Cell, Table};
use crate::display::{evcxr, DebugReport};
use crate::estimate::estimate;
use crate::infer::{infer_batch, InferOptions};
use crate::npy::NpyArray;
use crate::quant::convert::ConvertOptions;
use crate::quant::debug::{Debugger, LayerStats};
use crate::quant::{build_float, FloatOptions};
use crate::tflite::Graph;
use crate::train::{self, FitConfig, Sequential};
use crate::Result;

/// How a variant is trained and debugged.
#[derive(Debug, Clone)]
pub struct StudyConfig {
    /// Training settings.
    pub fit: FitConfig,
    /// Training samples used for calibration (default 500).
    pub representative: usize,
    /// Test samples the per-layer report runs on (default 200).
    pub debug_samples: usize,
    /// Quantization settings (default: int8 input and output).
    pub convert: ConvertOptions,
    /// What the float export appends (default: nothing; `softmax` for a softmax head).
    pub float: FloatOptions,
}

impl Default for StudyConfig {
    fn default() -> Self {
        StudyConfig {
            fit: FitConfig::default(),
            representative: 500,
            debug_samples: 200,
            convert: ConvertOptions::default(),
            float: FloatOptions::default(),
        }
    }
}

/// One trained, quantized and debugged variant.
#[derive(Debug, Clone)]
pub struct Study {
    /// The variant's name.
    pub name: String,
    /// Float accuracy on the whole test set.
    pub float_accuracy: f64,
    /// int8 accuracy on the whole test set.
    pub int8_accuracy: f64,
    /// The debugger (float graph, calibration, int8 graph).
    pub debugger: Debugger,
    /// Per-layer report and metrics over the first `debug_samples` test samples.
    pub report: DebugReport,
}

impl Study {
    /// The float graph as exported (what TF's converter would write).
    pub fn float_graph(&self) -> &Graph {
        self.debugger.float()
    }

    /// The op names of the float graph, in order.
    pub fn float_ops(&self) -> Vec<&'static str> {
        self.float_graph()
            .nodes
            .iter()
            .map(|n| n.op.name())
            .collect()
    }

    /// The row with the largest rmse/scale.
    pub fn worst(&self) -> Option<&LayerStats> {
        self.report
            .rows
            .iter()
            .max_by(|a, b| a.rmse_over_scale.total_cmp(&b.rmse_over_scale))
    }
}

/// Trains `model` on `train`, exports its float graph, quantizes it and debugs it on `test`.
pub fn study(
    name: &str,
    model: &Sequential,
    train: &Samples,
    test: &Samples,
    config: &StudyConfig,
) -> Result<Study> {
    train::fit(model, train, Some(test), &config.fit)?;
    study_trained(name, model, train, test, config)
}

/// [`study`] for a model that is already trained.
pub fn study_trained(
    name: &str,
    model: &Sequential,
    train: &Samples,
    test: &Samples,
    config: &StudyConfig,
) -> Result<Study> {
    let float = build_float(model, &config.float)?;
    let rep = train.take(config.representative).to_npy_nhwc();
    let debugger = Debugger::new(float, &[rep], config.convert.clone())?;
    let all = [test.to_npy_nhwc()];
    let labels = test.class_indices();
    let whole = debugger.metrics(&all, Some(&labels))?;
    let few = test.take(config.debug_samples);
    let report = debugger.explorer(&[few.to_npy_nhwc()], Some(&few.class_indices()))?;
    Ok(Study {
        name: name.to_string(),
        float_accuracy: whole.float_accuracy.unwrap_or(0.0),
        int8_accuracy: whole.int8_accuracy.unwrap_or(0.0),
        debugger,
        report,
    })
}

/// Variants side by side: accuracies, the input's quantization and the worst layer.
#[derive(Debug, Clone)]
pub struct Comparison {
    rows: Vec<Vec<Cell>>,
}

/// Compares studies (one table row each).
pub fn compare(studies: &[&Study]) -> Comparison {
    let rows = studies
        .iter()
        .map(|s| {
            let g = s.debugger.int8();
            let input = g
                .inputs
                .first()
                .and_then(|&i| g.tensors[i].quant.as_ref())
                .map_or("float".to_string(), |q| {
                    format!("{} / {}", sig4(q.scale[0] as f64), q.zero_point[0])
                });
            let (worst, ros) = s.worst().map_or(("-".to_string(), 0.0), |r| {
                (
                    format!("{} {}", r.op_name, short(&r.tensor_name)),
                    r.rmse_over_scale,
                )
            });
            vec![
                Cell::text(s.name.clone()),
                Cell::num(percent(s.float_accuracy)),
                Cell::num(percent(s.int8_accuracy)),
                Cell::num(format!(
                    "{:+.2}",
                    100.0 * (s.int8_accuracy - s.float_accuracy)
                )),
                Cell::text(input),
                Cell::text(worst),
                Cell::num(format!("{ros:.3}")),
                Cell::num(thousands(estimate(g).rom_bytes as u64)),
            ]
        })
        .collect();
    Comparison { rows }
}

impl Comparison {
    /// The comparison as an HTML table.
    pub fn to_html(&self) -> String {
        let mut t = Table::new().header([
            "variant",
            "float acc",
            "int8 acc",
            "change (points)",
            "input scale / zero point",
            "worst layer",
            "its rmse/scale",
            "int8 ROM bytes",
        ]);
        for r in &self.rows {
            t.row(r.clone());
        }
        t.to_html()
    }

    /// Shows the table in an evcxr notebook.
    pub fn evcxr_display(&self) {
        evcxr::print_html(&self.to_html());
    }
}

/// One step of selective quantization: the worst layers left in float.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectiveStep {
    /// Nodes left in float (by output tensor name), worst first.
    pub float_nodes: Vec<String>,
    /// Accuracy of the mixed model on the data.
    pub accuracy: f64,
    /// Bytes of constants (weights, biases).
    pub rom_bytes: usize,
    /// Bytes of activations alive at the worst node.
    pub ram_bytes: usize,
    /// Inferences per second on this machine's host kernels (batch 1, one thread).
    pub per_second: f64,
}

/// For `k` = 0, 1, ... `max_float`: the `k` layers of worst rmse/scale left in float, without
/// recalibrating; accuracy on `test`, size and host speed of each mixed model.
pub fn selective(study: &Study, test: &Samples, max_float: usize) -> Result<Vec<SelectiveStep>> {
    let mut ranked: Vec<&LayerStats> = study.report.rows.iter().collect();
    ranked.sort_by(|a, b| b.rmse_over_scale.total_cmp(&a.rmse_over_scale));
    let names: Vec<String> = ranked.iter().map(|r| r.tensor_name.clone()).collect();
    let data = [test.to_npy_nhwc()];
    let labels = test.class_indices();
    let mut dbg = study.debugger.clone();
    let mut steps = Vec::new();
    for k in 0..=max_float.min(names.len()) {
        let deny = names[..k].to_vec();
        dbg.denylist(deny.clone(), vec![])?;
        let m = dbg.metrics(&data, Some(&labels))?;
        let e = estimate(dbg.int8());
        steps.push(SelectiveStep {
            float_nodes: deny,
            accuracy: m.int8_accuracy.unwrap_or(0.0),
            rom_bytes: e.rom_bytes,
            ram_bytes: e.ram_bytes_best,
            per_second: speed(dbg.int8(), &data[0])?,
        });
    }
    Ok(steps)
}

/// Inferences per second of `graph` over `input` (float32 samples) on the host kernels.
fn speed(graph: &Graph, input: &NpyArray) -> Result<f64> {
    let options = InferOptions::default();
    // One pass to warm caches, then the timed pass.
    infer_batch(graph, input, &options)?;
    let t = Instant::now();
    infer_batch(graph, input, &options)?;
    let n = input.shape.first().copied().unwrap_or(0);
    Ok(n as f64 / t.elapsed().as_secs_f64().max(1e-9))
}

/// The last `/`- or `;`-separated part of a tensor name.
fn short(name: &str) -> &str {
    name.rsplit([';', '/']).next().unwrap_or(name)
}
