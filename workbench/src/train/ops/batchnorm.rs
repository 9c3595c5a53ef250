//! Batch normalization for candle: a fused training-mode op (batch
//! statistics + affine + activation, with a direct backward), the
//! inference-mode form, and the running statistics updated as Keras or
//! PyTorch update them.
//!
//! Training mode normalizes each channel with the batch's mean and biased
//! variance over every axis but the channel one (axis 1: NCHW or N x F):
//! `y = act(gamma * (x - mean) / sqrt(var + eps) + beta)`. The running
//! statistics then move towards the batch's:
//! `running = momentum * running + (1 - momentum) * batch`, where Keras'
//! `momentum` is 0.99 and PyTorch's `momentum = 0.1` means 0.9 here; PyTorch
//! also stores the unbiased batch variance (`var * m / (m - 1)`), Keras the
//! biased one. Inference mode uses the running statistics.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor, Var, WithDType};
use rayon::prelude::*;

use super::host::{
    activate, apply_activation, cpu_forward, from_host, host_backward, mask_gradient, HostOp,
};
use crate::train::vocab::Activation;
use crate::{Error, Result};

/// Momentum and epsilon of a batch normalization, and how it stores the running variance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormConfig {
    /// Weight of the old running value in each update, Keras' convention
    /// (`running = momentum * running + (1 - momentum) * batch`); PyTorch's
    /// `momentum` is `1 - this`.
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub epsilon: f64,
    /// Whether the running variance takes the unbiased batch variance (PyTorch) or the biased one (Keras).
    pub unbiased_running_var: bool,
}

impl BatchNormConfig {
    /// Keras' `BatchNormalization` defaults: momentum 0.99, epsilon 1e-3, biased running variance.
    pub fn keras() -> Self {
        BatchNormConfig {
            momentum: 0.99,
            epsilon: 1e-3,
            unbiased_running_var: false,
        }
    }

    /// PyTorch's `BatchNorm1d/2d` defaults: momentum 0.1 (0.9 in Keras' convention), epsilon 1e-5, unbiased running variance.
    pub fn pytorch() -> Self {
        BatchNormConfig {
            momentum: 0.9,
            epsilon: 1e-5,
            unbiased_running_var: true,
        }
    }
}

impl Default for BatchNormConfig {
    /// Keras' defaults.
    fn default() -> Self {
        BatchNormConfig::keras()
    }
}

/// Per-channel batch statistics: mean and biased variance, and the count per channel.
#[derive(Clone, Debug)]
struct Stats {
    mean: Vec<f64>,
    var: Vec<f64>,
    count: usize,
}

/// The training-mode op on (x, gamma, beta).
struct BatchNormOp {
    n: usize,
    c: usize,
    /// Elements per (sample, channel) plane.
    s: usize,
    epsilon: f64,
    activation: Activation,
    /// The statistics of the forward pass, for the backward pass and the running update.
    stats: Arc<Mutex<Option<Stats>>>,
}

impl HostOp for BatchNormOp {
    const NAME: &'static str = "batch_norm";
    const OPERANDS: &'static str = "input, gamma and beta";
    type Grads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

    fn host_fwd<T: WithDType>(&self, operands: &[&[T]]) -> candle_core::Result<Vec<T>> {
        let &[x, gamma, beta] = operands else {
            candle_core::bail!("batch_norm: expected 3 operands, got {}", operands.len())
        };
        Ok(self.fwd(x, gamma, beta))
    }

    /// Tensors: input, gamma, output, output gradient.
    fn host_bwd<T: WithDType>(
        &self,
        tensors: &[&[T]],
        _input_wanted: bool,
    ) -> candle_core::Result<Self::Grads> {
        let st = match self.stats.lock() {
            Ok(s) => s.clone(),
            Err(_) => None,
        };
        let Some(st) = st else {
            candle_core::bail!("batch_norm: backward before forward");
        };
        let &[xs, gs, ys, gys] = tensors else {
            candle_core::bail!("batch_norm: expected 4 tensors, got {}", tensors.len())
        };
        let (gx, gg, gb) = self.bwd(xs, gs, ys, gys, &st);
        let c = self.c;
        Ok((
            Some(from_host(gx, &[self.n * c * self.s])?),
            Some(from_host(gg, &[c])?),
            Some(from_host(gb, &[c])?),
        ))
    }
}

impl BatchNormOp {
    fn fwd<T: WithDType>(&self, x: &[T], gamma: &[T], beta: &[T]) -> Vec<T> {
        let st = self.stats(x);
        // y = x * a + b per channel
        let (a, b): (Vec<T>, Vec<T>) = (0..self.c)
            .map(|c| {
                let inv = 1.0 / (st.var[c] + self.epsilon).sqrt();
                let a = gamma[c].to_f64() * inv;
                (
                    T::from_f64(a),
                    T::from_f64(beta[c].to_f64() - st.mean[c] * a),
                )
            })
            .unzip();
        let mut out = vec![T::from_f64(0.0); x.len()];
        let act = self.activation;
        out.par_chunks_mut(self.s)
            .zip(x.par_chunks(self.s))
            .enumerate()
            .with_min_len((4096 / self.s).max(1))
            .for_each(|(p, (y, xp))| {
                let c = p % self.c;
                for (y, &v) in y.iter_mut().zip(xp) {
                    *y = apply_activation(act, v * a[c] + b[c]);
                }
            });
        if let Ok(mut s) = self.stats.lock() {
            *s = Some(st);
        }
        out
    }

    /// The values of channel `c` (one slice per sample).
    fn channel<'a, T>(&self, x: &'a [T], c: usize) -> impl Iterator<Item = &'a [T]> + 'a {
        let (cs, s) = (self.c * self.s, self.s);
        (0..self.n).map(move |n| &x[n * cs + c * s..][..s])
    }

    fn stats<T: WithDType>(&self, x: &[T]) -> Stats {
        let count = self.n * self.s;
        let (mean, var): (Vec<f64>, Vec<f64>) = (0..self.c)
            .into_par_iter()
            .map(|c| {
                let sum: f64 = self.channel(x, c).map(|p| sum_f64(p, |v| v)).sum();
                let mean = sum / count as f64;
                let sq: f64 = self
                    .channel(x, c)
                    .map(|p| sum_f64(p, |v| (v - mean) * (v - mean)))
                    .sum();
                (mean, sq / count as f64)
            })
            .unzip();
        Stats { mean, var, count }
    }

    /// Gradients of x, gamma and beta.
    fn bwd<T: WithDType>(
        &self,
        x: &[T],
        gamma: &[T],
        y: &[T],
        gy: &[T],
        st: &Stats,
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let zero = T::from_f64(0.0);
        let mut gpre = vec![zero; gy.len()];
        gpre.par_chunks_mut(self.s)
            .zip(y.par_chunks(self.s).zip(gy.par_chunks(self.s)))
            .with_min_len((4096 / self.s).max(1))
            .for_each(|(g, (yp, gp))| mask_gradient(self.activation, g, yp, gp));
        let inv: Vec<f64> = st
            .var
            .iter()
            .map(|v| 1.0 / (v + self.epsilon).sqrt())
            .collect();
        // dbeta = sum g, dgamma = sum g * xhat, per channel
        let (gbeta, ggamma): (Vec<f64>, Vec<f64>) = (0..self.c)
            .into_par_iter()
            .map(|c| {
                let (mut sb, mut sg) = (0f64, 0f64);
                for (xp, gp) in self.channel(x, c).zip(self.channel(&gpre, c)) {
                    let (b, g) = sums_g_gx(gp, xp, st.mean[c]);
                    sb += b;
                    sg += g;
                }
                (sb, sg * inv[c])
            })
            .unzip();
        // dx = gamma * inv / m * (m * g - dbeta - xhat * dgamma)
        let m = st.count as f64;
        let mut gx = vec![zero; x.len()];
        gx.par_chunks_mut(self.s)
            .zip(x.par_chunks(self.s).zip(gpre.par_chunks(self.s)))
            .enumerate()
            .with_min_len((4096 / self.s).max(1))
            .for_each(|(p, (gxp, (xp, gp)))| {
                let c = p % self.c;
                let k = gamma[c].to_f64() * inv[c] / m;
                for ((o, &xv), &g) in gxp.iter_mut().zip(xp).zip(gp) {
                    let xhat = (xv.to_f64() - st.mean[c]) * inv[c];
                    *o = T::from_f64(k * (m * g.to_f64() - gbeta[c] - xhat * ggamma[c]));
                }
            });
        let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
        (gx, cast(ggamma), cast(gbeta))
    }
}

/// Partial sums per lane: independent additions, so the loop vectorizes.
const LANES: usize = 8;

/// `sum f(x)` over `xs` in f64, in [`LANES`] interleaved partial sums.
fn sum_f64<T: WithDType>(xs: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0f64; LANES];
    let chunks = xs.chunks_exact(LANES);
    let mut total: f64 = chunks.remainder().iter().map(|v| f(v.to_f64())).sum();
    for ch in chunks {
        for (l, v) in lanes.iter_mut().zip(ch) {
            *l += f(v.to_f64());
        }
    }
    total += lanes.iter().sum::<f64>();
    total
}

/// `(sum g, sum g * (x - mean))` over one plane, in f64 partial sums per lane.
fn sums_g_gx<T: WithDType>(g: &[T], x: &[T], mean: f64) -> (f64, f64) {
    let (mut lb, mut lg) = ([0f64; LANES], [0f64; LANES]);
    let (cg, cx) = (g.chunks_exact(LANES), x.chunks_exact(LANES));
    let (mut sb, mut sg) = (0f64, 0f64);
    for (&gv, &xv) in cg.remainder().iter().zip(cx.remainder()) {
        sb += gv.to_f64();
        sg += gv.to_f64() * (xv.to_f64() - mean);
    }
    for (gc, xc) in cg.zip(cx) {
        for i in 0..LANES {
            let gv = gc[i].to_f64();
            lb[i] += gv;
            lg[i] += gv * (xc[i].to_f64() - mean);
        }
    }
    (sb + lb.iter().sum::<f64>(), sg + lg.iter().sum::<f64>())
}

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        "batch_norm"
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
        let out = cpu_forward(self, &[(s1, l1), (s2, l2), (s3, l3)])?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        y: &Tensor,
        gy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // the input gradient comes back flat: give it the input's rank (2 or 4)
        let (gx, gg, gb) = host_backward(self, &[x, gamma, y, gy])?;
        Ok((gx.map(|g| g.reshape(x.dims())).transpose()?, gg, gb))
    }
}

/// `(N, C, elements per plane)` of a batch-norm input: rank 2 (N x C) or rank 4 (NCHW).
fn bn_dims(x: &Tensor, c: usize) -> Result<(usize, usize)> {
    let d = x.dims();
    let ok = (d.len() == 2 || d.len() == 4) && d[1] == c;
    if !ok {
        return Err(Error::Shape(format!(
            "batch_norm: expected input [N, {c}] or [N, {c}, H, W], got {d:?}"
        )));
    }
    Ok((d[0], d[2..].iter().product()))
}

/// Training-mode batch normalization of `x` (channels on axis 1) with the
/// batch's statistics, then `activation`; differentiable. Returns the output
/// and the batch's per-channel mean and biased variance.
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    epsilon: f64,
    activation: Activation,
) -> Result<(Tensor, Vec<f64>, Vec<f64>)> {
    let c = gamma.elem_count();
    let (n, s) = bn_dims(x, c)?;
    if beta.dims() != [c] || gamma.dims() != [c] {
        return Err(Error::Shape(format!(
            "batch_norm: expected gamma and beta of shape [{c}], got {:?} and {:?}",
            gamma.dims(),
            beta.dims()
        )));
    }
    if n == 0 || s == 0 {
        return Err(Error::Data(format!(
            "batch_norm: empty batch {:?}",
            x.dims()
        )));
    }
    let stats = Arc::new(Mutex::new(None));
    let op = BatchNormOp {
        n,
        c,
        s,
        epsilon,
        activation,
        stats: stats.clone(),
    };
    let y = x
        .contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
    let st =
        stats.lock().ok().and_then(|s| s.clone()).ok_or_else(|| {
            Error::Model("batch_norm: the forward pass kept no statistics".into())
        })?;
    Ok((y, st.mean, st.var))
}

/// Inference-mode batch normalization with fixed statistics, then `activation`; differentiable in x, gamma and beta.
pub fn batch_norm_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    epsilon: f64,
    activation: Activation,
) -> Result<Tensor> {
    let c = gamma.elem_count();
    bn_dims(x, c)?;
    let mut shape = vec![1, c];
    shape.resize(x.rank(), 1);
    let scale = (gamma / (var + epsilon)?.sqrt()?)?;
    let shift = (beta - (mean * &scale)?)?;
    let y = x
        .broadcast_mul(&scale.reshape(shape.as_slice())?)?
        .broadcast_add(&shift.reshape(shape.as_slice())?)?;
    Ok(activate(y, activation)?)
}

/// Moves the running statistics towards a batch's, by `config`'s rule.
pub fn update_running_stats(
    running_mean: &Var,
    running_var: &Var,
    batch_mean: &[f64],
    batch_var: &[f64],
    count: usize,
    config: &BatchNormConfig,
) -> Result<()> {
    let k = config.momentum;
    let correction = if config.unbiased_running_var && count > 1 {
        count as f64 / (count - 1) as f64
    } else {
        1.0
    };
    let dtype = running_mean.dtype();
    let rm = running_mean.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let rv = running_var.to_dtype(DType::F64)?.to_vec1::<f64>()?;
    let new_mean: Vec<f64> = rm
        .iter()
        .zip(batch_mean)
        .map(|(r, b)| k * r + (1.0 - k) * b)
        .collect();
    let new_var: Vec<f64> = rv
        .iter()
        .zip(batch_var)
        .map(|(r, b)| k * r + (1.0 - k) * b * correction)
        .collect();
    let dev = running_mean.device();
    running_mean.set(&Tensor::new(new_mean, dev)?.to_dtype(dtype)?)?;
    running_var.set(&Tensor::new(new_var, dev)?.to_dtype(dtype)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::ops::testing::rand_f64 as rand_t;
    use candle_core::Device;

    #[test]
    fn train_forward_by_hand() {
        // one channel, values [1, 2, 3, 6]: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5
        let x = Tensor::new(&[[1f64], [2.], [3.], [6.]], &Device::Cpu).unwrap();
        let g = Tensor::new(&[2f64], &Device::Cpu).unwrap();
        let b = Tensor::new(&[0.5f64], &Device::Cpu).unwrap();
        let (y, mean, var) = batch_norm_train(&x, &g, &b, 0.5, Activation::None).unwrap();
        assert_eq!((mean[0], var[0]), (3.0, 3.5));
        // (x - 3) / sqrt(3.5 + 0.5) * 2 + 0.5 = x - 2.5
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            [-1.5, -0.5, 0.5, 3.5]
        );
        let (y, _, _) = batch_norm_train(&x, &g, &b, 0.5, Activation::Relu).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            [0., 0., 0.5, 3.5]
        );
    }

    #[test]
    fn train_forward_matches_candle_ops_nchw() {
        let x = rand_t(&[3, 4, 5, 2], 1);
        let g = rand_t(&[4], 2);
        let b = rand_t(&[4], 3);
        let (y, mean, var) = batch_norm_train(&x, &g, &b, 1e-3, Activation::None).unwrap();
        let m = x.mean_keepdim((0, 2, 3)).unwrap();
        let xc = x.broadcast_sub(&m).unwrap();
        let v = xc.sqr().unwrap().mean_keepdim((0, 2, 3)).unwrap();
        let want = xc
            .broadcast_div(&(v.clone() + 1e-3).unwrap().sqrt().unwrap())
            .unwrap()
            .broadcast_mul(&g.reshape((1, 4, 1, 1)).unwrap())
            .unwrap()
            .broadcast_add(&b.reshape((1, 4, 1, 1)).unwrap())
            .unwrap();
        let d = (y - want).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f64>().unwrap() < 1e-12);
        let mv = m.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        let vv = v.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for c in 0..4 {
            assert!((mv[c] - mean[c]).abs() < 1e-12 && (vv[c] - var[c]).abs() < 1e-12);
        }
    }

    /// Central finite differences of `sum(r * bn(x))` in f64 against the op's gradients.
    #[test]
    fn backward_matches_finite_differences() {
        for (shape, act) in [
            (vec![3, 2, 4, 3], Activation::None),
            (vec![4, 3, 2, 2], Activation::Relu),
            (vec![5, 6], Activation::Relu6),
            (vec![2, 3, 1, 7], Activation::Relu),
        ] {
            let c = shape[1];
            let x = Var::from_tensor(&(rand_t(&shape, 1) * 3.0).unwrap()).unwrap();
            let g = Var::from_tensor(&(rand_t(&[c], 2) + 1.5).unwrap()).unwrap();
            let b = Var::from_tensor(&rand_t(&[c], 3)).unwrap();
            let r = rand_t(&shape, 4);
            let loss = |x: &Tensor, g: &Tensor, b: &Tensor| -> Tensor {
                let (y, _, _) = batch_norm_train(x, g, b, 1e-3, act).unwrap();
                (y * &r).unwrap().sum_all().unwrap()
            };
            let grads = loss(&x, &g, &b).backward().unwrap();
            for (k, v) in [&x, &g, &b].into_iter().enumerate() {
                let an = grads
                    .get(v)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f64>()
                    .unwrap();
                let base = v.flatten_all().unwrap().to_vec1::<f64>().unwrap();
                for j in 0..base.len() {
                    let eps = 1e-6;
                    let at = |d: f64| {
                        let mut p = base.clone();
                        p[j] += d;
                        let t = Tensor::from_vec(p, v.dims(), &Device::Cpu).unwrap();
                        let mut a = [
                            x.as_tensor().clone(),
                            g.as_tensor().clone(),
                            b.as_tensor().clone(),
                        ];
                        a[k] = t;
                        loss(&a[0], &a[1], &a[2]).to_scalar::<f64>().unwrap()
                    };
                    let fd = (at(eps) - at(-eps)) / (2.0 * eps);
                    assert!(
                        (fd - an[j]).abs() < 1e-6 * (1.0 + fd.abs()),
                        "{shape:?} {act:?} arg {k} elem {j}: analytic {} vs numeric {fd}",
                        an[j]
                    );
                }
            }
        }
    }

    #[test]
    fn running_stats_keras_and_pytorch_by_hand() {
        let dev = &Device::Cpu;
        // batch mean [2], biased var [1] over 4 values (unbiased 4/3)
        for (cfg, mean, var) in [
            // Keras: 0.99 * 0 + 0.01 * 2 = 0.02; 0.99 * 1 + 0.01 * 1 = 1
            (BatchNormConfig::keras(), 0.02, 1.0),
            // PyTorch: 0.9 * 0 + 0.1 * 2 = 0.2; 0.9 * 1 + 0.1 * 4/3 = 1.0333..
            (BatchNormConfig::pytorch(), 0.2, 0.9 + 0.4 / 3.0),
        ] {
            let rm = Var::zeros(1, DType::F32, dev).unwrap();
            let rv = Var::ones(1, DType::F32, dev).unwrap();
            update_running_stats(&rm, &rv, &[2.0], &[1.0], 4, &cfg).unwrap();
            let got = (
                rm.to_vec1::<f32>().unwrap()[0],
                rv.to_vec1::<f32>().unwrap()[0],
            );
            assert!((got.0 - mean).abs() < 1e-7 && (got.1 - var as f32).abs() < 1e-6);
        }
    }

    #[test]
    fn eval_mode_by_hand_and_bad_shapes() {
        let dev = &Device::Cpu;
        let x = Tensor::new(&[[1f32, 4.]], dev).unwrap();
        let g = Tensor::new(&[2f32, 1.], dev).unwrap();
        let b = Tensor::new(&[0f32, -1.], dev).unwrap();
        let m = Tensor::new(&[1f32, 0.], dev).unwrap();
        let v = Tensor::new(&[3f32, 15.], dev).unwrap();
        // (1 - 1) / 2 * 2 + 0 = 0; (4 - 0) / 4 * 1 - 1 = 0  (eps 1)
        let y = batch_norm_eval(&x, &g, &b, &m, &v, 1.0, Activation::None).unwrap();
        assert_eq!(y.to_vec2::<f32>().unwrap(), [[0., 0.]]);
        let bad = Tensor::zeros((2, 3), DType::F32, dev).unwrap();
        let e = batch_norm_eval(&bad, &g, &b, &m, &v, 1.0, Activation::None).unwrap_err();
        assert!(e.to_string().contains("expected input [N, 2]"), "{e}");
        assert!(batch_norm_train(&bad, &g, &b, 1.0, Activation::None).is_err());
    }
}
