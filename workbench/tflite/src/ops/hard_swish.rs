//! HARD_SWISH: inputs (input), no options. int8 in TFLite's fixed point
//! (`HardSwishPrepare`, int16 multipliers), float32 `x * relu6(x + 3) / 6`.

use alloc::format;
use kernels_int8 as k;

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::HARD_SWISH,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::HardSwish),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version,
    prepare,
    eval,
};

/// HARD_SWISH is version 1 for float and int8, as TF's converter writes it.
#[cfg(feature = "export")]
fn version(_op: &Op, _graph: &Graph, _node: &Node) -> i32 {
    1
}

/// Same type and size in and out; int8 gets TFLite's fixed-point multipliers.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, out) = (p.input(0)?, p.output());
    p.expect_same_len(input, out)?;
    match p.tensor(input).dtype {
        DType::F32 => {
            p.expect_dtype("output", out, DType::F32)?;
            Ok(Kernel::HardSwish(None))
        }
        DType::I8 => {
            let (in_scale, in_zp) = p.int8_act("input", input)?;
            let (out_scale, out_zp) = p.int8_act("output", out)?;
            let params = k::hard_swish::prepare(in_scale, in_zp, out_scale, out_zp)
                .ok_or_else(|| {
                    p.err(format!(
                        "output tensor {out}: scale {out_scale} is too small for input tensor {input} scale {in_scale} (output multiplier above 1)"
                    ))
                })?;
            Ok(Kernel::HardSwish(Some(params)))
        }
        other => Err(p.err(format!(
            "input tensor {input}: expected float32 or int8, got {}",
            other.name()
        ))),
    }
}

/// Runs the int8 or float32 HARD_SWISH.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    match (kernel, out) {
        (Kernel::HardSwish(Some(params)), Out::I8(o)) => {
            k::hard_swish::hard_swish(params, i8s(x), o)
        }
        (Kernel::HardSwish(None), Out::F32(o)) => k::hard_swish::hard_swish_f32(f32s(x), o),
        _ => {}
    }
}
