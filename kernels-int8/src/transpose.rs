//! TRANSPOSE, generic over the element type (TFLite's `reference_ops::Transpose`), up to 6-D.

pub use crate::broadcast::MAX_DIMS;

/// `output[i_perm[0], .., i_perm[r-1]] = input[i_0, .., i_{r-1}]`: output dimension `d` is input dimension `perm[d]`.
pub fn transpose<T: Copy>(shape: &[usize], perm: &[usize], input: &[T], output: &mut [T]) {
    let rank = shape.len();
    debug_assert!(rank <= MAX_DIMS && perm.len() == rank);
    debug_assert_eq!(input.len(), output.len());
    // Input strides, then visited in output order.
    let mut in_stride = [0usize; MAX_DIMS];
    let mut acc = 1;
    for d in (0..rank).rev() {
        in_stride[d] = acc;
        acc *= shape[d];
    }
    let mut out_shape = [1usize; MAX_DIMS];
    let mut stride = [0usize; MAX_DIMS];
    for d in 0..rank {
        out_shape[d] = shape[perm[d]];
        stride[d] = in_stride[perm[d]];
    }
    let mut idx = [0usize; MAX_DIMS];
    let mut i = 0usize;
    for o in output.iter_mut() {
        *o = input[i];
        for d in (0..rank).rev() {
            idx[d] += 1;
            i += stride[d];
            if idx[d] < out_shape[d] {
                break;
            }
            i -= stride[d] * out_shape[d];
            idx[d] = 0;
        }
    }
}
