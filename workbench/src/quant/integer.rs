//! Integerization in the style of the MATCH compiler that the EMG hands-on
//! deploys with: a QAT model becomes a network of integers only.
//!
//! - Input: `x_int = floor(255 / alpha_in * min(max(x, 0), alpha_in))`, uint8.
//! - Convolution / dense: int8 weights per output channel
//!   (`w_int = round(w / s_w[c])`, `s_w[c] = max|w_c| / 127`), int32 bias
//!   `round(b / (s_in * s_w[c]))`, int32 accumulator `acc = b_int + sum(w_int * x_int)`.
//! - Requantization to the next uint8 activation (scale `s_out = alpha / 255`)
//!   with one integer multiplier per channel and one right shift per layer:
//!   `y = clip(floor(acc * mul[c] / 2^shift), 0, 255)`,
//!   `mul[c] = round(s_in * s_w[c] / s_out * 2^shift)`; `shift` is
//!   `shift_pos`, 16 by default. The floor and the clip are also the ReLU.
//! - Max pooling works on the uint8 values; flattening is channel-major.
//! - The last dense layer's accumulators are the output; logits are
//!   `acc[c] * s_in * s_w[c]`.
//!
//! TFLite's int8 scheme (what the device bridge runs) rounds instead of
//! flooring and uses a fixed-point multiplier per channel, so the two
//! integer forms differ in the last bit here and there: keep them apart.

use rayon::prelude::*;
use serde::Serialize;

use super::params;
use super::qat::{QatModel, ACT_LEVELS};
use crate::train::vocab::conv_out_size;
use crate::train::{Activation, Layer, Padding, PoolKind};
use crate::{Error, Result};

/// Default right shift of the requantization (`shift_pos`).
pub const DEFAULT_SHIFT: u32 = 16;

/// An integer operation.
#[derive(Clone, Debug, PartialEq)]
pub enum IntOp {
    /// 2-D convolution over `[C, H, W]`, weights `[O, C, kh, kw]`.
    Conv {
        /// int8 weights.
        weight: Vec<i8>,
        /// int32 bias per output channel.
        bias: Vec<i32>,
        /// `[O, C, kh, kw]`.
        shape: [usize; 4],
        /// Stride (height, width).
        stride: (usize, usize),
        /// Dilation (height, width).
        dilation: (usize, usize),
        /// Zero padding before the first row and column (TFLite's SAME rule puts any odd one after).
        pad_before: (usize, usize),
        /// Zero padding after the last row and column.
        pad_after: (usize, usize),
    },
    /// Dense layer, weights `[O, I]`.
    Dense {
        /// int8 weights.
        weight: Vec<i8>,
        /// int32 bias.
        bias: Vec<i32>,
        /// `[O, I]`.
        shape: [usize; 2],
    },
    /// Max pooling with VALID padding.
    MaxPool {
        /// Window (height, width).
        kernel: (usize, usize),
        /// Stride (height, width).
        stride: (usize, usize),
    },
    /// `[C, H, W]` to `[C * H * W]`.
    Flatten,
}

/// One integer layer: an operation, then (for convolutions and dense
/// layers with a quantized output) the requantization to uint8.
#[derive(Clone, Debug, PartialEq)]
pub struct IntLayer {
    /// The float layer's name.
    pub name: String,
    /// The operation.
    pub op: IntOp,
    /// Per-channel multipliers of the requantization; `None` for the output layer and for pass-through ops.
    pub mul: Option<Vec<i32>>,
    /// Output shape without batch: `[C, H, W]` or `[F]`.
    pub out_shape: Vec<usize>,
    /// Scale of one output step (per channel for the output layer's accumulators).
    pub out_scale: Vec<f64>,
}

/// A network of integers only, as [`integerize`] makes it.
#[derive(Clone, Debug, PartialEq)]
pub struct IntegerNetwork {
    /// The input quantizer's clip (`clip_val`).
    pub input_clip: f32,
    /// Input shape `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// The requantization's right shift (`shift_pos`).
    pub shift: u32,
    /// The layers.
    pub layers: Vec<IntLayer>,
}

/// What one integerized layer looks like, for a table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntLayerSummary {
    /// Layer name.
    pub name: String,
    /// Operation.
    pub op: &'static str,
    /// Output shape.
    pub out_shape: Vec<usize>,
    /// Smallest and largest multiplier (0, 0 without requantization).
    pub mul_range: (i32, i32),
}

/// A weighted layer's integer parameters and its output scale.
struct Weighted {
    weight: Vec<i8>,
    bias: Vec<i32>,
    mul: Option<Vec<i32>>,
    out_scale: Vec<f64>,
    s_next: f64,
}

/// Makes the integer network of a QAT model with right shift `shift` (`shift_pos`).
pub fn integerize(qat: &QatModel, shift: u32) -> Result<IntegerNetwork> {
    if !(1..=30).contains(&shift) {
        return Err(Error::Model(format!(
            "integerize: shift {shift} outside 1..=30"
        )));
    }
    let f32s = |t: &candle_core::Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1()?) };
    let input_clip = qat.input_clip_value()?;
    if input_clip <= 0.0 || !input_clip.is_finite() {
        return Err(Error::Model(format!(
            "integerize: input clip {input_clip} must be positive"
        )));
    }
    let mut s_in = input_clip as f64 / ACT_LEVELS as f64;
    let [c, h, w] = qat.model.input_shape;
    let mut shape = vec![c, h, w];
    let mut layers = Vec::new();
    let n_layers = qat.model.layers.len();
    for (i, ((name, layer), clip)) in qat.model.layers.iter().zip(&qat.clips).enumerate() {
        let err = |m: String| Error::Model(format!("integerize {name}: {m}"));
        let weighted = |weight: &candle_core::Var,
                        bias: &candle_core::Var,
                        activation: Activation|
         -> Result<Weighted> {
            let o = weight.dim(0)?;
            let (s_w, w_int) = params::symmetric_per_channel(&f32s(weight.as_tensor())?, o);
            let b = f32s(bias.as_tensor())?;
            let b_int: Vec<i32> = b
                .iter()
                .zip(&s_w)
                .map(|(&b, &sw)| {
                    (b as f64 / (s_in * sw as f64))
                        .round()
                        .clamp(i32::MIN as f64, i32::MAX as f64) as i32
                })
                .collect();
            match (clip, activation) {
                (Some(alpha), Activation::Relu) => {
                    let alpha = alpha.as_tensor().to_vec1::<f32>()?[0];
                    if alpha <= 0.0 || !alpha.is_finite() {
                        return Err(err(format!("clip {alpha} must be positive")));
                    }
                    let s_out = alpha as f64 / ACT_LEVELS as f64;
                    let two = (1u64 << shift) as f64;
                    let mul = s_w
                        .iter()
                        .map(|&sw| {
                            let m = (s_in * sw as f64 / s_out * two).round();
                            if m > i32::MAX as f64 {
                                Err(err(format!(
                                    "multiplier {m} does not fit in int32; use a smaller shift"
                                )))
                            } else {
                                Ok(m as i32)
                            }
                        })
                        .collect::<Result<Vec<i32>>>()?;
                    Ok(Weighted {
                        weight: w_int,
                        bias: b_int,
                        mul: Some(mul),
                        out_scale: vec![s_out; o],
                        s_next: s_out,
                    })
                }
                (None, Activation::None) if i + 1 == n_layers => {
                    let scales: Vec<f64> = s_w.iter().map(|&sw| s_in * sw as f64).collect();
                    Ok(Weighted {
                        weight: w_int,
                        bias: b_int,
                        mul: None,
                        out_scale: scales,
                        s_next: s_in,
                    })
                }
                _ => Err(err(
                    "only ReLU layers with a quantized output, and a last layer without activation, integerize".into(),
                )),
            }
        };
        let l = match layer {
            Layer::Conv2d {
                weight,
                bias,
                stride,
                padding,
                dilation,
                activation,
                ..
            } => {
                let (o, ci, kh, kw) = weight.as_tensor().dims4()?;
                if shape.len() != 3 || shape[0] != ci {
                    return Err(err(format!("input {shape:?} for {ci} channels")));
                }
                let geom = |inp: usize, k: usize, s: usize, d: usize| {
                    conv_out_size(inp, k, s, d, *padding)
                        .ok_or_else(|| err(format!("kernel {k} does not fit input {inp}")))
                };
                let (oh, ph) = geom(shape[1], kh, stride.0, dilation.0)?;
                let (ow, pw) = geom(shape[2], kw, stride.1, dilation.1)?;
                let after =
                    |inp: usize, out: usize, k: usize, s: usize, d: usize, before: usize| {
                        match padding {
                            Padding::Valid => 0,
                            Padding::Same => ((out - 1) * s + (k - 1) * d + 1)
                                .saturating_sub(inp)
                                .saturating_sub(before),
                        }
                    };
                let pad_after = (
                    after(shape[1], oh, kh, stride.0, dilation.0, ph),
                    after(shape[2], ow, kw, stride.1, dilation.1, pw),
                );
                let Weighted {
                    weight,
                    bias,
                    mul,
                    out_scale,
                    s_next,
                } = weighted(weight, bias, *activation)?;
                s_in = s_next;
                IntLayer {
                    name: name.clone(),
                    op: IntOp::Conv {
                        weight,
                        bias,
                        shape: [o, ci, kh, kw],
                        stride: *stride,
                        dilation: *dilation,
                        pad_before: (ph, pw),
                        pad_after,
                    },
                    mul,
                    out_shape: vec![o, oh, ow],
                    out_scale,
                }
            }
            Layer::Linear {
                weight,
                bias,
                activation,
            } => {
                let (o, inp) = weight.as_tensor().dims2()?;
                if shape != [inp] {
                    return Err(err(format!("input {shape:?} for {inp} features")));
                }
                let Weighted {
                    weight,
                    bias,
                    mul,
                    out_scale,
                    s_next,
                } = weighted(weight, bias, *activation)?;
                s_in = s_next;
                IntLayer {
                    name: name.clone(),
                    op: IntOp::Dense {
                        weight,
                        bias,
                        shape: [o, inp],
                    },
                    mul,
                    out_shape: vec![o],
                    out_scale,
                }
            }
            Layer::Pool2d {
                kind: PoolKind::Max,
                kernel,
                stride,
                padding: Padding::Valid,
            } => {
                let out = layer.output_shape(&shape)?;
                IntLayer {
                    name: name.clone(),
                    op: IntOp::MaxPool {
                        kernel: *kernel,
                        stride: *stride,
                    },
                    mul: None,
                    out_shape: out,
                    out_scale: vec![s_in],
                }
            }
            Layer::Flatten => IntLayer {
                name: name.clone(),
                op: IntOp::Flatten,
                mul: None,
                out_shape: vec![shape.iter().product()],
                out_scale: vec![s_in],
            },
            Layer::Dropout { .. } => continue,
            other => {
                return Err(err(format!(
                    "{} layers do not integerize (fold batch norm first)",
                    other.kind()
                )))
            }
        };
        shape = l.out_shape.clone();
        layers.push(l);
    }
    match layers.last() {
        Some(IntLayer {
            op: IntOp::Dense { .. } | IntOp::Conv { .. },
            mul: None,
            ..
        }) => {}
        _ => {
            return Err(Error::Model(
                "integerize: the model must end in a dense or convolution layer without activation"
                    .into(),
            ))
        }
    }
    Ok(IntegerNetwork {
        input_clip,
        input_shape: qat.model.input_shape,
        shift,
        layers,
    })
}

impl IntegerNetwork {
    /// The uint8 input of one float sample (CHW): `floor(255 / alpha * clamp(x, 0, alpha))`.
    pub fn quantize_input(&self, x: &[f32]) -> Vec<u8> {
        let inv = ACT_LEVELS / self.input_clip;
        x.iter()
            .map(|&v| {
                (v.clamp(0.0, self.input_clip) * inv)
                    .floor()
                    .clamp(0.0, 255.0) as u8
            })
            .collect()
    }

    /// The output accumulators for one uint8 input, and the largest |accumulator| on the way.
    pub fn run(&self, input: &[u8]) -> Result<(Vec<i32>, i64)> {
        let want: usize = self.input_shape.iter().product();
        if input.len() != want {
            return Err(Error::Model(format!(
                "integer network: input of {} values, expected {want}",
                input.len()
            )));
        }
        let mut x: Vec<i32> = input.iter().map(|&v| v as i32).collect();
        let mut shape = self.input_shape.to_vec();
        let mut peak = 0i64;
        for l in &self.layers {
            let acc = match &l.op {
                IntOp::Conv {
                    weight,
                    bias,
                    shape: [o, c, kh, kw],
                    stride,
                    dilation,
                    pad_before,
                    ..
                } => conv(
                    &x,
                    [*c, shape[1], shape[2]],
                    weight,
                    bias,
                    [*o, *kh, *kw],
                    [l.out_shape[1], l.out_shape[2]],
                    *stride,
                    *dilation,
                    *pad_before,
                    1,
                ),
                IntOp::Dense {
                    weight,
                    bias,
                    shape: [o, i],
                } => dense(&x, weight, bias, [*o, *i]),
                IntOp::MaxPool { kernel, stride } => max_pool(
                    &x,
                    [shape[0], shape[1], shape[2]],
                    *kernel,
                    *stride,
                    &l.out_shape,
                ),
                IntOp::Flatten => x.clone(),
            };
            x = match &l.mul {
                Some(mul) => {
                    let per = acc.len() / mul.len();
                    acc.iter()
                        .enumerate()
                        .map(|(k, &a)| {
                            peak = peak.max((a as i64).abs());
                            requant_shift(a, mul[k / per], self.shift)
                        })
                        .collect()
                }
                None => {
                    if matches!(l.op, IntOp::Conv { .. } | IntOp::Dense { .. }) {
                        peak = acc.iter().fold(peak, |p, &a| p.max((a as i64).abs()));
                    }
                    acc
                }
            };
            shape = l.out_shape.clone();
        }
        Ok((x, peak))
    }

    /// The float logits of the output accumulators.
    pub fn logits(&self, acc: &[i32]) -> Vec<f64> {
        let scales = &self.layers.last().expect("integerized").out_scale;
        acc.iter()
            .zip(scales)
            .map(|(&a, &s)| a as f64 * s)
            .collect()
    }

    /// Predicted classes for flat CHW float samples, and the largest |accumulator| seen.
    pub fn predict(&self, samples: &[f32]) -> Result<(Vec<usize>, i64)> {
        let per: usize = self.input_shape.iter().product();
        let out: Vec<(usize, i64)> = samples
            .par_chunks(per)
            .map(|s| {
                let (acc, peak) = self.run(&self.quantize_input(s))?;
                let z = self.logits(&acc);
                let arg = (0..z.len()).fold(0, |b, i| if z[i] > z[b] { i } else { b });
                Ok((arg, peak))
            })
            .collect::<Result<_>>()?;
        let peak = out.iter().map(|p| p.1).max().unwrap_or(0);
        Ok((out.into_iter().map(|p| p.0).collect(), peak))
    }

    /// One row per layer: name, operation, output shape, multiplier range.
    pub fn summary(&self) -> Vec<IntLayerSummary> {
        self.layers
            .iter()
            .map(|l| IntLayerSummary {
                name: l.name.clone(),
                op: match l.op {
                    IntOp::Conv { .. } => "Conv",
                    IntOp::Dense { .. } => "Dense",
                    IntOp::MaxPool { .. } => "MaxPool",
                    IntOp::Flatten => "Flatten",
                },
                out_shape: l.out_shape.clone(),
                mul_range: l.mul.as_ref().map_or((0, 0), |m| {
                    (
                        m.iter().copied().min().unwrap_or(0),
                        m.iter().copied().max().unwrap_or(0),
                    )
                }),
            })
            .collect()
    }
}

/// MATCH's requantization: `clip(floor(acc * mul / 2^shift), 0, 255)`.
pub(crate) fn requant_shift(acc: i32, mul: i32, shift: u32) -> i32 {
    ((acc as i64 * mul as i64) >> shift).clamp(0, ACT_MAX) as i32
}

/// QuantLib's requantization (PULP-NN order: multiply, add, then divide with
/// flooring): `clip(floor((acc * mul + add) / 2^log2_d), 0, 255)`, in i128 so
/// that no i32 accumulator and i64 multiplier and term can overflow
/// (a channel whose batch norm saw almost no variance has a huge multiplier).
pub(crate) fn requant_mul_add(acc: i32, mul: i64, add: i64, log2_d: u32) -> i32 {
    ((acc as i128 * mul as i128 + add as i128) >> log2_d).clamp(0, ACT_MAX as i128) as i32
}

/// The largest uint8 activation.
const ACT_MAX: i64 = 255;

/// Integer dense layer: `bias[r] + sum_i weight[r, i] * x[i]` for each of the `o` rows of `[o, i]` weights.
pub(crate) fn dense(x: &[i32], weight: &[i8], bias: &[i32], [o, i]: [usize; 2]) -> Vec<i32> {
    (0..o)
        .map(|r| {
            let row = &weight[r * i..(r + 1) * i];
            bias[r] + row.iter().zip(x).map(|(&w, &v)| w as i32 * v).sum::<i32>()
        })
        .collect()
}

/// Integer grouped convolution of `x` `[C, H, W]` (one group: a plain
/// convolution; `C` groups: depthwise): one int32 accumulator per output
/// element. Weights are `[O, C / groups, kh, kw]`; output channel `oc` reads
/// the input channels of group `oc / (O / groups)`; padding is zero.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv(
    x: &[i32],
    [c, h, w]: [usize; 3],
    weight: &[i8],
    bias: &[i32],
    [o, kh, kw]: [usize; 3],
    [oh, ow]: [usize; 2],
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    (ph, pw): (usize, usize),
    groups: usize,
) -> Vec<i32> {
    debug_assert!(groups > 0 && c % groups == 0 && o % groups == 0);
    let (cg, og) = (c / groups, o / groups);
    let mut out = vec![0i32; o * oh * ow];
    for (oc, plane) in out.chunks_mut(oh * ow).enumerate() {
        plane.fill(bias[oc]);
        let first = (oc / og) * cg;
        for icg in 0..cg {
            let ic = first + icg;
            let xin = &x[ic * h * w..(ic + 1) * h * w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let wv = weight[((oc * cg + icg) * kh + ky) * kw + kx] as i32;
                    if wv == 0 {
                        continue;
                    }
                    for oy in 0..oh {
                        // input row oy * sh + ky * dh - ph, inside [0, h)
                        let iy = (oy * sh + ky * dh) as isize - ph as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let row = &xin[iy as usize * w..(iy as usize + 1) * w];
                        let dst = &mut plane[oy * ow..(oy + 1) * ow];
                        for (ox, d) in dst.iter_mut().enumerate() {
                            let ix = (ox * sw + kx * dw) as isize - pw as isize;
                            if ix >= 0 && ix < w as isize {
                                *d += wv * row[ix as usize];
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn max_pool(
    x: &[i32],
    [c, h, w]: [usize; 3],
    (kh, kw): (usize, usize),
    (sh, sw): (usize, usize),
    out_shape: &[usize],
) -> Vec<i32> {
    let (oh, ow) = (out_shape[1], out_shape[2]);
    let mut out = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = i32::MIN;
                for ky in 0..kh {
                    for kx in 0..kw {
                        m = m.max(x[(ch * h + oy * sh + ky) * w + ox * sw + kx]);
                    }
                }
                out.push(m);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_by_hand() {
        // one channel, 1 x 5 input, kernel 1 x 3, dilation 2, SAME: pad 2 each side
        let x = [1, 2, 3, 4, 5];
        let y = conv(
            &x,
            [1, 1, 5],
            &[1, -1, 2],
            &[10],
            [1, 1, 3],
            [1, 5],
            (1, 1),
            (1, 2),
            (0, 2),
            1,
        );
        // out[t] = 10 + x[t-2] - x[t] + 2 x[t+2]
        assert_eq!(
            y,
            [
                10 - 1 + 6,
                10 - 2 + 8,
                10 + 1 - 3 + 10,
                10 + 2 - 4,
                10 + 3 - 5
            ]
        );
    }

    #[test]
    fn depthwise_is_a_grouped_conv() {
        // two channels [1, 2, 3] and [4, 5, 6] (1 x 3 each), kernels [1, -1] and [2, 0], VALID
        let y = conv(
            &[1, 2, 3, 4, 5, 6],
            [2, 1, 3],
            &[1, -1, 2, 0],
            &[10, 0],
            [2, 1, 2],
            [1, 2],
            (1, 1),
            (1, 1),
            (0, 0),
            2,
        );
        // channel 0: 10 + 1 - 2, 10 + 2 - 3; channel 1: 2 * 4, 2 * 5
        assert_eq!(y, [9, 9, 8, 10]);
        // QuantLib's rule: floor((acc * mul + add) / 2^24), clipped to [0, 255];
        // 3 * 2^23 + 2^23 = 2^25 -> 2; -1 -> floor(-1 / 2^24) = -1 -> 0
        assert_eq!(requant_mul_add(3, 1 << 23, 1 << 23, 24), 2);
        assert_eq!(requant_mul_add(0, 1 << 23, -1, 24), 0);
        // MATCH's: floor(acc * mul / 2^16); 7 * 49152 / 65536 = 5.25 -> 5
        assert_eq!(requant_shift(7, 49_152, 16), 5);
    }

    #[test]
    fn a_hand_made_network_floors_clips_and_accumulates() {
        let net = IntegerNetwork {
            input_clip: 1.0,
            input_shape: [1, 1, 2],
            shift: 16,
            layers: vec![
                IntLayer {
                    name: "c".into(),
                    op: IntOp::Conv {
                        weight: vec![3],
                        bias: vec![-2],
                        shape: [1, 1, 1, 1],
                        stride: (1, 1),
                        dilation: (1, 1),
                        pad_before: (0, 0),
                        pad_after: (0, 0),
                    },
                    // scale ratio 0.75
                    mul: Some(vec![49_152]),
                    out_shape: vec![1, 1, 2],
                    out_scale: vec![1.0],
                },
                IntLayer {
                    name: "f".into(),
                    op: IntOp::Flatten,
                    mul: None,
                    out_shape: vec![2],
                    out_scale: vec![1.0],
                },
                IntLayer {
                    name: "d".into(),
                    op: IntOp::Dense {
                        weight: vec![1, -1],
                        bias: vec![0],
                        shape: [1, 2],
                    },
                    mul: None,
                    out_shape: vec![1],
                    out_scale: vec![0.5],
                },
            ],
        };
        // conv: 3*3-2 = 7 -> floor(5.25) = 5; 3*0-2 = -2 -> floor(-1.5) = -2 -> 0
        assert_eq!(net.run(&[3, 0]).unwrap(), (vec![5], 7));
        // 3*200-2 = 598 -> 448 -> 255; 763 -> 572 -> 255; dense 0
        assert_eq!(net.run(&[200, 255]).unwrap(), (vec![0], 763));
        assert_eq!(net.logits(&[5]), [2.5]);
        // floor(255 * 0.5) = 127; clamp below 0 and above the clip
        assert_eq!(net.quantize_input(&[0.5, -1.0, 2.0]), [127, 0, 255]);
        assert!(net.run(&[1]).is_err());
    }
}
