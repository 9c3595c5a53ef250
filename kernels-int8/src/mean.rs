//! MEAN, int8 and f32 (TFLite's `reduce.cc` `EvalMean` with the reference kernels).
//!
//! TFLite's int8 MEAN takes one of three paths, chosen at prepare time; the
//! caller picks the matching function here:
//! - 4-D input, `keep_dims`, axes {1, 2} (what GlobalAveragePooling2D makes):
//!   [`mean_spatial`] (`reference_integer_ops::Mean`): the zero-point-corrected
//!   sum is rescaled by `s_in / s_out` (double rounding), then divided by the
//!   element count rounding half away from zero;
//! - same input and output scale and zero point: [`mean_same_quantization`]
//!   (the raw integers summed in i32 and divided, truncating);
//! - otherwise: [`mean_rescale`] (`QuantizedMeanOrSum`): the zero-point-corrected
//!   sum times one multiplier with `1 / count` folded in ([`prepare_rescale`]).

use crate::reduce::{for_each, reduced_count, MAX_DIMS};
use crate::requant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// Which int8 MEAN path TFLite takes (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeanPath {
    /// 4-D, keep_dims, axes {1, 2}: [`mean_spatial`].
    Spatial,
    /// Input and output share scale and zero point: [`mean_same_quantization`].
    SameQuantization,
    /// Everything else: [`mean_rescale`].
    Rescale,
}

/// Chooses TFLite's int8 MEAN path from the op's attributes (axes as given in the model).
pub fn path(
    rank: usize,
    axes: &[i32],
    keep_dims: bool,
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
) -> MeanPath {
    // TFLite compares the axes as written (no negative-axis resolution here).
    if keep_dims && rank == 4 && axes.len() == 2 && matches!((axes[0], axes[1]), (1, 2) | (2, 1)) {
        MeanPath::Spatial
    } else if input_scale == output_scale && input_zero_point == output_zero_point {
        MeanPath::SameQuantization
    } else {
        MeanPath::Rescale
    }
}

/// Multiplier and shift of `s_in / s_out` for [`mean_spatial`] (TFLite's `PrepareMeanOrSum`).
pub fn prepare(input_scale: f32, output_scale: f32) -> (i32, i32) {
    quantize_multiplier(f64::from(input_scale) / f64::from(output_scale))
}

/// Int8 mean over height and width of an NHWC tensor; `output` is `[n, 1, 1, c]`.
pub fn mean_spatial(
    multiplier: i32,
    shift: i32,
    input_zero_point: i32,
    output_zero_point: i32,
    input_shape: crate::Dims4,
    input: &[i8],
    output: &mut [i8],
) {
    let crate::Dims4 { n, h, w, c } = input_shape;
    debug_assert_eq!(input.len(), input_shape.flat_size());
    debug_assert_eq!(output.len(), n * c);
    let count = (h * w) as i32;
    for b in 0..n {
        for ch in 0..c {
            // |x - zp| <= 255 per element: fits i32 below 2^23 elements.
            let mut acc: i32 = 0;
            for y in 0..h {
                for x in 0..w {
                    acc += i32::from(input[input_shape.offset(b, y, x, ch)]) - input_zero_point;
                }
            }
            let acc = multiply_by_quantized_multiplier(acc, multiplier, shift);
            // Division rounding half away from zero (C++ `/` truncates).
            let acc = if acc > 0 {
                (acc + count / 2) / count
            } else {
                (acc - count / 2) / count
            };
            output[b * c + ch] = (acc + output_zero_point).clamp(-128, 127) as i8;
        }
    }
}

/// Int8 mean over the axes in `mask` when input and output share their quantization.
pub fn mean_same_quantization(
    shape: &[usize],
    mask: &[bool; MAX_DIMS],
    input: &[i8],
    sums: &mut [i32],
    output: &mut [i8],
) {
    sums.fill(0);
    for_each(shape, mask, input, |o, v| sums[o] += i32::from(v));
    let count = reduced_count(shape, mask) as i32;
    if count == 0 {
        return;
    }
    for (o, &s) in output.iter_mut().zip(sums.iter()) {
        // Truncating division, then narrowing (the mean of int8 values is int8).
        *o = (s / count) as i8;
    }
}

/// Multiplier and shift of `s_in / (s_out * count)` for [`mean_rescale`]: TFLite's `s_in / s_out`
/// multiplier with `1 / count` folded in (integer division of the multiplier, shifted up first).
pub fn prepare_rescale(input_scale: f32, output_scale: f32, count: usize) -> (i32, i32) {
    let (multiplier, shift) = prepare(input_scale, output_scale);
    if count == 0 {
        return (multiplier, shift);
    }
    // Shift the multiplier up by floor(log2(count)) bits (at most 32, and not
    // past a total shift of -31) before dividing, to keep its precision.
    let extra = (63 - (count as u64).leading_zeros() as i32)
        .min(32)
        .min(31 + shift);
    let folded = ((i64::from(multiplier) << extra) / count as i64) as i32;
    (folded, shift - extra)
}

/// Int8 mean over the axes in `mask` with rescaling (TFLite's `QuantizedMeanOrSum`, mean):
/// `clamp(zp_out + M * (sum - zp_in * count))` with `M` from [`prepare_rescale`].
pub fn mean_rescale(
    multiplier: i32,
    shift: i32,
    input_zero_point: i32,
    output_zero_point: i32,
    shape: &[usize],
    mask: &[bool; MAX_DIMS],
    input: &[i8],
    sums: &mut [i32],
    output: &mut [i8],
) {
    sums.fill(0);
    for_each(shape, mask, input, |o, v| sums[o] += i32::from(v));
    let count = reduced_count(shape, mask) as i32;
    if count == 0 {
        return;
    }
    for (o, &s) in output.iter_mut().zip(sums.iter()) {
        let shifted = s.wrapping_sub(input_zero_point.wrapping_mul(count));
        let v = multiply_by_quantized_multiplier(shifted, multiplier, shift)
            .wrapping_add(output_zero_point);
        *o = v.clamp(-128, 127) as i8;
    }
}

/// Float mean over the axes in `mask`; `output` has one element per non-reduced position.
pub fn mean_f32(shape: &[usize], mask: &[bool; MAX_DIMS], input: &[f32], output: &mut [f32]) {
    output.fill(0.0);
    for_each(shape, mask, input, |o, v| output[o] += v);
    let count = reduced_count(shape, mask) as f32;
    for o in output.iter_mut() {
        *o /= count;
    }
}
