//! GATHER: inputs (params, indices): int8 or float32 params with constant
//! indices, or int32 shape vectors folded at prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

#[cfg(feature = "export")]
use super::Options;
use super::{fold, OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::GATHER,
    inputs: 2..=2,
    operands: Operands::First(1),
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: |_, _, _| 1,
    prepare,
    eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let o = op.builtin_options_as_gather_options();
    Ok(Op::Gather {
        axis: o.as_ref().map_or(0, |o| o.axis()),
        batch_dims: o.as_ref().map_or(0, |o| o.batch_dims()),
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Gather { axis, batch_dims } = *op else {
        return Options::NONE;
    };
    let t = fb::GatherOptions::create(fbb, &fb::GatherOptionsArgs { axis, batch_dims });
    Options {
        kind: fb::BuiltinOptions::GatherOptions,
        table: Some(t.as_union_value()),
    }
}

/// Entries of a known int32 vector picked by known int32 indices.
fn fold_vector(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Gather { axis, batch_dims } = p.node.op else {
        return Err(p.err("not a GATHER node"));
    };
    let (params, indices) = (p.input(0)?, p.input(1)?);
    if p.tensor(params).shape.len() != 1 {
        return Err(p.err(format!(
            "params tensor {params}: expected a shape vector (rank 1), got shape {:?}",
            p.tensor(params).shape
        )));
    }
    fold::axis(p, "axis", axis, 1)?;
    if batch_dims != 0 {
        return Err(p.err(format!("batch_dims {batch_dims} is not supported")));
    }
    fold::vector(p, "indices", indices)?;
    let values = fold::known_i32(p, "params", params)?;
    let idx = fold::known_i32(p, "indices", indices)?;
    let mut value = Vec::with_capacity(idx.len());
    for &i in &idx {
        let v = usize::try_from(i)
            .ok()
            .and_then(|i| values.get(i))
            .ok_or_else(|| {
                p.err(format!(
                    "indices tensor {indices}: index {i} out of range for {} values",
                    values.len()
                ))
            })?;
        value.push(*v);
    }
    fold::folded(p, value, p.tensor(indices).shape.to_vec())
}

/// int8 or float32 params gathered along `axis` by constant int32 indices
/// (the output's quantization the input's); int32 shape vectors are folded.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let out = p.output();
    let dtype = p.tensor(out).dtype;
    if dtype == DType::I32 {
        return fold_vector(p);
    }
    let Op::Gather { axis, batch_dims } = p.node.op else {
        return Err(p.err("not a GATHER node"));
    };
    let (params, indices) = (p.input(0)?, p.input(1)?);
    if !matches!(dtype, DType::I8 | DType::F32) {
        return Err(p.err(format!(
            "output tensor {out}: expected int8, float32 or int32, got {}",
            dtype.name()
        )));
    }
    p.expect_dtype("params", params, dtype)?;
    if dtype == DType::I8 && p.int8_act("params", params)? != p.int8_act("output", out)? {
        return Err(p.err(format!(
            "output tensor {out} quantization differs from params tensor {params}"
        )));
    }
    if batch_dims != 0 {
        return Err(p.err(format!("batch_dims {batch_dims} is not supported")));
    }
    let shape = p.tensor(params).shape.to_vec();
    let ax = fold::axis(p, "axis", axis, shape.len().max(1))?;
    if shape.is_empty() {
        return Err(p.err(format!("params tensor {params} is a scalar")));
    }
    let idx = fold::known_i32(p, "indices", indices)?;
    if let Some(i) = idx.iter().find(|&&i| i < 0 || i as usize >= shape[ax]) {
        return Err(p.err(format!(
            "indices tensor {indices}: index {i} out of range for dimension {ax} of size {}",
            shape[ax]
        )));
    }
    let mut out_shape = shape[..ax].to_vec();
    out_shape.extend_from_slice(p.tensor(indices).shape);
    out_shape.extend_from_slice(&shape[ax + 1..]);
    p.resize_output(out_shape);
    Ok(Kernel::Gather {
        shape,
        axis: ax,
        indices: idx,
    })
}

/// Runs GATHER.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::Gather {
        shape,
        axis,
        indices,
    } = kernel
    else {
        return;
    };
    match out {
        Out::I8(o) => k::gather::gather(shape, *axis, i8s(x), indices, o),
        Out::F32(o) => k::gather::gather(shape, *axis, f32s(x), indices, o),
    }
}
