//! MEAN, int8 and f32 (LiteRT's `reduce.cc` `EvalMean` with the reference kernels).
//!
//! Every int8 MEAN takes LiteRT's `QuantizedMeanOrSum` ([`mean_rescale`]): the
//! zero-point-corrected sum times one multiplier, `s_in / s_out` with `1 / count`
//! folded in ([`prepare_rescale`]). Older TFLite releases (2.1x) had two more
//! paths (a 4-D keep_dims height-and-width mean that divided after rescaling,
//! and a truncating mean for equal quantization); LiteRT's reference kernels, and
//! so `ai_edge_litert`'s `BUILTIN_REF`, no longer take them: on the Keras 3
//! MobileNet fixture the old spatial path differs from LiteRT in 57 of 256 channels.

use crate::reduce::{for_each, reduced_count, MAX_DIMS};
use crate::requant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// Multiplier and shift of `s_in / (s_out * count)` for [`mean_rescale`]: TFLite's `s_in / s_out`
/// multiplier with `1 / count` folded in (integer division of the multiplier, shifted up first).
pub fn prepare_rescale(input_scale: f32, output_scale: f32, count: usize) -> (i32, i32) {
    let (multiplier, shift) = quantize_multiplier(f64::from(input_scale) / f64::from(output_scale));
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
