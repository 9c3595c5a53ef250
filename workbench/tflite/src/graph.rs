//! The int8 graph: a TFLite subgraph in plain Rust types.
//!
//! It mirrors TFLite's model closely (tensors addressed by index, operators
//! with input and output tensor indices, NHWC activations), so that import and
//! export are mechanical and the graph can be checked against the TFLite
//! interpreter tensor by tensor. Layouts are TFLite's:
//! - activations NHWC;
//! - CONV_2D filters OHWI, DEPTHWISE_CONV_2D filters 1HW(I*M);
//! - FULLY_CONNECTED weights [out, in];
//! - biases int32 with scale `input_scale * weight_scale[c]` and zero point 0.
//!
//! The op vocabulary (padding, fused activation, window) is `kernels-int8`'s.

use crate::params::ModelParams;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DType {
    /// 32-bit float.
    F32,
    /// Signed 8-bit integer.
    I8,
    /// Signed 32-bit integer (biases, shapes).
    I32,
    /// Signed 64-bit integer: only constants read in place on the board (import narrows them to int32).
    I64,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I8 => 1,
            DType::I64 => 8,
        }
    }

    /// The name in messages, e.g. `int8`.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I8 => "int8",
            DType::I32 => "int32",
            DType::I64 => "int64",
        }
    }
}

/// Affine quantization: `real = scale * (q - zero_point)`, per tensor or per channel along `axis`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quant {
    /// One scale per tensor, or one per channel along `axis`.
    pub scale: Vec<f32>,
    /// Zero points, as many as `scale`.
    pub zero_point: Vec<i64>,
    /// The quantized dimension for per-channel quantization.
    pub axis: usize,
}

impl Quant {
    /// Per-tensor quantization.
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        Quant {
            scale: vec![scale],
            zero_point: vec![zero_point],
            axis: 0,
        }
    }
}

/// A tensor: its type, shape, quantization and, for constants, its data.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    /// Dotted name, e.g. `conv1.weight` or `conv1.out`.
    pub name: String,
    /// Dimensions (NHWC for activations).
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Quantization, if any.
    pub quant: Option<Quant>,
    /// Constant data, little-endian, `num_elements * dtype.size()` bytes; `None` for activations.
    pub data: Option<Vec<u8>>,
}

impl core::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {:?}, {:?}{})",
            self.name,
            self.dtype,
            self.shape,
            if self.data.is_some() { ", const" } else { "" }
        )
    }
}

impl Tensor {
    /// Number of elements.
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

pub use kernels_int8::{Activation, Padding, Window};

/// An operator and its builtin options.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// CONV_2D: inputs (input, filter OHWI, bias?).
    Conv2d {
        window: Window,
        dilation_w: usize,
        dilation_h: usize,
        activation: Activation,
    },
    /// DEPTHWISE_CONV_2D: inputs (input, filter 1HW(I*M), bias?).
    DepthwiseConv2d {
        window: Window,
        dilation_w: usize,
        dilation_h: usize,
        depth_multiplier: usize,
        activation: Activation,
    },
    /// FULLY_CONNECTED: inputs (input, weights [out, in], bias?);
    /// `asymmetric_quantize_inputs` is how a hybrid one (int8 weights, float input) quantizes its input.
    FullyConnected {
        activation: Activation,
        keep_num_dims: bool,
        asymmetric_quantize_inputs: bool,
    },
    /// MAX_POOL_2D: inputs (input).
    MaxPool2d {
        window: Window,
        filter_w: usize,
        filter_h: usize,
        activation: Activation,
    },
    /// AVERAGE_POOL_2D: inputs (input).
    AveragePool2d {
        window: Window,
        filter_w: usize,
        filter_h: usize,
        activation: Activation,
    },
    /// RESHAPE: inputs (input, shape?); the output tensor's shape is authoritative.
    Reshape,
    /// SOFTMAX: inputs (input), over the last dimension.
    Softmax { beta: f32 },
    /// ADD: inputs (a, b), broadcast.
    Add { activation: Activation },
    /// QUANTIZE: float to int8, or int8 to int8 with new parameters.
    Quantize,
    /// DEQUANTIZE: int8 to float.
    Dequantize,
    /// RELU: inputs (input); `max(x, 0)`, int8 or float32.
    Relu,
    /// RELU6: inputs (input); `min(max(x, 0), 6)`, int8 or float32.
    Relu6,
    /// LEAKY_RELU: inputs (input); `x` if `x >= 0`, else `alpha * x`.
    LeakyRelu { alpha: f32 },
    /// HARD_SWISH: inputs (input); `x * relu6(x + 3) / 6`.
    HardSwish,
    /// PAD: inputs (input, paddings [rank, 2]); pads with zero.
    Pad,
    /// PADV2: inputs (input, paddings [rank, 2], constant_values?); pads with the constant.
    PadV2,
    /// NEG: inputs (input); float32 `-x`.
    Neg,
    /// MAXIMUM: inputs (a, b), broadcast.
    Maximum,
    /// MINIMUM: inputs (a, b), broadcast.
    Minimum,
    /// SHAPE: inputs (input); its dimensions as int32 (folded at prepare).
    Shape,
    /// STRIDED_SLICE: inputs (input, begin, end, strides) with TFLite's masks.
    StridedSlice {
        begin_mask: i32,
        end_mask: i32,
        ellipsis_mask: i32,
        new_axis_mask: i32,
        shrink_axis_mask: i32,
        offset: bool,
    },
    /// PACK: inputs (values...) stacked along a new `axis`.
    Pack { values_count: i32, axis: i32 },
    /// GATHER: inputs (params, indices) along `axis`.
    Gather { axis: i32, batch_dims: i32 },
    /// REDUCE_PROD: inputs (input, axes).
    ReduceProd { keep_dims: bool },
    /// CONCATENATION: inputs (values...) joined along `axis`.
    Concatenation { axis: i32, activation: Activation },
    /// MEAN: inputs (input, axes).
    Mean { keep_dims: bool },
    /// SUM: inputs (input, axes).
    Sum { keep_dims: bool },
    /// SUB: inputs (a, b), broadcast.
    Sub { activation: Activation },
    /// MUL: inputs (a, b), broadcast.
    Mul { activation: Activation },
    /// SQUARED_DIFFERENCE: inputs (a, b), broadcast.
    SquaredDifference,
    /// LOGISTIC: inputs (input); `1 / (1 + e^-x)`.
    Logistic,
    /// TANH: inputs (input).
    Tanh,
    /// RSQRT: inputs (input); `1 / sqrt(x)`.
    Rsqrt,
    /// PRELU: inputs (input, alpha); `x` if `x >= 0`, else `alpha * x`.
    Prelu,
    /// TRANSPOSE: inputs (input, perm).
    Transpose,
    /// ABS: inputs (input); `|x|`, int8 or float32.
    Abs,
    /// SPLIT: inputs (axis, input) into `num_splits` equal outputs.
    Split { num_splits: i32 },
    /// UNPACK: inputs (input) into `num` outputs along `axis`, dropping it.
    Unpack { num: i32, axis: i32 },
}

impl Op {
    /// TFLite's builtin name, e.g. `CONV_2D`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d { .. } => "CONV_2D",
            Op::DepthwiseConv2d { .. } => "DEPTHWISE_CONV_2D",
            Op::FullyConnected { .. } => "FULLY_CONNECTED",
            Op::MaxPool2d { .. } => "MAX_POOL_2D",
            Op::AveragePool2d { .. } => "AVERAGE_POOL_2D",
            Op::Reshape => "RESHAPE",
            Op::Softmax { .. } => "SOFTMAX",
            Op::Add { .. } => "ADD",
            Op::Quantize => "QUANTIZE",
            Op::Dequantize => "DEQUANTIZE",
            Op::Relu => "RELU",
            Op::Relu6 => "RELU6",
            Op::LeakyRelu { .. } => "LEAKY_RELU",
            Op::HardSwish => "HARD_SWISH",
            Op::Pad => "PAD",
            Op::PadV2 => "PADV2",
            Op::Neg => "NEG",
            Op::Maximum => "MAXIMUM",
            Op::Minimum => "MINIMUM",
            Op::Shape => "SHAPE",
            Op::StridedSlice { .. } => "STRIDED_SLICE",
            Op::Pack { .. } => "PACK",
            Op::Gather { .. } => "GATHER",
            Op::ReduceProd { .. } => "REDUCE_PROD",
            Op::Concatenation { .. } => "CONCATENATION",
            Op::Mean { .. } => "MEAN",
            Op::Sum { .. } => "SUM",
            Op::Sub { .. } => "SUB",
            Op::Mul { .. } => "MUL",
            Op::SquaredDifference => "SQUARED_DIFFERENCE",
            Op::Logistic => "LOGISTIC",
            Op::Tanh => "TANH",
            Op::Rsqrt => "RSQRT",
            Op::Prelu => "PRELU",
            Op::Transpose => "TRANSPOSE",
            Op::Abs => "ABS",
            Op::Split { .. } => "SPLIT",
            Op::Unpack { .. } => "UNPACK",
        }
    }
}

/// One operator application.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The operator.
    pub op: Op,
    /// Input tensor indices; `None` for an omitted optional input (TFLite's -1).
    pub inputs: Vec<Option<usize>>,
    /// Output tensor indices.
    pub outputs: Vec<usize>,
}

/// A whole model: one subgraph, nodes in execution order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    /// All tensors.
    pub tensors: Vec<Tensor>,
    /// Operators in execution order.
    pub nodes: Vec<Node>,
    /// Graph input tensor indices.
    pub inputs: Vec<usize>,
    /// Graph output tensor indices.
    pub outputs: Vec<usize>,
    /// Free text stored as the model description.
    pub description: String,
    /// Model parameters (MLTK's `SL_PARAMSv1` metadata), e.g. the input normalization.
    pub params: ModelParams,
}

impl Graph {
    /// Appends a tensor and returns its index.
    pub fn add_tensor(&mut self, tensor: Tensor) -> usize {
        self.tensors.push(tensor);
        self.tensors.len() - 1
    }

    /// Appends a node.
    pub fn add_node(&mut self, op: Op, inputs: Vec<Option<usize>>, outputs: Vec<usize>) {
        self.nodes.push(Node {
            op,
            inputs,
            outputs,
        });
    }
}
