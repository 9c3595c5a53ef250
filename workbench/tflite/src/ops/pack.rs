//! PACK: inputs (values...); on int32 scalars and shape vectors only, folded
//! at prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec;
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
    code: fb::BuiltinOperator::PACK,
    inputs: 1..=64,
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

/// `values_count` known int32 scalars stacked into a vector (axis 0).
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
