//! Window arithmetic, buffer checks and the int8 output stage shared by the
//! convolutions (CONV_2D, DEPTHWISE_CONV_2D) and pools (MAX_POOL_2D, AVERAGE_POOL_2D).

use crate::max_pool_2d::PoolParams;
use crate::requant::multiply_by_quantized_multiplier;
use crate::Dims4;

/// Input coordinate of the first tap of output position `out` along one axis
/// (negative inside the leading padding).
#[inline(always)]
pub(crate) fn origin(out: usize, stride: usize, padding: usize) -> isize {
    (out * stride) as isize - padding as isize
}

/// The in-bounds filter positions `[start, end)` of output position `out` along
/// one axis (undilated filter), with the window's input origin.
#[inline(always)]
pub(crate) fn clipped(
    out: usize,
    stride: usize,
    padding: usize,
    filter: usize,
    input: usize,
) -> (usize, usize, isize) {
    let origin = origin(out, stride, padding);
    let start = (-origin).max(0) as usize;
    let end = (input as isize - origin).clamp(0, filter as isize) as usize;
    (start.min(end), end, origin)
}

/// The filter positions `[start, end)` of a window starting at input coordinate
/// `origin` whose taps, `dilation` apart, fall inside `0..input`.
#[inline(always)]
#[cfg_attr(
    not(all(target_arch = "arm", feature = "armv7em-dsp")),
    allow(dead_code)
)]
pub(crate) fn in_bounds_taps(
    origin: isize,
    dilation: usize,
    filter: usize,
    input: usize,
) -> (usize, usize) {
    let d = dilation as isize;
    // Smallest f with origin + d * f >= 0, and the first f with origin + d * f >= input.
    let start = if origin < 0 { (-origin + d - 1) / d } else { 0 };
    let end = (input as isize - origin + d - 1).max(0) / d;
    let end = end.min(filter as isize) as usize;
    ((start as usize).min(end), end)
}

/// Requantizes one accumulator to int8: per-channel multiplier and shift, the
/// output zero point, then the activation clamp.
#[inline(always)]
pub(crate) fn requantize(
    acc: i32,
    multiplier: i32,
    shift: i32,
    output_offset: i32,
    activation_min: i32,
    activation_max: i32,
) -> i8 {
    let acc = multiply_by_quantized_multiplier(acc, multiplier, shift).wrapping_add(output_offset);
    acc.max(activation_min).min(activation_max) as i8
}

/// Debug checks common to the per-channel convolutions: buffer lengths match
/// their shapes, and there is a multiplier, shift (and bias) per output channel.
#[inline(always)]
pub(crate) fn check_conv_buffers(
    output_multiplier: &[i32],
    output_shift: &[i32],
    input_shape: Dims4,
    input: &[i8],
    filter_shape: Dims4,
    filter: &[i8],
    bias: Option<&[i32]>,
    output_shape: Dims4,
    output: &[i8],
) {
    debug_assert_eq!(input.len(), input_shape.flat_size());
    debug_assert_eq!(filter.len(), filter_shape.flat_size());
    debug_assert_eq!(output.len(), output_shape.flat_size());
    debug_assert!(output_multiplier.len() >= output_shape.c);
    debug_assert!(output_shift.len() >= output_shape.c);
    if let Some(b) = bias {
        debug_assert!(b.len() >= output_shape.c);
    }
    let _ = (output_multiplier, output_shift, input, filter, bias, output);
}

/// Debug checks common to the pools: buffer lengths match their shapes, and the
/// output keeps the input's batch and channels.
#[inline(always)]
pub(crate) fn check_pool_buffers(
    input_shape: Dims4,
    input: &[i8],
    output_shape: Dims4,
    output: &[i8],
) {
    debug_assert_eq!(input.len(), input_shape.flat_size());
    debug_assert_eq!(output.len(), output_shape.flat_size());
    debug_assert_eq!(input_shape.n, output_shape.n);
    debug_assert_eq!(input_shape.c, output_shape.c);
    let _ = (input, output);
}

/// The in-bounds part of one pool window: input rows `y0..y0 + ny` and columns
/// `x0..x0 + nx` (`ny` or `nx` is 0 when the window lies wholly in the padding;
/// `y0`, `x0` are then meaningless).
#[derive(Clone, Copy)]
pub(crate) struct PoolWindow {
    pub y0: usize,
    pub ny: usize,
    pub x0: usize,
    pub nx: usize,
}

/// Calls `f(b, pixel, window)` for every output position of a pool, in NHWC
/// order (`pixel` counts them: the outputs start at `pixel * depth`), with the
/// in-bounds part of its window.
#[inline(always)]
pub(crate) fn pool_windows(
    params: &PoolParams,
    input_shape: Dims4,
    output_shape: Dims4,
    mut f: impl FnMut(usize, usize, PoolWindow),
) {
    let (sh, ph, fh) = (params.stride_h, params.padding_h, params.filter_h);
    let (sw, pw, fw) = (params.stride_w, params.padding_w, params.filter_w);
    let mut pixel = 0;
    for b in 0..output_shape.n {
        for out_y in 0..output_shape.h {
            let (fy0, fy1, in_y0) = clipped(out_y, sh, ph, fh, input_shape.h);
            // Wrapping: an empty window may start in the padding.
            let (y0, ny) = ((in_y0 + fy0 as isize) as usize, fy1 - fy0);
            for out_x in 0..output_shape.w {
                let (fx0, fx1, in_x0) = clipped(out_x, sw, pw, fw, input_shape.w);
                let (x0, nx) = ((in_x0 + fx0 as isize) as usize, fx1 - fx0);
                f(b, pixel, PoolWindow { y0, ny, x0, nx });
                pixel += 1;
            }
        }
    }
}
