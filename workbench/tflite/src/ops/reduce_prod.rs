//! REDUCE_PROD: inputs (input, axis); on int32 shape vectors only, folded at
//! prepare (see [`fold`](super::fold)).

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
use crate::prepare::{Kernel, Prep};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::REDUCE_PROD,
    inputs: 2..=2,
    operands: Operands::First(1),
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: |_, _, _| 1,
    prepare,
    eval: fold::eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    Ok(Op::ReduceProd {
        keep_dims: op
            .builtin_options_as_reducer_options()
            .is_some_and(|o| o.keep_dims()),
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::ReduceProd { keep_dims } = *op else {
        return Options::NONE;
    };
    let t = fb::ReducerOptions::create(fbb, &fb::ReducerOptionsArgs { keep_dims });
    Options {
        kind: fb::BuiltinOptions::ReducerOptions,
        table: Some(t.as_union_value()),
    }
}

/// The product of a known int32 vector over its one axis.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::ReduceProd { keep_dims } = p.node.op else {
        return Err(p.err("not a REDUCE_PROD node"));
    };
    let (input, axes) = (p.input(0)?, p.input(1)?);
    fold::vector(p, "input", input)?;
    let rank = p.tensor(input).shape.len();
    for a in fold::known_i32(p, "axis", axes)? {
        fold::axis(p, "axis", a, rank.max(1))?;
    }
    let mut prod: i32 = 1;
    for v in fold::known_i32(p, "input", input)? {
        prod = prod
            .checked_mul(v)
            .ok_or_else(|| p.err(format!("input tensor {input}: product overflows int32")))?;
    }
    let shape = if keep_dims && rank == 1 {
        vec![1]
    } else {
        vec![]
    };
    fold::folded(p, vec![prod], shape)
}
