//! A sequential float model (NCHW) whose layers a quantizer can walk, and
//! a builder that infers each layer's input size from the one before.

use std::path::Path;

use candle_core::{Tensor, Var};
use rand::{rngs::StdRng, SeedableRng};

use super::layer::{Conv2dConfig, Layer, Pool2dConfig};
use super::ops::batchnorm::BatchNormConfig;
use super::vocab::{Activation, PoolKind};
use crate::{Error, Result};

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

/// A sequential float model on NCHW f32 input.
#[derive(Clone, Debug)]
pub struct Sequential {
    /// The layers with their names, e.g. ("conv1", Layer::Conv2d {..}).
    pub layers: Vec<(String, Layer)>,
    /// Input shape without the batch dimension: `[C, H, W]`.
    pub input_shape: [usize; 3],
}

impl Sequential {
    /// A [`SequentialBuilder`] for input `[C, H, W]`, its weights drawn from `seed`.
    pub fn builder(input_shape: [usize; 3], seed: u64) -> SequentialBuilder {
        SequentialBuilder {
            model: Sequential {
                layers: Vec::new(),
                input_shape,
            },
            rng: StdRng::seed_from_u64(seed),
            shape: input_shape.to_vec(),
            error: None,
        }
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let d = x.dims();
        if d.len() != 4 || d[1..] != self.input_shape {
            return Err(Error::Shape(format!(
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
        super::network::Network::load_state(self, path)
    }

    /// One row per layer: name, kind, output shape, parameter count.
    pub fn summary(&self) -> Result<Vec<LayerSummary>> {
        let mut shape = self.input_shape.to_vec();
        let mut rows = Vec::with_capacity(self.layers.len());
        for (name, layer) in &self.layers {
            shape = layer
                .output_shape(&shape)
                .map_err(|e| Error::Model(format!("layer {name}: {e}")))?;
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

/// Builds a [`Sequential`] layer by layer: each layer's input size comes
/// from the previous layer's output, and the weights are drawn in order from
/// one generator seeded once, so a model is deterministic from its seed.
///
/// ```
/// use workbench::train::{Activation, Conv2dConfig, Sequential};
/// let model = Sequential::builder([1, 28, 28], 0)
///     .conv2d("conv1", 8, (3, 3), Conv2dConfig { activation: Activation::Relu, ..Default::default() })
///     .max_pool2d("pool1", (2, 2))
///     .flatten("flatten")
///     .linear("dense", 10, Activation::None)
///     .build()
///     .unwrap();
/// assert_eq!(model.summary().unwrap().last().unwrap().output_shape, [10]);
/// ```
#[derive(Debug)]
pub struct SequentialBuilder {
    model: Sequential,
    rng: StdRng,
    /// The current output shape without the batch dimension.
    shape: Vec<usize>,
    /// The first error, returned by [`SequentialBuilder::build`].
    error: Option<Error>,
}

impl SequentialBuilder {
    /// Appends `layer` as `name` (any layer; the builder checks its input shape).
    pub fn push(mut self, name: &str, layer: Layer) -> Self {
        if self.error.is_some() {
            return self;
        }
        match layer.output_shape(&self.shape) {
            Ok(shape) => {
                self.shape = shape;
                self.model.layers.push((name.to_string(), layer));
            }
            Err(e) => self.error = Some(Error::Model(format!("layer {name}: {e}"))),
        }
        self
    }

    fn push_with(mut self, name: &str, make: impl FnOnce(&mut Self) -> Result<Layer>) -> Self {
        if self.error.is_some() {
            return self;
        }
        match make(&mut self) {
            Ok(layer) => self.push(name, layer),
            Err(e) => {
                self.error = Some(Error::Model(format!("layer {name}: {e}")));
                self
            }
        }
    }

    /// The channels (or features) of the current output.
    fn channels(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// A convolution to `out_channels` with a `kernel` window (see [`Layer::conv2d`]).
    pub fn conv2d(
        self,
        name: &str,
        out_channels: usize,
        kernel: (usize, usize),
        config: Conv2dConfig,
    ) -> Self {
        self.push_with(name, |b| {
            Layer::conv2d(b.channels(), out_channels, kernel, config, &mut b.rng)
        })
    }

    /// A depthwise convolution with `multiplier` kernels per channel (see [`Layer::depthwise_conv2d`]).
    pub fn depthwise_conv2d(
        self,
        name: &str,
        multiplier: usize,
        kernel: (usize, usize),
        config: Conv2dConfig,
    ) -> Self {
        self.push_with(name, |b| {
            Layer::depthwise_conv2d(b.channels(), multiplier, kernel, config, &mut b.rng)
        })
    }

    /// A batch normalization of the current channels, then `activation`.
    pub fn batch_norm(self, name: &str, config: BatchNormConfig, activation: Activation) -> Self {
        self.push_with(name, |b| {
            Layer::batch_norm(b.channels(), config, activation)
        })
    }

    /// A layer normalization of the current features adding `epsilon` to the variance (see [`Layer::layer_norm`]).
    ///
    /// ```
    /// use workbench::train::{Activation, Sequential, LAYER_NORM_EPSILON};
    /// let model = Sequential::builder([1, 4, 4], 0)
    ///     .flatten("flatten")
    ///     .linear("dense", 8, Activation::None)
    ///     .layer_norm("ln", LAYER_NORM_EPSILON)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(model.summary().unwrap()[2].kind, "LayerNormalization");
    /// ```
    pub fn layer_norm(self, name: &str, epsilon: f64) -> Self {
        self.push_with(name, |b| Layer::layer_norm(b.channels(), epsilon))
    }

    /// Max pooling over `kernel` windows with stride = window and VALID padding.
    pub fn max_pool2d(self, name: &str, kernel: (usize, usize)) -> Self {
        self.pool2d(name, PoolKind::Max, kernel, Pool2dConfig::default())
    }

    /// Max or average pooling over `kernel` windows (see [`Layer::pool2d`]).
    pub fn pool2d(
        self,
        name: &str,
        kind: PoolKind,
        kernel: (usize, usize),
        config: Pool2dConfig,
    ) -> Self {
        self.push(name, Layer::pool2d(kind, kernel, config))
    }

    /// Dropout of `rate` in training, its masks seeded by `seed`.
    pub fn dropout(self, name: &str, rate: f64, seed: u64) -> Self {
        self.push_with(name, |_| Layer::dropout(rate, seed))
    }

    /// Flattens `[C, H, W]` to `[C*H*W]`.
    pub fn flatten(self, name: &str) -> Self {
        self.push(name, Layer::Flatten)
    }

    /// A dense layer to `out_features` (see [`Layer::linear`]).
    pub fn linear(self, name: &str, out_features: usize, activation: Activation) -> Self {
        self.push_with(name, |b| {
            let i = b.channels();
            Layer::linear(i, out_features, activation, &mut b.rng)
        })
    }

    /// The current output shape, without the batch dimension.
    pub fn output_shape(&self) -> &[usize] {
        &self.shape
    }

    /// The model, or the first layer's error.
    pub fn build(self) -> Result<Sequential> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.model),
        }
    }
}
