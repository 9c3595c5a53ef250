//! Speed of our depthwise convolution op against candle's grouped conv2d,
//! forward + backward on the keyword-spotting models' depthwise layers, in
//! the same process.

use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};

use workbench::train::ops::depthwise::depthwise_conv2d_fused;
use workbench::train::vocab::{conv_out_size, Activation, Padding};
use workbench::{Error, Result};

/// One timed depthwise layer.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthwiseCase {
    /// What it is, e.g. "DS-CNN block 3x3".
    pub name: &'static str,
    /// Input `[N, C, H, W]`.
    pub input: [usize; 4],
    /// Depth multiplier.
    pub multiplier: usize,
    /// Kernel (height, width).
    pub kernel: (usize, usize),
    /// Stride (same along both axes: candle's conv2d takes one).
    pub stride: usize,
}

/// The timings of one case: milliseconds per forward + backward step.
#[derive(Clone, Debug, PartialEq)]
pub struct DepthwiseTiming {
    /// The case.
    pub case: DepthwiseCase,
    /// Our op, median ms per step.
    pub ours_ms: f64,
    /// candle's `conv2d` with `groups = C` (after explicit SAME padding), median ms per step.
    pub candle_ms: f64,
    /// Largest |difference| of the outputs, a sanity check.
    pub max_abs_diff: f32,
}

impl DepthwiseTiming {
    /// How many times faster ours is.
    pub fn speedup(&self) -> f64 {
        self.candle_ms / self.ours_ms
    }
}

/// The depthwise layers of DS-CNN S (49x10 and the lab's 49x40 input) and micro_kws_xs, at batch `batch`.
pub fn kws_cases(batch: usize) -> Vec<DepthwiseCase> {
    vec![
        DepthwiseCase {
            name: "DS-CNN S block (49x10 input)",
            input: [batch, 64, 25, 5],
            multiplier: 1,
            kernel: (3, 3),
            stride: 1,
        },
        DepthwiseCase {
            name: "DS-CNN S block (49x40 input)",
            input: [batch, 64, 25, 20],
            multiplier: 1,
            kernel: (3, 3),
            stride: 1,
        },
        DepthwiseCase {
            name: "micro_kws_xs (49x40, x4, 5x4, stride 2)",
            input: [batch, 1, 49, 40],
            multiplier: 4,
            kernel: (5, 4),
            stride: 2,
        },
    ]
}

fn median_ms(mut f: impl FnMut() -> Result<()>, iters: usize) -> Result<f64> {
    f()?; // warm-up
    let mut t = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

/// Times forward + backward (all three gradients) of each case, `iters` times each, f32, SAME padding.
pub fn bench_depthwise(cases: &[DepthwiseCase], iters: usize) -> Result<Vec<DepthwiseTiming>> {
    if iters == 0 {
        return Err(Error::Msg(
            "bench depthwise: iterations must be positive".into(),
        ));
    }
    let dev = &Device::Cpu;
    let mut out = Vec::new();
    for case in cases {
        let [n, c, h, w] = case.input;
        let o = c * case.multiplier;
        let (kh, kw) = case.kernel;
        let s = case.stride;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (n, c, h, w), dev)?)?;
        let wt = Var::from_tensor(&Tensor::randn(0f32, 0.3, (o, 1, kh, kw), dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.1, o, dev)?)?;
        let ours =
            || depthwise_conv2d_fused(&x, &wt, &b, (s, s), Padding::Same, (1, 1), Activation::None);
        let bad = || Error::Msg(format!("bench depthwise: bad case {case:?}"));
        let (oh, pt) = conv_out_size(h, kh, s, 1, Padding::Same).ok_or_else(bad)?;
        let (ow, pl) = conv_out_size(w, kw, s, 1, Padding::Same).ok_or_else(bad)?;
        let ph = ((oh - 1) * s + kh).saturating_sub(h);
        let pw = ((ow - 1) * s + kw).saturating_sub(w);
        let theirs = || -> Result<Tensor> {
            let xp = x
                .as_tensor()
                .pad_with_zeros(2, pt, ph - pt)?
                .pad_with_zeros(3, pl, pw - pl)?;
            let y = xp.conv2d(&wt, 0, s, 1, c)?;
            Ok(y.broadcast_add(&b.reshape((o, 1, 1))?)?)
        };
        let max_abs_diff = (ours()? - theirs()?)?
            .abs()?
            .max_all()?
            .to_dtype(DType::F32)?
            .to_scalar::<f32>()?;
        let r = Tensor::randn(0f32, 1., (n, o, oh, ow), dev)?;
        let step = |y: Tensor| -> Result<()> {
            let g = (y * &r)?.sum_all()?.backward()?;
            if g.get(&x).is_none() || g.get(&wt).is_none() || g.get(&b).is_none() {
                return Err(Error::Msg("bench depthwise: a gradient is missing".into()));
            }
            Ok(())
        };
        let ours_ms = median_ms(|| rayon::scope(|_| step(ours()?)), iters)?;
        let candle_ms = median_ms(|| rayon::scope(|_| step(theirs()?)), iters)?;
        out.push(DepthwiseTiming {
            case: case.clone(),
            ours_ms,
            candle_ms,
            max_abs_diff,
        });
    }
    Ok(out)
}
