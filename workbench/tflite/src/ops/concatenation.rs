//! CONCATENATION: inputs (values...): int8 or float32 tensors, or int32
//! shape vectors folded at prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, fold, OpDef, Operands};
#[cfg(feature = "export")]
use super::{activation_to_fb, Options};
use crate::graph::{Activation, DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32_ins, i8_ins, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::CONCATENATION,
    inputs: 1..=64,
    operands: Operands::All,
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
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

/// Known int32 shape vectors joined end to end (folded), or int8 or
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

/// int8 or float32 tensors of one rank, equal but along `axis`.
fn tensors(p: &Prep<'_>, axis: i32) -> crate::error::Result<Kernel> {
    let out = p.output();
    let dtype = p.tensor(out).dtype;
    let q = if dtype == DType::I8 {
        Some(p.int8_act("output", out)?)
    } else {
        None
    };
    let first = p.input(0)?;
    let s0 = p.tensor(first).shape;
    let rank = s0.len();
    let ax = fold::axis(p, "axis", axis, rank.max(1))?;
    if rank == 0 {
        return Err(p.err(format!("input tensor {first} is a scalar")));
    }
    let mut shape = s0.to_vec();
    shape[ax] = 0;
    let mut shapes = Vec::with_capacity(p.node.inputs.len());
    for k in 0..p.node.inputs.len() {
        let t = p.input(k)?;
        p.expect_dtype("input", t, dtype)?;
        if let Some(q) = q {
            p.expect_same_quant("input", t, "output", out, q)?;
        }
        let st = p.tensor(t).shape;
        if st.len() != rank {
            return Err(p.err(format!(
                "input tensors {first} {s0:?} and {t} {st:?} differ in rank"
            )));
        }
        for d in 0..rank {
            if d != ax && st[d] != s0[d] {
                return Err(p.err(format!(
                    "input tensors {first} {s0:?} and {t} {st:?} differ in dimension {d}"
                )));
            }
        }
        shape[ax] += st[ax];
        shapes.push(st.to_vec());
    }
    p.resize_output(shape);
    Ok(Kernel::Concat { axis: ax, shapes })
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

/// Runs CONCATENATION.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Kernel::Concat { axis, shapes } = kernel else {
        return;
    };
    let Some((_, _, out)) = args(ins, outs) else {
        return;
    };
    match out {
        Out::I8(o) => {
            let xs: Vec<_> = shapes.iter().map(|s| &s[..]).zip(i8_ins(ins)).collect();
            if xs.len() == shapes.len() {
                k::concatenation::concatenation(*axis, &xs, o);
            }
        }
        Out::F32(o) => {
            let xs: Vec<_> = shapes.iter().map(|s| &s[..]).zip(f32_ins(ins)).collect();
            if xs.len() == shapes.len() {
                k::concatenation::concatenation(*axis, &xs, o);
            }
        }
    }
}
