//! CONCATENATION: inputs (values...); on int32 shape vectors only, folded at
//! prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, fold, OpDef};
#[cfg(feature = "export")]
use super::{activation_to_fb, Options};
use crate::graph::{Activation, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{Kernel, Prep};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::CONCATENATION,
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

/// Known int32 shape vectors joined end to end.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Concatenation { axis, activation } = p.node.op else {
        return Err(p.err("not a CONCATENATION node"));
    };
    if activation != Activation::None {
        return Err(p.err("a fused activation on int32 values is not supported"));
    }
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
