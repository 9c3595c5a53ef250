//! ABS, int8 and f32 (TFLite's `elementwise.cc` `AbsEval`).
//!
//! Int8: `|q - zp_in|`, rescaled by `s_in / s_out` when the scales differ
//! (TFLite compares the float scales), plus `zp_out`, clamped to int8.

use crate::requant::{multiply_by_quantized_multiplier, quantize_multiplier};

/// The integers of an int8 ABS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsParams {
    /// Input zero point.
    pub input_zero_point: i32,
    /// Output zero point.
    pub output_zero_point: i32,
    /// Q31 multiplier and shift of `s_in / s_out`; `None` when the scales are equal.
    pub rescale: Option<(i32, i32)>,
}

/// The parameters of an int8 ABS from its scales and zero points (TFLite's `GenericPrepare`).
pub fn prepare(input_scale: f32, input_zp: i32, output_scale: f32, output_zp: i32) -> AbsParams {
    // TFLite divides in float, then quantizes the double of that quotient.
    let rescale = (input_scale != output_scale)
        .then(|| quantize_multiplier(f64::from(input_scale / output_scale)));
    AbsParams {
        input_zero_point: input_zp,
        output_zero_point: output_zp,
        rescale,
    }
}

/// int8 ABS.
pub fn abs(p: &AbsParams, input: &[i8], output: &mut [i8]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        let v = (i32::from(x) - p.input_zero_point).abs();
        let v = match p.rescale {
            Some((m, s)) => multiply_by_quantized_multiplier(v, m, s),
            None => v,
        };
        *o = (v + p.output_zero_point).clamp(-128, 127) as i8;
    }
}

/// float32 ABS.
pub fn abs_f32(input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = x.abs();
    }
}
