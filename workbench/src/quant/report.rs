//! The quantization report: how far each int8 layer lands from float.
//!
//! It follows the TFLite Quantization Debugger's layer statistics: for every
//! quantized layer output, `diff = float - dequantized`, where `float` is the
//! float layer applied to the *dequantized int8 input* of that layer (so each
//! row measures that layer's own error, not the error accumulated before it).
//! Statistics are computed per example and averaged over the debug set:
//! `num_elements, stddev, mean_error, max_abs_error, mean_squared_error`,
//! plus `range = 255 * scale` and `rmse/scale = sqrt(mean_squared_error) / scale`.
//! Pure rounding noise gives `rmse/scale = 1/sqrt(12) ≈ 0.289`.

use std::fmt;
use std::io::Write;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::params::dequantize_value;
use super::ptq::{chw_to_hwc, hwc_to_chw, tensor_quant, Int8Model};
use crate::dataset::Samples;
use crate::tflite::runtime::Interpreter;
use crate::train::{Layer, Sequential};
use crate::{Error, Result};

/// `rmse/scale` of pure rounding noise, `1/sqrt(12)`.
pub const IDEAL_RMSE_OVER_SCALE: f64 = 0.288_675_134_594_812_9;

/// One row: a quantized layer output and its error statistics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReportRow {
    /// TFLite op that produces the tensor, e.g. `CONV_2D`.
    pub op_name: String,
    /// Tensor index in the int8 graph.
    pub tensor_idx: usize,
    /// Elements per example.
    pub num_elements: usize,
    /// Standard deviation of `float - dequantized`.
    pub stddev: f64,
    /// Mean of `float - dequantized`.
    pub mean_error: f64,
    /// Largest `|float - dequantized|`.
    pub max_abs_error: f64,
    /// Mean of `(float - dequantized)^2`.
    pub mean_squared_error: f64,
    /// The tensor's scale.
    pub scale: f64,
    /// The tensor's zero point.
    pub zero_point: i64,
    /// The tensor's name.
    pub tensor_name: String,
    /// `255 * scale`: the float range the int8 values cover.
    pub range: f64,
    /// `sqrt(mean_squared_error) / scale`.
    pub rmse_over_scale: f64,
}

/// Per-layer quantization error statistics over a debug dataset.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuantReport {
    /// One row per quantized layer output, in graph order.
    pub rows: Vec<ReportRow>,
    /// Examples averaged over.
    pub examples: usize,
}

/// The CSV header, the TFLite Quantization Debugger's columns plus two.
pub const CSV_HEADER: &str = "op_name,tensor_idx,num_elements,stddev,mean_error,max_abs_error,mean_squared_error,scale,zero_point,tensor_name,range,rmse/scale";

impl QuantReport {
    /// Writes the report as CSV.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        f.write_all(self.to_csv().as_bytes())
            .map_err(|e| Error::io(path, e))
    }

    /// The report as CSV text.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(CSV_HEADER);
        s.push('\n');
        for r in &self.rows {
            s.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{}\n",
                r.op_name,
                r.tensor_idx,
                r.num_elements,
                r.stddev,
                r.mean_error,
                r.max_abs_error,
                r.mean_squared_error,
                r.scale,
                r.zero_point,
                csv_field(&r.tensor_name),
                r.range,
                r.rmse_over_scale
            ));
        }
        s
    }

    /// The `n` rows with the largest `rmse/scale`, worst first.
    pub fn worst(&self, n: usize) -> Vec<&ReportRow> {
        let mut rows: Vec<&ReportRow> = self.rows.iter().collect();
        rows.sort_by(|a, b| b.rmse_over_scale.total_cmp(&a.rmse_over_scale));
        rows.truncate(n);
        rows
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl fmt::Display for QuantReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>4} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>5} {:>10}  tensor",
            "op",
            "idx",
            "elems",
            "stddev",
            "mean_err",
            "max_abs",
            "mse",
            "scale",
            "zp",
            "rmse/scale"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<16} {:>4} {:>6} {:>10.4e} {:>10.3e} {:>10.4e} {:>10.4e} {:>10.4e} {:>5} {:>10.4}  {}",
                r.op_name,
                r.tensor_idx,
                r.num_elements,
                r.stddev,
                r.mean_error,
                r.max_abs_error,
                r.mean_squared_error,
                r.scale,
                r.zero_point,
                r.rmse_over_scale,
                r.tensor_name
            )?;
        }
        write!(
            f,
            "({} examples; ideal rmse/scale {:.3})",
            self.examples, IDEAL_RMSE_OVER_SCALE
        )
    }
}

/// How a graph tensor's element order relates to candle's for the same values.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// `[1, h, w, c]` in the graph, `[c, h, w]` in candle.
    Nhwc([usize; 3]),
    /// A flat vector that is a HWC flatten in the graph and a CHW flatten in candle.
    FlatFrom([usize; 3]),
    /// A flat vector in the same order in both.
    Flat(usize),
}

impl Layout {
    fn len(self) -> usize {
        match self {
            Layout::Nhwc(s) | Layout::FlatFrom(s) => s.iter().product(),
            Layout::Flat(n) => n,
        }
    }

    fn to_candle(self, graph_order: &[f32]) -> Vec<f32> {
        match self {
            Layout::Nhwc(s) | Layout::FlatFrom(s) => hwc_to_chw(graph_order, s),
            Layout::Flat(_) => graph_order.to_vec(),
        }
    }

    fn to_graph(self, candle_order: &[f32]) -> Vec<f32> {
        match self {
            Layout::Nhwc(s) | Layout::FlatFrom(s) => chw_to_hwc(candle_order, s),
            Layout::Flat(_) => candle_order.to_vec(),
        }
    }

    fn candle_shape(self, n: usize) -> Vec<usize> {
        match self {
            Layout::Nhwc([c, h, w]) => vec![n, c, h, w],
            Layout::FlatFrom(s) => vec![n, s.iter().product()],
            Layout::Flat(len) => vec![n, len],
        }
    }
}

/// Computes the report for `q` (made from `model`) over `inputs` (preprocessed float samples).
pub fn quant_report(model: &Sequential, q: &Int8Model, inputs: &Samples) -> Result<QuantReport> {
    let shape = model.input_shape;
    if inputs.shape != shape {
        return Err(Error::Shape(format!(
            "quant report: samples of shape {:?} but the model expects {shape:?}",
            inputs.shape
        )));
    }
    let n = inputs.len();
    let per: usize = shape.iter().product();
    let flat = &inputs.images;

    // Layouts of each layer's input and output.
    let mut layouts = Vec::with_capacity(model.layers.len() + 1);
    let mut cur = Layout::Nhwc(shape);
    layouts.push(cur);
    for (i, (_, layer)) in model.layers.iter().enumerate() {
        let gshape = &q.graph.tensors[q.layer_outputs[i]].shape;
        cur = match (layer, cur) {
            (Layer::Flatten, Layout::Nhwc(s)) => Layout::FlatFrom(s),
            _ if gshape.len() == 4 => Layout::Nhwc([gshape[3], gshape[1], gshape[2]]),
            _ => Layout::Flat(gshape[1..].iter().product()),
        };
        layouts.push(cur);
    }

    // Run the int8 graph on every example and keep each layer's dequantized input and output.
    let mut interp = Interpreter::new(q.graph.clone())?;
    let tensors: Vec<usize> = std::iter::once(q.input)
        .chain(q.layer_outputs.iter().copied())
        .collect();
    let mut deq: Vec<Vec<f32>> = vec![Vec::new(); tensors.len()];
    for s in 0..n {
        let x = q.quantize_input(&flat[s * per..(s + 1) * per], shape);
        interp.set_input_i8(0, &x)?;
        interp.invoke()?;
        for (k, &t) in tensors.iter().enumerate() {
            let (scale, zp) = tensor_quant(&q.graph, t);
            let data = interp.tensor_i8(t).ok_or_else(|| {
                Error::Model(format!("quant report: tensor {t} has no int8 data"))
            })?;
            deq[k].extend(data.iter().map(|&v| dequantize_value(v, scale, zp)));
        }
    }

    let mut rows = Vec::new();
    for (i, (name, _)) in model.layers.iter().enumerate() {
        let (lin, lout) = (layouts[i], layouts[i + 1]);
        let (il, ol) = (lin.len(), lout.len());
        // Float layer applied to the dequantized int8 input, in candle's layout.
        let xin: Vec<f32> = deq[i].chunks(il).flat_map(|c| lin.to_candle(c)).collect();
        let x = Tensor::from_vec(xin, lin.candle_shape(n), &Device::Cpu)?;
        let y = model.layers[i]
            .1
            .forward(&x)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let t = q.layer_outputs[i];
        let (scale, zp) = tensor_quant(&q.graph, t);
        let mut acc = [0f64; 4]; // stddev, mean, max_abs, mse summed over examples
        for s in 0..n {
            let float = lout.to_graph(&y[s * ol..(s + 1) * ol]);
            let deq_out = &deq[i + 1][s * ol..(s + 1) * ol];
            let diffs: Vec<f64> = float
                .iter()
                .zip(deq_out)
                .map(|(&f, &d)| f as f64 - d as f64)
                .collect();
            let m = diffs.iter().sum::<f64>() / ol as f64;
            let mse = diffs.iter().map(|d| d * d).sum::<f64>() / ol as f64;
            let var = diffs.iter().map(|d| (d - m) * (d - m)).sum::<f64>() / ol as f64;
            let max_abs = diffs.iter().fold(0f64, |a, d| a.max(d.abs()));
            acc[0] += var.sqrt();
            acc[1] += m;
            acc[2] += max_abs;
            acc[3] += mse;
        }
        let avg = |v: f64| v / n.max(1) as f64;
        let node = q
            .graph
            .nodes
            .iter()
            .find(|nd| nd.outputs.contains(&t))
            .ok_or_else(|| {
                Error::Model(format!("quant report: no op produces tensor {t} ({name})"))
            })?;
        let mse = avg(acc[3]);
        rows.push(ReportRow {
            op_name: node.op.name().to_string(),
            tensor_idx: t,
            num_elements: ol,
            stddev: avg(acc[0]),
            mean_error: avg(acc[1]),
            max_abs_error: avg(acc[2]),
            mean_squared_error: mse,
            scale: scale as f64,
            zero_point: zp,
            tensor_name: q.graph.tensors[t].name.clone(),
            range: 255.0 * scale as f64,
            rmse_over_scale: mse.sqrt() / scale as f64,
        });
    }
    Ok(QuantReport { rows, examples: n })
}
