//! RSQRT: inputs (input); int8 in TFLite's fixed point
//! (`kernels_int8::rsqrt`), or float32.

use alloc::format;

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::RSQRT,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Rsqrt),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Same type and shape in and out; the int8 rescale `1 / (sqrt(s_in) * s_out)`.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
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
        return Ok(Kernel::Rsqrt(None));
    }
    let (si, zi) = p.int8_act("input", input)?;
    let (so, zo) = p.int8_act("output", out)?;
    let (multiplier, shift) = k::rsqrt::prepare(si, so);
    Ok(Kernel::Rsqrt(Some([multiplier, shift, zi, zo])))
}

/// Runs RSQRT.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    match (kernel, out) {
        (Kernel::Rsqrt(Some([m, s, zi, zo])), Out::I8(o)) => {
            k::rsqrt::rsqrt(*m, *s, *zi, *zo, i8s(x), o)
        }
        (Kernel::Rsqrt(None), Out::F32(o)) => k::rsqrt::rsqrt_f32(f32s(x), o),
        _ => {}
    }
}
