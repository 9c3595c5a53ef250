//! Reductions over a set of axes, shared by MEAN and SUM (TFLite's `reference_ops::Reduce`).
//!
//! Up to [`MAX_DIMS`] dimensions. The output keeps the non-reduced dimensions in
//! order; `keep_dims` only changes the output shape, not the data layout.

pub use crate::broadcast::MAX_DIMS;

/// Reduced-axis mask of `axes` (negative axes count from the end, duplicates ignored), or `None` if an axis is out of range.
pub fn axis_mask(rank: usize, axes: &[i32]) -> Option<[bool; MAX_DIMS]> {
    if rank > MAX_DIMS {
        return None;
    }
    let mut mask = [false; MAX_DIMS];
    for &a in axes {
        let a = if a < 0 { a + rank as i32 } else { a };
        if a < 0 || a >= rank as i32 {
            return None;
        }
        mask[a as usize] = true;
    }
    Some(mask)
}

/// Number of input elements folded into each output element.
pub fn reduced_count(shape: &[usize], mask: &[bool; MAX_DIMS]) -> usize {
    shape
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m)
        .map(|(&d, _)| d)
        .product()
}

/// Output shape of a reduction: reduced axes dropped, or kept as 1 with `keep_dims`; returns the rank written to `out`.
pub fn output_shape(
    shape: &[usize],
    mask: &[bool; MAX_DIMS],
    keep_dims: bool,
    out: &mut [usize; MAX_DIMS],
) -> usize {
    let mut n = 0;
    for (&d, &m) in shape.iter().zip(mask) {
        if !m {
            out[n] = d;
            n += 1;
        } else if keep_dims {
            out[n] = 1;
            n += 1;
        }
    }
    n
}

/// Calls `f(output_index, input_value)` for every input element in row-major order.
pub fn for_each<T: Copy>(
    shape: &[usize],
    mask: &[bool; MAX_DIMS],
    input: &[T],
    mut f: impl FnMut(usize, T),
) {
    debug_assert!(shape.len() <= MAX_DIMS);
    debug_assert_eq!(input.len(), shape.iter().product::<usize>());
    let rank = shape.len();
    // Output stride of each input dimension (0 for reduced ones).
    let mut stride = [0usize; MAX_DIMS];
    let mut acc = 1;
    for d in (0..rank).rev() {
        if !mask[d] {
            stride[d] = acc;
            acc *= shape[d];
        }
    }
    let mut idx = [0usize; MAX_DIMS];
    let mut o = 0usize;
    for &v in input {
        f(o, v);
        for d in (0..rank).rev() {
            idx[d] += 1;
            o += stride[d];
            if idx[d] < shape[d] {
                break;
            }
            o -= stride[d] * shape[d];
            idx[d] = 0;
        }
    }
}
