//! PAD and PADV2, generic over the element type (TFLite's `reference_ops::Pad`).
//!
//! Int8 PAD pads with the output zero point (real 0); PADV2 pads with its
//! constant, already quantized to the output's scale. Up to [`MAX_DIMS`] dimensions.

pub use crate::broadcast::MAX_DIMS;

/// Output shape of padding `shape` by `paddings[d] = (before, after)`; returns the rank written.
pub fn output_shape(
    shape: &[usize],
    paddings: &[(usize, usize)],
    out: &mut [usize; MAX_DIMS],
) -> usize {
    debug_assert_eq!(shape.len(), paddings.len());
    for (d, (&s, &(b, a))) in shape.iter().zip(paddings).enumerate() {
        out[d] = b + s + a;
    }
    shape.len()
}

/// Copies `input` (`shape`) into the middle of `output`, filling the borders with `value`.
pub fn pad<T: Copy>(
    shape: &[usize],
    paddings: &[(usize, usize)],
    value: T,
    input: &[T],
    output: &mut [T],
) {
    let rank = shape.len();
    debug_assert!(rank <= MAX_DIMS && paddings.len() == rank);
    debug_assert_eq!(input.len(), shape.iter().product::<usize>());
    let mut out_shape = [0usize; MAX_DIMS];
    output_shape(shape, paddings, &mut out_shape);
    debug_assert_eq!(output.len(), out_shape[..rank].iter().product::<usize>());
    output.fill(value);
    if input.is_empty() {
        return;
    }
    // Output strides.
    let mut stride = [0usize; MAX_DIMS];
    let mut acc = 1;
    for d in (0..rank).rev() {
        stride[d] = acc;
        acc *= out_shape[d];
    }
    let inner = if rank == 0 { 1 } else { shape[rank - 1] };
    let mut idx = [0usize; MAX_DIMS];
    for row in input.chunks_exact(inner.max(1)) {
        let mut o = 0;
        for d in 0..rank {
            let i = if d + 1 == rank { 0 } else { idx[d] };
            o += (i + paddings[d].0) * stride[d];
        }
        output[o..o + row.len()].copy_from_slice(row);
        // Advance over the outer dimensions only.
        for d in (0..rank.saturating_sub(1)).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}
