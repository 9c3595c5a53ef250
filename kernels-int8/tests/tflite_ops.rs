//! Every operator of the converter-made models in `tests/tflite/ops/*.txt`, replayed with this crate.
//!
//! The vectors come from `tests/tflite/ops/gen_ops.py`: Keras 3 models with no
//! fixed batch size, converted by TF 2.21 to int8 and float32, run at batch 2
//! by TFLite's reference kernels (`OpResolverType.BUILTIN_REF`) with every
//! tensor preserved. Each operator is re-run from its input tensors (params
//! from this crate's prepare helpers) and compared with TFLite's output: int8
//! exactly, float32 within 1e-5 of the output's range. Ops without a kernel
//! here are listed as skipped with the reason; each test names the ops it must cover.

use kernels_int8::conv_2d::{conv_per_channel, ConvParams};
use kernels_int8::conv_2d_f32::{conv_f32, FloatConvParams};
use kernels_int8::depthwise_conv_2d::{depthwise_conv_per_channel, DepthwiseParams};
use kernels_int8::depthwise_conv_2d_f32::depthwise_conv_f32;
use kernels_int8::fully_connected::{fully_connected, FullyConnectedParams};
use kernels_int8::fully_connected_f32::fully_connected_f32;
use kernels_int8::max_pool_2d::PoolParams;
use kernels_int8::padding::{output_size, padding_before, Padding};
use kernels_int8::requant::{activation_range, conv_multipliers, fc_multiplier};
use kernels_int8::{
    add, concatenation, dequantize, gather, hard_swish, leaky_relu, logistic, maximum, mean,
    minimum, mul, neg, pack, pad, pool_2d_f32, prelu, quantize, reduce, relu, rsqrt, softmax,
    softmax_f32, split, squared_difference, strided_slice, sub, sum, tanh, transpose, unpack,
    Activation, Dims4,
};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
struct T {
    dtype: String,
    shape: Vec<usize>,
    scales: Vec<f32>,
    zps: Vec<i32>,
    ints: Vec<i64>,
    floats: Vec<f32>,
}

impl T {
    fn i8(&self) -> Vec<i8> {
        self.ints.iter().map(|&v| v as i8).collect()
    }
    fn i32(&self) -> Vec<i32> {
        self.ints.iter().map(|&v| v as i32).collect()
    }
    fn is_f32(&self) -> bool {
        self.dtype == "float32"
    }
    fn dims4(&self) -> Dims4 {
        let s = &self.shape;
        assert_eq!(s.len(), 4, "{s:?}");
        Dims4::new(s[0], s[1], s[2], s[3])
    }
    fn scale(&self) -> f32 {
        self.scales[0]
    }
    fn zp(&self) -> i32 {
        self.zps[0]
    }
}

struct Op {
    name: String,
    ins: Vec<Option<usize>>,
    outs: Vec<usize>,
    opts: HashMap<String, String>,
}

impl Op {
    fn opt(&self, k: &str) -> i64 {
        self.opts.get(k).map_or(0, |v| v.parse().unwrap())
    }
    fn optf(&self, k: &str) -> f32 {
        self.opts[k].parse().unwrap()
    }
    fn act(&self) -> Activation {
        match self.opt("fusedActivationFunction") {
            0 => Activation::None,
            1 => Activation::Relu,
            2 => Activation::ReluN1To1,
            3 => Activation::Relu6,
            a => panic!("activation {a}"),
        }
    }
}

struct Model {
    tensors: HashMap<usize, T>,
    ops: Vec<Op>,
}

fn list<X: std::str::FromStr>(s: &str) -> Vec<X>
where
    X::Err: std::fmt::Debug,
{
    if s == "-" {
        return vec![];
    }
    s.split(',').map(|v| v.parse().unwrap()).collect()
}

fn load(name: &str) -> Model {
    let path = format!("{}/tests/tflite/ops/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut tensors = HashMap::new();
    let mut ops = vec![];
    for line in text.lines() {
        let mut parts = line.split(" : ");
        let head: Vec<&str> = parts.next().unwrap().split(' ').collect();
        match head[0] {
            "tensor" => {
                let values = parts.next().unwrap_or("");
                let float = head[2] == "float32";
                let words = values.split(' ').filter(|w| !w.is_empty());
                let (ints, floats) = if float {
                    (
                        vec![],
                        words.map(|w| w.parse::<f64>().unwrap() as f32).collect(),
                    )
                } else {
                    (words.map(|w| w.parse().unwrap()).collect(), vec![])
                };
                let t = T {
                    dtype: head[2].to_string(),
                    shape: list(head[3]),
                    scales: list::<f64>(head[4]).into_iter().map(|v| v as f32).collect(),
                    zps: list(head[5]),
                    ints,
                    floats,
                };
                tensors.insert(head[1].parse().unwrap(), t);
            }
            "op" => {
                let ins = list::<i64>(head[2])
                    .into_iter()
                    .map(|i| (i >= 0).then_some(i as usize))
                    .collect();
                let opts = head[4..]
                    .iter()
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                ops.push(Op {
                    name: head[1].to_string(),
                    ins,
                    outs: list(head[3]),
                    opts,
                });
            }
            _ => panic!("bad line {line}"),
        }
    }
    Model { tensors, ops }
}

/// Float bounds of a fused activation.
fn float_act(a: Activation) -> (f32, f32) {
    match a {
        Activation::None => (f32::NEG_INFINITY, f32::INFINITY),
        Activation::Relu => (0.0, f32::INFINITY),
        Activation::ReluN1To1 => (-1.0, 1.0),
        Activation::Relu6 => (0.0, 6.0),
    }
}

/// What one output should hold.
enum Got {
    I8(Vec<i8>),
    F32(Vec<f32>),
    I32(Vec<i32>),
}

fn compare(ctx: &str, got: Got, want: &T) {
    match got {
        Got::I8(v) => assert_eq!(v, want.i8(), "{ctx}"),
        Got::I32(v) => assert_eq!(v, want.i32(), "{ctx}"),
        Got::F32(v) => {
            assert_eq!(v.len(), want.floats.len(), "{ctx}: length");
            let lo = want.floats.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = want
                .floats
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            let tol = 1e-5 * (hi - lo).max(1e-3);
            for (i, (a, b)) in v.iter().zip(&want.floats).enumerate() {
                assert!(
                    (a - b).abs() <= tol,
                    "{ctx}: element {i}: got {a}, want {b} (tol {tol})"
                );
            }
        }
    }
}

/// A data-movement op on int8, int32 or f32 (the same generic kernel for each).
macro_rules! movement {
    ($x:expr, $y:expr, |$i:ident, $o:ident| $body:expr) => {{
        let (x, y): (&T, &T) = ($x, $y);
        if x.is_f32() {
            let mut out = vec![0f32; y.floats.len()];
            let ($i, $o) = (&x.floats[..], &mut out[..]);
            $body;
            vec![Got::F32(out)]
        } else if x.dtype == "int32" {
            let xi = x.i32();
            let mut out = vec![0i32; y.ints.len()];
            let ($i, $o) = (&xi[..], &mut out[..]);
            $body;
            vec![Got::I32(out)]
        } else {
            let xi = x.i8();
            let mut out = vec![0i8; y.ints.len()];
            let ($i, $o) = (&xi[..], &mut out[..]);
            $body;
            vec![Got::I8(out)]
        }
    }};
}

/// Runs one op; returns the outputs it produced, or why it was skipped.
fn run(m: &Model, op: &Op) -> Result<Vec<Got>, String> {
    let t = |k: usize| &m.tensors[&op.ins[k].unwrap()];
    let y = &m.tensors[&op.outs[0]];
    let x = || t(0);
    let f32_out = y.is_f32();
    let ints_of = |k: usize| t(k).i32();
    Ok(match op.name.as_str() {
        "ADD" | "SUB" | "MUL" | "SQUARED_DIFFERENCE" | "MAXIMUM" | "MINIMUM" => {
            let (a, b) = (t(0), t(1));
            if f32_out {
                let (lo, hi) = float_act(op.act());
                let mut out = vec![0f32; y.floats.len()];
                let (sa, sb, sy) = (&a.shape, &b.shape, &y.shape);
                let (fa, fb) = (&a.floats, &b.floats);
                match op.name.as_str() {
                    "ADD" => add::add_f32(lo, hi, sa, fa, sb, fb, sy, &mut out),
                    "SUB" => sub::sub_f32(lo, hi, sa, fa, sb, fb, sy, &mut out),
                    "MUL" => mul::mul_f32(lo, hi, sa, fa, sb, fb, sy, &mut out),
                    "SQUARED_DIFFERENCE" => {
                        squared_difference::squared_difference_f32(sa, fa, sb, fb, sy, &mut out)
                    }
                    "MAXIMUM" => maximum::maximum(sa, fa, sb, fb, sy, &mut out),
                    _ => minimum::minimum(sa, fa, sb, fb, sy, &mut out),
                }
                vec![Got::F32(out)]
            } else {
                let (amin, amax) = activation_range(op.act(), y.scale(), y.zp());
                let mut out = vec![0i8; y.ints.len()];
                let (sa, sb, sy) = (&a.shape, &b.shape, &y.shape);
                let (ia, ib) = (a.i8(), b.i8());
                let (s1, z1, s2, z2, so, zo) =
                    (a.scale(), a.zp(), b.scale(), b.zp(), y.scale(), y.zp());
                match op.name.as_str() {
                    "ADD" => {
                        let p = add::prepare(s1, z1, s2, z2, so, zo, amin, amax);
                        add::add_broadcast(&p, sa, &ia, sb, &ib, sy, &mut out)
                    }
                    "SUB" => {
                        let p = add::prepare(s1, z1, s2, z2, so, zo, amin, amax);
                        sub::sub(&p, sa, &ia, sb, &ib, sy, &mut out)
                    }
                    "MUL" => {
                        let p = mul::prepare(s1, z1, s2, z2, so, zo, amin, amax);
                        mul::mul(&p, sa, &ia, sb, &ib, sy, &mut out)
                    }
                    "SQUARED_DIFFERENCE" => {
                        let p = squared_difference::prepare(s1, z1, s2, z2, so, zo);
                        squared_difference::squared_difference(&p, sa, &ia, sb, &ib, sy, &mut out)
                    }
                    "MAXIMUM" => maximum::maximum(sa, &ia, sb, &ib, sy, &mut out),
                    _ => minimum::minimum(sa, &ia, sb, &ib, sy, &mut out),
                }
                vec![Got::I8(out)]
            }
        }
        "MEAN" | "SUM" => {
            let x = x();
            let axes = ints_of(1);
            let mask = reduce::axis_mask(x.shape.len(), &axes).unwrap();
            let n = x
                .shape
                .iter()
                .zip(&mask)
                .filter(|(_, &mm)| !mm)
                .map(|(&d, _)| d)
                .product();
            if f32_out {
                let mut out = vec![0f32; n];
                if op.name == "MEAN" {
                    mean::mean_f32(&x.shape, &mask, &x.floats, &mut out);
                } else {
                    sum::sum_f32(&x.shape, &mask, &x.floats, &mut out);
                }
                vec![Got::F32(out)]
            } else {
                let mut out = vec![0i8; n];
                let mut sums = vec![0i32; n];
                let (si, zi, so, zo) = (x.scale(), x.zp(), y.scale(), y.zp());
                if op.name == "MEAN" {
                    let count = reduce::reduced_count(&x.shape, &mask);
                    let (mm, s) = mean::prepare_rescale(si, so, count);
                    mean::mean_rescale(mm, s, zi, zo, &x.shape, &mask, &x.i8(), &mut sums, &mut out)
                } else if si == so && zi == zo {
                    sum::sum_same_quantization(&x.shape, &mask, &x.i8(), &mut out);
                } else {
                    let (mm, s) = sum::prepare(si, so);
                    sum::sum_rescale(mm, s, zi, zo, &x.shape, &mask, &x.i8(), &mut sums, &mut out);
                }
                vec![Got::I8(out)]
            }
        }
        "PAD" | "PADV2" => {
            let x = x();
            let p = ints_of(1);
            let paddings: Vec<(usize, usize)> = p
                .chunks(2)
                .map(|c| (c[0] as usize, c[1] as usize))
                .collect();
            if f32_out {
                let v = if op.name == "PADV2" {
                    t(2).floats[0]
                } else {
                    0.0
                };
                let mut out = vec![0f32; y.floats.len()];
                pad::pad(&x.shape, &paddings, v, &x.floats, &mut out);
                vec![Got::F32(out)]
            } else {
                let v = if op.name == "PADV2" {
                    t(2).i8()[0]
                } else {
                    y.zp() as i8
                };
                let mut out = vec![0i8; y.ints.len()];
                pad::pad(&x.shape, &paddings, v, &x.i8(), &mut out);
                vec![Got::I8(out)]
            }
        }
        "CONCATENATION" => {
            let rank = y.shape.len() as i64;
            let axis = op.opt("axis");
            let axis = (if axis < 0 { axis + rank } else { axis }) as usize;
            let ins: Vec<&T> = (0..op.ins.len()).map(t).collect();
            if y.dtype == "int32" {
                let owned: Vec<Vec<i32>> = ins.iter().map(|i| i.i32()).collect();
                let datas: Vec<(&[usize], &[i32])> = ins
                    .iter()
                    .zip(&owned)
                    .map(|(i, d)| (&i.shape[..], &d[..]))
                    .collect();
                let mut out = vec![0i32; y.ints.len()];
                concatenation::concatenation(axis, &datas, &mut out);
                vec![Got::I32(out)]
            } else if f32_out {
                let datas: Vec<(&[usize], &[f32])> =
                    ins.iter().map(|i| (&i.shape[..], &i.floats[..])).collect();
                let mut out = vec![0f32; y.floats.len()];
                concatenation::concatenation(axis, &datas, &mut out);
                vec![Got::F32(out)]
            } else {
                for i in &ins {
                    assert_eq!(
                        (i.scale(), i.zp()),
                        (y.scale(), y.zp()),
                        "int8 concat inputs share quantization"
                    );
                }
                let owned: Vec<Vec<i8>> = ins.iter().map(|i| i.i8()).collect();
                let datas: Vec<(&[usize], &[i8])> = ins
                    .iter()
                    .zip(&owned)
                    .map(|(i, d)| (&i.shape[..], &d[..]))
                    .collect();
                let mut out = vec![0i8; y.ints.len()];
                concatenation::concatenation(axis, &datas, &mut out);
                vec![Got::I8(out)]
            }
        }
        "QUANTIZE" => {
            let x = x();
            let mut out = vec![0i8; y.ints.len()];
            if x.is_f32() {
                quantize::affine_quantize(y.scale(), y.zp(), &x.floats, &mut out);
            } else {
                let (mm, s) = quantize::requantize_multiplier(x.scale(), y.scale());
                quantize::requantize(x.zp(), y.zp(), mm, s, &x.i8(), &mut out);
            }
            vec![Got::I8(out)]
        }
        "DEQUANTIZE" => {
            let x = x();
            let mut out = vec![0f32; y.floats.len()];
            dequantize::dequantize(x.scale(), x.zp(), &x.i8(), &mut out);
            vec![Got::F32(out)]
        }
        "RELU" | "RELU6" | "LEAKY_RELU" | "LOGISTIC" | "TANH" | "HARD_SWISH" | "NEG" => {
            let x = x();
            if f32_out {
                let mut out = vec![0f32; y.floats.len()];
                let i = &x.floats;
                match op.name.as_str() {
                    "RELU" => relu::relu_f32(0.0, f32::INFINITY, i, &mut out),
                    "RELU6" => relu::relu_f32(0.0, 6.0, i, &mut out),
                    "LEAKY_RELU" => leaky_relu::leaky_relu_f32(op.optf("alpha"), i, &mut out),
                    "LOGISTIC" => logistic::logistic_f32(i, &mut out),
                    "TANH" => tanh::tanh_f32(i, &mut out),
                    "HARD_SWISH" => hard_swish::hard_swish_f32(i, &mut out),
                    _ => neg::neg_f32(i, &mut out),
                }
                vec![Got::F32(out)]
            } else {
                let mut out = vec![0i8; y.ints.len()];
                let i = &x.i8();
                let (si, zi, so, zo) = (x.scale(), x.zp(), y.scale(), y.zp());
                match op.name.as_str() {
                    "RELU" => relu::relu(
                        &relu::prepare(si, zi, so, zo, 0.0, f32::INFINITY),
                        i,
                        &mut out,
                    ),
                    "RELU6" => relu::relu(&relu::prepare(si, zi, so, zo, 0.0, 6.0), i, &mut out),
                    "LEAKY_RELU" => leaky_relu::leaky_relu(
                        &leaky_relu::prepare(si, zi, so, zo, op.optf("alpha")),
                        i,
                        &mut out,
                    ),
                    "LOGISTIC" => {
                        logistic::logistic(&logistic::prepare(si, zi, so, zo), i, &mut out)
                    }
                    "TANH" => tanh::tanh(&tanh::prepare(si, zi, so, zo), i, &mut out),
                    "HARD_SWISH" => hard_swish::hard_swish(
                        &hard_swish::prepare(si, zi, so, zo).unwrap(),
                        i,
                        &mut out,
                    ),
                    _ => return Err("int8 NEG".into()),
                }
                vec![Got::I8(out)]
            }
        }
        "PRELU" => {
            let (x, a) = (t(0), t(1));
            if f32_out {
                let mut out = vec![0f32; y.floats.len()];
                prelu::prelu_f32(&x.shape, &x.floats, &a.shape, &a.floats, &mut out);
                vec![Got::F32(out)]
            } else {
                let p = prelu::prepare(x.scale(), x.zp(), a.scale(), a.zp(), y.scale(), y.zp());
                let mut out = vec![0i8; y.ints.len()];
                prelu::prelu(&p, &x.shape, &x.i8(), &a.shape, &a.i8(), &mut out);
                vec![Got::I8(out)]
            }
        }
        "TRANSPOSE" => {
            let x = x();
            let perm: Vec<usize> = ints_of(1).iter().map(|&p| p as usize).collect();
            movement!(x, y, |i, o| transpose::transpose(&x.shape, &perm, i, o))
        }
        "GATHER" => {
            let x = x();
            assert_eq!(op.opt("batchDims"), 0);
            let axis = op.opt("axis");
            let axis = (if axis < 0 {
                axis + x.shape.len() as i64
            } else {
                axis
            }) as usize;
            let idx = ints_of(1);
            movement!(x, y, |i, o| gather::gather(&x.shape, axis, i, &idx, o))
        }
        "RESHAPE" | "SQUEEZE" | "EXPAND_DIMS" => {
            let x = x();
            movement!(x, y, |i, o| o.copy_from_slice(i))
        }
        "SHAPE" => vec![Got::I32(x().shape.iter().map(|&d| d as i32).collect())],
        "STRIDED_SLICE" => {
            let x = x();
            let (b, e, s) = (ints_of(1), ints_of(2), ints_of(3));
            let attrs = strided_slice::StridedSliceAttrs {
                begin: &b,
                end: &e,
                strides: &s,
                begin_mask: op.opt("beginMask") as u32,
                end_mask: op.opt("endMask") as u32,
                ellipsis_mask: op.opt("ellipsisMask") as u32,
                new_axis_mask: op.opt("newAxisMask") as u32,
                shrink_axis_mask: op.opt("shrinkAxisMask") as u32,
                offset: op.opt("offset") != 0,
            };
            let spec = strided_slice::prepare(&x.shape, &attrs).unwrap();
            assert_eq!(
                &spec.output_shape[..spec.output_rank],
                &y.shape[..],
                "strided slice shape"
            );
            movement!(x, y, |i, o| strided_slice::strided_slice(
                &spec, &x.shape, i, o
            ))
        }
        "PACK" => {
            let axis = op.opt("axis");
            let rank = y.shape.len() as i64;
            let axis = (if axis < 0 { axis + rank } else { axis }) as usize;
            let ins: Vec<&T> = (0..op.ins.len()).map(t).collect();
            let shape = ins[0].shape.clone();
            if ins[0].dtype == "int32" {
                let owned: Vec<Vec<i32>> = ins.iter().map(|i| i.i32()).collect();
                let refs: Vec<&[i32]> = owned.iter().map(|v| &v[..]).collect();
                let mut out = vec![0i32; y.ints.len()];
                pack::pack(&shape, axis, &refs, &mut out);
                vec![Got::I32(out)]
            } else if f32_out {
                let refs: Vec<&[f32]> = ins.iter().map(|i| &i.floats[..]).collect();
                let mut out = vec![0f32; y.floats.len()];
                pack::pack(&shape, axis, &refs, &mut out);
                vec![Got::F32(out)]
            } else {
                let owned: Vec<Vec<i8>> = ins.iter().map(|i| i.i8()).collect();
                let refs: Vec<&[i8]> = owned.iter().map(|v| &v[..]).collect();
                let mut out = vec![0i8; y.ints.len()];
                pack::pack(&shape, axis, &refs, &mut out);
                vec![Got::I8(out)]
            }
        }
        "UNPACK" | "SPLIT" | "SPLIT_V" => {
            let (x, axis) = match op.name.as_str() {
                "UNPACK" => (t(0), op.opt("axis")),
                "SPLIT" => (t(1), i64::from(ints_of(0)[0])),
                _ => (t(0), i64::from(ints_of(2)[0])),
            };
            let axis = (if axis < 0 {
                axis + x.shape.len() as i64
            } else {
                axis
            }) as usize;
            let outs: Vec<&T> = op.outs.iter().map(|o| &m.tensors[o]).collect();
            let sizes: Vec<usize> = if op.name == "UNPACK" {
                vec![1; outs.len()]
            } else {
                outs.iter().map(|o| o.shape[axis]).collect()
            };
            let lens: Vec<usize> = outs
                .iter()
                .map(|o| o.ints.len().max(o.floats.len()))
                .collect();
            if x.is_f32() {
                let mut bufs: Vec<Vec<f32>> = lens.iter().map(|&n| vec![0f32; n]).collect();
                let mut refs: Vec<&mut [f32]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
                if op.name == "UNPACK" {
                    unpack::unpack(&x.shape, axis, &x.floats, &mut refs);
                } else {
                    split::split(&x.shape, axis, &sizes, &x.floats, &mut refs);
                }
                bufs.into_iter().map(Got::F32).collect()
            } else {
                let mut bufs: Vec<Vec<i8>> = lens.iter().map(|&n| vec![0i8; n]).collect();
                let mut refs: Vec<&mut [i8]> = bufs.iter_mut().map(|b| &mut b[..]).collect();
                let xi = x.i8();
                if op.name == "UNPACK" {
                    unpack::unpack(&x.shape, axis, &xi, &mut refs);
                } else {
                    split::split(&x.shape, axis, &sizes, &xi, &mut refs);
                }
                bufs.into_iter().map(Got::I8).collect()
            }
        }
        "SOFTMAX" => {
            let x = x();
            let depth = *x.shape.last().unwrap();
            let beta = op.optf("beta");
            if f32_out {
                let mut out = vec![0f32; y.floats.len()];
                softmax_f32::softmax_f32(beta, depth, &x.floats, &mut out);
                vec![Got::F32(out)]
            } else {
                let p = softmax::prepare(f64::from(beta), f64::from(x.scale()));
                let mut out = vec![0i8; y.ints.len()];
                softmax::softmax(&p, depth, &x.i8(), &mut out);
                vec![Got::I8(out)]
            }
        }
        "CONV_2D" | "DEPTHWISE_CONV_2D" | "MAX_POOL_2D" | "AVERAGE_POOL_2D" => conv_like(m, op),
        "FULLY_CONNECTED" => {
            let (x, w) = (t(0), t(1));
            let bias = op.ins.get(2).copied().flatten().map(|b| &m.tensors[&b]);
            let depth = w.shape[1];
            if f32_out {
                let (lo, hi) = float_act(op.act());
                let mut out = vec![0f32; y.floats.len()];
                let b = bias.map(|b| &b.floats[..]);
                fully_connected_f32(lo, hi, depth, &x.floats, &w.floats, b, &mut out);
                vec![Got::F32(out)]
            } else {
                let units = w.shape[0];
                let (mult, shift) = if w.scales.len() == 1 {
                    let (mm, s) = fc_multiplier(x.scale(), w.scale(), y.scale());
                    (vec![mm], vec![s])
                } else {
                    let (mut mm, mut s) = (vec![0; units], vec![0; units]);
                    conv_multipliers(x.scale(), &w.scales, y.scale(), &mut mm, &mut s);
                    (mm, s)
                };
                let (amin, amax) = activation_range(op.act(), y.scale(), y.zp());
                let p = FullyConnectedParams {
                    input_offset: -x.zp(),
                    weights_offset: -w.zp(),
                    output_offset: y.zp(),
                    activation_min: amin,
                    activation_max: amax,
                };
                let b = bias.map(|b| b.i32());
                let mut out = vec![0i8; y.ints.len()];
                fully_connected(
                    &p,
                    &mult,
                    &shift,
                    depth,
                    &x.i8(),
                    &w.i8(),
                    b.as_deref(),
                    &mut out,
                );
                vec![Got::I8(out)]
            }
        }
        "RSQRT" => {
            let x = x();
            if f32_out {
                let mut out = vec![0f32; y.floats.len()];
                rsqrt::rsqrt_f32(&x.floats, &mut out);
                vec![Got::F32(out)]
            } else {
                let (mm, s) = rsqrt::prepare(x.scale(), y.scale());
                let mut out = vec![0i8; y.ints.len()];
                rsqrt::rsqrt(mm, s, x.zp(), y.zp(), &x.i8(), &mut out);
                vec![Got::I8(out)]
            }
        }
        "REDUCE_PROD" => return Err("REDUCE_PROD: shape arithmetic, folded at prepare".into()),
        other => return Err(format!("{other}: no kernel here")),
    })
}

/// CONV_2D, DEPTHWISE_CONV_2D and the pools, int8 or f32.
fn conv_like(m: &Model, op: &Op) -> Vec<Got> {
    let x = &m.tensors[&op.ins[0].unwrap()];
    let y = &m.tensors[&op.outs[0]];
    let (xs, ys) = (x.dims4(), y.dims4());
    let padding = if op.opt("padding") == 0 {
        Padding::Same
    } else {
        Padding::Valid
    };
    let (sw, sh) = (op.opt("strideW") as usize, op.opt("strideH") as usize);
    let pool = op.name.ends_with("POOL_2D");
    let (dw, dh) = if pool {
        (1, 1)
    } else {
        (
            op.opt("dilationWFactor") as usize,
            op.opt("dilationHFactor") as usize,
        )
    };
    let (fw, fh, f) = if pool {
        (
            op.opt("filterWidth") as usize,
            op.opt("filterHeight") as usize,
            None,
        )
    } else {
        let f = &m.tensors[&op.ins[1].unwrap()];
        (f.shape[2], f.shape[1], Some(f))
    };
    assert_eq!(ys.h, output_size(padding, xs.h, fh, sh, dh));
    assert_eq!(ys.w, output_size(padding, xs.w, fw, sw, dw));
    let pw = padding_before(sw, dw, xs.w, fw, ys.w);
    let ph = padding_before(sh, dh, xs.h, fh, ys.h);
    let bias = op.ins.get(2).copied().flatten().map(|b| &m.tensors[&b]);
    if y.is_f32() {
        let (lo, hi) = float_act(op.act());
        let p = FloatConvParams {
            stride_w: sw,
            stride_h: sh,
            dilation_w: dw,
            dilation_h: dh,
            padding_w: pw,
            padding_h: ph,
            activation_min: lo,
            activation_max: hi,
        };
        let mut out = vec![0f32; y.floats.len()];
        let b = bias.map(|b| &b.floats[..]);
        match op.name.as_str() {
            "CONV_2D" => {
                let f = f.unwrap();
                conv_f32(&p, xs, &x.floats, f.dims4(), &f.floats, b, ys, &mut out)
            }
            "DEPTHWISE_CONV_2D" => {
                let f = f.unwrap();
                let dm = op.opt("depthMultiplier") as usize;
                depthwise_conv_f32(&p, dm, xs, &x.floats, f.dims4(), &f.floats, b, ys, &mut out)
            }
            name => pool_2d_f32::pool_f32(
                &p,
                fh,
                fw,
                name == "AVERAGE_POOL_2D",
                xs,
                &x.floats,
                ys,
                &mut out,
            ),
        }
        return vec![Got::F32(out)];
    }
    let (amin, amax) = activation_range(op.act(), y.scale(), y.zp());
    let mut out = vec![0i8; y.ints.len()];
    let b = bias.map(|b| b.i32());
    match op.name.as_str() {
        "CONV_2D" | "DEPTHWISE_CONV_2D" => {
            let f = f.unwrap();
            let mut mult = vec![0; ys.c];
            let mut shift = vec![0; ys.c];
            conv_multipliers(x.scale(), &f.scales, y.scale(), &mut mult, &mut shift);
            if op.name == "CONV_2D" {
                let p = ConvParams {
                    input_offset: -x.zp(),
                    output_offset: y.zp(),
                    stride_w: sw,
                    stride_h: sh,
                    dilation_w: dw,
                    dilation_h: dh,
                    padding_w: pw,
                    padding_h: ph,
                    activation_min: amin,
                    activation_max: amax,
                };
                conv_per_channel(
                    &p,
                    &mult,
                    &shift,
                    xs,
                    &x.i8(),
                    f.dims4(),
                    &f.i8(),
                    b.as_deref(),
                    ys,
                    &mut out,
                );
            } else {
                let p = DepthwiseParams {
                    input_offset: -x.zp(),
                    output_offset: y.zp(),
                    stride_w: sw,
                    stride_h: sh,
                    dilation_w: dw,
                    dilation_h: dh,
                    padding_w: pw,
                    padding_h: ph,
                    depth_multiplier: op.opt("depthMultiplier") as usize,
                    activation_min: amin,
                    activation_max: amax,
                };
                depthwise_conv_per_channel(
                    &p,
                    &mult,
                    &shift,
                    xs,
                    &x.i8(),
                    f.dims4(),
                    &f.i8(),
                    b.as_deref(),
                    ys,
                    &mut out,
                );
            }
        }
        name => {
            let p = PoolParams {
                stride_w: sw,
                stride_h: sh,
                filter_w: fw,
                filter_h: fh,
                padding_w: pw,
                padding_h: ph,
                activation_min: amin,
                activation_max: amax,
            };
            if name == "AVERAGE_POOL_2D" {
                kernels_int8::average_pool_2d::average_pool(&p, xs, &x.i8(), ys, &mut out);
            } else {
                kernels_int8::max_pool_2d::max_pool(&p, xs, &x.i8(), ys, &mut out);
            }
        }
    }
    vec![Got::I8(out)]
}

/// Replays every op of `name`; returns how many outputs each op name matched, and the skips.
fn replay(name: &str) -> (BTreeMap<String, usize>, Vec<String>) {
    let m = load(name);
    let mut done = BTreeMap::new();
    let mut skipped = vec![];
    for (k, op) in m.ops.iter().enumerate() {
        match run(&m, op) {
            Ok(outs) => {
                assert_eq!(outs.len(), op.outs.len(), "{name} op {k} {}", op.name);
                for (o, got) in op.outs.iter().zip(outs) {
                    compare(
                        &format!("{name} op {k} {} -> tensor {o}", op.name),
                        got,
                        &m.tensors[o],
                    );
                }
                *done.entry(op.name.clone()).or_insert(0) += 1;
            }
            Err(why) => skipped.push(format!("{name} op {k}: {why}")),
        }
    }
    (done, skipped)
}

/// Replays `name` and checks that each of `must` ran at least once.
fn check(name: &str, must: &[&str]) {
    let (done, skipped) = replay(name);
    eprintln!("{name}: matched {done:?}; skipped {skipped:?}");
    for op in must {
        assert!(
            done.contains_key(*op),
            "{name}: {op} was not checked (matched {done:?}, skipped {skipped:?})"
        );
    }
}

#[test]
fn mean_matches_tflite() {
    check("mean_int8", &["MEAN"]);
    check("mean_f32", &["MEAN"]);
}

#[test]
fn sum_matches_tflite() {
    // TFLite 2.21 rescales int8 SUM in uint8 arithmetic (see sum.rs); reproduced.
    check("sum_int8", &["SUM"]);
    check("sum_f32", &["SUM"]);
}

#[test]
fn pad_matches_tflite() {
    // The converter keeps a padded model output in float; padding in front of a
    // convolution stays int8 (padded with the zero point).
    check("pad_int8", &["PADV2"]);
    check("pad_f32", &["PAD", "PADV2"]);
    check("pad_conv_int8", &["PAD", "CONV_2D"]);
    check("pad_conv_f32", &["PAD", "CONV_2D"]);
}

#[test]
fn concatenation_matches_tflite() {
    check("concat_int8", &["CONCATENATION"]);
    check("concat_f32", &["CONCATENATION"]);
}

#[test]
fn broadcasting_binary_ops_match_tflite() {
    let ops = [
        "ADD",
        "SUB",
        "MUL",
        "SQUARED_DIFFERENCE",
        "MAXIMUM",
        "MINIMUM",
    ];
    check("binary_int8", &ops);
    check("binary_f32", &ops);
}

#[test]
fn activations_match_tflite() {
    let ops = [
        "RELU",
        "RELU6",
        "LEAKY_RELU",
        "LOGISTIC",
        "TANH",
        "HARD_SWISH",
    ];
    check("activations_int8", &ops);
    check("activations_f32", &ops);
}

#[test]
fn data_movement_matches_tflite() {
    let ops = [
        "TRANSPOSE",
        "GATHER",
        "STRIDED_SLICE",
        "PACK",
        "UNPACK",
        "SPLIT",
        "SPLIT_V",
        "SHAPE",
        "RESHAPE",
    ];
    check("movement_int8", &ops);
    check("movement_f32", &ops);
}

#[test]
fn nn_ops_match_tflite() {
    let ops = [
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "MAX_POOL_2D",
        "AVERAGE_POOL_2D",
        "SOFTMAX",
    ];
    check("nn_int8", &ops);
    check("nn_f32", &ops);
}

#[test]
fn layer_norm_matches_tflite() {
    check("layer_norm_int8", &["MEAN", "SQUARED_DIFFERENCE", "RSQRT"]);
    check("layer_norm_f32", &["MEAN", "SQUARED_DIFFERENCE", "RSQRT"]);
}

#[test]
fn rsqrt_matches_tflite() {
    check("rsqrt_int8", &["RSQRT"]);
    check("rsqrt_f32", &["RSQRT"]);
}

#[test]
fn prelu_matches_tflite() {
    check("prelu_int8", &["PRELU"]);
    check("prelu_f32", &["PRELU"]);
}
