//! RELU, RELU6 and RELU_N1_TO_1, int8 and f32 (TFLite's `activations.cc` `QuantizedReluX`).
//!
//! Int8: `out = zp_out + M * (x - zp_in)` with `M = s_in / s_out` (double
//! rounding), clamped to the quantized activation range.

use crate::requant::{multiply_by_quantized_multiplier, quantize_multiplier, round_f32};

/// Integer parameters of an int8 RELU-family op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReluParams {
    /// The input zero point.
    pub input_zero_point: i32,
    /// The output zero point.
    pub output_zero_point: i32,
    /// Q31 multiplier of `s_in / s_out`.
    pub output_multiplier: i32,
    /// Shift going with `output_multiplier`.
    pub output_shift: i32,
    /// Lowest output value.
    pub activation_min: i32,
    /// Highest output value.
    pub activation_max: i32,
}

/// Computes [`ReluParams`] for the real clamp `[act_min, act_max]` (`act_max` infinite for RELU).
pub fn prepare(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    act_min: f32,
    act_max: f32,
) -> ReluParams {
    // TFLite: the quotient in float, then widened.
    let (output_multiplier, output_shift) =
        quantize_multiplier(f64::from(input_scale / output_scale));
    let q = |f: f32| output_zero_point.saturating_add(round_f32(f / output_scale) as i32);
    let activation_min = i32::from(i8::MIN).max(q(act_min));
    let activation_max = if act_max == f32::INFINITY {
        i32::from(i8::MAX)
    } else {
        i32::from(i8::MAX).min(q(act_max))
    };
    ReluParams {
        input_zero_point,
        output_zero_point,
        output_multiplier,
        output_shift,
        activation_min,
        activation_max,
    }
}

/// Int8 RELU-family op over `input`.
pub fn relu(p: &ReluParams, input: &[i8], output: &mut [i8]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        let v = p.output_zero_point
            + multiply_by_quantized_multiplier(
                i32::from(x) - p.input_zero_point,
                p.output_multiplier,
                p.output_shift,
            );
        *o = v.max(p.activation_min).min(p.activation_max) as i8;
    }
}

/// Float clamp to `[min, max]` (RELU: `0, inf`; RELU6: `0, 6`; RELU_N1_TO_1: `-1, 1`).
pub fn relu_f32(min: f32, max: f32, input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = x.max(min).min(max);
    }
}
