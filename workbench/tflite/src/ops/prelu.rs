//! PRELU: inputs (input, alpha); `alpha` broadcasts to the input; int8
//! (`kernels_int8::prelu`) or float32.

use alloc::format;

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::PRELU,
    inputs: 2..=2,
    operands: Operands::First(2),
    outputs: 1..=1,
    import: |_| Ok(Op::Prelu),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: |_: &Op, _: &Graph, _: &Node| 1,
    prepare,
    eval,
};

/// Same type in and out, `alpha` broadcasting to the input's shape, which the
/// output keeps; int8 rescales as TFLite's `PreluPrepare`.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, alpha, out) = (p.input(0)?, p.input(1)?, p.output());
    let dtype = p.int8_or_f32(input)?;
    p.expect_dtype("alpha", alpha, dtype)?;
    p.expect_dtype("output", out, dtype)?;
    let (s1, s2) = (p.tensor(input).shape, p.tensor(alpha).shape);
    let mut full = [0; k::broadcast::MAX_DIMS];
    let rank = k::broadcast::broadcast_shape(s1, s2, &mut full);
    if rank.map(|r| &full[..r]) != Some(s1) {
        return Err(p.err(format!(
            "alpha tensor {alpha} {s2:?} does not broadcast to input tensor {input} {s1:?}"
        )));
    }
    if p.tensor(out).shape != s1 {
        return Err(p.err(format!(
            "output tensor {out} shape {:?} differs from input tensor {input} shape {s1:?}",
            p.tensor(out).shape
        )));
    }
    let params = if dtype == DType::I8 {
        let (si, zi) = p.int8_act("input", input)?;
        let (sa, za) = p.int8_act("alpha", alpha)?;
        let (so, zo) = p.int8_act("output", out)?;
        Some(k::prelu::prepare(si, zi, sa, za, so, zo))
    } else {
        None
    };
    Ok(Kernel::Prelu {
        params,
        input_shape: s1.into(),
        alpha_shape: s2.into(),
    })
}

/// Runs PRELU.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, y, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::Prelu {
        params,
        input_shape,
        alpha_shape,
    } = kernel
    else {
        return;
    };
    match (out, params) {
        (Out::I8(o), Some(p)) => k::prelu::prelu(p, input_shape, i8s(x), alpha_shape, i8s(y), o),
        (Out::F32(o), None) => k::prelu::prelu_f32(input_shape, f32s(x), alpha_shape, f32s(y), o),
        _ => {}
    }
}
