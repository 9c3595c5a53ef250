//! QUANTIZE: float to int8, or int8 to int8 with new parameters.

#[cfg(feature = "export")]
use super::{input_dtype, no_options};
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use alloc::format;
use alloc::string::String;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::QUANTIZE,
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
    Ok(Op::Quantize)
}

#[cfg(feature = "export")]
/// Version 1 from float (TF's converter); 2 for int8 requantization.
fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    match input_dtype(graph, node) {
        Some(DType::I8) => 2,
        _ => 1,
    }
}

/// Float to int8 (affine), or int8 to int8 (requantize with a Q31 multiplier).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, out) = (p.input(0)?, p.output());
    let (out_scale, out_zp) = p.int8_act("output", out)?;
    p.expect_same_len(input, out)?;
    match p.tensor(input).dtype {
        DType::F32 => Ok(Kernel::Quantize {
            scale: out_scale,
            zero_point: out_zp,
        }),
        DType::I8 => {
            let (in_scale, in_zp) = p.per_tensor("input", input)?;
            let (multiplier, shift) = k::quantize::requantize_multiplier(in_scale, out_scale);
            Ok(Kernel::Requantize {
                input_zero_point: in_zp,
                output_zero_point: out_zp,
                multiplier,
                shift,
            })
        }
        other => Err(p.err(format!(
            "input tensor {input}: expected float32 or int8, got {}",
            other.name()
        ))),
    }
}

/// Runs QUANTIZE (from float32) or the int8 requantization.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    match (kernel, out) {
        (Kernel::Quantize { scale, zero_point }, Out::I8(o)) => {
            k::quantize::affine_quantize(*scale, *zero_point, f32s(x), o)
        }
        (
            Kernel::Requantize {
                input_zero_point,
                output_zero_point,
                multiplier,
                shift,
            },
            Out::I8(o),
        ) => k::quantize::requantize(
            *input_zero_point,
            *output_zero_point,
            *multiplier,
            *shift,
            i8s(x),
            o,
        ),
        _ => {}
    }
}
