//! LOGISTIC and TANH: inputs (input); int8 by TFLite's 256-entry tables
//! (`kernels_int8::logistic`, `kernels_int8::tanh`), or float32.

use alloc::format;

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry for LOGISTIC.
pub(crate) const LOGISTIC: OpDef = OpDef {
    code: fb::BuiltinOperator::LOGISTIC,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Logistic),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Registry entry for TANH.
pub(crate) const TANH: OpDef = OpDef {
    code: fb::BuiltinOperator::TANH,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Tanh),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Same type and shape in and out; int8 outputs on TFLite's fixed
/// quantization (LOGISTIC: scale 1/256, zero point -128; TANH: 1/128, 0).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let logistic = matches!(p.node.op, Op::Logistic);
    let (input, out) = (p.input(0)?, p.output());
    let dtype = p.int8_or_f32(input)?;
    p.expect_dtype("output", out, dtype)?;
    if p.tensor(input).shape != p.tensor(out).shape {
        return Err(p.err(format!(
            "output tensor {out} shape {:?} differs from input tensor {input} shape {:?}",
            p.tensor(out).shape,
            p.tensor(input).shape
        )));
    }
    if dtype == DType::F32 {
        return Ok(Kernel::Lut {
            logistic,
            table: None,
        });
    }
    let (si, zi) = p.int8_act("input", input)?;
    let (so, zo) = p.int8_act("output", out)?;
    let (want_scale, want_zp) = if logistic {
        (1.0 / 256.0, -128)
    } else {
        (1.0 / 128.0, 0)
    };
    if so != want_scale || zo != want_zp {
        return Err(p.err(format!(
            "output tensor {out}: int8 {} needs scale {want_scale} and zero point {want_zp}, got {so} and {zo}",
            p.node.op.name()
        )));
    }
    let table = if logistic {
        k::logistic::prepare(si, zi, so, zo)
    } else {
        k::tanh::prepare(si, zi, so, zo)
    };
    Ok(Kernel::Lut {
        logistic,
        table: Some(alloc::boxed::Box::new(table)),
    })
}

/// Runs LOGISTIC or TANH.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::Lut { logistic, table } = kernel else {
        return;
    };
    match (out, table, *logistic) {
        (Out::I8(o), Some(t), true) => k::logistic::logistic(t, i8s(x), o),
        (Out::I8(o), Some(t), false) => k::tanh::tanh(t, i8s(x), o),
        (Out::F32(o), None, true) => k::logistic::logistic_f32(f32s(x), o),
        (Out::F32(o), None, false) => k::tanh::tanh_f32(f32s(x), o),
        _ => {}
    }
}
