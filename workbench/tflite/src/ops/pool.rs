//! What AVERAGE_POOL_2D and MAX_POOL_2D share: `Pool2DOptions` import and
//! export, the version, and the preparation.

#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, positive};
#[cfg(feature = "export")]
use super::{activation_to_fb, padding_to_fb, to_i32, Options};
use crate::graph::{Activation, Op, Window};
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use alloc::format;
use alloc::string::String;
use kernels_int8 as k;
use kernels_int8::Dims4;

/// The options of a pooling op.
pub(super) struct Pool {
    /// Padding and strides.
    pub window: Window,
    /// Window width.
    pub filter_w: usize,
    /// Window height.
    pub filter_h: usize,
    /// Fused activation.
    pub activation: Activation,
}

/// Reads an operator's `Pool2DOptions`.
pub(super) fn import(op: &fb::Operator<'_>) -> Result<Pool, String> {
    let o = op
        .builtin_options_as_pool_2_doptions()
        .ok_or("missing Pool2DOptions")?;
    Ok(Pool {
        window: super::window_from_fb(o.padding(), o.stride_w(), o.stride_h())?,
        filter_w: positive("filter_width", o.filter_width())?,
        filter_h: positive("filter_height", o.filter_height())?,
        activation: activation_from_fb(o.fused_activation_function())?,
    })
}

#[cfg(feature = "export")]
/// Writes the `Pool2DOptions` of either pooling op.
pub(super) fn export(
    op: &Op,
    _graph: &Graph,
    _node: &Node,
    fbb: &mut FlatBufferBuilder<'_>,
) -> Options {
    let (Op::AveragePool2d {
        window,
        filter_w,
        filter_h,
        activation,
    }
    | Op::MaxPool2d {
        window,
        filter_w,
        filter_h,
        activation,
    }) = op
    else {
        return Options::NONE;
    };
    let t = fb::Pool2DOptions::create(
        fbb,
        &fb::Pool2DOptionsArgs {
            padding: padding_to_fb(window.padding),
            stride_w: to_i32(window.stride_w),
            stride_h: to_i32(window.stride_h),
            filter_width: to_i32(*filter_w),
            filter_height: to_i32(*filter_h),
            fused_activation_function: activation_to_fb(*activation),
        },
    );
    Options {
        kind: fb::BuiltinOptions::Pool2DOptions,
        table: Some(t.as_union_value()),
    }
}

#[cfg(feature = "export")]
/// int8 pooling is version 2, float 1, as TF's converter writes them.
pub(super) fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    if super::float_input(graph, node) {
        1
    } else {
        2
    }
}

/// int8 pooling: the output keeps the input's quantization (TFLite's `pooling.cc` Prepare).
pub(super) fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let (Op::MaxPool2d {
        window,
        filter_w,
        filter_h,
        activation,
    }
    | Op::AveragePool2d {
        window,
        filter_w,
        filter_h,
        activation,
    }) = &p.node.op
    else {
        return Err(p.err("options are not Pool2DOptions"));
    };
    let (input, out) = (p.input(0)?, p.output());
    if p.tensor(input).dtype == crate::graph::DType::F32 {
        let max = matches!(p.node.op, Op::MaxPool2d { .. });
        return super::float::pool(p, window, *filter_h, *filter_w, *activation, max);
    }
    let (in_scale, in_zp) = p.int8_act("input", input)?;
    let (out_scale, out_zp) = p.int8_act("output", out)?;
    // pooling.cc: quantized pools keep the input's parameters.
    if (in_scale - out_scale).abs() > 1e-6 || in_zp != out_zp {
        return Err(p.err(format!(
            "output tensor {out} quantization ({out_scale}, {out_zp}) differs from input tensor {input} ({in_scale}, {in_zp})"
        )));
    }
    let ishape = p.dims4("input", input)?;
    let s = p.spatial(window, ishape, *filter_h, *filter_w, 1, 1)?;
    let oshape = Dims4::new(ishape.n, s.out_h, s.out_w, ishape.c);
    p.expect_shape(out, oshape)?;
    let (activation_min, activation_max) = p.activation(*activation, out_scale, out_zp);
    Ok(Kernel::Pool {
        max: matches!(p.node.op, Op::MaxPool2d { .. }),
        params: k::max_pool_2d::PoolParams {
            stride_w: window.stride_w,
            stride_h: window.stride_h,
            filter_w: *filter_w,
            filter_h: *filter_h,
            padding_w: s.padding_w,
            padding_h: s.padding_h,
            activation_min,
            activation_max,
        },
        input_shape: ishape,
        output_shape: oshape,
    })
}

/// Runs MAX_POOL_2D or AVERAGE_POOL_2D.
pub(super) fn eval(
    kernel: &Kernel,
    ins: &[In<'_>],
    outs: &mut [Out<'_>],
    _: &mut [i8],
    _: Kernels,
) {
    let Some((x, y, out)) = args(ins, outs) else {
        return;
    };
    if let Kernel::Float { .. } = kernel {
        super::float::eval(kernel, x, y, out);
        return;
    }
    let (
        Kernel::Pool {
            max,
            params,
            input_shape,
            output_shape,
        },
        Out::I8(o),
    ) = (kernel, out)
    else {
        return;
    };
    let f = if *max {
        k::max_pool_2d::max_pool
    } else {
        k::average_pool_2d::average_pool
    };
    f(params, *input_shape, i8s(x), *output_shape, o);
}
