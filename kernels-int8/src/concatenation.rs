//! CONCATENATION, generic over the element type (TFLite's `reference_ops::Concatenation`).
//!
//! TFLite's int8 kernel requires every input to share the output's scale and
//! zero point; the converter inserts int8-to-int8 QUANTIZE ops
//! ([`crate::quantize::requantize`]) in front of inputs whose scales differ, so
//! the concatenation itself is a copy.

/// Concatenates `inputs` (each `(shape, data)`, same rank) along `axis` into `output`.
pub fn concatenation<T: Copy>(axis: usize, inputs: &[(&[usize], &[T])], output: &mut [T]) {
    let Some(&(first, _)) = inputs.first() else {
        return;
    };
    debug_assert!(axis < first.len());
    let outer: usize = first[..axis].iter().product();
    let mut o = 0;
    for i in 0..outer {
        for &(shape, data) in inputs {
            debug_assert_eq!(data.len(), shape.iter().product::<usize>());
            let chunk: usize = shape[axis..].iter().product();
            output[o..o + chunk].copy_from_slice(&data[i * chunk..(i + 1) * chunk]);
            o += chunk;
        }
    }
    debug_assert_eq!(o, output.len());
}
