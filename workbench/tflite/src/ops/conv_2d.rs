//! CONV_2D: inputs (input, filter OHWI, bias?).

use flatbuffers::FlatBufferBuilder;

use super::{
    activation_from_fb, activation_to_fb, padding_to_fb, positive, to_i32, OpDef, Options,
};
use crate::graph::{Graph, Node, Op};
use crate::schema as fb;

/// Registry entry.
pub(crate) const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::CONV_2D,
    inputs: 2..=3,
    import,
    export,
    version,
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

/// int8 convolutions (per-channel filters) are version 3, float ones 1, as TF's converter writes them.
fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    if super::float_input(graph, node) {
        1
    } else {
        3
    }
}
