//! A small sequential float model (NCHW) whose layers a quantizer can walk.

use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor, Var};
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::batchnorm::{batch_norm_eval, batch_norm_train, update_running_stats, BatchNormConfig};
use super::conv::{conv2d_fused, conv_out_size};
use super::depthwise::depthwise_conv2d_fused;
use super::pool::{avg_pool2d, max_pool2d, max_pool2d_padded, pool_out_size};
use crate::{Error, Result};

/// An activation fused into the layer before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// The identity.
    None,
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
}

/// Convolution padding, with TFLite's rule for where the padding goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// No padding: only windows entirely inside the input.
    Valid,
    /// Output size `ceil(input / stride)`; the extra padding goes after.
    Same,
}

/// What a [`Layer::Pool2d`] takes of each window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// The maximum.
    Max,
    /// The mean of the in-bounds elements.
    Average,
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
    },
    /// Max pooling with VALID padding.
    MaxPool2d {
        /// Window (height, width).
        kernel: (usize, usize),
        /// Stride (height, width).
        stride: (usize, usize),
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

/// One row of [`Sequential::summary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSummary {
    /// The layer's name, e.g. "conv1".
    pub name: String,
    /// The layer's kind, as Keras names it: "Conv2D", "MaxPooling2D", "Flatten", "Dense", "DepthwiseConv2D", ...
    pub kind: &'static str,
    /// Output shape without the batch dimension: `[C, H, W]` or `[features]`.
    pub output_shape: Vec<usize>,
    /// Number of parameters, trainable or not (batch norm's running statistics), as Keras' "Param #" counts them.
    pub params: usize,
}

fn apply_activation(x: Tensor, act: Activation) -> Result<Tensor> {
    Ok(match act {
        Activation::None => x,
        Activation::Relu => x.relu()?,
        Activation::Relu6 => x.clamp(0f32, 6f32)?,
    })
}

impl Layer {
    /// A convolution with Keras' default initialisation (Glorot-uniform weights, zero bias).
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        in_channels: usize,
        out_channels: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        dilation: (usize, usize),
        activation: Activation,
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
            stride,
            padding,
            dilation,
            activation,
        })
    }

    /// A depthwise convolution with Keras' default initialisation (Glorot-uniform
    /// weights with Keras' fans `kh*kw*in` and `kh*kw*multiplier`, zero bias).
    #[allow(clippy::too_many_arguments)]
    pub fn depthwise_conv2d(
        in_channels: usize,
        multiplier: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        dilation: (usize, usize),
        activation: Activation,
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
            stride,
            padding,
            dilation,
            activation,
        })
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

    /// A dropout layer dropping values with probability `rate` in training, its masks seeded by `seed`.
    pub fn dropout(rate: f64, seed: u64) -> Result<Layer> {
        if !(0.0..1.0).contains(&rate) {
            return Err(Error::Msg(format!("dropout: rate {rate} is not in [0, 1)")));
        }
        Ok(Layer::Dropout {
            rate,
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
        })
    }

    /// Average pooling over the whole `h x w` plane (one value per channel), as an [`Layer::Pool2d`].
    pub fn global_avg_pool(h: usize, w: usize) -> Layer {
        Layer::Pool2d {
            kind: PoolKind::Average,
            kernel: (h, w),
            stride: (h, w),
            padding: Padding::Valid,
        }
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
            Layer::MaxPool2d { .. } => "MaxPooling2D",
            Layer::Flatten => "Flatten",
            Layer::Linear { .. } => "Dense",
            Layer::DepthwiseConv2d { .. } => "DepthwiseConv2D",
            Layer::BatchNorm { .. } => "BatchNormalization",
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
            Layer::Conv2d { weight, bias, .. }
            | Layer::Linear { weight, bias, .. }
            | Layer::DepthwiseConv2d { weight, bias, .. } => {
                vec![("weight", weight), ("bias", bias)]
            }
            Layer::BatchNorm { gamma, beta, .. } => vec![("gamma", gamma), ("beta", beta)],
            Layer::MaxPool2d { .. }
            | Layer::Flatten
            | Layer::Pool2d { .. }
            | Layer::Dropout { .. } => vec![],
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
            Layer::MaxPool2d { .. }
            | Layer::Flatten
            | Layer::Pool2d { .. }
            | Layer::Dropout { .. } => {}
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
                super::threads::tame_candle_threads();
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
                        Error::Msg("dropout: the random generator is poisoned".into())
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
        super::threads::tame_candle_threads();
        match self {
            Layer::Conv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                activation,
            } => conv2d_fused(
                x,
                &map(weight)?,
                bias,
                *stride,
                *padding,
                *dilation,
                *activation,
            ),
            Layer::MaxPool2d { kernel, stride } => max_pool2d(x, *kernel, *stride),
            Layer::DepthwiseConv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                activation,
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
                    Error::Msg(format!(
                        "dense: expected input of rank 2, got shape {:?}",
                        x.dims()
                    ))
                })?;
                let (o, wi) = weight.dims2()?;
                if i != wi {
                    return Err(Error::Msg(format!(
                        "dense: input has {i} features but weight expects {wi}"
                    )));
                }
                let y = x
                    .matmul(&map(weight)?.t()?)?
                    .broadcast_add(&bias.reshape((1, o))?)?;
                debug_assert_eq!(y.dims(), [n, o]);
                apply_activation(y, *activation)
            }
        }
    }

    /// The output shape (without batch) for an input of shape `input` (without batch).
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>> {
        let kind = self.kind();
        let bad = |what: String| Error::Msg(format!("{kind}: {what}"));
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
            Layer::MaxPool2d { kernel, stride } => {
                let [c, h, w] = *input else {
                    return Err(bad(format!("expected input [C, H, W], got {input:?}")));
                };
                let too_small = || bad(format!("input {h}x{w} too small for window {kernel:?}"));
                let oh = pool_out_size(h, kernel.0, stride.0).ok_or_else(too_small)?;
                let ow = pool_out_size(w, kernel.1, stride.1).ok_or_else(too_small)?;
                Ok(vec![c, oh, ow])
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

/// A sequential float model on NCHW f32 input.
#[derive(Clone, Debug)]
pub struct Sequential {
    /// The layers with their names, e.g. ("conv1", Layer::Conv2d {..}).
    pub layers: Vec<(String, Layer)>,
    /// Input shape without the batch dimension: `[C, H, W]`.
    pub input_shape: [usize; 3],
}

impl Sequential {
    fn check_input(&self, x: &Tensor) -> Result<()> {
        super::threads::tame_candle_threads();
        let d = x.dims();
        if d.len() != 4 || d[1..] != self.input_shape {
            return Err(Error::Msg(format!(
                "model: expected input [N, {}, {}, {}], got {d:?}",
                self.input_shape[0], self.input_shape[1], self.input_shape[2]
            )));
        }
        Ok(())
    }

    /// A copy with new variables holding the same values. In an evcxr
    /// notebook, a cell that trains a model another cell built trains such a
    /// copy (each cell numbers candle's tensors on its own).
    pub fn deep_copy(&self) -> Result<Sequential> {
        Ok(Sequential {
            layers: self
                .layers
                .iter()
                .map(|(n, l)| Ok((n.clone(), l.deep_copy()?)))
                .collect::<Result<_>>()?,
            input_shape: self.input_shape,
        })
    }

    /// The logits for an NCHW f32 batch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let mut x = x.clone();
        for (_, layer) in &self.layers {
            x = layer.forward(&x)?;
        }
        Ok(x)
    }

    /// The logits for an NCHW f32 batch in training mode (see [`Layer::forward_train`]).
    pub fn forward_train(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let mut x = x.clone();
        for (_, layer) in &self.layers {
            x = layer.forward_train(&x)?;
        }
        Ok(x)
    }

    /// Each layer's output (after its fused activation), in order.
    pub fn forward_all(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        self.check_input(x)?;
        let mut outs: Vec<Tensor> = Vec::with_capacity(self.layers.len());
        for (_, layer) in &self.layers {
            let y = layer.forward(outs.last().unwrap_or(x))?;
            outs.push(y);
        }
        Ok(outs)
    }

    /// The trainable variables, layer by layer (weight then bias).
    pub fn vars(&self) -> Vec<Var> {
        self.named_vars().into_iter().map(|(_, v)| v).collect()
    }

    /// The trainable variables with their names, e.g. "conv1.weight".
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        self.layers
            .iter()
            .flat_map(|(name, layer)| {
                layer
                    .named_vars()
                    .into_iter()
                    .map(move |(suffix, v)| (format!("{name}.{suffix}"), v.clone()))
            })
            .collect()
    }

    /// The non-trainable state with its names, e.g. "bn1.running_mean".
    pub fn named_buffers(&self) -> Vec<(String, Var)> {
        self.layers
            .iter()
            .flat_map(|(name, layer)| {
                layer
                    .named_buffers()
                    .into_iter()
                    .map(move |(suffix, v)| (format!("{name}.{suffix}"), v.clone()))
            })
            .collect()
    }

    /// Every variable and buffer with its name: what [`Sequential::save`] writes.
    pub fn named_state(&self) -> Vec<(String, Var)> {
        let mut all = self.named_vars();
        all.extend(self.named_buffers());
        all
    }

    /// Saves the variables and buffers as safetensors, named "conv1.weight" etc.
    pub fn save(&self, path: &Path) -> Result<()> {
        super::network::Network::save_state(self, path)
    }

    /// Loads the variables from a safetensors file written by [`Sequential::save`].
    pub fn load(&self, path: &Path) -> Result<()> {
        if let Err(e) = std::fs::metadata(path) {
            return Err(Error::io(path, e));
        }
        let map = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| Error::bad_file(path, e.to_string()))?;
        for (name, var) in self.named_state() {
            let t = map
                .get(&name)
                .ok_or_else(|| Error::bad_file(path, format!("missing tensor {name}")))?;
            if t.dims() != var.dims() {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "tensor {name}: expected shape {:?}, got {:?}",
                        var.dims(),
                        t.dims()
                    ),
                ));
            }
            var.set(&t.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }

    /// One row per layer: name, kind, output shape, parameter count.
    pub fn summary(&self) -> Result<Vec<LayerSummary>> {
        let mut shape = self.input_shape.to_vec();
        let mut rows = Vec::with_capacity(self.layers.len());
        for (name, layer) in &self.layers {
            shape = layer
                .output_shape(&shape)
                .map_err(|e| Error::Msg(format!("layer {name}: {e}")))?;
            rows.push(LayerSummary {
                name: name.clone(),
                kind: layer.kind(),
                output_shape: shape.clone(),
                params: layer
                    .named_vars()
                    .iter()
                    .chain(layer.named_buffers().iter())
                    .map(|(_, v)| v.elem_count())
                    .sum(),
            });
        }
        Ok(rows)
    }
}

/// The MNIST tutorial CNN on `[1, 28, 28]` input, initialised as Keras does, deterministic from `seed`.
pub fn mnist_cnn(seed: u64) -> Result<Sequential> {
    let mut rng = StdRng::seed_from_u64(seed);
    let r = &mut rng;
    let layers = vec![
        (
            "conv1",
            Layer::conv2d(
                1,
                8,
                (3, 3),
                (1, 1),
                Padding::Valid,
                (1, 1),
                Activation::Relu,
                r,
            )?,
        ),
        (
            "pool1",
            Layer::MaxPool2d {
                kernel: (2, 2),
                stride: (2, 2),
            },
        ),
        (
            "conv2",
            Layer::conv2d(
                8,
                16,
                (3, 3),
                (1, 1),
                Padding::Valid,
                (1, 1),
                Activation::Relu,
                r,
            )?,
        ),
        (
            "pool2",
            Layer::MaxPool2d {
                kernel: (2, 2),
                stride: (2, 2),
            },
        ),
        (
            "conv3",
            Layer::conv2d(
                16,
                32,
                (5, 5),
                (1, 1),
                Padding::Valid,
                (1, 1),
                Activation::None,
                r,
            )?,
        ),
        ("flatten", Layer::Flatten),
        ("dense1", Layer::linear(32, 64, Activation::Relu, r)?),
        ("dense2", Layer::linear(64, 10, Activation::None, r)?),
    ];
    Ok(Sequential {
        layers: layers
            .into_iter()
            .map(|(n, l)| (n.to_string(), l))
            .collect(),
        input_shape: [1, 28, 28],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn mnist_cnn_summary_matches_keras() {
        let rows = mnist_cnn(0).unwrap().summary().unwrap();
        let got: Vec<(&str, &str, Vec<usize>, usize)> = rows
            .iter()
            .map(|r| (r.name.as_str(), r.kind, r.output_shape.clone(), r.params))
            .collect();
        let want = vec![
            ("conv1", "Conv2D", vec![8, 26, 26], 80), // 8*1*3*3 + 8
            ("pool1", "MaxPooling2D", vec![8, 13, 13], 0),
            ("conv2", "Conv2D", vec![16, 11, 11], 1168), // 16*8*3*3 + 16
            ("pool2", "MaxPooling2D", vec![16, 5, 5], 0),
            ("conv3", "Conv2D", vec![32, 1, 1], 12832), // 32*16*5*5 + 32
            ("flatten", "Flatten", vec![32], 0),
            ("dense1", "Dense", vec![64], 2112), // 32*64 + 64
            ("dense2", "Dense", vec![10], 650),  // 64*10 + 10
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn glorot_init_is_bounded_seeded_and_biases_are_zero() {
        let a = mnist_cnn(7).unwrap();
        let b = mnist_cnn(7).unwrap();
        let c = mnist_cnn(8).unwrap();
        let w =
            |m: &Sequential, i: usize| m.vars()[i].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(w(&a, 0), w(&b, 0));
        assert_ne!(w(&a, 0), w(&c, 0));
        // conv1: limit sqrt(6 / (1*9 + 8*9)) = 0.2722; dense2: sqrt(6 / (64 + 10)) = 0.2847
        for (i, limit) in [(0, 0.2722f32), (8, 0.2847)] {
            let v = w(&a, i);
            assert!(v.iter().all(|x| x.abs() <= limit));
            // a uniform sample spreads out: its largest magnitude is near the limit
            assert!(v.iter().any(|x| x.abs() > 0.8 * limit));
        }
        assert!(w(&a, 1).iter().all(|&x| x == 0.0));
    }

    #[test]
    fn forward_all_ends_with_forward_and_follows_summary() {
        let m = mnist_cnn(0).unwrap();
        let x = Tensor::randn(0f32, 50., (3, 1, 28, 28), &Device::Cpu).unwrap();
        let outs = m.forward_all(&x).unwrap();
        let logits = m.forward(&x).unwrap();
        for (o, r) in outs.iter().zip(m.summary().unwrap()) {
            assert_eq!(o.dims()[1..], r.output_shape[..]);
        }
        let d = (outs.last().unwrap() - logits)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
        let e = m.forward(&Tensor::zeros((1, 1, 27, 28), DType::F32, &Device::Cpu).unwrap());
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("expected input [N, 1, 28, 28]"));
    }

    #[test]
    fn save_load_round_trip_and_errors() {
        let dir = std::env::temp_dir().join(format!("wb-train-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let a = mnist_cnn(1).unwrap();
        a.save(&path).unwrap();
        let b = mnist_cnn(2).unwrap();
        b.load(&path).unwrap();
        let x = Tensor::randn(0f32, 50., (2, 1, 28, 28), &Device::Cpu).unwrap();
        let d = (a.forward(&x).unwrap() - b.forward(&x).unwrap()).unwrap();
        assert_eq!(
            d.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
        // a file without dense2 and with a wrong-shaped conv1.weight
        let mut small = HashMap::new();
        small.insert(
            "conv1.weight".to_string(),
            Tensor::zeros((8, 1, 3, 3), DType::F32, &Device::Cpu).unwrap(),
        );
        let p2 = dir.join("missing.safetensors");
        candle_core::safetensors::save(&small, &p2).unwrap();
        assert!(b
            .load(&p2)
            .unwrap_err()
            .to_string()
            .contains("missing tensor conv1.bias"));
        small.insert(
            "conv1.weight".to_string(),
            Tensor::zeros((8, 1, 5, 5), DType::F32, &Device::Cpu).unwrap(),
        );
        candle_core::safetensors::save(&small, &p2).unwrap();
        let e = b.load(&p2).unwrap_err().to_string();
        assert!(
            e.contains("conv1.weight") && e.contains("[8, 1, 3, 3]"),
            "{e}"
        );
        assert!(matches!(b.load(&dir.join("nope")), Err(Error::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn batch_norm_buffers_are_saved_and_trained() {
        let dir = std::env::temp_dir().join(format!("wb-train-bn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let a = crate::models::ds_cnn_s(49, 10, 4, 1).unwrap();
        let x = Tensor::randn(0f32, 2., (8, 1, 49, 10), &Device::Cpu).unwrap();
        // a training-mode pass moves the running statistics (Keras: 1% of the way)
        let before = a.named_buffers()[0].1.to_vec1::<f32>().unwrap();
        a.forward_train(&x).unwrap();
        let after = a.named_buffers()[0].1.to_vec1::<f32>().unwrap();
        assert_ne!(before, after);
        let names: Vec<String> = a.named_buffers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[..2], ["bn1.running_mean", "bn1.running_var"]);
        a.save(&path).unwrap();
        let b = crate::models::ds_cnn_s(49, 10, 4, 2).unwrap();
        b.load(&path).unwrap();
        let d = (a.forward(&x).unwrap() - b.forward(&x).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
}
