//! MobileNetV1 (Howard et al. 2017) as the PULP/QuantLib tutorial and
//! PyTorch ports build it: a 3x3 stride-2 convolution to 32 channels, then 13
//! depthwise-separable blocks (depthwise 3x3 + batch norm + activation,
//! pointwise 1x1 + batch norm + activation) to 64, 128, 128, 256, 256,
//! 512 x 6, 1024, 1024 channels with strides 1, 2, 1, 2, 1, 2, 1 x 5, 2, 1;
//! then global average pooling, flatten and a dense classifier.
//!
//! Convolutions have no bias (each is followed by a batch norm, which
//! [`fold_batch_norm`](crate::train::fold_batch_norm) folds into it for
//! export). Channels scale with the width multiplier as Keras'
//! `MobileNet(alpha)` and MLPerf Tiny's VWW model round them:
//! `int(channels * width)` (truncation), at least 1. Padding is TFLite's
//! SAME, so the shapes are PyTorch's `padding=1` ones (a stride-2 layer on an
//! even input pads one pixel after instead of one on each side).
//!
//! Initialisation is PyTorch's custom one for MobileNets: Kaiming-normal
//! fan-out weights for every convolution, batch norm gamma 1 and beta 0,
//! classifier weights N(0, 0.01) and zero bias. The reference's dropout
//! before the classifier (Keras' 1e-3) is not modelled.

use rand::{rngs::StdRng, SeedableRng};

use crate::train::layer::{kaiming_normal_fan_out, normal};
use crate::train::{
    Activation, BatchNormConfig, Conv2dConfig, Layer, Padding, Sequential, SequentialBuilder,
};
use crate::{Error, Result};

/// The first convolution's channels at width 1.
const STEM_CHANNELS: usize = 32;

/// The depthwise-separable blocks at width 1: (pointwise output channels, depthwise stride).
pub const BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// Standard deviation of the classifier's initial weights.
const CLASSIFIER_STD: f64 = 0.01;

/// The options of [`mobilenet_v1`]; the default is the ImageNet model
/// (width 1.0, 224x224 RGB, 1000 classes, ReLU, PyTorch's batch norm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MobileNetV1Config {
    /// Width multiplier scaling every layer's channels, in (0, 1] as the paper uses it (0.25, 0.5, 0.75, 1.0); default 1.0.
    pub width: f64,
    /// Input height and width; default 224.
    pub resolution: usize,
    /// Input channels; default 3.
    pub in_channels: usize,
    /// Output classes; default 1000.
    pub classes: usize,
    /// Activation after each batch norm, ReLU or ReLU6; default ReLU.
    pub activation: Activation,
    /// Momentum and epsilon of every batch norm; default PyTorch's.
    pub batch_norm: BatchNormConfig,
    /// Seed of the initial weights; default 0.
    pub seed: u64,
}

impl Default for MobileNetV1Config {
    fn default() -> Self {
        MobileNetV1Config {
            width: 1.0,
            resolution: 224,
            in_channels: 3,
            classes: 1000,
            activation: Activation::Relu,
            batch_norm: BatchNormConfig::pytorch(),
            seed: 0,
        }
    }
}

impl MobileNetV1Config {
    /// MLPerf Tiny's Visual Wake Words model: width 0.25 at 96x96 RGB, 2 classes.
    pub fn vww() -> Self {
        MobileNetV1Config {
            width: 0.25,
            resolution: 96,
            classes: 2,
            ..Default::default()
        }
    }

    /// The channels of a layer with `channels` at width 1: `int(channels * width)`, at least 1.
    pub fn scaled(&self, channels: usize) -> usize {
        ((channels as f64 * self.width) as usize).max(1)
    }

    fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Config(format!("mobilenet_v1: {what}")));
        if !(self.width > 0.0 && self.width.is_finite()) {
            return bad(format!("width {} must be positive", self.width));
        }
        if self.resolution == 0 || self.in_channels == 0 || self.classes == 0 {
            return bad(format!(
                "resolution {}, input channels {} and classes {} must be positive",
                self.resolution, self.in_channels, self.classes
            ));
        }
        if !matches!(self.activation, Activation::Relu | Activation::Relu6) {
            return bad(format!(
                "activation {:?}: expected Relu or Relu6",
                self.activation
            ));
        }
        Ok(())
    }
}

/// MobileNetV1 on `[in_channels, resolution, resolution]` input, initialised as PyTorch's ports do.
///
/// ```
/// use workbench::models::{mobilenet_v1, MobileNetV1Config};
/// let m = mobilenet_v1(&MobileNetV1Config { width: 0.25, resolution: 32, classes: 10, ..Default::default() }).unwrap();
/// assert_eq!(m.summary().unwrap().last().unwrap().output_shape, [10]);
/// ```
pub fn mobilenet_v1(cfg: &MobileNetV1Config) -> Result<Sequential> {
    cfg.check()?;
    let conv = |stride: usize| Conv2dConfig {
        stride: (stride, stride),
        padding: Padding::Same,
        use_bias: false,
        ..Default::default()
    };
    let (bn, act) = (cfg.batch_norm, cfg.activation);
    let mut b: SequentialBuilder =
        Sequential::builder([cfg.in_channels, cfg.resolution, cfg.resolution], cfg.seed)
            .conv2d("conv0", cfg.scaled(STEM_CHANNELS), (3, 3), conv(2))
            .batch_norm("conv0_bn", bn, act);
    for (i, &(channels, stride)) in BLOCKS.iter().enumerate() {
        let i = i + 1;
        b = b
            .depthwise_conv2d(&format!("dw{i}"), 1, (3, 3), conv(stride))
            .batch_norm(&format!("dw{i}_bn"), bn, act)
            .conv2d(&format!("pw{i}"), cfg.scaled(channels), (1, 1), conv(1))
            .batch_norm(&format!("pw{i}_bn"), bn, act);
    }
    let (h, w) = match *b.output_shape() {
        [_, h, w] => (h, w),
        _ => (1, 1), // the builder holds an error, which build() returns
    };
    let model = b
        .push("avg_pool", Layer::global_avg_pool(h, w))
        .flatten("flatten")
        .linear("classifier", cfg.classes, Activation::None)
        .build()
        .map_err(|e| Error::Config(format!("mobilenet_v1: {e}")))?;
    initialise(&model, cfg.seed)?;
    Ok(model)
}

/// Redraws the weights as PyTorch's MobileNets do: Kaiming-normal fan-out
/// convolutions, N(0, 0.01) classifier with zero bias.
fn initialise(model: &Sequential, seed: u64) -> Result<()> {
    // A generator of its own, so the builder's Glorot draws do not matter.
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6d62_6e31);
    for (_, layer) in &model.layers {
        match layer {
            Layer::Conv2d { weight, .. } | Layer::DepthwiseConv2d { weight, .. } => {
                weight.set(kaiming_normal_fan_out(weight.dims(), &mut rng)?.as_tensor())?;
            }
            Layer::Linear { weight, bias, .. } => {
                weight.set(normal(weight.dims(), CLASSIFIER_STD, &mut rng)?.as_tensor())?;
                bias.set(&bias.as_tensor().zeros_like()?)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Multiply-accumulates of one inference of a sequential model: each
/// convolution's output elements times its `in * kh * kw` (depthwise: `kh * kw`),
/// each dense layer's `in * out`; batch norms, pooling and activations count zero.
pub fn macs(model: &Sequential) -> Result<u64> {
    let rows = model.summary()?;
    let mut total = 0u64;
    for ((_, layer), row) in model.layers.iter().zip(&rows) {
        let out: usize = row.output_shape.iter().product();
        total += match layer {
            Layer::Conv2d { weight, .. } => {
                let (_, i, kh, kw) = weight.dims4()?;
                (out * i * kh * kw) as u64
            }
            Layer::DepthwiseConv2d { weight, .. } => {
                let (_, _, kh, kw) = weight.dims4()?;
                (out * kh * kw) as u64
            }
            Layer::Linear { weight, .. } => weight.elem_count() as u64,
            _ => 0,
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trainable(m: &Sequential) -> usize {
        m.vars().iter().map(|v| v.elem_count()).sum()
    }

    #[test]
    fn parameter_counts_match_keras_and_the_paper() {
        // Keras' MobileNet(alpha=1.0, 224, classes=1000): 4,231,976 trainable
        // parameters, 21,888 non-trainable (the batch norms' running statistics).
        let m = mobilenet_v1(&MobileNetV1Config::default()).unwrap();
        assert_eq!(trainable(&m), 4_231_976);
        let total: usize = m.summary().unwrap().iter().map(|r| r.params).sum();
        assert_eq!(total - trainable(&m), 21_888);
        // The paper's Table 8 counts 569M mult-adds: this count gives 568.7M
        // (convolutions and the 1024 x 1000 classifier).
        let ops = macs(&m).unwrap();
        assert_eq!(ops, 568_740_352);

        // Width 0.25 (channels 8, 16, 32, 32, 64, 64, 128 x 6, 256, 256), by hand:
        // stem 3*9*8 = 216; depthwise inputs 8+16+32+32+64+64+128*6+256 = 1240, 9 * 1240 = 11,160;
        // pointwise 8*16 + 16*32 + 32*32 + 32*64 + 64*64 + 64*128 + 128*128*5 + 128*256 + 256*256
        //   = 128 + 512 + 1024 + 2048 + 4096 + 8192 + 81,920 + 32,768 + 65,536 = 196,224;
        // batch norms 2 * (8 + 1240 + 1488) = 5,472 (pointwise outputs 16+32+32+64+64+128*6+256*2 = 1488);
        // classifier 256 * 1000 + 1000 = 257,000. Total 470,072, as Keras' MobileNet(alpha=0.25)
        // (475,544 with its 5,472 running statistics).
        let q = mobilenet_v1(&MobileNetV1Config {
            width: 0.25,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(216 + 11_160 + 196_224 + 5_472 + 257_000, 470_072);
        assert_eq!(trainable(&q), 470_072);
        // The paper's "0.25 MobileNet-128": 14M mult-adds, 0.47M parameters.
        let q128 = mobilenet_v1(&MobileNetV1Config {
            width: 0.25,
            resolution: 128,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(macs(&q128).unwrap(), 13_570_048);
    }

    #[test]
    fn shapes_and_vww_preset() {
        let m = mobilenet_v1(&MobileNetV1Config::vww()).unwrap();
        let rows = m.summary().unwrap();
        // 96 -> 48 (stem) -> 24 -> 12 -> 6 -> 3 (four stride-2 blocks)
        assert_eq!(rows[0].output_shape, [8, 48, 48]);
        let pool = rows.iter().find(|r| r.name == "avg_pool").unwrap();
        assert_eq!(pool.output_shape, [256, 1, 1]);
        assert_eq!(rows.last().unwrap().output_shape, [2]);
        // 1 + 13 * 2 convolutions, each followed by a batch norm
        assert_eq!(
            rows.iter()
                .filter(|r| r.kind == "BatchNormalization")
                .count(),
            27
        );
        // no convolution has a bias variable
        assert!(m
            .named_vars()
            .iter()
            .all(|(n, _)| !n.ends_with(".bias") || n == "classifier.bias"));
        // a forward pass on a batch of two
        let x = candle_core::Tensor::zeros(
            (2, 3, 96, 96),
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        )
        .unwrap();
        assert_eq!(m.forward(&x).unwrap().dims(), [2, 2]);
        // odd sizes round up at each stride-2 layer: 33 -> 17 -> 9 -> 5 -> 3 -> 2
        let odd = mobilenet_v1(&MobileNetV1Config {
            width: 0.5,
            resolution: 33,
            classes: 3,
            activation: Activation::Relu6,
            ..Default::default()
        })
        .unwrap();
        let pool = odd.summary().unwrap();
        let pool = pool.iter().find(|r| r.name == "avg_pool").unwrap();
        assert_eq!(pool.output_shape, [512, 1, 1]);
    }

    #[test]
    fn initialisation_is_pytorchs() {
        let m = mobilenet_v1(&MobileNetV1Config::default()).unwrap();
        let std_of = |name: &str| {
            let (_, v) = m.named_vars().into_iter().find(|(n, _)| n == name).unwrap();
            let x = v
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let n = x.len() as f64;
            let mean = x.iter().map(|&a| a as f64).sum::<f64>() / n;
            let var = x.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt())
        };
        // pw13: [1024, 1024, 1, 1], fan-out 1024: std sqrt(2/1024) = 0.0442
        let (mean, std) = std_of("pw13.weight");
        assert!(mean.abs() < 1e-3 && (std / (2.0f64 / 1024.0).sqrt() - 1.0).abs() < 0.01);
        // dw13: [1024, 1, 3, 3], fan-out 9216: std 0.0147
        let (_, std) = std_of("dw13.weight");
        assert!((std / (2.0f64 / 9216.0).sqrt() - 1.0).abs() < 0.03, "{std}");
        // classifier N(0, 0.01), zero bias
        let (_, std) = std_of("classifier.weight");
        assert!((std / 0.01 - 1.0).abs() < 0.01, "{std}");
        assert_eq!(std_of("classifier.bias"), (0.0, 0.0));
    }

    #[test]
    fn bad_options_are_errors() {
        for (cfg, want) in [
            (
                MobileNetV1Config {
                    width: 0.0,
                    ..Default::default()
                },
                "width 0",
            ),
            (
                MobileNetV1Config {
                    classes: 0,
                    ..Default::default()
                },
                "classes 0",
            ),
            (
                MobileNetV1Config {
                    activation: Activation::ReluN1To1,
                    ..Default::default()
                },
                "expected Relu or Relu6",
            ),
        ] {
            let e = mobilenet_v1(&cfg).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn folds_for_export() {
        let m = mobilenet_v1(&MobileNetV1Config {
            width: 0.25,
            resolution: 32,
            classes: 10,
            ..Default::default()
        })
        .unwrap();
        let x = candle_core::Tensor::rand(0f32, 1.0, (2, 3, 32, 32), &candle_core::Device::Cpu)
            .unwrap();
        // training-mode passes move the running statistics away from (0, 1)
        for _ in 0..3 {
            m.forward_train(&x).unwrap();
        }
        let folded = crate::train::fold_batch_norm(&m).unwrap();
        assert_eq!(folded.layers.len(), m.layers.len() - 27);
        assert!(folded.named_vars().iter().any(|(n, _)| n == "pw13.bias"));
        let d = (m.forward(&x).unwrap() - folded.forward(&x).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-4, "max diff {d}");
    }
}
