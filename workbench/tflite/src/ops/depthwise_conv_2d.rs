//! DEPTHWISE_CONV_2D: inputs (input, filter 1HW(I*M), bias?).

use alloc::format;
use alloc::string::String;
#[cfg(feature = "export")]
use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, positive, OpDef, Operands};
#[cfg(feature = "export")]
use super::{activation_to_fb, padding_to_fb, to_i32, Options};
use crate::graph::Op;
#[cfg(feature = "export")]
use crate::graph::{Graph, Node};
use crate::prepare::{args, i8s, In, Kernel, Kernels, Out, Prep};
use crate::schema as fb;
use kernels_int8 as k;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::DEPTHWISE_CONV_2D,
    inputs: 2..=3,
    operands: Operands::First(2),
    outputs: 1..=1,
    import,
    #[cfg(feature = "export")]
    export,
    #[cfg(feature = "export")]
    version,
    prepare,
    eval,
};

fn import(op: &fb::Operator<'_>) -> Result<Op, String> {
    let o = op
        .builtin_options_as_depthwise_conv_2_doptions()
        .ok_or("missing DepthwiseConv2DOptions")?;
    Ok(Op::DepthwiseConv2d {
        window: super::window_from_fb(o.padding(), o.stride_w(), o.stride_h())?,
        dilation_w: positive("dilation_w_factor", o.dilation_w_factor())?,
        dilation_h: positive("dilation_h_factor", o.dilation_h_factor())?,
        depth_multiplier: positive("depth_multiplier", o.depth_multiplier())?,
        activation: activation_from_fb(o.fused_activation_function())?,
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::DepthwiseConv2d {
        window,
        dilation_w,
        dilation_h,
        depth_multiplier,
        activation,
    } = op
    else {
        return Options::NONE;
    };
    let t = fb::DepthwiseConv2DOptions::create(
        fbb,
        &fb::DepthwiseConv2DOptionsArgs {
            padding: padding_to_fb(window.padding),
            stride_w: to_i32(window.stride_w),
            stride_h: to_i32(window.stride_h),
            depth_multiplier: to_i32(*depth_multiplier),
            fused_activation_function: activation_to_fb(*activation),
            dilation_w_factor: to_i32(*dilation_w),
            dilation_h_factor: to_i32(*dilation_h),
        },
    );
    Options {
        kind: fb::BuiltinOptions::DepthwiseConv2DOptions,
        table: Some(t.as_union_value()),
    }
}

#[cfg(feature = "export")]
/// int8 depthwise convolutions are version 3; hybrid ones 6 per channel (4
/// per tensor); float ones 1, or 2 when dilated, as TF's converter writes them.
fn version(op: &Op, graph: &Graph, node: &Node) -> i32 {
    if super::float_input(graph, node) {
        match super::hybrid_scales(graph, node) {
            Some(n) if n > 1 => return 6,
            Some(_) => return 4,
            None => {}
        }
    }
    match op {
        Op::DepthwiseConv2d {
            dilation_w,
            dilation_h,
            ..
        } if super::float_input(graph, node) => {
            if *dilation_w != 1 || *dilation_h != 1 {
                2
            } else {
                1
            }
        }
        _ => 3,
    }
}

/// Per-channel int8 depthwise convolution (TFLite's `depthwise_conv.cc` Prepare).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::DepthwiseConv2d {
        window,
        dilation_w,
        dilation_h,
        depth_multiplier: _,
        activation,
    } = &p.node.op
    else {
        return Err(p.err("options are not DepthwiseConv2DOptions"));
    };
    if p.tensor(p.input(0)?).dtype == crate::graph::DType::F32 {
        return super::float::conv(p, window, *dilation_h, *dilation_w, *activation, true);
    }
    let o = p.conv_operands()?;
    if o.fshape.n != 1 || o.ishape.c == 0 || !o.fshape.c.is_multiple_of(o.ishape.c) {
        return Err(p.err(format!(
            "filter tensor {} has shape {:?}, expected [1, h, w, {} * multiplier] for input tensor {}",
            o.filter,
            p.tensor(o.filter).shape,
            o.ishape.c,
            o.input
        )));
    }
    // TFLite derives the multiplier from the shapes; the option is redundant.
    let depth_multiplier = o.fshape.c / o.ishape.c;
    let (dilation_h, dilation_w) = (*dilation_h, *dilation_w);
    let (conv, c) = p.conv_prepare(&o, window, dilation_h, dilation_w, *activation, 3)?;
    Ok(Kernel::Depthwise {
        params: k::depthwise_conv_2d::DepthwiseParams {
            input_offset: -o.in_zp,
            output_offset: o.out_zp,
            stride_w: window.stride_w,
            stride_h: window.stride_h,
            dilation_w,
            dilation_h,
            padding_w: c.padding_w,
            padding_h: c.padding_h,
            depth_multiplier,
            activation_min: c.activation_min,
            activation_max: c.activation_max,
        },
        conv,
    })
}

/// Runs DEPTHWISE_CONV_2D.
fn eval(
    kernel: &Kernel,
    ins: &[In<'_>],
    outs: &mut [Out<'_>],
    scratch: &mut [i8],
    kernels: Kernels,
) {
    let Some((x, y, out)) = args(ins, outs) else {
        return;
    };
    let out = match kernel {
        Kernel::Float { .. } => {
            super::float::eval(kernel, x, y, out);
            return;
        }
        Kernel::Hybrid { .. } => {
            super::float::eval_hybrid(kernel, x, y, out, scratch);
            return;
        }
        _ => out,
    };
    let (Kernel::Depthwise { params, conv: c }, Out::I8(o)) = (kernel, out) else {
        return;
    };
    let (m, s, b) = (&c.multiplier, &c.shift, c.bias.as_deref());
    let (xs, fs, ys) = (c.input_shape, c.filter_shape, c.output_shape);
    if kernels == Kernels::Optimized {
        k::depthwise_conv_2d::depthwise_conv_per_channel_fast(
            params,
            m,
            s,
            xs,
            i8s(x),
            fs,
            i8s(y),
            b,
            ys,
            o,
            scratch,
        )
    } else {
        k::depthwise_conv_2d::depthwise_conv_per_channel(
            params,
            m,
            s,
            xs,
            i8s(x),
            fs,
            i8s(y),
            b,
            ys,
            o,
        )
    }
}
