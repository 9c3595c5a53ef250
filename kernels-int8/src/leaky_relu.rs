//! LEAKY_RELU, int8 and f32 (TFLite's `reference_ops::QuantizeLeakyRelu`).
//!
//! Int8: `x - zp_in` is rescaled by `s_in / s_out` when non-negative and by
//! `alpha * s_in / s_out` when negative (double rounding), then offset and clamped.

use crate::requant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// Integer parameters of an int8 LEAKY_RELU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeakyReluParams {
    /// The input zero point.
    pub input_zero_point: i32,
    /// The output zero point.
    pub output_zero_point: i32,
    /// Q31 multiplier of `alpha * s_in / s_out`.
    pub multiplier_alpha: i32,
    /// Shift going with `multiplier_alpha`.
    pub shift_alpha: i32,
    /// Q31 multiplier of `s_in / s_out`.
    pub multiplier_identity: i32,
    /// Shift going with `multiplier_identity`.
    pub shift_identity: i32,
}

/// Computes [`LeakyReluParams`] (TFLite's `LeakyReluPrepare`).
pub fn prepare(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    alpha: f32,
) -> LeakyReluParams {
    // TFLite: both quotients in float, then widened.
    let (multiplier_alpha, shift_alpha) =
        quantize_multiplier(f64::from(input_scale * alpha / output_scale));
    let (multiplier_identity, shift_identity) =
        quantize_multiplier(f64::from(input_scale / output_scale));
    LeakyReluParams {
        input_zero_point,
        output_zero_point,
        multiplier_alpha,
        shift_alpha,
        multiplier_identity,
        shift_identity,
    }
}

/// Int8 LEAKY_RELU over `input`.
pub fn leaky_relu(p: &LeakyReluParams, input: &[i8], output: &mut [i8]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        let v = i32::from(x) - p.input_zero_point;
        let (m, s) = if v >= 0 {
            (p.multiplier_identity, p.shift_identity)
        } else {
            (p.multiplier_alpha, p.shift_alpha)
        };
        let r = p.output_zero_point + multiply_by_quantized_multiplier(v, m, s);
        *o = r.clamp(-128, 127) as i8;
    }
}

/// Float LEAKY_RELU: `x` if `x > 0`, else `alpha * x`.
pub fn leaky_relu_f32(alpha: f32, input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = if x > 0.0 { x } else { x * alpha };
    }
}
