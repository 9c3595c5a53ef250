//! LEAKY_RELU: inputs (input); `LeakyReluOptions { alpha }`. int8 rescales
//! each sign by its own multiplier (TFLite's `QuantizeLeakyRelu`), float32
//! multiplies negatives by alpha.

use alloc::format;
use alloc::string::String;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;
use kernels_int8 as k;

#[cfg(feature = "export")]
use super::Options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::LEAKY_RELU,
    inputs: 1..=1,
    operands: Operands::First(1),
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let alpha = op
        .builtin_options_as_leaky_relu_options()
        .map_or(0.2, |o| o.alpha());
    if !alpha.is_finite() {
        return Err(format!("alpha {alpha} is not finite"));
    }
    Ok(Op::LeakyRelu { alpha })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::LeakyRelu { alpha } = op else {
        return Options::NONE;
    };
    let t = fb::LeakyReluOptions::create(fbb, &fb::LeakyReluOptionsArgs { alpha: *alpha });
    Options {
        kind: fb::BuiltinOptions::LeakyReluOptions,
        table: Some(t.as_union_value()),
    }
}

/// Same type and size in and out; int8 gets both rescales (TFLite's `LeakyReluPrepare`).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::LeakyRelu { alpha } = p.node.op else {
        return Err(p.err("options are not LeakyReluOptions"));
    };
    let (input, out) = (p.input(0)?, p.output());
    p.expect_same_len(input, out)?;
    match p.tensor(input).dtype {
        DType::F32 => {
            p.expect_dtype("output", out, DType::F32)?;
            Ok(Kernel::LeakyRelu {
                params: None,
                alpha,
            })
        }
        DType::I8 => {
            let (in_scale, in_zp) = p.int8_act("input", input)?;
            let (out_scale, out_zp) = p.int8_act("output", out)?;
            Ok(Kernel::LeakyRelu {
                params: Some(k::leaky_relu::prepare(
                    in_scale, in_zp, out_scale, out_zp, alpha,
                )),
                alpha,
            })
        }
        other => Err(p.err(format!(
            "input tensor {input}: expected float32 or int8, got {}",
            other.name()
        ))),
    }
}

/// Runs the int8 or float32 LEAKY_RELU.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    match (kernel, out) {
        (
            Kernel::LeakyRelu {
                params: Some(params),
                ..
            },
            Out::I8(o),
        ) => k::leaky_relu::leaky_relu(params, i8s(x), o),
        (
            Kernel::LeakyRelu {
                params: None,
                alpha,
            },
            Out::F32(o),
        ) => k::leaky_relu::leaky_relu_f32(*alpha, f32s(x), o),
        _ => {}
    }
}
