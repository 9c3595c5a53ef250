//! A fused 2-D convolution (+ bias + activation) op for candle with a fast
//! CPU backward: im2col + GEMM forward, GEMM + col2im backward, parallel over
//! the samples of a batch.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, WithDType};
use std::any::Any;
use std::sync::Mutex;

use rayon::prelude::*;

use super::gemm::{matmul, Mat};
use super::host::{
    apply_activation, cpu_forward, from_host, host_backward, mask_gradient, sum, HostOp,
};
use crate::train::vocab::{conv_out_size, Activation, Padding};

/// The geometry of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
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

impl Geom {
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    fn p(&self) -> usize {
        self.oh * self.ow
    }
    fn chw(&self) -> usize {
        self.c * self.h * self.w
    }
    /// A 1x1 stride-1 unpadded convolution, whose im2col matrix is the input.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.pt == 0 && self.pl == 0
    }

    /// The range of output columns `ox` whose input column `ox*sw + off` is in bounds.
    fn valid_cols(&self, off: isize) -> (usize, usize) {
        let sw = self.sw as isize;
        let lo = if off < 0 { (-off + sw - 1) / sw } else { 0 };
        let last = self.w as isize - 1 - off;
        let hi = if last < 0 {
            0
        } else {
            (last / sw + 1).min(self.ow as isize)
        };
        let lo = lo.min(hi);
        (lo as usize, hi as usize)
    }

    /// Calls `f(row of col, input row offset or None, ox range, column offset)` for each
    /// (kernel element, output row) pair.
    fn for_each_row(&self, mut f: impl FnMut(usize, Option<usize>, (usize, usize), isize)) {
        for ci in 0..self.c {
            for ki in 0..self.kh {
                for kj in 0..self.kw {
                    let row = (ci * self.kh + ki) * self.kw + kj;
                    let off = (kj * self.dw) as isize - self.pl as isize;
                    let cols = self.valid_cols(off);
                    for oy in 0..self.oh {
                        let iy = (oy * self.sh + ki * self.dh) as isize - self.pt as isize;
                        let dst = row * self.p() + oy * self.ow;
                        if iy < 0 || iy >= self.h as isize {
                            f(dst, None, cols, off);
                        } else {
                            f(dst, Some((ci * self.h + iy as usize) * self.w), cols, off);
                        }
                    }
                }
            }
        }
    }

    /// Fills `col` (K x P) with the patches of one sample `x` (C x H x W).
    fn im2col<T: WithDType>(&self, x: &[T], col: &mut [T]) {
        let zero = T::from_f64(0.0);
        let (ow, sw) = (self.ow, self.sw);
        self.for_each_row(|dst, src, (lo, hi), off| {
            let d = &mut col[dst..dst + ow];
            match src {
                None => d.fill(zero),
                Some(src) => {
                    d[..lo].fill(zero);
                    d[hi..].fill(zero);
                    if lo < hi {
                        // input column of output column lo; in bounds by valid_cols
                        let first = (src as isize + off + (lo * sw) as isize) as usize;
                        if sw == 1 {
                            d[lo..hi].copy_from_slice(&x[first..first + hi - lo]);
                        } else {
                            for (j, v) in d[lo..hi].iter_mut().enumerate() {
                                *v = x[first + j * sw];
                            }
                        }
                    }
                }
            }
        });
    }

    /// Adds the patches `col` (K x P) back into one sample's input gradient `gx`.
    fn col2im<T: WithDType>(&self, col: &[T], gx: &mut [T]) {
        let sw = self.sw;
        self.for_each_row(|dst, src, (lo, hi), off| {
            if let (Some(src), true) = (src, lo < hi) {
                let first = (src as isize + off + (lo * sw) as isize) as usize;
                let s = &col[dst + lo..dst + hi];
                if sw == 1 {
                    for (g, &v) in gx[first..first + hi - lo].iter_mut().zip(s) {
                        *g += v;
                    }
                } else {
                    for (j, &v) in s.iter().enumerate() {
                        gx[first + j * sw] += v;
                    }
                }
            }
        });
    }
}

/// Samples per parallel task of the backward pass.
const SAMPLES_PER_TASK: usize = 4;

/// The fused op: `activation(conv2d(x, w) + b)`.
struct Conv2dOp {
    g: Geom,
    activation: Activation,
    /// The forward pass's im2col matrices (a `Vec<T>`), reused by the backward pass.
    cols: Mutex<Option<Box<dyn Any + Send>>>,
}

/// `y[o, :] = activation(y[o, :] + b[o])` for each of the rows of length `p`.
pub(super) fn bias_activation<T: WithDType>(act: Activation, y: &mut [T], b: &[T], p: usize) {
    for (row, &bias) in y.chunks_mut(p).zip(b) {
        for v in row {
            *v = apply_activation(act, *v + bias);
        }
    }
}

impl HostOp for Conv2dOp {
    const NAME: &'static str = "conv2d";
    const OPERANDS: &'static str = "input, weight and bias";
    type Grads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

    fn host_fwd<T: WithDType>(&self, operands: &[&[T]]) -> candle_core::Result<Vec<T>> {
        let &[x, w, b] = operands else {
            candle_core::bail!("conv2d: expected 3 operands, got {}", operands.len())
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
            candle_core::bail!("conv2d: expected 4 tensors, got {}", tensors.len())
        };
        let (gx, gw, gb) = self.bwd(xs, ws, ys, gys, input_wanted);
        Ok((
            gx.map(|v| from_host(v, &[g.n, g.c, g.h, g.w]))
                .transpose()?,
            Some(from_host(gw, &[g.o, g.c, g.kh, g.kw])?),
            Some(from_host(gb, &[g.o])?),
        ))
    }
}

impl Conv2dOp {
    fn fwd<T: WithDType>(&self, x: &[T], w: &[T], b: &[T]) -> Vec<T> {
        let g = self.g;
        let (k, p) = (g.k(), g.p());
        let mut out = vec![T::from_f64(0.0); g.n * g.o * p];
        let pointwise = g.pointwise();
        let act = self.activation;
        if pointwise {
            out.par_chunks_mut(g.o * p)
                .zip(x.par_chunks(g.chw()))
                .for_each(|(y, xn)| {
                    matmul(y, g.o, p, k, Mat::rows(w, k), Mat::rows(xn, p), false);
                    bias_activation(act, y, b, p);
                });
            return out;
        }
        // the patches of all samples, kept for the backward pass
        let mut cols = vec![T::from_f64(0.0); g.n * k * p];
        out.par_chunks_mut(g.o * p)
            .zip(x.par_chunks(g.chw()))
            .zip(cols.par_chunks_mut(k * p))
            .for_each(|((y, xn), col)| {
                g.im2col(xn, col);
                matmul(y, g.o, p, k, Mat::rows(w, k), Mat::rows(col, p), false);
                bias_activation(act, y, b, p);
            });
        if let Ok(mut cache) = self.cols.lock() {
            *cache = Some(Box::new(cols));
        }
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
        let (k, p, o) = (g.k(), g.p(), g.o);
        let zero = T::from_f64(0.0);
        let pointwise = g.pointwise();
        let act = self.activation;
        struct Acc<T> {
            gw: Vec<T>,
            gb: Vec<T>,
            col: Vec<T>,
            gcol: Vec<T>,
            gpre: Vec<T>,
        }
        let cached_box = self.cols.lock().ok().and_then(|mut c| c.take());
        let cached: Option<&[T]> = cached_box
            .as_ref()
            .and_then(|b| b.downcast_ref::<Vec<T>>())
            .filter(|v| v.len() == g.n * k * p)
            .map(|v| v.as_slice());
        let new_acc = || Acc {
            gw: vec![zero; o * k],
            gb: vec![zero; o],
            col: if pointwise || cached.is_some() {
                Vec::new()
            } else {
                vec![zero; k * p]
            },
            gcol: if pointwise || !want_input {
                Vec::new()
            } else {
                vec![zero; k * p]
            },
            gpre: vec![zero; o * p],
        };
        let step = |mut acc: Acc<T>, i: usize, gx: Option<&mut [T]>| -> Acc<T> {
            let xn = &x[i * g.chw()..(i + 1) * g.chw()];
            let yn = &y[i * o * p..(i + 1) * o * p];
            let gyn = &gy[i * o * p..(i + 1) * o * p];
            let rows = acc.gpre.chunks_mut(p).zip(yn.chunks(p)).zip(gyn.chunks(p));
            for (((gp, yr), gr), gb) in rows.zip(acc.gb.iter_mut()) {
                mask_gradient(act, gp, yr, gr);
                *gb += sum(gp);
            }
            let col: &[T] = if pointwise {
                xn
            } else if let Some(cols) = cached {
                &cols[i * k * p..(i + 1) * k * p]
            } else {
                g.im2col(xn, &mut acc.col);
                &acc.col
            };
            matmul(
                &mut acc.gw,
                o,
                k,
                p,
                Mat::rows(&acc.gpre, p),
                Mat::rows_t(col, p),
                true,
            );
            if let Some(gx) = gx {
                if pointwise {
                    matmul(
                        gx,
                        k,
                        p,
                        o,
                        Mat::rows_t(w, k),
                        Mat::rows(&acc.gpre, p),
                        false,
                    );
                } else {
                    matmul(
                        &mut acc.gcol,
                        k,
                        p,
                        o,
                        Mat::rows_t(w, k),
                        Mat::rows(&acc.gpre, p),
                        false,
                    );
                    gx.fill(zero);
                    g.col2im(&acc.gcol, gx);
                }
            }
            acc
        };
        let merge = |mut a: Acc<T>, b: Acc<T>| {
            for (u, v) in a.gw.iter_mut().zip(&b.gw) {
                *u += *v;
            }
            for (u, v) in a.gb.iter_mut().zip(&b.gb) {
                *u += *v;
            }
            a
        };
        // Fixed groups of samples, summed in order: the gradients do not depend
        // on the number of threads or on scheduling.
        let chw = g.chw();
        let group = |first: usize, gx: Option<&mut [T]>| {
            let mut acc = new_acc();
            let last = (first + SAMPLES_PER_TASK).min(g.n);
            match gx {
                Some(gx) => {
                    for (i, gxn) in (first..last).zip(gx.chunks_mut(chw)) {
                        acc = step(acc, i, Some(gxn));
                    }
                }
                None => {
                    for i in first..last {
                        acc = step(acc, i, None);
                    }
                }
            }
            acc
        };
        let mut gx = if want_input {
            vec![zero; g.n * chw]
        } else {
            Vec::new()
        };
        let partials: Vec<Acc<T>> = if want_input {
            gx.par_chunks_mut(SAMPLES_PER_TASK * chw)
                .enumerate()
                .map(|(t, gxt)| group(t * SAMPLES_PER_TASK, Some(gxt)))
                .collect()
        } else {
            (0..g.n.div_ceil(SAMPLES_PER_TASK))
                .into_par_iter()
                .map(|t| group(t * SAMPLES_PER_TASK, None))
                .collect()
        };
        let acc = partials.into_iter().reduce(merge).unwrap_or_else(new_acc);
        (want_input.then_some(gx), acc.gw, acc.gb)
    }
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "conv2d"
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
        let shape = Shape::from((g.n, g.o, g.oh, g.ow));
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

/// `activation(conv2d(x, weight) + bias)` for NCHW `x`, weight `[out, in, kh, kw]`
/// and bias `[out]`, with TFLite's padding rule; differentiable.
pub fn conv2d_fused(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: (usize, usize),
    padding: Padding,
    dilation: (usize, usize),
    activation: Activation,
) -> crate::Result<Tensor> {
    let (n, c, h, w) = x.dims4().map_err(|_| {
        crate::Error::Shape(format!(
            "conv2d: expected input of rank 4, got shape {:?}",
            x.dims()
        ))
    })?;
    let (o, ci, kh, kw) = weight.dims4().map_err(|_| {
        crate::Error::Shape(format!(
            "conv2d: expected weight of rank 4, got shape {:?}",
            weight.dims()
        ))
    })?;
    if ci != c {
        return Err(crate::Error::Shape(format!(
            "conv2d: input has {c} channels but weight expects {ci}"
        )));
    }
    if bias.dims() != [o] {
        return Err(crate::Error::Shape(format!(
            "conv2d: expected bias of shape [{o}], got {:?}",
            bias.dims()
        )));
    }
    let bad = || {
        crate::Error::Config(format!(
            "conv2d: input {h}x{w} too small for kernel {kh}x{kw} (stride {stride:?}, dilation {dilation:?}, {padding:?})"
        ))
    };
    let (oh, pt) = conv_out_size(h, kh, stride.0, dilation.0, padding).ok_or_else(bad)?;
    let (ow, pl) = conv_out_size(w, kw, stride.1, dilation.1, padding).ok_or_else(bad)?;
    let g = Geom {
        n,
        c,
        h,
        w,
        o,
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
    let op = Conv2dOp {
        g,
        activation,
        cols: Mutex::new(None),
    };
    Ok(x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::ops::testing::{max_abs_diff, rand_t};
    use candle_core::{DType, Device, Var};

    #[test]
    fn same_padding_puts_the_extra_after_by_hand() {
        let x = Tensor::new(&[[[[1f32, 2., 3., 4.]]]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[0f32], &Device::Cpu).unwrap();
        // kernel 1x3 = [1, 10, 100], stride 2, SAME: out 2, pad 0 before, 1 after
        let w = Tensor::new(&[[[[1f32, 10., 100.]]]], &Device::Cpu).unwrap();
        let y = conv2d_fused(&x, &w, &b, (1, 2), Padding::Same, (1, 1), Activation::None).unwrap();
        // out0 = 1*1 + 2*10 + 3*100; out1 = 3*1 + 4*10 + pad*100
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [321., 43.]
        );
        // kernel 1x2 = [1, 10], stride 1, SAME on width 3 input [1, 2, 3]: pad 0 before, 1 after
        let x3 = Tensor::new(&[[[[1f32, 2., 3.]]]], &Device::Cpu).unwrap();
        let w2 = Tensor::new(&[[[[1f32, 10.]]]], &Device::Cpu).unwrap();
        let y = conv2d_fused(
            &x3,
            &w2,
            &b,
            (1, 1),
            Padding::Same,
            (1, 1),
            Activation::None,
        )
        .unwrap();
        // [1 + 20, 2 + 30, 3 + 0]
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [21., 32., 3.]
        );
    }

    #[test]
    fn bias_and_activations_by_hand() {
        // 1x1 conv, weight 1, biases -1 / +4 on two output channels, input [-3, 0.5, 3, 9]
        let x = Tensor::new(&[[[[-3f32, 0.5, 3., 9.]]]], &Device::Cpu).unwrap();
        let w = Tensor::new(&[[[[1f32]]], [[[1f32]]]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[-1f32, 4.], &Device::Cpu).unwrap();
        let run = |act| {
            conv2d_fused(&x, &w, &b, (1, 1), Padding::Valid, (1, 1), act)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        // channel 0: x - 1 = [-4, -0.5, 2, 8]; channel 1: x + 4 = [1, 4.5, 7, 13]
        assert_eq!(run(Activation::None), [-4., -0.5, 2., 8., 1., 4.5, 7., 13.]);
        assert_eq!(run(Activation::Relu), [0., 0., 2., 8., 1., 4.5, 7., 13.]);
        assert_eq!(run(Activation::Relu6), [0., 0., 2., 6., 1., 4.5, 6., 6.]);
    }

    /// (input shape, weight shape, stride, candle padding, our padding, dilation)
    type Case = ([usize; 4], [usize; 4], usize, usize, Padding, usize);
    const CASES: [Case; 5] = [
        ([3, 1, 28, 28], [8, 1, 3, 3], 1, 0, Padding::Valid, 1),
        ([2, 8, 13, 13], [16, 8, 3, 3], 1, 0, Padding::Valid, 1),
        ([2, 3, 9, 11], [4, 3, 3, 3], 1, 1, Padding::Same, 1),
        ([2, 3, 10, 9], [5, 3, 3, 2], 2, 0, Padding::Valid, 2),
        ([2, 6, 5, 7], [4, 6, 1, 1], 1, 0, Padding::Valid, 1),
    ];

    #[test]
    fn forward_matches_candle_conv2d() {
        for (i, (xs, ws, stride, cpad, pad, dil)) in CASES.into_iter().enumerate() {
            let x = rand_t(&xs, DType::F32, i as u64);
            let w = rand_t(&ws, DType::F32, 100 + i as u64);
            let b = rand_t(&ws[..1], DType::F32, 200 + i as u64);
            let ours = conv2d_fused(
                &x,
                &w,
                &b,
                (stride, stride),
                pad,
                (dil, dil),
                Activation::None,
            )
            .unwrap();
            let theirs = x
                .conv2d(&w, cpad, stride, dil, 1)
                .unwrap()
                .broadcast_add(&b.reshape((ws[0], 1, 1)).unwrap())
                .unwrap();
            let d = max_abs_diff(&ours, &theirs);
            assert!(d < 1e-5, "case {i}: max diff {d}");
        }
    }

    /// Central finite differences of `sum(r * f(x, w, b))` in f64 against the op's gradients.
    #[test]
    fn backward_matches_finite_differences() {
        for (i, (xs, ws, stride, _, pad, dil)) in CASES.into_iter().enumerate() {
            for act in [Activation::None, Activation::Relu] {
                let x = Var::from_tensor(&rand_t(&xs, DType::F64, i as u64)).unwrap();
                let w = Var::from_tensor(&rand_t(&ws, DType::F64, 100 + i as u64)).unwrap();
                let b = Var::from_tensor(&rand_t(&ws[..1], DType::F64, 200 + i as u64)).unwrap();
                let f = |x: &Tensor, w: &Tensor, b: &Tensor| {
                    conv2d_fused(x, w, b, (stride, stride), pad, (dil, dil), act).unwrap()
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
                let l = (y * &r).unwrap().sum_all().unwrap();
                let grads = l.backward().unwrap();
                // a second backward recomputes the patches the first one consumed
                let again = l.backward().unwrap();
                for v in [&x, &w, &b] {
                    let d = max_abs_diff(grads.get(v).unwrap(), again.get(v).unwrap());
                    assert!(d < 1e-12, "case {i}: second backward differs by {d}");
                }
                for (k, v) in [&x, &w, &b].into_iter().enumerate() {
                    let g = grads
                        .get(v)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f64>()
                        .unwrap();
                    let base = v.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                    // a spread of positions, including the first and last element
                    let n = base.len();
                    for j in (0..n).step_by((n / 17).max(1)).chain([n - 1]) {
                        let eps = 1e-6;
                        let mut plus = base.clone();
                        plus[j] += eps;
                        let mut minus = base.clone();
                        minus[j] -= eps;
                        let t = |d: Vec<f64>| Tensor::from_vec(d, v.dims(), &Device::Cpu).unwrap();
                        let args = |d: Tensor| -> [Tensor; 3] {
                            let mut a = [
                                x.as_tensor().clone(),
                                w.as_tensor().clone(),
                                b.as_tensor().clone(),
                            ];
                            a[k] = d;
                            a
                        };
                        let [xp, wp, bp] = args(t(plus));
                        let [xm, wm, bm] = args(t(minus));
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
    fn input_gradient_skipped_for_data() {
        let x = rand_t(&[2, 1, 5, 5], DType::F32, 1);
        let w = Var::from_tensor(&rand_t(&[2, 1, 3, 3], DType::F32, 2)).unwrap();
        let b = Var::zeros(2, DType::F32, &Device::Cpu).unwrap();
        let y = conv2d_fused(&x, &w, &b, (1, 1), Padding::Valid, (1, 1), Activation::None).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(&x).is_none());
        assert!(g.get(&w).is_some());
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = rand_t(&[1, 2, 4, 4], DType::F32, 1);
        let b = rand_t(&[3], DType::F32, 1);
        let w = rand_t(&[3, 1, 3, 3], DType::F32, 1);
        let e = conv2d_fused(&x, &w, &b, (1, 1), Padding::Valid, (1, 1), Activation::None);
        assert!(e.unwrap_err().to_string().contains("2 channels"));
        let w = rand_t(&[3, 2, 5, 5], DType::F32, 1);
        let e = conv2d_fused(&x, &w, &b, (1, 1), Padding::Valid, (1, 1), Activation::None);
        assert!(e.unwrap_err().to_string().contains("too small"));
    }

    /// TEMPONet's temporal convolutions as 1 x k kernels on `[N, C, 1, T]`:
    /// candle's conv1d on `[N, C, T]` (SAME padding made explicit) is the reference.
    #[test]
    fn temporal_convolutions_match_candle_conv1d() {
        // (time steps, kernel, stride, dilation)
        for (i, (t, k, s, d)) in [
            (30, 3, 1, 2),
            (30, 3, 1, 4),
            (37, 3, 1, 8),
            (31, 5, 2, 1),
            (37, 5, 4, 1),
        ]
        .into_iter()
        .enumerate()
        {
            let x = rand_t(&[2, 3, 1, t], DType::F64, i as u64);
            let w = rand_t(&[4, 3, 1, k], DType::F64, 10 + i as u64);
            let b = rand_t(&[4], DType::F64, 20 + i as u64);
            let ours =
                conv2d_fused(&x, &w, &b, (1, s), Padding::Same, (1, d), Activation::None).unwrap();
            let (out, before) = conv_out_size(t, k, s, d, Padding::Same).unwrap();
            assert_eq!(out, t.div_ceil(s), "SAME keeps ceil(T / stride) steps");
            let total = ((out - 1) * s + (k - 1) * d + 1).saturating_sub(t);
            let x1 = x
                .squeeze(2)
                .unwrap()
                .pad_with_zeros(2, before, total - before)
                .unwrap();
            let theirs = x1
                .conv1d(&w.squeeze(2).unwrap(), 0, s, d, 1)
                .unwrap()
                .broadcast_add(&b.reshape((4, 1)).unwrap())
                .unwrap()
                .unsqueeze(2)
                .unwrap();
            let diff = max_abs_diff(&ours, &theirs);
            assert!(diff < 1e-12, "case {i}: {diff}");
            // the gradients against central finite differences (candle's conv1d backward
            // disagrees with both when dilation > 1, so it is no reference here)
            let (xv, wv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap());
            let r = rand_t(ours.dims(), DType::F64, 30 + i as u64);
            let f = |x: &Tensor, w: &Tensor| {
                (conv2d_fused(x, w, &b, (1, s), Padding::Same, (1, d), Activation::None).unwrap()
                    * &r)
                    .unwrap()
                    .sum_all()
                    .unwrap()
            };
            let grads = f(&xv, &wv).backward().unwrap();
            for (k, v) in [&xv, &wv].into_iter().enumerate() {
                let g = grads
                    .get(v)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap();
                let base = v.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                for j in 0..base.len() {
                    let at = |e: f64| {
                        let mut p = base.clone();
                        p[j] += e;
                        let t = Tensor::from_vec(p, v.dims(), &Device::Cpu).unwrap();
                        let l = if k == 0 { f(&t, &w) } else { f(&x, &t) };
                        l.to_scalar::<f64>().unwrap()
                    };
                    let fd = (at(1e-6) - at(-1e-6)) / 2e-6;
                    assert!(
                        (fd - g[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                        "case {i} arg {k} elem {j}: analytic {} vs numeric {fd}",
                        g[j]
                    );
                }
            }
        }
    }
}
