//! TANH, int8 and f32 (TFLite's `activations.cc` `TanhPrepare`/`TanhEval`, reference kernel).
//!
//! Int8 is a 256-entry table of `tanhf` built at prepare time ([`crate::lut`]).

use crate::lut::populate;

/// The int8 table of TANH (TFLite's `PopulateLookupTable` with `tanh`).
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
        crate::lut::tanh_f32,
    )
}

/// Int8 TANH through the table from [`prepare`].
pub fn tanh(table: &[i8; 256], input: &[i8], output: &mut [i8]) {
    crate::lut::lookup(table, input, output);
}

/// Float TANH.
pub fn tanh_f32(input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = crate::lut::tanh_f32(x);
    }
}
