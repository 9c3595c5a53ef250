//! SPLIT and SPLIT_V, generic over the element type (TFLite's `reference_ops::Split`).

/// Splits `input` (`shape`) along `axis` into `outputs`, output `k` taking `sizes[k]` entries of that axis.
pub fn split<T: Copy>(
    shape: &[usize],
    axis: usize,
    sizes: &[usize],
    input: &[T],
    outputs: &mut [&mut [T]],
) {
    debug_assert!(axis < shape.len());
    debug_assert_eq!(sizes.len(), outputs.len());
    debug_assert_eq!(sizes.iter().sum::<usize>(), shape[axis]);
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut i = 0;
    for b in 0..outer {
        for (out, &s) in outputs.iter_mut().zip(sizes) {
            let n = s * inner;
            out[b * n..(b + 1) * n].copy_from_slice(&input[i..i + n]);
            i += n;
        }
    }
}
