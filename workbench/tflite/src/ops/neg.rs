//! NEG: inputs (input), no options; float32 only (TF's converter keeps NEG
//! in float, with DEQUANTIZE and QUANTIZE around it in int8 models).

use alloc::format;
use kernels_int8 as k;

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::NEG,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Neg),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version,
    prepare,
    eval,
};

/// Float NEG is version 1, as TF's converter writes it.
#[cfg(feature = "export")]
fn version(_op: &Op, _graph: &Graph, _node: &Node) -> i32 {
    1
}

/// float32 in and out, same size.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, out) = (p.input(0)?, p.output());
    p.expect_dtype("input", input, DType::F32)?;
    p.expect_dtype("output", out, DType::F32)?;
    p.expect_same_len(input, out)?;
    if p.tensor(input).shape != p.tensor(out).shape {
        return Err(p.err(format!(
            "output tensor {out} shape {:?} differs from input tensor {input} shape {:?}",
            p.tensor(out).shape,
            p.tensor(input).shape
        )));
    }
    Ok(Kernel::Neg)
}

/// Runs NEG.
fn eval(_: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    if let Out::F32(o) = out {
        k::neg::neg_f32(f32s(x), o);
    }
}
