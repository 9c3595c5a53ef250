//! SQUARED_DIFFERENCE, int8 with broadcasting (TFLite's `squared_difference.cc`) and f32.
//!
//! Both inputs are shifted left by 7 and rescaled to twice the larger input
//! scale; the difference is squared and rescaled to the output. Bounds: the
//! scaled inputs are at most `255 * 2^7`, so the squared difference is below
//! `2^30` and fits i32.

use crate::broadcast::broadcast_binary;
use crate::requant::{
    multiply_by_quantized_multiplier_smaller_than_one_exp as mul_lt_one,
    quantize_multiplier_smaller_than_one_exp,
};

/// Left shift applied to both int8 inputs before rescaling.
const LEFT_SHIFT: i32 = 7;

/// Integer parameters of an int8 SQUARED_DIFFERENCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SquaredDifferenceParams {
    /// Minus the first input's zero point.
    pub input1_offset: i32,
    /// Minus the second input's zero point.
    pub input2_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Q31 multiplier of the first input.
    pub input1_multiplier: i32,
    /// Shift (`<= 0`) of the first input.
    pub input1_shift: i32,
    /// Q31 multiplier of the second input.
    pub input2_multiplier: i32,
    /// Shift (`<= 0`) of the second input.
    pub input2_shift: i32,
    /// Q31 multiplier of the output.
    pub output_multiplier: i32,
    /// Shift (`<= 0`) of the output.
    pub output_shift: i32,
}

/// Computes [`SquaredDifferenceParams`] (TFLite's `squared_difference.cc` Prepare for int8).
pub fn prepare(
    input1_scale: f32,
    input1_zero_point: i32,
    input2_scale: f32,
    input2_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
) -> SquaredDifferenceParams {
    let twice_max = f64::from(2.0 * input1_scale.max(input2_scale));
    let (input1_multiplier, input1_shift) =
        quantize_multiplier_smaller_than_one_exp(f64::from(input1_scale) / twice_max);
    let (input2_multiplier, input2_shift) =
        quantize_multiplier_smaller_than_one_exp(f64::from(input2_scale) / twice_max);
    // (1 << 14) * output_scale is computed in float there (exact: a power of two).
    let denominator = f64::from((1i32 << (2 * LEFT_SHIFT)) as f32 * output_scale);
    let (output_multiplier, output_shift) =
        quantize_multiplier_smaller_than_one_exp(twice_max * twice_max / denominator);
    SquaredDifferenceParams {
        input1_offset: -input1_zero_point,
        input2_offset: -input2_zero_point,
        output_offset: output_zero_point,
        input1_multiplier,
        input1_shift,
        input2_multiplier,
        input2_shift,
        output_multiplier,
        output_shift,
    }
}

/// One int8 SQUARED_DIFFERENCE element.
#[inline]
pub fn squared_difference_element(p: &SquaredDifferenceParams, a: i8, b: i8) -> i8 {
    let a = (p.input1_offset + i32::from(a)) << LEFT_SHIFT;
    let b = (p.input2_offset + i32::from(b)) << LEFT_SHIFT;
    let a = mul_lt_one(a, p.input1_multiplier, p.input1_shift);
    let b = mul_lt_one(b, p.input2_multiplier, p.input2_shift);
    let d = a - b;
    let raw = mul_lt_one(d.wrapping_mul(d), p.output_multiplier, p.output_shift) + p.output_offset;
    raw.clamp(-128, 127) as i8
}

/// Int8 SQUARED_DIFFERENCE with NumPy broadcasting (up to 6-D).
pub fn squared_difference(
    params: &SquaredDifferenceParams,
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
        |a, b| squared_difference_element(params, a, b),
    );
}

/// Float SQUARED_DIFFERENCE `(a - b)^2` with broadcasting.
pub fn squared_difference_f32(
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
        |a, b| (a - b) * (a - b),
    );
}
