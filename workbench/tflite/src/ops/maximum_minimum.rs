//! MAXIMUM and MINIMUM: inputs (a, b) with broadcasting, no options. int8
//! needs one quantization for both inputs and the output, so the integers
//! compare like the real values (TFLite's `maximum_minimum.cc`).

use alloc::format;
use kernels_int8 as k;

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;

/// Registry entry of MAXIMUM.
pub(crate) const MAXIMUM: OpDef = OpDef {
    code: fb::BuiltinOperator::MAXIMUM,
    inputs: 2..=2,
    operands: Operands::First(2),
    outputs: 1..=1,
    import: |_| Ok(Op::Maximum),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Registry entry of MINIMUM.
pub(crate) const MINIMUM: OpDef = OpDef {
    code: fb::BuiltinOperator::MINIMUM,
    inputs: 2..=2,
    operands: Operands::First(2),
    outputs: 1..=1,
    import: |_| Ok(Op::Minimum),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Same type everywhere, broadcastable shapes, one int8 quantization.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (a, b, out) = (p.input(0)?, p.input(1)?, p.output());
    let dtype = p.tensor(a).dtype;
    p.expect_dtype("input", b, dtype)?;
    p.expect_dtype("output", out, dtype)?;
    match dtype {
        DType::F32 => {}
        DType::I8 => {
            let q = p.int8_act("output", out)?;
            for t in [a, b] {
                p.expect_same_quant("input", t, "output", out, q)?;
            }
        }
        other => {
            return Err(p.err(format!(
                "input tensor {a}: expected float32 or int8, got {}",
                other.name()
            )))
        }
    }
    let (s1, s2) = (p.tensor(a).shape, p.tensor(b).shape);
    let mut full = [0; k::broadcast::MAX_DIMS];
    let rank = k::broadcast::broadcast_shape(s1, s2, &mut full).ok_or_else(|| {
        p.err(format!(
            "input tensors {a} {s1:?} and {b} {s2:?} do not broadcast (at most {} dimensions)",
            k::broadcast::MAX_DIMS
        ))
    })?;
    if p.tensor(out).shape != &full[..rank] {
        return Err(p.err(format!(
            "output tensor {out} has shape {:?}, expected {:?}",
            p.tensor(out).shape,
            &full[..rank]
        )));
    }
    Ok(Kernel::MaxMin {
        max: matches!(p.node.op, Op::Maximum),
        shape1: s1.into(),
        shape2: s2.into(),
        output_shape: full[..rank].into(),
    })
}

/// Runs MAXIMUM or MINIMUM.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, y, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::MaxMin {
        max,
        shape1,
        shape2,
        output_shape,
    } = kernel
    else {
        return;
    };
    match (out, *max) {
        (Out::I8(o), true) => k::maximum::maximum(shape1, i8s(x), shape2, i8s(y), output_shape, o),
        (Out::I8(o), false) => k::minimum::minimum(shape1, i8s(x), shape2, i8s(y), output_shape, o),
        (Out::F32(o), true) => {
            k::maximum::maximum(shape1, f32s(x), shape2, f32s(y), output_shape, o)
        }
        (Out::F32(o), false) => {
            k::minimum::minimum(shape1, f32s(x), shape2, f32s(y), output_shape, o)
        }
    }
}
