//! DEQUANTIZE: int8 to float.

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::DType;
use crate::graph::Op;
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use alloc::string::String;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::DEQUANTIZE,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version,
    prepare,
    eval,
};

fn import(_op: &fb::Operator<'_>) -> Result<Op, String> {
    Ok(Op::Dequantize)
}

#[cfg(feature = "export")]
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

/// Runs DEQUANTIZE.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    if let (Kernel::Dequantize { scale, zero_point }, Out::F32(o)) = (kernel, out) {
        k::dequantize::dequantize(*scale, *zero_point, i8s(x), o);
    }
}
