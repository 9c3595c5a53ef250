//! MAXIMUM with broadcasting, generic over the element type (TFLite's `maximum_minimum.cc`).
//!
//! For int8 TFLite requires both inputs and the output to share one scale and
//! zero point, so the raw integers compare like the real values.

use crate::broadcast::broadcast_binary;

/// Elementwise larger of two broadcast inputs (int8 on a shared quantization, or f32).
pub fn maximum<T: Copy + PartialOrd>(
    shape1: &[usize],
    input1: &[T],
    shape2: &[usize],
    input2: &[T],
    output_shape: &[usize],
    output: &mut [T],
) {
    broadcast_binary(
        shape1,
        input1,
        shape2,
        input2,
        output_shape,
        output,
        |a, b| {
            if a > b {
                a
            } else {
                b
            }
        },
    );
}
