//! MAX_POOL_2D: inputs (input); options as in [`super::pool`].

use super::{pool, OpDef, Operands};
use crate::graph::Op;
use crate::schema as fb;
use alloc::string::String;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::MAX_POOL_2D,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export: pool::export,
    #[cfg(feature = "export")]
    version: pool::version,
    prepare: pool::prepare,
    eval: pool::eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let p = pool::import(op)?;
    Ok(Op::MaxPool2d {
        window: p.window,
        filter_w: p.filter_w,
        filter_h: p.filter_h,
        activation: p.activation,
    })
}
