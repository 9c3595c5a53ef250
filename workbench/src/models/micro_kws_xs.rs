//! `micro_kws_xs`, the MicroKWS lab's example model: one depthwise
//! convolution (depth multiplier 4, kernel 5x4, stride 2, SAME, ReLU) on the
//! `frames x coefficients` feature image, flatten, and a dense layer to the
//! classes (the lab's final softmax is left to the loss and to inference).

use crate::train::{Activation, Conv2dConfig, Padding, Sequential};
use crate::Result;

/// `micro_kws_xs` on `[1, frames, coefficients]` input (49 x 40 in the lab), initialised as Keras does.
pub fn micro_kws_xs(
    frames: usize,
    coefficients: usize,
    classes: usize,
    seed: u64,
) -> Result<Sequential> {
    let depthwise = Conv2dConfig {
        stride: (2, 2),
        padding: Padding::Same,
        activation: Activation::Relu,
        ..Default::default()
    };
    Sequential::builder([1, frames, coefficients], seed)
        .depthwise_conv2d("dwconv", 4, (5, 4), depthwise)
        .flatten("flatten")
        .linear("dense", classes, Activation::None)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_the_lab_model() {
        // the lab's model for 4 classes (tests/refs/micro_kws_xs.tflite has the same tensors:
        // depthwise weights [1, 5, 4, 4] + 4 biases, dense [4, 2000] + 4 biases)
        let m = micro_kws_xs(49, 40, 4, 0).unwrap();
        let rows: Vec<(&str, Vec<usize>, usize)> = m
            .summary()
            .unwrap()
            .iter()
            .map(|r| (r.kind, r.output_shape.clone(), r.params))
            .collect();
        assert_eq!(
            rows,
            [
                ("DepthwiseConv2D", vec![4, 25, 20], 84), // 5*4*4 + 4
                ("Flatten", vec![2000], 0),
                ("Dense", vec![4], 8004), // 2000*4 + 4
            ]
        );
    }
}
