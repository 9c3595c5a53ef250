//! `scipy.signal.lfilter`: an IIR filter in direct form II transposed, zero initial state.
//!
//! With `b` and `a` normalized by `a[0]`, each sample does
//!
//! ```text
//! y[n]     = z[0] + b[0] x[n]
//! z[i]     = z[i+1] + b[i+1] x[n] - a[i+1] y[n]     (i = 0 .. K-2)
//! z[K-1]   = b[K] x[n] - a[K] y[n]
//! ```
//!
//! in the same order as scipy's C loop, so results agree to the last bits.
//!
//! ```
//! use workbench::dsp::lfilter::lfilter;
//! // A one-pole smoother y[n] = x[n] + 0.5 y[n-1].
//! let y = lfilter(&[1.0], &[1.0, -0.5], &[1.0, 0.0, 0.0]).unwrap();
//! assert_eq!(y, vec![1.0, 0.5, 0.25]);
//! ```

use crate::{Error, Result};

/// Filters `x` with `B(z) / A(z)` from a zero state, as `scipy.signal.lfilter(b, a, x)` does.
///
/// Errors if `a` or `b` is empty or `a[0]` is zero.
pub fn lfilter(b: &[f64], a: &[f64], x: &[f64]) -> Result<Vec<f64>> {
    let mut f = Lfilter::new(b, a)?;
    let mut y = vec![0.0; x.len()];
    f.run(x, &mut y);
    Ok(y)
}

/// A filter with its state, for filtering a signal in pieces.
#[derive(Debug, Clone)]
pub struct Lfilter {
    b: Vec<f64>,
    a: Vec<f64>,
    z: Vec<f64>,
}

impl Lfilter {
    /// A filter with zero state; `b` and `a` are padded with zeros to one length and divided by `a[0]`.
    pub fn new(b: &[f64], a: &[f64]) -> Result<Self> {
        if b.is_empty() || a.is_empty() {
            return Err(Error::Data("lfilter: b and a must not be empty".into()));
        }
        if a[0] == 0.0 || !a[0].is_finite() {
            return Err(Error::Config(format!(
                "lfilter: a[0] must be finite and non-zero, got {}",
                a[0]
            )));
        }
        let n = a.len().max(b.len());
        let a0 = a[0];
        let pad = |v: &[f64]| -> Vec<f64> {
            (0..n)
                .map(|i| v.get(i).copied().unwrap_or(0.0) / a0)
                .collect()
        };
        Ok(Lfilter {
            b: pad(b),
            a: pad(a),
            z: vec![0.0; n - 1],
        })
    }

    /// Filters `x` into `y` (same length), carrying the state on.
    ///
    /// # Panics
    /// If `x` and `y` differ in length.
    pub fn run(&mut self, x: &[f64], y: &mut [f64]) {
        assert_eq!(x.len(), y.len(), "lfilter: input and output lengths differ");
        let (b, a, z) = (&self.b, &self.a, &mut self.z);
        let k = z.len();
        if k == 0 {
            for (yn, &xn) in y.iter_mut().zip(x) {
                *yn = xn * b[0];
            }
            return;
        }
        for (yn, &xn) in y.iter_mut().zip(x) {
            let out = z[0] + b[0] * xn;
            for i in 0..k - 1 {
                z[i] = z[i + 1] + xn * b[i + 1] - out * a[i + 1];
            }
            z[k - 1] = xn * b[k] - out * a[k];
            *yn = out;
        }
    }
}

/// Channels filtered side by side in [`lfilter_channels`] (independent lanes the compiler can vectorize).
const LANES: usize = 8;

/// Filters each channel independently, as `lfilter(b, a, channels[c])` does, up to
/// [`LANES`] channels in lockstep; results are identical to filtering one by one.
///
/// # Panics
/// If the channels differ in length.
pub fn lfilter_channels(b: &[f64], a: &[f64], channels: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let f = Lfilter::new(b, a)?;
    let n = channels.first().map_or(0, Vec::len);
    assert!(
        channels.iter().all(|c| c.len() == n),
        "lfilter_channels: channels differ in length"
    );
    let mut out = Vec::with_capacity(channels.len());
    for group in channels.chunks(LANES) {
        out.extend(f.clone().run_lanes(group, n));
    }
    Ok(out)
}

impl Lfilter {
    /// Runs up to [`LANES`] channels of length `n` side by side from this filter's state.
    fn run_lanes(&mut self, group: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
        let lanes = group.len();
        let k = self.z.len();
        let mut z = vec![[0.0f64; LANES]; k];
        for (zi, &v) in z.iter_mut().zip(&self.z) {
            *zi = [v; LANES];
        }
        let mut y = vec![vec![0.0; n]; lanes];
        let (b, a) = (&self.b, &self.a);
        for t in 0..n {
            let mut xn = [0.0; LANES];
            for (l, ch) in group.iter().enumerate() {
                xn[l] = ch[t];
            }
            let mut out = [0.0; LANES];
            if k == 0 {
                for l in 0..LANES {
                    out[l] = xn[l] * b[0];
                }
            } else {
                for l in 0..LANES {
                    out[l] = z[0][l] + b[0] * xn[l];
                }
                for i in 0..k - 1 {
                    let next = z[i + 1];
                    for l in 0..LANES {
                        z[i][l] = next[l] + xn[l] * b[i + 1] - out[l] * a[i + 1];
                    }
                }
                for l in 0..LANES {
                    z[k - 1][l] = xn[l] * b[k] - out[l] * a[k];
                }
            }
            for (l, yl) in y.iter_mut().enumerate() {
                yl[t] = out[l];
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fir_is_a_convolution() {
        // y = x * [1, 2, 3] truncated to x's length.
        let y = lfilter(&[1.0, 2.0, 3.0], &[1.0], &[1.0, 1.0, 0.0, 0.0]).unwrap();
        assert_eq!(y, vec![1.0, 3.0, 5.0, 3.0]);
    }

    #[test]
    fn a0_normalizes() {
        // 2 y[n] = x[n]  ->  y = x / 2.
        assert_eq!(lfilter(&[1.0], &[2.0], &[4.0]).unwrap(), vec![2.0]);
        assert!(lfilter(&[1.0], &[0.0], &[4.0]).is_err());
        assert!(lfilter(&[], &[1.0], &[4.0]).is_err());
    }

    #[test]
    fn lockstep_channels_equal_one_by_one() {
        let (b, a) = ([0.2, 0.3, 0.1], [1.0, -0.5, 0.25]);
        let chans: Vec<Vec<f64>> = (0..11)
            .map(|c| {
                (0..40)
                    .map(|i| ((i * 31 + c * 7) % 17) as f64 - 8.0)
                    .collect()
            })
            .collect();
        let together = lfilter_channels(&b, &a, &chans).unwrap();
        for (c, x) in chans.iter().enumerate() {
            assert_eq!(together[c], lfilter(&b, &a, x).unwrap(), "channel {c}");
        }
        assert_eq!(
            lfilter_channels(&[2.0], &[1.0], &chans[..1]).unwrap()[0][3],
            2.0 * chans[0][3]
        );
    }

    #[test]
    fn pieces_equal_whole() {
        let x: Vec<f64> = (0..50).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let (b, a) = ([0.2, 0.3, 0.1], [1.0, -0.5, 0.25]);
        let whole = lfilter(&b, &a, &x).unwrap();
        let mut f = Lfilter::new(&b, &a).unwrap();
        let mut y = vec![0.0; 50];
        f.run(&x[..17], &mut y[..17]);
        f.run(&x[17..], &mut y[17..]);
        assert_eq!(whole, y);
    }
}
