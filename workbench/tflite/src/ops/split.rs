//! SPLIT: inputs (axis, input), `num_splits` outputs of equal size along the
//! axis; int8 or float32 (a copy: TFLite does not requantize).

use alloc::format;
use alloc::string::String;
use alloc::vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

#[cfg(feature = "export")]
use super::Options;
use super::{fold, OpDef, Operands};
use crate::graph::Op;
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{f32_outs, i8_outs, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::SPLIT,
    inputs: 2..=2,
    operands: Operands::Only(1),
    outputs: 1..=64,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version,
    prepare,
    eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let o = op
        .builtin_options_as_split_options()
        .ok_or_else(|| String::from("missing SplitOptions"))?;
    Ok(Op::Split {
        num_splits: o.num_splits(),
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Split { num_splits } = *op else {
        return Options::NONE;
    };
    let t = fb::SplitOptions::create(fbb, &fb::SplitOptionsArgs { num_splits });
    Options {
        kind: fb::BuiltinOptions::SplitOptions,
        table: Some(t.as_union_value()),
    }
}

/// int8 SPLIT is version 2 in TF's converter, float 1 (the data is input 1).
#[cfg(feature = "export")]
fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    let data = node.inputs.get(1).copied().flatten();
    match data.and_then(|t| graph.tensors.get(t)) {
        Some(t) if t.dtype == crate::graph::DType::I8 => 2,
        _ => 1,
    }
}

/// A constant axis; `num_splits` outputs of the input's type, each the
/// input's shape with the axis divided by `num_splits`.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Split { num_splits } = p.node.op else {
        return Err(p.err("not a SPLIT node"));
    };
    let outputs = p.outputs();
    let n = outputs.len();
    if usize::try_from(num_splits).ok() != Some(n) {
        return Err(p.err(format!(
            "num_splits is {num_splits}, the node has {n} outputs"
        )));
    }
    let (axis_t, input) = (p.input(0)?, p.input(1)?);
    let axis = fold::known_i32(p, "axis", axis_t)?;
    let [axis] = axis[..] else {
        return Err(p.err(format!(
            "axis tensor {axis_t}: expected one value, got {}",
            axis.len()
        )));
    };
    let dtype = p.int8_or_f32(input)?;
    let shape = p.tensor(input).shape;
    let ax = fold::axis(p, "axis", axis, shape.len())?;
    if !shape[ax].is_multiple_of(n) {
        return Err(p.err(format!(
            "input tensor {input} shape {shape:?}: dimension {ax} does not split into {n} equal parts"
        )));
    }
    let size = shape[ax] / n;
    let mut out_shape = shape.to_vec();
    out_shape[ax] = size;
    for (k, &out) in outputs.iter().enumerate() {
        p.expect_dtype("output", out, dtype)?;
        p.resize_output_k(k, out_shape.clone());
    }
    Ok(Kernel::Split {
        shape: shape.into(),
        axis: ax,
        sizes: vec![size; n],
    })
}

/// Runs SPLIT.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Kernel::Split { shape, axis, sizes } = kernel else {
        return;
    };
    match ins.first() {
        Some(In::I8(x)) => {
            let mut o = i8_outs(outs);
            if o.len() == sizes.len() {
                k::split::split(shape, *axis, sizes, x, &mut o);
            }
        }
        Some(In::F32(x)) => {
            let mut o = f32_outs(outs);
            if o.len() == sizes.len() {
                k::split::split(shape, *axis, sizes, x, &mut o);
            }
        }
        _ => {}
    }
}
