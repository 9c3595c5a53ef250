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

/// Largest magnitude of the int8 input.
pub(crate) const INPUT_MAX: u64 = 128;

/// Largest uint8 activation.
pub(crate) const ACT_MAX: u64 = 255;

/// Largest `|mul|` and `|add|` kept as they are (they must fit `i64`).
const PARAM_LIMIT: f64 = (1u64 << 62) as f64;

/// Largest `|mul|` and `|add|` [`bounded_requant`] takes (its `i128` sums stay below 2^122).
const WIDE_LIMIT: f64 = (1u128 << 120) as f64;

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
    // the largest magnitude of the current tensor's integers
    let mut x_max = INPUT_MAX;
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
                // the largest |accumulator| of each output channel (inputs within +-x_max)
                let acc_max: Vec<u64> = row_l1(&w_int, w_int.len() / o.max(1))
                    .iter()
                    .map(|&l1| l1 * x_max)
                    .collect();
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
                        let requant =
                            requant_params(&bn, &b, &eps_acc, eps_out, &acc_max).map_err(err)?;
                        eps = eps_out;
                        x_max = ACT_MAX;
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
                x_max *= (kernel.0 * kernel.1) as u64;
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
///
/// A barely trained batch norm (a tiny `sigma`) can give a `mul` or an `add`
/// beyond `i64` (2^62 here); over the accumulators the channel can reach
/// (`|acc| <= acc_max[c]`) its output is then constant or a step from 0 to
/// 255, and [`bounded_requant`] replaces its parameters by ones within `i64`
/// that give the same output on each of them.
fn requant_params(
    bn: &BnParams,
    b: &[f64],
    eps_acc: &[f64],
    eps_out: f64,
    acc_max: &[u64],
) -> std::result::Result<Requant, String> {
    let d = (1u64 << LOG2_D) as f64;
    let mut mul = Vec::with_capacity(eps_acc.len());
    let mut add = Vec::with_capacity(eps_acc.len());
    for (k, &e) in eps_acc.iter().enumerate() {
        let (g, s) = (bn.gamma[k], bn.sigma[k]);
        let mu = bn.mean[k] - b.get(k).copied().unwrap_or(0.0);
        let m = (d * e * g / (s * eps_out)).floor();
        let a = (d * (bn.beta[k] * s - mu * g) / (s * eps_out)).floor();
        if m.abs() < PARAM_LIMIT && a.abs() < PARAM_LIMIT {
            mul.push(m as i64);
            add.push(a as i64);
            continue;
        }
        if !(m.abs() < WIDE_LIMIT && a.abs() < WIDE_LIMIT) {
            return Err(format!(
                "channel {k}: multiplier {m} or additive term {a} out of range"
            ));
        }
        let reach = acc_max.get(k).copied().unwrap_or(u64::MAX);
        let (m2, a2) = bounded_requant(m as i128, a as i128, reach)
            .map_err(|e| format!("channel {k}: multiplier {m}, additive term {a}: {e}"))?;
        mul.push(m2);
        add.push(a2);
    }
    Ok(Requant { mul, add })
}

impl Requant {
    /// The same requantization on every accumulator within `[-acc_max,
    /// acc_max]`, each channel whose multiplier passes `256 * D` or whose
    /// additive term passes 2^48 replaced by [`bounded_requant`]'s parameters
    /// (a constant `(0, out * D)` or a step with multiplier `+-256 * D`) where it has them.
    pub fn bounded(&self, acc_max: u64) -> Requant {
        let step = 256u64 << LOG2_D;
        let (mut mul, mut add) = (self.mul.clone(), self.add.clone());
        for (m, a) in mul.iter_mut().zip(&mut add) {
            if m.unsigned_abs() > step || a.unsigned_abs() > 1 << 48 {
                if let Ok(p) = bounded_requant(*m as i128, *a as i128, acc_max) {
                    (*m, *a) = p;
                }
            }
        }
        Requant { mul, add }
    }
}

/// Largest accumulator bound [`bounded_requant`] takes: `2^29 * 2^32` stays within `i64`.
const REACH_LIMIT: u64 = 1 << 29;

/// `mul` and `add` within `i64` giving the requantization of `(mul, add)`
/// (which may not fit) on every accumulator within `[-reach, reach]`.
///
/// The output is constant there (0 or 255): `(0, out * D)`. Otherwise, when
/// `|mul| >= 255 * D`, it is a step: with `u = sign(mul) * acc` it is 0 up to
/// `u0 = floor(-add / |mul|)`, some `v` at `u0 + 1` and 255 above, which
/// `(sign(mul) * 256 * D, -u0 * 256 * D + (v - 256) * D)` reproduces: its
/// `floor(.. / D)` is `256 * (u - u0) + v - 256`, at most -1 up to `u0`, `v`
/// at `u0 + 1` and at least 255 above. (With `|mul| < 255 * D` and `reach`
/// below 2^29, `|acc * mul| < 2^61`, so an `add` beyond `i64` makes the
/// output constant.)
fn bounded_requant(mul: i128, add: i128, reach: u64) -> std::result::Result<(i64, i64), String> {
    if reach >= REACH_LIMIT {
        return Err(format!(
            "accumulators up to {reach} (at most {REACH_LIMIT} supported)"
        ));
    }
    let d = 1i128 << LOG2_D;
    let top = ACT_MAX as i128 * d;
    let r = reach as i128;
    if mul == 0 {
        return Ok((
            0,
            (div_floor(add, d).clamp(0, ACT_MAX as i128) << LOG2_D) as i64,
        ));
    }
    let (sign, m) = (mul.signum(), mul.abs());
    // with u = sign * acc: the output is 0 up to u0 and 255 from u1 on
    // (divisions only: acc * mul need not fit)
    let u0 = div_floor(-add, m);
    let u1 = div_ceil(top - add, m);
    if u0 >= r {
        return Ok((0, 0));
    }
    if u1 <= -r {
        return Ok((0, top as i64));
    }
    if m < top {
        return Err(format!(
            "the output varies over accumulators within +-{reach} (from {} to {})",
            sign * (u0 + 1),
            sign * (u1 - 1)
        ));
    }
    // u0 + 1 < u1: (u0 + 1) * m + add lies in (0, 255 * D), so the product fits
    let v = if u1 > u0 + 1 {
        ((u0 + 1) * m + add) >> LOG2_D
    } else {
        ACT_MAX as i128
    };
    let step = 256 * d;
    Ok(((sign * step) as i64, (-u0 * step + (v - 256) * d) as i64))
}

/// `clip(floor((acc * mul + add) / D), 0, 255)` in `i128` (for tests: `acc * mul` must fit).
#[cfg(test)]
fn requant_wide(acc: i128, mul: i128, add: i128) -> i64 {
    ((acc * mul + add) >> LOG2_D).clamp(0, ACT_MAX as i128) as i64
}

/// `sum_k |w[o, k]|` of each output row of `per` weights.
pub(crate) fn row_l1(weight: &[i8], per: usize) -> Vec<u64> {
    weight
        .chunks(per.max(1))
        .map(|r| r.iter().map(|&w| (w as i64).unsigned_abs()).sum::<u64>())
        .collect()
}

/// The largest `sum_k |w[o, k]|` over output rows of `per` weights each.
pub(crate) fn max_row_l1(weight: &[i8], per: usize) -> u64 {
    row_l1(weight, per).into_iter().max().unwrap_or(0)
}

/// The accumulators `[lo, hi]` (within `[-acc_max, acc_max]`) outside of
/// which `clip(floor((acc * mul + add) / D), 0, 255)` is constant: the
/// requantization is monotone in `acc`, so it is 0 on one side and 255 on the
/// other (`mul = 0`: constant, `[0, 0]`).
fn saturation_range(mul: i128, add: i128, acc_max: i128) -> (i128, i128) {
    let top = ACT_MAX as i128 * (1i128 << LOG2_D);
    // mul > 0: the output is 0 for acc * mul + add <= 0 and 255 for >= 255 * D;
    // mul < 0 the other way round
    let (a, b) = match mul.signum() {
        1 => (div_floor(-add, mul), div_ceil(top - add, mul)),
        -1 => (div_floor(top - add, mul), div_ceil(-add, mul)),
        _ => (0, 0),
    };
    (a.clamp(-acc_max, acc_max), b.clamp(-acc_max, acc_max))
}

/// Per channel, [`saturation_range`]'s `[acc_lo, acc_hi]` for accumulators
/// within `[-acc_max, acc_max]`, and the largest `|acc * mul + add|` over them.
pub(crate) fn saturation_bounds(r: &Requant, acc_max: u64) -> (Vec<i64>, Vec<i64>, u128) {
    let (mut lo, mut hi, mut bound) = (Vec::new(), Vec::new(), 0u128);
    for (&mul, &add) in r.mul.iter().zip(&r.add) {
        let (mul, add) = (mul as i128, add as i128);
        let (a, b) = saturation_range(mul, add, acc_max as i128);
        for acc in [a, b] {
            bound = bound.max((acc * mul + add).unsigned_abs());
        }
        lo.push(a as i64);
        hi.push(b as i64);
    }
    (lo, hi, bound)
}

/// `floor(a / b)`.
pub(crate) fn div_floor(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// `ceil(a / b)`.
pub(crate) fn div_ceil(a: i128, b: i128) -> i128 {
    -div_floor(-a, b)
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
        let r = requant_params(&bn, &[0.0], &[0.01], 0.1, &[1000]).unwrap();
        assert_eq!((r.mul[0], r.add[0]), (838_860, 0));
        // acc 300: float BN = 2 * (3 - 1) / 4 + 0.5 = 1.5 -> 15 steps; integer:
        // floor(300 * 838860 / 2^24) = floor(14.99999...) = 14 (mul's floor costs one step here)
        assert_eq!(requant_mul_add(300, r.mul[0], r.add[0], LOG2_D), 14);
        // negative and saturating accumulators clip to [0, 255]
        assert_eq!(requant_mul_add(-5, r.mul[0], r.add[0], LOG2_D), 0);
        assert_eq!(requant_mul_add(1 << 20, r.mul[0], r.add[0], LOG2_D), 255);
        // a bias b moves the mean: mu - b = 0 gives add = floor(2^24 * 2 / 0.4) = 83886080
        let r = requant_params(&bn, &[1.0], &[0.01], 0.1, &[1000]).unwrap();
        assert_eq!(r.add[0], 83_886_080);
        let e = requant_params(&bn, &[0.0], &[1e30], 0.1, &[1000]).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn saturation_bounds_change_no_output() {
        // mul 2^40 (a tiny sigma), add -2^44: the output rises from 0 to 255 between acc 16 and 17
        let r = Requant {
            mul: vec![1 << 40, -(1 << 30), 0, 3],
            add: vec![-(1 << 44), 1 << 33, 5 << 24, 7],
        };
        let (lo, hi, bound) = saturation_bounds(&r, 1000);
        assert_eq!((lo[0], hi[0]), (16, 17));
        assert!(bound < 1 << 53, "{bound}");
        for c in 0..4 {
            for acc in -1000..=1000 {
                let clamped = (acc as i64).clamp(lo[c], hi[c]) as i32;
                assert_eq!(
                    requant_mul_add(acc, r.mul[c], r.add[c], LOG2_D),
                    requant_mul_add(clamped, r.mul[c], r.add[c], LOG2_D),
                    "channel {c}, acc {acc}"
                );
            }
        }
        // the clamp is tight: its ends give 0 and 255 (mul > 0), 255 and 0 (mul < 0)
        assert_eq!(requant_mul_add(lo[0] as i32, r.mul[0], r.add[0], LOG2_D), 0);
        assert_eq!(
            requant_mul_add(hi[0] as i32, r.mul[0], r.add[0], LOG2_D),
            255
        );
        assert_eq!(
            requant_mul_add(lo[1] as i32, r.mul[1], r.add[1], LOG2_D),
            255
        );
        assert_eq!(requant_mul_add(hi[1] as i32, r.mul[1], r.add[1], LOG2_D), 0);
        assert_eq!(
            (div_floor(-7, 2), div_ceil(-7, 2), div_floor(7, -2)),
            (-4, -3, -4)
        );
    }

    #[test]
    fn constant_channel_beyond_i64_integerizes() {
        // a batch norm channel that saw one value: var 0, mean 1e4 (eps 1e-5: sigma 3.16e-3),
        // clip 1e-3 (eps_out 3.9e-6): add = floor(2^24 * -1e4 / (sigma * eps_out)) ~ -1.4e19,
        // beyond i64; 2 x 2 x 1 images, 1x1 convolution to 2 channels, then a classifier
        use crate::quant::f2f::F2fConfig;
        use crate::train::{BatchNormConfig, Conv2dConfig, Sequential};
        use candle_core::{Device, Tensor};
        let model = Sequential::builder([1, 2, 2], 0)
            .conv2d(
                "conv",
                2,
                (1, 1),
                Conv2dConfig {
                    use_bias: false,
                    ..Default::default()
                },
            )
            .batch_norm("bn", BatchNormConfig::pytorch(), Activation::Relu)
            .flatten("flatten")
            .linear("fc", 3, Activation::None)
            .build()
            .unwrap();
        let dev = Device::Cpu;
        let Layer::Conv2d { weight, .. } = &model.layers[0].1 else {
            unreachable!()
        };
        weight
            .set(
                &Tensor::new(&[0.5f32, -0.25], &dev)
                    .unwrap()
                    .reshape((2, 1, 1, 1))
                    .unwrap(),
            )
            .unwrap();
        let Layer::BatchNorm {
            running_mean,
            running_var,
            ..
        } = &model.layers[1].1
        else {
            unreachable!()
        };
        running_mean
            .set(&Tensor::new(&[0.0f32, 1e4], &dev).unwrap())
            .unwrap();
        running_var
            .set(&Tensor::new(&[1.0f32, 0.0], &dev).unwrap())
            .unwrap();
        let pact = PactModel::new(&model, F2fConfig::default()).unwrap();
        pact.clips[1]
            .as_ref()
            .unwrap()
            .set(&Tensor::new(&[1e-3f32], &dev).unwrap())
            .unwrap();
        let net = integerize(&pact).unwrap();
        let r = net.layers[0].requant.as_ref().unwrap();
        // channel 1: x * w - mu < 0 for every reachable input: always 0
        assert_eq!((r.mul[1], r.add[1]), (0, 0));
        assert!(r.mul[0] > 0);
        // the integer outputs of channel 1 are 0 for the extreme inputs, as the fake-quantized network's
        for v in [-3.0f32, -1.0, 0.0, 1.0, 2.64] {
            let x = vec![v; 4];
            let outs = net.run_layers(&net.quantize_input(&x)).unwrap();
            assert_eq!(outs[0][4..], [0; 4], "input {v}");
            let fake = pact
                .model
                .forward_all(
                    &Tensor::new(x.as_slice(), &dev)
                        .unwrap()
                        .reshape((1, 1, 2, 2))
                        .unwrap(),
                )
                .unwrap();
            assert!(
                fake[1].flatten_all().unwrap().to_vec1::<f32>().unwrap()[4..]
                    .iter()
                    .all(|&y| y <= 0.0)
            );
        }
        // the same channel with a beta pushing it to the top: always 255
        let bn = BnParams {
            gamma: vec![1.0],
            beta: vec![1e12],
            mean: vec![0.0],
            sigma: vec![1e-3],
        };
        let r = requant_params(&bn, &[0.0], &[1e-4], 1e-5, &[1 << 20]).unwrap();
        assert_eq!((r.mul[0], r.add[0]), (0, 255 << LOG2_D));
    }

    #[test]
    fn requantization_beyond_i64_is_bounded_exactly() {
        // (mul, add) beyond i64, and an accumulator bound: every reachable
        // accumulator gives the same output with the bounded parameters
        let d = 1i128 << LOG2_D;
        let cases: [(i128, i128, u64); 7] = [
            // conv0 of a barely trained run: mul near 2^57, add 1.8e22: a step inside +-2^17
            (-(1 << 57) - 12345, 17_763_467_186_615_190_000_000, 214_656),
            // the same rising, with a value between 0 and 255 at one accumulator
            ((1 << 63) + 7, -(1i128 << 63) * 1000 + 77 * d + 5, 5000),
            ((1 << 63) + 7, -(1i128 << 63) * 1000 - 3, 5000),
            // add far beyond the reach of acc * mul: constant 0 and 255
            (1 << 30, -(1i128 << 70), 100_000),
            (-(1 << 30), 1i128 << 70, 100_000),
            // step outside the reach: constant
            (1 << 70, -(1i128 << 70) * 6000, 5000),
            // dw2 of a barely trained run: mul 1.4e31, add -1.2e21: 0 up to acc 0, 255 from 1
            (
                14_294_954_509_592_372_000_000_000_000_000,
                -1_183_042_641_562_669_400_000,
                1000,
            ),
        ];
        for (c, &(mul, add, reach)) in cases.iter().enumerate() {
            let (m, a) = bounded_requant(mul, add, reach).unwrap();
            let r = reach as i32;
            let mut seen = std::collections::BTreeSet::new();
            for acc in (-r..=r).chain([-r, r]) {
                let want = requant_wide(acc as i128, mul, add);
                seen.insert(want);
                assert_eq!(
                    requant_mul_add(acc, m, a, LOG2_D) as i64,
                    want,
                    "case {c}: acc {acc}, bounded ({m}, {a})"
                );
            }
            let step = c < 3 || c == 6;
            assert_eq!(seen.len() > 1, step, "case {c}: outputs {seen:?}");
        }
        // within i64 but beyond float64's exact range: Requant::bounded keeps every output
        let r = Requant {
            mul: vec![1 << 50, 3, -(1 << 40), 1000],
            add: vec![-(1i64 << 50) * 17 + 5, -(1 << 60), 1 << 45, 7 << 24],
        };
        let b = r.bounded(1000);
        assert_eq!((b.mul[1], b.add[1]), (0, 0));
        assert_eq!(
            (b.mul[3], b.add[3]),
            (1000, 7 << 24),
            "a plain channel stays"
        );
        for c in 0..4 {
            assert!(
                b.mul[c].abs() <= 1 << 32 && b.add[c].abs() < 1 << 48,
                "{b:?}"
            );
            for acc in -1000..=1000 {
                assert_eq!(
                    requant_mul_add(acc, r.mul[c], r.add[c], LOG2_D),
                    requant_mul_add(acc, b.mul[c], b.add[c], LOG2_D),
                    "channel {c}, acc {acc}"
                );
            }
        }
        // the intermediate value is kept: case 1 gives 77 at one accumulator
        let (m, a) = bounded_requant(cases[1].0, cases[1].1, 5000).unwrap();
        assert!((-5000..=5000).any(|acc| requant_mul_add(acc, m, a, LOG2_D) == 77));
        // a multiplier below 255 * D whose output varies stays an error (not reachable
        // from out-of-range parameters, but the rule is total)
        let e = bounded_requant(1 << 20, 0, 1000).unwrap_err();
        assert!(e.contains("varies"), "{e}");
        let e = bounded_requant(1 << 40, 0, 1 << 30).unwrap_err();
        assert!(e.contains("at most"), "{e}");
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
