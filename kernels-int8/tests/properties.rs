//! Property tests: the fast paths equal the reference kernels bit for bit across
//! random shapes, strides, paddings, dilations, zero points and activations;
//! softmax and add stay close to their float definitions.

use kernels_int8::add;
use kernels_int8::conv_2d::{
    conv_per_channel, conv_per_channel_fast, conv_scratch_len, ConvParams,
};
use kernels_int8::fully_connected::{fully_connected, fully_connected_fast, FullyConnectedParams};
use kernels_int8::padding::{output_size, padding_before, Padding};
use kernels_int8::requant::{activation_range, conv_multipliers};
use kernels_int8::softmax;
use kernels_int8::{Activation, Dims4};

/// A tiny deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn usize(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as i64, hi as i64) as usize
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.range(-128, 127) as i8).collect()
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn activation(&mut self) -> Activation {
        [
            Activation::None,
            Activation::Relu,
            Activation::Relu6,
            Activation::ReluN1To1,
        ][self.usize(0, 3)]
    }
}

/// Draws SAME or VALID padding and returns the output size and leading padding
/// `(oh, ow, padding_h, padding_w)`, or `None` when the filter does not fit.
fn same_or_valid(
    rng: &mut Rng,
    (h, w): (usize, usize),
    (fh, fw): (usize, usize),
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
) -> Option<(usize, usize, usize, usize)> {
    let padding = if rng.usize(0, 1) == 0 {
        Padding::Same
    } else {
        Padding::Valid
    };
    let oh = output_size(padding, h, fh, sh, dh);
    let ow = output_size(padding, w, fw, sw, dw);
    if oh == 0 || ow == 0 {
        return None;
    }
    Some((
        oh,
        ow,
        padding_before(sh, dh, h, fh, oh),
        padding_before(sw, dw, w, fw, ow),
    ))
}

/// `n` biases in `-bound..=bound`, dropped (`None`) one time in four.
fn maybe_bias(rng: &mut Rng, n: usize, bound: i64) -> Option<Vec<i32>> {
    let bias: Vec<i32> = (0..n).map(|_| rng.range(-bound, bound) as i32).collect();
    (rng.usize(0, 3) != 0).then_some(bias)
}

/// One CONV_2D call's integer parameters and tensors.
struct ConvCase {
    params: ConvParams,
    m: Vec<i32>,
    s: Vec<i32>,
    in_shape: Dims4,
    input: Vec<i8>,
    f_shape: Dims4,
    filter: Vec<i8>,
    bias: Option<Vec<i32>>,
    out_shape: Dims4,
}

impl ConvCase {
    /// The output of [`conv_per_channel_fast`] with `scratch`, else of [`conv_per_channel`].
    fn run(&self, scratch: Option<&mut [i8]>) -> Vec<i8> {
        let (p, m, s, b) = (&self.params, &self.m, &self.s, self.bias.as_deref());
        let (xs, fs, ys) = (self.in_shape, self.f_shape, self.out_shape);
        let (x, f) = (&self.input, &self.filter);
        let mut out = vec![0i8; ys.flat_size()];
        match scratch {
            Some(scratch) => conv_per_channel_fast(p, m, s, xs, x, fs, f, b, ys, &mut out, scratch),
            None => conv_per_channel(p, m, s, xs, x, fs, f, b, ys, &mut out),
        }
        out
    }
}

#[test]
fn conv_fast_equals_reference() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut cases = 0;
    while cases < 400 {
        let n = rng.usize(1, 2);
        let (h, w) = (rng.usize(1, 10), rng.usize(1, 10));
        let ic = rng.usize(1, 8);
        let oc = rng.usize(1, 9);
        let (fh, fw) = (rng.usize(1, 4), rng.usize(1, 4));
        let (sh, sw) = (rng.usize(1, 3), rng.usize(1, 3));
        let (dh, dw) = (rng.usize(1, 3), rng.usize(1, 3));
        let Some((oh, ow, ph, pw)) = same_or_valid(&mut rng, (h, w), (fh, fw), (sh, sw), (dh, dw))
        else {
            continue;
        };
        cases += 1;
        let input_scale = 0.01 + rng.unit() * 0.1;
        let output_scale = 0.01 + rng.unit() * 0.5;
        let filter_scales: Vec<f32> = (0..oc)
            .map(|_| (0.001 + rng.unit() * 0.02) as f32)
            .collect();
        let mut m = vec![0; oc];
        let mut s = vec![0; oc];
        conv_multipliers(
            input_scale as f32,
            &filter_scales,
            output_scale as f32,
            &mut m,
            &mut s,
        );
        let output_zp = rng.range(-128, 127) as i32;
        let (amin, amax) = activation_range(rng.activation(), output_scale as f32, output_zp);
        let params = ConvParams {
            input_offset: -(rng.range(-128, 127) as i32),
            output_offset: output_zp,
            stride_w: sw,
            stride_h: sh,
            dilation_w: dw,
            dilation_h: dh,
            padding_w: pw,
            padding_h: ph,
            activation_min: amin,
            activation_max: amax,
        };
        let (in_shape, f_shape) = (Dims4::new(n, h, w, ic), Dims4::new(oc, fh, fw, ic));
        let conv = ConvCase {
            params,
            m,
            s,
            in_shape,
            input: rng.i8s(in_shape.flat_size()),
            f_shape,
            filter: rng.i8s(f_shape.flat_size()),
            bias: maybe_bias(&mut rng, oc, 20_000),
            out_shape: Dims4::new(n, oh, ow, oc),
        };
        let reference = conv.run(None);
        // Any scratch from one im2col row up to twice the recommended length.
        let k = fh * fw * ic;
        let len = rng.usize(k, 2 * conv_scratch_len(f_shape, conv.out_shape));
        let fast = conv.run(Some(&mut vec![0i8; len]));
        assert_eq!(
            fast, reference,
            "case {cases}: {params:?} {in_shape:?} {f_shape:?}"
        );
        // The outputs are not all clamped to one value (the test can fail).
        if cases == 1 {
            assert!(reference.iter().any(|&v| v != reference[0]) || reference.len() == 1);
        }
    }
}

#[test]
fn conv_fast_equals_reference_with_explicit_padding() {
    // Paddings beyond SAME (TFLite never produces them, but the kernels accept them).
    let mut rng = Rng(42);
    for case in 0..400 {
        let (h, w, ic, oc) = (
            rng.usize(1, 6),
            rng.usize(1, 6),
            rng.usize(1, 5),
            rng.usize(1, 5),
        );
        let (fh, fw) = (rng.usize(1, 3), rng.usize(1, 3));
        let params = ConvParams {
            input_offset: rng.range(-127, 128) as i32,
            output_offset: rng.range(-128, 127) as i32,
            stride_w: rng.usize(1, 2),
            stride_h: rng.usize(1, 2),
            dilation_w: rng.usize(1, 2),
            dilation_h: rng.usize(1, 2),
            padding_w: rng.usize(0, 3),
            padding_h: rng.usize(0, 3),
            activation_min: -128,
            activation_max: 127,
        };
        let (oh, ow) = (rng.usize(1, 6), rng.usize(1, 6));
        let in_shape = Dims4::new(1, h, w, ic);
        let f_shape = Dims4::new(oc, fh, fw, ic);
        let out_shape = Dims4::new(1, oh, ow, oc);
        let input = rng.i8s(in_shape.flat_size());
        let filter = rng.i8s(f_shape.flat_size());
        let m: Vec<i32> = (0..oc)
            .map(|_| rng.range(1 << 30, i32::MAX as i64) as i32)
            .collect();
        let s: Vec<i32> = (0..oc).map(|_| rng.range(-12, -6) as i32).collect();
        let conv = ConvCase {
            params,
            m,
            s,
            in_shape,
            input,
            f_shape,
            filter,
            bias: None,
            out_shape,
        };
        let reference = conv.run(None);
        // A few im2col rows, and the recommended length (the SIMD paths).
        for len in [
            fh * fw * ic * rng.usize(1, 5),
            conv_scratch_len(f_shape, out_shape),
        ] {
            let fast = conv.run(Some(&mut vec![0i8; len]));
            assert_eq!(fast, reference, "case {case}: {params:?}");
        }
    }
}

/// An output zero point and the clamp of a random activation at a random scale.
fn output_stage(rng: &mut Rng) -> (i32, i32, i32) {
    let output_zp = zero_point(rng);
    let output_scale = 0.01 + rng.unit() as f32 * 0.2;
    let (amin, amax) = activation_range(rng.activation(), output_scale, output_zp);
    (output_zp, amin, amax)
}

/// An input/output zero point: often an extreme (-128, 127), else uniform.
fn zero_point(rng: &mut Rng) -> i32 {
    match rng.usize(0, 3) {
        0 => -128,
        1 => 127,
        _ => rng.range(-128, 127) as i32,
    }
}

#[test]
fn conv_fast_equals_reference_wide_channels_and_requant_edges() {
    // Covers the SIMD paths' edges: channel counts off the 8-channel blocks and
    // 4-channel groups, odd tap counts, 1-3 output pixels (the few-pixel path),
    // left shifts, uniform and mixed right shifts, zero multipliers, negative
    // multipliers (fallback), zero points at -128/127 and every activation.
    let mut rng = Rng(0xfeed_beef_0bad_cafe);
    let mut cases = 0;
    while cases < 400 {
        let (h, w) = (rng.usize(1, 9), rng.usize(1, 9));
        let ic = rng.usize(1, 21);
        let oc = rng.usize(1, 37);
        let (fh, fw) = (rng.usize(1, 5), rng.usize(1, 5));
        // Half the cases with stride_w = dilation_w = 1 (the band path).
        let band = rng.usize(0, 1) == 0;
        let (sh, sw) = (rng.usize(1, 3), if band { 1 } else { rng.usize(1, 3) });
        let (dh, dw) = (rng.usize(1, 2), if band { 1 } else { rng.usize(1, 2) });
        let Some((oh, ow, ph, pw)) = same_or_valid(&mut rng, (h, w), (fh, fw), (sh, sw), (dh, dw))
        else {
            continue;
        };
        cases += 1;
        let mode = rng.usize(0, 4);
        let m: Vec<i32> = (0..oc)
            .map(|_| match mode {
                // Some channels with a zero or negative multiplier.
                0 => [0, rng.range(i32::MIN as i64, -1) as i32, 1 << 30][rng.usize(0, 2)],
                _ => rng.range(0, i32::MAX as i64) as i32,
            })
            .collect();
        let shared = rng.range(-20, 0) as i32;
        let s: Vec<i32> = (0..oc)
            .map(|_| match mode {
                1 => shared,
                2 => rng.range(-31, 4) as i32,
                3 => rng.range(1, 3) as i32,
                _ => rng.range(-14, -4) as i32,
            })
            .collect();
        let (output_zp, amin, amax) = output_stage(&mut rng);
        let params = ConvParams {
            input_offset: -zero_point(&mut rng),
            output_offset: output_zp,
            stride_w: sw,
            stride_h: sh,
            dilation_w: dw,
            dilation_h: dh,
            padding_w: pw,
            padding_h: ph,
            activation_min: amin,
            activation_max: amax,
        };
        let in_shape = Dims4::new(rng.usize(1, 2), h, w, ic);
        let f_shape = Dims4::new(oc, fh, fw, ic);
        let conv = ConvCase {
            params,
            m,
            s,
            in_shape,
            input: rng.i8s(in_shape.flat_size()),
            f_shape,
            filter: rng.i8s(f_shape.flat_size()),
            bias: maybe_bias(&mut rng, oc, 100_000),
            out_shape: Dims4::new(in_shape.n, oh, ow, oc),
        };
        let reference = conv.run(None);
        // The recommended scratch, one with a misaligned start, and the minimum.
        let rec = conv_scratch_len(f_shape, conv.out_shape);
        for (start, len) in [(0, rec), (1, rec), (0, fh * fw * ic)] {
            let mut buf = vec![0i8; start + len];
            let fast = conv.run(Some(&mut buf[start..]));
            let (m, s) = (&conv.m, &conv.s);
            assert_eq!(
                fast, reference,
                "case {cases}: {params:?} {in_shape:?} {f_shape:?} m {m:?} s {s:?}"
            );
        }
    }
}

#[test]
fn fully_connected_fast_equals_reference() {
    let mut rng = Rng(7);
    for case in 0..300 {
        let batches = rng.usize(1, 3);
        let depth = rng.usize(1, 300);
        let units = rng.usize(1, 20);
        // Offsets beyond i16 (not produced by TFLite, accepted by the kernels)
        // take the portable path on x86_64 too; sums may wrap, identically.
        let huge = case % 10 == 9;
        let params = FullyConnectedParams {
            input_offset: if huge {
                rng.range(-100_000, 100_000) as i32
            } else {
                rng.range(-127, 128) as i32
            },
            // Mostly symmetric weights, sometimes a weights zero point.
            weights_offset: if rng.usize(0, 1) == 0 {
                0
            } else {
                rng.range(-127, 128) as i32
            },
            output_offset: rng.range(-128, 127) as i32,
            activation_min: rng.range(-128, -1) as i32,
            activation_max: rng.range(0, 127) as i32,
        };
        let per_channel = rng.usize(0, 1) == 1;
        let nm = if per_channel { units } else { 1 };
        let m: Vec<i32> = (0..nm)
            .map(|_| rng.range(1 << 30, i32::MAX as i64) as i32)
            .collect();
        let s: Vec<i32> = (0..nm).map(|_| rng.range(-16, -8) as i32).collect();
        let input = rng.i8s(batches * depth);
        let filter = rng.i8s(units * depth);
        let bias: Vec<i32> = (0..units)
            .map(|_| rng.range(-50_000, 50_000) as i32)
            .collect();
        let mut reference = vec![0i8; batches * units];
        let mut fast = vec![0i8; batches * units];
        fully_connected(
            &params,
            &m,
            &s,
            depth,
            &input,
            &filter,
            Some(&bias),
            &mut reference,
        );
        fully_connected_fast(
            &params,
            &m,
            &s,
            depth,
            &input,
            &filter,
            Some(&bias),
            &mut fast,
        );
        assert_eq!(fast, reference, "case {case}: {params:?}");
    }
}

#[test]
fn softmax_is_close_to_float() {
    let mut rng = Rng(99);
    for _ in 0..200 {
        let depth = rng.usize(1, 12);
        let scale = 0.01 + rng.unit() * 0.3;
        let beta = 0.5 + rng.unit();
        let p = softmax::prepare(beta, scale);
        let input = rng.i8s(depth);
        let mut out = vec![0i8; depth];
        softmax::softmax(&p, depth, &input, &mut out);
        let max = *input.iter().max().unwrap() as f64;
        let exps: Vec<f64> = input
            .iter()
            .map(|&v| (beta * scale * (v as f64 - max)).exp())
            .collect();
        let sum: f64 = exps.iter().sum();
        for (e, &o) in exps.iter().zip(&out) {
            let expected = (e / sum * 256.0 - 128.0).clamp(-128.0, 127.0);
            assert!((expected - o as f64).abs() <= 1.0, "{expected} vs {o}");
        }
    }
}

#[test]
fn add_is_close_to_float() {
    let mut rng = Rng(5);
    for _ in 0..200 {
        let (s1, s2, so) = (
            (0.01 + rng.unit() * 0.2) as f32,
            (0.01 + rng.unit() * 0.2) as f32,
            (0.02 + rng.unit() * 0.3) as f32,
        );
        let (z1, z2, zo) = (
            rng.range(-128, 127) as i32,
            rng.range(-128, 127) as i32,
            rng.range(-128, 127) as i32,
        );
        let p = add::prepare(s1, z1, s2, z2, so, zo, -128, 127);
        let a = rng.i8s(16);
        let b = rng.i8s(16);
        let mut out = [0i8; 16];
        add::add(&p, &a, &b, &mut out);
        for i in 0..16 {
            let real =
                s1 as f64 * (a[i] as i32 - z1) as f64 + s2 as f64 * (b[i] as i32 - z2) as f64;
            let expected = (real / so as f64 + zo as f64).clamp(-128.0, 127.0);
            assert!(
                (expected - out[i] as f64).abs() <= 1.0,
                "{expected} vs {}",
                out[i]
            );
        }
    }
}

#[test]
fn max_pool_equals_naive_definition() {
    // Depths around the 8/16-channel SIMD chunks, paddings, clamps; the expected
    // value is the plain definition (max over in-bounds window taps, then clamp).
    use kernels_int8::max_pool_2d::{max_pool, PoolParams};
    let mut rng = Rng(31337);
    for case in 0..300 {
        let (h, w, c) = (rng.usize(1, 7), rng.usize(1, 7), rng.usize(1, 40));
        let p = PoolParams {
            stride_w: rng.usize(1, 3),
            stride_h: rng.usize(1, 3),
            filter_w: rng.usize(1, 3),
            filter_h: rng.usize(1, 3),
            padding_w: rng.usize(0, 1),
            padding_h: rng.usize(0, 1),
            activation_min: rng.range(-128, 0) as i32,
            activation_max: rng.range(0, 127) as i32,
        };
        let (oh, ow) = (rng.usize(1, 4), rng.usize(1, 4));
        let (xs, ys) = (Dims4::new(1, h, w, c), Dims4::new(1, oh, ow, c));
        let x = rng.i8s(xs.flat_size());
        let mut y = vec![0i8; ys.flat_size()];
        max_pool(&p, xs, &x, ys, &mut y);
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let mut m = i32::from(i8::MIN);
                    for fy in 0..p.filter_h {
                        for fx in 0..p.filter_w {
                            let iy = (oy * p.stride_h + fy) as isize - p.padding_h as isize;
                            let ix = (ox * p.stride_w + fx) as isize - p.padding_w as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                m = m.max(i32::from(x[xs.offset(0, iy as usize, ix as usize, ch)]));
                            }
                        }
                    }
                    let expected = m.clamp(p.activation_min, p.activation_max) as i8;
                    assert_eq!(y[ys.offset(0, oy, ox, ch)], expected, "case {case}: {p:?}");
                }
            }
        }
    }
}

#[test]
fn depthwise_fast_equals_reference() {
    // Channel counts around the 8-channel groups, depth multipliers 1 and 2
    // (2 takes the reference), every padding/stride/dilation, extreme zero points,
    // left/right/mixed shifts and some negative multipliers (reference fallback).
    use kernels_int8::depthwise_conv_2d::{
        depthwise_conv_per_channel, depthwise_conv_per_channel_fast, depthwise_scratch_len,
        DepthwiseParams,
    };
    let mut rng = Rng(0xd00d);
    let mut cases = 0;
    while cases < 400 {
        let (h, w) = (rng.usize(1, 9), rng.usize(1, 9));
        let ic = rng.usize(1, 35);
        let mult = if rng.usize(0, 4) == 0 { 2 } else { 1 };
        let oc = ic * mult;
        // Sometimes more than 64 taps (the fast kernel's per-tap fallback).
        let (fh, fw) = if rng.usize(0, 9) == 0 {
            (rng.usize(8, 9), rng.usize(8, 9))
        } else {
            (rng.usize(1, 5), rng.usize(1, 5))
        };
        let (sh, sw) = (rng.usize(1, 3), rng.usize(1, 3));
        let (dh, dw) = (rng.usize(1, 2), rng.usize(1, 2));
        let Some((oh, ow, ph, pw)) = same_or_valid(&mut rng, (h, w), (fh, fw), (sh, sw), (dh, dw))
        else {
            continue;
        };
        cases += 1;
        let mode = rng.usize(0, 3);
        let m: Vec<i32> = (0..oc)
            .map(|_| match mode {
                0 => [0, rng.range(i32::MIN as i64, -1) as i32, 1 << 30][rng.usize(0, 2)],
                _ => rng.range(0, i32::MAX as i64) as i32,
            })
            .collect();
        let s: Vec<i32> = (0..oc)
            .map(|_| match mode {
                1 => rng.range(-31, 3) as i32,
                _ => rng.range(-12, -6) as i32,
            })
            .collect();
        let (output_zp, amin, amax) = output_stage(&mut rng);
        let params = DepthwiseParams {
            input_offset: -zero_point(&mut rng),
            output_offset: output_zp,
            stride_w: sw,
            stride_h: sh,
            dilation_w: dw,
            dilation_h: dh,
            padding_w: pw,
            padding_h: ph,
            depth_multiplier: mult,
            activation_min: amin,
            activation_max: amax,
        };
        let in_shape = Dims4::new(rng.usize(1, 2), h, w, ic);
        let f_shape = Dims4::new(1, fh, fw, oc);
        let out_shape = Dims4::new(in_shape.n, oh, ow, oc);
        let input = rng.i8s(in_shape.flat_size());
        let filter = rng.i8s(f_shape.flat_size());
        let bias = maybe_bias(&mut rng, oc, 20_000);
        let bias = bias.as_deref();
        let mut reference = vec![0i8; out_shape.flat_size()];
        let mut fast = vec![0i8; out_shape.flat_size()];
        let (p, xs, x, fs, f, ys) = (&params, in_shape, &input, f_shape, &filter, out_shape);
        depthwise_conv_per_channel(p, &m, &s, xs, x, fs, f, bias, ys, &mut reference);
        let mut scratch = vec![0i8; depthwise_scratch_len(p, fs, ys)];
        depthwise_conv_per_channel_fast(p, &m, &s, xs, x, fs, f, bias, ys, &mut fast, &mut scratch);
        assert_eq!(
            fast, reference,
            "case {cases}: {params:?} {in_shape:?} {f_shape:?}"
        );
    }
}
