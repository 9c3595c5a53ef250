//! PACK: inputs (values...): int8 or float32 tensors, or int32 scalars
//! folded at prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

#[cfg(feature = "export")]
use super::Options;
use super::{fold, OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32_ins, i8_ins, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::PACK,
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
    let o = op
        .builtin_options_as_pack_options()
        .ok_or_else(|| String::from("missing PackOptions"))?;
    Ok(Op::Pack {
        values_count: o.values_count(),
        axis: o.axis(),
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Pack { values_count, axis } = *op else {
        return Options::NONE;
    };
    let t = fb::PackOptions::create(fbb, &fb::PackOptionsArgs { values_count, axis });
    Options {
        kind: fb::BuiltinOptions::PackOptions,
        table: Some(t.as_union_value()),
    }
}

/// `values_count` int8 or float32 tensors of one shape (int8 ones on the
/// output's quantization, as TFLite requires), or known int32 scalars
/// stacked into a vector (folded).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Pack { values_count, axis } = p.node.op else {
        return Err(p.err("not a PACK node"));
    };
    let n = p.node.inputs.len();
    if usize::try_from(values_count).ok() != Some(n) {
        return Err(p.err(format!(
            "values_count is {values_count}, the node has {n} inputs"
        )));
    }
    let out = p.output();
    match p.tensor(out).dtype {
        DType::I32 => fold_scalars(p, n, axis),
        DType::I8 | DType::F32 => tensors(p, n, axis),
        other => Err(p.err(format!(
            "output tensor {out}: expected int8, float32 or int32, got {}",
            other.name()
        ))),
    }
}

/// `n` int8 or float32 tensors of one shape, stacked along a new `axis`.
fn tensors(p: &Prep<'_>, n: usize, axis: i32) -> crate::error::Result<Kernel> {
    let out = p.output();
    let dtype = p.tensor(out).dtype;
    let q = if dtype == DType::I8 {
        Some(p.int8_act("output", out)?)
    } else {
        None
    };
    let first = p.input(0)?;
    let shape = p.tensor(first).shape;
    let ax = fold::axis(p, "axis", axis, shape.len() + 1)?;
    for k in 0..n {
        let t = p.input(k)?;
        p.expect_dtype("input", t, dtype)?;
        if let Some(q) = q {
            p.expect_same_quant("input", t, "output", out, q)?;
        }
        if p.tensor(t).shape != shape {
            return Err(p.err(format!(
                "input tensors {first} {shape:?} and {t} {:?} differ in shape",
                p.tensor(t).shape
            )));
        }
    }
    let mut out_shape = shape.to_vec();
    out_shape.insert(ax, n);
    p.resize_output(out_shape);
    Ok(Kernel::Pack {
        shape: shape.to_vec(),
        axis: ax,
    })
}

/// `n` known int32 scalars stacked into a vector (axis 0), folded.
fn fold_scalars(p: &Prep<'_>, n: usize, axis: i32) -> crate::error::Result<Kernel> {
    let mut value = Vec::with_capacity(n);
    for k in 0..n {
        let t = p.input(k)?;
        if !p.tensor(t).shape.is_empty() {
            return Err(p.err(format!(
                "input tensor {t}: expected an int32 scalar, got shape {:?}",
                p.tensor(t).shape
            )));
        }
        value.extend(fold::known_i32(p, "input", t)?);
    }
    fold::axis(p, "axis", axis, 1)?;
    fold::folded(p, value, vec![n])
}

/// Runs PACK of tensors.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Kernel::Pack { shape, axis } = kernel else {
        return;
    };
    let Some((_, _, out)) = args(ins, outs) else {
        return;
    };
    match out {
        Out::I8(o) => {
            let xs = i8_ins(ins);
            if xs.len() == ins.len() {
                k::pack::pack(shape, *axis, &xs, o);
            }
        }
        Out::F32(o) => {
            let xs = f32_ins(ins);
            if xs.len() == ins.len() {
                k::pack::pack(shape, *axis, &xs, o);
            }
        }
    }
}
