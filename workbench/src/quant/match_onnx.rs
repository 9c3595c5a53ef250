//! The integer network as ONNX, in the form the hands-on's exporter writes
//! for the MATCH compiler: standard operators on integer-valued tensors,
//! each convolution or dense layer followed by its requantization
//! `Mul(mul[c]) -> Div(2^shift) -> Floor -> Clip(0, 255)`.
//!
//! Layout of the file:
//! - input `input`, float32 `[N, C, H, W]` holding the uint8 input
//!   (`floor(255 / clip_val * clamp(x, 0, clip_val))`, done by the caller);
//! - per layer `Conv` (or `Gemm`) with integer-valued float32 weights and
//!   int32-valued bias, then `Cast` to double for the requantization, so that
//!   `acc * mul` is exact, and `Cast` back to float32;
//! - `MaxPool`, `Flatten` as they are;
//! - output `output_acc`, float32 `[N, classes]`: the last layer's
//!   accumulators; logits are `output_acc[c] * output_scale[c]`.
//!
//! Annotations live where ONNX tools keep them: each node's `doc_string`
//! says its integer type and bits, the model's `metadata_props` hold
//! `shift_pos`, `clip_val`, `input_bits`, `output_scale` and the format's name.
//! Every float32 value in the graph is an integer below 2^24 in magnitude
//! when the accumulators are (see [`IntegerNetwork::run`]'s peak), so the
//! file computes exactly what [`IntegerNetwork::run`] does.

use workbench_onnx::{Attr, DataType, GraphBuilder, ModelProto};

use super::integer::{IntOp, IntegerNetwork};

/// ONNX operator set the file uses.
pub const OPSET: i64 = 17;

/// Adds a layer's int8 weights and int32 bias as integer-valued float32 constants.
fn weights(
    g: &mut GraphBuilder,
    n: &str,
    weight: &[i8],
    bias: &[i32],
    shape: &[usize],
) -> (String, String) {
    let wi: Vec<i64> = weight.iter().map(|&v| v as i64).collect();
    let bi: Vec<i64> = bias.iter().map(|&v| v as i64).collect();
    (
        g.int_f32_const(&format!("{n}_weight_int8"), shape, &wi),
        g.int_f32_const(&format!("{n}_bias_int32"), &[shape[0]], &bi),
    )
}

impl IntegerNetwork {
    /// The ONNX model of this network (see the module docs).
    pub fn to_onnx(&self) -> ModelProto {
        let mut g = GraphBuilder::new("temponet_integer");
        let [c, h, w] = self.input_shape;
        g.input(
            "input",
            DataType::Float,
            &[None, Some(c), Some(h), Some(w)],
            "uint8 input values 0..255",
        );
        let two = g.f64_const("two_pow_shift", &[], &[(1u64 << self.shift) as f64]);
        let lo = g.f64_const("clip_min", &[], &[0.0]);
        let hi = g.f64_const("clip_max", &[], &[255.0]);
        let mut cur = "input".to_string();
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let n = &l.name;
            let acc = match &l.op {
                IntOp::Conv {
                    weight,
                    bias,
                    shape,
                    stride,
                    dilation,
                    pad_before,
                    pad_after,
                } => {
                    let (wn, bn) = weights(&mut g, n, weight, bias, shape);
                    let i64s = |a: usize, b: usize| Attr::Ints(vec![a as i64, b as i64]);
                    g.node(
                        "Conv",
                        &[&cur, &wn, &bn],
                        &format!("{n}_acc"),
                        &[
                            ("kernel_shape", i64s(shape[2], shape[3])),
                            ("strides", i64s(stride.0, stride.1)),
                            ("dilations", i64s(dilation.0, dilation.1)),
                            (
                                "pads",
                                Attr::Ints(vec![
                                    pad_before.0 as i64,
                                    pad_before.1 as i64,
                                    pad_after.0 as i64,
                                    pad_after.1 as i64,
                                ]),
                            ),
                            ("group", Attr::Int(1)),
                        ],
                        "int8 weights x uint8 input -> int32 accumulator (out_bits 32)",
                    )
                }
                IntOp::Dense {
                    weight,
                    bias,
                    shape,
                } => {
                    let (wn, bn) = weights(&mut g, n, weight, bias, shape);
                    g.node(
                        "Gemm",
                        &[&cur, &wn, &bn],
                        &format!("{n}_acc"),
                        &[("transB", Attr::Int(1))],
                        "int8 weights x uint8 input -> int32 accumulator (out_bits 32)",
                    )
                }
                IntOp::MaxPool { kernel, stride } => g.node(
                    "MaxPool",
                    &[&cur],
                    &format!("{n}_out"),
                    &[
                        (
                            "kernel_shape",
                            Attr::Ints(vec![kernel.0 as i64, kernel.1 as i64]),
                        ),
                        (
                            "strides",
                            Attr::Ints(vec![stride.0 as i64, stride.1 as i64]),
                        ),
                    ],
                    "uint8 (out_bits 8)",
                ),
                IntOp::Flatten => g.node(
                    "Flatten",
                    &[&cur],
                    &format!("{n}_out"),
                    &[("axis", Attr::Int(1))],
                    "uint8 (out_bits 8)",
                ),
            };
            cur = match &l.mul {
                Some(mul) => {
                    let mut dims = vec![1, mul.len()];
                    dims.extend(std::iter::repeat_n(1, l.out_shape.len() - 1));
                    let m: Vec<f64> = mul.iter().map(|&v| v as f64).collect();
                    let mn = g.f64_const(&format!("{n}_mul"), &dims, &m);
                    let d = g.node(
                        "Cast",
                        &[&acc],
                        &format!("{n}_acc64"),
                        &[("to", Attr::Int(DataType::Double as i64))],
                        "",
                    );
                    let d = g.node(
                        "Mul",
                        &[&d, &mn],
                        &format!("{n}_scaled"),
                        &[],
                        "requant: acc * mul[c] (mul int32 per channel)",
                    );
                    let d = g.node(
                        "Div",
                        &[&d, &two],
                        &format!("{n}_shifted"),
                        &[],
                        &format!("requant: / 2^{} (shift_pos)", self.shift),
                    );
                    let d = g.node("Floor", &[&d], &format!("{n}_floor"), &[], "");
                    let d = g.node(
                        "Clip",
                        &[&d, &lo, &hi],
                        &format!("{n}_clip"),
                        &[],
                        "uint8 output (out_bits 8); also the ReLU",
                    );
                    g.node(
                        "Cast",
                        &[&d],
                        &format!("{n}_out"),
                        &[("to", Attr::Int(DataType::Float as i64))],
                        "",
                    )
                }
                None => acc,
            };
            if i == last {
                cur = g.node("Identity", &[&cur], "output_acc", &[], "int32 accumulators");
            }
        }
        let classes = self.layers[last].out_shape.iter().product::<usize>();
        g.output(
            "output_acc",
            DataType::Float,
            &[None, Some(classes)],
            "int32 accumulators of the last layer; logits = output_acc * output_scale",
        );
        let scales = self.layers[last]
            .out_scale
            .iter()
            .map(|s| format!("{s:e}"))
            .collect::<Vec<_>>()
            .join(",");
        let meta = vec![
            (
                "format".to_string(),
                "workbench MATCH-style integer network".to_string(),
            ),
            ("shift_pos".into(), self.shift.to_string()),
            ("clip_val".into(), format!("{}", self.input_clip)),
            ("input_bits".into(), "8 (unsigned)".into()),
            (
                "weight_bits".into(),
                "8 (signed, per output channel)".into(),
            ),
            ("output_scale".into(), scales),
        ];
        g.finish(
            OPSET,
            "workbench",
            "Integer network: conv/dense with int8 weights, int32 accumulators, per-channel multiplier and one right shift, floor, clip to uint8.",
            &meta,
        )
    }
}
