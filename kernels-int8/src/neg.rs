//! NEG, f32 (TFLite's `neg.cc`); the converter keeps it in float in the models it makes.

/// Float negation.
pub fn neg_f32(input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
    for (o, &x) in output.iter_mut().zip(input) {
        *o = -x;
    }
}
