//! The quantization debugger for any float `.tflite`: per-layer error statistics as
//! TensorFlow's Quantization Debugger reports them, the error propagated end to end,
//! model-level metrics and per-layer sensitivity.
//!
//! Per-layer mode, as TF's debugger (`NumericVerify` ops): each quantized op's
//! reference is the float op fed the *dequantized* int8 inputs of that op, so the
//! error is the op's own; `diffs = dequantize(int8 output) - reference`. Each
//! statistic is computed per sample and averaged over the samples, as TF does:
//! `stddev` (population), `mean_error`, `max_abs_error`, `mean_squared_error`.
//! The propagated error compares the int8 model's tensor with the float model's,
//! each run end to end on the same sample.

use std::collections::HashMap;

use super::convert::{self, Calibration, ConvertOptions};
use crate::npy::{NpyArray, NpyData};
use crate::tflite::runtime::{Interpreter, Kernels};
use crate::tflite::{DType, Graph, Node, Op, Tensor};
use crate::{Error, Result};

/// One quantized op output's statistics (TF's `layer_statistics_dump` columns plus ours).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerStats {
    /// TFLite builtin name of the op, e.g. `CONV_2D`.
    pub op_name: String,
    /// Index of the output tensor in the int8 graph.
    pub tensor_idx: usize,
    /// Elements of the output per sample.
    pub num_elements: f64,
    /// Standard deviation of the error, averaged over samples.
    pub stddev: f64,
    /// Mean error, averaged over samples.
    pub mean_error: f64,
    /// Largest absolute error, averaged over samples.
    pub max_abs_error: f64,
    /// Mean squared error, averaged over samples.
    pub mean_squared_error: f64,
    /// Output scale.
    pub scale: f64,
    /// Output zero point.
    pub zero_point: i64,
    /// Output tensor name.
    pub tensor_name: String,
    /// Representable range, `255 * scale`.
    pub range: f64,
    /// `sqrt(mean_squared_error) / scale` (uniform rounding alone gives 0.289).
    pub rmse_over_scale: f64,
    /// Signal to quantization noise of the op alone, dB (reference power over error power).
    pub sqnr_db: f64,
    /// RMSE of the int8 model's tensor against the float model's, both run end to end.
    pub propagated_rmse: f64,
    /// Fraction of reference values outside the representable range (by more than half a step).
    pub clipped_fraction: f64,
    /// Counts of the reference values over the representable range, [`HIST_BINS`] bins.
    pub value_histogram: Vec<u64>,
    /// Counts of the errors over `[-2 scale, 2 scale]`, [`HIST_BINS`] bins (outliers in the end bins).
    pub error_histogram: Vec<u64>,
    /// Counts of the dequantized int8 outputs over the representable range, [`HIST_BINS`] bins.
    pub int8_histogram: Vec<u64>,
    /// The op's filter per output channel (convolutions and dense layers).
    pub weights: Option<WeightStats>,
}

/// A filter's per-channel ranges and the error its int8 copy makes.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightStats {
    /// The float filter's name.
    pub name: String,
    /// Smallest float weight of each output channel.
    pub min: Vec<f32>,
    /// Largest float weight of each output channel.
    pub max: Vec<f32>,
    /// The int8 filter's scale of each channel.
    pub scale: Vec<f32>,
    /// `rmse(dequantized - float) / scale` of each channel (rounding alone: 0.289).
    pub rmse_over_scale: Vec<f64>,
}

/// Bins of the histograms in [`LayerStats`].
pub const HIST_BINS: usize = 32;

/// Float versus int8 over a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelMetrics {
    /// Samples run.
    pub samples: usize,
    /// Float model accuracy (with labels).
    pub float_accuracy: Option<f64>,
    /// int8 model accuracy (with labels).
    pub int8_accuracy: Option<f64>,
    /// Fraction of samples whose int8 top-1 class equals the float model's.
    pub top1_agreement: f64,
    /// RMSE of the int8 model's (dequantized) first output against the float model's.
    pub output_rmse: f64,
    /// Signal to quantization noise of the first output, dB (float output power over error power).
    pub output_sqnr_db: f64,
}

impl ModelMetrics {
    /// The metric sensitivity compares: accuracy with labels, else top-1 agreement.
    pub fn headline(&self) -> f64 {
        self.int8_accuracy.unwrap_or(self.top1_agreement)
    }
}

/// The model metric with one layer quantized alone, and with it alone left float.
#[derive(Debug, Clone, PartialEq)]
pub struct Sensitivity {
    /// TFLite builtin name of the op.
    pub op_name: String,
    /// The node's name (its first output tensor).
    pub node: String,
    /// The metric ([`ModelMetrics::headline`]) with only this layer quantized.
    pub only_this_quantized: f64,
    /// The metric with every layer quantized except this one.
    pub only_this_float: f64,
    /// Output SQNR (dB) with only this layer quantized.
    pub only_this_quantized_sqnr_db: f64,
    /// Output SQNR (dB) with every layer quantized except this one.
    pub only_this_float_sqnr_db: f64,
}

/// A float graph, its calibration and its int8 counterpart, for reports and sensitivity.
#[derive(Debug, Clone)]
pub struct Debugger {
    float: Graph,
    calibration: Option<Calibration>,
    options: ConvertOptions,
    int8: Graph,
}

impl Debugger {
    /// Calibrates `float` on the representative inputs and quantizes it with `options`
    /// (use `Io::Float`, as TF's debug model does, for the first layer's error to include the
    /// input's quantization).
    pub fn new(float: Graph, representative: &[NpyArray], options: ConvertOptions) -> Result<Self> {
        let calibration = convert::calibrate(&float, representative)?;
        let int8 = convert::quantize_graph(&float, &calibration, &options)?;
        Ok(Debugger {
            float,
            calibration: Some(calibration),
            options,
            int8,
        })
    }

    /// Debugs a given int8 model (e.g. TF's) against its float model; ops are matched by output tensor name.
    pub fn from_models(float: Graph, int8: Graph) -> Self {
        Debugger {
            float,
            calibration: None,
            options: ConvertOptions::default(),
            int8,
        }
    }

    /// The int8 graph being debugged.
    pub fn int8(&self) -> &Graph {
        &self.int8
    }

    /// The float graph.
    pub fn float(&self) -> &Graph {
        &self.float
    }

    /// Re-quantizes with these nodes and op types kept float, without recalibrating.
    pub fn denylist(&mut self, nodes: Vec<String>, ops: Vec<String>) -> Result<()> {
        let cal = self.calibration.as_ref().ok_or_else(|| {
            Error::Config(
                "denylisting re-quantizes: it needs a representative set, not a given int8 model"
                    .into(),
            )
        })?;
        self.options.denylist_nodes = nodes;
        self.options.denylist_ops = ops;
        self.int8 = convert::quantize_graph(&self.float, cal, &self.options)?;
        Ok(())
    }

    /// Per-layer statistics of every quantized op output, in op order, over `data`.
    pub fn report(&self, data: &[NpyArray]) -> Result<Vec<LayerStats>> {
        let n = check_data(&self.float, data)?;
        let float_by_name = output_names(&self.float);
        // (int8 node, output slot k, float node, per-layer interpreter)
        let mut layers = Vec::new();
        for (i, node) in self.int8.nodes.iter().enumerate() {
            if matches!(node.op, Op::Quantize | Op::Dequantize) {
                continue;
            }
            let Some(&out) = node.outputs.first() else {
                continue;
            };
            if self.int8.tensors[out].dtype != DType::I8 {
                continue;
            }
            // A graph output converted to float keeps the name; the int8 tensor gets `_int8` (convert).
            let name = self.int8.tensors[out].name.as_str();
            let found = float_by_name
                .get(name)
                .or_else(|| float_by_name.get(name.strip_suffix("_int8")?));
            let Some(&f) = found else {
                continue;
            };
            let Some(mini) = single_op_graph(&self.float, &self.float.nodes[f]) else {
                continue;
            };
            layers.push((i, f, Interpreter::with_kernels(mini, Kernels::Reference)?));
        }
        let mut acc: Vec<Vec<Acc>> = layers
            .iter()
            .map(|(i, _, _)| {
                self.int8.nodes[*i]
                    .outputs
                    .iter()
                    .map(|&o| Acc::new(&self.int8.tensors[o]))
                    .collect()
            })
            .collect();
        let mut q = Interpreter::with_kernels(self.int8.clone(), Kernels::Reference)?;
        let mut fl = Interpreter::with_kernels(self.float.clone(), Kernels::Reference)?;
        for s in 0..n {
            feed(&mut q, &self.int8, data, s)?;
            q.invoke()?;
            feed(&mut fl, &self.float, data, s)?;
            fl.invoke()?;
            for ((i, f, mini), acc) in layers.iter_mut().zip(acc.iter_mut()) {
                let node = &self.int8.nodes[*i];
                let fnode = &self.float.nodes[*f];
                let mut k_in = 0;
                for (slot, fi) in fnode.inputs.iter().enumerate() {
                    let Some(ft) = fi else { continue };
                    if !is_float_activation(&self.float.tensors[*ft]) {
                        continue;
                    }
                    let t = node.inputs.get(slot).copied().flatten().ok_or_else(|| {
                        Error::Model(format!("int8 node {i}: input {slot} missing"))
                    })?;
                    let v = reference_input(&q, &self.int8, t)?;
                    mini.set_input_f32(k_in, &v)?;
                    k_in += 1;
                }
                mini.invoke()?;
                for (k, &o) in node.outputs.iter().enumerate() {
                    let got = dequantized(&q, &self.int8, o)?;
                    let reference = mini.output_f32(k)?;
                    let float_full = fl.tensor_f32(fnode.outputs[k]).unwrap_or(&[]);
                    acc[k].add(&got, reference, float_full);
                }
            }
        }
        let mut rows = Vec::new();
        for ((i, f, _), acc) in layers.iter().zip(&acc) {
            let node = &self.int8.nodes[*i];
            for (k, &o) in node.outputs.iter().enumerate() {
                let t = &self.int8.tensors[o];
                let (scale, zero_point) = t
                    .quant
                    .as_ref()
                    .map_or((1.0, 0), |q| (q.scale[0] as f64, q.zero_point[0]));
                // Named as in the float model (TF's debugger does the same).
                let name = &self.float.tensors[self.float.nodes[*f].outputs[k]].name;
                let weights = (k == 0)
                    .then(|| weight_stats(&self.float, &self.float.nodes[*f], &self.int8, node))
                    .flatten();
                rows.push(acc[k].row(node.op.name(), o, name, (scale, zero_point), weights));
            }
        }
        Ok(rows)
    }

    /// Float versus int8 over `data`: accuracy with `labels` (one class per sample), top-1 agreement, output RMSE.
    pub fn metrics(&self, data: &[NpyArray], labels: Option<&[usize]>) -> Result<ModelMetrics> {
        model_metrics(&self.float, &self.int8, data, labels)
    }

    /// For each quantized layer: the metric with only it quantized, and with only it left float.
    pub fn sensitivity(
        &self,
        data: &[NpyArray],
        labels: Option<&[usize]>,
    ) -> Result<Vec<Sensitivity>> {
        let cal = self.calibration.as_ref().ok_or_else(|| {
            Error::Config(
                "sensitivity re-quantizes: it needs a representative set, not a given int8 model"
                    .into(),
            )
        })?;
        let nodes: Vec<(String, &'static str)> = (0..self.float.nodes.len())
            .filter(|&n| convert::is_quantized(&self.float, n, &self.options))
            .filter_map(|n| {
                let node = &self.float.nodes[n];
                let &o = node.outputs.first()?;
                Some((self.float.tensors[o].name.clone(), node.op.name()))
            })
            .collect();
        let mut rows = Vec::new();
        for (name, op) in &nodes {
            let run = |deny: Vec<String>| -> Result<ModelMetrics> {
                let mut options = self.options.clone();
                options.denylist_nodes.extend(deny);
                let g = convert::quantize_graph(&self.float, cal, &options)?;
                model_metrics(&self.float, &g, data, labels)
            };
            let others: Vec<String> = nodes
                .iter()
                .filter(|(n, _)| n != name)
                .map(|(n, _)| n.clone())
                .collect();
            let (alone, spared) = (run(others)?, run(vec![name.clone()])?);
            rows.push(Sensitivity {
                op_name: op.to_string(),
                node: name.clone(),
                only_this_quantized: alone.headline(),
                only_this_float: spared.headline(),
                only_this_quantized_sqnr_db: alone.output_sqnr_db,
                only_this_float_sqnr_db: spared.output_sqnr_db,
            });
        }
        Ok(rows)
    }
}

/// Running sums for one op output over the samples.
#[derive(Debug, Clone, Default)]
struct Acc {
    samples: usize,
    num_elements: f64,
    stddev: f64,
    mean_error: f64,
    max_abs_error: f64,
    mean_squared_error: f64,
    signal: f64,
    noise: f64,
    propagated_sq: f64,
    propagated_n: f64,
    /// Representable `[lo, hi]` and the scale of the int8 tensor.
    lo: f64,
    hi: f64,
    scale: f64,
    values: Vec<u64>,
    errors: Vec<u64>,
    int8: Vec<u64>,
    clipped: f64,
}

/// The bin of `x` in `HIST_BINS` bins over `[lo, hi]`, clamped.
fn bin(x: f64, lo: f64, hi: f64) -> usize {
    let b = ((x - lo) / (hi - lo) * HIST_BINS as f64).floor();
    if b.is_nan() {
        0
    } else {
        (b.max(0.0) as usize).min(HIST_BINS - 1)
    }
}

impl Acc {
    fn new(t: &Tensor) -> Self {
        let (scale, zp) = t
            .quant
            .as_ref()
            .map_or((1.0, 0), |q| (q.scale[0] as f64, q.zero_point[0]));
        Acc {
            lo: scale * (-128 - zp) as f64,
            hi: scale * (127 - zp) as f64,
            scale,
            values: vec![0; HIST_BINS],
            errors: vec![0; HIST_BINS],
            int8: vec![0; HIST_BINS],
            ..Acc::default()
        }
    }

    fn add(&mut self, got: &[f32], reference: &[f32], float_full: &[f32]) {
        let n = got.len().min(reference.len());
        if n == 0 {
            return;
        }
        let diffs: Vec<f64> = (0..n)
            .map(|i| got[i] as f64 - reference[i] as f64)
            .collect();
        let mean = diffs.iter().sum::<f64>() / n as f64;
        let var = diffs.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / n as f64;
        self.samples += 1;
        self.num_elements += n as f64;
        self.stddev += var.sqrt();
        self.mean_error += mean;
        self.max_abs_error += diffs.iter().fold(0f64, |m, d| m.max(d.abs()));
        self.mean_squared_error += diffs.iter().map(|d| d * d).sum::<f64>() / n as f64;
        self.signal += reference[..n]
            .iter()
            .map(|&r| (r as f64) * (r as f64))
            .sum::<f64>();
        self.noise += diffs.iter().map(|d| d * d).sum::<f64>();
        for (&r, &d) in reference.iter().zip(&diffs) {
            let r = r as f64;
            if r < self.lo - self.scale / 2.0 || r > self.hi + self.scale / 2.0 {
                self.clipped += 1.0;
            }
            self.values[bin(r, self.lo, self.hi)] += 1;
            self.errors[bin(d, -2.0 * self.scale, 2.0 * self.scale)] += 1;
        }
        for &g in &got[..n] {
            self.int8[bin(g as f64, self.lo, self.hi)] += 1;
        }
        for (g, f) in got.iter().zip(float_full) {
            let d = *g as f64 - *f as f64;
            self.propagated_sq += d * d;
            self.propagated_n += 1.0;
        }
    }

    fn row(
        &self,
        op: &str,
        idx: usize,
        name: &str,
        (scale, zero_point): (f64, i64),
        weights: Option<WeightStats>,
    ) -> LayerStats {
        let m = self.samples.max(1) as f64;
        let mse = self.mean_squared_error / m;
        LayerStats {
            op_name: op.to_string(),
            tensor_idx: idx,
            num_elements: self.num_elements / m,
            stddev: self.stddev / m,
            mean_error: self.mean_error / m,
            max_abs_error: self.max_abs_error / m,
            mean_squared_error: mse,
            scale,
            zero_point,
            tensor_name: name.to_string(),
            range: 255.0 * scale,
            rmse_over_scale: mse.sqrt() / scale,
            sqnr_db: 10.0 * (self.signal / self.noise).log10(),
            propagated_rmse: (self.propagated_sq / self.propagated_n.max(1.0)).sqrt(),
            clipped_fraction: self.clipped / self.num_elements.max(1.0),
            value_histogram: self.values.clone(),
            error_histogram: self.errors.clone(),
            int8_histogram: self.int8.clone(),
            weights,
        }
    }
}

/// Per-channel statistics of `node`'s filter (input 1) when it is an int8 constant with a float twin.
fn weight_stats(float: &Graph, fnode: &Node, int8: &Graph, node: &Node) -> Option<WeightStats> {
    if !matches!(
        node.op,
        Op::Conv2d { .. } | Op::DepthwiseConv2d { .. } | Op::FullyConnected { .. }
    ) {
        return None;
    }
    let qt = &int8.tensors[(*node.inputs.get(1)?)?];
    let ft = &float.tensors[(*fnode.inputs.get(1)?)?];
    let (q, qdata, fdata) = (qt.quant.as_ref()?, qt.data.as_ref()?, ft.data.as_ref()?);
    if qt.dtype != DType::I8 || ft.dtype != DType::F32 || qt.shape != ft.shape {
        return None;
    }
    let channels = q.scale.len();
    let axis = if channels == 1 { 0 } else { q.axis };
    let dim = *qt.shape.get(axis)?;
    if channels != 1 && channels != dim {
        return None;
    }
    // Elements after the channel axis: index i lies in channel (i / inner) % dim.
    let inner: usize = qt.shape[axis + 1..].iter().product();
    let n_out = if channels == 1 { 1 } else { dim };
    let (mut min, mut max) = (vec![f32::MAX; n_out], vec![f32::MIN; n_out]);
    let (mut sq, mut cnt) = (vec![0f64; n_out], vec![0usize; n_out]);
    for (i, (qb, fb)) in qdata.iter().zip(fdata.chunks_exact(4)).enumerate() {
        let c = if channels == 1 { 0 } else { (i / inner) % dim };
        let w = f32::from_le_bytes([fb[0], fb[1], fb[2], fb[3]]);
        let deq = q.scale[c] as f64 * (*qb as i8 as i64 - q.zero_point[c]) as f64;
        min[c] = min[c].min(w);
        max[c] = max[c].max(w);
        sq[c] += (deq - w as f64).powi(2);
        cnt[c] += 1;
    }
    Some(WeightStats {
        name: ft.name.clone(),
        rmse_over_scale: (0..n_out)
            .map(|c| (sq[c] / cnt[c].max(1) as f64).sqrt() / q.scale[c] as f64)
            .collect(),
        scale: q.scale.clone(),
        min,
        max,
    })
}

fn is_float_activation(t: &Tensor) -> bool {
    t.dtype == DType::F32 && t.data.is_none()
}

/// Float node index by its first output tensor's name.
fn output_names(g: &Graph) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for (n, node) in g.nodes.iter().enumerate() {
        if let Some(&o) = node.outputs.first() {
            m.entry(g.tensors[o].name.as_str()).or_insert(n);
        }
    }
    m
}

/// A graph of the float `node` alone: its float activation inputs become graph inputs.
/// `None` when it reads an int32 tensor computed at run time (other than RESHAPE's shape).
fn single_op_graph(float: &Graph, node: &Node) -> Option<Graph> {
    let mut g = Graph::default();
    let mut inputs = Vec::new();
    for (slot, inp) in node.inputs.iter().enumerate() {
        let Some(t) = inp else {
            inputs.push(None);
            continue;
        };
        let tensor = &float.tensors[*t];
        if is_float_activation(tensor) {
            let i = g.add_tensor(tensor.clone());
            g.inputs.push(i);
            inputs.push(Some(i));
        } else if tensor.data.is_some() {
            inputs.push(Some(g.add_tensor(tensor.clone())));
        } else if matches!(node.op, Op::Reshape) && slot == 1 {
            inputs.push(None);
        } else {
            return None;
        }
    }
    let outputs: Vec<usize> = node
        .outputs
        .iter()
        .map(|&o| g.add_tensor(float.tensors[o].clone()))
        .collect();
    g.outputs = outputs.clone();
    g.add_node(node.op.clone(), inputs, outputs);
    Some(g)
}

/// The number of samples in `data`, checked against the graph inputs.
fn check_data(g: &Graph, data: &[NpyArray]) -> Result<usize> {
    if data.len() != g.inputs.len() {
        return Err(Error::Shape(format!(
            "data: expected {} arrays (one per model input), got {}",
            g.inputs.len(),
            data.len()
        )));
    }
    let mut n = None;
    for (k, (a, &t)) in data.iter().zip(&g.inputs).enumerate() {
        let per = g.tensors[t].num_elements();
        if !matches!(a.data, NpyData::F32(_)) {
            return Err(Error::Data(format!(
                "data for input {k}: expected float32, got {}",
                a.data.dtype_name()
            )));
        }
        let rows = a.shape.first().copied().unwrap_or(0);
        if rows == 0 || a.data.len() != rows * per {
            return Err(Error::Shape(format!(
                "data for input {k} ({}): expected shape [N, {:?}] ({per} values per sample), got {:?}",
                g.tensors[t].name,
                &g.tensors[t].shape[1.min(g.tensors[t].shape.len())..],
                a.shape
            )));
        }
        if *n.get_or_insert(rows) != rows {
            return Err(Error::Shape(format!(
                "data: input {k} has {rows} samples, input 0 has {}",
                n.unwrap_or(0)
            )));
        }
    }
    n.ok_or_else(|| Error::Model("the model has no inputs".into()))
}

/// Sets every input of `interp` from sample `s` of `data`, quantizing for int8 inputs.
fn feed(interp: &mut Interpreter, g: &Graph, data: &[NpyArray], s: usize) -> Result<()> {
    for (k, (a, &t)) in data.iter().zip(&g.inputs).enumerate() {
        let NpyData::F32(v) = &a.data else {
            unreachable!("checked by check_data")
        };
        let per = g.tensors[t].num_elements();
        let x = &v[s * per..(s + 1) * per];
        match (&g.tensors[t].quant, g.tensors[t].dtype) {
            (Some(q), DType::I8) => {
                let xq: Vec<i8> = x
                    .iter()
                    .map(|&v| super::params::quantize_value(v, q.scale[0], q.zero_point[0]))
                    .collect();
                interp.set_input_i8(k, &xq)?;
            }
            _ => interp.set_input_f32(k, x)?,
        }
    }
    Ok(())
}

/// The float value a layer's reference op reads for int8 input `t`: the dequantized value,
/// except for a QUANTIZE of a float tensor (a float model input, or a float op's output),
/// whose float source TF's debug model feeds the reference op directly.
fn reference_input(interp: &Interpreter, g: &Graph, t: usize) -> Result<Vec<f32>> {
    let source = g
        .nodes
        .iter()
        .find(|n| matches!(n.op, Op::Quantize) && n.outputs.contains(&t))
        .and_then(|n| n.inputs.first().copied().flatten())
        .filter(|&s| g.tensors[s].dtype == DType::F32);
    match source {
        Some(s) => dequantized(interp, g, s),
        None => dequantized(interp, g, t),
    }
}

/// Tensor `t` after a run, as float (dequantized if int8).
fn dequantized(interp: &Interpreter, g: &Graph, t: usize) -> Result<Vec<f32>> {
    if let Some(v) = interp.tensor_f32(t) {
        return Ok(v.to_vec());
    }
    let v = interp.tensor_i8(t).ok_or_else(|| {
        Error::Model(format!(
            "tensor {t} ({}) has no int8 or float value",
            g.tensors[t].name
        ))
    })?;
    let q = g.tensors[t].quant.as_ref().ok_or_else(|| {
        Error::Model(format!(
            "tensor {t} ({}) is int8 without quantization",
            g.tensors[t].name
        ))
    })?;
    let (s, z) = (q.scale[0], q.zero_point[0]);
    Ok(v.iter()
        .map(|&x| super::params::dequantize_value(x, s, z))
        .collect())
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// Float versus int8 model over `data` (first output).
pub fn model_metrics(
    float: &Graph,
    int8: &Graph,
    data: &[NpyArray],
    labels: Option<&[usize]>,
) -> Result<ModelMetrics> {
    let n = check_data(float, data)?;
    if let Some(l) = labels {
        if l.len() != n {
            return Err(Error::Shape(format!(
                "labels: expected {n} (one per sample), got {}",
                l.len()
            )));
        }
    }
    let mut q = Interpreter::with_kernels(int8.clone(), Kernels::Reference)?;
    let mut fl = Interpreter::with_kernels(float.clone(), Kernels::Reference)?;
    let (mut agree, mut fc, mut qc, mut sq, mut cnt) = (0usize, 0usize, 0usize, 0f64, 0f64);
    let mut power = 0f64;
    for s in 0..n {
        feed(&mut q, int8, data, s)?;
        q.invoke()?;
        feed(&mut fl, float, data, s)?;
        fl.invoke()?;
        let fo = fl.output_f32(0)?.to_vec();
        let qo = dequantized(&q, int8, int8.outputs[0])?;
        let (fa, qa) = (argmax(&fo), argmax(&qo));
        agree += usize::from(fa == qa);
        if let Some(l) = labels {
            fc += usize::from(fa == l[s]);
            qc += usize::from(qa == l[s]);
        }
        for (a, b) in fo.iter().zip(&qo) {
            sq += (*a as f64 - *b as f64).powi(2);
            power += (*a as f64).powi(2);
            cnt += 1.0;
        }
    }
    let nf = n as f64;
    Ok(ModelMetrics {
        samples: n,
        float_accuracy: labels.map(|_| fc as f64 / nf),
        int8_accuracy: labels.map(|_| qc as f64 / nf),
        top1_agreement: agree as f64 / nf,
        output_rmse: (sq / cnt.max(1.0)).sqrt(),
        output_sqnr_db: 10.0 * (power / sq).log10(),
    })
}

/// `quant_report.csv`: TF's layer-statistics columns, then range, rmse/scale, SQNR and the propagated RMSE.
pub fn report_csv(rows: &[LayerStats]) -> String {
    let mut s = String::from(
        "op_name,tensor_idx,num_elements,stddev,mean_error,max_abs_error,mean_squared_error,scale,zero_point,tensor_name,range,rmse_over_scale,sqnr_db,propagated_rmse\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{:e},{:e},{:e},{:e},{:e},{},{},{:e},{:e},{:.3},{:e}\n",
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
            r.rmse_over_scale,
            r.sqnr_db,
            r.propagated_rmse
        ));
    }
    s
}

/// `sensitivity.csv`: per layer, the metric with only it quantized and with only it float.
pub fn sensitivity_csv(rows: &[Sensitivity]) -> String {
    let mut s = String::from(
        "op_name,node,only_this_quantized,only_this_float,only_this_quantized_sqnr_db,only_this_float_sqnr_db\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{},{},{:.6},{:.6},{:.3},{:.3}\n",
            r.op_name,
            csv_field(&r.node),
            r.only_this_quantized,
            r.only_this_float,
            r.only_this_quantized_sqnr_db,
            r.only_this_float_sqnr_db
        ));
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
