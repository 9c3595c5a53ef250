//! QUANTIZE: float to int8, or int8 to int8 with new parameters.

use super::{input_dtype, no_options, OpDef};
use crate::graph::{DType, Graph, Node, Op};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::QUANTIZE,
    inputs: 1..=1,
    import,
    export: no_options,
    version,
};

fn import(_op: &fb::Operator<'_>) -> Result<Op, String> {
    Ok(Op::Quantize)
}

/// Version 1 from float (TF's converter); 2 for int8 requantization.
fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    match input_dtype(graph, node) {
        Some(DType::I8) => 2,
        _ => 1,
    }
}
