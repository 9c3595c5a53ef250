//! CONV_2D: inputs (input, filter OHWI, bias?).

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
    code: fb::BuiltinOperator::CONV_2D,
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
        .builtin_options_as_conv_2_doptions()
        .ok_or("missing Conv2DOptions")?;
    Ok(Op::Conv2d {
        window: super::window_from_fb(o.padding(), o.stride_w(), o.stride_h())?,
        dilation_w: positive("dilation_w_factor", o.dilation_w_factor())?,
        dilation_h: positive("dilation_h_factor", o.dilation_h_factor())?,
        activation: activation_from_fb(o.fused_activation_function())?,
    })
}

#[cfg(feature = "export")]
fn export(op: &Op, _graph: &Graph, _node: &Node, fbb: &mut FlatBufferBuilder<'_>) -> Options {
    let Op::Conv2d {
        window,
        dilation_w,
        dilation_h,
        activation,
    } = op
    else {
        return Options::NONE;
    };
    let t = fb::Conv2DOptions::create(
        fbb,
        &fb::Conv2DOptionsArgs {
            padding: padding_to_fb(window.padding),
            stride_w: to_i32(window.stride_w),
            stride_h: to_i32(window.stride_h),
            fused_activation_function: activation_to_fb(*activation),
            dilation_w_factor: to_i32(*dilation_w),
            dilation_h_factor: to_i32(*dilation_h),
            ..Default::default()
        },
    );
    Options {
        kind: fb::BuiltinOptions::Conv2DOptions,
        table: Some(t.as_union_value()),
    }
}

#[cfg(feature = "export")]
/// int8 convolutions (per-channel filters) are version 3, float ones 1, hybrid
/// ones 5 per channel or 2 per tensor, as TF's converter writes them.
fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    if !super::float_input(graph, node) {
        return 3;
    }
    match super::hybrid_scales(graph, node) {
        Some(n) if n > 1 => 5,
        Some(_) => 2,
        None => 1,
    }
}

/// Per-channel int8 convolution (TFLite's `conv.cc` Prepare).
fn prepare(p: &Prep<'_>) -> crate::error::Result<Kernel> {
    let Op::Conv2d {
        window,
        dilation_w,
        dilation_h,
        activation,
    } = &p.node.op
    else {
        return Err(p.err("options are not Conv2DOptions"));
    };
    if p.tensor(p.input(0)?).dtype == crate::graph::DType::F32 {
        return super::float::conv(p, window, *dilation_h, *dilation_w, *activation, false);
    }
    let o = p.conv_operands()?;
    if o.fshape.c != o.ishape.c {
        return Err(p.err(format!(
            "filter tensor {} has {} input channels, input tensor {} has {}",
            o.filter, o.fshape.c, o.input, o.ishape.c
        )));
    }
    let (dilation_h, dilation_w) = (*dilation_h, *dilation_w);
    let (conv, c) = p.conv_prepare(&o, window, dilation_h, dilation_w, *activation, 0)?;
    Ok(Kernel::Conv {
        params: k::conv_2d::ConvParams {
            input_offset: -o.in_zp,
            output_offset: o.out_zp,
            stride_w: window.stride_w,
            stride_h: window.stride_h,
            dilation_w,
            dilation_h,
            padding_w: c.padding_w,
            padding_h: c.padding_h,
            activation_min: c.activation_min,
            activation_max: c.activation_max,
        },
        conv,
    })
}

/// Runs CONV_2D: the reference loop or im2col + dot.
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
    let (Kernel::Conv { params, conv: c }, Out::I8(o)) = (kernel, out) else {
        return;
    };
    if kernels == Kernels::Optimized {
        k::conv_2d::conv_per_channel_fast(
            params,
            &c.multiplier,
            &c.shift,
            c.input_shape,
            i8s(x),
            c.filter_shape,
            i8s(y),
            c.bias.as_deref(),
            c.output_shape,
            o,
            scratch,
        );
    } else {
        k::conv_2d::conv_per_channel(
            params,
            &c.multiplier,
            &c.shift,
            c.input_shape,
            i8s(x),
            c.filter_shape,
            i8s(y),
            c.bias.as_deref(),
            c.output_shape,
            o,
        );
    }
}
