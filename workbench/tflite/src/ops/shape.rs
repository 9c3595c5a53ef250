//! SHAPE: inputs (input); the input's dimensions as an int32 vector, folded
//! at prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
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
    code: fb::BuiltinOperator::SHAPE,
    inputs: 1..=1,
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
    if let Some(o) = op.builtin_options_as_shape_options() {
        if o.out_type() != fb::TensorType::INT32 {
            return Err(format!(
                "out_type {} is not supported (int32 only)",
                o.out_type().variant_name().unwrap_or("unknown")
            ));
        }
    }
    Ok(Op::Shape)
}

#[cfg(feature = "export")]
fn export(_op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let t = fb::ShapeOptions::create(
        fbb,
        &fb::ShapeOptionsArgs {
            out_type: fb::TensorType::INT32,
        },
    );
    Options {
        kind: fb::BuiltinOptions::ShapeOptions,
        table: Some(t.as_union_value()),
    }
}

/// The input's dimensions, one int32 each.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let input = p.input(0)?;
    let shape = p.tensor(input).shape;
    let mut value = Vec::with_capacity(shape.len());
    for &d in shape {
        let d = i32::try_from(d)
            .map_err(|_| p.err(format!("input tensor {input}: dimension {d} exceeds int32")))?;
        value.push(d);
    }
    let n = value.len();
    fold::folded(p, value, vec![n])
}
