//! DEQUANTIZE: int8 to float.

use super::{no_options, OpDef};
use crate::graph::{Graph, Node, Op};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::DEQUANTIZE,
    inputs: 1..=1,
    import,
    export: no_options,
    version,
};

fn import(_op: &fb::Operator<'_>) -> Result<Op, String> {
    Ok(Op::Dequantize)
}

/// int8 DEQUANTIZE is version 2, as TF's converter writes it.
fn version(_op: &Op, _graph: &Graph, _node: &Node) -> i32 {
    2
}
