//! MUL, int8 with broadcasting (TFLite's `reference_integer_ops::Mul` / `BroadcastMul4DSlow`) and f32.
//!
//! `out = zp_out + M * (x1 - zp1) * (x2 - zp2)` with `M = s1 * s2 / s_out` as a
//! Q31 multiplier and shift (double rounding). `|x - zp| <= 255`, so the
//! product is below 2^17 and fits i32.

use crate::broadcast::broadcast_binary;
use crate::requant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// Integer parameters of an int8 MUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulParams {
    /// Minus the first input's zero point.
    pub input1_offset: i32,
    /// Minus the second input's zero point.
    pub input2_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Q31 multiplier of `s1 * s2 / s_out`.
    pub output_multiplier: i32,
    /// Shift going with `output_multiplier`.
    pub output_shift: i32,
    /// Lower clamp (fused activation, int8 range).
    pub activation_min: i32,
    /// Upper clamp (fused activation, int8 range).
    pub activation_max: i32,
}

/// Computes [`MulParams`] from scales and zero points (TFLite's `mul.cc` Prepare for int8).
pub fn prepare(
    input1_scale: f32,
    input1_zero_point: i32,
    input2_scale: f32,
    input2_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    activation_min: i32,
    activation_max: i32,
) -> MulParams {
    // TFLite: the product and the quotient in float, then widened to double.
    let real = f64::from(input1_scale * input2_scale / output_scale);
    let (output_multiplier, output_shift) = quantize_multiplier(real);
    MulParams {
        input1_offset: -input1_zero_point,
        input2_offset: -input2_zero_point,
        output_offset: output_zero_point,
        output_multiplier,
        output_shift,
        activation_min,
        activation_max,
    }
}

/// One int8 MUL element.
#[inline]
pub fn mul_element(p: &MulParams, a: i8, b: i8) -> i8 {
    let prod = (p.input1_offset + i32::from(a)) * (p.input2_offset + i32::from(b));
    let raw = multiply_by_quantized_multiplier(prod, p.output_multiplier, p.output_shift)
        .wrapping_add(p.output_offset);
    raw.max(p.activation_min).min(p.activation_max) as i8
}

/// Int8 MUL with NumPy broadcasting (up to 6-D).
pub fn mul(
    params: &MulParams,
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
        |a, b| mul_element(params, a, b),
    );
}

/// Float MUL with broadcasting and a fused activation clamp.
pub fn mul_f32(
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
        |a, b| (a * b).max(activation_min).min(activation_max),
    );
}
