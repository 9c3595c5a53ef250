//! STRIDED_SLICE: inputs (input, begin, end, strides): int8 or float32
//! tensors, or int32 shape vectors folded at prepare (see [`fold`](super::fold)).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

#[cfg(feature = "export")]
use super::Options;
use super::{fold, OpDef, Operands};
use crate::graph::{DType, Op};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, f32s, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::STRIDED_SLICE,
    inputs: 4..=4,
    operands: Operands::First(1),
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version: |_, _, _| 1,
    prepare,
    eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let o = op.builtin_options_as_strided_slice_options();
    let m = |f: fn(&fb::StridedSliceOptions<'_>) -> i32| o.as_ref().map_or(0, f);
    Ok(Op::StridedSlice {
        begin_mask: m(|o| o.begin_mask()),
        end_mask: m(|o| o.end_mask()),
        ellipsis_mask: m(|o| o.ellipsis_mask()),
        new_axis_mask: m(|o| o.new_axis_mask()),
        shrink_axis_mask: m(|o| o.shrink_axis_mask()),
        offset: o.as_ref().is_some_and(|o| o.offset()),
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::StridedSlice {
        begin_mask,
        end_mask,
        ellipsis_mask,
        new_axis_mask,
        shrink_axis_mask,
        offset,
    } = *op
    else {
        return Options::NONE;
    };
    let t = fb::StridedSliceOptions::create(
        fbb,
        &fb::StridedSliceOptionsArgs {
            begin_mask,
            end_mask,
            ellipsis_mask,
            new_axis_mask,
            shrink_axis_mask,
            offset,
        },
    );
    Options {
        kind: fb::BuiltinOptions::StridedSliceOptions,
        table: Some(t.as_union_value()),
    }
}

/// An int32 vector sliced by known begin, end and strides (one entry each),
/// as TFLite's `strided_slice` computes it on rank 1 (begin/end masks,
/// negative indices, `offset`, shrink to a scalar).
fn fold_vector(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::StridedSlice {
        begin_mask,
        end_mask,
        ellipsis_mask,
        new_axis_mask,
        shrink_axis_mask,
        offset,
    } = p.node.op
    else {
        return Err(p.err("not a STRIDED_SLICE node"));
    };
    let input = p.input(0)?;
    if p.tensor(input).shape.len() != 1 {
        return Err(p.err(format!(
            "input tensor {input}: expected a shape vector (rank 1), got shape {:?}",
            p.tensor(input).shape
        )));
    }
    if ellipsis_mask != 0 || new_axis_mask != 0 {
        return Err(p.err(format!(
            "ellipsis_mask {ellipsis_mask} and new_axis_mask {new_axis_mask} are not supported on shape vectors"
        )));
    }
    let values = fold::known_i32(p, "input", input)?;
    let mut bes = [0i32; 3];
    for (k, role) in [(1, "begin"), (2, "end"), (3, "strides")] {
        let t = p.input(k)?;
        let v = fold::known_i32(p, role, t)?;
        let [x] = v[..] else {
            return Err(p.err(format!(
                "{role} tensor {t} has {} values, expected 1",
                v.len()
            )));
        };
        bes[k - 1] = x;
    }
    let [begin, end, stride] = bes;
    if stride == 0 {
        return Err(p.err(format!("strides tensor {}: stride 0", p.input(3)?)));
    }
    let dim = values.len() as i64;
    let shrink = shrink_axis_mask & 1 != 0;
    let (b, e, s) = (i64::from(begin), i64::from(end), i64::from(stride));
    let clamp = |x: i64, lo: i64, hi: i64| x.max(lo).min(hi);
    let norm = |x: i64| if x < 0 { x + dim } else { x };
    let start = if begin_mask & 1 != 0 && !shrink {
        if s > 0 {
            0
        } else {
            dim - 1
        }
    } else if s > 0 {
        clamp(norm(b), 0, dim)
    } else {
        clamp(norm(b), -1, dim - 1)
    };
    let stop = if shrink {
        start + 1
    } else if end_mask & 1 != 0 {
        if s > 0 {
            dim
        } else {
            -1
        }
    } else {
        let e = if offset { b + e } else { e };
        if s > 0 {
            clamp(norm(e), 0, dim)
        } else {
            clamp(norm(e), -1, dim - 1)
        }
    };
    if shrink && !(0..dim).contains(&start) {
        return Err(p.err(format!(
            "begin {begin} out of range for input tensor {input} of {dim} values"
        )));
    }
    let mut value = Vec::new();
    let mut i = start;
    while (s > 0 && i < stop) || (s < 0 && i > stop) {
        value.push(values[i as usize]);
        i += s;
    }
    let shape = if shrink { vec![] } else { vec![value.len()] };
    fold::folded(p, value, shape)
}

/// int8 or float32 input sliced by known begin, end and strides with all of
/// TFLite's masks (`kernels_int8::strided_slice`); int32 shape vectors are
/// folded.
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let out = p.output();
    let dtype = p.tensor(out).dtype;
    if dtype == DType::I32 {
        return fold_vector(p);
    }
    let Op::StridedSlice {
        begin_mask,
        end_mask,
        ellipsis_mask,
        new_axis_mask,
        shrink_axis_mask,
        offset,
    } = p.node.op
    else {
        return Err(p.err("not a STRIDED_SLICE node"));
    };
    let input = p.input(0)?;
    if !matches!(dtype, DType::I8 | DType::F32) {
        return Err(p.err(format!(
            "output tensor {out}: expected int8, float32 or int32, got {}",
            dtype.name()
        )));
    }
    p.expect_dtype("input", input, dtype)?;
    if dtype == DType::I8 && p.int8_act("input", input)? != p.int8_act("output", out)? {
        return Err(p.err(format!(
            "output tensor {out} quantization differs from input tensor {input}"
        )));
    }
    let begin = fold::known_i32(p, "begin", p.input(1)?)?;
    let end = fold::known_i32(p, "end", p.input(2)?)?;
    let strides = fold::known_i32(p, "strides", p.input(3)?)?;
    let shape = p.tensor(input).shape.to_vec();
    let mask = |m: i32| m as u32;
    let spec = k::strided_slice::prepare(
        &shape,
        &k::strided_slice::StridedSliceAttrs {
            begin: &begin,
            end: &end,
            strides: &strides,
            begin_mask: mask(begin_mask),
            end_mask: mask(end_mask),
            ellipsis_mask: mask(ellipsis_mask),
            new_axis_mask: mask(new_axis_mask),
            shrink_axis_mask: mask(shrink_axis_mask),
            offset,
        },
    )
    .map_err(|e| {
        p.err(format!(
            "begin {begin:?}, end {end:?}, strides {strides:?} on input tensor {input} {shape:?}: {e:?}"
        ))
    })?;
    p.resize_output(spec.output_shape[..spec.output_rank].to_vec());
    Ok(Kernel::Slice { spec, shape })
}

/// Runs STRIDED_SLICE.
fn eval(kernel: &Kernel, ins: &[In<'_>], outs: &mut [Out<'_>], _: &mut [i8], _: Kernels) {
    let Some((x, _, out)) = args(ins, outs) else {
        return;
    };
    let Kernel::Slice { spec, shape } = kernel else {
        return;
    };
    match out {
        Out::I8(o) => k::strided_slice::strided_slice(spec, shape, i8s(x), o),
        Out::F32(o) => k::strided_slice::strided_slice(spec, shape, f32s(x), o),
    }
}
