//! Float-to-fake (F2F) conversion as QuantLib's PACT flow does it, batch
//! norms kept: the network that fine-tunes before [`f2t`](super::f2t) makes it integer.
//!
//! - Input: signed 8 bits with a fixed quantum `eps_in`,
//!   `x_fq = eps_in * clip(floor(x / eps_in), -128, 127)` (QuantLib's
//!   `floor(x / scale)`; for ImageNet's normalization `eps_in = 2.64 / 128`).
//! - Weights of every convolution (stem, depthwise, pointwise) and of the
//!   classifier: signed 8 bits `[-128, 127]`, per output channel or per layer,
//!   the clipping range set from the weights' min and max at every step
//!   (QuantLib's `minmax` strategy, not learned): `eps_w = max(-min / 128, max / 127)`,
//!   `w_int = clip(floor(w / eps_w), -128, 127)` (QuantLib's PACT quantiser
//!   floors), `w_fq = eps_w * w_int`; gradients pass straight through.
//! - Batch norms stay, in training mode while fine-tuning (batch statistics,
//!   running ones updated) and with running statistics otherwise.
//! - Every ReLU output: PACT, unsigned 8 bits with a learned clip `alpha`
//!   ([`pact`](super::qat::pact): `floor(255 / alpha * clip(x, 0, alpha)) * alpha / 255`);
//!   the clip's gradient is the sum of the gradients of the values it cuts off.
//! - An observation pass ([`PactModel::observe`]) runs the float network
//!   over images and sets each clip from the statistics of its activation
//!   (QuantLib's `minmax`, `meanstd` or `const` strategies); the clips are
//!   [`Network::clip_vars`], which [`OptimizerChoice::PactSgd`](crate::train::OptimizerChoice::PactSgd)
//!   decays on their own (QuantLib's `PACTSGD` and its `pact_decay`).
//!
//! Differences from QuantLib, kept small on purpose: the straight-through
//! gradient of the weights is not zeroed at the one weight sitting on the
//! upper clipping bound, and the input is fake-quantized here too so that the
//! fake network sees exactly what the integer one does.

use candle_core::{DType, Tensor, Var};

use super::ptq::{self, Int8Model};
use super::qat::pact;
use crate::train::{fold_batch_norm, predict, Activation, Layer, Network, Samples, Sequential};
use crate::{Error, Result};

/// QuantLib's input quantum for ImageNet-normalized images: the largest
/// normalized value, `(1 - 0.406) / 0.225 = 2.64`, over 128 (its `ILSVRC12STATS` `eps`).
pub const IMAGENET_INPUT_EPS: f32 = 0.020_625;

/// Lowest signed 8-bit integer.
pub const INT8_MIN: f32 = -128.0;
/// Highest signed 8-bit integer.
pub const INT8_MAX: f32 = 127.0;

/// How many quanta a weight tensor has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Granularity {
    /// One quantum per output channel (QuantLib's `per-outchannel_weights`; default).
    #[default]
    PerChannel,
    /// One quantum for the whole tensor (QuantLib's `per-array`).
    PerLayer,
}

/// How the observation pass sets a clip from its activation's statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ClipInit {
    /// The largest value observed (QuantLib's `minmax`; default).
    #[default]
    MinMax,
    /// Mean plus `n_std` standard deviations (QuantLib's `meanstd`, 3 by default there).
    MeanStd {
        /// Standard deviations above the mean.
        n_std: f64,
    },
    /// A constant, whatever the statistics (QuantLib's `const`, e.g. 6 for ReLU6 networks).
    Const(f32),
}

/// Settings of [`PactModel::new`]; the default is per-channel weights,
/// min-max clips and ImageNet's input quantum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct F2fConfig {
    /// Weight quanta per channel or per layer (default per channel).
    pub granularity: Granularity,
    /// How observation sets the clips (default min-max).
    pub clip_init: ClipInit,
    /// The input's quantum (default [`IMAGENET_INPUT_EPS`]).
    pub input_eps: f32,
}

impl Default for F2fConfig {
    fn default() -> Self {
        F2fConfig {
            granularity: Granularity::PerChannel,
            clip_init: ClipInit::MinMax,
            input_eps: IMAGENET_INPUT_EPS,
        }
    }
}

/// The quantum covering `[min, max]` with `eps * [-128, 127]` (QuantLib's
/// `get_scale` for a signed 8-bit range); 1 for an all-zero tensor.
pub fn weight_quantum(min: f32, max: f32) -> f32 {
    let eps = (min / INT8_MIN).max(max / INT8_MAX);
    if eps > 0.0 && eps.is_finite() {
        eps
    } else {
        1.0
    }
}

/// The quanta (one per channel, or one repeated) and the integers of
/// weights `w` with `channels` output channels (first axis).
pub fn quantize_weights(w: &[f32], channels: usize, g: Granularity) -> (Vec<f32>, Vec<i8>) {
    let channels = channels.max(1);
    let per = w.len() / channels;
    let range = |s: &[f32]| {
        s.iter()
            .fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)))
    };
    let eps: Vec<f32> = match g {
        Granularity::PerChannel => w
            .chunks(per.max(1))
            .map(|c| {
                let (lo, hi) = range(c);
                weight_quantum(lo, hi)
            })
            .collect(),
        Granularity::PerLayer => {
            let (lo, hi) = range(w);
            vec![weight_quantum(lo, hi); channels]
        }
    };
    let ints = w
        .iter()
        .enumerate()
        .map(|(k, &v)| (v / eps[k / per.max(1)]).floor().clamp(INT8_MIN, INT8_MAX) as i8)
        .collect();
    (eps, ints)
}

/// The fake-quantized weights `eps_w * w_int` of `w` (first axis = output
/// channels), with straight-through gradients.
pub fn pact_weight(w: &Tensor, g: Granularity) -> Result<Tensor> {
    let o = w.dim(0)?;
    let host: Vec<f32> = w.detach().flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
    let (eps, ints) = quantize_weights(&host, o, g);
    let per = host.len() / o.max(1);
    let q: Vec<f32> = ints
        .iter()
        .enumerate()
        .map(|(k, &i)| i as f32 * eps[k / per.max(1)])
        .collect();
    let q = Tensor::from_vec(q, w.shape(), w.device())?.to_dtype(w.dtype())?;
    Ok((w + (q - w.detach())?)?)
}

/// `eps * clip(floor(x / eps), -128, 127)`: the input on its signed 8-bit grid.
pub fn quantize_input(x: &Tensor, eps: f32) -> Result<Tensor> {
    let e = eps as f64;
    Ok(x.detach()
        .affine(1.0 / e, 0.0)?
        .floor()?
        .clamp(INT8_MIN, INT8_MAX)?
        .affine(e, 0.0)?)
}

/// Running statistics of one activation over an observation pass (QuantLib's `MinMaxMeanVarObserver`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Observed {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Values seen.
    pub n: u64,
    /// Sum of the values.
    pub sum: f64,
    /// Sum of their squares.
    pub sum2: f64,
}

impl Observed {
    fn update(&mut self, v: &[f32]) {
        if self.n == 0 {
            self.min = f64::INFINITY;
            self.max = f64::NEG_INFINITY;
        }
        for &x in v {
            let x = x as f64;
            self.min = self.min.min(x);
            self.max = self.max.max(x);
            self.sum += x;
            self.sum2 += x * x;
        }
        self.n += v.len() as u64;
    }

    /// Mean of the values.
    pub fn mean(&self) -> f64 {
        self.sum / self.n.max(1) as f64
    }

    /// Standard deviation (population) of the values.
    pub fn std(&self) -> f64 {
        (self.sum2 / self.n.max(1) as f64 - self.mean().powi(2))
            .max(0.0)
            .sqrt()
    }

    /// The clip `init` sets from these statistics.
    pub fn clip(&self, init: ClipInit) -> f32 {
        match init {
            ClipInit::MinMax => self.max as f32,
            ClipInit::MeanStd { n_std } => (self.mean() + n_std * self.std()) as f32,
            ClipInit::Const(c) => c,
        }
    }
}

/// Smallest clip an observation sets (an activation that is always zero still needs a positive range).
const MIN_CLIP: f32 = 1e-3;

/// A float MobileNet-like network (batch norms kept) with QuantLib's PACT fake quantization.
#[derive(Clone, Debug)]
pub struct PactModel {
    /// The float network whose weights, batch norms and clips train.
    pub model: Sequential,
    /// For each layer, the PACT clip of its output when it ends in ReLU.
    pub clips: Vec<Option<Var>>,
    /// The settings.
    pub config: F2fConfig,
}

fn scalar_var(v: f32) -> Result<Var> {
    Ok(Var::from_tensor(&Tensor::new(
        &[v],
        &candle_core::Device::Cpu,
    )?)?)
}

/// Whether `layer`'s output is a ReLU (its own or a batch norm's fused one), which PACT replaces.
fn relu_output(layer: &Layer) -> bool {
    let act = match layer {
        Layer::Conv2d { activation, .. }
        | Layer::DepthwiseConv2d { activation, .. }
        | Layer::Linear { activation, .. }
        | Layer::BatchNorm { activation, .. } => *activation,
        _ => Activation::None,
    };
    matches!(act, Activation::Relu | Activation::Relu6)
}

impl PactModel {
    /// The fake-quantized form of a copy of `model`, every clip at 1 until [`PactModel::observe`].
    pub fn new(model: &Sequential, config: F2fConfig) -> Result<Self> {
        if !(config.input_eps > 0.0 && config.input_eps.is_finite()) {
            return Err(Error::Config(format!(
                "pact model: input quantum {} must be positive",
                config.input_eps
            )));
        }
        let model = model.deep_copy()?;
        let clips = model
            .layers
            .iter()
            .map(|(_, l)| relu_output(l).then(|| scalar_var(1.0)).transpose())
            .collect::<Result<Vec<_>>>()?;
        Ok(PactModel {
            model,
            clips,
            config,
        })
    }

    /// The observation pass: runs the float network (inference mode) over
    /// `data` and sets every clip from its activation's statistics; returns them per clipped layer.
    pub fn observe(&self, data: &Samples) -> Result<Vec<(String, Observed)>> {
        if data.is_empty() {
            return Err(Error::Data("pact observation: no images".into()));
        }
        let mut stats = vec![Observed::default(); self.clips.len()];
        const CHUNK: usize = 64;
        let [c, h, w] = self.model.input_shape;
        let per = c * h * w;
        for chunk in data.images.chunks(CHUNK * per) {
            let x = Tensor::from_slice(
                chunk,
                (chunk.len() / per, c, h, w),
                &candle_core::Device::Cpu,
            )?;
            let x = quantize_input(&x, self.config.input_eps)?;
            let outs = rayon::scope(|_| self.model.forward_all(&x))?;
            for ((out, clip), s) in outs.iter().zip(&self.clips).zip(&mut stats) {
                if clip.is_some() {
                    s.update(&out.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?);
                }
            }
        }
        let mut seen = Vec::new();
        for (((name, _), clip), s) in self.model.layers.iter().zip(&self.clips).zip(stats) {
            if let Some(clip) = clip {
                let v = s.clip(self.config.clip_init).max(MIN_CLIP);
                if !v.is_finite() {
                    return Err(Error::Model(format!(
                        "pact observation: {name}: activation statistics are not finite"
                    )));
                }
                clip.set(&Tensor::new(&[v], clip.device())?)?;
                seen.push((name.clone(), s));
            }
        }
        Ok(seen)
    }

    /// Each clipped layer's name and its clip.
    pub fn clip_values(&self) -> Result<Vec<(String, f32)>> {
        self.model
            .layers
            .iter()
            .zip(&self.clips)
            .filter_map(|((n, _), c)| {
                c.as_ref()
                    .map(|c| Ok((n.clone(), c.as_tensor().to_vec1::<f32>()?[0])))
            })
            .collect()
    }

    /// The TFLite int8 form ([`ptq::build`]): batch norms folded, weights
    /// per channel int8 symmetric (TFLite's rounding, not PACT's floor), the
    /// input on its signed grid (`[-128, 127] * eps_in`: scale `eps_in`, zero
    /// point 0), each PACT clip the range `[0, alpha]` of its layer's output
    /// (scale `alpha / 255`, zero point -128), and the logits' range the
    /// fake-quantized network's over `representative`.
    pub fn to_tflite(&self, representative: &Samples) -> Result<Int8Model> {
        if representative.is_empty() {
            return Err(Error::Data("pact tflite: no representative images".into()));
        }
        // a batch norm's clip belongs to the layer it folds into
        let mut clip_of = std::collections::HashMap::new();
        for (i, ((name, layer), clip)) in self.model.layers.iter().zip(&self.clips).enumerate() {
            if let Some(c) = clip {
                let owner = match (layer, i.checked_sub(1)) {
                    (Layer::BatchNorm { .. }, Some(p)) => &self.model.layers[p].0,
                    _ => name,
                };
                clip_of.insert(owner.clone(), c.as_tensor().to_vec1::<f32>()?[0]);
            }
        }
        let folded = fold_batch_norm(&self.model)?;
        let eps = self.config.input_eps;
        let x = quantize_input(&representative.to_tensor()?, eps)?;
        let mut ranges = ptq::calibrate(&folded, &x, 64)?;
        ranges[0] = (INT8_MIN * eps, INT8_MAX * eps);
        for (i, (name, _)) in folded.layers.iter().enumerate() {
            if let Some(&alpha) = clip_of.get(name) {
                ranges[i + 1] = (0.0, alpha);
            }
        }
        let logits = predict(self, &representative.images)?
            .flatten_all()?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?;
        let range = logits
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if let Some(last) = ranges.last_mut() {
            *last = range;
        }
        let mut q = ptq::build(&folded, &ranges)?;
        q.graph.description = "workbench int8 (PACT clips as activation ranges)".into();
        Ok(q)
    }

    fn run(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let [c, h, w] = self.model.input_shape;
        let d = x.dims();
        if d.len() != 4 || d[1..] != [c, h, w] {
            return Err(Error::Model(format!(
                "pact model: expected input [N, {c}, {h}, {w}], got {d:?}"
            )));
        }
        let g = self.config.granularity;
        let mut x = quantize_input(x, self.config.input_eps)?;
        for ((_, layer), clip) in self.model.layers.iter().zip(&self.clips) {
            x = match layer {
                Layer::Conv2d { .. } | Layer::DepthwiseConv2d { .. } | Layer::Linear { .. } => {
                    layer.forward_with_weight(&x, |w| pact_weight(w, g))?
                }
                other if train => other.forward_train(&x)?,
                other => other.forward(&x)?,
            };
            if let Some(c) = clip {
                project_clip(c)?;
                x = pact(&x, c)?;
            }
        }
        Ok(x)
    }
}

/// Keeps a clip a positive number: an optimizer step that pushes it below
/// [`MIN_CLIP`] is undone to that floor (QuantLib refuses such bounds); a NaN is an error.
fn project_clip(c: &Var) -> Result<()> {
    let v = c.as_tensor().to_dtype(DType::F32)?.to_vec1::<f32>()?[0];
    if v.is_nan() {
        return Err(Error::Model("pact model: a clip became NaN".into()));
    }
    if v < MIN_CLIP {
        c.set(&Tensor::new(&[MIN_CLIP], c.device())?.to_dtype(c.dtype())?)?;
    }
    Ok(())
}

impl Network for PactModel {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, false)
    }
    fn forward_train(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true)
    }
    fn vars(&self) -> Vec<Var> {
        let mut v = self.model.vars();
        v.extend(self.clips.iter().flatten().cloned());
        v
    }
    fn named_state(&self) -> Vec<(String, Var)> {
        let mut v = self.model.named_state();
        for ((n, _), c) in self.model.layers.iter().zip(&self.clips) {
            if let Some(c) = c {
                v.push((format!("{n}.clip_hi"), c.clone()));
            }
        }
        v
    }
    fn input_shape(&self) -> [usize; 3] {
        self.model.input_shape
    }
    fn clip_vars(&self) -> Vec<Var> {
        self.clips.iter().flatten().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn weights_floor_onto_quantlibs_signed_grid() {
        // channel 0: min -1.28, max 0.505: eps = max(1.28 / 128, 0.505 / 127) = 0.01;
        //   -1.28 -> -128, 0.505 -> floor(50.5) = 50, -0.005 -> floor(-0.5) = -1
        // channel 1: all positive, max 2.54: eps = 2.54 / 127 = 0.02; 0.03 -> floor(1.5) = 1,
        //   1.01 -> floor(50.5) = 50
        // channel 2: all zero: eps 1, integers 0
        let w = [-1.28f32, 0.505, -0.005, 2.54, 0.03, 1.01, 0.0, 0.0, 0.0];
        let (eps, ints) = quantize_weights(&w, 3, Granularity::PerChannel);
        assert!((eps[0] - 0.01).abs() < 1e-8 && (eps[1] - 0.02).abs() < 1e-8);
        assert_eq!(eps[2], 1.0);
        assert_eq!(&ints[..3], [-128, 50, -1]);
        assert_eq!(ints[4], 1);
        assert_eq!(ints[5], 50);
        assert_eq!(&ints[6..], [0, 0, 0]);
        // per layer: one quantum, max(1.28 / 128, 2.54 / 127) = 0.02; 0.505 -> floor(25.25) = 25
        let (eps, ints) = quantize_weights(&w, 3, Granularity::PerLayer);
        assert!(eps.iter().all(|&e| (e - 0.02).abs() < 1e-8));
        assert_eq!(ints[1], 25);
        // the fake-quantized tensor is eps * int, its gradient straight through
        let v = Var::new(&[[-1.28f32, 0.505, -0.005]], &Device::Cpu).unwrap();
        let q = pact_weight(v.as_tensor(), Granularity::PerChannel).unwrap();
        let got = q.to_vec2::<f32>().unwrap();
        for (g, want) in got[0].iter().zip([-1.28f32, 0.5, -0.01]) {
            assert!((g - want).abs() < 1e-6, "{g} vs {want}");
        }
        let grad = q.sum_all().unwrap().backward().unwrap();
        assert_eq!(grad.get(&v).unwrap().to_vec2::<f32>().unwrap(), [[1.0; 3]]);
    }

    #[test]
    fn input_and_statistics() {
        let x = Tensor::new(&[-3.0f32, -0.01, 0.0, 0.03, 2.7], &Device::Cpu).unwrap();
        let q = quantize_input(&x, 0.02).unwrap().to_vec1::<f32>().unwrap();
        // floor(x / 0.02) = -150 -> -128, -0.5 -> -1, 0, 1.5 -> 1, 135 -> 127
        let want = [-2.56f32, -0.02, 0.0, 0.02, 2.54];
        for (g, w) in q.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{g} vs {w}");
        }
        let mut s = Observed::default();
        s.update(&[0.0, 1.0, 2.0]);
        s.update(&[3.0]);
        assert_eq!((s.min, s.max, s.n), (0.0, 3.0, 4));
        // mean 1.5, population std sqrt(1.25)
        assert!(
            (s.clip(ClipInit::MeanStd { n_std: 2.0 }) - (1.5 + 2.0 * 1.25f32.sqrt())).abs() < 1e-6
        );
        assert_eq!(s.clip(ClipInit::MinMax), 3.0);
        assert_eq!(s.clip(ClipInit::Const(6.0)), 6.0);
    }
}
