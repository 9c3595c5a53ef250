//! One layer of a sequential float model: its kinds, constructors with
//! Keras' initialisation, and its forward passes on the custom CPU ops.

use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::ops::batchnorm::{
    batch_norm_eval, batch_norm_train, update_running_stats, BatchNormConfig,
};
use super::ops::conv::conv2d_fused;
use super::ops::depthwise::depthwise_conv2d_fused;
use super::ops::host::activate;
use super::ops::pool::{avg_pool2d, max_pool2d_padded};
use super::vocab::{conv_out_size, Activation, Padding, PoolKind};
use crate::{Error, Result};

/// Options of a convolution or depthwise convolution; the default is Keras'
/// (stride 1, VALID, no dilation, no activation, with bias).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Stride (height, width); default (1, 1).
    pub stride: (usize, usize),
    /// Padding rule; default VALID.
    pub padding: Padding,
    /// Dilation (height, width); default (1, 1).
    pub dilation: (usize, usize),
    /// Fused activation; default none.
    pub activation: Activation,
    /// Whether the bias is trained; without it (PyTorch's `bias=False`) the
    /// bias stays zero and is neither a variable nor saved; default true.
    pub use_bias: bool,
}

impl Default for Conv2dConfig {
    fn default() -> Self {
        Conv2dConfig {
            stride: (1, 1),
            padding: Padding::Valid,
            dilation: (1, 1),
            activation: Activation::None,
            use_bias: true,
        }
    }
}

/// Options of a pooling layer; the default is Keras' (stride = window, VALID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2dConfig {
    /// Stride (height, width); default `None`: the window.
    pub stride: Option<(usize, usize)>,
    /// Padding rule; default VALID.
    pub padding: Padding,
}

impl Default for Pool2dConfig {
    fn default() -> Self {
        Pool2dConfig {
            stride: None,
            padding: Padding::Valid,
        }
    }
}

/// One layer of a [`Sequential`] model.
#[derive(Clone, Debug)]
pub enum Layer {
    /// A 2-D convolution with bias and fused activation.
    Conv2d {
        /// Weights `[out, in, kh, kw]`.
        weight: Var,
        /// Bias `[out]`.
        bias: Var,
        /// Stride (height, width).
        stride: (usize, usize),
        /// Padding rule.
        padding: Padding,
        /// Dilation (height, width).
        dilation: (usize, usize),
        /// Fused activation.
        activation: Activation,
        /// Whether `bias` is trained and saved (else it stays zero).
        use_bias: bool,
    },
    /// NCHW -> N x (C*H*W), in candle's (channel-major) order.
    Flatten,
    /// A depthwise 2-D convolution (each input channel with its own
    /// `multiplier` kernels) with bias and fused activation.
    DepthwiseConv2d {
        /// Weights `[in * multiplier, 1, kh, kw]`; output channel `c * multiplier + m` reads input channel `c`.
        weight: Var,
        /// Bias `[in * multiplier]`.
        bias: Var,
        /// Stride (height, width).
        stride: (usize, usize),
        /// Padding rule.
        padding: Padding,
        /// Dilation (height, width).
        dilation: (usize, usize),
        /// Fused activation.
        activation: Activation,
        /// Whether `bias` is trained and saved (else it stays zero).
        use_bias: bool,
    },
    /// Batch normalization over axis 1 (channels of NCHW, features of N x F)
    /// with a fused activation; batch statistics in training
    /// ([`Sequential::forward_train`]), running ones otherwise.
    BatchNorm {
        /// Scale `[C]` (trainable).
        gamma: Var,
        /// Offset `[C]` (trainable).
        beta: Var,
        /// Running mean `[C]` (updated by training-mode passes, not by the optimizer).
        running_mean: Var,
        /// Running variance `[C]`, likewise.
        running_var: Var,
        /// Momentum, epsilon and the running-variance convention.
        config: BatchNormConfig,
        /// Fused activation.
        activation: Activation,
    },
    /// Dropout: in training mode ([`Sequential::forward_train`]) each value
    /// is zeroed with probability `rate` and the others scaled by
    /// `1 / (1 - rate)`, as Keras and PyTorch do; the identity otherwise.
    Dropout {
        /// Probability of dropping a value, in [0, 1).
        rate: f64,
        /// The masks' random numbers, seeded so that training is reproducible.
        rng: Arc<Mutex<StdRng>>,
    },
    /// Max or average pooling with a padding rule (padding never takes part).
    Pool2d {
        /// Maximum or average.
        kind: PoolKind,
        /// Window (height, width).
        kernel: (usize, usize),
        /// Stride (height, width).
        stride: (usize, usize),
        /// Padding rule.
        padding: Padding,
    },
    /// Layer normalization over the features of an N x F input (Keras'
    /// `LayerNormalization()` on its last axis): `gamma * (x - mean) / sqrt(var + epsilon) + beta`
    /// with each sample's own mean and (biased) variance, in training and inference alike.
    LayerNorm {
        /// Scale `[F]` (trainable).
        gamma: Var,
        /// Offset `[F]` (trainable).
        beta: Var,
        /// Added to the variance; Keras' default is 1e-3 ([`LAYER_NORM_EPSILON`]).
        epsilon: f64,
    },
    /// A fully connected layer with bias and fused activation.
    Linear {
        /// Weights `[out, in]`.
        weight: Var,
        /// Bias `[out]`.
        bias: Var,
        /// Fused activation.
        activation: Activation,
    },
}

impl Layer {
    /// A convolution with Keras' default initialisation (Glorot-uniform weights, zero bias).
    pub fn conv2d(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        config: Conv2dConfig,
        rng: &mut impl Rng,
    ) -> Result<Layer> {
        let field = kernel.0 * kernel.1;
        Ok(Layer::Conv2d {
            weight: glorot_uniform(
                &[out_channels, in_channels, kernel.0, kernel.1],
                in_channels * field,
                out_channels * field,
                rng,
            )?,
            bias: Var::zeros(out_channels, DType::F32, &Device::Cpu)?,
            stride: config.stride,
            padding: config.padding,
            dilation: config.dilation,
            activation: config.activation,
            use_bias: config.use_bias,
        })
    }

    /// A depthwise convolution (`multiplier` kernels per input channel) with Keras' default
    /// initialisation (Glorot-uniform weights with Keras' fans `kh*kw*in` and `kh*kw*multiplier`, zero bias).
    pub fn depthwise_conv2d(
        in_channels: usize,
        multiplier: usize,
        kernel: (usize, usize),
        config: Conv2dConfig,
        rng: &mut impl Rng,
    ) -> Result<Layer> {
        let field = kernel.0 * kernel.1;
        let o = in_channels * multiplier;
        Ok(Layer::DepthwiseConv2d {
            weight: glorot_uniform(
                &[o, 1, kernel.0, kernel.1],
                in_channels * field,
                multiplier * field,
                rng,
            )?,
            bias: Var::zeros(o, DType::F32, &Device::Cpu)?,
            stride: config.stride,
            padding: config.padding,
            dilation: config.dilation,
            activation: config.activation,
            use_bias: config.use_bias,
        })
    }

    /// A pooling layer taking `kind` of each `kernel` window.
    pub fn pool2d(kind: PoolKind, kernel: (usize, usize), config: Pool2dConfig) -> Layer {
        Layer::Pool2d {
            kind,
            kernel,
            stride: config.stride.unwrap_or(kernel),
            padding: config.padding,
        }
    }

    /// A batch normalization of `channels` (gamma 1, beta 0, running mean 0, running variance 1).
    pub fn batch_norm(
        channels: usize,
        config: BatchNormConfig,
        activation: Activation,
    ) -> Result<Layer> {
        let dev = &Device::Cpu;
        Ok(Layer::BatchNorm {
            gamma: Var::ones(channels, DType::F32, dev)?,
            beta: Var::zeros(channels, DType::F32, dev)?,
            running_mean: Var::zeros(channels, DType::F32, dev)?,
            running_var: Var::ones(channels, DType::F32, dev)?,
            config,
            activation,
        })
    }

    /// A layer normalization of `features` (gamma 1, beta 0) adding `epsilon` to the variance.
    pub fn layer_norm(features: usize, epsilon: f64) -> Result<Layer> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(Error::Config(format!(
                "layer norm: epsilon {epsilon} is not a finite positive number"
            )));
        }
        let dev = &Device::Cpu;
        Ok(Layer::LayerNorm {
            gamma: Var::ones(features, DType::F32, dev)?,
            beta: Var::zeros(features, DType::F32, dev)?,
            epsilon,
        })
    }

    /// A dropout layer dropping values with probability `rate` in training, its masks seeded by `seed`.
    pub fn dropout(rate: f64, seed: u64) -> Result<Layer> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::Config(format!(
                "dropout: rate {rate} is not in [0, 1)"
            )));
        }
        Ok(Layer::Dropout {
            rate,
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
        })
    }

    /// Average pooling over the whole `h x w` plane (one value per channel), as an [`Layer::Pool2d`].
    pub fn global_avg_pool(h: usize, w: usize) -> Layer {
        Layer::pool2d(PoolKind::Average, (h, w), Pool2dConfig::default())
    }

    /// A dense layer with Keras' default initialisation (Glorot-uniform weights, zero bias).
    pub fn linear(
        in_features: usize,
        out_features: usize,
        activation: Activation,
        rng: &mut impl Rng,
    ) -> Result<Layer> {
        Ok(Layer::Linear {
            weight: glorot_uniform(&[out_features, in_features], in_features, out_features, rng)?,
            bias: Var::zeros(out_features, DType::F32, &Device::Cpu)?,
            activation,
        })
    }

    /// The layer's kind, as Keras names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Conv2d { .. } => "Conv2D",
            Layer::Flatten => "Flatten",
            Layer::Linear { .. } => "Dense",
            Layer::DepthwiseConv2d { .. } => "DepthwiseConv2D",
            Layer::BatchNorm { .. } => "BatchNormalization",
            Layer::LayerNorm { .. } => "LayerNormalization",
            Layer::Dropout { .. } => "Dropout",
            Layer::Pool2d {
                kind: PoolKind::Max,
                ..
            } => "MaxPooling2D",
            Layer::Pool2d {
                kind: PoolKind::Average,
                ..
            } => "AveragePooling2D",
        }
    }

    /// The layer's trainable variables with their name suffixes ("weight", "bias").
    pub fn named_vars(&self) -> Vec<(&'static str, &Var)> {
        match self {
            Layer::Conv2d {
                weight,
                use_bias: false,
                ..
            }
            | Layer::DepthwiseConv2d {
                weight,
                use_bias: false,
                ..
            } => vec![("weight", weight)],
            Layer::Conv2d { weight, bias, .. }
            | Layer::Linear { weight, bias, .. }
            | Layer::DepthwiseConv2d { weight, bias, .. } => {
                vec![("weight", weight), ("bias", bias)]
            }
            Layer::BatchNorm { gamma, beta, .. } | Layer::LayerNorm { gamma, beta, .. } => {
                vec![("gamma", gamma), ("beta", beta)]
            }
            Layer::Flatten | Layer::Pool2d { .. } | Layer::Dropout { .. } => vec![],
        }
    }

    /// The layer's non-trainable state with its name suffixes (batch norm's "running_mean", "running_var").
    pub fn named_buffers(&self) -> Vec<(&'static str, &Var)> {
        match self {
            Layer::BatchNorm {
                running_mean,
                running_var,
                ..
            } => vec![("running_mean", running_mean), ("running_var", running_var)],
            _ => vec![],
        }
    }

    /// A copy with new variables holding the same values.
    pub fn deep_copy(&self) -> Result<Layer> {
        let cp = |v: &Var| -> Result<Var> { Ok(Var::from_tensor(&v.as_tensor().copy()?)?) };
        let mut l = self.clone();
        match &mut l {
            Layer::Conv2d { weight, bias, .. }
            | Layer::DepthwiseConv2d { weight, bias, .. }
            | Layer::Linear { weight, bias, .. } => {
                *weight = cp(weight)?;
                *bias = cp(bias)?;
            }
            Layer::BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                ..
            } => {
                *gamma = cp(gamma)?;
                *beta = cp(beta)?;
                *running_mean = cp(running_mean)?;
                *running_var = cp(running_var)?;
            }
            Layer::LayerNorm { gamma, beta, .. } => {
                *gamma = cp(gamma)?;
                *beta = cp(beta)?;
            }
            Layer::Flatten | Layer::Pool2d { .. } | Layer::Dropout { .. } => {}
        }
        Ok(l)
    }

    /// Runs the layer in training mode: batch norm normalizes with the batch's
    /// statistics and updates its running ones; other layers are as in [`Layer::forward`].
    pub fn forward_train(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Layer::BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                config,
                activation,
            } => {
                let (y, mean, var) = batch_norm_train(x, gamma, beta, config.epsilon, *activation)?;
                let count = x.elem_count() / gamma.elem_count().max(1);
                update_running_stats(running_mean, running_var, &mean, &var, count, config)?;
                Ok(y)
            }
            Layer::Dropout { rate, rng } if *rate > 0.0 => {
                let keep = 1.0 - *rate;
                let n = x.elem_count();
                let mask: Vec<f32> = {
                    let mut rng = rng.lock().map_err(|_| {
                        Error::Config("dropout: the random generator is poisoned".into())
                    })?;
                    (0..n)
                        .map(|_| {
                            if rng.random::<f64>() < keep {
                                (1.0 / keep) as f32
                            } else {
                                0.0
                            }
                        })
                        .collect()
                };
                let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
                Ok((x * mask)?)
            }
            _ => self.forward(x),
        }
    }

    /// Runs the layer on a batch (the fused activation included).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with_weight(x, |w| Ok(w.clone()))
    }

    /// [`Layer::forward`] with the weight of a convolution or dense layer
    /// replaced by `map(weight)` (e.g. its fake-quantized value).
    pub fn forward_with_weight(
        &self,
        x: &Tensor,
        map: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        match self {
            Layer::Conv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                activation,
                ..
            } => conv2d_fused(
                x,
                &map(weight)?,
                bias,
                *stride,
                *padding,
                *dilation,
                *activation,
            ),
            Layer::DepthwiseConv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                activation,
                ..
            } => depthwise_conv2d_fused(
                x,
                &map(weight)?,
                bias,
                *stride,
                *padding,
                *dilation,
                *activation,
            ),
            Layer::BatchNorm {
                gamma,
                beta,
                running_mean,
                running_var,
                config,
                activation,
            } => batch_norm_eval(
                x,
                gamma,
                beta,
                running_mean,
                running_var,
                config.epsilon,
                *activation,
            ),
            Layer::Pool2d {
                kind: PoolKind::Max,
                kernel,
                stride,
                padding,
            } => max_pool2d_padded(x, *kernel, *stride, *padding),
            Layer::Pool2d {
                kind: PoolKind::Average,
                kernel,
                stride,
                padding,
            } => avg_pool2d(x, *kernel, *stride, *padding),
            Layer::LayerNorm {
                gamma,
                beta,
                epsilon,
            } => layer_norm(x, gamma, beta, *epsilon),
            Layer::Dropout { .. } => Ok(x.clone()),
            Layer::Flatten => {
                let n = x.dim(0)?;
                Ok(x.reshape((n, x.elem_count() / n.max(1)))?)
            }
            Layer::Linear {
                weight,
                bias,
                activation,
            } => {
                let (n, i) = x.dims2().map_err(|_| {
                    Error::Shape(format!(
                        "dense: expected input of rank 2, got shape {:?}",
                        x.dims()
                    ))
                })?;
                let (o, wi) = weight.dims2()?;
                if i != wi {
                    return Err(Error::Shape(format!(
                        "dense: input has {i} features but weight expects {wi}"
                    )));
                }
                let y = x
                    .matmul(&map(weight)?.t()?)?
                    .broadcast_add(&bias.reshape((1, o))?)?;
                debug_assert_eq!(y.dims(), [n, o]);
                Ok(activate(y, *activation)?)
            }
        }
    }

    /// The output shape (without batch) for an input of shape `input` (without batch).
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let kind = self.kind();
        let bad = |what: String| Error::Config(format!("{kind}: {what}"));
        match self {
            Layer::Conv2d {
                weight,
                stride,
                padding,
                dilation,
                ..
            } => {
                let (o, i, kh, kw) = weight.dims4()?;
                let [c, h, w] = *input else {
                    return Err(bad(format!("expected input [C, H, W], got {input:?}")));
                };
                if c != i {
                    return Err(bad(format!(
                        "input has {c} channels but weight expects {i}"
                    )));
                }
                let too_small = || bad(format!("input {h}x{w} too small for kernel {kh}x{kw}"));
                let (oh, _) =
                    conv_out_size(h, kh, stride.0, dilation.0, *padding).ok_or_else(too_small)?;
                let (ow, _) =
                    conv_out_size(w, kw, stride.1, dilation.1, *padding).ok_or_else(too_small)?;
                Ok(vec![o, oh, ow])
            }
            Layer::DepthwiseConv2d {
                weight,
                stride,
                padding,
                dilation,
                ..
            } => {
                let (o, _, kh, kw) = weight.dims4()?;
                let [c, h, w] = *input else {
                    return Err(bad(format!("expected input [C, H, W], got {input:?}")));
                };
                if c == 0 || o % c != 0 {
                    return Err(bad(format!(
                        "input has {c} channels but the weight's {o} outputs are not a multiple of them"
                    )));
                }
                let too_small = || bad(format!("input {h}x{w} too small for kernel {kh}x{kw}"));
                let (oh, _) =
                    conv_out_size(h, kh, stride.0, dilation.0, *padding).ok_or_else(too_small)?;
                let (ow, _) =
                    conv_out_size(w, kw, stride.1, dilation.1, *padding).ok_or_else(too_small)?;
                Ok(vec![o, oh, ow])
            }
            Layer::BatchNorm { gamma, .. } => {
                let c = gamma.elem_count();
                if input.is_empty() || input[0] != c || (input.len() != 1 && input.len() != 3) {
                    return Err(bad(format!(
                        "expected input [{c}] or [{c}, H, W], got {input:?}"
                    )));
                }
                Ok(input.to_vec())
            }
            Layer::LayerNorm { gamma, .. } => {
                let f = gamma.elem_count();
                if input != [f] {
                    return Err(bad(format!("expected input [{f}], got {input:?}")));
                }
                Ok(input.to_vec())
            }
            Layer::Pool2d {
                kernel,
                stride,
                padding,
                ..
            } => {
                let [c, h, w] = *input else {
                    return Err(bad(format!("expected input [C, H, W], got {input:?}")));
                };
                let too_small = || bad(format!("input {h}x{w} too small for window {kernel:?}"));
                let (oh, _) =
                    conv_out_size(h, kernel.0, stride.0, 1, *padding).ok_or_else(too_small)?;
                let (ow, _) =
                    conv_out_size(w, kernel.1, stride.1, 1, *padding).ok_or_else(too_small)?;
                Ok(vec![c, oh, ow])
            }
            Layer::Flatten => Ok(vec![input.iter().product()]),
            Layer::Dropout { .. } => Ok(input.to_vec()),
            Layer::Linear { weight, .. } => {
                let (o, i) = weight.dims2()?;
                if input != [i] {
                    return Err(bad(format!("expected input [{i}], got {input:?}")));
                }
                Ok(vec![o])
            }
        }
    }
}

/// Keras' default epsilon of `LayerNormalization`.
pub const LAYER_NORM_EPSILON: f64 = 1e-3;

/// Layer normalization of an N x F batch over F: `gamma * (x - mean) / sqrt(var + epsilon) + beta`
/// with the biased variance, on candle's differentiable ops (so it trains).
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, epsilon: f64) -> Result<Tensor> {
    let (_, f) = x.dims2().map_err(|_| {
        Error::Shape(format!(
            "layer norm: expected input of rank 2, got shape {:?}",
            x.dims()
        ))
    })?;
    if gamma.elem_count() != f || beta.elem_count() != f {
        return Err(Error::Shape(format!(
            "layer norm: input has {f} features but gamma has {} and beta {}",
            gamma.elem_count(),
            beta.elem_count()
        )));
    }
    let (gamma, beta) = (
        gamma.to_dtype(x.dtype())?.reshape((1, f))?,
        beta.to_dtype(x.dtype())?.reshape((1, f))?,
    );
    let mean = x.mean_keepdim(1)?;
    let centered = x.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(1)?;
    let inv = (var + epsilon)?.sqrt()?.recip()?;
    Ok(centered
        .broadcast_mul(&inv)?
        .broadcast_mul(&gamma)?
        .broadcast_add(&beta)?)
}

/// A normal-initialised f32 variable with mean 0 and standard deviation `std`.
pub fn normal(shape: &[usize], std: f64, rng: &mut impl Rng) -> Result<Var> {
    if !(std.is_finite() && std >= 0.0) {
        return Err(Error::Config(format!(
            "normal: standard deviation {std} is not a finite non-negative number"
        )));
    }
    let n: usize = shape.iter().product();
    // Box-Muller: sqrt(-2 ln u1) cos(2 pi u2) is standard normal for u1 in (0, 1], u2 in [0, 1).
    let data: Vec<f32> = (0..n)
        .map(|_| {
            let u1 = 1.0 - rng.random::<f64>();
            let u2 = rng.random::<f64>();
            (std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect();
    Ok(Var::from_tensor(&Tensor::from_vec(
        data,
        shape,
        &Device::Cpu,
    )?)?)
}

/// PyTorch's `kaiming_normal_(mode="fan_out", nonlinearity="relu")` for a
/// weight `[out, in / groups, kh, kw]`: normal with std `sqrt(2 / (out * kh * kw))`
/// (PyTorch's fan-out ignores groups, so a depthwise weight gets the same rule).
pub fn kaiming_normal_fan_out(shape: &[usize], rng: &mut impl Rng) -> Result<Var> {
    let receptive: usize = shape.iter().skip(2).product();
    let fan_out = shape.first().copied().unwrap_or(0) * receptive;
    if fan_out == 0 {
        return Err(Error::Config(format!(
            "kaiming normal: shape {shape:?} has no fan-out"
        )));
    }
    normal(shape, (2.0 / fan_out as f64).sqrt(), rng)
}

/// A Glorot-uniform initialised f32 variable: uniform in ±sqrt(6 / (fan_in + fan_out)).
pub fn glorot_uniform(
    shape: &[usize],
    fan_in: usize,
    fan_out: usize,
    rng: &mut impl Rng,
) -> Result<Var> {
    let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt() as f32;
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|_| rng.random_range(-limit..=limit)).collect();
    Ok(Var::from_tensor(&Tensor::from_vec(
        data,
        shape,
        &Device::Cpu,
    )?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropout_by_hand_and_seeded() {
        let x = Tensor::ones((4, 1000), DType::F32, &Device::Cpu).unwrap();
        let d = Layer::dropout(0.25, 3).unwrap();
        // inference: the identity
        assert_eq!(
            d.forward(&x).unwrap().to_vec2::<f32>().unwrap(),
            x.to_vec2::<f32>().unwrap()
        );
        // training: zeros and 1 / 0.75, about a quarter dropped, the mean kept
        let y = d
            .forward_train(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let dropped = y.iter().filter(|&&v| v == 0.0).count();
        assert!(y.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
        assert!((900..1100).contains(&dropped), "{dropped} of 4000 dropped");
        // the same seed gives the same masks; the next call a new one
        let again = Layer::dropout(0.25, 3).unwrap();
        let y2 = again
            .forward_train(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(y, y2);
        let y3 = again
            .forward_train(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_ne!(y2, y3);
        assert!(Layer::dropout(1.0, 0).is_err());
    }

    #[test]
    fn layer_norm_by_hand() {
        let dev = &Device::Cpu;
        let l = Layer::layer_norm(4, LAYER_NORM_EPSILON).unwrap();
        let Layer::LayerNorm { gamma, beta, .. } = &l else {
            unreachable!()
        };
        gamma
            .set(&Tensor::new(&[1f32, 2.0, 0.5, -1.0], dev).unwrap())
            .unwrap();
        beta.set(&Tensor::new(&[0f32, 1.0, -1.0, 0.5], dev).unwrap())
            .unwrap();
        let x = Tensor::new(&[[1f32, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 4.0]], dev).unwrap();
        let y = l.forward(&x).unwrap().to_vec2::<f32>().unwrap();
        // row 0: mean 2.5, var 1.25, inv = 1 / sqrt(1.25 + 0.001) = 0.894070
        // row 1: mean 1, var 3, inv = 1 / sqrt(3.001) = 0.577254
        let want = [
            [
                -1.5 * 0.894_069_6,
                -0.5 * 0.894_069_6 * 2.0 + 1.0,
                0.5 * 0.894_069_6 * 0.5 - 1.0,
                -1.5 * 0.894_069_6 + 0.5,
            ],
            [
                -0.577_254_07,
                -0.577_254_07 * 2.0 + 1.0,
                -0.577_254_07 * 0.5 - 1.0,
                -3.0 * 0.577_254_07 + 0.5,
            ],
        ];
        for (r, (got, want)) in y.iter().zip(want).enumerate() {
            for (a, b) in got.iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "row {r}: {got:?} vs {want:?}");
            }
        }
        // the same in training mode, and the output shape is the input's
        assert_eq!(l.forward_train(&x).unwrap().to_vec2::<f32>().unwrap(), y);
        assert_eq!(l.output_shape(&[4]).unwrap(), [4]);
        assert!(l.output_shape(&[4, 2, 2]).is_err());
        assert!(Layer::layer_norm(4, 0.0).is_err());
        // the named state is what save and load see
        let names: Vec<&str> = l.named_vars().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["gamma", "beta"]);
    }

    #[test]
    fn layer_norm_gradients_flow() {
        let dev = &Device::Cpu;
        let l = Layer::layer_norm(3, LAYER_NORM_EPSILON).unwrap();
        let x = Tensor::new(&[[1f32, -2.0, 0.5], [3.0, 1.0, 2.0]], dev).unwrap();
        let w = Tensor::new(&[[1f32, 0.0, -1.0], [0.5, 2.0, 0.0]], dev).unwrap();
        let loss = (l.forward_train(&x).unwrap() * w)
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        for (name, v) in l.named_vars() {
            let g = grads
                .get(v)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let g = g.to_vec1::<f32>().unwrap();
            assert!(g.iter().any(|&v| v != 0.0), "{name}: zero gradient {g:?}");
        }
    }
}
