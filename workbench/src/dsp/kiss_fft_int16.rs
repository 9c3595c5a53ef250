//! A real FFT in 16-bit fixed point with KISS FFT's exact arithmetic (`FIXED_POINT=16`).
//!
//! The TFLite-Micro front end runs `kiss_fftr` compiled with `FIXED_POINT=16`
//! (kissfft 36dbc057, the version TensorFlow pins). Its result is not the exact
//! DFT rounded once: every radix stage first divides its inputs by the radix
//! (`x * (32767 / p)`, rounded), every twiddle is `round(32767 * cos)` and every
//! complex product is rounded to 16 bits, and sums wrap at 16 bits. The outputs
//! therefore differ from a float FFT (`rustfft`) by a few least significant bits
//! (on windowed full-scale noise about 80% of the 257 bins differ from the exact
//! DFT / n rounded, by up to 3 LSB; see the tests),
//! and those bits survive into the front end's energies, square roots and logs.
//! Bit-exactness with TensorFlow's `audio_microfrontend` op thus needs this
//! arithmetic, not a float FFT followed by scaling and rounding; this module
//! reimplements it for power-of-two sizes (radix 4 stages, then one radix 2
//! stage when needed), which is all the front end uses.

use std::f64::consts::PI;

/// A complex value with 16-bit parts, like `kiss_fft_cpx` with `FIXED_POINT=16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cpx16 {
    /// Real part.
    pub r: i16,
    /// Imaginary part.
    pub i: i16,
}

/// Fraction bits of the Q15 format.
const FRAC_BITS: u32 = 15;
/// Largest Q15 value (`SAMP_MAX`).
const SAMP_MAX: i32 = i16::MAX as i32;

/// Rounds a Q30 product sum to Q15: `(x + 2^14) >> 15`, narrowed to 16 bits.
#[inline(always)]
fn sround(x: i32) -> i16 {
    (x.wrapping_add(1 << (FRAC_BITS - 1)) >> FRAC_BITS) as i16
}

/// `a * b`, each part rounded to Q15.
#[inline(always)]
fn cmul(a: Cpx16, b: Cpx16) -> Cpx16 {
    let (ar, ai, br, bi) = (a.r as i32, a.i as i32, b.r as i32, b.i as i32);
    Cpx16 {
        r: sround((ar * br).wrapping_sub(ai * bi)),
        i: sround((ar * bi).wrapping_add(ai * br)),
    }
}

/// Divides both parts by `p` the fixed-point way: multiply by `32767 / p`, round.
#[inline(always)]
fn fixdiv(c: Cpx16, p: i32) -> Cpx16 {
    let k = SAMP_MAX / p;
    Cpx16 {
        r: sround(c.r as i32 * k),
        i: sround(c.i as i32 * k),
    }
}

#[inline(always)]
fn add(a: Cpx16, b: Cpx16) -> Cpx16 {
    Cpx16 {
        r: a.r.wrapping_add(b.r),
        i: a.i.wrapping_add(b.i),
    }
}

#[inline(always)]
fn sub(a: Cpx16, b: Cpx16) -> Cpx16 {
    Cpx16 {
        r: a.r.wrapping_sub(b.r),
        i: a.i.wrapping_sub(b.i),
    }
}

/// `round(32767 * (cos, sin)(phase))`, as KISS FFT's fixed-point `kf_cexp`.
fn cexp_q15(phase: f64) -> Cpx16 {
    let q = |v: f64| (0.5 + SAMP_MAX as f64 * v).floor() as i16;
    Cpx16 {
        r: q(phase.cos()),
        i: q(phase.sin()),
    }
}

/// A forward real FFT of `n` int16 samples (n a power of two, at least 4) in Q15 fixed point.
#[derive(Debug, Clone)]
pub struct KissFftR16 {
    /// Size of the inner complex FFT (`n / 2`).
    ncfft: usize,
    /// `exp(-2 pi i k / ncfft)` in Q15.
    twiddles: Vec<Cpx16>,
    /// `exp(-i pi ((k + 1) / ncfft + 1/2))` in Q15, for splitting the packed result.
    super_twiddles: Vec<Cpx16>,
    /// Leaf order: position k of the first stage reads complex input `perm[k]`.
    perm: Vec<usize>,
    /// Stages innermost first: (radix p, sub-length m, twiddle stride).
    stages: Vec<(usize, usize, usize)>,
    /// Output of the inner complex FFT.
    tmp: Vec<Cpx16>,
}

impl KissFftR16 {
    /// Plans a real FFT of size `n`; `None` unless `n` is a power of two and at least 4.
    pub fn new(n: usize) -> Option<Self> {
        if n < 4 || !n.is_power_of_two() {
            return None;
        }
        let ncfft = n / 2;
        // KISS FFT's factorization: powers of 4 first, then the remaining 2.
        let mut radices = Vec::new();
        let mut m = ncfft;
        while m > 1 {
            let p = if m.is_multiple_of(4) { 4 } else { 2 };
            radices.push(p);
            m /= p;
        }
        let twiddles = (0..ncfft)
            .map(|k| cexp_q15(-2.0 * PI * k as f64 / ncfft as f64))
            .collect();
        let super_twiddles = (0..ncfft / 2)
            .map(|k| cexp_q15(-PI * ((k + 1) as f64 / ncfft as f64 + 0.5)))
            .collect();
        // KISS FFT recurses (decimation in time): stage s with radix p splits its
        // input into p interleaved parts of stride fstride * p. Unrolled, the
        // leaves read the input in a mixed-radix digit-reversed order, and the
        // butterflies run innermost stage first, each group independently.
        let mut perm = vec![0usize; ncfft];
        Self::leaf_order(&radices, 0, 0, 1, &mut perm);
        let mut stages = Vec::new();
        let mut fstride = 1;
        let mut m = ncfft;
        for &p in &radices {
            m /= p;
            stages.push((p, m, fstride));
            fstride *= p;
        }
        stages.reverse();
        Some(KissFftR16 {
            ncfft,
            perm,
            stages,
            twiddles,
            super_twiddles,
            tmp: vec![Cpx16::default(); ncfft],
        })
    }

    /// The real FFT size.
    pub fn len(&self) -> usize {
        2 * self.ncfft
    }

    /// Always false: the smallest plan has 4 points.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Transforms `input` (`len()` samples) into `output` (`len() / 2 + 1` bins), like `kiss_fftr`.
    ///
    /// # Panics
    /// If the slice lengths are wrong.
    pub fn process(&mut self, input: &[i16], output: &mut [Cpx16]) {
        let n = self.ncfft;
        assert_eq!(input.len(), 2 * n, "kiss_fftr16: input length");
        assert_eq!(output.len(), n + 1, "kiss_fftr16: output length");
        // Pairs of real samples are the complex input of the half-size FFT.
        let mut tmp = std::mem::take(&mut self.tmp);
        self.work(&mut tmp, input);
        let tdc = fixdiv(tmp[0], 2);
        output[0] = Cpx16 {
            r: tdc.r.wrapping_add(tdc.i),
            i: 0,
        };
        output[n] = Cpx16 {
            r: tdc.r.wrapping_sub(tdc.i),
            i: 0,
        };
        for k in 1..=n / 2 {
            let fpk = fixdiv(tmp[k], 2);
            let c = tmp[n - k];
            let fpnk = fixdiv(
                Cpx16 {
                    r: c.r,
                    i: c.i.wrapping_neg(),
                },
                2,
            );
            let f1k = add(fpk, fpnk);
            let f2k = sub(fpk, fpnk);
            let tw = cmul(f2k, self.super_twiddles[k - 1]);
            let half = |v: i32| (v >> 1) as i16;
            let (f1r, f1i, twr, twi) = (f1k.r as i32, f1k.i as i32, tw.r as i32, tw.i as i32);
            output[k] = Cpx16 {
                r: half(f1r + twr),
                i: half(f1i + twi),
            };
            // For k = n/2 this overwrites output[k], as KISS FFT does.
            output[n - k] = Cpx16 {
                r: half(f1r - twr),
                i: half(twi - f1i),
            };
        }
        self.tmp = tmp;
    }

    /// Fills `out` with the input index each leaf position reads (`kf_work`'s recursion).
    fn leaf_order(radices: &[usize], stage: usize, first: usize, stride: usize, out: &mut [usize]) {
        let p = radices[stage];
        let m = out.len() / p;
        if m == 1 {
            for (k, o) in out.iter_mut().enumerate() {
                *o = first + k * stride;
            }
        } else {
            for (k, chunk) in out.chunks_exact_mut(m).enumerate() {
                Self::leaf_order(radices, stage + 1, first + k * stride, stride * p, chunk);
            }
        }
    }

    /// The inner complex FFT of the packed input (`kiss_fft` on `ncfft` points).
    fn work(&self, out: &mut [Cpx16], input: &[i16]) {
        for (o, &c) in out.iter_mut().zip(&self.perm) {
            *o = Cpx16 {
                r: input[2 * c],
                i: input[2 * c + 1],
            };
        }
        for &(p, m, fstride) in &self.stages {
            for group in out.chunks_exact_mut(p * m) {
                match p {
                    4 => self.butterfly4(group, fstride, m),
                    _ => self.butterfly2(group, fstride, m),
                }
            }
        }
    }

    fn butterfly2(&self, f: &mut [Cpx16], fstride: usize, m: usize) {
        let (f0, f1) = f.split_at_mut(m);
        let tw = self.twiddles.iter().step_by(fstride);
        for ((a, b), &w) in f0.iter_mut().zip(f1.iter_mut()).zip(tw) {
            let x = fixdiv(*a, 2);
            let t = cmul(fixdiv(*b, 2), w);
            *b = sub(x, t);
            *a = add(x, t);
        }
    }

    fn butterfly4(&self, f: &mut [Cpx16], fstride: usize, m: usize) {
        let (f0, rest) = f.split_at_mut(m);
        let (f1, rest) = rest.split_at_mut(m);
        let (f2, f3) = rest.split_at_mut(m);
        let tw1 = self.twiddles.iter().step_by(fstride);
        let tw2 = self.twiddles.iter().step_by(2 * fstride);
        let tw3 = self.twiddles.iter().step_by(3 * fstride);
        let quads = f0
            .iter_mut()
            .zip(f1.iter_mut())
            .zip(f2.iter_mut())
            .zip(f3.iter_mut());
        for ((((a, b), c), d), ((&w1, &w2), &w3)) in quads.zip(tw1.zip(tw2).zip(tw3)) {
            let x0 = fixdiv(*a, 4);
            let s0 = cmul(fixdiv(*b, 4), w1);
            let s1 = cmul(fixdiv(*c, 4), w2);
            let s2 = cmul(fixdiv(*d, 4), w3);
            let s5 = sub(x0, s1);
            let x0 = add(x0, s1);
            let s3 = add(s0, s2);
            let s4 = sub(s0, s2);
            *c = sub(x0, s3);
            *a = add(x0, s3);
            *b = Cpx16 {
                r: s5.r.wrapping_add(s4.i),
                i: s5.i.wrapping_sub(s4.r),
            };
            *d = Cpx16 {
                r: s5.r.wrapping_sub(s4.i),
                i: s5.i.wrapping_add(s4.r),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q15_rounding_helpers() {
        // 20000 * 32767 / 32768 = 19999.39 -> 19999: multiplying by "one" loses a bit.
        assert_eq!(sround(20000 * 32767), 19999);
        // -1 * 32767 = -32767; (-32767 + 16384) >> 15 = -1 (floor).
        assert_eq!(sround(-32767), -1);
        // 1000 / 4 with 8191/32768: 1000 * 8191 = 8191000 -> 249.97 -> 250.
        assert_eq!(
            fixdiv(Cpx16 { r: 1000, i: -1000 }, 4),
            Cpx16 { r: 250, i: -250 }
        );
    }

    #[test]
    fn twiddles_are_rounded_q15() {
        let f = KissFftR16::new(16).unwrap();
        // ncfft = 8: k = 0 -> (32767, 0); k = 2 -> angle -pi/2 -> (0, -32767);
        // k = 1 -> angle -pi/4 -> 32767 * 0.70711 = 23169.77 -> 23170.
        assert_eq!(f.twiddles[0], Cpx16 { r: 32767, i: 0 });
        assert_eq!(f.twiddles[2], Cpx16 { r: 0, i: -32767 });
        assert_eq!(
            f.twiddles[1],
            Cpx16 {
                r: 23170,
                i: -23170
            }
        );
        // Stages innermost first: the radix 2 (m = 1, stride 4), then the radix 4 (m = 2, stride 1).
        assert_eq!(f.stages, vec![(2, 1, 4), (4, 2, 1)]);
    }

    #[test]
    fn impulse_and_dc() {
        // An impulse of 16384 at t=0 in an 8-point real FFT: every bin is
        // 16384 / 8 = 2048 after the three halvings (4 in the inner FFT... see below).
        // Inner complex FFT of size 4 (one radix-4 stage) divides by 4 (with
        // 8191/32768 ~ 1/4.0001: 16384 * 8191 / 32768 = 4095.5 -> 4096),
        // then the real split halves twice more: 4096/2 = 2048 (16383/32768:
        // 4096 * 16383 / 32768 = 2047.875 -> 2048), sum of re and im halves.
        let mut f = KissFftR16::new(8).unwrap();
        let mut x = [0i16; 8];
        x[0] = 16384;
        let mut y = [Cpx16::default(); 5];
        f.process(&x, &mut y);
        // DC: tdc = (2048, 0) -> 2048 + 0; Nyquist 2048 - 0.
        assert_eq!(y[0], Cpx16 { r: 2048, i: 0 });
        assert_eq!(y[4], Cpx16 { r: 2048, i: 0 });
        for b in &y[1..4] {
            // Flat spectrum, up to one LSB of fixed-point rounding.
            assert!((b.r as i32 - 2048).abs() <= 1 && b.i.abs() <= 1, "{b:?}");
        }
        // A constant 8000: only DC survives, 8 * 8000 / 8 = 8000 (give or take rounding).
        let x = [8000i16; 8];
        f.process(&x, &mut y);
        assert!((y[0].r as i32 - 8000).abs() <= 2, "{:?}", y[0]);
        for b in &y[1..] {
            assert!(b.r.abs() <= 1 && b.i.abs() <= 1, "{b:?}");
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(KissFftR16::new(12).is_none());
        assert!(KissFftR16::new(2).is_none());
        assert_eq!(KissFftR16::new(512).unwrap().stages.len(), 4);
    }

    #[test]
    fn close_to_the_exact_dft_but_not_equal_to_it_rounded() {
        // rustfft in f64 is the exact DFT here; KISS FFT's Q15 result is DFT / n
        // with per-stage rounding. Windowed full-scale noise, 512 points.
        use rustfft::num_complex::Complex64;
        let n = 512;
        let mut f = KissFftR16::new(n).unwrap();
        let plan = rustfft::FftPlanner::<f64>::new().plan_fft_forward(n);
        let mut s = 0x1234_5678_9abc_def0u64;
        let (mut differ, mut worst, mut bins) = (0, 0.0f64, 0);
        for _ in 0..20 {
            let x: Vec<i16> = (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 48) as i16
                })
                .collect();
            let mut y = vec![Cpx16::default(); n / 2 + 1];
            f.process(&x, &mut y);
            let mut z: Vec<Complex64> = x.iter().map(|&v| Complex64::new(v as f64, 0.0)).collect();
            plan.process(&mut z);
            for (a, b) in y.iter().zip(&z) {
                let (er, ei) = (b.re / n as f64, b.im / n as f64);
                worst = worst
                    .max((a.r as f64 - er).abs())
                    .max((a.i as f64 - ei).abs());
                differ += usize::from(a.r as f64 != er.round() || a.i as f64 != ei.round());
                bins += 1;
            }
        }
        // Within a few LSB of the exact DFT / 512 ...
        assert!(worst < 4.0, "worst {worst}");
        // ... yet most bins differ from it rounded: a float FFT cannot stand in for it.
        assert!(differ * 2 > bins, "{differ} of {bins} bins differ");
        eprintln!(
            "kiss int16 vs round(DFT / 512): {differ} of {bins} bins differ, worst {worst:.2} LSB"
        );
    }
}
