//! Digital Butterworth filter design with the coefficients `scipy.signal.butter` gives.
//!
//! The design follows the same steps as scipy, so the `(b, a)` coefficients agree
//! to rounding: the analog prototype's poles `p_k = -exp(i pi m / 2N)` for
//! `m = -N+1, -N+3, ..., N-1`, frequencies pre-warped with `4 tan(pi Wn / 2)`
//! (`Wn` is the cutoff over Nyquist), the lowpass-to-{low,high,band,stop}
//! transform in zeros-poles-gain form, the bilinear transform at `fs = 2`, and
//! finally the expansion of zeros and poles into polynomials.
//!
//! ```
//! use workbench::dsp::butterworth::{butter, Band};
//! // scipy.signal.butter(4, 10 / 250, btype="highpass")
//! let f = butter(4, Band::Highpass(10.0), 500.0).unwrap();
//! // b = [0.8484753, -3.39390118, 5.09085177, -3.39390118, 0.8484753]
//! // a = [1, -3.67172909, 5.06799839, -3.11596693, 0.71991033]
//! assert!((f.b[0] - 0.8484753).abs() < 1e-7 && (f.a[4] - 0.71991033).abs() < 1e-8);
//! ```

use std::f64::consts::PI;
use std::fmt;

use crate::{Error, Result};

/// Which band a filter keeps; cutoffs are in Hz.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Band {
    /// Keeps frequencies below the cutoff.
    Lowpass(f64),
    /// Keeps frequencies above the cutoff.
    Highpass(f64),
    /// Keeps frequencies between the two cutoffs.
    Bandpass(f64, f64),
    /// Removes frequencies between the two cutoffs.
    Bandstop(f64, f64),
}

/// A digital filter's transfer function `B(z) / A(z)`, coefficients in powers of `z^-1`.
#[derive(Clone, PartialEq)]
pub struct Ba {
    /// Numerator coefficients `b[0..]`.
    pub b: Vec<f64>,
    /// Denominator coefficients `a[0..]`, `a[0] == 1` for a Butterworth design.
    pub a: Vec<f64>,
}

impl fmt::Debug for Ba {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ba {{ b: {:?}, a: {:?} }}", self.b, self.a)
    }
}

/// Designs an order-`order` digital Butterworth filter for sample rate `fs` Hz, as
/// `scipy.signal.butter(order, cutoffs, btype, fs=fs)` does (output `"ba"`).
///
/// Errors if the order is 0, a cutoff is not strictly between 0 and `fs / 2`, or a
/// band's cutoffs are not increasing.
pub fn butter(order: usize, band: Band, fs: f64) -> Result<Ba> {
    let bad = |msg: String| Error::Config(format!("butter: {msg}"));
    if order == 0 {
        return Err(bad("order must be at least 1".into()));
    }
    if !(fs.is_finite() && fs > 0.0) {
        return Err(bad(format!("sample rate must be positive, got {fs}")));
    }
    let nyquist = fs / 2.0;
    let cutoffs: Vec<f64> = match band {
        Band::Lowpass(f) | Band::Highpass(f) => vec![f],
        Band::Bandpass(lo, hi) | Band::Bandstop(lo, hi) => vec![lo, hi],
    };
    for &f in &cutoffs {
        if !(f > 0.0 && f < nyquist) {
            return Err(bad(format!(
                "cutoff {f} Hz must be strictly between 0 and fs/2 = {nyquist} Hz"
            )));
        }
    }
    if cutoffs.len() == 2 && cutoffs[0] >= cutoffs[1] {
        return Err(bad(format!(
            "band cutoffs must increase, got {} and {} Hz",
            cutoffs[0], cutoffs[1]
        )));
    }
    // scipy: Wn = Wn / (fs / 2); then the digital design runs at fs = 2.
    let warped: Vec<f64> = cutoffs
        .iter()
        .map(|&f| {
            let wn = f / nyquist;
            4.0 * (PI * wn / 2.0).tan()
        })
        .collect();
    let (z, p, k) = prototype(order);
    let (z, p, k) = match band {
        Band::Lowpass(_) => lp2lp(&z, &p, k, warped[0]),
        Band::Highpass(_) => lp2hp(&z, &p, k, warped[0]),
        Band::Bandpass(..) | Band::Bandstop(..) => {
            let bw = warped[1] - warped[0];
            let wo = (warped[0] * warped[1]).sqrt();
            if matches!(band, Band::Bandpass(..)) {
                lp2bp(&z, &p, k, wo, bw)
            } else {
                lp2bs(&z, &p, k, wo, bw)
            }
        }
    };
    let (z, p, k) = bilinear(&z, &p, k, 2.0);
    Ok(Ba {
        b: poly(&z).into_iter().map(|c| k * c).collect(),
        a: poly(&p),
    })
}

/// A complex number, with numpy's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
struct C {
    re: f64,
    im: f64,
}

const fn c(re: f64, im: f64) -> C {
    C { re, im }
}

impl C {
    fn mul(self, o: C) -> C {
        c(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
    fn add(self, o: C) -> C {
        c(self.re + o.re, self.im + o.im)
    }
    fn sub(self, o: C) -> C {
        c(self.re - o.re, self.im - o.im)
    }
    fn scale(self, s: f64) -> C {
        c(self.re * s, self.im * s)
    }
    /// Smith's division, as numpy divides complex numbers.
    fn div(self, o: C) -> C {
        let (ar, ai) = (o.re.abs(), o.im.abs());
        if ar >= ai {
            if ar == 0.0 && ai == 0.0 {
                return c(self.re / ar, self.im / ar);
            }
            let rat = o.im / o.re;
            let scl = 1.0 / (o.re + o.im * rat);
            c(
                (self.re + self.im * rat) * scl,
                (self.im - self.re * rat) * scl,
            )
        } else {
            let rat = o.re / o.im;
            let scl = 1.0 / (o.im + o.re * rat);
            c(
                (self.re * rat + self.im) * scl,
                (self.im * rat - self.re) * scl,
            )
        }
    }
    /// The principal square root.
    fn sqrt(self) -> C {
        if self.re == 0.0 && self.im == 0.0 {
            return c(0.0, self.im);
        }
        let t = ((self.re.abs() + self.re.hypot(self.im)) / 2.0).sqrt();
        if self.re >= 0.0 {
            c(t, self.im / (2.0 * t))
        } else {
            c(self.im.abs() / (2.0 * t), t.copysign(self.im))
        }
    }
}

type Zpk = (Vec<C>, Vec<C>, f64);

/// The analog lowpass prototype with cutoff 1 rad/s: no zeros, N poles on the left unit half circle.
fn prototype(n: usize) -> Zpk {
    let poles = (0..n)
        .map(|j| {
            // m runs -N+1, -N+3, ..., N-1; the middle one is 0, so an odd order has an exactly real pole.
            let m = -(n as f64) + 1.0 + 2.0 * j as f64;
            let theta = PI * m / (2.0 * n as f64);
            c(-theta.cos(), -theta.sin())
        })
        .collect();
    (Vec::new(), poles, 1.0)
}

fn product(v: &[C]) -> C {
    v.iter().fold(c(1.0, 0.0), |acc, &x| acc.mul(x))
}

fn neg(v: &[C]) -> Vec<C> {
    v.iter().map(|x| c(-x.re, -x.im)).collect()
}

/// s -> s / wo.
fn lp2lp(z: &[C], p: &[C], k: f64, wo: f64) -> Zpk {
    let degree = p.len() - z.len();
    (
        z.iter().map(|x| x.scale(wo)).collect(),
        p.iter().map(|x| x.scale(wo)).collect(),
        k * wo.powi(degree as i32),
    )
}

/// s -> wo / s.
fn lp2hp(z: &[C], p: &[C], k: f64, wo: f64) -> Zpk {
    let degree = p.len() - z.len();
    let w = c(wo, 0.0);
    let mut zh: Vec<C> = z.iter().map(|&x| w.div(x)).collect();
    zh.extend(std::iter::repeat_n(c(0.0, 0.0), degree));
    let ph = p.iter().map(|&x| w.div(x)).collect();
    let kh = k * product(&neg(z)).div(product(&neg(p))).re;
    (zh, ph, kh)
}

/// The two roots `x ± sqrt(x² - wo²)` of each point, all `+` ones first.
fn split_pairs(v: &[C], wo: f64) -> Vec<C> {
    let roots: Vec<C> = v
        .iter()
        .map(|&x| x.mul(x).sub(c(wo * wo, 0.0)).sqrt())
        .collect();
    let plus = v.iter().zip(&roots).map(|(&x, &r)| x.add(r));
    let minus = v.iter().zip(&roots).map(|(&x, &r)| x.sub(r));
    plus.chain(minus).collect()
}

/// s -> (s² + wo²) / (s bw).
fn lp2bp(z: &[C], p: &[C], k: f64, wo: f64, bw: f64) -> Zpk {
    let degree = p.len() - z.len();
    let zl: Vec<C> = z.iter().map(|x| x.scale(bw).scale(0.5)).collect();
    let pl: Vec<C> = p.iter().map(|x| x.scale(bw).scale(0.5)).collect();
    let mut zb = split_pairs(&zl, wo);
    zb.extend(std::iter::repeat_n(c(0.0, 0.0), degree));
    (zb, split_pairs(&pl, wo), k * bw.powi(degree as i32))
}

/// s -> (s bw) / (s² + wo²).
fn lp2bs(z: &[C], p: &[C], k: f64, wo: f64, bw: f64) -> Zpk {
    let degree = p.len() - z.len();
    let half = c(bw / 2.0, 0.0);
    let zh: Vec<C> = z.iter().map(|&x| half.div(x)).collect();
    let ph: Vec<C> = p.iter().map(|&x| half.div(x)).collect();
    let mut zb = split_pairs(&zh, wo);
    zb.extend(std::iter::repeat_n(c(0.0, wo), degree));
    zb.extend(std::iter::repeat_n(c(0.0, -wo), degree));
    let kb = k * product(&neg(z)).div(product(&neg(p))).re;
    (zb, split_pairs(&ph, wo), kb)
}

/// The bilinear transform s = 2 fs (z - 1) / (z + 1); zeros at infinity go to z = -1.
fn bilinear(z: &[C], p: &[C], k: f64, fs: f64) -> Zpk {
    let degree = p.len() - z.len();
    let fs2 = c(2.0 * fs, 0.0);
    let map = |x: &C| fs2.add(*x).div(fs2.sub(*x));
    let mut zz: Vec<C> = z.iter().map(map).collect();
    zz.extend(std::iter::repeat_n(c(-1.0, 0.0), degree));
    let pz = p.iter().map(map).collect();
    let num = product(&z.iter().map(|&x| fs2.sub(x)).collect::<Vec<_>>());
    let den = product(&p.iter().map(|&x| fs2.sub(x)).collect::<Vec<_>>());
    (zz, pz, k * num.div(den).re)
}

/// The real polynomial with the given roots (which come in conjugate pairs), highest power first.
fn poly(roots: &[C]) -> Vec<f64> {
    let mut a = vec![c(1.0, 0.0)];
    for &r in roots {
        // a <- a * (x - r): the convolution of a with [1, -r].
        let mut next = a.clone();
        next.push(c(0.0, 0.0));
        for (i, &ai) in a.iter().enumerate() {
            next[i + 1] = next[i + 1].sub(ai.mul(r));
        }
        a = next;
    }
    a.into_iter().map(|x| x.re).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_order_lowpass_at_half_nyquist_is_hand_checkable() {
        // Wn = 0.5: warped = 4 tan(pi/4) = 4, pole s = -4 maps to z = (4-4)/(4+4) = 0,
        // gain 4/(4+4) = 0.5: H(z) = 0.5 (1 + z^-1).
        let f = butter(1, Band::Lowpass(250.0), 1000.0).unwrap();
        assert!((f.b[0] - 0.5).abs() < 1e-15 && (f.b[1] - 0.5).abs() < 1e-15);
        assert!((f.a[0] - 1.0).abs() < 1e-15 && f.a[1].abs() < 1e-15);
    }

    #[test]
    fn bad_designs_are_errors() {
        assert!(butter(0, Band::Lowpass(10.0), 500.0).is_err());
        assert!(butter(2, Band::Lowpass(250.0), 500.0).is_err());
        assert!(butter(2, Band::Highpass(0.0), 500.0).is_err());
        assert!(butter(2, Band::Bandpass(50.0, 20.0), 500.0).is_err());
        assert!(butter(2, Band::Lowpass(10.0), f64::NAN).is_err());
    }
}
