//! Fake-to-true (F2T) conversion as QuantLib's `F2T24bitConverter` does it:
//! a [`PactModel`] becomes a network of integers only.
//!
//! - The quantum `eps` of every tensor is propagated layer by layer from the
//!   input's: a convolution's accumulator has `eps_in * eps_w[c]`, an
//!   activation has `alpha / 255`, a sum over a `kh x kw` window `eps / (kh * kw)`.
//! - Input: `x_int = clip(floor(x / eps_in), -128, 127)`.
//! - Convolutions (stem, depthwise, pointwise) accumulate int8 weights times
//!   the integer input in int32 (zero padding).
//! - Each batch norm and the PACT activation after it become one integer
//!   requantization, `y = clip(floor((acc * mul[c] + add[c]) / D), 0, 255)` with
//!   `D = 2^24`, `mul = floor(D * eps_acc * gamma / (sigma * eps_out))`,
//!   `add = floor(D * (beta * sigma - mu * gamma) / (sigma * eps_out))`,
//!   `sigma = sqrt(var + epsilon)` (QuantLib's `RequantiserApplier`; a
//!   convolution's bias enters as `mu - b`).
//! - The head, as the tutorial's `MNv1Head` (average pool, flatten,
//!   classifier), in integers: the pool sums its window (the `1 / (kh * kw)`
//!   goes into the quantum, so nothing is rounded), the classifier's int8
//!   weights and int32 bias `round(b / eps_acc)` give accumulators, and the
//!   logits are `acc[c] * eps_acc[c]`. (The tutorial keeps that last linear
//!   layer in floating point with its weights times `eps`; here it is integer too.)
//!
//! MATCH's form ([`integer`](super::integer): one right shift of 16, no
//! additive term, batch norms folded before QAT) and TFLite's (rounding,
//! fixed-point multipliers) are different integer networks; the loops are
//! shared with [`integer`](super::integer): one grouped convolution, one
//! dense product, and its two requantization rules.

use rayon::prelude::*;
use serde::Serialize;

use super::f2f::{quantize_weights, PactModel, INT8_MAX, INT8_MIN};
use super::integer::{conv, dense, requant_mul_add};
use super::qat::ACT_LEVELS;
use crate::train::vocab::conv_out_size;
use crate::train::{Activation, Layer, Padding, PoolKind};
use crate::{Error, Result};

/// The requantization's `log2(D)`: QuantLib's 24-bit converter.
pub const LOG2_D: u32 = 24;

/// An integer operation of a [`PactIntegerNetwork`].
#[derive(Clone, Debug, PartialEq)]
pub enum PactOp {
    /// Grouped 2-D convolution over `[C, H, W]` (groups = C: depthwise), no bias.
    Conv {
        /// int8 weights `[O, C / groups, kh, kw]`.
        weight: Vec<i8>,
        /// `[O, C / groups, kh, kw]`.
        shape: [usize; 4],
        /// Groups.
        groups: usize,
        /// Stride (height, width).
        stride: (usize, usize),
        /// Dilation (height, width).
        dilation: (usize, usize),
        /// Zero padding before the first row and column.
        pad_before: (usize, usize),
    },
    /// Sum over `kh x kw` windows with stride = window, VALID (an average pool whose division is in the quantum).
    SumPool {
        /// Window (height, width).
        kernel: (usize, usize),
    },
    /// `[C, H, W]` to `[C * H * W]`.
    Flatten,
    /// Dense layer with int8 weights `[O, I]` and an int32 bias.
    Dense {
        /// int8 weights.
        weight: Vec<i8>,
        /// int32 bias.
        bias: Vec<i32>,
        /// `[O, I]`.
        shape: [usize; 2],
    },
}

/// Per-channel parameters of `clip(floor((acc * mul + add) / 2^24), 0, 255)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Requant {
    /// Multipliers.
    pub mul: Vec<i64>,
    /// Additive terms.
    pub add: Vec<i64>,
}

/// One integer layer: an operation, then possibly a requantization to uint8.
#[derive(Clone, Debug, PartialEq)]
pub struct PactLayer {
    /// Name of the float layer (the convolution's for a folded convolution + batch norm + PACT).
    pub name: String,
    /// The operation.
    pub op: PactOp,
    /// The requantization after it, if any.
    pub requant: Option<Requant>,
    /// Output shape without batch.
    pub out_shape: Vec<usize>,
    /// Quantum of one output step (per channel for accumulators).
    pub eps_out: Vec<f64>,
}

/// A network of integers only, as [`integerize`] makes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PactIntegerNetwork {
    /// The input's quantum.
    pub input_eps: f32,
    /// Input shape `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// The layers.
    pub layers: Vec<PactLayer>,
}

/// Quantum of a batch norm + PACT folded into a requantization.
struct BnParams {
    gamma: Vec<f64>,
    beta: Vec<f64>,
    mean: Vec<f64>,
    sigma: Vec<f64>,
}

fn f64s(v: &candle_core::Var) -> Result<Vec<f64>> {
    Ok(v.as_tensor()
        .flatten_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_vec1()?)
}

/// Makes the integer network of a fake-quantized model (its clips, weights and batch norms as they are).
pub fn integerize(m: &PactModel) -> Result<PactIntegerNetwork> {
    let layers_in = &m.model.layers;
    let n = layers_in.len();
    let [c, h, w] = m.model.input_shape;
    let mut shape = vec![c, h, w];
    let mut eps = m.config.input_eps as f64;
    let mut layers = Vec::new();
    let mut i = 0;
    while i < n {
        let (name, layer) = &layers_in[i];
        let err = |msg: String| Error::Model(format!("integerize (pact) {name}: {msg}"));
        let clip_of = |k: usize| -> Result<Option<f64>> {
            match &m.clips[k] {
                None => Ok(None),
                Some(c) => {
                    let a = c.as_tensor().to_vec1::<f32>()?[0];
                    if !(a > 0.0 && a.is_finite()) {
                        return Err(err(format!("clip {a} must be positive")));
                    }
                    Ok(Some(a as f64))
                }
            }
        };
        match layer {
            Layer::Conv2d { weight, bias, .. }
            | Layer::DepthwiseConv2d { weight, bias, .. }
            | Layer::Linear { weight, bias, .. } => {
                let w_host: Vec<f32> = weight.as_tensor().flatten_all()?.to_vec1()?;
                let o = weight.dim(0)?;
                let (eps_w, w_int) = quantize_weights(&w_host, o, m.config.granularity);
                let eps_acc: Vec<f64> = eps_w.iter().map(|&e| eps * e as f64).collect();
                let b = f64s(bias)?;
                let (op, out_shape) = linear_op(layer, w_int, &shape, &eps_acc, &b).map_err(err)?;
                // what follows: PACT on this layer, a batch norm with PACT, or nothing (the output)
                let (bn, clip, activation, used) = if let Some(a) = clip_of(i)? {
                    (None, Some(a), activation_of(layer), 1)
                } else if let Some((
                    _,
                    Layer::BatchNorm {
                        gamma,
                        beta,
                        running_mean,
                        running_var,
                        config,
                        activation,
                    },
                )) = layers_in.get(i + 1)
                {
                    let a = clip_of(i + 1)?.ok_or_else(|| {
                        err("its batch norm has no PACT activation; only batch norm + ReLU integerizes".into())
                    })?;
                    let var = f64s(running_var)?;
                    let bn = BnParams {
                        gamma: f64s(gamma)?,
                        beta: f64s(beta)?,
                        mean: f64s(running_mean)?,
                        sigma: var.iter().map(|v| (v + config.epsilon).sqrt()).collect(),
                    };
                    (Some(bn), Some(a), *activation, 2)
                } else {
                    (None, None, activation_of(layer), 1)
                };
                let l = match clip {
                    Some(alpha) => {
                        if activation == Activation::Relu6 && alpha > 6.0 {
                            return Err(err(format!(
                                "ReLU6 with clip {alpha} above 6 does not integerize"
                            )));
                        }
                        let eps_out = alpha / ACT_LEVELS as f64;
                        let bn = bn.unwrap_or_else(|| BnParams {
                            gamma: vec![1.0; o],
                            beta: vec![0.0; o],
                            mean: vec![0.0; o],
                            sigma: vec![1.0; o],
                        });
                        let requant = requant_params(&bn, &b, &eps_acc, eps_out).map_err(err)?;
                        eps = eps_out;
                        PactLayer {
                            name: name.clone(),
                            op: strip_bias(op),
                            requant: Some(requant),
                            out_shape,
                            eps_out: vec![eps_out; o],
                        }
                    }
                    None => {
                        if i + 1 != n || activation != Activation::None {
                            return Err(err(
                                "only layers followed by PACT (directly or through a batch norm) and a last layer without activation integerize".into(),
                            ));
                        }
                        PactLayer {
                            name: name.clone(),
                            op,
                            requant: None,
                            out_shape,
                            eps_out: eps_acc,
                        }
                    }
                };
                shape = l.out_shape.clone();
                layers.push(l);
                i += used;
            }
            Layer::Pool2d {
                kind: PoolKind::Average,
                kernel,
                stride,
                padding: Padding::Valid,
            } if stride == kernel => {
                let out_shape = layer.output_shape(&shape)?;
                eps /= (kernel.0 * kernel.1) as f64;
                layers.push(PactLayer {
                    name: name.clone(),
                    op: PactOp::SumPool { kernel: *kernel },
                    requant: None,
                    out_shape: out_shape.clone(),
                    eps_out: vec![eps],
                });
                shape = out_shape;
                i += 1;
            }
            Layer::Flatten => {
                let out_shape = vec![shape.iter().product()];
                layers.push(PactLayer {
                    name: name.clone(),
                    op: PactOp::Flatten,
                    requant: None,
                    out_shape: out_shape.clone(),
                    eps_out: vec![eps],
                });
                shape = out_shape;
                i += 1;
            }
            Layer::Dropout { .. } => i += 1,
            other => {
                return Err(err(format!(
                    "{} layers do not integerize here (a batch norm must follow a convolution)",
                    other.kind()
                )))
            }
        }
    }
    if !matches!(
        layers.last(),
        Some(PactLayer {
            requant: None,
            op: PactOp::Dense { .. } | PactOp::Conv { .. },
            ..
        })
    ) {
        return Err(Error::Model(
            "integerize (pact): the model must end in a dense or convolution layer without activation".into(),
        ));
    }
    Ok(PactIntegerNetwork {
        input_eps: m.config.input_eps,
        input_shape: m.model.input_shape,
        layers,
    })
}

fn activation_of(layer: &Layer) -> Activation {
    match layer {
        Layer::Conv2d { activation, .. }
        | Layer::DepthwiseConv2d { activation, .. }
        | Layer::Linear { activation, .. } => *activation,
        _ => Activation::None,
    }
}

/// A requantized convolution's bias lives in the requantization's `add`.
fn strip_bias(op: PactOp) -> PactOp {
    match op {
        PactOp::Dense {
            weight,
            bias,
            shape,
        } => PactOp::Dense {
            weight,
            bias: vec![0; bias.len()],
            shape,
        },
        other => other,
    }
}

/// The integer operation of a convolution, depthwise convolution or dense
/// layer on input `shape`, and its output shape; a dense layer's bias is `round(b / eps_acc)`.
fn linear_op(
    layer: &Layer,
    w_int: Vec<i8>,
    shape: &[usize],
    eps_acc: &[f64],
    b: &[f64],
) -> std::result::Result<(PactOp, Vec<usize>), String> {
    let conv_geom = |weight: &candle_core::Var,
                     stride: (usize, usize),
                     padding: Padding,
                     dilation: (usize, usize),
                     groups: usize|
     -> std::result::Result<(PactOp, Vec<usize>), String> {
        let (o, cg, kh, kw) = weight.dims4().map_err(|e| e.to_string())?;
        if shape.len() != 3 || shape[0] != cg * groups {
            return Err(format!("input {shape:?} for {} channels", cg * groups));
        }
        let geom = |inp: usize, k: usize, s: usize, d: usize| {
            conv_out_size(inp, k, s, d, padding)
                .ok_or_else(|| format!("kernel {k} does not fit input {inp}"))
        };
        let (oh, ph) = geom(shape[1], kh, stride.0, dilation.0)?;
        let (ow, pw) = geom(shape[2], kw, stride.1, dilation.1)?;
        Ok((
            PactOp::Conv {
                weight: w_int.clone(),
                shape: [o, cg, kh, kw],
                groups,
                stride,
                dilation,
                pad_before: (ph, pw),
            },
            vec![o, oh, ow],
        ))
    };
    match layer {
        Layer::Conv2d {
            weight,
            stride,
            padding,
            dilation,
            ..
        } => conv_geom(weight, *stride, *padding, *dilation, 1),
        Layer::DepthwiseConv2d {
            weight,
            stride,
            padding,
            dilation,
            ..
        } => {
            let groups = shape.first().copied().unwrap_or(0);
            let o = weight.dim(0).map_err(|e| e.to_string())?;
            if groups == 0 || o % groups != 0 {
                return Err(format!(
                    "depthwise weights for {o} channels on input {shape:?}"
                ));
            }
            conv_geom(weight, *stride, *padding, *dilation, groups)
        }
        Layer::Linear { weight, .. } => {
            let (o, inp) = weight.dims2().map_err(|e| e.to_string())?;
            if shape != [inp] {
                return Err(format!("input {shape:?} for {inp} features"));
            }
            let bias = b
                .iter()
                .zip(eps_acc)
                .map(|(&b, &e)| (b / e).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32)
                .collect();
            Ok((
                PactOp::Dense {
                    weight: w_int,
                    bias,
                    shape: [o, inp],
                },
                vec![o],
            ))
        }
        _ => Err("not a linear layer".into()),
    }
}

/// QuantLib's requantizer parameters for accumulators of quantum `eps_acc`
/// (per channel) through batch norm `bn` (the layer's bias `b` entering as
/// `mu - b`) to an activation of quantum `eps_out`.
fn requant_params(
    bn: &BnParams,
    b: &[f64],
    eps_acc: &[f64],
    eps_out: f64,
) -> std::result::Result<Requant, String> {
    let d = (1u64 << LOG2_D) as f64;
    let mut mul = Vec::with_capacity(eps_acc.len());
    let mut add = Vec::with_capacity(eps_acc.len());
    for (k, &e) in eps_acc.iter().enumerate() {
        let (g, s) = (bn.gamma[k], bn.sigma[k]);
        let mu = bn.mean[k] - b.get(k).copied().unwrap_or(0.0);
        let m = (d * e * g / (s * eps_out)).floor();
        let a = (d * (bn.beta[k] * s - mu * g) / (s * eps_out)).floor();
        if m.is_nan() || m.abs() >= (1u64 << 62) as f64 {
            return Err(format!("channel {k}: multiplier {m} out of range"));
        }
        if a.is_nan() || a.abs() >= (1u64 << 62) as f64 {
            return Err(format!("channel {k}: additive term {a} out of range"));
        }
        mul.push(m as i64);
        add.push(a as i64);
    }
    Ok(Requant { mul, add })
}

impl PactIntegerNetwork {
    /// The int8 input of one float sample (CHW): `clip(floor(x / eps_in), -128, 127)`,
    /// with the fake-quantized network's arithmetic (a multiplication by `1 / eps_in` in f32).
    pub fn quantize_input(&self, x: &[f32]) -> Vec<i32> {
        let inv = (1.0 / self.input_eps as f64) as f32;
        x.iter()
            .map(|&v| (v * inv).floor().clamp(INT8_MIN, INT8_MAX) as i32)
            .collect()
    }

    /// The output accumulators for one integer input.
    pub fn run(&self, input: &[i32]) -> Result<Vec<i32>> {
        Ok(self.run_layers(input)?.pop().unwrap_or_default())
    }

    /// Every layer's output for one integer input, in layer order (the last is [`PactIntegerNetwork::run`]'s).
    pub fn run_layers(&self, input: &[i32]) -> Result<Vec<Vec<i32>>> {
        let want: usize = self.input_shape.iter().product();
        if input.len() != want {
            return Err(Error::Model(format!(
                "pact integer network: input of {} values, expected {want}",
                input.len()
            )));
        }
        let mut outs: Vec<Vec<i32>> = Vec::with_capacity(self.layers.len());
        let mut shape = self.input_shape.to_vec();
        for l in &self.layers {
            let x = outs.last().map_or(input, |v| v.as_slice());
            let acc = match &l.op {
                PactOp::Conv {
                    weight,
                    shape: [o, _, kh, kw],
                    groups,
                    stride,
                    dilation,
                    pad_before,
                } => conv(
                    x,
                    [shape[0], shape[1], shape[2]],
                    weight,
                    &vec![0; *o],
                    [*o, *kh, *kw],
                    [l.out_shape[1], l.out_shape[2]],
                    *stride,
                    *dilation,
                    *pad_before,
                    *groups,
                ),
                PactOp::Dense {
                    weight,
                    bias,
                    shape: [o, i],
                } => dense(x, weight, bias, [*o, *i]),
                PactOp::SumPool { kernel } => {
                    sum_pool(x, [shape[0], shape[1], shape[2]], *kernel, &l.out_shape)
                }
                PactOp::Flatten => x.to_vec(),
            };
            outs.push(match &l.requant {
                Some(r) => {
                    let per = acc.len() / r.mul.len().max(1);
                    acc.iter()
                        .enumerate()
                        .map(|(k, &a)| requant_mul_add(a, r.mul[k / per], r.add[k / per], LOG2_D))
                        .collect()
                }
                None => acc,
            });
            shape = l.out_shape.clone();
        }
        Ok(outs)
    }

    /// The float logits of the output accumulators: `acc[c] * eps_acc[c]`.
    pub fn logits(&self, acc: &[i32]) -> Vec<f64> {
        let eps = &self.layers.last().expect("integerized").eps_out;
        acc.iter().zip(eps).map(|(&a, &e)| a as f64 * e).collect()
    }

    /// The logits of each flat CHW float sample in `samples`.
    pub fn predict_logits(&self, samples: &[f32]) -> Result<Vec<Vec<f64>>> {
        let per: usize = self.input_shape.iter().product();
        samples
            .par_chunks(per)
            .map(|s| Ok(self.logits(&self.run(&self.quantize_input(s))?)))
            .collect()
    }
}

/// Sum of each channel's `kh x kw` windows (stride = window, VALID).
fn sum_pool(x: &[i32], [c, h, w]: [usize; 3], (kh, kw): (usize, usize), out: &[usize]) -> Vec<i32> {
    let (oh, ow) = (out[1], out[2]);
    let mut y = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut s = 0i32;
                for ky in 0..kh {
                    let row = (ch * h + oy * kh + ky) * w + ox * kw;
                    s += x[row..row + kw].iter().sum::<i32>();
                }
                y.push(s);
            }
        }
    }
    y
}

/// The index of the largest value (the first on ties).
pub fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// The share of samples on which two lists of predictions agree (the tutorial's `Evaluation.compare`).
pub fn agreement(a: &[usize], b: &[usize]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len().min(b.len()).max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requantization_floors_with_d_2_24() {
        // eps_acc 0.01, gamma 2, sigma 4, mu 1, beta 0.5, eps_out 0.1:
        // mul = floor(2^24 * 0.01 * 2 / 0.4) = floor(838860.8) = 838860
        // add = floor(2^24 * (0.5 * 4 - 1 * 2) / 0.4) = 0
        let bn = BnParams {
            gamma: vec![2.0],
            beta: vec![0.5],
            mean: vec![1.0],
            sigma: vec![4.0],
        };
        let r = requant_params(&bn, &[0.0], &[0.01], 0.1).unwrap();
        assert_eq!((r.mul[0], r.add[0]), (838_860, 0));
        // acc 300: float BN = 2 * (3 - 1) / 4 + 0.5 = 1.5 -> 15 steps; integer:
        // floor(300 * 838860 / 2^24) = floor(14.99999...) = 14 (mul's floor costs one step here)
        assert_eq!(requant_mul_add(300, r.mul[0], r.add[0], LOG2_D), 14);
        // negative and saturating accumulators clip to [0, 255]
        assert_eq!(requant_mul_add(-5, r.mul[0], r.add[0], LOG2_D), 0);
        assert_eq!(requant_mul_add(1 << 20, r.mul[0], r.add[0], LOG2_D), 255);
        // a bias b moves the mean: mu - b = 0 gives add = floor(2^24 * 2 / 0.4) = 83886080
        let r = requant_params(&bn, &[1.0], &[0.01], 0.1).unwrap();
        assert_eq!(r.add[0], 83_886_080);
        let e = requant_params(&bn, &[0.0], &[1e30], 0.1).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn sum_pool_and_agreement() {
        // two channels of 2 x 2, one 2 x 2 window each
        assert_eq!(
            sum_pool(&[1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], (2, 2), &[2, 1, 1]),
            [10, 26]
        );
        assert_eq!(argmax(&[0.5, 2.0, 2.0, -1.0]), 1);
        assert_eq!(agreement(&[1, 2, 3, 4], &[1, 2, 0, 4]), 0.75);
    }
}
