//! Post-training quantization of any float32 `.tflite` graph, as TensorFlow's
//! converter (the MLIR quantizer of TF 2.21) does it.
//!
//! Two steps, as in TF: [`calibrate`] runs the float graph on every sample of
//! a representative set and records each float tensor's running `[min, max]`
//! (TF's calibration logger: the extremes over all samples, each sample fed
//! alone with batch 1); [`quantize_graph`] turns the float graph and those
//! ranges into an int8 graph with TF's rules:
//! - activations asymmetric per tensor from their range widened to contain 0,
//!   zero point nudged to an integer ([`params::asymmetric`]);
//! - CONV_2D / FULLY_CONNECTED (axis 0) and DEPTHWISE_CONV_2D (axis 3)
//!   weights, and PRELU's alpha (per tensor), symmetric narrow range, zero
//!   point 0, `scale = max|w| / 127`; per tensor with `per_tensor`;
//! - biases int32 with `scale = input_scale * weight_scale[c]`;
//! - other float constants (an ADD or MUL operand) asymmetric from their own range;
//! - fixed outputs: SOFTMAX and LOGISTIC `(1/256, -128)`, TANH `(1/128, 0)`;
//! - ops TFLite runs only with equal input and output quantization (pooling,
//!   RESHAPE, TRANSPOSE, GATHER, STRIDED_SLICE, PAD, PADV2, SPLIT, UNPACK,
//!   CONCATENATION, PACK, MAXIMUM, MINIMUM) share one quantization over all
//!   their float tensors: a several-input op's output range wins (TF's
//!   driver imposes the result's parameters on every operand), else the
//!   single input's;
//! - ops without an int8 kernel in TF (NEG), denylisted op types and
//!   denylisted nodes (named by their first output tensor, as TF's debugger
//!   names them) stay float32, with DEQUANTIZE before and QUANTIZE (the
//!   tensor's own range) after them;
//! - model input and output int8, or float32 with QUANTIZE / DEQUANTIZE at the boundary.

use std::collections::HashMap;

use super::params;
use crate::npy::{NpyArray, NpyData};
use crate::tflite::runtime::{Interpreter, Kernels};
use crate::tflite::{DType, Graph, Op, Quant, Tensor};
use crate::{Error, Result};

/// The element type of the quantized model's inputs and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Io {
    /// int8 input and output (TF's `inference_input_type = tf.int8`).
    #[default]
    Int8,
    /// float32 input and output, QUANTIZE / DEQUANTIZE inside the model.
    Float,
}

/// How [`quantize_graph`] quantizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConvertOptions {
    /// Model input and output type (default int8).
    pub io: Io,
    /// Nodes kept float, named by their first output tensor (default none).
    pub denylist_nodes: Vec<String>,
    /// Op types kept float, by TFLite builtin name, e.g. `MEAN` (default none).
    pub denylist_ops: Vec<String>,
    /// Weights per tensor instead of per channel (default false).
    pub per_tensor: bool,
}

/// Calibrated `[min, max]` of every float tensor of a graph, over a representative set.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Per tensor index: the range seen, `None` for constants, non-float tensors and tensors never computed.
    pub ranges: Vec<Option<(f32, f32)>>,
    /// Number of samples run.
    pub samples: usize,
}

/// Runs `graph` (float32) on each sample of `inputs` (one array per graph input, leading
/// dimension the sample count) and records every float tensor's min and max.
pub fn calibrate(graph: &Graph, inputs: &[NpyArray]) -> Result<Calibration> {
    let samples = sample_count(graph, inputs)?;
    let mut interp = Interpreter::with_kernels(graph.clone(), Kernels::Reference)?;
    let mut ranges: Vec<Option<(f32, f32)>> = vec![None; graph.tensors.len()];
    let watched: Vec<usize> = (0..graph.tensors.len())
        .filter(|&t| graph.tensors[t].dtype == DType::F32 && graph.tensors[t].data.is_none())
        .collect();
    for s in 0..samples {
        for (k, a) in inputs.iter().enumerate() {
            let NpyData::F32(v) = &a.data else {
                unreachable!("checked by sample_count")
            };
            let per = v.len() / samples;
            interp.set_input_f32(k, &v[s * per..(s + 1) * per])?;
        }
        interp.invoke()?;
        for &t in &watched {
            let Some(v) = interp.tensor_f32(t) else {
                continue;
            };
            for &x in v {
                let r = ranges[t].get_or_insert((x, x));
                r.0 = r.0.min(x);
                r.1 = r.1.max(x);
            }
        }
    }
    in_place_ranges(graph, &mut ranges);
    Ok(Calibration { ranges, samples })
}

/// Widens the range of an ADD / SUB / MUL input that TFLite overwrites with the output.
///
/// TFLite runs these ops in place (the output takes an input's buffer) when that input has
/// the output's shape and more than one element (TFLite's arena planner shares no tensor of
/// `kScalarTensorBytes` = 4 bytes or less), no later op, nor the graph, reads it, and the
/// output is not a graph output; TF's calibrator logs an op's inputs after the op has run,
/// so such an input's recorded range also holds the output's values. TF's int8 models show
/// it (the MEAN before a layer norm's `+ epsilon` gets that ADD's scale; the conv before an
/// unfolded batch norm's MUL gets the MUL's, but the MUL keeps its own when the ADD after it
/// is the graph output), and so do ours.
fn in_place_ranges(graph: &Graph, ranges: &mut [Option<(f32, f32)>]) {
    let own = ranges.to_vec();
    for (n, node) in graph.nodes.iter().enumerate() {
        if !matches!(node.op, Op::Add { .. } | Op::Sub { .. } | Op::Mul { .. }) {
            continue;
        }
        let Some(&out) = node.outputs.first() else {
            continue;
        };
        if graph.outputs.contains(&out) {
            continue;
        }
        let out_shape = &graph.tensors[out].shape;
        let shared = node.inputs.iter().flatten().copied().find(|&t| {
            let tensor = &graph.tensors[t];
            is_activation(tensor)
                && &tensor.shape == out_shape
                && tensor.num_elements() > 1
                && !graph.inputs.contains(&t)
                && !graph.outputs.contains(&t)
                && !graph.nodes[n + 1..]
                    .iter()
                    .any(|later| later.inputs.contains(&Some(t)))
        });
        if let (Some(t), Some((lo, hi))) = (shared, own[out]) {
            if let Some(r) = ranges[t].as_mut() {
                r.0 = r.0.min(lo);
                r.1 = r.1.max(hi);
            }
        }
    }
}

/// The number of samples in `inputs`, checking each against its graph input.
fn sample_count(graph: &Graph, inputs: &[NpyArray]) -> Result<usize> {
    if inputs.len() != graph.inputs.len() {
        return Err(Error::Shape(format!(
            "representative data: expected {} input arrays (one per model input), got {}",
            graph.inputs.len(),
            inputs.len()
        )));
    }
    let mut n = None;
    for (k, (a, &t)) in inputs.iter().zip(&graph.inputs).enumerate() {
        let tensor = &graph.tensors[t];
        if tensor.dtype != DType::F32 {
            return Err(Error::Model(format!(
                "model input {k} ({}) is {}, not float32: quantize a float model",
                tensor.name,
                tensor.dtype.name()
            )));
        }
        let NpyData::F32(v) = &a.data else {
            return Err(Error::Data(format!(
                "representative data for input {k}: expected float32, got {}",
                a.data.dtype_name()
            )));
        };
        let per = tensor.num_elements();
        let rows = a.shape.first().copied().unwrap_or(0);
        let row_shape: Vec<usize> = a.shape.iter().skip(1).copied().collect();
        let want: Vec<usize> = tensor.shape.iter().skip(1).copied().collect();
        if rows == 0 || v.len() != rows * per || row_shape.iter().product::<usize>() != per {
            return Err(Error::Shape(format!(
                "representative data for input {k} ({}): expected shape [N, {}], got {:?}",
                tensor.name,
                want.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                a.shape
            )));
        }
        if *n.get_or_insert(rows) != rows {
            return Err(Error::Shape(format!(
                "representative data: input {k} has {rows} samples, input 0 has {}",
                n.unwrap_or(0)
            )));
        }
    }
    n.ok_or_else(|| Error::Model("the model has no inputs".into()))
}

/// Calibrates on `inputs` and quantizes: [`calibrate`] then [`quantize_graph`].
pub fn convert(float: &Graph, inputs: &[NpyArray], options: &ConvertOptions) -> Result<Graph> {
    let cal = calibrate(float, inputs)?;
    quantize_graph(float, &cal, options)
}

/// Ops TF's converter leaves float32 in a full-integer model (no int8 kernel).
const FLOAT_ONLY: &[&str] = &["NEG", "QUANTIZE", "DEQUANTIZE"];

/// How an op relates its float inputs' and outputs' quantization.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// Own output range.
    Own,
    /// Output quantization fixed at `(scale, zero_point)`.
    Fixed(f32, i64),
    /// One float input and its outputs share a quantization (the input's).
    SameFromInput,
    /// All float inputs and the output share a quantization (the output's).
    SameFromOutput,
}

fn rule(op: &Op) -> Rule {
    match op {
        Op::Softmax { .. } | Op::Logistic => Rule::Fixed(1.0 / 256.0, -128),
        Op::Tanh => Rule::Fixed(1.0 / 128.0, 0),
        Op::MaxPool2d { .. }
        | Op::AveragePool2d { .. }
        | Op::Reshape
        | Op::Transpose
        | Op::Gather { .. }
        | Op::StridedSlice { .. }
        | Op::Pad
        | Op::PadV2
        | Op::Split { .. }
        | Op::Unpack { .. } => Rule::SameFromInput,
        Op::Concatenation { .. } | Op::Pack { .. } | Op::Maximum | Op::Minimum => {
            Rule::SameFromOutput
        }
        _ => Rule::Own,
    }
}

/// Which constant input slots of an op are weights (symmetric), biases, or operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConstKind {
    /// Symmetric narrow range, per channel along the axis unless per tensor.
    Weight { axis: usize, per_channel: bool },
    /// int32 with the input scale times the weight scales.
    Bias,
    /// The quantization of the node's first input (PADV2's padding value, a concatenated constant).
    LikeInput,
    /// Asymmetric from its own range.
    Operand,
}

fn const_kind(op: &Op, slot: usize, rule: Rule) -> ConstKind {
    match (op, slot) {
        (Op::Conv2d { .. } | Op::FullyConnected { .. }, 1) => ConstKind::Weight {
            axis: 0,
            per_channel: true,
        },
        (Op::DepthwiseConv2d { .. }, 1) => ConstKind::Weight {
            axis: 3,
            per_channel: true,
        },
        (Op::Prelu, 1) => ConstKind::Weight {
            axis: 0,
            per_channel: false,
        },
        (Op::Conv2d { .. } | Op::FullyConnected { .. } | Op::DepthwiseConv2d { .. }, 2) => {
            ConstKind::Bias
        }
        _ if matches!(rule, Rule::SameFromInput | Rule::SameFromOutput) => ConstKind::LikeInput,
        _ => ConstKind::Operand,
    }
}

fn is_activation(t: &Tensor) -> bool {
    t.dtype == DType::F32 && t.data.is_none()
}

fn is_float_const(t: &Tensor) -> bool {
    t.dtype == DType::F32 && t.data.is_some()
}

/// Whether node `n` is quantized under `options` (it computes float values, has an int8
/// kernel, and is not denylisted).
pub fn is_quantized(float: &Graph, n: usize, options: &ConvertOptions) -> bool {
    let node = &float.nodes[n];
    let name = node.op.name();
    let computes_float = node
        .outputs
        .iter()
        .any(|&t| float.tensors[t].dtype == DType::F32);
    let denied_node = node.outputs.first().is_some_and(|&t| {
        options
            .denylist_nodes
            .iter()
            .any(|d| d == &float.tensors[t].name)
    });
    computes_float
        && !FLOAT_ONLY.contains(&name)
        && !options
            .denylist_ops
            .iter()
            .any(|d| d.eq_ignore_ascii_case(name))
        && !denied_node
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Each float activation's int8 `(scale, zero_point)` under TF's rules, for the quantized nodes.
fn activation_params(
    float: &Graph,
    cal: &Calibration,
    quantized: &[bool],
) -> Result<Vec<Option<(f32, i64)>>> {
    let n_t = float.tensors.len();
    let mut own: Vec<Option<(f32, i64)>> = cal
        .ranges
        .iter()
        .map(|r| r.map(|(lo, hi)| params::asymmetric(lo, hi)))
        .collect();
    own.resize(n_t, None);
    // Fixed outputs first: a same-scale op after them inherits them.
    for (n, node) in float.nodes.iter().enumerate() {
        if let (true, Rule::Fixed(s, z)) = (quantized[n], rule(&node.op)) {
            for &o in &node.outputs {
                own[o] = Some((s, z));
            }
        }
    }
    // Same-scale groups: union-find over tensors; the group's source is chosen per rule.
    let mut parent: Vec<usize> = (0..n_t).collect();
    let mut source: Vec<Option<usize>> = vec![None; n_t];
    let mut from_output: Vec<bool> = vec![false; n_t];
    for (n, node) in float.nodes.iter().enumerate() {
        let r = rule(&node.op);
        if !quantized[n] || !matches!(r, Rule::SameFromInput | Rule::SameFromOutput) {
            continue;
        }
        let acts: Vec<usize> = node
            .inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&t| is_activation(&float.tensors[t]))
            .chain(node.outputs.iter().copied())
            .collect();
        let Some(&first) = acts.first() else {
            continue;
        };
        let (src, by_output) = match r {
            Rule::SameFromOutput => (node.outputs[0], true),
            _ => (first, false),
        };
        let mut root = find(&mut parent, first);
        let (mut best, mut best_out) = (source[root].unwrap_or(src), from_output[root]);
        for &t in &acts[1..] {
            let rt = find(&mut parent, t);
            if rt != root {
                if let Some(s) = source[rt] {
                    // A several-input op's output outranks a chain's input; later outranks earlier.
                    if from_output[rt] && !best_out {
                        best = s;
                        best_out = true;
                    }
                }
                parent[rt] = root;
                root = find(&mut parent, root);
            }
        }
        if by_output {
            best = src;
            best_out = true;
        }
        source[root] = Some(best);
        from_output[root] = best_out;
    }
    let roots: Vec<usize> = (0..n_t).map(|t| find(&mut parent, t)).collect();
    let out = roots
        .iter()
        .enumerate()
        .map(|(t, &r)| match source[r] {
            Some(s) => own[s],
            None => own[t],
        })
        .collect();
    Ok(out)
}

/// A tensor's representation in the quantized graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Repr {
    Int8,
    Float,
}

struct Builder<'a> {
    float: &'a Graph,
    out: Graph,
    params: Vec<Option<(f32, i64)>>,
    /// The representation each float activation is produced in.
    native: Vec<Repr>,
    /// (float tensor, representation) -> tensor of the output graph.
    map: HashMap<(usize, Repr), usize>,
    /// Constants already copied unchanged.
    plain: HashMap<usize, usize>,
}

impl Builder<'_> {
    fn quant_of(&self, t: usize) -> Result<(f32, i64)> {
        self.params[t].ok_or_else(|| {
            Error::Model(format!(
                "tensor {t} ({}) was never computed during calibration, so it has no range",
                self.float.tensors[t].name
            ))
        })
    }

    /// The tensor `t` of the float graph as activation in `repr`, converting (once) if needed.
    fn activation(&mut self, t: usize, repr: Repr) -> Result<usize> {
        if let Some(&i) = self.map.get(&(t, repr)) {
            return Ok(i);
        }
        let native = *self.map.get(&(t, self.native[t])).ok_or_else(|| {
            Error::Model(format!(
                "tensor {t} ({}) is used before it is computed",
                self.float.tensors[t].name
            ))
        })?;
        let src = &self.float.tensors[t];
        let (op, tensor) = match repr {
            Repr::Int8 => {
                let (s, z) = self.quant_of(t)?;
                (
                    Op::Quantize,
                    Tensor {
                        name: format!("{}_int8", src.name),
                        dtype: DType::I8,
                        quant: Some(Quant::per_tensor(s, z)),
                        ..src.clone()
                    },
                )
            }
            Repr::Float => (
                Op::Dequantize,
                Tensor {
                    name: format!("{}_float", src.name),
                    quant: None,
                    ..src.clone()
                },
            ),
        };
        let i = self.out.add_tensor(tensor);
        self.out.add_node(op, vec![Some(native)], vec![i]);
        self.map.insert((t, repr), i);
        Ok(i)
    }

    /// A fresh output-graph tensor for the activation `t`, produced in its native representation.
    fn define(&mut self, t: usize) -> Result<usize> {
        let src = &self.float.tensors[t];
        let tensor = match (self.native[t], is_activation(src)) {
            (Repr::Int8, true) => {
                let (s, z) = self.quant_of(t)?;
                Tensor {
                    dtype: DType::I8,
                    quant: Some(Quant::per_tensor(s, z)),
                    ..src.clone()
                }
            }
            _ => src.clone(),
        };
        let i = self.out.add_tensor(tensor);
        self.map.insert((t, self.native[t]), i);
        Ok(i)
    }

    fn plain_const(&mut self, t: usize) -> usize {
        if let Some(&i) = self.plain.get(&t) {
            return i;
        }
        let i = self.out.add_tensor(self.float.tensors[t].clone());
        self.plain.insert(t, i);
        i
    }
}

/// Reads a float constant's values.
fn const_f32(t: &Tensor) -> Vec<f32> {
    t.data
        .as_deref()
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Symmetric narrow-range int8 along `axis` (or per tensor): `(scales, values)`.
pub fn symmetric_weights(
    w: &[f32],
    shape: &[usize],
    axis: usize,
    per_channel: bool,
) -> (Vec<f32>, Vec<i8>) {
    let channels = if per_channel {
        shape.get(axis).copied().unwrap_or(1).max(1)
    } else {
        1
    };
    let inner: usize = if per_channel {
        shape.iter().skip(axis + 1).product()
    } else {
        1
    };
    let channel_of = |i: usize| {
        if per_channel {
            (i / inner) % channels
        } else {
            0
        }
    };
    let mut max_abs = vec![0f32; channels];
    for (i, &v) in w.iter().enumerate() {
        let c = channel_of(i);
        max_abs[c] = max_abs[c].max(v.abs());
    }
    let scales: Vec<f32> = max_abs
        .iter()
        .map(|&m| {
            if m == 0.0 {
                1.0
            } else {
                m / params::WEIGHT_QMAX
            }
        })
        .collect();
    let q = w
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            (v / scales[channel_of(i)])
                .round()
                .clamp(-params::WEIGHT_QMAX, params::WEIGHT_QMAX) as i8
        })
        .collect();
    (scales, q)
}

/// Quantizes a float graph with calibrated ranges under TF's rules (see the module docs).
pub fn quantize_graph(float: &Graph, cal: &Calibration, options: &ConvertOptions) -> Result<Graph> {
    if cal.ranges.len() != float.tensors.len() {
        return Err(Error::Model(format!(
            "calibration has {} tensors, the graph {}",
            cal.ranges.len(),
            float.tensors.len()
        )));
    }
    for name in &options.denylist_nodes {
        let found = float.nodes.iter().any(|n| {
            n.outputs
                .first()
                .is_some_and(|&t| &float.tensors[t].name == name)
        });
        if !found {
            return Err(Error::Config(format!(
                "denylisted node {name:?}: no op has this output tensor"
            )));
        }
    }
    let quantized: Vec<bool> = (0..float.nodes.len())
        .map(|n| is_quantized(float, n, options))
        .collect();
    let params = activation_params(float, cal, &quantized)?;
    let mut native = vec![Repr::Float; float.tensors.len()];
    for (n, node) in float.nodes.iter().enumerate() {
        if quantized[n] {
            for &o in &node.outputs {
                if is_activation(&float.tensors[o]) {
                    native[o] = Repr::Int8;
                }
            }
        }
    }
    if options.io == Io::Int8 {
        for &t in &float.inputs {
            native[t] = Repr::Int8;
        }
    }
    let mut b = Builder {
        float,
        out: Graph {
            description: float.description.clone(),
            params: float.params.clone(),
            ..Graph::default()
        },
        params,
        native,
        map: HashMap::new(),
        plain: HashMap::new(),
    };
    for &t in &float.inputs {
        let i = b.define(t)?;
        b.out.inputs.push(i);
    }
    for (n, node) in float.nodes.iter().enumerate() {
        let q = quantized[n];
        let r = rule(&node.op);
        let mut inputs = Vec::with_capacity(node.inputs.len());
        // The first float activation input's quantization (for biases and LikeInput constants).
        let first_act = node
            .inputs
            .iter()
            .flatten()
            .copied()
            .find(|&t| is_activation(&float.tensors[t]));
        let mut weight_scales: Vec<f32> = Vec::new();
        for (slot, &inp) in node.inputs.iter().enumerate() {
            let Some(t) = inp else {
                inputs.push(None);
                continue;
            };
            let tensor = &float.tensors[t];
            let i = if tensor.data.is_none() && !is_activation(tensor) {
                // An int32 shape vector computed by an earlier op.
                b.activation(t, b.native[t])?
            } else if is_activation(tensor) {
                let want = if !q
                    && node
                        .outputs
                        .iter()
                        .all(|&o| !is_activation(&float.tensors[o]))
                {
                    // Shape arithmetic: whatever the tensor is.
                    b.native[t]
                } else if q {
                    Repr::Int8
                } else {
                    Repr::Float
                };
                b.activation(t, want)?
            } else if q && is_float_const(tensor) {
                let values = const_f32(tensor);
                let kind = const_kind(&node.op, slot, r);
                let (dtype, quant, data) = match kind {
                    ConstKind::Weight { axis, per_channel } => {
                        let per_channel = per_channel && !options.per_tensor;
                        let (scales, qv) =
                            symmetric_weights(&values, &tensor.shape, axis, per_channel);
                        weight_scales = scales.clone();
                        let n = scales.len();
                        (
                            DType::I8,
                            Quant {
                                scale: scales,
                                zero_point: vec![0; n],
                                axis: if per_channel { axis } else { 0 },
                            },
                            qv.iter().map(|&v| v as u8).collect::<Vec<u8>>(),
                        )
                    }
                    ConstKind::Bias => {
                        let in_t = first_act.ok_or_else(|| {
                            Error::Model(format!(
                                "node {n} ({}): bias without an input",
                                node.op.name()
                            ))
                        })?;
                        let (in_scale, _) = b.quant_of(in_t)?;
                        // One weight scale per output channel, or one for all (per tensor).
                        let ws: Vec<f32> = (0..values.len())
                            .map(|c| {
                                if weight_scales.len() == 1 {
                                    weight_scales[0]
                                } else {
                                    weight_scales.get(c).copied().unwrap_or(1.0)
                                }
                            })
                            .collect();
                        let scales: Vec<f32> = ws
                            .iter()
                            .take(if weight_scales.len() == 1 {
                                1
                            } else {
                                ws.len()
                            })
                            .map(|&w| (in_scale as f64 * w as f64) as f32)
                            .collect();
                        let qv = params::bias_i32(&values, in_scale, &ws);
                        let n = scales.len();
                        (
                            DType::I32,
                            Quant {
                                scale: scales,
                                zero_point: vec![0; n],
                                axis: 0,
                            },
                            qv.iter().flat_map(|v| v.to_le_bytes()).collect(),
                        )
                    }
                    ConstKind::LikeInput | ConstKind::Operand => {
                        let (s, z) = match (kind, first_act) {
                            (ConstKind::LikeInput, Some(a)) => b.quant_of(a)?,
                            _ => {
                                let lo = values.iter().fold(f32::INFINITY, |m, &v| m.min(v));
                                let hi = values.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                                params::asymmetric(lo, hi)
                            }
                        };
                        let qv: Vec<u8> = values
                            .iter()
                            .map(|&v| params::quantize_value(v, s, z) as u8)
                            .collect();
                        (DType::I8, Quant::per_tensor(s, z), qv)
                    }
                };
                b.out.add_tensor(Tensor {
                    name: tensor.name.clone(),
                    shape: tensor.shape.clone(),
                    dtype,
                    quant: Some(quant),
                    data: Some(data),
                })
            } else {
                b.plain_const(t)
            };
            inputs.push(Some(i));
        }
        let mut outputs = Vec::with_capacity(node.outputs.len());
        for &o in &node.outputs {
            outputs.push(b.define(o)?);
        }
        b.out.add_node(node.op.clone(), inputs, outputs);
        // A float op's output that an int8 op reads is quantized right after it, as in TF's
        // models (NEG, QUANTIZE, SQUARED_DIFFERENCE in a layer norm); int8 inputs of float
        // ops are dequantized right before their first reader.
        if !q {
            for &o in &node.outputs {
                let read_as_int8 = float.nodes[n + 1..]
                    .iter()
                    .enumerate()
                    .any(|(k, later)| quantized[n + 1 + k] && later.inputs.contains(&Some(o)));
                if b.native[o] == Repr::Float && is_activation(&float.tensors[o]) && read_as_int8 {
                    b.activation(o, Repr::Int8)?;
                }
            }
        }
    }
    let want = match options.io {
        Io::Int8 => Repr::Int8,
        Io::Float => Repr::Float,
    };
    for &t in &float.outputs {
        let i = if is_activation(&float.tensors[t]) {
            let i = b.activation(t, want)?;
            if b.native[t] != want {
                // The converted tensor takes the output's name, as in TF's models.
                let native = b.map[&(t, b.native[t])];
                let suffix = match b.native[t] {
                    Repr::Int8 => "_int8",
                    Repr::Float => "_float",
                };
                b.out.tensors[native].name = format!("{}{suffix}", float.tensors[t].name);
                b.out.tensors[i].name = float.tensors[t].name.clone();
            }
            i
        } else {
            b.map
                .get(&(t, b.native[t]))
                .copied()
                .unwrap_or_else(|| b.plain_const(t))
        };
        b.out.outputs.push(i);
    }
    Ok(b.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depthwise_weights_per_channel_along_the_last_axis() {
        // Shape [1, 1, 2, 2] (1HW(I*M)): channel 0 holds 1.27 and -0.5, channel 1 holds 0.254 and 0.
        let w = [1.27, 0.254, -0.5, 0.0];
        let (s, q) = symmetric_weights(&w, &[1, 1, 2, 2], 3, true);
        // Scales max|w| / 127: 0.01 and 0.002; -0.5 / 0.01 = -50, 0.254 / 0.002 = 127.
        assert!((s[0] - 0.01).abs() < 1e-9 && (s[1] - 0.002).abs() < 1e-9);
        assert_eq!(q, vec![127, 127, -50, 0]);
        // Per tensor: one scale 0.01; 0.254 / 0.01 = 25.4 -> 25.
        let (s, q) = symmetric_weights(&w, &[1, 1, 2, 2], 3, false);
        assert_eq!(s.len(), 1);
        assert_eq!(q, vec![127, 25, -50, 0]);
    }

    #[test]
    fn op_rules_follow_tfs_int8_kernels() {
        assert_eq!(
            rule(&Op::Softmax { beta: 1.0 }),
            Rule::Fixed(1.0 / 256.0, -128)
        );
        assert_eq!(rule(&Op::Tanh), Rule::Fixed(1.0 / 128.0, 0));
        assert_eq!(rule(&Op::Reshape), Rule::SameFromInput);
        assert_eq!(rule(&Op::Maximum), Rule::SameFromOutput);
        assert_eq!(rule(&Op::Relu), Rule::Own);
    }
}
