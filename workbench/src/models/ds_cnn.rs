//! DS-CNN S, the depthwise-separable CNN of ARM's "Hello Edge" keyword
//! spotting work as MLPerf Tiny's reference (`keras_model.py`) defines it:
//! Conv2D 64 (10x4, stride 2, SAME) + batch norm + ReLU, dropout 0.2; four
//! blocks of depthwise 3x3 (SAME) + batch norm + ReLU and pointwise Conv2D
//! 64 + batch norm + ReLU; dropout 0.4; average pooling over
//! `(frames / 2, coefficients / 2)` (integer halves, as the reference
//! computes its `final_pool_size`); flatten; dense to the classes (the
//! reference's softmax is left to the loss and to export). Batch norms use
//! Keras' settings. The reference's L2 weight decay (1e-4) is not modelled.

use crate::train::{Activation, BatchNormConfig, Conv2dConfig, Layer, Padding, Sequential};
use crate::Result;

/// Filters of every convolution in DS-CNN S.
const FILTERS: usize = 64;
/// Depthwise-separable blocks.
const BLOCKS: usize = 4;

/// DS-CNN S on `[1, frames, coefficients]` input (49 x 10 MFCCs in MLPerf Tiny), initialised as Keras does.
pub fn ds_cnn_s(
    frames: usize,
    coefficients: usize,
    classes: usize,
    seed: u64,
) -> Result<Sequential> {
    let same = Conv2dConfig {
        padding: Padding::Same,
        ..Default::default()
    };
    let bn = BatchNormConfig::keras();
    let mut b = Sequential::builder([1, frames, coefficients], seed)
        .conv2d(
            "conv1",
            FILTERS,
            (10, 4),
            Conv2dConfig {
                stride: (2, 2),
                ..same
            },
        )
        .batch_norm("bn1", bn, Activation::Relu)
        .dropout("dropout1", 0.2, seed ^ 0xd1);
    for i in 1..=BLOCKS {
        b = b
            .depthwise_conv2d(&format!("dw{i}"), 1, (3, 3), same)
            .batch_norm(&format!("dw{i}_bn"), bn, Activation::Relu)
            .conv2d(&format!("pw{i}"), FILTERS, (1, 1), same)
            .batch_norm(&format!("pw{i}_bn"), bn, Activation::Relu);
    }
    let pool = ((frames / 2).max(1), (coefficients / 2).max(1));
    b.dropout("dropout2", 0.4, seed ^ 0xd2)
        .push("avg_pool", Layer::global_avg_pool(pool.0, pool.1))
        .flatten("flatten")
        .linear("dense", classes, Activation::None)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_mlperf_tiny() {
        // MLPerf Tiny's DS-CNN for 12 classes on 49x10 MFCCs: Keras reports
        // 24,908 parameters, 23,756 trainable (NXP's eIQ model zoo lists 23,756):
        // conv1 64*10*4 + 64 = 2,624; each block dw 64*9 + 64 = 640, pw 64*64 + 64 = 4,160;
        // dense 64*12 + 12 = 780; nine batch norms of 64 channels, 4*64 each (2*64 trainable).
        let m = ds_cnn_s(49, 10, 12, 0).unwrap();
        let rows = m.summary().unwrap();
        let total: usize = rows.iter().map(|r| r.params).sum();
        let trainable: usize = m.vars().iter().map(|v| v.elem_count()).sum();
        assert_eq!(total, 24_908);
        assert_eq!(trainable, 23_756);
        assert_eq!(2624 + 4 * (640 + 4160) + 780 + 9 * 4 * 64, 24_908);
        // 49x10 -> conv 25x5 -> pool (24, 5) -> 1x1
        let pool = rows.iter().find(|r| r.name == "avg_pool").unwrap();
        assert_eq!(pool.kind, "AveragePooling2D");
        assert_eq!(pool.output_shape, [64, 1, 1]);
        assert_eq!(rows.last().unwrap().output_shape, [12]);
        // the lab's 49x40 features: conv 25x20, pool (24, 20)
        let lab = ds_cnn_s(49, 40, 4, 0).unwrap().summary().unwrap();
        assert_eq!(lab[0].output_shape, [64, 25, 20]);
        assert_eq!(lab.last().unwrap().output_shape, [4]);
    }
}
