//! ABS: inputs (input), no options; int8 (`kernels_int8::abs`, TFLite's
//! `AbsEval`) or float32.

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::ABS,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Abs),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Same type in and out, the output shaped as the input; the int8 rescale `s_in / s_out`.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, out) = (p.input(0)?, p.output());
    let dtype = p.int8_or_f32(input)?;
    p.expect_dtype("output", out, dtype)?;
    p.resize_output(p.tensor(input).shape.into());
    if dtype == DType::F32 {
        return Ok(Kernel::Abs(None));
    }
    let (si, zi) = p.int8_act("input", input)?;
    let (so, zo) = p.int8_act("output", out)?;
    Ok(Kernel::Abs(Some(k::abs::prepare(si, zi, so, zo))))
}

/// Runs ABS.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    match (kernel, out) {
        (Kernel::Abs(Some(params)), Out::I8(o)) => k::abs::abs(params, i8s(x), o),
        (Kernel::Abs(None), Out::F32(o)) => k::abs::abs_f32(f32s(x), o),
        _ => {}
    }
}
