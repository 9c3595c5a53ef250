//! TEMPONet (Zanghieri et al., "Robust Real-Time Embedded EMG Recognition
//! Framework Using Temporal Convolutional Networks on a Multicore IoT
//! Processor", 2019) as the EMG hands-on builds it, on 8 channels x 300
//! samples, every convolution along time only (`1 x k` kernels on a
//! `[channels, 1, time]` input) with length-keeping SAME padding:
//!
//! | block | layers | channels | time |
//! |---|---|---|---|
//! | temporal x2 | conv k3 dilation 2 (receptive field 5) + BN + ReLU | 32 | 300 |
//! | conv | conv k5 + BN + ReLU, max-pool 2 | 64 | 150 |
//! | temporal x2 | conv k3 dilation 4 (rf 9) + BN + ReLU | 64 | 150 |
//! | conv | conv k5 stride 2 + BN + ReLU, max-pool 2 | 128 | 37 |
//! | temporal x2 | conv k3 dilation 8 (rf 17) + BN + ReLU | 128 | 37 |
//! | conv | conv k5 stride 4 + BN + ReLU, max-pool 2 | 128 | 5 |
//! | head | flatten 640; dense 256 + BN + ReLU; dense 128 + BN + ReLU; dense 9 | | |
//!
//! A temporal block's kernel is `ceil(rf / dilation)`. Batch norms use
//! PyTorch's settings (the hands-on trains in PyTorch). With stride > 1,
//! TFLite's SAME puts the odd padding element after the sequence where
//! PyTorch's symmetric `padding = 2` puts it before; the output lengths
//! agree, and training from scratch is unaffected.

use crate::train::{Activation, BatchNormConfig, Conv2dConfig, Padding, Sequential};
use crate::Result;

/// TEMPONet on `[channels, 1, samples]` input (8 x 1 x 300 in the hands-on) for `classes` classes.
pub fn temponet(channels: usize, samples: usize, classes: usize, seed: u64) -> Result<Sequential> {
    let bn = BatchNormConfig::pytorch();
    let mut b = Sequential::builder([channels, 1, samples], seed);
    // (name, out channels, kernel, stride, dilation, pool after)
    let convs: [(&str, usize, usize, usize, usize, bool); 9] = [
        ("tb1", 32, 5usize.div_ceil(2), 1, 2, false),
        ("tb2", 32, 5usize.div_ceil(2), 1, 2, false),
        ("cb1", 64, 5, 1, 1, true),
        ("tb3", 64, 9usize.div_ceil(4), 1, 4, false),
        ("tb4", 64, 9usize.div_ceil(4), 1, 4, false),
        ("cb2", 128, 5, 2, 1, true),
        ("tb5", 128, 17usize.div_ceil(8), 1, 8, false),
        ("tb6", 128, 17usize.div_ceil(8), 1, 8, false),
        ("cb3", 128, 5, 4, 1, true),
    ];
    for (name, c_out, k, stride, dilation, pool) in convs {
        let conv = Conv2dConfig {
            stride: (1, stride),
            padding: Padding::Same,
            dilation: (1, dilation),
            ..Default::default()
        };
        b = b.conv2d(name, c_out, (1, k), conv).batch_norm(
            &format!("{name}_bn"),
            bn,
            Activation::Relu,
        );
        if pool {
            b = b.max_pool2d(&format!("{name}_pool"), (1, 2));
        }
    }
    b = b.flatten("flatten");
    for (name, units) in [("fc1", 256), ("fc2", 128)] {
        b = b.linear(name, units, Activation::None).batch_norm(
            &format!("{name}_bn"),
            bn,
            Activation::Relu,
        );
    }
    b.linear("fc3", classes, Activation::None).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameter_count() {
        let m = temponet(8, 300, 9, 0).unwrap();
        let rows = m.summary().unwrap();
        let shape = |name: &str| {
            rows.iter()
                .find(|r| r.name == name)
                .unwrap()
                .output_shape
                .clone()
        };
        assert_eq!(shape("tb2_bn"), [32, 1, 300]);
        assert_eq!(shape("cb1_pool"), [64, 1, 150]);
        assert_eq!(shape("cb2"), [128, 1, 75]);
        assert_eq!(shape("cb2_pool"), [128, 1, 37]);
        assert_eq!(shape("cb3"), [128, 1, 10]);
        assert_eq!(shape("flatten"), [640]);
        assert_eq!(shape("fc3"), [9]);
        // conv weights + biases: 8*32*3+32, 32*32*3+32, 32*64*5+64, 2 x (64*64*3+64),
        // 64*128*5+128, 2 x (128*128*3+128), 128*128*5+128; dense 640*256+256,
        // 256*128+128, 128*9+9; batch norms gamma + beta of 32+32+64+64+64+128+128+128+128+256+128
        let convs = 800 + 3104 + 10_304 + 2 * 12_352 + 41_088 + 2 * 49_280 + 82_048;
        let dense = 164_096 + 32_896 + 1161;
        let bn = 2 * (32 + 32 + 64 + 64 + 64 + 128 + 128 + 128 + 128 + 256 + 128);
        let trainable: usize = m.vars().iter().map(|v| v.elem_count()).sum();
        // 461,065: about the 460 kB the paper reports for its 8-bit network
        assert_eq!(trainable, convs + dense + bn);
        assert_eq!(trainable, 461_065);
        let total: usize = rows.iter().map(|r| r.params).sum();
        assert_eq!(
            total,
            trainable + bn,
            "running statistics as many as gamma + beta"
        );
    }
}
