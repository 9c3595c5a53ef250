//! UNPACK: inputs (input), one output per entry along `axis` (which it
//! drops); int8 (on the input's quantization, as TFLite requires) or float32.

use alloc::format;
use alloc::string::String;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

#[cfg(feature = "export")]
use super::Options;
use super::{fold, OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{f32_outs, i8_outs, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::UNPACK,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=64,
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
        .builtin_options_as_unpack_options()
        .ok_or_else(|| String::from("missing UnpackOptions"))?;
    Ok(Op::Unpack {
        num: o.num(),
        axis: o.axis(),
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Unpack { num, axis } = *op else {
        return Options::NONE;
    };
    let t = fb::UnpackOptions::create(fbb, &fb::UnpackOptionsArgs { num, axis });
    Options {
        kind: fb::BuiltinOptions::UnpackOptions,
        table: Some(t.as_union_value()),
    }
}

/// `num` outputs, one per entry of a non-empty input along `axis`, each of
/// the input's type and quantization and its shape without `axis`.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Unpack { num, axis } = p.node.op else {
        return Err(p.err("not an UNPACK node"));
    };
    let outputs = p.outputs();
    let n = outputs.len();
    if usize::try_from(num).ok() != Some(n) {
        return Err(p.err(format!("num is {num}, the node has {n} outputs")));
    }
    let input = p.input(0)?;
    let dtype = p.int8_or_f32(input)?;
    let shape = p.tensor(input).shape;
    if p.tensor(input).num_elements() == 0 {
        return Err(p.err(format!("input tensor {input} shape {shape:?} is empty")));
    }
    let ax = fold::axis(p, "axis", axis, shape.len())?;
    if shape[ax] != n {
        return Err(p.err(format!(
            "input tensor {input} shape {shape:?} has {} entries along axis {ax}, the node has {n} outputs",
            shape[ax]
        )));
    }
    let q = if dtype == DType::I8 {
        Some(p.int8_act("input", input)?)
    } else {
        None
    };
    let mut out_shape = shape.to_vec();
    out_shape.remove(ax);
    for (k, &out) in outputs.iter().enumerate() {
        p.expect_dtype("output", out, dtype)?;
        if let Some(q) = q {
            p.expect_same_quant("output", out, "input", input, q)?;
        }
        p.resize_output_k(k, out_shape.clone());
    }
    Ok(Kernel::Unpack {
        shape: shape.into(),
        axis: ax,
    })
}

/// Runs UNPACK.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Kernel::Unpack { shape, axis } = kernel else {
        return;
    };
    let n = shape[*axis];
    match ins.first() {
        Some(In::I8(x)) => {
            let mut o = i8_outs(outs);
            if o.len() == n {
                k::unpack::unpack(shape, *axis, x, &mut o);
            }
        }
        Some(In::F32(x)) => {
            let mut o = f32_outs(outs);
            if o.len() == n {
                k::unpack::unpack(shape, *axis, x, &mut o);
            }
        }
        _ => {}
    }
}
