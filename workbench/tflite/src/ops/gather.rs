//! GATHER: inputs (params, indices); on int32 shape vectors only, folded at
//! prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

#[cfg(feature = "export")]
use super::Options;
use super::{fold, OpDef};
use crate::graph::Op;
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{Kernel, Prep};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::GATHER,
    inputs: 2..=2,
    operands: 1,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: |_, _, _| 1,
    prepare,
    eval: fold::eval,
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
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
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
