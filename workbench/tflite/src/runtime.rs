//! The interpreter: runs a [`Graph`] on `kernels-int8`.
//!
//! Every node is validated and prepared once in [`Interpreter::new`]
//! (multipliers, shifts, activation ranges, padding, scratch), exactly as
//! TFLite's `Prepare` functions compute them; [`Interpreter::invoke`] only
//! runs integer kernels.

use kernels_int8 as k;
use kernels_int8::Dims4;

use crate::error::{Error, Result};
use crate::export::validate;
use crate::graph::{Activation, DType, Graph, Node, Op, Padding, Quant, Tensor, Window};

/// Which kernel implementations to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// TFLite's reference kernels, loop for loop.
    Reference,
    /// The fast paths (im2col + GEMM, vectorizable dot products), bit-exact with the reference.
    #[default]
    Optimized,
}

/// A tensor's storage.
#[derive(Debug, Clone, Default)]
enum Buf {
    #[default]
    Empty,
    I8(Vec<i8>),
    F32(Vec<f32>),
    I32(Vec<i32>),
}

/// One prepared node: tensor indices and the integers its kernel needs.
#[derive(Debug, Clone)]
enum Step {
    Conv {
        params: k::conv_2d::ConvParams,
        conv: Conv,
    },
    Depthwise {
        params: k::depthwise_conv_2d::DepthwiseParams,
        conv: Conv,
    },
    FullyConnected {
        params: k::fully_connected::FullyConnectedParams,
        /// Effective output scale per tensor (one entry) or per output channel.
        scale: Vec<f64>,
        accum_depth: usize,
        input: usize,
        weights: usize,
        bias: Option<usize>,
        output: usize,
    },
    Pool {
        max: bool,
        params: k::max_pool_2d::PoolParams,
        input_shape: Dims4,
        output_shape: Dims4,
        input: usize,
        output: usize,
    },
    Reshape {
        input: usize,
        output: usize,
    },
    Softmax {
        params: k::softmax::SoftmaxParams,
        depth: usize,
        input: usize,
        output: usize,
    },
    Add {
        params: k::add::AddParams,
        a: usize,
        b: usize,
        output: usize,
    },
    Quantize {
        scale: f32,
        zero_point: i32,
        input: usize,
        output: usize,
    },
    Requantize {
        input_zero_point: i32,
        output_zero_point: i32,
        multiplier: i32,
        shift: i32,
        input: usize,
        output: usize,
    },
    Dequantize {
        scale: f32,
        zero_point: i32,
        input: usize,
        output: usize,
    },
}

/// What a prepared convolution (regular or depthwise) runs on, besides its params.
#[derive(Debug, Clone)]
struct Conv {
    multiplier: Vec<i32>,
    shift: Vec<i32>,
    input_shape: Dims4,
    filter_shape: Dims4,
    output_shape: Dims4,
    input: usize,
    filter: usize,
    bias: Option<usize>,
    output: usize,
}

/// Runs an int8 [`Graph`] on `kernels-int8`.
#[derive(Debug, Clone)]
pub struct Interpreter {
    graph: Graph,
    kernels: Kernels,
    bufs: Vec<Buf>,
    steps: Vec<Step>,
    scratch: Vec<i8>,
}

impl Interpreter {
    /// Validates and prepares every node once, with the optimized kernels.
    pub fn new(graph: Graph) -> Result<Self> {
        Self::with_kernels(graph, Kernels::Optimized)
    }

    /// Validates and prepares every node once, with the chosen kernels.
    pub fn with_kernels(graph: Graph, kernels: Kernels) -> Result<Self> {
        validate(&graph)?;
        let mut bufs = Vec::with_capacity(graph.tensors.len());
        for (i, t) in graph.tensors.iter().enumerate() {
            bufs.push(alloc(i, t)?);
        }
        let mut steps = Vec::with_capacity(graph.nodes.len());
        let mut scratch_len = 0;
        for (index, node) in graph.nodes.iter().enumerate() {
            let p = Prep {
                graph: &graph,
                node,
                index,
            };
            let step = p.prepare()?;
            if let Step::Conv { conv, .. } = &step {
                scratch_len = scratch_len.max(k::conv_2d::conv_scratch_len(
                    conv.filter_shape,
                    conv.output_shape,
                ));
            }
            steps.push(step);
        }
        for &t in &graph.inputs {
            if graph.tensors[t].data.is_some() {
                return Err(Error::msg(format!(
                    "graph input tensor {t} ({}) is a constant",
                    graph.tensors[t].name
                )));
            }
        }
        Ok(Interpreter {
            graph,
            kernels,
            bufs,
            steps,
            scratch: vec![0; scratch_len],
        })
    }

    /// The graph being run.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The kernels in use.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    fn input_tensor(&self, i: usize, dtype: DType, len: usize) -> Result<usize> {
        let &t = self.graph.inputs.get(i).ok_or_else(|| {
            Error::msg(format!(
                "input {i} does not exist (graph has {} inputs)",
                self.graph.inputs.len()
            ))
        })?;
        let tensor = &self.graph.tensors[t];
        if tensor.dtype != dtype {
            return Err(Error::msg(format!(
                "input {i} (tensor {t}, {}): expected {}, got {}",
                tensor.name,
                dtype_name(tensor.dtype),
                dtype_name(dtype)
            )));
        }
        if tensor.num_elements() != len {
            return Err(Error::msg(format!(
                "input {i} (tensor {t}, {}): expected {} values for shape {:?}, got {len}",
                tensor.name,
                tensor.num_elements(),
                tensor.shape
            )));
        }
        Ok(t)
    }

    /// Sets graph input `i` from int8 values; errors if its type or length differs.
    pub fn set_input_i8(&mut self, i: usize, data: &[i8]) -> Result<()> {
        let t = self.input_tensor(i, DType::I8, data.len())?;
        self.bufs[t] = Buf::I8(data.to_vec());
        Ok(())
    }

    /// Sets graph input `i` from f32 values; errors if its type or length differs.
    pub fn set_input_f32(&mut self, i: usize, data: &[f32]) -> Result<()> {
        let t = self.input_tensor(i, DType::F32, data.len())?;
        self.bufs[t] = Buf::F32(data.to_vec());
        Ok(())
    }

    /// Runs every node in order.
    pub fn invoke(&mut self) -> Result<()> {
        let fast = self.kernels == Kernels::Optimized;
        for step in &self.steps {
            run(step, &mut self.bufs, &mut self.scratch, fast);
        }
        Ok(())
    }

    fn output_tensor(&self, i: usize) -> Result<usize> {
        self.graph.outputs.get(i).copied().ok_or_else(|| {
            Error::msg(format!(
                "output {i} does not exist (graph has {} outputs)",
                self.graph.outputs.len()
            ))
        })
    }

    /// Graph output `i` as int8; errors if it is not int8.
    pub fn output_i8(&self, i: usize) -> Result<&[i8]> {
        let t = self.output_tensor(i)?;
        self.tensor_i8(t).ok_or_else(|| {
            Error::msg(format!(
                "output {i} (tensor {t}) is {}, not int8",
                dtype_name(self.graph.tensors[t].dtype)
            ))
        })
    }

    /// Graph output `i` as f32; errors if it is not f32.
    pub fn output_f32(&self, i: usize) -> Result<&[f32]> {
        let t = self.output_tensor(i)?;
        self.tensor_f32(t).ok_or_else(|| {
            Error::msg(format!(
                "output {i} (tensor {t}) is {}, not float32",
                dtype_name(self.graph.tensors[t].dtype)
            ))
        })
    }

    /// Any int8 tensor: an activation (after [`invoke`](Self::invoke)) or a constant.
    pub fn tensor_i8(&self, tensor: usize) -> Option<&[i8]> {
        match self.bufs.get(tensor)? {
            Buf::I8(v) => Some(v),
            _ => None,
        }
    }

    /// Any f32 tensor: an activation (after [`invoke`](Self::invoke)) or a constant.
    pub fn tensor_f32(&self, tensor: usize) -> Option<&[f32]> {
        match self.bufs.get(tensor)? {
            Buf::F32(v) => Some(v),
            _ => None,
        }
    }
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "float32",
        DType::I8 => "int8",
        DType::I32 => "int32",
    }
}

/// The largest activation tensor, in elements (256 MiB of int8).
const MAX_ACTIVATION: usize = 1 << 28;

/// Storage for a tensor: decoded constants, zeroed activations.
fn alloc(i: usize, t: &Tensor) -> Result<Buf> {
    let n = t.num_elements();
    if t.data.is_none() && n > MAX_ACTIVATION {
        return Err(Error::msg(format!(
            "tensor {i} ({}): shape {:?} has {n} elements, more than the {MAX_ACTIVATION} an activation may have",
            t.name, t.shape
        )));
    }
    Ok(match (&t.data, t.dtype) {
        (Some(d), DType::I8) => Buf::I8(d.iter().map(|&b| b as i8).collect()),
        (Some(d), DType::F32) => Buf::F32(
            d.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        (Some(d), DType::I32) => Buf::I32(
            d.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        (None, DType::I8) => Buf::I8(vec![0; n]),
        (None, DType::F32) => Buf::F32(vec![0.0; n]),
        (None, DType::I32) => {
            return Err(Error::msg(format!(
                "tensor {i} ({}): int32 activations are not supported",
                t.name
            )))
        }
    })
}

/// The checked operands of a convolution (regular or depthwise).
struct ConvOperands {
    input: usize,
    filter: usize,
    in_scale: f32,
    in_zp: i32,
    out_scale: f32,
    out_zp: i32,
    ishape: Dims4,
    fshape: Dims4,
}

/// Padding and activation range of a prepared convolution.
struct Geometry {
    padding_h: usize,
    padding_w: usize,
    activation_min: i32,
    activation_max: i32,
}

/// Preparation context of one node.
struct Prep<'a> {
    graph: &'a Graph,
    node: &'a Node,
    index: usize,
}

impl Prep<'_> {
    fn err(&self, msg: impl Into<String>) -> Error {
        Error::op(self.index, self.node.op.name(), msg)
    }

    /// Input `k`'s tensor index (required).
    fn input(&self, k: usize) -> Result<usize> {
        self.node
            .inputs
            .get(k)
            .copied()
            .flatten()
            .ok_or_else(|| self.err(format!("input {k} is missing")))
    }

    fn output(&self) -> usize {
        self.node.outputs[0]
    }

    fn tensor(&self, t: usize) -> &Tensor {
        &self.graph.tensors[t]
    }

    /// Checks a tensor's type; `role` names it in errors ("filter").
    fn expect_dtype(&self, role: &str, t: usize, dtype: DType) -> Result<()> {
        let got = self.tensor(t).dtype;
        if got != dtype {
            return Err(self.err(format!(
                "{role} tensor {t}: expected {}, got {}",
                dtype_name(dtype),
                dtype_name(got)
            )));
        }
        Ok(())
    }

    fn expect_const(&self, role: &str, t: usize) -> Result<()> {
        if self.tensor(t).data.is_none() {
            return Err(self.err(format!("{role} tensor {t} must be a constant")));
        }
        Ok(())
    }

    /// A constant int8 tensor (filter, weights).
    fn const_int8(&self, role: &str, t: usize) -> Result<()> {
        self.expect_dtype(role, t, DType::I8)?;
        self.expect_const(role, t)
    }

    /// Per-tensor scale and zero point of an int8 activation.
    fn per_tensor(&self, role: &str, t: usize) -> Result<(f32, i32)> {
        let q = self
            .tensor(t)
            .quant
            .as_ref()
            .ok_or_else(|| self.err(format!("{role} tensor {t} has no quantization")))?;
        if q.scale.len() != 1 {
            return Err(self.err(format!(
                "{role} tensor {t}: expected per-tensor quantization, got {} scales",
                q.scale.len()
            )));
        }
        let scale = q.scale[0];
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(self.err(format!("{role} tensor {t}: scale {scale} is not positive")));
        }
        let zp = q.zero_point[0];
        let range = if self.tensor(t).dtype == DType::I8 {
            -128..=127
        } else {
            i64::from(i32::MIN)..=i64::from(i32::MAX)
        };
        if !range.contains(&zp) {
            return Err(self.err(format!("{role} tensor {t}: zero point {zp} out of range")));
        }
        Ok((scale, zp as i32))
    }

    /// An int8 activation with per-tensor quantization.
    fn int8_act(&self, role: &str, t: usize) -> Result<(f32, i32)> {
        self.expect_dtype(role, t, DType::I8)?;
        self.per_tensor(role, t)
    }

    /// A rank-4 shape.
    fn dims4(&self, role: &str, t: usize) -> Result<Dims4> {
        let s = &self.tensor(t).shape;
        match s[..] {
            [n, h, w, c] => Ok(Dims4::new(n, h, w, c)),
            _ => Err(self.err(format!(
                "{role} tensor {t}: expected rank 4, got shape {s:?}"
            ))),
        }
    }

    /// Symmetric int8 filter scales (one, or one per channel along `axis`).
    fn filter_scales(&self, t: usize, channels: usize, axis: usize) -> Result<Vec<f32>> {
        let q: &Quant = self
            .tensor(t)
            .quant
            .as_ref()
            .ok_or_else(|| self.err(format!("filter tensor {t} has no quantization")))?;
        if q.scale.len() != 1 && (q.scale.len() != channels || q.axis != axis) {
            return Err(self.err(format!(
                "filter tensor {t}: expected 1 or {channels} scales along axis {axis}, got {} along axis {}",
                q.scale.len(),
                q.axis
            )));
        }
        if let Some(zp) = q.zero_point.iter().find(|&&z| z != 0) {
            return Err(self.err(format!("filter tensor {t}: zero point must be 0, got {zp}")));
        }
        if let Some(s) = q.scale.iter().find(|s| !(**s > 0.0 && s.is_finite())) {
            return Err(self.err(format!("filter tensor {t}: scale {s} is not positive")));
        }
        Ok(q.scale.clone())
    }

    /// An optional int32 bias of `channels` entries.
    fn bias(&self, k: usize, channels: usize) -> Result<Option<usize>> {
        let Some(t) = self.node.inputs.get(k).copied().flatten() else {
            return Ok(None);
        };
        self.expect_dtype("bias", t, DType::I32)?;
        self.expect_const("bias", t)?;
        let n = self.tensor(t).num_elements();
        if n != channels {
            return Err(self.err(format!(
                "bias tensor {t} has {n} values, expected {channels}"
            )));
        }
        Ok(Some(t))
    }

    fn activation(&self, a: Activation, scale: f32, zp: i32) -> (i32, i32) {
        k::requant::activation_range(to_k_activation(a), scale, zp)
    }

    fn expect_shape(&self, t: usize, want: Dims4) -> Result<()> {
        let got = &self.tensor(t).shape;
        if got[..] != [want.n, want.h, want.w, want.c] {
            return Err(self.err(format!(
                "output tensor {t} has shape {got:?}, expected {:?}",
                [want.n, want.h, want.w, want.c]
            )));
        }
        Ok(())
    }

    /// Output size and padding before, per axis (TFLite's `ComputePaddingHeightWidth`).
    fn spatial(
        &self,
        window: &Window,
        input: Dims4,
        filter_h: usize,
        filter_w: usize,
        dilation_h: usize,
        dilation_w: usize,
    ) -> Result<(usize, usize, usize, usize)> {
        let pad = match window.padding {
            Padding::Same => k::padding::Padding::Same,
            Padding::Valid => k::padding::Padding::Valid,
        };
        let out_h = k::padding::output_size(pad, input.h, filter_h, window.stride_h, dilation_h);
        let out_w = k::padding::output_size(pad, input.w, filter_w, window.stride_w, dilation_w);
        if out_h == 0 || out_w == 0 {
            return Err(self.err(format!(
                "filter {filter_h}x{filter_w} (dilation {dilation_h}x{dilation_w}) does not fit input {}x{}",
                input.h, input.w
            )));
        }
        let pad_h =
            k::padding::padding_before(window.stride_h, dilation_h, input.h, filter_h, out_h);
        let pad_w =
            k::padding::padding_before(window.stride_w, dilation_w, input.w, filter_w, out_w);
        Ok((out_h, out_w, pad_h, pad_w))
    }

    /// Checks and reads the input, constant int8 filter and output of a convolution.
    fn conv_operands(&self) -> Result<ConvOperands> {
        let (input, filter) = (self.input(0)?, self.input(1)?);
        let (in_scale, in_zp) = self.int8_act("input", input)?;
        self.const_int8("filter", filter)?;
        let (out_scale, out_zp) = self.int8_act("output", self.output())?;
        Ok(ConvOperands {
            input,
            filter,
            in_scale,
            in_zp,
            out_scale,
            out_zp,
            ishape: self.dims4("input", input)?,
            fshape: self.dims4("filter", filter)?,
        })
    }

    /// Filter scales along `axis`, bias, window, output shape, multipliers and
    /// activation range of a convolution whose output channels are the filter's
    /// dimension `axis`.
    fn conv_prepare(
        &self,
        o: &ConvOperands,
        window: &Window,
        dilation_h: usize,
        dilation_w: usize,
        activation: Activation,
        axis: usize,
    ) -> Result<(Conv, Geometry)> {
        let channels = if axis == 0 { o.fshape.n } else { o.fshape.c };
        let scales = self.filter_scales(o.filter, channels, axis)?;
        let bias = self.bias(2, channels)?;
        let (oh, ow, padding_h, padding_w) = self.spatial(
            window, o.ishape, o.fshape.h, o.fshape.w, dilation_h, dilation_w,
        )?;
        let oshape = Dims4::new(o.ishape.n, oh, ow, channels);
        self.expect_shape(self.output(), oshape)?;
        let mut multiplier = vec![0; channels];
        let mut shift = vec![0; channels];
        k::requant::conv_multipliers(
            o.in_scale,
            &scales,
            o.out_scale,
            &mut multiplier,
            &mut shift,
        );
        let (activation_min, activation_max) = self.activation(activation, o.out_scale, o.out_zp);
        let conv = Conv {
            multiplier,
            shift,
            input_shape: o.ishape,
            filter_shape: o.fshape,
            output_shape: oshape,
            input: o.input,
            filter: o.filter,
            bias,
            output: self.output(),
        };
        let geometry = Geometry {
            padding_h,
            padding_w,
            activation_min,
            activation_max,
        };
        Ok((conv, geometry))
    }

    /// Checks that `input` and the output hold the same number of values.
    fn expect_same_len(&self, input: usize, out: usize) -> Result<()> {
        let n = self.tensor(input).num_elements();
        if n != self.tensor(out).num_elements() {
            return Err(self.err(format!(
                "input tensor {input} has {n} values, output tensor {out} has {}",
                self.tensor(out).num_elements()
            )));
        }
        Ok(())
    }

    fn prepare(&self) -> Result<Step> {
        let out = self.output();
        if self.node.inputs.contains(&Some(out)) {
            return Err(self.err(format!("output tensor {out} is also an input")));
        }
        match &self.node.op {
            Op::Conv2d {
                window,
                dilation_w,
                dilation_h,
                activation,
            } => {
                let o = self.conv_operands()?;
                if o.fshape.c != o.ishape.c {
                    return Err(self.err(format!(
                        "filter tensor {} has {} input channels, input tensor {} has {}",
                        o.filter, o.fshape.c, o.input, o.ishape.c
                    )));
                }
                let (dilation_h, dilation_w) = (*dilation_h, *dilation_w);
                let (conv, c) =
                    self.conv_prepare(&o, window, dilation_h, dilation_w, *activation, 0)?;
                Ok(Step::Conv {
                    params: k::conv_2d::ConvParams {
                        input_offset: -o.in_zp,
                        output_offset: o.out_zp,
                        stride_w: window.stride_w,
                        stride_h: window.stride_h,
                        dilation_w,
                        dilation_h,
                        padding_w: c.padding_w,
                        padding_h: c.padding_h,
                        activation_min: c.activation_min,
                        activation_max: c.activation_max,
                    },
                    conv,
                })
            }
            Op::DepthwiseConv2d {
                window,
                dilation_w,
                dilation_h,
                depth_multiplier: _,
                activation,
            } => {
                let o = self.conv_operands()?;
                if o.fshape.n != 1 || o.ishape.c == 0 || !o.fshape.c.is_multiple_of(o.ishape.c) {
                    return Err(self.err(format!(
                        "filter tensor {} has shape {:?}, expected [1, h, w, {} * multiplier] for input tensor {}",
                        o.filter, self.tensor(o.filter).shape, o.ishape.c, o.input
                    )));
                }
                // TFLite derives the multiplier from the shapes; the option is redundant.
                let depth_multiplier = o.fshape.c / o.ishape.c;
                let (dilation_h, dilation_w) = (*dilation_h, *dilation_w);
                let (conv, c) =
                    self.conv_prepare(&o, window, dilation_h, dilation_w, *activation, 3)?;
                Ok(Step::Depthwise {
                    params: k::depthwise_conv_2d::DepthwiseParams {
                        input_offset: -o.in_zp,
                        output_offset: o.out_zp,
                        stride_w: window.stride_w,
                        stride_h: window.stride_h,
                        dilation_w,
                        dilation_h,
                        padding_w: c.padding_w,
                        padding_h: c.padding_h,
                        depth_multiplier,
                        activation_min: c.activation_min,
                        activation_max: c.activation_max,
                    },
                    conv,
                })
            }
            Op::FullyConnected {
                activation,
                keep_num_dims: _,
            } => {
                let (input, weights) = (self.input(0)?, self.input(1)?);
                let (in_scale, in_zp) = self.int8_act("input", input)?;
                self.const_int8("weights", weights)?;
                let (out_scale, out_zp) = self.int8_act("output", out)?;
                let wshape = &self.tensor(weights).shape;
                let [units, accum_depth] = wshape[..] else {
                    return Err(self.err(format!(
                        "weights tensor {weights}: expected rank 2, got shape {wshape:?}"
                    )));
                };
                let in_elems = self.tensor(input).num_elements();
                if accum_depth == 0 || !in_elems.is_multiple_of(accum_depth) {
                    return Err(self.err(format!(
                        "weights have {accum_depth} inputs, input tensor {input} has {in_elems}"
                    )));
                }
                let batches = in_elems / accum_depth;
                let out_elems = self.tensor(out).num_elements();
                if out_elems != batches * units {
                    return Err(self.err(format!(
                        "output tensor {out} has {out_elems} values, expected {batches} x {units}"
                    )));
                }
                let scales = self.filter_scales(weights, units, 0)?;
                let bias = self.bias(2, units)?;
                // LiteRT's reference FULLY_CONNECTED rescales in double, per tensor or per channel.
                let scale: Vec<f64> = scales
                    .iter()
                    .map(|&s| k::fully_connected_litert::effective_scale(in_scale, s, out_scale))
                    .collect();
                let (activation_min, activation_max) =
                    self.activation(*activation, out_scale, out_zp);
                Ok(Step::FullyConnected {
                    params: k::fully_connected::FullyConnectedParams {
                        input_offset: -in_zp,
                        weights_offset: 0,
                        output_offset: out_zp,
                        activation_min,
                        activation_max,
                    },
                    scale,
                    accum_depth,
                    input,
                    weights,
                    bias,
                    output: out,
                })
            }
            Op::MaxPool2d {
                window,
                filter_w,
                filter_h,
                activation,
            }
            | Op::AveragePool2d {
                window,
                filter_w,
                filter_h,
                activation,
            } => {
                let input = self.input(0)?;
                let (in_scale, in_zp) = self.int8_act("input", input)?;
                let (out_scale, out_zp) = self.int8_act("output", out)?;
                // pooling.cc: quantized pools keep the input's parameters.
                if (in_scale - out_scale).abs() > 1e-6 || in_zp != out_zp {
                    return Err(self.err(format!(
                        "output tensor {out} quantization ({out_scale}, {out_zp}) differs from input tensor {input} ({in_scale}, {in_zp})"
                    )));
                }
                let ishape = self.dims4("input", input)?;
                let (oh, ow, ph, pw) = self.spatial(window, ishape, *filter_h, *filter_w, 1, 1)?;
                let oshape = Dims4::new(ishape.n, oh, ow, ishape.c);
                self.expect_shape(out, oshape)?;
                let (activation_min, activation_max) =
                    self.activation(*activation, out_scale, out_zp);
                Ok(Step::Pool {
                    max: matches!(self.node.op, Op::MaxPool2d { .. }),
                    params: k::max_pool_2d::PoolParams {
                        stride_w: window.stride_w,
                        stride_h: window.stride_h,
                        filter_w: *filter_w,
                        filter_h: *filter_h,
                        padding_w: pw,
                        padding_h: ph,
                        activation_min,
                        activation_max,
                    },
                    input_shape: ishape,
                    output_shape: oshape,
                    input,
                    output: out,
                })
            }
            Op::Reshape => {
                let input = self.input(0)?;
                let (it, ot) = (self.tensor(input), self.tensor(out));
                if it.dtype != ot.dtype {
                    return Err(self.err(format!(
                        "input tensor {input} is {}, output tensor {out} is {}",
                        dtype_name(it.dtype),
                        dtype_name(ot.dtype)
                    )));
                }
                if it.num_elements() != ot.num_elements() {
                    return Err(self.err(format!(
                        "input tensor {input} {:?} and output tensor {out} {:?} differ in size",
                        it.shape, ot.shape
                    )));
                }
                Ok(Step::Reshape { input, output: out })
            }
            Op::Softmax { beta } => {
                let input = self.input(0)?;
                let (in_scale, _) = self.int8_act("input", input)?;
                let (out_scale, out_zp) = self.int8_act("output", out)?;
                // softmax.cc: int8 output zero point -128, scale 1/256 within 0.1%.
                if (out_scale - 1.0 / 256.0).abs() > 0.001 / 256.0 || out_zp != -128 {
                    return Err(self.err(format!(
                        "output tensor {out}: int8 softmax needs scale 1/256 and zero point -128, got {out_scale} and {out_zp}"
                    )));
                }
                let it = self.tensor(input);
                if it.shape != self.tensor(out).shape || it.shape.is_empty() {
                    return Err(self.err(format!(
                        "output tensor {out} shape {:?} differs from input tensor {input} shape {:?}",
                        self.tensor(out).shape,
                        it.shape
                    )));
                }
                // PreprocessSoftmaxScaling: beta * input_scale * 2^(31 - 5) must exceed 1.
                let real = f64::from(*beta) * f64::from(in_scale) * f64::from(1u32 << 26);
                if !(real > 1.0 && real.is_finite()) {
                    return Err(self.err(format!(
                        "beta {beta} with input scale {in_scale} is out of range for int8 softmax"
                    )));
                }
                Ok(Step::Softmax {
                    params: k::softmax::prepare(f64::from(*beta), f64::from(in_scale)),
                    depth: *it.shape.last().unwrap_or(&1),
                    input,
                    output: out,
                })
            }
            Op::Add { activation } => {
                let (a, b) = (self.input(0)?, self.input(1)?);
                let (a_scale, a_zp) = self.int8_act("input", a)?;
                let (b_scale, b_zp) = self.int8_act("input", b)?;
                let (out_scale, out_zp) = self.int8_act("output", out)?;
                let shape = &self.tensor(out).shape;
                for t in [a, b] {
                    if &self.tensor(t).shape != shape {
                        return Err(self.err(format!(
                            "input tensor {t} shape {:?} differs from output tensor {out} shape {shape:?} (broadcasting is not supported)",
                            self.tensor(t).shape
                        )));
                    }
                }
                let (activation_min, activation_max) =
                    self.activation(*activation, out_scale, out_zp);
                Ok(Step::Add {
                    params: k::add::prepare(
                        a_scale,
                        a_zp,
                        b_scale,
                        b_zp,
                        out_scale,
                        out_zp,
                        activation_min,
                        activation_max,
                    ),
                    a,
                    b,
                    output: out,
                })
            }
            Op::Quantize => {
                let input = self.input(0)?;
                let (out_scale, out_zp) = self.int8_act("output", out)?;
                self.expect_same_len(input, out)?;
                match self.tensor(input).dtype {
                    DType::F32 => Ok(Step::Quantize {
                        scale: out_scale,
                        zero_point: out_zp,
                        input,
                        output: out,
                    }),
                    DType::I8 => {
                        let (in_scale, in_zp) = self.per_tensor("input", input)?;
                        let (multiplier, shift) =
                            k::quantize::requantize_multiplier(in_scale, out_scale);
                        Ok(Step::Requantize {
                            input_zero_point: in_zp,
                            output_zero_point: out_zp,
                            multiplier,
                            shift,
                            input,
                            output: out,
                        })
                    }
                    other => Err(self.err(format!(
                        "input tensor {input}: expected float32 or int8, got {}",
                        dtype_name(other)
                    ))),
                }
            }
            Op::Dequantize => {
                let input = self.input(0)?;
                let (scale, zero_point) = self.int8_act("input", input)?;
                self.expect_dtype("output", out, DType::F32)?;
                self.expect_same_len(input, out)?;
                Ok(Step::Dequantize {
                    scale,
                    zero_point,
                    input,
                    output: out,
                })
            }
        }
    }
}

fn to_k_activation(a: Activation) -> k::Activation {
    match a {
        Activation::None => k::Activation::None,
        Activation::Relu => k::Activation::Relu,
        Activation::ReluN1To1 => k::Activation::ReluN1To1,
        Activation::Relu6 => k::Activation::Relu6,
    }
}

fn i8s(bufs: &[Buf], t: usize) -> &[i8] {
    match &bufs[t] {
        Buf::I8(v) => v,
        _ => &[],
    }
}

fn f32s(bufs: &[Buf], t: usize) -> &[f32] {
    match &bufs[t] {
        Buf::F32(v) => v,
        _ => &[],
    }
}

fn i32s(bufs: &[Buf], t: Option<usize>) -> Option<&[i32]> {
    match &bufs[t?] {
        Buf::I32(v) => Some(v),
        _ => None,
    }
}

/// Runs one prepared step; types and sizes were checked at prepare.
fn run(step: &Step, bufs: &mut [Buf], scratch: &mut [i8], fast: bool) {
    let output = match step {
        Step::Conv { conv, .. } | Step::Depthwise { conv, .. } => conv.output,
        Step::FullyConnected { output, .. }
        | Step::Pool { output, .. }
        | Step::Reshape { output, .. }
        | Step::Softmax { output, .. }
        | Step::Add { output, .. }
        | Step::Quantize { output, .. }
        | Step::Requantize { output, .. }
        | Step::Dequantize { output, .. } => *output,
    };
    // Take the output out so inputs can be borrowed from the same storage.
    let mut out = std::mem::take(&mut bufs[output]);
    eval(step, bufs, &mut out, scratch, fast);
    bufs[output] = out;
}

/// Runs one step's kernel into `out`.
fn eval(step: &Step, bufs: &[Buf], out: &mut Buf, scratch: &mut [i8], fast: bool) {
    match (step, out) {
        (Step::Conv { params, conv: c }, Buf::I8(o)) => {
            let (input, filter, bias) =
                (i8s(bufs, c.input), i8s(bufs, c.filter), i32s(bufs, c.bias));
            if fast {
                k::conv_2d::conv_per_channel_fast(
                    params,
                    &c.multiplier,
                    &c.shift,
                    c.input_shape,
                    input,
                    c.filter_shape,
                    filter,
                    bias,
                    c.output_shape,
                    o,
                    scratch,
                );
            } else {
                k::conv_2d::conv_per_channel(
                    params,
                    &c.multiplier,
                    &c.shift,
                    c.input_shape,
                    input,
                    c.filter_shape,
                    filter,
                    bias,
                    c.output_shape,
                    o,
                );
            }
        }
        (Step::Depthwise { params, conv: c }, Buf::I8(o)) => {
            let f = if fast {
                k::depthwise_conv_2d::depthwise_conv_per_channel_fast
            } else {
                k::depthwise_conv_2d::depthwise_conv_per_channel
            };
            f(
                params,
                &c.multiplier,
                &c.shift,
                c.input_shape,
                i8s(bufs, c.input),
                c.filter_shape,
                i8s(bufs, c.filter),
                i32s(bufs, c.bias),
                c.output_shape,
                o,
            )
        }
        (
            Step::FullyConnected {
                params,
                scale,
                accum_depth,
                input,
                weights,
                bias,
                ..
            },
            Buf::I8(o),
        ) => {
            let f = if fast {
                k::fully_connected_litert::fully_connected_fast
            } else {
                k::fully_connected_litert::fully_connected
            };
            f(
                params,
                scale,
                *accum_depth,
                i8s(bufs, *input),
                i8s(bufs, *weights),
                i32s(bufs, *bias),
                o,
            );
        }
        (
            Step::Pool {
                max,
                params,
                input_shape,
                output_shape,
                input,
                ..
            },
            Buf::I8(o),
        ) => {
            let f = if *max {
                k::max_pool_2d::max_pool
            } else {
                k::average_pool_2d::average_pool
            };
            f(params, *input_shape, i8s(bufs, *input), *output_shape, o);
        }
        (Step::Reshape { input, .. }, Buf::I8(o)) => {
            k::reshape::reshape(i8s(bufs, *input), o);
        }
        (Step::Reshape { input, .. }, Buf::F32(o)) => {
            k::reshape::reshape(f32s(bufs, *input), o);
        }
        (
            Step::Softmax {
                params,
                depth,
                input,
                ..
            },
            Buf::I8(o),
        ) => k::softmax::softmax(params, *depth, i8s(bufs, *input), o),
        (Step::Add { params, a, b, .. }, Buf::I8(o)) => {
            k::add::add(params, i8s(bufs, *a), i8s(bufs, *b), o);
        }
        (
            Step::Quantize {
                scale,
                zero_point,
                input,
                ..
            },
            Buf::I8(o),
        ) => k::quantize::affine_quantize(*scale, *zero_point, f32s(bufs, *input), o),
        (
            Step::Requantize {
                input_zero_point,
                output_zero_point,
                multiplier,
                shift,
                input,
                ..
            },
            Buf::I8(o),
        ) => k::quantize::requantize(
            *input_zero_point,
            *output_zero_point,
            *multiplier,
            *shift,
            i8s(bufs, *input),
            o,
        ),
        (
            Step::Dequantize {
                scale,
                zero_point,
                input,
                ..
            },
            Buf::F32(o),
        ) => k::dequantize::dequantize(*scale, *zero_point, i8s(bufs, *input), o),
        // Output types are checked at prepare, so this is never reached.
        _ => {}
    }
}
