//! UNPACK (unstack), generic over the element type (TFLite's `reference_ops::Unpack`).

/// Splits `input` (`shape`) into `shape[axis]` outputs along `axis`, dropping that dimension.
pub fn unpack<T: Copy>(shape: &[usize], axis: usize, input: &[T], outputs: &mut [&mut [T]]) {
    debug_assert!(axis < shape.len());
    debug_assert_eq!(outputs.len(), shape[axis]);
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let mut i = 0;
    for b in 0..outer {
        for out in outputs.iter_mut() {
            out[b * inner..(b + 1) * inner].copy_from_slice(&input[i..i + inner]);
            i += inner;
        }
    }
}
