//! The PACT integer network ([`f2t`](super::f2t)) as ONNX in the form
//! QuantLib's DORY exporter writes: standard operators on integer-valued
//! float tensors, each requantization spelled out as
//! `Mul(mul[c]) -> Add(add[c]) -> Div(D) -> Floor -> Clip(0, 255)`
//! (after a clamp of the accumulator that changes no output, see below).
//!
//! Layout of the file:
//! - input `input`, float32 `[N, C, H, W]` holding the int8 input
//!   `clip(floor(x / eps_in), -128, 127)` (done by the caller, as
//!   [`PactIntegerNetwork::quantize_input`]);
//! - convolutions (`group` = channels for depthwise) with integer-valued
//!   float32 weights and no bias; each output `<layer>.out` (uint8 values in float32);
//! - the sum pool as a depthwise `Conv` with all-one weights (its `1 / (kh * kw)`
//!   lives in the quantum, as in [`f2t`](super::f2t)), `Flatten`;
//! - the classifier as a float64 `Gemm` (`transB`) without bias, then its
//!   int32 bias added;
//! - output `output_acc`, float64 `[N, classes]`: the last layer's accumulators;
//!   logits are `output_acc[c] * output_eps[c]`.
//!
//! Exactness: ONNX Runtime has no float64 `Conv`, so convolutions run in
//! float32 (the classifier's `Gemm` runs in float64: after the sum pool its
//! sums pass 2^24). Every partial sum of such an accumulator is bounded
//! by `sum |w| * max |x|`; [`PactIntegerNetwork::to_onnx`] checks that bound is
//! at most 2^24 for every output channel, so any summation order is exact.
//! The requantization's `acc * mul + add` reaches about 2^45 (accumulators
//! near 2^20 times multipliers near 2^25), far beyond float32, so it runs in
//! float64 (`Cast` in and out), where it is exact while `|acc| * |mul| + |add|`
//! stays within 2^53 (also checked); the division by `D = 2^24` is exact in
//! binary floating point and `Floor` then equals the reference's floor of an
//! i128 quotient. Barely trained batch norms (a tiny `sigma`) give
//! multipliers far above 2^24, where `|acc| * |mul|` would pass 2^53; so
//! each accumulator is first clamped (`Max`, `Min`, per channel) to
//! `[acc_lo[c], acc_hi[c]]`, the accumulators outside of which the output is
//! already saturated at 0 or 255 (the requantization is monotone in `acc`),
//! which changes no output and keeps `acc * mul + add` within about
//! `256 * D + |mul|`; and a channel whose multiplier passes `256 * D` (its
//! output jumps from 0 to 255 between neighbouring accumulators) is written
//! with the equivalent multiplier `+-256 * D`, and one whose additive term
//! passes 2^48 with the constant it gives
//! ([`Requant::bounded`](super::f2t::Requant::bounded): the same output on
//! every accumulator the layer can reach). A layer still beyond
//! 2^53 is an error naming it, not a silently different file.
//!
//! Annotations (the checker rejects unknown node attributes, which DORY's
//! annotator adds, so they live where ONNX keeps free text): each node's
//! `doc_string` gives its integer type, bits and quantum; the model's
//! `metadata_props` hold `D`, `input_eps`, each layer's `eps.<layer>`,
//! `output_eps` and `layer_outputs` (the requantized outputs, in the order of
//! the feature dump's `out_layer{i}` files).

use workbench_onnx::{Attr, DataType, GraphBuilder, ModelProto, F32_EXACT, F64_EXACT};

use super::f2t::{
    max_row_l1, saturation_bounds, PactIntegerNetwork, PactOp, ACT_MAX, INPUT_MAX, LOG2_D,
};
use crate::{Error, Result};

/// ONNX operator set the file uses.
pub const OPSET: i64 = 17;

/// Comma-separated quanta.
fn join_eps(eps: &[f64]) -> String {
    eps.iter()
        .map(|e| format!("{e:e}"))
        .collect::<Vec<_>>()
        .join(",")
}

impl PactIntegerNetwork {
    /// Names of the requantized layers' outputs in the ONNX file, in order (the feature dump's `out_layer{i}`).
    pub fn onnx_layer_outputs(&self) -> Vec<String> {
        self.layers
            .iter()
            .filter(|l| l.requant.is_some())
            .map(|l| format!("{}.out", l.name))
            .collect()
    }

    /// The ONNX model of this network (see the module docs); an error names a layer whose arithmetic would not be exact.
    pub fn to_onnx(&self) -> Result<ModelProto> {
        let mut g = GraphBuilder::new("mobilenet_pact_integer");
        let [c, h, w] = self.input_shape;
        g.input(
            "input",
            DataType::Float,
            &[None, Some(c), Some(h), Some(w)],
            "int8 input values -128..127: clip(floor(x / input_eps), -128, 127)",
        );
        let d_value = (1u64 << LOG2_D) as f64;
        let d = g.f64_const("D", &[], &[d_value]);
        let lo = g.f64_const("clip_lo", &[], &[0.0]);
        let hi = g.f64_const("clip_hi", &[], &[ACT_MAX as f64]);
        let mut cur = "input".to_string();
        // the largest magnitude `cur` can hold, and its shape without batch
        let mut x_max = INPUT_MAX;
        let mut shape = self.input_shape.to_vec();
        let mut meta = vec![
            (
                "format".to_string(),
                "workbench DORY-style PACT integer network (QuantLib F2T)".to_string(),
            ),
            ("D".into(), (1u64 << LOG2_D).to_string()),
            (
                "requant".into(),
                "y = clip(floor((acc * mul[c] + add[c]) / D), 0, 255)".into(),
            ),
            ("input_eps".into(), format!("{:e}", self.input_eps)),
            ("input_bits".into(), "8 (signed)".into()),
            ("weight_bits".into(), "8 (signed)".into()),
            ("activation_bits".into(), "8 (unsigned)".into()),
        ];
        let i64s = |a: usize, b: usize| Attr::Ints(vec![a as i64, b as i64]);
        for l in &self.layers {
            let n = &l.name;
            let not_exact = |what: &str, bound: u64, limit: u64| {
                Error::Model(format!(
                    "pact onnx {n}: {what} up to {bound} exceed {limit} and are not exact in the file's floats"
                ))
            };
            let eps_doc = if l.eps_out.len() == 1 {
                format!("eps {:e}", l.eps_out[0])
            } else {
                "eps per channel in metadata".to_string()
            };
            let mut acc_is_f64 = false;
            let (acc, acc_max) = match &l.op {
                PactOp::Conv {
                    weight,
                    shape: ws,
                    groups,
                    stride,
                    dilation,
                    pad_before,
                } => {
                    let bound = max_row_l1(weight, ws[1] * ws[2] * ws[3]) * x_max;
                    if bound > F32_EXACT {
                        return Err(not_exact("float32 convolution sums", bound, F32_EXACT));
                    }
                    let wi: Vec<i64> = weight.iter().map(|&v| v as i64).collect();
                    let wn = g.int_f32_const(&format!("{n}.weight"), ws, &wi);
                    // ONNX wants both pads: the after-pad that makes the output size
                    let after =
                        |inp: usize, out: usize, k: usize, s: usize, d: usize, pb: usize| {
                            ((out - 1) * s + d * (k - 1) + 1).saturating_sub(inp + pb)
                        };
                    let pa = (
                        after(
                            shape[1],
                            l.out_shape[1],
                            ws[2],
                            stride.0,
                            dilation.0,
                            pad_before.0,
                        ),
                        after(
                            shape[2],
                            l.out_shape[2],
                            ws[3],
                            stride.1,
                            dilation.1,
                            pad_before.1,
                        ),
                    );
                    let acc = g.node(
                        "Conv",
                        &[&cur, &wn],
                        &format!("{n}.acc"),
                        &[
                            ("kernel_shape", i64s(ws[2], ws[3])),
                            ("strides", i64s(stride.0, stride.1)),
                            ("dilations", i64s(dilation.0, dilation.1)),
                            (
                                "pads",
                                Attr::Ints(vec![
                                    pad_before.0 as i64,
                                    pad_before.1 as i64,
                                    pa.0 as i64,
                                    pa.1 as i64,
                                ]),
                            ),
                            ("group", Attr::Int(*groups as i64)),
                        ],
                        "int8 weights x integer input -> int32 accumulator (out_bits 32)",
                    );
                    (acc, bound)
                }
                PactOp::SumPool { kernel } => {
                    let window = (kernel.0 * kernel.1) as u64;
                    let bound = window * x_max;
                    if bound > F32_EXACT {
                        return Err(not_exact("float32 pool sums", bound, F32_EXACT));
                    }
                    let ones = vec![1; shape[0] * kernel.0 * kernel.1];
                    let wn = g.int_f32_const(
                        &format!("{n}.ones"),
                        &[shape[0], 1, kernel.0, kernel.1],
                        &ones,
                    );
                    let out = g.node(
                        "Conv",
                        &[&cur, &wn],
                        &format!("{n}.out"),
                        &[
                            ("kernel_shape", i64s(kernel.0, kernel.1)),
                            ("strides", i64s(kernel.0, kernel.1)),
                            ("group", Attr::Int(shape[0] as i64)),
                        ],
                        &format!("sum pool (average pool whose 1 / {window} is in the quantum): int32 ({eps_doc})"),
                    );
                    (out, bound)
                }
                PactOp::Flatten => {
                    let out = g.node(
                        "Flatten",
                        &[&cur],
                        &format!("{n}.out"),
                        &[("axis", Attr::Int(1))],
                        &format!("flatten ({eps_doc})"),
                    );
                    (out, x_max)
                }
                PactOp::Dense {
                    weight,
                    bias,
                    shape: ws,
                } => {
                    // in float64: after the sum pool, a well-trained classifier's
                    // sums pass 2^24 (MobileNet 0.25 at 96x96: about 2^24.4)
                    let bound = max_row_l1(weight, ws[1]) * x_max;
                    let bias_max = bias
                        .iter()
                        .map(|&b| (b as i64).unsigned_abs())
                        .max()
                        .unwrap_or(0);
                    if bound + bias_max > F64_EXACT {
                        return Err(not_exact("float64 dense sums", bound + bias_max, F64_EXACT));
                    }
                    let wf: Vec<f64> = weight.iter().map(|&v| v as f64).collect();
                    let wn = g.f64_const(&format!("{n}.weight"), ws, &wf);
                    let x64 = g.node(
                        "Cast",
                        &[&cur],
                        &format!("{n}.in64"),
                        &[("to", Attr::Int(DataType::Double as i64))],
                        "",
                    );
                    let mut acc = g.node(
                        "Gemm",
                        &[&x64, &wn],
                        &format!("{n}.acc"),
                        &[("transB", Attr::Int(1))],
                        "int8 weights x integer input -> int32 accumulator (out_bits 32), exact in float64",
                    );
                    acc_is_f64 = true;
                    if bias_max > 0 {
                        let bf: Vec<f64> = bias.iter().map(|&b| b as f64).collect();
                        let bn = g.f64_const(&format!("{n}.bias"), &[bias.len()], &bf);
                        acc = g.node(
                            "Add",
                            &[&acc, &bn],
                            &format!("{n}.acc_bias"),
                            &[],
                            "int32 bias round(b / eps_acc) (exact in float64)",
                        );
                    }
                    (acc, bound + bias_max)
                }
            };
            cur = match &l.requant {
                Some(r) => {
                    // a multiplier above 256 * D makes a step, a huge additive term a
                    // constant: written as their equivalents, whose terms stay exact in float64
                    let r = &r.bounded(acc_max);
                    // clamp acc to where the output is not yet saturated, so
                    // acc * mul + add stays near 256 * D whatever the multiplier
                    let (acc_lo, acc_hi, bound) = saturation_bounds(r, acc_max);
                    if bound > F64_EXACT as u128 {
                        return Err(not_exact(
                            "float64 requantization terms",
                            bound.min(u64::MAX as u128) as u64,
                            F64_EXACT,
                        ));
                    }
                    let mut dims = vec![1, r.mul.len()];
                    dims.extend(std::iter::repeat_n(1, l.out_shape.len() - 1));
                    let (lo_n, hi_n) = if acc_is_f64 {
                        let f = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
                        (
                            g.f64_const(&format!("{n}.acc_lo"), &dims, &f(&acc_lo)),
                            g.f64_const(&format!("{n}.acc_hi"), &dims, &f(&acc_hi)),
                        )
                    } else {
                        (
                            g.int_f32_const(&format!("{n}.acc_lo"), &dims, &acc_lo),
                            g.int_f32_const(&format!("{n}.acc_hi"), &dims, &acc_hi),
                        )
                    };
                    let v = g.node(
                        "Max",
                        &[&acc, &lo_n],
                        &format!("{n}.acc_above"),
                        &[],
                        "requant: acc below acc_lo[c] gives the same output as acc_lo[c]",
                    );
                    let v = g.node(
                        "Min",
                        &[&v, &hi_n],
                        &format!("{n}.acc_clamped"),
                        &[],
                        "requant: acc above acc_hi[c] gives the same output as acc_hi[c]",
                    );
                    let mf: Vec<f64> = r.mul.iter().map(|&v| v as f64).collect();
                    let af: Vec<f64> = r.add.iter().map(|&v| v as f64).collect();
                    let mn = g.f64_const(&format!("{n}.mul"), &dims, &mf);
                    let an = g.f64_const(&format!("{n}.add"), &dims, &af);
                    let v = g.node(
                        "Cast",
                        &[&v],
                        &format!("{n}.acc64"),
                        &[("to", Attr::Int(DataType::Double as i64))],
                        "",
                    );
                    let v = g.node(
                        "Mul",
                        &[&v, &mn],
                        &format!("{n}.scaled"),
                        &[],
                        "requant: acc * mul[c] (BN and PACT folded, int64 per channel)",
                    );
                    let v = g.node(
                        "Add",
                        &[&v, &an],
                        &format!("{n}.shifted"),
                        &[],
                        "requant: + add[c] (int64 per channel)",
                    );
                    let v = g.node(
                        "Div",
                        &[&v, &d],
                        &format!("{n}.divided"),
                        &[],
                        &format!("requant: / D = 2^{LOG2_D}"),
                    );
                    let v = g.node("Floor", &[&v], &format!("{n}.floor"), &[], "requant: floor");
                    let v = g.node(
                        "Clip",
                        &[&v, &lo, &hi],
                        &format!("{n}.clip"),
                        &[],
                        "PACT: clip to 0..255",
                    );
                    x_max = ACT_MAX;
                    g.node(
                        "Cast",
                        &[&v],
                        &format!("{n}.out"),
                        &[("to", Attr::Int(DataType::Float as i64))],
                        &format!("uint8 activation (out_bits 8, unsigned, {eps_doc})"),
                    )
                }
                None => {
                    x_max = acc_max;
                    acc
                }
            };
            meta.push((format!("eps.{n}"), join_eps(&l.eps_out)));
            shape = l.out_shape.clone();
        }
        let last = self
            .layers
            .last()
            .ok_or_else(|| Error::Model("pact onnx: the network has no layers".into()))?;
        // the output in float64 whatever the last operation's type
        g.node(
            "Cast",
            &[&cur],
            "output_acc",
            &[("to", Attr::Int(DataType::Double as i64))],
            "int32 accumulators of the last layer",
        );
        let mut out_dims = vec![None];
        out_dims.extend(last.out_shape.iter().map(|&d| Some(d)));
        g.output(
            "output_acc",
            DataType::Double,
            &out_dims,
            "int32 accumulators of the last layer; logits = output_acc * output_eps",
        );
        meta.push(("output_eps".into(), join_eps(&last.eps_out)));
        meta.push(("layer_outputs".into(), self.onnx_layer_outputs().join(",")));
        Ok(g.finish(
            OPSET,
            "workbench",
            "QuantLib F2T integer network: int8 weights, int32 accumulators, requantization floor((acc * mul + add) / D) clipped to uint8.",
            &meta,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::f2t::{PactLayer, Requant};

    #[test]
    fn row_bounds_and_a_convolution_out_of_float32_is_an_error() {
        // rows [1, -2] and [3, 0]: the larger l1 norm is 3
        assert_eq!(max_row_l1(&[1, -2, 3, 0], 2), 3);
        let conv = |cin: usize, add: i64| PactIntegerNetwork {
            input_eps: 0.1,
            input_shape: [cin, 1, 1],
            layers: vec![PactLayer {
                name: "conv1".into(),
                op: PactOp::Conv {
                    weight: vec![127; cin],
                    shape: [1, cin, 1, 1],
                    groups: 1,
                    stride: (1, 1),
                    dilation: (1, 1),
                    pad_before: (0, 0),
                },
                requant: Some(Requant {
                    mul: vec![1],
                    add: vec![add],
                }),
                out_shape: vec![1, 1, 1],
                eps_out: vec![0.1],
            }],
        };
        // 1,100 weights of 127 times inputs up to 128: sums pass 2^24
        let e = conv(1100, 0).to_onnx().unwrap_err().to_string();
        assert!(e.contains("conv1") && e.contains("not exact"), "{e}");
        // an additive term beyond 2^53 saturates every reachable accumulator,
        // so the channel is written as that constant, not refused
        assert!(conv(1, 1 << 54).to_onnx().is_ok());
    }
}
