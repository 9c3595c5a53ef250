//! Quantization-aware training with PACT, as the EMG hands-on does it.
//!
//! The float model's batch norms are folded into the convolutions and dense
//! layers first, so what trains is what gets integerized. Then, in every
//! forward pass:
//! - the input goes through a PACT quantizer with a learned clip `alpha`
//!   (initialised to 1, the top of the min-max-scaled input):
//!   `x_int = floor(255 / alpha * min(max(x, 0), alpha))`, fed on as
//!   `x_int * alpha / 255`;
//! - weights are fake-quantized per output channel, symmetric int8
//!   (`scale = max|w| / 127`, round to nearest);
//! - each ReLU output is fake-quantized to uint8 the same PACT way, with
//!   its own learned clip (initialised to the largest activation seen on
//!   the calibration batch);
//! - the last dense layer's output (the logits) stays float.
//!
//! Gradients pass straight through the rounding (the straight-through
//! estimator); a clip learns from the values it cuts off, as in PACT
//! (Choi et al., 2018): `d y / d alpha = 1` where `x >= alpha`, else 0.

use candle_core::{DType, Tensor, Var};

use super::ptq::{self, Int8Model};
use crate::train::{fold_batch_norm, Activation, Layer, Network, PoolKind, Sequential};
use crate::{Error, Result};

/// Levels of an unsigned 8-bit activation above zero.
pub const ACT_LEVELS: f32 = 255.0;

/// A float model (batch norm folded) trained with fake quantization.
#[derive(Clone, Debug)]
pub struct QatModel {
    /// The folded float model whose weights train.
    pub model: Sequential,
    /// The input quantizer's clip (PACT alpha).
    pub input_clip: Var,
    /// For each layer, the clip of its uint8 output when it ends in ReLU.
    pub clips: Vec<Option<Var>>,
}

fn scalar_var(v: f32) -> Result<Var> {
    Ok(Var::from_tensor(&Tensor::new(
        &[v],
        &candle_core::Device::Cpu,
    )?)?)
}

fn scalar(v: &Var) -> Result<f32> {
    Ok(v.as_tensor().to_dtype(DType::F32)?.to_vec1::<f32>()?[0])
}

/// PACT: `floor(255 / alpha * clamp(x, 0, alpha)) * alpha / 255` with
/// straight-through rounding and PACT's gradient for `alpha`.
pub fn pact(x: &Tensor, alpha: &Var) -> Result<Tensor> {
    let a = alpha.as_tensor();
    let ones = vec![1usize; x.rank()];
    let a_b = a.reshape(ones.as_slice())?.broadcast_as(x.shape())?;
    let clipped = x.relu()?.minimum(&a_b)?;
    let av = scalar(alpha)?.max(f32::MIN_POSITIVE);
    let (inv, step) = ((ACT_LEVELS / av) as f64, (av / ACT_LEVELS) as f64);
    let q = clipped
        .detach()
        .affine(inv, 0.0)?
        .floor()?
        .affine(step, 0.0)?;
    let diff = (q - clipped.detach())?;
    Ok((clipped + diff)?)
}

/// Per-output-channel symmetric int8 fake quantization of `w` (first axis = channels), straight-through.
pub fn fake_quant_weight(w: &Tensor) -> Result<Tensor> {
    let o = w.dim(0)?;
    let flat = w.reshape((o, w.elem_count() / o.max(1)))?;
    let max = flat.detach().abs()?.max_keepdim(1)?;
    // all-zero channels keep scale 1, as the converter does
    let zero = max.eq(0f32)?.to_dtype(w.dtype())?;
    let scale = ((max + zero)? / super::params::WEIGHT_QMAX as f64)?;
    let q = flat
        .detach()
        .broadcast_div(&scale)?
        .round()?
        .clamp(-super::params::WEIGHT_QMAX, super::params::WEIGHT_QMAX)?
        .broadcast_mul(&scale)?;
    let diff = (q - flat.detach())?;
    Ok((flat + diff)?.reshape(w.shape())?)
}

impl QatModel {
    /// Folds `model`'s batch norms and sets up the quantizers; `calibration`
    /// (a batch of inputs) initialises each activation clip to the largest value it produces.
    pub fn new(model: &Sequential, calibration: &Tensor) -> Result<Self> {
        let folded = fold_batch_norm(model)?;
        let ranges = ptq::calibrate(&folded, calibration, 64)?;
        let clips = folded
            .layers
            .iter()
            .zip(&ranges[1..])
            .map(|((_, layer), &(_, max))| {
                if relu_output(layer) {
                    Ok(Some(scalar_var(max.max(1e-3))?))
                } else {
                    Ok(None)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(QatModel {
            model: folded,
            input_clip: scalar_var(1.0)?,
            clips,
        })
    }

    /// The learned input clip (`clip_val` of `rescaling_values.json`).
    pub fn input_clip_value(&self) -> Result<f32> {
        scalar(&self.input_clip)
    }

    /// Each clipped layer's name and its learned clip.
    pub fn clip_values(&self) -> Result<Vec<(String, f32)>> {
        self.model
            .layers
            .iter()
            .zip(&self.clips)
            .filter_map(|((n, _), c)| c.as_ref().map(|c| scalar(c).map(|v| (n.clone(), v))))
            .collect()
    }

    fn run(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let [c, h, w] = self.model.input_shape;
        let d = x.dims();
        if d.len() != 4 || d[1..] != [c, h, w] {
            return Err(Error::Model(format!(
                "qat model: expected input [N, {c}, {h}, {w}], got {d:?}"
            )));
        }
        let mut x = pact(x, &self.input_clip)?;
        for ((name, layer), clip) in self.model.layers.iter().zip(&self.clips) {
            x = match layer {
                Layer::Conv2d { .. } | Layer::DepthwiseConv2d { .. } | Layer::Linear { .. } => {
                    layer.forward_with_weight(&x, fake_quant_weight)?
                }
                Layer::BatchNorm { .. } => {
                    return Err(Error::Model(format!(
                        "qat model: batch norm {name} was not folded"
                    )))
                }
                other if train => other.forward_train(&x)?,
                other => other.forward(&x)?,
            };
            if let Some(c) = clip {
                x = pact(&x, c)?;
            }
        }
        Ok(x)
    }

    /// The folded float model with its weights replaced by their fake-quantized values.
    pub fn quantized_weights_model(&self) -> Result<Sequential> {
        let m = self.model.deep_copy()?;
        for (_, layer) in &m.layers {
            if let Layer::Conv2d { weight, .. }
            | Layer::DepthwiseConv2d { weight, .. }
            | Layer::Linear { weight, .. } = layer
            {
                let q = fake_quant_weight(weight.as_tensor())?.detach();
                weight.set(&q)?;
            }
        }
        Ok(m)
    }

    /// The TFLite int8 form: the learned clips become the activation ranges
    /// (`[0, alpha]`: scale `alpha / 255`, zero point -128), the logits'
    /// range comes from `representative`; TFLite's rounding, not PACT's floor.
    pub fn to_tflite(&self, representative: &Tensor) -> Result<Int8Model> {
        let m = self.quantized_weights_model()?;
        let mut ranges = ptq::calibrate(&m, representative, 64)?;
        ranges[0] = (0.0, self.input_clip_value()?);
        let mut last = ranges[0];
        for (i, ((_, layer), clip)) in m.layers.iter().zip(&self.clips).enumerate() {
            if let Some(c) = clip {
                ranges[i + 1] = (0.0, scalar(c)?);
            } else if keeps_range(layer) {
                ranges[i + 1] = last;
            }
            last = ranges[i + 1];
        }
        ptq::build(&m, &ranges)
    }
}

fn relu_output(layer: &Layer) -> bool {
    matches!(
        layer,
        Layer::Conv2d {
            activation: Activation::Relu,
            ..
        } | Layer::DepthwiseConv2d {
            activation: Activation::Relu,
            ..
        } | Layer::Linear {
            activation: Activation::Relu,
            ..
        }
    )
}

fn keeps_range(layer: &Layer) -> bool {
    matches!(
        layer,
        Layer::Pool2d {
            kind: PoolKind::Max,
            ..
        } | Layer::Flatten
            | Layer::Dropout { .. }
    )
}

impl Network for QatModel {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, false)
    }
    fn forward_train(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true)
    }
    fn vars(&self) -> Vec<Var> {
        let mut v = self.model.vars();
        v.push(self.input_clip.clone());
        v.extend(self.clips.iter().flatten().cloned());
        v
    }
    fn named_state(&self) -> Vec<(String, Var)> {
        let mut v = self.model.named_state();
        v.push(("input.clip_val".into(), self.input_clip.clone()));
        for ((n, _), c) in self.model.layers.iter().zip(&self.clips) {
            if let Some(c) = c {
                v.push((format!("{n}.clip_val"), c.clone()));
            }
        }
        v
    }
    fn input_shape(&self) -> [usize; 3] {
        self.model.input_shape
    }
    fn clip_vars(&self) -> Vec<Var> {
        let mut v = vec![self.input_clip.clone()];
        v.extend(self.clips.iter().flatten().cloned());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn pact_floors_onto_the_uint8_grid_and_learns_its_clip() {
        let alpha = scalar_var(2.0).unwrap();
        let x = Var::from_tensor(
            &Tensor::new(&[-1.0f32, 0.0, 0.5, 1.999, 2.0, 3.0], &Device::Cpu).unwrap(),
        )
        .unwrap();
        let y = pact(x.as_tensor(), &alpha).unwrap();
        // floor(255 / 2 * 0.5) = 63 -> 63 * 2 / 255; 1.999 -> 254 (floor of 254.87)
        let want = [0.0, 0.0, 63.0 * 2.0 / 255.0, 254.0 * 2.0 / 255.0, 2.0, 2.0];
        for (g, w) in y.to_vec1::<f32>().unwrap().iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
        let g = y.sum_all().unwrap().backward().unwrap();
        // straight through inside [0, alpha) (candle's ReLU passes the gradient at 0),
        // zero below and above; alpha gets the clipped ones
        assert_eq!(
            g.get(&x).unwrap().to_vec1::<f32>().unwrap(),
            [0.0, 1.0, 1.0, 1.0, 0.5, 0.0]
        );
        // x = 2.0 ties with alpha (half each), x = 3.0 is cut off
        assert_eq!(g.get(&alpha).unwrap().to_vec1::<f32>().unwrap(), [1.5]);
    }

    #[test]
    fn weights_round_per_channel_onto_127_levels() {
        let w = Tensor::new(&[[1.0f32, -0.5, 0.26], [0.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let q = fake_quant_weight(&w).unwrap().to_vec2::<f32>().unwrap();
        // scale 1/127: 0.26 * 127 = 33.02 -> 33
        assert_eq!(q[0][0], 1.0);
        assert!((q[0][1] + 64.0 / 127.0).abs() < 1e-6, "{}", q[0][1]); // -63.5 rounds away from 0
        assert!((q[0][2] - 33.0 / 127.0).abs() < 1e-6);
        assert_eq!(q[1], [0.0, 0.0, 0.0]);
    }
}
