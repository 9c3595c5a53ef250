//! SOFTMAX: inputs (input), over the last dimension.

use flatbuffers::FlatBufferBuilder;

use super::{OpDef, Options};
use crate::graph::{Graph, Node, Op};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::SOFTMAX,
    inputs: 1..=1,
    import,
    export,
    version,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let o = op
        .builtin_options_as_softmax_options()
        .ok_or("missing SoftmaxOptions")?;
    Ok(Op::Softmax { beta: o.beta() })
}

fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Softmax { beta } = op else {
        return Options::NONE;
    };
    let t = fb::SoftmaxOptions::create(fbb, &fb::SoftmaxOptionsArgs { beta: *beta });
    Options {
        kind: fb::BuiltinOptions::SoftmaxOptions,
        table: Some(t.as_union_value()),
    }
}

/// int8 SOFTMAX is version 2, float 1, as TF's converter writes them.
fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    if super::float_input(graph, node) {
        1
    } else {
        2
    }
}
