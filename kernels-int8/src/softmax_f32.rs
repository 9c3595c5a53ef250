//! SOFTMAX in float32 (TFLite's `reference_ops::Softmax`, float path): `exp(beta (x - max)) / sum`.

use crate::lut::exp_f32;

/// Float softmax with `beta` over rows of `depth` elements.
pub fn softmax_f32(beta: f32, depth: usize, input: &[f32], output: &mut [f32]) {
    debug_assert_eq!(input.len(), output.len());
    if depth == 0 {
        return;
    }
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().copied().fold(f32::MIN, f32::max);
        let mut sum = 0.0f32;
        for (o, &x) in out.iter_mut().zip(row) {
            *o = exp_f32((x - max) * beta);
            sum += *o;
        }
        for o in out.iter_mut() {
            *o /= sum;
        }
    }
}
