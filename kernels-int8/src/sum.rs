//! SUM, int8 and f32 (TFLite's `reduce.cc` `EvalSum`, reference kernels).
//!
//! Int8 with a different output quantization goes through `QuantizedMeanOrSum`
//! (float rescale, rounding, then a plain narrowing cast: TFLite does not
//! clamp there). With the same quantization the int8 values are summed in int8
//! arithmetic, wrapping, as TFLite's generic reducer does.

use crate::reduce::{for_each, reduced_count, MAX_DIMS};
use crate::requant::round_f32;

/// Int8 sum over the axes in `mask`, rescaled to the output quantization.
pub fn sum_rescale(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    shape: &[usize],
    mask: &[bool; MAX_DIMS],
    input: &[i8],
    sums: &mut [i32],
    output: &mut [i8],
) {
    sums.fill(0);
    for_each(shape, mask, input, |o, v| sums[o] += i32::from(v));
    let count = reduced_count(shape, mask);
    if count == 0 {
        return;
    }
    let scale = input_scale / output_scale;
    let bias = -(input_zero_point as f32) * scale * count as f32;
    for (o, &s) in output.iter_mut().zip(sums.iter()) {
        let v = (round_f32(s as f32 * scale + bias) as i32).wrapping_add(output_zero_point);
        *o = v as i8;
    }
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
