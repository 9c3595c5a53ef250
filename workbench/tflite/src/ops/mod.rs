//! One file per TFLite operator: import from and export to the flatbuffer,
//! and its [`prepare`](crate::prepare) for host and board; the registry maps
//! builtin codes to them and is the one list of supported ops (`pool` holds
//! what the two pooling ops share).

use alloc::format;
use alloc::string::{String, ToString};

#[cfg(feature = "export")]
use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};

use crate::graph::{Activation, Op, Padding, Window};
#[cfg(feature = "export")]
use crate::graph::{DType, Graph, Node};
use crate::prepare::{Eval, Kernel, Prep};
use crate::schema as fb;

mod abs;
mod average_pool_2d;
mod binary;
mod concatenation;
mod conv_2d;
mod depthwise_conv_2d;
mod dequantize;
mod float;
mod fold;
mod fully_connected;
mod gather;
mod hard_swish;
mod leaky_relu;
mod logistic_tanh;
mod max_pool_2d;
mod maximum_minimum;
mod mean_sum;
mod neg;
mod pack;
mod pad;
mod pool;
mod prelu;
mod quantize;
mod reduce_prod;
mod relu;
mod reshape;
mod rsqrt;
mod shape;
mod softmax;
mod split;
mod strided_slice;
mod transpose;
mod unpack;

/// Builtin options ready to attach to an operator.
#[cfg(feature = "export")]
pub(crate) struct Options {
    /// The union's type tag.
    pub kind: fb::BuiltinOptions,
    /// The options table, if any.
    pub table: Option<WIPOffset<UnionWIPOffset>>,
}

#[cfg(feature = "export")]
impl Options {
    /// No builtin options.
    pub const NONE: Options = Options {
        kind: fb::BuiltinOptions::NONE,
        table: None,
    };
}

/// How one TFLite builtin operator maps to and from [`Op`].
pub(crate) struct OpDef {
    /// The builtin code.
    pub code: fb::BuiltinOperator,
    /// Allowed number of inputs (entries, optional ones included).
    pub inputs: core::ops::RangeInclusive<usize>,
    /// Which inputs the kernel reads when it runs; the rest (bias, paddings,
    /// shapes, axes) are read once at prepare.
    pub operands: Operands,
    /// Allowed number of outputs.
    pub outputs: core::ops::RangeInclusive<usize>,
    /// Reads the operator's options into an [`Op`].
    pub import: fn(&fb::Operator<'_>) -> Result<Op, String>,
    /// Writes the options of an [`Op`] of this kind.
    #[cfg(feature = "export")]
    pub export: fn(&Op, &Graph, &Node, &mut FlatBufferBuilder<'_>) -> Options,
    /// The operator version TF's converter writes for this node.
    #[cfg(feature = "export")]
    pub version: fn(&Op, &Graph, &Node) -> i32,
    /// Validates the node and computes its kernel's integers (host and board).
    pub prepare: fn(&Prep<'_>) -> crate::error::Result<Kernel>,
    /// Runs the prepared kernel on `kernels-int8` (host and board).
    pub eval: Eval,
}

/// Which of a node's inputs its kernel reads when it runs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Operands {
    /// The first `n` inputs.
    First(usize),
    /// Input `k` only.
    Only(usize),
    /// Every input.
    All,
}

impl Operands {
    /// The input positions read at run time, for a node with `n` inputs.
    pub fn positions(self, n: usize) -> core::ops::Range<usize> {
        match self {
            Operands::First(k) => 0..k,
            Operands::Only(k) => k..k + 1,
            Operands::All => 0..n,
        }
    }
}

/// Every supported operator; each op file contributes its own entry.
pub(crate) const REGISTRY: &[OpDef] = &[
    abs::DEF,
    binary::ADD,
    average_pool_2d::DEF,
    concatenation::DEF,
    conv_2d::DEF,
    depthwise_conv_2d::DEF,
    dequantize::DEF,
    fully_connected::DEF,
    gather::DEF,
    hard_swish::DEF,
    leaky_relu::DEF,
    logistic_tanh::LOGISTIC,
    max_pool_2d::DEF,
    maximum_minimum::MAXIMUM,
    maximum_minimum::MINIMUM,
    binary::MUL,
    mean_sum::MEAN,
    mean_sum::SUM,
    neg::DEF,
    pack::DEF,
    pad::PAD,
    pad::PADV2,
    prelu::DEF,
    quantize::DEF,
    reduce_prod::DEF,
    relu::RELU,
    relu::RELU6,
    reshape::DEF,
    rsqrt::DEF,
    shape::DEF,
    softmax::DEF,
    split::DEF,
    binary::SQUARED_DIFFERENCE,
    strided_slice::DEF,
    binary::SUB,
    logistic_tanh::TANH,
    transpose::DEF,
    unpack::DEF,
];

/// The builtin codes of every supported operator, in registry order.
pub fn supported_codes() -> impl Iterator<Item = i32> {
    REGISTRY.iter().map(|d| d.code.0)
}

/// Whether a builtin code is supported.
pub fn is_supported(code: i32) -> bool {
    by_code(code).is_some()
}

#[cfg(feature = "export")]
/// Whether the node's first input is float32 (float ops are version 1 in TF's converter).
pub(crate) fn float_input(graph: &Graph, node: &Node) -> bool {
    node.inputs
        .first()
        .copied()
        .flatten()
        .and_then(|t| graph.tensors.get(t))
        .is_some_and(|t| t.dtype == DType::F32)
}

#[cfg(feature = "export")]
/// The number of scales of a node's weights (input 1) if they are int8, as in a hybrid op.
pub(crate) fn hybrid_scales(graph: &Graph, node: &Node) -> Option<usize> {
    let t = graph.tensors.get(node.inputs.get(1).copied().flatten()?)?;
    (t.dtype == DType::I8).then(|| t.quant.as_ref().map_or(0, |q| q.scale.len()))
}

#[cfg(feature = "export")]
/// The version TF's converter writes for ops whose int8 form is version 2 and others 1.
pub(crate) fn version_int8_2(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    if input_dtype(graph, node) == Some(DType::I8) {
        2
    } else {
        1
    }
}

#[cfg(feature = "export")]
/// The exporter of an op without builtin options.
pub(crate) fn no_options(_: &Op, _: &Graph, _: &Node, _: &mut FlatBufferBuilder<'_>) -> Options {
    Options::NONE
}

/// The entry for a builtin code, if supported.
pub(crate) fn by_code(code: i32) -> Option<&'static OpDef> {
    REGISTRY.iter().find(|d| d.code.0 == code)
}

/// The entry for an [`Op`].
pub(crate) fn by_op(op: &Op) -> Option<&'static OpDef> {
    REGISTRY
        .iter()
        .find(|d| d.code.variant_name() == Some(op.name()))
}

/// TFLite's name for a builtin code, or `BUILTIN_<code>` if unknown.
pub fn builtin_name(code: i32) -> String {
    fb::BuiltinOperator(code)
        .variant_name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("BUILTIN_{code}"))
}

/// Reads a fused activation.
pub(crate) fn activation_from_fb(a: fb::ActivationFunctionType) -> Result<Activation, String> {
    match a {
        fb::ActivationFunctionType::NONE => Ok(Activation::None),
        fb::ActivationFunctionType::RELU => Ok(Activation::Relu),
        fb::ActivationFunctionType::RELU_N1_TO_1 => Ok(Activation::ReluN1To1),
        fb::ActivationFunctionType::RELU6 => Ok(Activation::Relu6),
        other => Err(format!(
            "unsupported fused activation {}",
            other.variant_name().unwrap_or("unknown")
        )),
    }
}

#[cfg(feature = "export")]
/// Writes a fused activation.
pub(crate) fn activation_to_fb(a: Activation) -> fb::ActivationFunctionType {
    match a {
        Activation::None => fb::ActivationFunctionType::NONE,
        Activation::Relu => fb::ActivationFunctionType::RELU,
        Activation::ReluN1To1 => fb::ActivationFunctionType::RELU_N1_TO_1,
        Activation::Relu6 => fb::ActivationFunctionType::RELU6,
    }
}

/// Reads padding and strides.
pub(crate) fn window_from_fb(
    padding: fb::Padding,
    stride_w: i32,
    stride_h: i32,
) -> Result<Window, String> {
    let padding = match padding {
        fb::Padding::SAME => Padding::Same,
        fb::Padding::VALID => Padding::Valid,
        other => return Err(format!("unknown padding {}", other.0)),
    };
    Ok(Window {
        padding,
        stride_w: positive("stride_w", stride_w)?,
        stride_h: positive("stride_h", stride_h)?,
    })
}

#[cfg(feature = "export")]
/// Writes padding.
pub(crate) fn padding_to_fb(p: Padding) -> fb::Padding {
    match p {
        Padding::Same => fb::Padding::SAME,
        Padding::Valid => fb::Padding::VALID,
    }
}

/// A size parameter that must be at least 1.
pub(crate) fn positive(what: &str, v: i32) -> Result<usize, String> {
    if v >= 1 {
        Ok(v as usize)
    } else {
        Err(format!("{what} must be at least 1, got {v}"))
    }
}

#[cfg(feature = "export")]
/// A size as a flatbuffer int (sizes are validated before export).
pub(crate) fn to_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[cfg(feature = "export")]
/// The element type of a node's first input, if any.
pub(crate) fn input_dtype(graph: &Graph, node: &Node) -> Option<DType> {
    let t = (*node.inputs.first()?)?;
    graph.tensors.get(t).map(|t| t.dtype)
}
