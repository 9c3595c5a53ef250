//! PACK (stack), generic over the element type (TFLite's `reference_ops::Pack`).

/// Stacks `inputs` (all of shape `shape`) along a new dimension `axis` (`0..=shape.len()`).
pub fn pack<T: Copy>(shape: &[usize], axis: usize, inputs: &[&[T]], output: &mut [T]) {
    debug_assert!(axis <= shape.len());
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis..].iter().product();
    debug_assert_eq!(output.len(), outer * inner * inputs.len());
    let mut o = 0;
    for b in 0..outer {
        for input in inputs {
            output[o..o + inner].copy_from_slice(&input[b * inner..(b + 1) * inner]);
            o += inner;
        }
    }
}
