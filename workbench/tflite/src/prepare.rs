//! One preparation for every backend: validate a node and compute the
//! integers its kernel runs with (multipliers, shifts, offsets, activation
//! ranges, padding, shapes, decoded biases), exactly as TFLite's `Prepare`
//! functions do, and run the prepared node on `kernels-int8`.
//!
//! Like TFLite Micro's `conv_common.cc`, which serves the reference, CMSIS-NN
//! and other backends, [`prepare`] serves the host [`Interpreter`](crate::Interpreter)
//! and the board (`device-bridge-board`): each op's preparation sits in its
//! `ops/<op>.rs` next to its import and export, and reads tensors through
//! [`Tensors`], so the host (owned constants) and the board (constants read in
//! place from the model bytes) share it. Every rejection is an
//! [`Error::Op`] naming the op index, the op and the tensor at fault.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use kernels_int8 as k;
use kernels_int8::Dims4;

use crate::error::{Error, Result};
use crate::graph::{Activation, DType, Node, Quant, Tensor, Window};
use crate::ops;

/// Which kernel implementations to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// TFLite's reference kernels, loop for loop.
    Reference,
    /// The fast paths (im2col + GEMM, vectorizable dot products), bit-exact with the reference.
    #[default]
    Optimized,
}

/// Whose arithmetic preparation follows where TFLite's interpreters differ.
///
/// Only int8 FULLY_CONNECTED differs today: LiteRT's reference kernel rescales
/// each accumulator in double (`round(acc * s_in * s_w / s_out)`), TFLite Micro
/// with a Q31 multiplier and shift (`MultiplyByQuantizedMultiplier`); the two
/// disagree by one on a fraction of a percent of outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// LiteRT (the TFLite interpreter, `ai-edge-litert`): the host's default.
    #[default]
    LiteRt,
    /// TFLite Micro: integer-only rescaling, what the board runs (no double-precision FPU).
    Micro,
}

impl Flavor {
    /// Lowercase name: `litert` or `tflite-micro`.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::LiteRt => "litert",
            Flavor::Micro => "tflite-micro",
        }
    }
}

/// What preparation reads of one tensor.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    /// Dimensions.
    pub shape: &'a [usize],
    /// Element type.
    pub dtype: DType,
    /// Quantization, if any.
    pub quant: Option<&'a Quant>,
    /// Constant data (little-endian, in `dtype`), `None` for activations.
    pub data: Option<&'a [u8]>,
}

impl TensorRef<'_> {
    /// Number of elements.
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The tensors of a graph, as preparation sees them.
pub trait Tensors {
    /// Number of tensors.
    fn count(&self) -> usize;
    /// Tensor `t` (`t < count()`).
    fn get(&self, t: usize) -> TensorRef<'_>;
}

impl Tensors for [Tensor] {
    fn count(&self) -> usize {
        self.len()
    }

    fn get(&self, t: usize) -> TensorRef<'_> {
        let t = &self[t];
        TensorRef {
            shape: &t.shape,
            dtype: t.dtype,
            quant: t.quant.as_ref(),
            data: t.data.as_deref(),
        }
    }
}

/// A convolution's per-channel requantization, bias and shapes.
#[derive(Debug, Clone)]
pub struct ConvData {
    /// Q31 multiplier per output channel.
    pub multiplier: Vec<i32>,
    /// Shift per output channel (positive: left).
    pub shift: Vec<i32>,
    /// Decoded int32 bias per output channel.
    pub bias: Option<Vec<i32>>,
    /// Input shape (NHWC).
    pub input_shape: Dims4,
    /// Filter shape (OHWI, or 1HW(I*M) for depthwise).
    pub filter_shape: Dims4,
    /// Output shape (NHWC).
    pub output_shape: Dims4,
}

/// A prepared node's kernel and the integers it runs with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Kernel {
    /// CONV_2D, per-channel.
    Conv {
        /// Offsets, strides, padding, activation range.
        params: k::conv_2d::ConvParams,
        /// Multipliers, bias and shapes.
        conv: ConvData,
    },
    /// DEPTHWISE_CONV_2D, per-channel.
    Depthwise {
        /// Offsets, strides, padding, multiplier, activation range.
        params: k::depthwise_conv_2d::DepthwiseParams,
        /// Multipliers, bias and shapes.
        conv: ConvData,
    },
    /// int8 FULLY_CONNECTED.
    FullyConnected {
        /// Offsets and activation range.
        params: k::fully_connected::FullyConnectedParams,
        /// How accumulators are rescaled ([`Flavor`]'s rule), per tensor or per output channel.
        rescale: FcRescale,
        /// Inputs per output unit.
        accum_depth: usize,
        /// Decoded int32 bias per output unit.
        bias: Option<Vec<i32>>,
    },
    /// MAX_POOL_2D (`max`) or AVERAGE_POOL_2D.
    Pool {
        /// Whether this is the max pool.
        max: bool,
        /// Window, padding and activation range.
        params: k::max_pool_2d::PoolParams,
        /// Input shape (NHWC).
        input_shape: Dims4,
        /// Output shape (NHWC).
        output_shape: Dims4,
    },
    /// RESHAPE: a copy.
    Reshape,
    /// SOFTMAX over the last dimension.
    Softmax {
        /// Fixed-point beta and diff bound.
        params: k::softmax::SoftmaxParams,
        /// Size of the last dimension.
        depth: usize,
    },
    /// ADD, SUB, MUL, SQUARED_DIFFERENCE with broadcasting.
    Binary {
        /// The op and its integers.
        params: BinaryParams,
        /// First input's shape.
        shape1: Vec<usize>,
        /// Second input's shape.
        shape2: Vec<usize>,
        /// Output shape.
        output_shape: Vec<usize>,
    },
    /// QUANTIZE from float32.
    Quantize {
        /// Output scale.
        scale: f32,
        /// Output zero point.
        zero_point: i32,
    },
    /// QUANTIZE from int8 (requantize).
    Requantize {
        /// Input zero point.
        input_zero_point: i32,
        /// Output zero point.
        output_zero_point: i32,
        /// Q31 multiplier.
        multiplier: i32,
        /// Shift (positive: left).
        shift: i32,
    },
    /// DEQUANTIZE to float32.
    Dequantize {
        /// Input scale.
        scale: f32,
        /// Input zero point.
        zero_point: i32,
    },
    /// RELU, RELU6: an int8 rescale and clamp, or a float32 clamp.
    Relu {
        /// int8 rescale and clamp; `None` for float32.
        params: Option<k::relu::ReluParams>,
        /// Real lower bound.
        min: f32,
        /// Real upper bound (infinite for RELU).
        max: f32,
    },
    /// LEAKY_RELU: two int8 rescales, or the float32 slope.
    LeakyRelu {
        /// int8 multipliers; `None` for float32.
        params: Option<k::leaky_relu::LeakyReluParams>,
        /// Slope for negative inputs.
        alpha: f32,
    },
    /// HARD_SWISH: int8 fixed-point, or float32 (`params` `None`).
    HardSwish(Option<k::hard_swish::HardSwishParams>),
    /// PAD, PADV2: the input's shape, `(before, after)` per dimension, the fill value.
    Pad {
        /// Input shape.
        shape: Vec<usize>,
        /// Padding before and after, per dimension.
        paddings: Vec<(usize, usize)>,
        /// Fill value of int8 outputs (the quantized constant or zero).
        value_i8: i8,
        /// Fill value of float32 outputs.
        value_f32: f32,
    },
    /// NEG of float32 values.
    Neg,
    /// MEAN or SUM over the axes in `mask`.
    Reduce {
        /// Whether this is SUM.
        sum: bool,
        /// Input shape.
        shape: Vec<usize>,
        /// Reduced axes.
        mask: [bool; k::reduce::MAX_DIMS],
        /// TFLite's kernel path and its integers.
        path: ReducePath,
        /// Number of output values.
        out_len: usize,
    },
    /// LOGISTIC (`logistic`) or TANH: an int8 table, or float32 (`None`).
    Lut {
        /// Whether this is LOGISTIC.
        logistic: bool,
        /// TFLite's 256-entry int8 table, indexed by the input byte.
        table: Option<alloc::boxed::Box<[i8; 256]>>,
    },
    /// RSQRT: int8 `[multiplier, shift, input zero point, output zero point]`, or float32 (`None`).
    Rsqrt(Option<[i32; 4]>),
    /// CONCATENATION of int8 or float32 tensors along `axis`.
    Concat {
        /// The axis, non-negative.
        axis: usize,
        /// Each input's shape.
        shapes: Vec<Vec<usize>>,
    },
    /// PACK of int8 or float32 tensors of one shape along a new axis.
    Pack {
        /// Each input's shape.
        shape: Vec<usize>,
        /// The new axis, non-negative.
        axis: usize,
    },
    /// SPLIT of an int8 or float32 tensor along `axis`, one part per output.
    Split {
        /// Input shape.
        shape: Vec<usize>,
        /// The axis, non-negative.
        axis: usize,
        /// Each output's size along `axis`.
        sizes: Vec<usize>,
    },
    /// UNPACK of an int8 or float32 tensor along `axis`, one output per entry.
    Unpack {
        /// Input shape.
        shape: Vec<usize>,
        /// The axis, non-negative.
        axis: usize,
    },
    /// ABS: int8 rescale, or float32 (`None`).
    Abs(Option<k::abs::AbsParams>),
    /// A float32 CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, pool or SOFTMAX.
    Float {
        /// The op and its geometry.
        op: FloatOp,
        /// Decoded bias per output channel.
        bias: Option<Vec<f32>>,
    },
    /// A hybrid CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED: float32 input
    /// and output, constant int8 weights (TF's dynamic-range quantization).
    Hybrid {
        /// The op and its geometry, as for float32.
        op: FloatOp,
        /// The weights' scale: one, or one per output channel.
        scales: Vec<f32>,
        /// Whether the input is quantized asymmetrically (else symmetrically).
        asymmetric: bool,
        /// Decoded float32 bias per output channel.
        bias: Option<Vec<f32>>,
    },
    /// PRELU: int8 rescales (`None` for float32) and the shapes.
    Prelu {
        /// int8 parameters.
        params: Option<k::prelu::PreluParams>,
        /// Input (and output) shape.
        input_shape: Vec<usize>,
        /// Alpha's shape.
        alpha_shape: Vec<usize>,
    },
    /// TRANSPOSE of a `shape` tensor by `perm`.
    Transpose {
        /// Input shape.
        shape: Vec<usize>,
        /// Output dimension `i` is input dimension `perm[i]`.
        perm: Vec<usize>,
    },
    /// GATHER along `axis` by constant indices.
    Gather {
        /// Params shape.
        shape: Vec<usize>,
        /// The axis, non-negative.
        axis: usize,
        /// The indices, checked in range.
        indices: Vec<i32>,
    },
    /// STRIDED_SLICE of a `shape` tensor.
    Slice {
        /// Start, stride and count per dimension.
        spec: k::strided_slice::SliceSpec,
        /// Input shape.
        shape: Vec<usize>,
    },
    /// A shape computation on int32 vectors (SHAPE, STRIDED_SLICE, PACK,
    /// GATHER, REDUCE_PROD, CONCATENATION) computed at prepare: its value
    /// becomes a constant for the nodes after it (a RESHAPE's shape); it
    /// never runs and is never stored.
    Folded {
        /// The output's values.
        value: Vec<i32>,
    },
    /// MAXIMUM (`max`) or MINIMUM with broadcasting.
    MaxMin {
        /// Whether this is MAXIMUM.
        max: bool,
        /// First input's shape.
        shape1: Vec<usize>,
        /// Second input's shape.
        shape2: Vec<usize>,
        /// Output shape.
        output_shape: Vec<usize>,
    },
}

/// A float32 kernel's op and geometry (see [`Kernel::Float`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum FloatOp {
    /// CONV_2D (`depth_multiplier` 0) or DEPTHWISE_CONV_2D.
    Conv {
        /// Strides, dilations, padding, clamp.
        params: k::conv_2d_f32::FloatConvParams,
        /// Depthwise channel multiplier; 0 for CONV_2D.
        depth_multiplier: usize,
        /// Input shape (NHWC).
        input_shape: Dims4,
        /// Filter shape (OHWI, or 1HW(I*M)).
        filter_shape: Dims4,
        /// Output shape (NHWC).
        output_shape: Dims4,
    },
    /// FULLY_CONNECTED.
    FullyConnected {
        /// Lower clamp.
        activation_min: f32,
        /// Upper clamp.
        activation_max: f32,
        /// Inputs per output unit.
        accum_depth: usize,
    },
    /// MAX_POOL_2D or AVERAGE_POOL_2D (`average`).
    Pool {
        /// Strides, padding, clamp.
        params: k::conv_2d_f32::FloatConvParams,
        /// Window height.
        filter_h: usize,
        /// Window width.
        filter_w: usize,
        /// Whether this is the average pool.
        average: bool,
        /// Input shape (NHWC).
        input_shape: Dims4,
        /// Output shape (NHWC).
        output_shape: Dims4,
    },
    /// SOFTMAX over the last dimension.
    Softmax {
        /// Exponent scale.
        beta: f32,
        /// Size of the last dimension.
        depth: usize,
    },
}

/// Which elementwise binary op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// ADD.
    Add,
    /// SUB.
    Sub,
    /// MUL.
    Mul,
    /// SQUARED_DIFFERENCE.
    SquaredDifference,
}

/// The integers of a binary op (int8), or its float32 clamp.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum BinaryParams {
    /// int8 ADD.
    Add(k::add::AddParams),
    /// int8 SUB (ADD's parameters).
    Sub(k::add::AddParams),
    /// int8 MUL.
    Mul(k::mul::MulParams),
    /// int8 SQUARED_DIFFERENCE.
    SquaredDifference(k::squared_difference::SquaredDifferenceParams),
    /// float32, with the fused activation's bounds.
    F32 {
        /// The op.
        kind: BinaryKind,
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
}

/// Which of TFLite's MEAN / SUM kernels runs (see `kernels_int8::mean`, `kernels_int8::sum`).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum ReducePath {
    /// float32.
    F32,
    /// int8 MEAN with `1 / count` folded into the multiplier.
    MeanRescale {
        /// Q31 multiplier.
        multiplier: i32,
        /// Its shift.
        shift: i32,
        /// Input zero point.
        input_zero_point: i32,
        /// Output zero point.
        output_zero_point: i32,
    },
    /// int8 SUM, same quantization in and out (wrapping).
    SumSame,
    /// int8 SUM rescaled as TFLite 2.21 does.
    SumRescale {
        /// Q31 multiplier of `s_in / s_out`.
        multiplier: i32,
        /// Its shift.
        shift: i32,
        /// Input zero point.
        input_zero_point: i32,
        /// Output zero point.
        output_zero_point: i32,
    },
}

/// FULLY_CONNECTED's output rescale: one entry (per tensor) or one per output unit.
#[derive(Debug, Clone, PartialEq)]
pub enum FcRescale {
    /// LiteRT's effective scale `f64(s_in) * f64(s_w) / f64(s_out)`, applied in double.
    Double(Vec<f64>),
    /// TFLite Micro's Q31 multiplier and shift (`QuantizeMultiplier`).
    Fixed {
        /// Q31 multiplier per entry.
        multiplier: Vec<i32>,
        /// Shift per entry (positive: left).
        shift: Vec<i32>,
    },
}

impl FcRescale {
    /// Bytes its vectors hold.
    pub fn heap_bytes(&self) -> usize {
        match self {
            FcRescale::Double(s) => s.len() * 8,
            FcRescale::Fixed { multiplier, shift } => (multiplier.len() + shift.len()) * 4,
        }
    }
}

/// One node ready to run: its kernel and the tensors it reads and writes.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The kernel and its integers.
    pub kernel: Kernel,
    /// Tensors the kernel reads when it runs, in operand order: the data
    /// input, then the weights or further operands.
    pub inputs: Vec<usize>,
    /// Tensors it writes, in the node's output order.
    pub outputs: Vec<usize>,
    /// Outputs whose shape differs from the model's, with the shape this op
    /// computes (TFLite's `ResizeTensor` at prepare: RESHAPE from its shape
    /// tensor, FULLY_CONNECTED from its input): `(tensor, shape)`.
    pub resized: Vec<(usize, Vec<usize>)>,
    /// The op's kernel call (its `ops/<op>.rs` `eval`).
    run: Eval,
}

/// Runs a prepared kernel on its operands (one per op, in `ops/<op>.rs`).
pub(crate) type Eval = fn(&Kernel, &[In<'_>], &mut [Out<'_>], &mut [i8], Kernels);

/// A kernel operand.
#[derive(Debug, Clone, Copy)]
pub enum In<'a> {
    /// int8 values.
    I8(&'a [i8]),
    /// float32 values.
    F32(&'a [f32]),
    /// No tensor.
    None,
}

/// A kernel's output.
#[derive(Debug)]
pub enum Out<'a> {
    /// int8 values.
    I8(&'a mut [i8]),
    /// float32 values.
    F32(&'a mut [f32]),
}

/// Operands 0 and 1 (`In::None` where absent) and output 0 of a kernel.
pub(crate) fn args<'b>(
    ins: &[In<'b>],
    outs: &'b mut [Out<'_>],
) -> Option<(In<'b>, In<'b>, Out<'b>)> {
    let out = match outs.first_mut()? {
        Out::I8(v) => Out::I8(v),
        Out::F32(v) => Out::F32(v),
    };
    let operand = |k: usize| ins.get(k).copied().unwrap_or(In::None);
    Some((operand(0), operand(1), out))
}

/// The int8 values of every operand (those that are int8).
pub(crate) fn i8_ins<'a>(ins: &[In<'a>]) -> Vec<&'a [i8]> {
    ins.iter()
        .filter_map(|x| match *x {
            In::I8(v) => Some(v),
            _ => None,
        })
        .collect()
}

/// The float32 values of every operand (those that are float32).
pub(crate) fn f32_ins<'a>(ins: &[In<'a>]) -> Vec<&'a [f32]> {
    ins.iter()
        .filter_map(|x| match *x {
            In::F32(v) => Some(v),
            _ => None,
        })
        .collect()
}

/// The int8 outputs (those that are int8).
pub(crate) fn i8_outs<'b>(outs: &'b mut [Out<'_>]) -> Vec<&'b mut [i8]> {
    outs.iter_mut()
        .filter_map(|o| match o {
            Out::I8(v) => Some(&mut **v),
            Out::F32(_) => None,
        })
        .collect()
}

/// The float32 outputs (those that are float32).
pub(crate) fn f32_outs<'b>(outs: &'b mut [Out<'_>]) -> Vec<&'b mut [f32]> {
    outs.iter_mut()
        .filter_map(|o| match o {
            Out::F32(v) => Some(&mut **v),
            Out::I8(_) => None,
        })
        .collect()
}

/// The int8 values of an operand (empty if it is not int8).
pub(crate) fn i8s<'a>(x: In<'a>) -> &'a [i8] {
    match x {
        In::I8(v) => v,
        _ => &[],
    }
}

/// The float32 values of an operand (empty if it is not float32).
pub(crate) fn f32s<'a>(x: In<'a>) -> &'a [f32] {
    match x {
        In::F32(v) => v,
        _ => &[],
    }
}

impl Prepared {
    /// Whether the node was folded at prepare: it neither runs nor needs its output stored.
    pub fn is_folded(&self) -> bool {
        matches!(self.kernel, Kernel::Folded { .. })
    }

    /// Bytes of im2col scratch the optimized kernels need (int8 elements).
    pub fn scratch_len(&self) -> usize {
        match &self.kernel {
            Kernel::Conv { conv, .. } => {
                k::conv_2d::conv_scratch_len(conv.filter_shape, conv.output_shape)
            }
            Kernel::Depthwise { params, conv } => k::depthwise_conv_2d::depthwise_scratch_len(
                params,
                conv.filter_shape,
                conv.output_shape,
            ),
            // i32 sums, plus slack to align them.
            Kernel::Reduce {
                path: ReducePath::SumRescale { .. } | ReducePath::MeanRescale { .. },
                out_len,
                ..
            } => out_len * 4 + 3,
            // The input quantized on the fly: one image, or one row.
            Kernel::Hybrid { op, .. } => match *op {
                FloatOp::Conv { input_shape: s, .. } => s.h * s.w * s.c,
                FloatOp::FullyConnected { accum_depth, .. } => accum_depth,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Bytes of prepared parameters held on the heap (vectors' payloads).
    pub fn heap_bytes(&self) -> usize {
        let bias = |b: &Option<Vec<i32>>| b.as_ref().map_or(0, Vec::len) * 4;
        match &self.kernel {
            Kernel::Conv { conv: c, .. } | Kernel::Depthwise { conv: c, .. } => {
                (c.multiplier.len() + c.shift.len()) * 4 + bias(&c.bias)
            }
            Kernel::FullyConnected {
                rescale, bias: b, ..
            } => rescale.heap_bytes() + bias(b),
            Kernel::Pad {
                shape, paddings, ..
            } => (shape.len() + 2 * paddings.len()) * core::mem::size_of::<usize>(),
            Kernel::Reduce { shape, .. }
            | Kernel::Pack { shape, .. }
            | Kernel::Unpack { shape, .. } => shape.len() * core::mem::size_of::<usize>(),
            Kernel::Split { shape, sizes, .. } => {
                (shape.len() + sizes.len()) * core::mem::size_of::<usize>()
            }
            Kernel::Concat { shapes, .. } => {
                shapes.iter().map(Vec::len).sum::<usize>() * core::mem::size_of::<usize>()
            }
            Kernel::Lut { table: Some(_), .. } => 256,
            Kernel::Float { bias: b, .. } => b.as_ref().map_or(0, Vec::len) * 4,
            Kernel::Hybrid {
                scales, bias: b, ..
            } => (scales.len() + b.as_ref().map_or(0, Vec::len)) * 4,
            Kernel::Binary {
                shape1,
                shape2,
                output_shape,
                ..
            }
            | Kernel::MaxMin {
                shape1,
                shape2,
                output_shape,
                ..
            } => (shape1.len() + shape2.len() + output_shape.len()) * core::mem::size_of::<usize>(),
            _ => 0,
        }
    }

    /// The tensor of output 0 (a folded node's value).
    pub fn output(&self) -> usize {
        self.outputs[0]
    }

    /// Runs the kernel: `inputs[k]` is the data of tensor `self.inputs[k]`,
    /// `outputs[k]` that of `self.outputs[k]`.
    ///
    /// Types and sizes were checked at prepare; mismatched operands (a
    /// caller bug) leave the outputs as they are.
    pub fn eval(
        &self,
        inputs: &[In<'_>],
        outputs: &mut [Out<'_>],
        scratch: &mut [i8],
        kernels: Kernels,
    ) {
        (self.run)(&self.kernel, inputs, outputs, scratch, kernels);
    }
}

/// Validates node `index` over `tensors` and computes what its kernel runs with, by `flavor`'s rules.
///
/// The node's tensor indices must be in range (as [`crate::import`] and
/// [`crate::export::validate`] guarantee); everything else is checked here.
pub fn prepare(
    index: usize,
    node: &Node,
    tensors: &(impl Tensors + ?Sized),
    flavor: Flavor,
) -> Result<Prepared> {
    let p = Prep {
        tensors: &Dyn(tensors),
        node,
        index,
        flavor,
        resized: core::cell::RefCell::new(Vec::new()),
    };
    p.prepare()
}

/// Object-safe forwarding so [`Prep`] holds one concrete type.
struct Dyn<'a, T: ?Sized>(&'a T);

impl<T: Tensors + ?Sized> Tensors for Dyn<'_, T> {
    fn count(&self) -> usize {
        self.0.count()
    }
    fn get(&self, t: usize) -> TensorRef<'_> {
        self.0.get(t)
    }
}

/// Preparation context of one node: the helpers every op's `prepare` uses.
pub struct Prep<'a> {
    tensors: &'a dyn Tensors,
    /// The node being prepared.
    pub node: &'a Node,
    /// Its index in execution order.
    pub index: usize,
    /// Whose arithmetic to prepare for.
    pub flavor: Flavor,
    /// Output shapes set by [`Prep::resize_output`]: `(output position, shape)`.
    resized: core::cell::RefCell<Vec<(usize, Vec<usize>)>>,
}

/// The checked operands of a convolution (regular or depthwise).
pub(crate) struct ConvOperands {
    pub input: usize,
    pub filter: usize,
    pub in_scale: f32,
    pub in_zp: i32,
    pub out_scale: f32,
    pub out_zp: i32,
    pub ishape: Dims4,
    pub fshape: Dims4,
}

/// Padding and activation range of a prepared convolution.
pub(crate) struct Geometry {
    pub padding_h: usize,
    pub padding_w: usize,
    pub activation_min: i32,
    pub activation_max: i32,
}

impl Prep<'_> {
    fn prepare(&self) -> Result<Prepared> {
        let def = ops::by_op(&self.node.op).ok_or_else(|| self.err("operator is not supported"))?;
        let outputs = &self.node.outputs;
        if !def.outputs.contains(&outputs.len()) {
            return Err(self.err(format!(
                "expected {} to {} outputs, got {}",
                def.outputs.start(),
                def.outputs.end(),
                outputs.len()
            )));
        }
        let n = self.tensors.count();
        for (k, t) in self.node.inputs.iter().enumerate() {
            if let Some(t) = *t {
                if t >= n {
                    return Err(self.err(format!(
                        "input {k}: tensor {t} does not exist (graph has {n} tensors)"
                    )));
                }
            }
        }
        for (k, &out) in outputs.iter().enumerate() {
            if out >= n {
                return Err(self.err(format!(
                    "output {k}: tensor {out} does not exist (graph has {n} tensors)"
                )));
            }
            if self.node.inputs.contains(&Some(out)) {
                return Err(self.err(format!("output tensor {out} is also an input")));
            }
            if outputs[..k].contains(&out) {
                return Err(self.err(format!("output tensor {out} is written twice")));
            }
            if self.tensor(out).data.is_some() {
                return Err(self.err(format!("output tensor {out} is a constant")));
            }
        }
        let kernel = (def.prepare)(self)?;
        let inputs = if matches!(kernel, Kernel::Folded { .. }) {
            Vec::new()
        } else {
            def.operands
                .positions(self.node.inputs.len())
                .map(|k| self.input(k))
                .collect::<Result<Vec<_>>>()?
        };
        let resized = self
            .resized
            .take()
            .into_iter()
            .map(|(k, s)| (outputs[k], s))
            .filter(|(t, s)| s[..] != *self.tensor(*t).shape)
            .collect();
        Ok(Prepared {
            kernel,
            inputs,
            outputs: outputs.clone(),
            resized,
            run: def.eval,
        })
    }

    /// Gives the output the shape this op computes (TFLite's `ResizeTensor`
    /// in `Prepare`): the model's stored shape is a placeholder where the
    /// converter left dimensions unknown.
    pub fn resize_output(&self, shape: Vec<usize>) {
        self.resize_output_k(0, shape);
    }

    /// Gives output `k` the shape this op computes (see [`Prep::resize_output`]).
    pub fn resize_output_k(&self, k: usize, shape: Vec<usize>) {
        let mut r = self.resized.borrow_mut();
        r.retain(|(j, _)| *j != k);
        r.push((k, shape));
    }

    /// An error about this op.
    pub fn err(&self, msg: impl Into<String>) -> Error {
        Error::op(self.index, self.node.op.name(), msg)
    }

    /// Input `k`'s tensor index (required).
    pub fn input(&self, k: usize) -> Result<usize> {
        self.node
            .inputs
            .get(k)
            .copied()
            .flatten()
            .ok_or_else(|| self.err(format!("input {k} is missing")))
    }

    /// The tensor index of output 0.
    pub fn output(&self) -> usize {
        self.node.outputs[0]
    }

    /// The tensor indices of the outputs.
    pub fn outputs(&self) -> &[usize] {
        &self.node.outputs
    }

    /// Tensor `t`.
    pub fn tensor(&self, t: usize) -> TensorRef<'_> {
        self.tensors.get(t)
    }

    /// Checks a tensor's type; `role` names it in errors ("filter").
    pub fn expect_dtype(&self, role: &str, t: usize, dtype: DType) -> Result<()> {
        let got = self.tensor(t).dtype;
        if got != dtype {
            return Err(self.err(format!(
                "{role} tensor {t}: expected {}, got {}",
                dtype.name(),
                got.name()
            )));
        }
        Ok(())
    }

    /// The type of input tensor `t`, which must be int8 or float32.
    pub fn int8_or_f32(&self, t: usize) -> Result<DType> {
        let dtype = self.tensor(t).dtype;
        if !matches!(dtype, DType::I8 | DType::F32) {
            return Err(self.err(format!(
                "input tensor {t}: expected int8 or float32, got {}",
                dtype.name()
            )));
        }
        Ok(dtype)
    }

    /// Checks that a tensor is a constant.
    pub fn expect_const(&self, role: &str, t: usize) -> Result<()> {
        if self.tensor(t).data.is_none() {
            return Err(self.err(format!("{role} tensor {t} must be a constant")));
        }
        Ok(())
    }

    /// A constant int8 tensor (filter, weights).
    pub fn const_int8(&self, role: &str, t: usize) -> Result<()> {
        self.expect_dtype(role, t, DType::I8)?;
        self.expect_const(role, t)
    }

    /// Per-tensor scale and zero point of a quantized tensor.
    pub fn per_tensor(&self, role: &str, t: usize) -> Result<(f32, i32)> {
        let tensor = self.tensor(t);
        let q = tensor
            .quant
            .ok_or_else(|| self.err(format!("{role} tensor {t} has no quantization")))?;
        if q.scale.len() != 1 || q.zero_point.len() != 1 {
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
        let range = if tensor.dtype == DType::I8 {
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
    pub fn int8_act(&self, role: &str, t: usize) -> Result<(f32, i32)> {
        self.expect_dtype(role, t, DType::I8)?;
        self.per_tensor(role, t)
    }

    /// Checks that int8 tensor `t` has quantization `q`, the one of tensor `of`
    /// (`role` and `of_role` name them in errors).
    pub fn expect_same_quant(
        &self,
        role: &str,
        t: usize,
        of_role: &str,
        of: usize,
        q: (f32, i32),
    ) -> Result<()> {
        let qt = self.int8_act(role, t)?;
        if qt != q {
            return Err(self.err(format!(
                "{role} tensor {t} quantization {qt:?} differs from {of_role} tensor {of} {q:?}"
            )));
        }
        Ok(())
    }

    /// A rank-4 shape.
    pub fn dims4(&self, role: &str, t: usize) -> Result<Dims4> {
        let s = self.tensor(t).shape;
        match *s {
            [n, h, w, c] => Ok(Dims4::new(n, h, w, c)),
            _ => Err(self.err(format!(
                "{role} tensor {t}: expected rank 4, got shape {s:?}"
            ))),
        }
    }

    /// Symmetric int8 filter scales (one, or one per channel along `axis`).
    pub fn filter_scales(&self, t: usize, channels: usize, axis: usize) -> Result<Vec<f32>> {
        let q = self
            .tensor(t)
            .quant
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

    /// The optional constant int32 bias at input `k`, `channels` entries, decoded.
    pub fn bias(&self, k: usize, channels: usize) -> Result<Option<Vec<i32>>> {
        let Some(t) = self.node.inputs.get(k).copied().flatten() else {
            return Ok(None);
        };
        self.expect_dtype("bias", t, DType::I32)?;
        self.expect_const("bias", t)?;
        let tensor = self.tensor(t);
        let n = tensor.num_elements();
        let data = tensor.data.unwrap_or_default();
        if n != channels || data.len() != 4 * n {
            return Err(self.err(format!(
                "bias tensor {t} has {n} values, expected {channels}"
            )));
        }
        Ok(Some(
            data.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }

    /// int8 clamp bounds of a fused activation (TFLite's `CalculateActivationRangeQuantized`).
    pub fn activation(&self, a: Activation, scale: f32, zp: i32) -> (i32, i32) {
        k::requant::activation_range(a, scale, zp)
    }

    /// Checks a tensor's shape against a 4-D one.
    pub fn expect_shape(&self, t: usize, want: Dims4) -> Result<()> {
        let got = self.tensor(t).shape;
        if got[..] != [want.n, want.h, want.w, want.c] {
            return Err(self.err(format!(
                "output tensor {t} has shape {got:?}, expected {:?}",
                [want.n, want.h, want.w, want.c]
            )));
        }
        Ok(())
    }

    /// Output size and padding before, per axis (TFLite's `ComputePaddingHeightWidth`).
    pub fn spatial(
        &self,
        window: &Window,
        input: Dims4,
        filter_h: usize,
        filter_w: usize,
        dilation_h: usize,
        dilation_w: usize,
    ) -> Result<k::Spatial> {
        window
            .spatial(input.h, input.w, filter_h, filter_w, dilation_h, dilation_w)
            .ok_or_else(|| {
                self.err(format!(
                    "filter {filter_h}x{filter_w} (dilation {dilation_h}x{dilation_w}) does not fit input {}x{}",
                    input.h, input.w
                ))
            })
    }

    /// Checks and reads the input, constant int8 filter and output of a convolution.
    pub(crate) fn conv_operands(&self) -> Result<ConvOperands> {
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
    pub(crate) fn conv_prepare(
        &self,
        o: &ConvOperands,
        window: &Window,
        dilation_h: usize,
        dilation_w: usize,
        activation: Activation,
        axis: usize,
    ) -> Result<(ConvData, Geometry)> {
        let channels = if axis == 0 { o.fshape.n } else { o.fshape.c };
        let scales = self.filter_scales(o.filter, channels, axis)?;
        let bias = self.bias(2, channels)?;
        let s = self.spatial(
            window, o.ishape, o.fshape.h, o.fshape.w, dilation_h, dilation_w,
        )?;
        let oshape = Dims4::new(o.ishape.n, s.out_h, s.out_w, channels);
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
        let conv = ConvData {
            multiplier,
            shift,
            bias,
            input_shape: o.ishape,
            filter_shape: o.fshape,
            output_shape: oshape,
        };
        let geometry = Geometry {
            padding_h: s.padding_h,
            padding_w: s.padding_w,
            activation_min,
            activation_max,
        };
        Ok((conv, geometry))
    }

    /// Checks that `input` and the output hold the same number of values.
    pub fn expect_same_len(&self, input: usize, out: usize) -> Result<()> {
        let n = self.tensor(input).num_elements();
        if n != self.tensor(out).num_elements() {
            return Err(self.err(format!(
                "input tensor {input} has {n} values, output tensor {out} has {}",
                self.tensor(out).num_elements()
            )));
        }
        Ok(())
    }
}

/// The tensors as preparation leaves them: shapes resized by earlier nodes
/// and the values of folded shape computations, over the model's tensors.
///
/// Prepare node after node against it and [`record`](Self::record) each
/// result, so a RESHAPE sees the shape vector its SHAPE -> STRIDED_SLICE ->
/// PACK chain folded to.
pub struct Resolved<'a, T: ?Sized> {
    base: &'a T,
    shapes: Vec<Option<Vec<usize>>>,
    values: Vec<Option<Vec<u8>>>,
    /// Tensors a prepared node reads or writes: their shapes are settled.
    used: Vec<bool>,
    /// Tensors with a value before the next node runs: graph inputs, constants, earlier outputs.
    provided: Vec<bool>,
    /// Whose arithmetic nodes are prepared for.
    flavor: Flavor,
}

impl<'a, T: Tensors + ?Sized> Resolved<'a, T> {
    /// No node prepared yet; `graph_inputs` are the tensors the caller sets before a run;
    /// nodes are prepared by `flavor`'s rules.
    pub fn new(base: &'a T, graph_inputs: &[usize], flavor: Flavor) -> Self {
        let n = base.count();
        let mut provided: Vec<bool> = (0..n).map(|t| base.get(t).data.is_some()).collect();
        for &t in graph_inputs {
            if let Some(p) = provided.get_mut(t) {
                *p = true;
            }
        }
        Resolved {
            base,
            shapes: vec![None; n],
            values: vec![None; n],
            used: vec![false; n],
            provided,
            flavor,
        }
    }

    /// Prepares node `index` (see [`prepare`]) over the tensors as the nodes
    /// before it left them, and records its resized output and folded value.
    ///
    /// A node may not resize a tensor an earlier node already reads or writes.
    /// A node may not read a tensor that no graph input, constant or earlier node provides.
    pub fn prepare(&mut self, index: usize, node: &Node) -> Result<Prepared> {
        for (k, t) in node.inputs.iter().enumerate() {
            if let Some(t) = *t {
                if !self.provided.get(t).copied().unwrap_or(true) {
                    return Err(Error::op(
                        index,
                        node.op.name(),
                        format!(
                            "input {k}: tensor {t} is read before anything writes it (it is not a graph input, a constant or an earlier op's output)"
                        ),
                    ));
                }
            }
        }
        let p = prepare(index, node, &*self, self.flavor)?;
        for (t, s) in &p.resized {
            if self.used[*t] {
                return Err(Error::op(
                    index,
                    node.op.name(),
                    format!(
                        "output tensor {t} is resized to {s:?}, but an earlier op uses it with shape {:?}",
                        self.base.get(*t).shape
                    ),
                ));
            }
        }
        for &t in node.inputs.iter().flatten().chain(&node.outputs) {
            if let Some(u) = self.used.get_mut(t) {
                *u = true;
            }
        }
        for &t in &node.outputs {
            if let Some(p) = self.provided.get_mut(t) {
                *p = true;
            }
        }
        self.record(&p);
        Ok(p)
    }

    /// Takes in a prepared node's resized output and folded value.
    fn record(&mut self, p: &Prepared) {
        for (t, s) in &p.resized {
            self.shapes[*t] = Some(s.clone());
        }
        if let Kernel::Folded { value } = &p.kernel {
            self.values[p.output()] = Some(value.iter().flat_map(|v| v.to_le_bytes()).collect());
        }
    }

    /// After the last node: checks that every graph output has a value, and returns
    /// the tensors whose shape preparation changed, with their new shapes.
    pub fn finish(self, graph_outputs: &[usize]) -> Result<Vec<(usize, Vec<usize>)>> {
        for (k, &t) in graph_outputs.iter().enumerate() {
            if !self.provided.get(t).copied().unwrap_or(true) {
                return Err(Error::msg(format!(
                    "graph output {k}: tensor {t} is not a graph input, a constant or any op's output"
                )));
            }
        }
        Ok(self
            .shapes
            .into_iter()
            .enumerate()
            .filter_map(|(t, s)| Some((t, s?)))
            .collect())
    }
}

impl<T: Tensors + ?Sized> Tensors for Resolved<'_, T> {
    fn count(&self) -> usize {
        self.base.count()
    }

    fn get(&self, t: usize) -> TensorRef<'_> {
        let mut r = self.base.get(t);
        if let Some(s) = &self.shapes[t] {
            r.shape = s;
        }
        if let Some(v) = &self.values[t] {
            r.data = Some(v);
        }
        r
    }
}
