//! PAD and PADV2: inputs (input, paddings, constant_values? for PADV2), no
//! options. The paddings (int32 or int64 `[rank, 2]`) and the constant are
//! read at prepare; int8 keeps the input's quantization (TFLite's `pad.cc`)
//! and pads with the output zero point (PAD) or the quantized constant.

use alloc::format;
use alloc::vec::Vec;
use kernels_int8 as k;

#[cfg(feature = "export")]
use super::no_options;
use super::{OpDef, Operands};
use crate::graph::{DType, Op};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;

/// Registry entry of PAD.
pub(crate) const PAD: OpDef = OpDef {
    code: fb::BuiltinOperator::PAD,
    inputs: 2..=2,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::Pad),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Registry entry of PADV2.
pub(crate) const PADV2: OpDef = OpDef {
    code: fb::BuiltinOperator::PADV2,
    inputs: 2..=3,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |_| Ok(Op::PadV2),
    #[cfg(feature = "export")]
    export: no_options,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Reads a constant int32 or int64 tensor's values.
fn ints(p: &Prep<'_>, role: &str, t: usize) -> crate::error::Result<Vec<i64>> {
    p.expect_const(role, t)?;
    let tensor = p.tensor(t);
    let data = tensor.data.unwrap_or_default();
    Ok(match tensor.dtype {
        DType::I32 => data
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        DType::I64 => data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        other => {
            return Err(p.err(format!(
                "{role} tensor {t}: expected int32 or int64, got {}",
                other.name()
            )))
        }
    })
}

/// Checks the paddings and output shape; reads the fill value.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (input, pads, out) = (p.input(0)?, p.input(1)?, p.output());
    let shape = p.tensor(input).shape;
    let rank = shape.len();
    if rank > k::pad::MAX_DIMS {
        return Err(p.err(format!(
            "input tensor {input}: rank {rank} is above {}",
            k::pad::MAX_DIMS
        )));
    }
    let values = ints(p, "paddings", pads)?;
    if p.tensor(pads).shape != [rank, 2] || values.len() != 2 * rank {
        return Err(p.err(format!(
            "paddings tensor {pads}: expected shape [{rank}, 2], got {:?}",
            p.tensor(pads).shape
        )));
    }
    let mut paddings = Vec::with_capacity(rank);
    let mut out_shape = Vec::with_capacity(rank);
    for (d, pair) in values.chunks_exact(2).enumerate() {
        let (Ok(before), Ok(after)) = (usize::try_from(pair[0]), usize::try_from(pair[1])) else {
            return Err(p.err(format!(
                "paddings tensor {pads}: dimension {d} has negative padding {pair:?}"
            )));
        };
        paddings.push((before, after));
        out_shape.push(shape[d].saturating_add(before).saturating_add(after));
    }
    if p.tensor(out).shape != &out_shape[..] {
        return Err(p.err(format!(
            "output tensor {out} has shape {:?}, expected {out_shape:?}",
            p.tensor(out).shape
        )));
    }
    let constant = match p.node.inputs.get(2).copied().flatten() {
        Some(c) if matches!(p.node.op, Op::PadV2) => {
            p.expect_const("constant_values", c)?;
            if p.tensor(c).num_elements() != 1 {
                return Err(p.err(format!(
                    "constant_values tensor {c}: expected 1 value, got {}",
                    p.tensor(c).num_elements()
                )));
            }
            Some(c)
        }
        _ => None,
    };
    let dtype = p.tensor(input).dtype;
    p.expect_dtype("output", out, dtype)?;
    let (mut value_i8, mut value_f32) = (0, 0.0);
    match dtype {
        DType::I8 => {
            let (in_scale, in_zp) = p.int8_act("input", input)?;
            let (out_scale, out_zp) = p.int8_act("output", out)?;
            if in_scale != out_scale || in_zp != out_zp {
                return Err(p.err(format!(
                    "output tensor {out} quantization ({out_scale}, {out_zp}) differs from input tensor {input} ({in_scale}, {in_zp})"
                )));
            }
            value_i8 = out_zp as i8;
            if let Some(c) = constant {
                let (c_scale, c_zp) = p.int8_act("constant_values", c)?;
                if c_scale != out_scale || c_zp != out_zp {
                    return Err(p.err(format!(
                        "constant_values tensor {c} quantization ({c_scale}, {c_zp}) differs from output tensor {out} ({out_scale}, {out_zp})"
                    )));
                }
                value_i8 = p.tensor(c).data.unwrap_or_default()[0] as i8;
            }
        }
        DType::F32 => {
            if let Some(c) = constant {
                p.expect_dtype("constant_values", c, DType::F32)?;
                let d = p.tensor(c).data.unwrap_or_default();
                value_f32 = f32::from_le_bytes([d[0], d[1], d[2], d[3]]);
            }
        }
        other => {
            return Err(p.err(format!(
                "input tensor {input}: expected float32 or int8, got {}",
                other.name()
            )))
        }
    }
    Ok(Kernel::Pad {
        shape: shape.to_vec(),
        paddings,
        value_i8,
        value_f32,
    })
}

/// Runs PAD on int8 or float32 values.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::Pad {
        shape,
        paddings,
        value_i8,
        value_f32,
    } = kernel
    else {
        return;
    };
    match out {
        Out::I8(o) => k::pad::pad(shape, paddings, *value_i8, i8s(x), o),
        Out::F32(o) => k::pad::pad(shape, paddings, *value_f32, f32s(x), o),
    }
}
