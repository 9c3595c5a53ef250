//! CONCATENATION: inputs (values...): two int8 or float32 tensors, or int32
//! shape vectors folded at prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, fold, OpDef};
#[cfg(feature = "export")]
use super::{activation_to_fb, Options};
use crate::graph::{Activation, DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::CONCATENATION,
    inputs: 1..=64,
    operands: 2,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: |_, _, _| 1,
    prepare,
    eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let o = op.builtin_options_as_concatenation_options();
    Ok(Op::Concatenation {
        axis: o.as_ref().map_or(0, |o| o.axis()),
        activation: activation_from_fb(o.as_ref().map_or(fb::ActivationFunctionType::NONE, |o| {
            o.fused_activation_function()
        }))?,
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Concatenation { axis, activation } = *op else {
        return Options::NONE;
    };
    let t = fb::ConcatenationOptions::create(
        fbb,
        &fb::ConcatenationOptionsArgs {
            axis,
            fused_activation_function: activation_to_fb(activation),
        },
    );
    Options {
        kind: fb::BuiltinOptions::ConcatenationOptions,
        table: Some(t.as_union_value()),
    }
}

/// Known int32 shape vectors joined end to end (folded), or two int8 or
/// float32 tensors (int8 ones on the output's quantization, as TFLite's
/// int8 kernel requires: the converter requantizes inputs in front).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Concatenation { axis, activation } = p.node.op else {
        return Err(p.err("not a CONCATENATION node"));
    };
    if activation != Activation::None {
        return Err(p.err("fused activations on CONCATENATION are not supported"));
    }
    let out = p.output();
    match p.tensor(out).dtype {
        DType::I32 => fold_vectors(p, axis),
        DType::I8 | DType::F32 => tensors(p, axis),
        other => Err(p.err(format!(
            "output tensor {out}: expected int8, float32 or int32, got {}",
            other.name()
        ))),
    }
}

/// Two int8 or float32 tensors of one rank, equal but along `axis`.
fn tensors(p: &Prep<'_>, axis: i32) -> crate::error::Result<Kernel> {
    let out = p.output();
    let dtype = p.tensor(out).dtype;
    let n = p.node.inputs.len();
    if n != 2 {
        return Err(p.err(format!("{n} int8/float32 inputs: only 2 are supported")));
    }
    let (a, b) = (p.input(0)?, p.input(1)?);
    p.expect_dtype("input", a, dtype)?;
    p.expect_dtype("input", b, dtype)?;
    if dtype == DType::I8 {
        let q = p.int8_act("output", out)?;
        for t in [a, b] {
            let qt = p.int8_act("input", t)?;
            if qt != q {
                return Err(p.err(format!(
                    "input tensor {t} quantization {qt:?} differs from output tensor {out} {q:?}"
                )));
            }
        }
    }
    let (s1, s2) = (p.tensor(a).shape, p.tensor(b).shape);
    let rank = s1.len();
    let ax = fold::axis(p, "axis", axis, rank.max(1))?;
    if rank == 0 || s2.len() != rank {
        return Err(p.err(format!(
            "input tensors {a} {s1:?} and {b} {s2:?} differ in rank"
        )));
    }
    let mut shape = s1.to_vec();
    for d in 0..rank {
        if d == ax {
            shape[d] = s1[d] + s2[d];
        } else if s1[d] != s2[d] {
            return Err(p.err(format!(
                "input tensors {a} {s1:?} and {b} {s2:?} differ in dimension {d}"
            )));
        }
    }
    p.resize_output(shape);
    Ok(Kernel::Concat {
        axis: ax,
        shape1: s1.into(),
        shape2: s2.into(),
    })
}

/// Known int32 shape vectors joined end to end, folded at prepare.
fn fold_vectors(p: &Prep<'_>, axis: i32) -> crate::error::Result<Kernel> {
    fold::axis(p, "axis", axis, 1)?;
    let mut value = Vec::new();
    for k in 0..p.node.inputs.len() {
        let t = p.input(k)?;
        if p.tensor(t).shape.len() != 1 {
            return Err(p.err(format!(
                "input tensor {t}: expected a shape vector (rank 1), got shape {:?}",
                p.tensor(t).shape
            )));
        }
        value.extend(fold::known_i32(p, "input", t)?);
    }
    let n = value.len();
    fold::folded(p, value, vec![n])
}

/// Runs CONCATENATION of two tensors.
fn eval(kernel: &Kernel, x: In<'_>, y: In<'_>, out: Out<'_>, _: &mut [i8], _: Kernels) {
    let Kernel::Concat {
        axis,
        shape1,
        shape2,
    } = kernel
    else {
        return;
    };
    match out {
        Out::I8(o) => {
            k::concatenation::concatenation(*axis, &[(shape1, i8s(x)), (shape2, i8s(y))], o)
        }
        Out::F32(o) => {
            k::concatenation::concatenation(*axis, &[(shape1, f32s(x)), (shape2, f32s(y))], o)
        }
    }
}
