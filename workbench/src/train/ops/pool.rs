//! Pooling ops for candle: max pooling, whose backward routes each output
//! gradient to the first maximum of its window, as TensorFlow does, and
//! average pooling; any kernel and stride, VALID or SAME padding. As in
//! TensorFlow and TFLite, padded positions take no part: a max ignores
//! them and an average divides by the number of in-bounds elements.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::host::{cpu_forward, from_host, host_backward, HostOp};
use crate::train::vocab::{conv_out_size, Padding};

#[derive(Clone, Copy)]
struct MaxPoolOp {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    /// Padding before the first row and column.
    pt: usize,
    pl: usize,
    oh: usize,
    ow: usize,
}

impl MaxPoolOp {
    /// Non-overlapping 2x2 windows inside the input, the common case, with a faster loop.
    fn is_2x2(&self) -> bool {
        self.kernel == (2, 2)
            && self.stride == (2, 2)
            && self.pt == 0
            && self.pl == 0
            && 2 * self.oh <= self.h
            && 2 * self.ow <= self.w
    }

    /// The in-bounds rows and columns of output (oy, ox)'s window.
    fn window(&self, oy: usize, ox: usize) -> ((usize, usize), (usize, usize)) {
        window(
            (oy, ox),
            self.kernel,
            self.stride,
            (self.pt, self.pl),
            (self.h, self.w),
        )
    }

    /// Index (within the plane) of the first maximum of output (oy, ox)'s window.
    fn argmax<T: WithDType>(&self, plane: &[T], oy: usize, ox: usize) -> usize {
        let ((y0, y1), (x0, x1)) = self.window(oy, ox);
        let mut best = y0 * self.w + x0;
        for y in y0..y1 {
            for x in x0..x1 {
                let i = y * self.w + x;
                if plane[i] > plane[best] {
                    best = i;
                }
            }
        }
        best
    }

    fn fwd<T: WithDType>(&self, x: &[T]) -> Vec<T> {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let mut out = vec![T::from_f64(0.0); self.n * self.c * ohw];
        out.par_chunks_mut(ohw)
            .zip(x.par_chunks(hw))
            .with_min_len(16)
            .for_each(|(o, plane)| {
                if self.is_2x2() {
                    for (oy, orow) in o.chunks_mut(self.ow).enumerate() {
                        let r0 = &plane[2 * oy * self.w..][..2 * self.ow];
                        let r1 = &plane[(2 * oy + 1) * self.w..][..2 * self.ow];
                        for ((v, a), b) in orow
                            .iter_mut()
                            .zip(r0.chunks_exact(2))
                            .zip(r1.chunks_exact(2))
                        {
                            let m0 = if a[1] > a[0] { a[1] } else { a[0] };
                            let m1 = if b[1] > b[0] { b[1] } else { b[0] };
                            *v = if m1 > m0 { m1 } else { m0 };
                        }
                    }
                    return;
                }
                for oy in 0..self.oh {
                    for ox in 0..self.ow {
                        o[oy * self.ow + ox] = plane[self.argmax(plane, oy, ox)];
                    }
                }
            });
        out
    }

    fn bwd<T: WithDType>(&self, x: &[T], gy: &[T]) -> Vec<T> {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let mut gx = vec![T::from_f64(0.0); self.n * self.c * hw];
        gx.par_chunks_mut(hw)
            .zip(x.par_chunks(hw))
            .zip(gy.par_chunks(ohw))
            .with_min_len(16)
            .for_each(|((g, plane), go)| {
                let zero = T::from_f64(0.0);
                if self.is_2x2() {
                    for (oy, grow) in go.chunks(self.ow).enumerate() {
                        let (i0, i1) = (2 * oy * self.w, (2 * oy + 1) * self.w);
                        let (g0, g1) = g[i0..i1 + self.w].split_at_mut(self.w);
                        let r0 = &plane[i0..i0 + self.w];
                        let r1 = &plane[i1..i1 + self.w];
                        let cells = g0
                            .chunks_exact_mut(2)
                            .zip(g1.chunks_exact_mut(2))
                            .zip(r0.chunks_exact(2).zip(r1.chunks_exact(2)));
                        for (((ga, gb), (a, b)), &d) in cells.zip(grow) {
                            // first maximum in row-major order, without branches
                            let (ia, ma) = if a[1] > a[0] { (1, a[1]) } else { (0, a[0]) };
                            let (ib, mb) = if b[1] > b[0] { (3, b[1]) } else { (2, b[0]) };
                            let best = if mb > ma { ib } else { ia };
                            ga[0] = if best == 0 { d } else { zero };
                            ga[1] = if best == 1 { d } else { zero };
                            gb[0] = if best == 2 { d } else { zero };
                            gb[1] = if best == 3 { d } else { zero };
                        }
                    }
                    return;
                }
                for oy in 0..self.oh {
                    for ox in 0..self.ow {
                        g[self.argmax(plane, oy, ox)] += go[oy * self.ow + ox];
                    }
                }
            });
        gx
    }
}

impl HostOp for MaxPoolOp {
    const NAME: &'static str = "max_pool2d";
    const OPERANDS: &'static str = "input";
    type Grads = Option<Tensor>;

    fn host_fwd<T: WithDType>(&self, operands: &[&[T]]) -> candle_core::Result<Vec<T>> {
        let &[x] = operands else {
            candle_core::bail!("max_pool2d: expected 1 operand, got {}", operands.len())
        };
        Ok(self.fwd(x))
    }

    /// Tensors: input, output gradient.
    fn host_bwd<T: WithDType>(
        &self,
        tensors: &[&[T]],
        _input_wanted: bool,
    ) -> candle_core::Result<Option<Tensor>> {
        let &[x, gy] = tensors else {
            candle_core::bail!("max_pool2d: expected 2 tensors, got {}", tensors.len())
        };
        Ok(Some(from_host(
            self.bwd(x, gy),
            &[self.n, self.c, self.h, self.w],
        )?))
    }
}

impl CustomOp1 for MaxPoolOp {
    fn name(&self) -> &'static str {
        "max_pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = cpu_forward(self, &[(s, l)])?;
        Ok((out, Shape::from((self.n, self.c, self.oh, self.ow))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, gy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        host_backward(self, &[x, gy])
    }
}

/// Output size of a VALID pooling window along one axis.
pub fn pool_out_size(input: usize, kernel: usize, stride: usize) -> Option<usize> {
    if kernel == 0 || stride == 0 || input < kernel {
        return None;
    }
    Some((input - kernel) / stride + 1)
}

/// The in-bounds rows `y0..y1` and columns `x0..x1` of output `(oy, ox)`'s window.
fn window(
    (oy, ox): (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    (pt, pl): (usize, usize),
    (h, w): (usize, usize),
) -> ((usize, usize), (usize, usize)) {
    let span = |o: usize, k: usize, s: usize, p: usize, len: usize| {
        let start = (o * s) as isize - p as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + k as isize).max(0) as usize).min(len);
        (lo.min(hi), hi)
    };
    (
        span(oy, kernel.0, stride.0, pt, h),
        span(ox, kernel.1, stride.1, pl, w),
    )
}

/// Pooling geometry `(n, c, h, w, oh, ow, pt, pl)` of NCHW `x`, checked.
#[allow(clippy::type_complexity)]
fn pool_geometry(
    op: &str,
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
) -> crate::Result<(usize, usize, usize, usize, usize, usize, usize, usize)> {
    let (n, c, h, w) = x.dims4().map_err(|_| {
        crate::Error::Shape(format!(
            "{op}: expected input of rank 4, got shape {:?}",
            x.dims()
        ))
    })?;
    let bad = || {
        crate::Error::Config(format!(
            "{op}: input {h}x{w} too small for window {kernel:?} with stride {stride:?} ({padding:?})"
        ))
    };
    let (oh, pt) = conv_out_size(h, kernel.0, stride.0, 1, padding).ok_or_else(bad)?;
    let (ow, pl) = conv_out_size(w, kernel.1, stride.1, 1, padding).ok_or_else(bad)?;
    Ok((n, c, h, w, oh, ow, pt, pl))
}

/// Max pooling of NCHW `x` with VALID padding; differentiable.
pub fn max_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
) -> crate::Result<Tensor> {
    max_pool2d_padded(x, kernel, stride, Padding::Valid)
}

/// Max pooling of NCHW `x` with TFLite's padding rule (padding never wins); differentiable.
pub fn max_pool2d_padded(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
) -> crate::Result<Tensor> {
    let (n, c, h, w, oh, ow, pt, pl) = pool_geometry("max_pool2d", x, kernel, stride, padding)?;
    let op = MaxPoolOp {
        n,
        c,
        h,
        w,
        kernel,
        stride,
        pt,
        pl,
        oh,
        ow,
    };
    Ok(x.contiguous()?.apply_op1(op)?)
}

#[derive(Clone, Copy)]
struct AvgPoolOp {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    pt: usize,
    pl: usize,
    oh: usize,
    ow: usize,
}

impl AvgPoolOp {
    fn window(&self, oy: usize, ox: usize) -> ((usize, usize), (usize, usize)) {
        window(
            (oy, ox),
            self.kernel,
            self.stride,
            (self.pt, self.pl),
            (self.h, self.w),
        )
    }

    fn fwd<T: WithDType>(&self, x: &[T]) -> Vec<T> {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let mut out = vec![T::from_f64(0.0); self.n * self.c * ohw];
        out.par_chunks_mut(ohw)
            .zip(x.par_chunks(hw))
            .with_min_len(16)
            .for_each(|(o, plane)| {
                for oy in 0..self.oh {
                    for ox in 0..self.ow {
                        let ((y0, y1), (x0, x1)) = self.window(oy, ox);
                        let mut acc = T::from_f64(0.0);
                        for y in y0..y1 {
                            for v in &plane[y * self.w + x0..y * self.w + x1] {
                                acc += *v;
                            }
                        }
                        let count = ((y1 - y0) * (x1 - x0)).max(1);
                        o[oy * self.ow + ox] = acc / T::from_f64(count as f64);
                    }
                }
            });
        out
    }

    fn bwd<T: WithDType>(&self, gy: &[T]) -> Vec<T> {
        let (hw, ohw) = (self.h * self.w, self.oh * self.ow);
        let mut gx = vec![T::from_f64(0.0); self.n * self.c * hw];
        gx.par_chunks_mut(hw)
            .zip(gy.par_chunks(ohw))
            .with_min_len(16)
            .for_each(|(g, go)| {
                for oy in 0..self.oh {
                    for ox in 0..self.ow {
                        let ((y0, y1), (x0, x1)) = self.window(oy, ox);
                        let count = ((y1 - y0) * (x1 - x0)).max(1);
                        let d = go[oy * self.ow + ox] / T::from_f64(count as f64);
                        for y in y0..y1 {
                            for v in &mut g[y * self.w + x0..y * self.w + x1] {
                                *v += d;
                            }
                        }
                    }
                }
            });
        gx
    }
}

impl HostOp for AvgPoolOp {
    const NAME: &'static str = "avg_pool2d";
    const OPERANDS: &'static str = "input";
    type Grads = Option<Tensor>;

    fn host_fwd<T: WithDType>(&self, operands: &[&[T]]) -> candle_core::Result<Vec<T>> {
        let &[x] = operands else {
            candle_core::bail!("avg_pool2d: expected 1 operand, got {}", operands.len())
        };
        Ok(self.fwd(x))
    }

    /// Tensors: input, output gradient.
    fn host_bwd<T: WithDType>(
        &self,
        tensors: &[&[T]],
        _input_wanted: bool,
    ) -> candle_core::Result<Option<Tensor>> {
        let &[_, gy] = tensors else {
            candle_core::bail!("avg_pool2d: expected 2 tensors, got {}", tensors.len())
        };
        Ok(Some(from_host(
            self.bwd(gy),
            &[self.n, self.c, self.h, self.w],
        )?))
    }
}

impl CustomOp1 for AvgPoolOp {
    fn name(&self) -> &'static str {
        "avg_pool2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = cpu_forward(self, &[(s, l)])?;
        Ok((out, Shape::from((self.n, self.c, self.oh, self.ow))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, gy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        host_backward(self, &[x, gy])
    }
}

/// Average pooling of NCHW `x` with TFLite's padding rule (an average over
/// the in-bounds elements only); differentiable.
pub fn avg_pool2d(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: Padding,
) -> crate::Result<Tensor> {
    let (n, c, h, w, oh, ow, pt, pl) = pool_geometry("avg_pool2d", x, kernel, stride, padding)?;
    let op = AvgPoolOp {
        n,
        c,
        h,
        w,
        kernel,
        stride,
        pt,
        pl,
        oh,
        ow,
    };
    Ok(x.contiguous()?.apply_op1(op)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::ops::testing::rand_f64 as rand_t;
    use candle_core::{DType, Device, Var};

    #[test]
    fn forward_and_backward_by_hand() {
        // one 4x4 plane, 2x2 windows stride 2
        let x = Var::new(
            &[[[
                [1f32, 5., 2., 0.],
                [3., 4., 7., 7.],
                [0., 0., -1., -2.],
                [0., 9., -3., -4.],
            ]]],
            &Device::Cpu,
        )
        .unwrap();
        let y = max_pool2d(&x, (2, 2), (2, 2)).unwrap();
        // window maxima: 5, 7 (first of the two 7s), 9, -1
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [5., 7., 9., -1.]
        );
        let gy = Tensor::new(&[[[[10f32, 20.], [30., 40.]]]], &Device::Cpu).unwrap();
        let g = (y * gy).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        #[rustfmt::skip]
        let want = [
            0., 10., 0., 0.,  // 5 gets 10
            0., 0., 20., 0.,  // the first 7 gets 20
            0., 0., 40., 0.,  // -1 gets 40
            0., 30., 0., 0.,  // 9 gets 30
        ];
        assert_eq!(gx, want);
    }

    #[test]
    fn forward_matches_candle_max_pool() {
        let x = Tensor::randn(0f32, 1., (3, 5, 11, 10), &Device::Cpu).unwrap();
        for (k, s) in [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 3))] {
            let ours = max_pool2d(&x, k, s).unwrap();
            let theirs = x.max_pool2d_with_stride(k, s).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            let d = (ours - theirs).unwrap().abs().unwrap().sum_all().unwrap();
            assert_eq!(d.to_scalar::<f32>().unwrap(), 0.);
        }
    }

    #[test]
    fn overlapping_windows_accumulate_by_hand() {
        // 1x3 row [1, 3, 2], window 1x2 stride 1: both windows pick the 3
        let x = Var::new(&[[[[1f64, 3., 2.]]]], &Device::Cpu).unwrap();
        let y = max_pool2d(&x, (1, 2), (1, 1)).unwrap();
        let gy = Tensor::new(&[[[[1f64, 2.]]]], &Device::Cpu).unwrap();
        let g = (y * gy).unwrap().sum_all().unwrap().backward().unwrap();
        let gx = g.get(&x).unwrap().to_dtype(DType::F64).unwrap();
        assert_eq!(
            gx.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            [0., 3., 0.]
        );
    }

    /// (kernel, stride, padding) cases, on a 7x8 input.
    /// (kernel, stride, padding)
    type Pool = ((usize, usize), (usize, usize), Padding);
    const POOLS: [Pool; 6] = [
        ((2, 2), (2, 2), Padding::Valid),
        ((2, 2), (2, 2), Padding::Same),
        ((3, 3), (2, 2), Padding::Same),
        ((3, 2), (1, 2), Padding::Valid),
        ((1, 4), (1, 3), Padding::Same),
        ((7, 8), (7, 8), Padding::Valid),
    ];

    /// Central finite differences in f64 of `sum(r * pool(x))`, for max and average pooling.
    #[test]
    fn backward_matches_finite_differences() {
        for (i, (k, s, p)) in POOLS.into_iter().enumerate() {
            for max in [true, false] {
                let pool = |x: &Tensor| {
                    if max {
                        max_pool2d_padded(x, k, s, p).unwrap()
                    } else {
                        avg_pool2d(x, k, s, p).unwrap()
                    }
                };
                let x = Var::from_tensor(&rand_t(&[2, 2, 7, 8], i as u64)).unwrap();
                let y = pool(&x);
                let r = rand_t(y.dims(), 50 + i as u64);
                let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let g = g
                    .get(&x)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap();
                let base = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                for j in 0..base.len() {
                    let at = |d: f64| {
                        let mut v = base.clone();
                        v[j] += d;
                        let t = Tensor::from_vec(v, x.dims(), &Device::Cpu).unwrap();
                        (pool(&t) * &r)
                            .unwrap()
                            .sum_all()
                            .unwrap()
                            .to_scalar::<f64>()
                            .unwrap()
                    };
                    let fd = (at(1e-6) - at(-1e-6)) / 2e-6;
                    assert!(
                        (fd - g[j]).abs() < 1e-6,
                        "case {i} max {max} elem {j}: analytic {} vs numeric {fd}",
                        g[j]
                    );
                }
            }
        }
    }

    #[test]
    fn valid_pools_match_candle() {
        let x = rand_t(&[2, 3, 7, 8], 9).to_dtype(DType::F32).unwrap();
        for (k, s, p) in POOLS {
            if p != Padding::Valid {
                continue;
            }
            let d = (max_pool2d_padded(&x, k, s, p).unwrap()
                - x.max_pool2d_with_stride(k, s).unwrap())
            .unwrap();
            assert_eq!(
                d.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
                0.
            );
            let d = (avg_pool2d(&x, k, s, p).unwrap() - x.avg_pool2d_with_stride(k, s).unwrap())
                .unwrap();
            let d = d
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < 1e-6, "{k:?} {s:?}: {d}");
        }
    }

    #[test]
    fn same_padding_by_hand() {
        // one row [1, -2, 3, 8, 5], window 1x2 stride 2 SAME: out 3, padding 1 after
        let x = Tensor::new(&[[[[1f32, -2., 3., 8., 5.]]]], &Device::Cpu).unwrap();
        let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mx = max_pool2d_padded(&x, (1, 2), (1, 2), Padding::Same).unwrap();
        assert_eq!(flat(mx), [1., 8., 5.]);
        // the last window holds only the 5: its average is 5, not 2.5
        let av = avg_pool2d(&x, (1, 2), (1, 2), Padding::Same).unwrap();
        assert_eq!(flat(av), [-0.5, 5.5, 5.]);
        // window 1x3 stride 1 SAME on [-1, -2, -3]: padding 1 each side, never the max
        let neg = Tensor::new(&[[[[-1f32, -2., -3.]]]], &Device::Cpu).unwrap();
        let mx = max_pool2d_padded(&neg, (1, 3), (1, 1), Padding::Same).unwrap();
        assert_eq!(flat(mx), [-1., -1., -2.]);
        let av = avg_pool2d(&neg, (1, 3), (1, 1), Padding::Same).unwrap();
        assert_eq!(flat(av), [-1.5, -2., -2.5]);
    }
}
