//! SUB, int8 with broadcasting (TFLite's `reference_ops::SubElementwise` / `BroadcastSubSlow`) and f32.
//!
//! The int8 arithmetic is ADD's with the second scaled input subtracted: both
//! inputs are shifted left by 20, rescaled to twice the larger input scale, and
//! their difference is rescaled to the output. Parameters come from
//! [`crate::add::prepare`] (TFLite's `PrepareGeneralSubOp` computes the same values).

use crate::add::AddParams;
use crate::broadcast::broadcast_binary;
use crate::requant::multiply_by_quantized_multiplier_smaller_than_one_exp as mul_lt_one;

/// One int8 SUB element `a - b`.
#[inline]
pub fn sub_element(p: &AddParams, a: i8, b: i8) -> i8 {
    // |x + offset| <= 255, times 2^20 < 2^28: fits i32; the scaled values are smaller.
    let a = (p.input1_offset + i32::from(a)).wrapping_shl(p.left_shift as u32);
    let b = (p.input2_offset + i32::from(b)).wrapping_shl(p.left_shift as u32);
    let a = mul_lt_one(a, p.input1_multiplier, p.input1_shift);
    let b = mul_lt_one(b, p.input2_multiplier, p.input2_shift);
    let raw = mul_lt_one(a.wrapping_sub(b), p.output_multiplier, p.output_shift)
        .wrapping_add(p.output_offset);
    raw.max(p.activation_min).min(p.activation_max) as i8
}

/// Int8 SUB with NumPy broadcasting (up to 6-D).
pub fn sub(
    params: &AddParams,
    shape1: &[usize],
    input1: &[i8],
    shape2: &[usize],
    input2: &[i8],
    output_shape: &[usize],
    output: &mut [i8],
) {
    broadcast_binary(
        shape1,
        input1,
        shape2,
        input2,
        output_shape,
        output,
        |a, b| sub_element(params, a, b),
    );
}

/// Float SUB with broadcasting and a fused activation clamp.
pub fn sub_f32(
    activation_min: f32,
    activation_max: f32,
    shape1: &[usize],
    input1: &[f32],
    shape2: &[usize],
    input2: &[f32],
    output_shape: &[usize],
    output: &mut [f32],
) {
    broadcast_binary(
        shape1,
        input1,
        shape2,
        input2,
        output_shape,
        output,
        |a, b| (a - b).max(activation_min).min(activation_max),
    );
}
