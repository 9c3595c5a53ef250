//! MEAN and SUM: inputs (input, axes); int8 (TFLite's paths, see
//! `kernels_int8::mean` and `kernels_int8::sum`) or float32.

use alloc::format;

#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use kernels_int8 as k;
use kernels_int8::reduce::MAX_DIMS;

#[cfg(feature = "export")]
use super::Options;
use super::{fold, OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep, ReducePath};
use crate::schema as fb;

/// Registry entry for MEAN.
pub(crate) const MEAN: OpDef = OpDef {
    code: fb::BuiltinOperator::MEAN,
    inputs: 2..=2,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |o| {
        Ok(Op::Mean {
            keep_dims: keep_dims(o),
        })
    },
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

/// Registry entry for SUM.
pub(crate) const SUM: OpDef = OpDef {
    code: fb::BuiltinOperator::SUM,
    inputs: 2..=2,
    operands: Operands::First(1),
    outputs: 1..=1,
    import: |o| {
        Ok(Op::Sum {
            keep_dims: keep_dims(o),
        })
    },
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: super::version_int8_2,
    prepare,
    eval,
};

fn keep_dims(op: &fb::Operator<'_>) -> bool {
    op.builtin_options_as_reducer_options()
        .is_some_and(|o| o.keep_dims())
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let (Op::Mean { keep_dims } | Op::Sum { keep_dims }) = *op else {
        return Options::NONE;
    };
    let t = fb::ReducerOptions::create(fbb, &fb::ReducerOptionsArgs { keep_dims });
    Options {
        kind: fb::BuiltinOptions::ReducerOptions,
        table: Some(t.as_union_value()),
    }
}

/// Same type in and out, known axes in range; the output resized to the
/// reduced shape (TFLite's `ResizeOutputTensor`); TFLite's int8 path chosen.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (sum, keep_dims) = match p.node.op {
        Op::Mean { keep_dims } => (false, keep_dims),
        Op::Sum { keep_dims } => (true, keep_dims),
        _ => return Err(p.err("not a MEAN or SUM node")),
    };
    let (input, axes_t, out) = (p.input(0)?, p.input(1)?, p.output());
    let dtype = p.int8_or_f32(input)?;
    p.expect_dtype("output", out, dtype)?;
    let shape = p.tensor(input).shape.to_vec();
    let rank = shape.len();
    if rank == 0 || rank > MAX_DIMS {
        return Err(p.err(format!(
            "input tensor {input}: rank {rank} is not supported (1 to {MAX_DIMS})"
        )));
    }
    let axes = fold::known_i32(p, "axis", axes_t)?;
    for &a in &axes {
        fold::axis(p, "axis", a, rank)?;
    }
    let mask = k::reduce::axis_mask(rank, &axes)
        .ok_or_else(|| p.err(format!("axis tensor {axes_t}: axes {axes:?} out of range")))?;
    let mut dims = [0usize; MAX_DIMS];
    let n = k::reduce::output_shape(&shape, &mask, keep_dims, &mut dims);
    let out_shape = dims[..n].to_vec();
    let out_len: usize = out_shape.iter().product();
    let count = k::reduce::reduced_count(&shape, &mask);
    if count == 0 {
        return Err(p.err(format!("input tensor {input} {shape:?} is empty")));
    }
    p.resize_output(out_shape);
    let path = if dtype == DType::F32 {
        ReducePath::F32
    } else {
        let (si, zi) = p.int8_act("input", input)?;
        let (so, zo) = p.int8_act("output", out)?;
        if sum {
            if si == so && zi == zo {
                ReducePath::SumSame
            } else {
                let (multiplier, shift) = k::sum::prepare(si, so);
                ReducePath::SumRescale {
                    multiplier,
                    shift,
                    input_zero_point: zi,
                    output_zero_point: zo,
                }
            }
        } else {
            let (multiplier, shift) = k::mean::prepare_rescale(si, so, count);
            ReducePath::MeanRescale {
                multiplier,
                shift,
                input_zero_point: zi,
                output_zero_point: zo,
            }
        }
    };
    Ok(Kernel::Reduce {
        sum,
        shape,
        mask,
        path,
        out_len,
    })
}

/// The i32 sums a path needs, carved from the int8 scratch (see
/// [`Prepared::scratch_len`](crate::Prepared::scratch_len)).
fn sums(scratch: &mut [i8], n: usize) -> &mut [i32] {
    // SAFETY: every bit pattern is a valid i32; `align_to_mut` only views the
    // aligned middle of the bytes.
    let (_, mid, _) = unsafe { scratch.align_to_mut::<i32>() };
    let n = n.min(mid.len());
    &mut mid[..n]
}

/// Runs MEAN or SUM.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], scratch: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::Reduce {
        sum,
        shape,
        mask,
        path,
        out_len,
    } = kernel
    else {
        return;
    };
    match (out, *path) {
        (Out::F32(o), ReducePath::F32) => {
            if *sum {
                k::sum::sum_f32(shape, mask, f32s(x), o);
            } else {
                k::mean::mean_f32(shape, mask, f32s(x), o);
            }
        }
        (Out::I8(o), ReducePath::SumSame) => k::sum::sum_same_quantization(shape, mask, i8s(x), o),
        (
            Out::I8(o),
            ReducePath::SumRescale {
                multiplier,
                shift,
                input_zero_point,
                output_zero_point,
            },
        ) => k::sum::sum_rescale(
            multiplier,
            shift,
            input_zero_point,
            output_zero_point,
            shape,
            mask,
            i8s(x),
            sums(scratch, *out_len),
            o,
        ),
        (
            Out::I8(o),
            ReducePath::MeanRescale {
                multiplier,
                shift,
                input_zero_point,
                output_zero_point,
            },
        ) => k::mean::mean_rescale(
            multiplier,
            shift,
            input_zero_point,
            output_zero_point,
            shape,
            mask,
            i8s(x),
            sums(scratch, *out_len),
            o,
        ),
        _ => {}
    }
}
