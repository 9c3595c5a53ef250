//! DEQUANTIZE: int8 to float.

use super::{no_options, OpDef};
use crate::graph::DType;
use crate::graph::{Graph, Node, Op};
use crate::prepare::{Kernel, Prep};
use crate::schema as fb;
use alloc::string::String;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::DEQUANTIZE,
    inputs: 1..=1,
    import,
    export: no_options,
    version,
    prepare,
};

fn import(_op: &fb::Operator<'_>) -> Result<Op, String> {
    Ok(Op::Dequantize)
}

/// int8 DEQUANTIZE is version 2, as TF's converter writes it.
fn version(_op: &Op, _graph: &Graph, _node: &Node) -> i32 {
    2
}

/// int8 to float32.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, out) = (p.input(0)?, p.output());
    let (scale, zero_point) = p.int8_act("input", input)?;
    p.expect_dtype("output", out, DType::F32)?;
    p.expect_same_len(input, out)?;
    Ok(Kernel::Dequantize { scale, zero_point })
}
