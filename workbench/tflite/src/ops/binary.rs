//! ADD, SUB, MUL and SQUARED_DIFFERENCE: inputs (a, b) with NumPy
//! broadcasting (up to 6-D); int8 (TFLite's reference integer kernels) or
//! float32 with the fused activation's clamp.

use alloc::format;
use alloc::string::String;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, OpDef, Operands};
#[cfg(feature = "export")]
use super::{activation_to_fb, Options};
use crate::graph::{Activation, DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, BinaryKind, BinaryParams, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

macro_rules! def {
    ($name:ident, $code:ident, $import:expr) => {
        /// Registry entry.
        pub(crate) const $name: OpDef = OpDef {
            code: fb::BuiltinOperator::$code,
            inputs: 2..=2,
            operands: Operands::First(2),
            outputs: 1..=1,
            import: $import,
            #[cfg(feature = "export")]
            export,
            #[cfg(feature = "export")]
            version,
            prepare,
            eval,
        };
    };
}

def!(ADD, ADD, |o| Ok(Op::Add {
    activation: act(o
        .builtin_options_as_add_options()
        .map(|o| o.fused_activation_function()))?,
}));
def!(SUB, SUB, |o| Ok(Op::Sub {
    activation: act(o
        .builtin_options_as_sub_options()
        .map(|o| o.fused_activation_function()))?,
}));
def!(MUL, MUL, |o| Ok(Op::Mul {
    activation: act(o
        .builtin_options_as_mul_options()
        .map(|o| o.fused_activation_function()))?,
}));
def!(SQUARED_DIFFERENCE, SQUARED_DIFFERENCE, |_| Ok(
    Op::SquaredDifference
));

/// A fused activation, none if the options are missing.
fn act(a: Option<fb::ActivationFunctionType>) -> Result<Activation, String> {
    activation_from_fb(a.unwrap_or(fb::ActivationFunctionType::NONE))
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    match *op {
        Op::Add { activation } => {
            let t = fb::AddOptions::create(
                fbb,
                &fb::AddOptionsArgs {
                    fused_activation_function: activation_to_fb(activation),
                    ..Default::default()
                },
            );
            Options {
                kind: fb::BuiltinOptions::AddOptions,
                table: Some(t.as_union_value()),
            }
        }
        Op::Sub { activation } => {
            let t = fb::SubOptions::create(
                fbb,
                &fb::SubOptionsArgs {
                    fused_activation_function: activation_to_fb(activation),
                    ..Default::default()
                },
            );
            Options {
                kind: fb::BuiltinOptions::SubOptions,
                table: Some(t.as_union_value()),
            }
        }
        Op::Mul { activation } => {
            let t = fb::MulOptions::create(
                fbb,
                &fb::MulOptionsArgs {
                    fused_activation_function: activation_to_fb(activation),
                },
            );
            Options {
                kind: fb::BuiltinOptions::MulOptions,
                table: Some(t.as_union_value()),
            }
        }
        Op::SquaredDifference => {
            let t = fb::SquaredDifferenceOptions::create(fbb, &fb::SquaredDifferenceOptionsArgs {});
            Options {
                kind: fb::BuiltinOptions::SquaredDifferenceOptions,
                table: Some(t.as_union_value()),
            }
        }
        _ => Options::NONE,
    }
}

#[cfg(feature = "export")]
/// int8 ADD, SUB and MUL are version 2 as TF's converter writes them, float ones 1;
/// SQUARED_DIFFERENCE int8 is 2.
fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    if super::float_input(graph, node) {
        1
    } else {
        2
    }
}

/// Same type (int8 or float32) in and out, shapes that broadcast; the output
/// resized to the broadcast shape (TFLite's Prepare), int8 rescales computed.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let activation = match p.node.op {
        Op::Add { activation } | Op::Sub { activation } | Op::Mul { activation } => activation,
        Op::SquaredDifference => Activation::None,
        _ => return Err(p.err("not a binary arithmetic node")),
    };
    let (a, b, out) = (p.input(0)?, p.input(1)?, p.output());
    let dtype = p.tensor(a).dtype;
    if !matches!(dtype, DType::I8 | DType::F32) {
        return Err(p.err(format!(
            "input tensor {a}: expected int8 or float32, got {}",
            dtype.name()
        )));
    }
    p.expect_dtype("input", b, dtype)?;
    p.expect_dtype("output", out, dtype)?;
    let (s1, s2) = (p.tensor(a).shape, p.tensor(b).shape);
    let mut full = [0; k::broadcast::MAX_DIMS];
    let rank = k::broadcast::broadcast_shape(s1, s2, &mut full).ok_or_else(|| {
        p.err(format!(
            "input tensors {a} {s1:?} and {b} {s2:?} do not broadcast (at most {} dimensions)",
            k::broadcast::MAX_DIMS
        ))
    })?;
    let kind = match p.node.op {
        Op::Add { .. } => BinaryKind::Add,
        Op::Sub { .. } => BinaryKind::Sub,
        Op::Mul { .. } => BinaryKind::Mul,
        _ => BinaryKind::SquaredDifference,
    };
    let params = if dtype == DType::F32 {
        let (min, max) = super::float::float_range(activation);
        BinaryParams::F32 { kind, min, max }
    } else {
        let (s_a, z_a) = p.int8_act("input", a)?;
        let (s_b, z_b) = p.int8_act("input", b)?;
        let (s_o, z_o) = p.int8_act("output", out)?;
        let (lo, hi) = p.activation(activation, s_o, z_o);
        match p.node.op {
            Op::Add { .. } => {
                BinaryParams::Add(k::add::prepare(s_a, z_a, s_b, z_b, s_o, z_o, lo, hi))
            }
            Op::Sub { .. } => {
                BinaryParams::Sub(k::add::prepare(s_a, z_a, s_b, z_b, s_o, z_o, lo, hi))
            }
            Op::Mul { .. } => {
                BinaryParams::Mul(k::mul::prepare(s_a, z_a, s_b, z_b, s_o, z_o, lo, hi))
            }
            _ => BinaryParams::SquaredDifference(k::squared_difference::prepare(
                s_a, z_a, s_b, z_b, s_o, z_o,
            )),
        }
    };
    p.resize_output(full[..rank].into());
    Ok(Kernel::Binary {
        params,
        shape1: s1.into(),
        shape2: s2.into(),
        output_shape: full[..rank].into(),
    })
}

/// Runs the op.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, y, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::Binary {
        params,
        shape1: s1,
        shape2: s2,
        output_shape: so,
    } = kernel
    else {
        return;
    };
    match (out, params) {
        (Out::I8(o), BinaryParams::Add(p)) => {
            if s1 == s2 {
                k::add::add(p, i8s(x), i8s(y), o)
            } else {
                k::add::add_broadcast(p, s1, i8s(x), s2, i8s(y), so, o)
            }
        }
        (Out::I8(o), BinaryParams::Sub(p)) => k::sub::sub(p, s1, i8s(x), s2, i8s(y), so, o),
        (Out::I8(o), BinaryParams::Mul(p)) => k::mul::mul(p, s1, i8s(x), s2, i8s(y), so, o),
        (Out::I8(o), BinaryParams::SquaredDifference(p)) => {
            k::squared_difference::squared_difference(p, s1, i8s(x), s2, i8s(y), so, o)
        }
        (Out::F32(o), BinaryParams::F32 { kind, min, max }) => {
            let (a, b) = (f32s(x), f32s(y));
            match kind {
                BinaryKind::Add => k::add::add_f32(*min, *max, s1, a, s2, b, so, o),
                BinaryKind::Sub => k::sub::sub_f32(*min, *max, s1, a, s2, b, so, o),
                BinaryKind::Mul => k::mul::mul_f32(*min, *max, s1, a, s2, b, so, o),
                BinaryKind::SquaredDifference => {
                    k::squared_difference::squared_difference_f32(s1, a, s2, b, so, o)
                }
            }
        }
        _ => {}
    }
}
