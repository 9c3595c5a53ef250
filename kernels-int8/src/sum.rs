//! SUM, int8 and f32 (TFLite's `reduce.cc` `EvalSum`, reference kernels).
//!
//! Int8 with a different output quantization goes through TFLite's
//! `QuantizedMeanOrSum`: the zero-point-corrected sum times `s_in / s_out`
//! (double rounding) plus the output zero point. TFLite 2.21 (ai-edge-litert
//! 2.3.0) runs that path with uint8 arithmetic on int8 tensors: the bytes are
//! summed as unsigned values and the result is clamped to 0..=255 and stored as
//! a byte. [`sum_rescale`] reproduces that (checked against it); [`sum_rescale_signed`]
//! is the signed int8 form of the same rescale. With the same quantization the
//! int8 values are summed in int8 arithmetic, wrapping, as TFLite's generic reducer does.

use crate::reduce::{for_each, reduced_count, MAX_DIMS};
use crate::requant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// Multiplier and shift of `s_in / s_out` (TFLite's `PrepareMeanOrSum`).
pub fn prepare(input_scale: f32, output_scale: f32) -> (i32, i32) {
    quantize_multiplier(f64::from(input_scale) / f64::from(output_scale))
}

/// Int8 sum over the axes in `mask`, rescaled as TFLite 2.21 does (bytes read as uint8, see the module docs).
pub fn sum_rescale(
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
    for_each(shape, mask, input, |o, v| sums[o] += i32::from(v as u8));
    let count = reduced_count(shape, mask) as i32;
    if count == 0 {
        return;
    }
    for (o, &s) in output.iter_mut().zip(sums.iter()) {
        let shifted = s.wrapping_sub(input_zero_point.wrapping_mul(count));
        let v = multiply_by_quantized_multiplier(shifted, multiplier, shift)
            .wrapping_add(output_zero_point);
        *o = v.clamp(0, 255) as u8 as i8;
    }
}

/// Int8 sum over the axes in `mask`, rescaled in signed int8 arithmetic (the intended form of [`sum_rescale`]).
///
/// The same arithmetic as [`crate::mean::mean_rescale`], whose multiplier has `1 / count`
/// folded in; here it is `s_in / s_out` alone.
pub fn sum_rescale_signed(
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
    crate::mean::mean_rescale(
        multiplier,
        shift,
        input_zero_point,
        output_zero_point,
        shape,
        mask,
        input,
        sums,
        output,
    );
}

/// Int8 sum over the axes in `mask` on a shared quantization (wrapping int8 sum).
pub fn sum_same_quantization(
    shape: &[usize],
    mask: &[bool; MAX_DIMS],
    input: &[i8],
    output: &mut [i8],
) {
    output.fill(0);
    for_each(shape, mask, input, |o, v| {
        output[o] = output[o].wrapping_add(v)
    });
}

/// Float sum over the axes in `mask`.
pub fn sum_f32(shape: &[usize], mask: &[bool; MAX_DIMS], input: &[f32], output: &mut [f32]) {
    output.fill(0.0);
    for_each(shape, mask, input, |o, v| output[o] += v);
}
