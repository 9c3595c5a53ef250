//! Bit-exactness against the real TFLite interpreter (reference kernels).
//!
//! The vectors in `tests/tflite/*.txt` come from `tests/tflite/gen_vectors.py`
//! (TFLite 2.21 with `OpResolverType.BUILTIN_REF`): every tensor of small int8
//! models after one invocation. Each operator is re-run here from its input
//! tensors and quantization parameters (multipliers computed by this crate's
//! prepare helpers) and must reproduce TFLite's output tensor exactly.

use kernels_int8::add;
use kernels_int8::average_pool_2d::average_pool;
use kernels_int8::conv_2d::{
    conv_per_channel, conv_per_channel_fast, conv_scratch_len, ConvParams,
};
use kernels_int8::depthwise_conv_2d::{
    depthwise_conv_per_channel, depthwise_conv_per_channel_fast, depthwise_scratch_len,
    DepthwiseParams,
};
use kernels_int8::dequantize::dequantize;
use kernels_int8::fully_connected::{fully_connected, fully_connected_fast, FullyConnectedParams};
use kernels_int8::max_pool_2d::{max_pool, PoolParams};
use kernels_int8::padding::{output_size, padding_before, Padding};
use kernels_int8::quantize::affine_quantize;
use kernels_int8::requant::{activation_range, conv_multipliers, fc_multiplier};
use kernels_int8::softmax;
use kernels_int8::{Activation, Dims4};
use std::collections::HashMap;

#[derive(Debug, Clone)]
struct T {
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

struct Model {
    tensors: HashMap<usize, T>,
    ops: Vec<(String, Vec<Option<usize>>, Vec<usize>)>,
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
    let path = format!("{}/tests/tflite/{name}.txt", env!("CARGO_MANIFEST_DIR"));
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
                ops.push((head[1].to_string(), ins, list(head[3])));
            }
            _ => panic!("bad line {line}"),
        }
    }
    Model { tensors, ops }
}

/// The per-channel output multipliers and shifts of a convolution `x * f -> y`.
fn multipliers(x: &T, f: &T, y: &T) -> (Vec<i32>, Vec<i32>) {
    let mut mult = vec![0; y.dims4().c];
    let mut shift = vec![0; y.dims4().c];
    conv_multipliers(x.scale(), &f.scales, y.scale(), &mut mult, &mut shift);
    (mult, shift)
}

/// Runs CONV_2D `op` of `m` (both kernels) and checks TFLite's output.
fn check_conv(
    m: &Model,
    op: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
    act: Activation,
) {
    let (name, ins, outs) = &m.ops[op];
    assert_eq!(name, "CONV_2D");
    let x = &m.tensors[&ins[0].unwrap()];
    let f = &m.tensors[&ins[1].unwrap()];
    let bias = ins[2].map(|b| m.tensors[&b].i32());
    let y = &m.tensors[&outs[0]];
    let (xs, fs, ys) = (x.dims4(), f.dims4(), y.dims4());
    assert_eq!(ys.h, output_size(padding, xs.h, fs.h, stride, dilation));
    let (mult, shift) = multipliers(x, f, y);
    let (amin, amax) = activation_range(act, y.scale(), y.zp());
    let p = ConvParams {
        input_offset: -x.zp(),
        output_offset: y.zp(),
        stride_w: stride,
        stride_h: stride,
        dilation_w: dilation,
        dilation_h: dilation,
        padding_w: padding_before(stride, dilation, xs.w, fs.w, ys.w),
        padding_h: padding_before(stride, dilation, xs.h, fs.h, ys.h),
        activation_min: amin,
        activation_max: amax,
    };
    let mut out = vec![0i8; ys.flat_size()];
    let (xi, fi, b) = (x.i8(), f.i8(), bias.as_deref());
    conv_per_channel(&p, &mult, &shift, xs, &xi, fs, &fi, b, ys, &mut out);
    assert_eq!(out, y.i8(), "conv op {op} reference");
    let mut scratch = vec![0i8; conv_scratch_len(fs, ys)];
    let mut fast = vec![0i8; ys.flat_size()];
    conv_per_channel_fast(
        &p,
        &mult,
        &shift,
        xs,
        &xi,
        fs,
        &fi,
        b,
        ys,
        &mut fast,
        &mut scratch,
    );
    assert_eq!(fast, y.i8(), "conv op {op} fast");
}

/// Runs DEPTHWISE_CONV_2D `op` of `m` (SAME padding, both kernels) and checks
/// TFLite's output.
fn check_depthwise(m: &Model, op: usize, stride: usize, depth_multiplier: usize, act: Activation) {
    let (name, ins, outs) = &m.ops[op];
    assert_eq!(name, "DEPTHWISE_CONV_2D");
    let x = &m.tensors[&ins[0].unwrap()];
    let f = &m.tensors[&ins[1].unwrap()];
    let bias = ins[2].map(|b| m.tensors[&b].i32());
    let y = &m.tensors[&outs[0]];
    let (xs, fs, ys) = (x.dims4(), f.dims4(), y.dims4());
    assert_eq!(ys.h, output_size(Padding::Same, xs.h, fs.h, stride, 1));
    let (mult, shift) = multipliers(x, f, y);
    let (amin, amax) = activation_range(act, y.scale(), y.zp());
    let p = DepthwiseParams {
        input_offset: -x.zp(),
        output_offset: y.zp(),
        stride_w: stride,
        stride_h: stride,
        dilation_w: 1,
        dilation_h: 1,
        padding_w: padding_before(stride, 1, xs.w, fs.w, ys.w),
        padding_h: padding_before(stride, 1, xs.h, fs.h, ys.h),
        depth_multiplier,
        activation_min: amin,
        activation_max: amax,
    };
    let (xi, fi, b) = (x.i8(), f.i8(), bias.as_deref());
    for fast in [false, true] {
        let mut out = vec![0i8; ys.flat_size()];
        if fast {
            let mut scratch = vec![0i8; depthwise_scratch_len(&p, fs, ys)];
            let o = &mut out;
            depthwise_conv_per_channel_fast(
                &p,
                &mult,
                &shift,
                xs,
                &xi,
                fs,
                &fi,
                b,
                ys,
                o,
                &mut scratch,
            );
        } else {
            depthwise_conv_per_channel(&p, &mult, &shift, xs, &xi, fs, &fi, b, ys, &mut out);
        }
        assert_eq!(out, y.i8(), "depthwise op {op} (fast: {fast})");
    }
}

#[test]
fn depthwise_multiplier_one_and_wide_conv_match_tflite() {
    // Depthwise 3x3 SAME stride 2 relu over 12 channels (depth multiplier 1), then
    // a 3x3 SAME stride-1 convolution to 20 channels: both fast kernels' SIMD paths.
    let m = load("depthwise_m1_conv");
    check_depthwise(&m, 0, 2, 1, Activation::Relu);
    check_conv(&m, 1, 1, 1, Padding::Same, Activation::None);
}

#[test]
fn conv_matches_tflite() {
    let m = load("conv");
    check_conv(&m, 0, 2, 1, Padding::Same, Activation::Relu6);
    check_conv(&m, 1, 1, 2, Padding::Valid, Activation::Relu);
}

#[test]
fn depthwise_and_pools_match_tflite() {
    let m = load("depthwise_pools");
    check_depthwise(&m, 0, 1, 2, Activation::None);

    for (op, filter, avg) in [(1, 2, true), (2, 3, false)] {
        let (name, ins, outs) = &m.ops[op];
        assert_eq!(
            name,
            if avg {
                "AVERAGE_POOL_2D"
            } else {
                "MAX_POOL_2D"
            }
        );
        let x = &m.tensors[&ins[0].unwrap()];
        let y = &m.tensors[&outs[0]];
        let (xs, ys) = (x.dims4(), y.dims4());
        let (amin, amax) = activation_range(Activation::None, y.scale(), y.zp());
        let p = PoolParams {
            stride_w: 2,
            stride_h: 2,
            filter_w: filter,
            filter_h: filter,
            padding_w: padding_before(2, 1, xs.w, filter, ys.w),
            padding_h: padding_before(2, 1, xs.h, filter, ys.h),
            activation_min: amin,
            activation_max: amax,
        };
        let mut out = vec![0i8; ys.flat_size()];
        if avg {
            average_pool(&p, xs, &x.i8(), ys, &mut out);
        } else {
            max_pool(&p, xs, &x.i8(), ys, &mut out);
        }
        assert_eq!(out, y.i8(), "{name}");
    }
}

#[test]
fn fully_connected_and_softmax_match_tflite() {
    // Dense layers quantized per channel (the converter's default) and per tensor.
    for file in ["fc_softmax", "fc_per_tensor_softmax"] {
        check_fc_softmax(&load(file));
    }
}

fn check_fc_softmax(m: &Model) {
    for (op, act) in [(0, Activation::Relu), (1, Activation::None)] {
        let (name, ins, outs) = &m.ops[op];
        assert_eq!(name, "FULLY_CONNECTED");
        let x = &m.tensors[&ins[0].unwrap()];
        let f = &m.tensors[&ins[1].unwrap()];
        let y = &m.tensors[&outs[0]];
        // The bias may be folded in as a third input or absent (-1).
        let bias = ins.get(2).copied().flatten().map(|b| m.tensors[&b].i32());
        let units = f.shape[0];
        let (mult, shift) = if f.scales.len() == 1 {
            let (mm, s) = fc_multiplier(x.scale(), f.scale(), y.scale());
            (vec![mm], vec![s])
        } else {
            let mut mm = vec![0; units];
            let mut s = vec![0; units];
            conv_multipliers(x.scale(), &f.scales, y.scale(), &mut mm, &mut s);
            (mm, s)
        };
        let (amin, amax) = activation_range(act, y.scale(), y.zp());
        let p = FullyConnectedParams {
            input_offset: -x.zp(),
            weights_offset: -f.zp(),
            output_offset: y.zp(),
            activation_min: amin,
            activation_max: amax,
        };
        let mut out = vec![0i8; y.ints.len()];
        fully_connected(
            &p,
            &mult,
            &shift,
            f.shape[1],
            &x.i8(),
            &f.i8(),
            bias.as_deref(),
            &mut out,
        );
        assert_eq!(out, y.i8(), "fc op {op} ({} scales)", f.scales.len());
        fully_connected_fast(
            &p,
            &mult,
            &shift,
            f.shape[1],
            &x.i8(),
            &f.i8(),
            bias.as_deref(),
            &mut out,
        );
        assert_eq!(out, y.i8(), "fc fast op {op}");
    }
    let (_, ins, outs) = &m.ops[2];
    let x = &m.tensors[&ins[0].unwrap()];
    let y = &m.tensors[&outs[0]];
    let p = softmax::prepare(1.0, f64::from(x.scale()));
    let mut out = vec![0i8; y.ints.len()];
    softmax::softmax(&p, *x.shape.last().unwrap(), &x.i8(), &mut out);
    assert_eq!(out, y.i8(), "softmax");
}

#[test]
fn add_matches_tflite() {
    let m = load("add");
    let (_, ins, outs) = &m.ops[0];
    let a = &m.tensors[&ins[0].unwrap()];
    let b = &m.tensors[&ins[1].unwrap()];
    let y = &m.tensors[&outs[0]];
    let (amin, amax) = activation_range(Activation::None, y.scale(), y.zp());
    let p = add::prepare(
        a.scale(),
        a.zp(),
        b.scale(),
        b.zp(),
        y.scale(),
        y.zp(),
        amin,
        amax,
    );
    let mut out = vec![0i8; y.ints.len()];
    add::add(&p, &a.i8(), &b.i8(), &mut out);
    assert_eq!(out, y.i8());
}

#[test]
fn quantize_softmax_dequantize_match_tflite() {
    let m = load("float_io_softmax");
    let q = &m.ops[0];
    assert_eq!(q.0, "QUANTIZE");
    let x = &m.tensors[&q.1[0].unwrap()];
    let xq = &m.tensors[&q.2[0]];
    let mut out = vec![0i8; x.floats.len()];
    affine_quantize(xq.scale(), xq.zp(), &x.floats, &mut out);
    assert_eq!(out, xq.i8(), "quantize");
    let s = &m.ops[2];
    let sx = &m.tensors[&s.1[0].unwrap()];
    let sy = &m.tensors[&s.2[0]];
    let p = softmax::prepare(1.0, f64::from(sx.scale()));
    let mut out = vec![0i8; sy.ints.len()];
    softmax::softmax(&p, *sx.shape.last().unwrap(), &sx.i8(), &mut out);
    assert_eq!(out, sy.i8(), "softmax rows of 10");
    let d = &m.ops[3];
    let dx = &m.tensors[&d.1[0].unwrap()];
    let dy = &m.tensors[&d.2[0]];
    let mut f = vec![0f32; dy.floats.len()];
    dequantize(dx.scale(), dx.zp(), &dx.i8(), &mut f);
    assert_eq!(f, dy.floats, "dequantize");
}
