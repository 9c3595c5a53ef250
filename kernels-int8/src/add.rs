//! ADD, int8 same-shape (TFLite's `reference_integer_ops::Add`).
//!
//! Both inputs are shifted left by 20 bits, rescaled to a common scale
//! (twice the larger input scale), summed, and rescaled to the output.
//! Bounds: `|x + offset| <= 255`, so `255 * 2^20 < 2^28` fits i32; each rescaled
//! input is at most that (multipliers < 1), so their sum is below 2^29.

use crate::requant::{
    multiply_by_quantized_multiplier_smaller_than_one_exp, quantize_multiplier_smaller_than_one_exp,
};

/// Integer parameters of an int8 ADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddParams {
    /// Minus the first input's zero point.
    pub input1_offset: i32,
    /// Minus the second input's zero point.
    pub input2_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Left shift applied to both inputs before rescaling (20 for int8).
    pub left_shift: i32,
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
    /// Lower clamp of the output (fused activation, int8 range).
    pub activation_min: i32,
    /// Upper clamp of the output (fused activation, int8 range).
    pub activation_max: i32,
}

/// Computes [`AddParams`] from scales and zero points (TFLite's `add.cc` Prepare for int8).
pub fn prepare(
    input1_scale: f32,
    input1_zero_point: i32,
    input2_scale: f32,
    input2_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    activation_min: i32,
    activation_max: i32,
) -> AddParams {
    let left_shift = 20;
    // The larger scale is chosen in float, then widened and doubled in double.
    let twice_max_input_scale = 2.0 * f64::from(input1_scale.max(input2_scale));
    let real_input1_multiplier = f64::from(input1_scale) / twice_max_input_scale;
    let real_input2_multiplier = f64::from(input2_scale) / twice_max_input_scale;
    let real_output_multiplier =
        twice_max_input_scale / (f64::from(1i32 << left_shift) * f64::from(output_scale));
    let (input1_multiplier, input1_shift) =
        quantize_multiplier_smaller_than_one_exp(real_input1_multiplier);
    let (input2_multiplier, input2_shift) =
        quantize_multiplier_smaller_than_one_exp(real_input2_multiplier);
    let (output_multiplier, output_shift) =
        quantize_multiplier_smaller_than_one_exp(real_output_multiplier);
    AddParams {
        input1_offset: -input1_zero_point,
        input2_offset: -input2_zero_point,
        output_offset: output_zero_point,
        left_shift,
        input1_multiplier,
        input1_shift,
        input2_multiplier,
        input2_shift,
        output_multiplier,
        output_shift,
        activation_min,
        activation_max,
    }
}

/// Int8 elementwise add of two same-length inputs.
pub fn add(params: &AddParams, input1: &[i8], input2: &[i8], output: &mut [i8]) {
    debug_assert_eq!(input1.len(), output.len());
    debug_assert_eq!(input2.len(), output.len());
    for ((o, &a), &b) in output.iter_mut().zip(input1).zip(input2) {
        let a = (params.input1_offset + i32::from(a)).wrapping_shl(params.left_shift as u32);
        let b = (params.input2_offset + i32::from(b)).wrapping_shl(params.left_shift as u32);
        let a = multiply_by_quantized_multiplier_smaller_than_one_exp(
            a,
            params.input1_multiplier,
            params.input1_shift,
        );
        let b = multiply_by_quantized_multiplier_smaller_than_one_exp(
            b,
            params.input2_multiplier,
            params.input2_shift,
        );
        let raw = multiply_by_quantized_multiplier_smaller_than_one_exp(
            a.wrapping_add(b),
            params.output_multiplier,
            params.output_shift,
        )
        .wrapping_add(params.output_offset);
        *o = raw.max(params.activation_min).min(params.activation_max) as i8;
    }
}

/// One int8 ADD element: the same arithmetic as [`add`], for broadcasting callers.
#[inline]
pub fn add_element(params: &AddParams, a: i8, b: i8) -> i8 {
    let mut out = [0i8];
    add(params, &[a], &[b], &mut out);
    out[0]
}

/// Int8 ADD with NumPy broadcasting of `input1` (`shape1`) and `input2` (`shape2`) to `output_shape` (up to 6-D).
pub fn add_broadcast(
    params: &AddParams,
    shape1: &[usize],
    input1: &[i8],
    shape2: &[usize],
    input2: &[i8],
    output_shape: &[usize],
    output: &mut [i8],
) {
    crate::broadcast::broadcast_binary(
        shape1,
        input1,
        shape2,
        input2,
        output_shape,
        output,
        |a, b| add_element(params, a, b),
    );
}

/// Float ADD with broadcasting and a fused activation clamp `[activation_min, activation_max]`.
pub fn add_f32(
    activation_min: f32,
    activation_max: f32,
    shape1: &[usize],
    input1: &[f32],
    shape2: &[usize],
    input2: &[f32],
    output_shape: &[usize],
    output: &mut [f32],
) {
    crate::broadcast::broadcast_binary(
        shape1,
        input1,
        shape2,
        input2,
        output_shape,
        output,
        |a, b| (a + b).max(activation_min).min(activation_max),
    );
}
