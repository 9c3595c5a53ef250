//! A fused depthwise 2-D convolution (+ bias + activation) op for candle
//! with a direct CPU forward and backward.
//!
//! Each output channel `o = c * M + m` (M the depth multiplier) convolves
//! input channel `c` alone with its own `kh x kw` kernel, as Keras'
//! `DepthwiseConv2D` and TFLite's DEPTHWISE_CONV_2D do. The weight layout is
//! candle's grouped-convolution one, `[C * M, 1, kh, kw]`.
//!
//! There is no GEMM to hand the work to (each output channel is a tiny
//! correlation), so the loops run per plane: one output row gets `w * input
//! row` for each kernel tap, which vectorizes at stride 1. The forward pass
//! and the input gradient are parallel over planes; the weight and bias
//! gradients over output channels, each summing its samples in order, so
//! results do not depend on the thread count.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::host::{
    apply_activation, cpu_forward, from_host, host_backward, mask_gradient, sum, HostOp,
};
use crate::train::vocab::{conv_out_size, Activation, Padding};

/// The geometry of one depthwise convolution.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    /// Depth multiplier.
    m: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    pt: usize,
    pl: usize,
    oh: usize,
    ow: usize,
}

/// One kernel tap applied to one output row: the output row's start, the
/// in-bounds output columns `lo..hi`, and the input index of column `lo`.
#[derive(Clone, Copy)]
struct TapRow {
    tap: usize,
    out_row: usize,
    lo: usize,
    hi: usize,
    first: usize,
}

impl Geom {
    fn o(&self) -> usize {
        self.c * self.m
    }
    fn hw(&self) -> usize {
        self.h * self.w
    }
    fn ohw(&self) -> usize {
        self.oh * self.ow
    }

    /// The range of output columns whose input column `ox * sw + off` is in bounds.
    fn valid_cols(&self, off: isize) -> (usize, usize) {
        let sw = self.sw as isize;
        let lo = if off < 0 { (-off + sw - 1) / sw } else { 0 };
        let last = self.w as isize - 1 - off;
        let hi = if last < 0 {
            0
        } else {
            (last / sw + 1).min(self.ow as isize)
        };
        (lo.min(hi) as usize, hi as usize)
    }

    /// Calls `f` for every (kernel tap, output row) pair that touches the input.
    fn for_each_tap_row(&self, mut f: impl FnMut(TapRow)) {
        for ki in 0..self.kh {
            for kj in 0..self.kw {
                let off = (kj * self.dw) as isize - self.pl as isize;
                let (lo, hi) = self.valid_cols(off);
                if lo >= hi {
                    continue;
                }
                for oy in 0..self.oh {
                    let iy = (oy * self.sh + ki * self.dh) as isize - self.pt as isize;
                    if iy < 0 || iy >= self.h as isize {
                        continue;
                    }
                    let in_row = iy as usize * self.w;
                    f(TapRow {
                        tap: ki * self.kw + kj,
                        out_row: oy * self.ow,
                        lo,
                        hi,
                        // input column of output column lo; in bounds by valid_cols
                        first: (in_row as isize + off + (lo * self.sw) as isize) as usize,
                    });
                }
            }
        }
    }

    /// `y += correlate(x, k)` for one input plane `x` and one output plane `y`.
    fn plane_fwd<T: WithDType>(&self, x: &[T], k: &[T], y: &mut [T]) {
        let sw = self.sw;
        self.for_each_tap_row(|r| {
            let wv = k[r.tap];
            let out = &mut y[r.out_row + r.lo..r.out_row + r.hi];
            if sw == 1 {
                for (o, &v) in out.iter_mut().zip(&x[r.first..r.first + r.hi - r.lo]) {
                    *o += wv * v;
                }
            } else {
                for (j, o) in out.iter_mut().enumerate() {
                    *o += wv * x[r.first + j * sw];
                }
            }
        });
    }

    /// `gx += correlate^T(gy, k)`: one output plane's gradient back into its input plane.
    fn plane_bwd_input<T: WithDType>(&self, gy: &[T], k: &[T], gx: &mut [T]) {
        let sw = self.sw;
        self.for_each_tap_row(|r| {
            let wv = k[r.tap];
            let g = &gy[r.out_row + r.lo..r.out_row + r.hi];
            if sw == 1 {
                for (o, &v) in gx[r.first..r.first + r.hi - r.lo].iter_mut().zip(g) {
                    *o += wv * v;
                }
            } else {
                for (j, &v) in g.iter().enumerate() {
                    gx[r.first + j * sw] += wv * v;
                }
            }
        });
    }

    /// `gk += sum over positions of gy * x` for one (input plane, output plane) pair.
    fn plane_bwd_weight<T: WithDType>(&self, x: &[T], gy: &[T], gk: &mut [T]) {
        let sw = self.sw;
        let zero = T::from_f64(0.0);
        self.for_each_tap_row(|r| {
            let g = &gy[r.out_row + r.lo..r.out_row + r.hi];
            let mut acc = zero;
            if sw == 1 {
                acc = dot(g, &x[r.first..r.first + r.hi - r.lo]);
            } else {
                for (j, &a) in g.iter().enumerate() {
                    acc += a * x[r.first + j * sw];
                }
            }
            gk[r.tap] += acc;
        });
    }
}

/// The dot product of two equally long slices, in 8 interleaved partial sums so that it vectorizes.
fn dot<T: WithDType>(a: &[T], b: &[T]) -> T {
    let zero = T::from_f64(0.0);
    let mut lanes = [zero; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut total = zero;
    for (&x, &y) in ca.remainder().iter().zip(cb.remainder()) {
        total += x * y;
    }
    for (u, v) in ca.zip(cb) {
        for ((l, &x), &y) in lanes.iter_mut().zip(u).zip(v) {
            *l += x * y;
        }
    }
    for l in lanes {
        total += l;
    }
    total
}

/// The fused op: `activation(depthwise_conv2d(x, w) + b)`.
struct DepthwiseOp {
    g: Geom,
    activation: Activation,
}

impl HostOp for DepthwiseOp {
    const NAME: &'static str = "depthwise_conv2d";
    const OPERANDS: &'static str = "input, weight and bias";
    type Grads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

    fn host_fwd<T: WithDType>(&self, operands: &[&[T]]) -> candle_core::Result<Vec<T>> {
        let &[x, w, b] = operands else {
            candle_core::bail!(
                "depthwise_conv2d: expected 3 operands, got {}",
                operands.len()
            )
        };
        Ok(self.fwd(x, w, b))
    }

    /// Tensors: input, weight, output, output gradient.
    fn host_bwd<T: WithDType>(
        &self,
        tensors: &[&[T]],
        input_wanted: bool,
    ) -> candle_core::Result<Self::Grads> {
        let g = self.g;
        let &[xs, ws, ys, gys] = tensors else {
            candle_core::bail!(
                "depthwise_conv2d: expected 4 tensors, got {}",
                tensors.len()
            )
        };
        let (gx, gw, gb) = self.bwd(xs, ws, ys, gys, input_wanted);
        Ok((
            gx.map(|v| from_host(v, &[g.n, g.c, g.h, g.w]))
                .transpose()?,
            Some(from_host(gw, &[g.o(), 1, g.kh, g.kw])?),
            Some(from_host(gb, &[g.o()])?),
        ))
    }
}

impl DepthwiseOp {
    fn fwd<T: WithDType>(&self, x: &[T], w: &[T], b: &[T]) -> Vec<T> {
        let g = self.g;
        let (o, hw, ohw, kk) = (g.o(), g.hw(), g.ohw(), g.kh * g.kw);
        let mut out = vec![T::from_f64(0.0); g.n * o * ohw];
        let act = self.activation;
        out.par_chunks_mut(ohw)
            .enumerate()
            .with_min_len(4)
            .for_each(|(p, y)| {
                let (n, oc) = (p / o, p % o);
                let c = oc / g.m;
                y.fill(b[oc]);
                g.plane_fwd(
                    &x[(n * g.c + c) * hw..][..hw],
                    &w[oc * kk..(oc + 1) * kk],
                    y,
                );
                for v in y.iter_mut() {
                    *v = apply_activation(act, *v);
                }
            });
        out
    }

    /// Gradients of input (if wanted), weight and bias.
    fn bwd<T: WithDType>(
        &self,
        x: &[T],
        w: &[T],
        y: &[T],
        gy: &[T],
        want_input: bool,
    ) -> (Option<Vec<T>>, Vec<T>, Vec<T>) {
        let g = self.g;
        let (o, hw, ohw, kk) = (g.o(), g.hw(), g.ohw(), g.kh * g.kw);
        let zero = T::from_f64(0.0);
        // the gradient before the activation
        let mut gpre = vec![zero; gy.len()];
        gpre.par_chunks_mut(ohw)
            .zip(y.par_chunks(ohw).zip(gy.par_chunks(ohw)))
            .with_min_len(4)
            .for_each(|(gp, (yp, gyp))| mask_gradient(self.activation, gp, yp, gyp));
        // per output channel, samples summed in order
        let per_channel: Vec<(Vec<T>, T)> = (0..o)
            .into_par_iter()
            .map(|oc| {
                let c = oc / g.m;
                let mut gk = vec![zero; kk];
                let mut gb = zero;
                for n in 0..g.n {
                    let gp = &gpre[(n * o + oc) * ohw..][..ohw];
                    gb += sum(gp);
                    g.plane_bwd_weight(&x[(n * g.c + c) * hw..][..hw], gp, &mut gk);
                }
                (gk, gb)
            })
            .collect();
        let mut gw = Vec::with_capacity(o * kk);
        let mut gb = Vec::with_capacity(o);
        for (k, b) in per_channel {
            gw.extend(k);
            gb.push(b);
        }
        let gx = want_input.then(|| {
            let mut gx = vec![zero; g.n * g.c * hw];
            gx.par_chunks_mut(hw)
                .enumerate()
                .with_min_len(2)
                .for_each(|(p, gxp)| {
                    let (n, c) = (p / g.c, p % g.c);
                    for oc in c * g.m..(c + 1) * g.m {
                        g.plane_bwd_input(
                            &gpre[(n * o + oc) * ohw..][..ohw],
                            &w[oc * kk..(oc + 1) * kk],
                            gxp,
                        );
                    }
                });
            gx
        });
        (gx, gw, gb)
    }
}

impl CustomOp3 for DepthwiseOp {
    fn name(&self) -> &'static str {
        "depthwise_conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.g;
        let shape = Shape::from((g.n, g.o(), g.oh, g.ow));
        let out = cpu_forward(self, &[(s1, l1), (s2, l2), (s3, l3)])?;
        Ok((out, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        y: &Tensor,
        gy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        host_backward(self, &[x, w, y, gy])
    }
}

/// `activation(depthwise_conv2d(x, weight) + bias)` for NCHW `x` with C channels,
/// weight `[C * M, 1, kh, kw]` (M the depth multiplier) and bias `[C * M]`,
/// with TFLite's padding rule; differentiable.
pub fn depthwise_conv2d_fused(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: (usize, usize),
    padding: Padding,
    dilation: (usize, usize),
    activation: Activation,
) -> crate::Result<Tensor> {
    let err = |m: String| crate::Error::Shape(format!("depthwise_conv2d: {m}"));
    let (n, c, h, w) = x.dims4().map_err(|_| {
        err(format!(
            "expected input of rank 4, got shape {:?}",
            x.dims()
        ))
    })?;
    let (o, one, kh, kw) = weight.dims4().map_err(|_| {
        err(format!(
            "expected weight of rank 4, got shape {:?}",
            weight.dims()
        ))
    })?;
    if one != 1 || c == 0 || o == 0 || o % c != 0 {
        return Err(err(format!(
            "weight {:?} is not [{c} * multiplier, 1, kh, kw] for {c} input channels",
            weight.dims()
        )));
    }
    if bias.dims() != [o] {
        return Err(err(format!(
            "expected bias of shape [{o}], got {:?}",
            bias.dims()
        )));
    }
    let bad = || {
        err(format!(
            "input {h}x{w} too small for kernel {kh}x{kw} (stride {stride:?}, dilation {dilation:?}, {padding:?})"
        ))
    };
    let (oh, pt) = conv_out_size(h, kh, stride.0, dilation.0, padding).ok_or_else(bad)?;
    let (ow, pl) = conv_out_size(w, kw, stride.1, dilation.1, padding).ok_or_else(bad)?;
    let g = Geom {
        n,
        c,
        h,
        w,
        m: o / c,
        kh,
        kw,
        sh: stride.0,
        sw: stride.1,
        dh: dilation.0,
        dw: dilation.1,
        pt,
        pl,
        oh,
        ow,
    };
    let op = DepthwiseOp { g, activation };
    Ok(x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::ops::testing::{max_abs_diff, rand_t};
    use candle_core::{DType, Device, Var};

    /// (input shape, multiplier, kernel, stride, padding, dilation)
    type Case = (
        [usize; 4],
        usize,
        (usize, usize),
        (usize, usize),
        Padding,
        (usize, usize),
    );
    const CASES: [Case; 7] = [
        // DS-CNN's 3x3 SAME depthwise
        ([2, 4, 9, 7], 1, (3, 3), (1, 1), Padding::Same, (1, 1)),
        // micro_kws_xs: multiplier 4, 5x4 kernel, stride 2, SAME
        ([2, 1, 13, 10], 4, (5, 4), (2, 2), Padding::Same, (1, 1)),
        ([3, 3, 10, 11], 2, (3, 2), (2, 3), Padding::Valid, (1, 1)),
        ([2, 2, 12, 12], 1, (3, 3), (1, 1), Padding::Same, (2, 2)),
        ([2, 3, 11, 12], 2, (2, 3), (1, 1), Padding::Valid, (1, 2)),
        // a temporal (1 x k) depthwise with dilation 4, length kept
        ([2, 3, 1, 20], 1, (1, 3), (1, 1), Padding::Same, (1, 4)),
        // SAME with stride 2 on an even size: padding after only
        ([1, 2, 8, 6], 3, (4, 4), (2, 2), Padding::Same, (1, 1)),
    ];

    /// candle's grouped conv2d with explicit (possibly asymmetric) padding.
    fn candle_reference(x: &Tensor, w: &Tensor, b: &Tensor, case: Case) -> Tensor {
        let (xs, _, (kh, kw), (sh, sw), pad, (dh, dw)) = case;
        assert_eq!(sh, sw, "candle's conv2d takes one stride");
        assert_eq!(dh, dw, "candle's conv2d takes one dilation");
        let (oh, pt) = conv_out_size(xs[2], kh, sh, dh, pad).unwrap();
        let (ow, pl) = conv_out_size(xs[3], kw, sw, dw, pad).unwrap();
        // total padding so that candle's VALID output has our size
        let ph = ((oh - 1) * sh + (kh - 1) * dh + 1).saturating_sub(xs[2]);
        let pw = ((ow - 1) * sw + (kw - 1) * dw + 1).saturating_sub(xs[3]);
        let xp = x
            .pad_with_zeros(2, pt, ph - pt)
            .unwrap()
            .pad_with_zeros(3, pl, pw - pl)
            .unwrap();
        let y = xp.conv2d(w, 0, sh, dh, xs[1]).unwrap();
        let y = y.narrow(2, 0, oh).unwrap().narrow(3, 0, ow).unwrap();
        y.broadcast_add(&b.reshape((b.dim(0).unwrap(), 1, 1)).unwrap())
            .unwrap()
    }

    #[test]
    fn forward_matches_candle_grouped_conv2d() {
        for (i, case) in CASES.into_iter().enumerate() {
            let (xs, m, (kh, kw), stride, pad, dil) = case;
            if stride.0 != stride.1 || dil.0 != dil.1 {
                continue;
            }
            let o = xs[1] * m;
            let x = rand_t(&xs, DType::F32, i as u64);
            let w = rand_t(&[o, 1, kh, kw], DType::F32, 100 + i as u64);
            let b = rand_t(&[o], DType::F32, 200 + i as u64);
            let ours =
                depthwise_conv2d_fused(&x, &w, &b, stride, pad, dil, Activation::None).unwrap();
            let theirs = candle_reference(&x, &w, &b, case);
            let d = max_abs_diff(&ours, &theirs);
            assert!(d < 1e-5, "case {i}: max diff {d}");
        }
    }

    #[test]
    fn non_square_stride_and_dilation_match_a_naive_loop() {
        for (i, case) in CASES.into_iter().enumerate() {
            let (xs, m, (kh, kw), stride, pad, dil) = case;
            let o = xs[1] * m;
            let x = rand_t(&xs, DType::F64, i as u64);
            let w = rand_t(&[o, 1, kh, kw], DType::F64, 100 + i as u64);
            let b = rand_t(&[o], DType::F64, 200 + i as u64);
            let ours =
                depthwise_conv2d_fused(&x, &w, &b, stride, pad, dil, Activation::None).unwrap();
            // the definition, one output element at a time
            let (oh, pt) = conv_out_size(xs[2], kh, stride.0, dil.0, pad).unwrap();
            let (ow, pl) = conv_out_size(xs[3], kw, stride.1, dil.1, pad).unwrap();
            let xv = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let wv = w.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let bv = b.to_vec1::<f64>().unwrap();
            let mut want = Vec::new();
            for n in 0..xs[0] {
                for oc in 0..o {
                    let c = oc / m;
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let mut acc = bv[oc];
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let iy = (oy * stride.0 + ki * dil.0) as isize - pt as isize;
                                    let ix = (ox * stride.1 + kj * dil.1) as isize - pl as isize;
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < xs[2]
                                        && (ix as usize) < xs[3]
                                    {
                                        let xi = ((n * xs[1] + c) * xs[2] + iy as usize) * xs[3]
                                            + ix as usize;
                                        acc += xv[xi] * wv[(oc * kh + ki) * kw + kj];
                                    }
                                }
                            }
                            want.push(acc);
                        }
                    }
                }
            }
            let got = ours.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            assert_eq!(got.len(), want.len(), "case {i}");
            for (j, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!((a - b).abs() < 1e-12, "case {i} elem {j}: {a} vs {b}");
            }
        }
    }

    /// Central finite differences of `sum(r * f(x, w, b))` in f64 against the op's gradients.
    #[test]
    fn backward_matches_finite_differences() {
        for (i, case) in CASES.into_iter().enumerate() {
            let (xs, m, (kh, kw), stride, pad, dil) = case;
            let o = xs[1] * m;
            for act in [Activation::None, Activation::Relu, Activation::Relu6] {
                let x =
                    Var::from_tensor(&(rand_t(&xs, DType::F64, i as u64) * 4.0).unwrap()).unwrap();
                let w =
                    Var::from_tensor(&rand_t(&[o, 1, kh, kw], DType::F64, 100 + i as u64)).unwrap();
                let b = Var::from_tensor(&rand_t(&[o], DType::F64, 200 + i as u64)).unwrap();
                let f = |x: &Tensor, w: &Tensor, b: &Tensor| {
                    depthwise_conv2d_fused(x, w, b, stride, pad, dil, act).unwrap()
                };
                let y = f(&x, &w, &b);
                let r = rand_t(y.dims(), DType::F64, 300 + i as u64);
                let loss = |x: &Tensor, w: &Tensor, b: &Tensor| {
                    (f(x, w, b) * &r)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f64>()
                        .unwrap()
                };
                let grads = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                for (k, v) in [&x, &w, &b].into_iter().enumerate() {
                    let g = grads
                        .get(v)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f64>()
                        .unwrap();
                    let base = v.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                    let n = base.len();
                    for j in (0..n).step_by((n / 23).max(1)).chain([n - 1]) {
                        let eps = 1e-6;
                        let t = |d: f64| {
                            let mut p = base.clone();
                            p[j] += d;
                            Tensor::from_vec(p, v.dims(), &Device::Cpu).unwrap()
                        };
                        let args = |d: Tensor| -> [Tensor; 3] {
                            let mut a = [
                                x.as_tensor().clone(),
                                w.as_tensor().clone(),
                                b.as_tensor().clone(),
                            ];
                            a[k] = d;
                            a
                        };
                        let [xp, wp, bp] = args(t(eps));
                        let [xm, wm, bm] = args(t(-eps));
                        let fd = (loss(&xp, &wp, &bp) - loss(&xm, &wm, &bm)) / (2.0 * eps);
                        assert!(
                            (fd - g[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                            "case {i} {act:?} arg {k} elem {j}: analytic {} vs numeric {fd}",
                            g[j]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn gradients_match_candle_grouped_conv2d() {
        // candle's grouped conv2d has its own backward: compare whole gradient tensors
        let case = CASES[0];
        let (xs, m, (kh, kw), stride, pad, dil) = case;
        let o = xs[1] * m;
        let x = Var::from_tensor(&rand_t(&xs, DType::F64, 1)).unwrap();
        let w = Var::from_tensor(&rand_t(&[o, 1, kh, kw], DType::F64, 2)).unwrap();
        let b = Var::from_tensor(&rand_t(&[o], DType::F64, 3)).unwrap();
        let ours = depthwise_conv2d_fused(&x, &w, &b, stride, pad, dil, Activation::None).unwrap();
        let r = rand_t(ours.dims(), DType::F64, 4);
        let g1 = (ours * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let theirs = candle_reference(&x, &w, &b, case);
        let g2 = (theirs * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in [&x, &w, &b] {
            let d = max_abs_diff(g1.get(v).unwrap(), g2.get(v).unwrap());
            assert!(d < 1e-12, "gradient differs by {d}");
        }
    }

    #[test]
    fn by_hand() {
        // one channel 1x4 [1, 2, 3, 4], multiplier 2: kernels [1, 10] and [-1, 0], SAME stride 1
        let x = Tensor::new(&[[[[1f32, 2., 3., 4.]]]], &Device::Cpu).unwrap();
        let w = Tensor::new(&[[[[1f32, 10.]]], [[[-1f32, 0.]]]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[0.5f32, 0.], &Device::Cpu).unwrap();
        let y = depthwise_conv2d_fused(&x, &w, &b, (1, 1), Padding::Same, (1, 1), Activation::Relu)
            .unwrap();
        // channel 0: [1+20, 2+30, 3+40, 4+0] + 0.5; channel 1: relu(-x) = 0
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [21.5, 32.5, 43.5, 4.5, 0., 0., 0., 0.]
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = rand_t(&[1, 3, 4, 4], DType::F32, 1);
        let w = rand_t(&[4, 1, 3, 3], DType::F32, 1);
        let b = rand_t(&[4], DType::F32, 1);
        let e =
            depthwise_conv2d_fused(&x, &w, &b, (1, 1), Padding::Valid, (1, 1), Activation::None);
        assert!(
            e.unwrap_err().to_string().contains("multiplier"),
            "4 is not 3 * M"
        );
        let w = rand_t(&[3, 1, 5, 5], DType::F32, 1);
        let b = rand_t(&[3], DType::F32, 1);
        let e =
            depthwise_conv2d_fused(&x, &w, &b, (1, 1), Padding::Valid, (1, 1), Activation::None);
        assert!(e.unwrap_err().to_string().contains("too small"));
        let b = rand_t(&[2], DType::F32, 1);
        let w = rand_t(&[3, 1, 3, 3], DType::F32, 1);
        let e =
            depthwise_conv2d_fused(&x, &w, &b, (1, 1), Padding::Valid, (1, 1), Activation::None);
        assert!(e.unwrap_err().to_string().contains("bias"));
    }
}
