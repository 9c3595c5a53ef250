//! RELU and RELU6: inputs (input), no options. int8 rescales to the output's
//! parameters and clamps (TFLite's `QuantizedReluX`), float32 clamps.

use alloc::format;
use kernels_int8 as k;

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;

/// Registry entry of RELU.
pub(crate) const RELU: OpDef = OpDef {
    code: fb::BuiltinOperator::RELU,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Relu),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Registry entry of RELU6.
pub(crate) const RELU6: OpDef = OpDef {
    code: fb::BuiltinOperator::RELU6,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Relu6),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Same type and size in and out; int8 gets the rescale to the output's parameters.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (min, max) = match p.node.op {
        Op::Relu6 => (0.0, 6.0),
        _ => (0.0, f32::INFINITY),
    };
    let (input, out) = (p.input(0)?, p.output());
    p.expect_same_len(input, out)?;
    match p.tensor(input).dtype {
        DType::F32 => {
            p.expect_dtype("output", out, DType::F32)?;
            Ok(Kernel::Relu {
                params: None,
                min,
                max,
            })
        }
        DType::I8 => {
            let (in_scale, in_zp) = p.int8_act("input", input)?;
            let (out_scale, out_zp) = p.int8_act("output", out)?;
            Ok(Kernel::Relu {
                params: Some(k::relu::prepare(
                    in_scale, in_zp, out_scale, out_zp, min, max,
                )),
                min,
                max,
            })
        }
        other => Err(p.err(format!(
            "input tensor {input}: expected float32 or int8, got {}",
            other.name()
        ))),
    }
}

/// Runs the int8 or float32 clamp.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    match (kernel, out) {
        (
            Kernel::Relu {
                params: Some(params),
                ..
            },
            Out::I8(o),
        ) => k::relu::relu(params, i8s(x), o),
        (
            Kernel::Relu {
                params: None,
                min,
                max,
            },
            Out::F32(o),
        ) => k::relu::relu_f32(*min, *max, f32s(x), o),
        _ => {}
    }
}
