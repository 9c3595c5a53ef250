//! GATHER, generic over the element type (TFLite's `reference_ops::Gather`, `batch_dims = 0`).

/// Picks `indices` along `axis` of `input` (`shape`): output shape is `shape[..axis] ++ indices_shape ++ shape[axis + 1..]`.
///
/// Indices must be in `0..shape[axis]` (TFLite rejects others at eval); callers validate them.
pub fn gather<T: Copy>(
    shape: &[usize],
    axis: usize,
    input: &[T],
    indices: &[i32],
    output: &mut [T],
) {
    debug_assert!(axis < shape.len());
    let outer: usize = shape[..axis].iter().product();
    let axis_size = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    debug_assert_eq!(output.len(), outer * indices.len() * inner);
    let mut o = 0;
    for b in 0..outer {
        for &i in indices {
            debug_assert!(i >= 0 && (i as usize) < axis_size, "gather: index {i}");
            let start = (b * axis_size + i as usize) * inner;
            output[o..o + inner].copy_from_slice(&input[start..start + inner]);
            o += inner;
        }
    }
}
