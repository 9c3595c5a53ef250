//! ADD: inputs (a, b).

use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, activation_to_fb, OpDef, Options};
use crate::graph::{Activation, Graph, Node, Op};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::ADD,
    inputs: 2..=2,
    import,
    export,
    version,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let activation = match op.builtin_options_as_add_options() {
        Some(o) => activation_from_fb(o.fused_activation_function())?,
        None => Activation::None,
    };
    Ok(Op::Add { activation })
}

fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Add { activation } = op else {
        return Options::NONE;
    };
    let t = fb::AddOptions::create(
        fbb,
        &fb::AddOptionsArgs {
            fused_activation_function: activation_to_fb(*activation),
            ..Default::default()
        },
    );
    Options {
        kind: fb::BuiltinOptions::AddOptions,
        table: Some(t.as_union_value()),
    }
}

/// int8 ADD is version 2, as TF's converter writes it.
fn version(_op: &Op, _graph: &Graph, _node: &Node) -> i32 {
    2
}
