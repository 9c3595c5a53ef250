//! FULLY_CONNECTED in float32 (TFLite's `reference_ops::FullyConnected`, float path).
//!
//! Weights `[out, in]`. Any leading input dimensions are batch rows
//! (`keep_num_dims` only changes the output shape: `[.., out]` instead of `[rows, out]`).

/// Float FULLY_CONNECTED over `input.len() / accum_depth` rows.
pub fn fully_connected_f32(
    activation_min: f32,
    activation_max: f32,
    accum_depth: usize,
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
) {
    debug_assert!(accum_depth > 0 && input.len().is_multiple_of(accum_depth));
    let out_depth = weights.len() / accum_depth;
    debug_assert_eq!(output.len(), input.len() / accum_depth * out_depth);
    for (row, out_row) in input
        .chunks_exact(accum_depth)
        .zip(output.chunks_exact_mut(out_depth))
    {
        for (o, (out, w)) in out_row
            .iter_mut()
            .zip(weights.chunks_exact(accum_depth))
            .enumerate()
        {
            let mut total = 0.0f32;
            for (&x, &wv) in row.iter().zip(w) {
                total += x * wv;
            }
            let bias_value = bias.map_or(0.0, |b| b[o]);
            *out = (total + bias_value).max(activation_min).min(activation_max);
        }
    }
}
