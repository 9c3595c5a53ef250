//! What AVERAGE_POOL_2D and MAX_POOL_2D share: `Pool2DOptions` import and
//! export, and the version.

use flatbuffers::FlatBufferBuilder;

use super::{activation_from_fb, activation_to_fb, padding_to_fb, positive, to_i32, Options};
use crate::graph::{Activation, Graph, Node, Op, Window};
use crate::schema as fb;

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

/// int8 pooling is version 2, float 1, as TF's converter writes them.
pub(super) fn version(_op: &Op, graph: &Graph, node: &Node) -> i32 {
    if super::float_input(graph, node) {
        1
    } else {
        2
    }
}
