//! LOGISTIC (sigmoid), int8 and f32 (TFLite's `activations.cc` `SigmoidPrepare`/`SigmoidEval`, reference kernel).
//!
//! Int8 is a 256-entry table of `1 / (1 + expf(-x))` built at prepare time
//! ([`crate::lut`]); the output scale is 1/256 and the zero point -128.

use crate::lut::{exp_f32, populate, sigmoid_f32};

/// The int8 table of LOGISTIC (TFLite's `PopulateLookupTable` with the sigmoid).
pub fn prepare(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
) -> [i8; 256] {
    populate(
        input_scale,
        input_zero_point,
        output_scale,
        output_zero_point,
        sigmoid_f32,
    )
}

/// Int8 LOGISTIC through the table from [`prepare`].
pub fn logistic(table: &[i8; 256], input: &[i8], output: &mut [i8]) {
    crate::lut::lookup(table, input, output);
}

/// Float LOGISTIC (TFLite's `reference_ops::Logistic`: saturated beyond its cutoffs).
pub fn logistic_f32(input: &[f32], output: &mut [f32]) {
    // Above this, 1 / (1 + e^-x) rounds to 1 in float; below -9, e^x is used directly.
    const CUTOFF_UPPER: f32 = 16.619_047;
    const CUTOFF_LOWER: f32 = -9.0;
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = if x > CUTOFF_UPPER {
            1.0
        } else if x < CUTOFF_LOWER {
            exp_f32(x)
        } else {
            sigmoid_f32(x)
        };
    }
}
