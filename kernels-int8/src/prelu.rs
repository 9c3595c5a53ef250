//! PRELU, int8 and f32 with `alpha` broadcast to the input (TFLite's `reference_ops::BroadcastPrelu4DSlow`).
//!
//! Int8: non-negative `x - zp_in` is rescaled by `s_in / s_out`; negative ones
//! are multiplied by `alpha - zp_alpha` and rescaled by `s_in * s_alpha / s_out`.
//! `|x - zp| * |a - zp| <= 255 * 255`: fits i32.

use crate::broadcast::broadcast_binary;
use crate::requant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// Integer parameters of an int8 PRELU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreluParams {
    /// Minus the input zero point.
    pub input_offset: i32,
    /// Minus the alpha zero point.
    pub alpha_offset: i32,
    /// The output zero point.
    pub output_offset: i32,
    /// Q31 multiplier of `s_in / s_out` (non-negative inputs).
    pub output_multiplier_1: i32,
    /// Shift going with `output_multiplier_1`.
    pub output_shift_1: i32,
    /// Q31 multiplier of `s_in * s_alpha / s_out` (negative inputs).
    pub output_multiplier_2: i32,
    /// Shift going with `output_multiplier_2`.
    pub output_shift_2: i32,
}

/// Computes [`PreluParams`] (TFLite's `PreluPrepare` for int8).
pub fn prepare(
    input_scale: f32,
    input_zero_point: i32,
    alpha_scale: f32,
    alpha_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
) -> PreluParams {
    let (output_multiplier_1, output_shift_1) =
        quantize_multiplier(f64::from(input_scale / output_scale));
    let (output_multiplier_2, output_shift_2) =
        quantize_multiplier(f64::from(input_scale * alpha_scale / output_scale));
    PreluParams {
        input_offset: -input_zero_point,
        alpha_offset: -alpha_zero_point,
        output_offset: output_zero_point,
        output_multiplier_1,
        output_shift_1,
        output_multiplier_2,
        output_shift_2,
    }
}

/// Int8 PRELU; `alpha` (`alpha_shape`) broadcasts to `input` (`input_shape`), which is also the output shape.
pub fn prelu(
    p: &PreluParams,
    input_shape: &[usize],
    input: &[i8],
    alpha_shape: &[usize],
    alpha: &[i8],
    output: &mut [i8],
) {
    broadcast_binary(
        input_shape,
        input,
        alpha_shape,
        alpha,
        input_shape,
        output,
        |x, a| {
            let x = p.input_offset + i32::from(x);
            let v = if x >= 0 {
                multiply_by_quantized_multiplier(x, p.output_multiplier_1, p.output_shift_1)
            } else {
                let a = p.alpha_offset + i32::from(a);
                multiply_by_quantized_multiplier(x * a, p.output_multiplier_2, p.output_shift_2)
            };
            (v + p.output_offset).clamp(-128, 127) as i8
        },
    );
}

/// Float PRELU: `x` if `x >= 0`, else `x * alpha` (alpha broadcast).
pub fn prelu_f32(
    input_shape: &[usize],
    input: &[f32],
    alpha_shape: &[usize],
    alpha: &[f32],
    output: &mut [f32],
) {
    broadcast_binary(
        input_shape,
        input,
        alpha_shape,
        alpha,
        input_shape,
        output,
        |x, a| {
            if x >= 0.0 {
                x
            } else {
                x * a
            }
        },
    );
}
