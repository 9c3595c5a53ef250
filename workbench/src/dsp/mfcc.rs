//! MFCC as `tf.signal` computes it, with `rustfft`.
//!
//! `stft` (periodic Hann window, frames without end padding, zero-padded to
//! the FFT length) -> magnitude -> `linear_to_mel_weight_matrix` (HTK mel
//! scale `1127 ln(1 + f/700)`, triangles between evenly spaced mel edges, DC
//! bin excluded) -> `log(mel + offset)` -> DCT-II -> first N coefficients.
//! With [`DctScaling::Tf`] the DCT is `mfccs_from_log_mel_spectrograms`'s
//! (the unnormalized DCT-II times `1/sqrt(2 * mel_bins)`); [`DctScaling::Ortho`]
//! is the orthonormal DCT-II (`tf.signal.dct(norm="ortho")`), which differs
//! only in coefficient 0 (smaller by `sqrt(2)`).
//!
//! Defaults are the MicroKWS lab's: 16 kHz, frame 480, step 320, FFT 512, 40
//! mel bins over 20-4000 Hz, offset 1e-6, 40 coefficients. Tested within 1e-4
//! of TensorFlow relative to the feature range.

use std::sync::Arc;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::error::{Error, Result};

/// How the DCT-II is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DctScaling {
    /// `tf.signal.mfccs_from_log_mel_spectrograms`: DCT-II times `1/sqrt(2 * mel_bins)` for every coefficient.
    Tf,
    /// The orthonormal DCT-II (`tf.signal.dct(type=2, norm="ortho")`).
    Ortho,
}

/// MFCC settings; every field is `tf.signal`'s parameter of the same meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct MfccConfig {
    /// Sample rate in Hz (16000).
    pub sample_rate: u32,
    /// Samples per frame (480).
    pub frame_length: usize,
    /// Samples between frames (320).
    pub frame_step: usize,
    /// FFT length; frames are zero-padded to it (512).
    pub fft_length: usize,
    /// Mel bins (40).
    pub num_mel_bins: usize,
    /// Lower edge of the mel filterbank in Hz (20).
    pub lower_edge_hertz: f32,
    /// Upper edge of the mel filterbank in Hz (4000).
    pub upper_edge_hertz: f32,
    /// Added before the log (1e-6).
    pub log_offset: f32,
    /// Coefficients kept, the first N (40).
    pub num_coefficients: usize,
    /// DCT scaling ([`DctScaling::Tf`]).
    pub dct: DctScaling,
}

impl Default for MfccConfig {
    /// The MicroKWS lab's settings (see the module docs).
    fn default() -> Self {
        MfccConfig {
            sample_rate: 16000,
            frame_length: 480,
            frame_step: 320,
            fft_length: 512,
            num_mel_bins: 40,
            lower_edge_hertz: 20.0,
            upper_edge_hertz: 4000.0,
            log_offset: 1e-6,
            num_coefficients: 40,
            dct: DctScaling::Tf,
        }
    }
}

/// One mel bin's triangle: `weights[j]` applies to spectrum bin `start + j`.
#[derive(Debug, Clone)]
struct MelBand {
    start: usize,
    weights: Vec<f32>,
}

/// An MFCC extractor with its window, FFT plan, mel and DCT matrices built.
#[derive(Clone)]
pub struct Mfcc {
    cfg: MfccConfig,
    window: Vec<f32>,
    fft: Arc<dyn Fft<f32>>,
    mel: Vec<MelBand>,
    /// `num_coefficients x num_mel_bins`, row-major.
    dct: Vec<f32>,
    buf: Vec<Complex32>,
    scratch: Vec<Complex32>,
    magnitude: Vec<f32>,
    log_mel: Vec<f32>,
}

impl std::fmt::Debug for Mfcc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mfcc({:?})", self.cfg)
    }
}

/// HTK mel: `1127 ln(1 + f / 700)`.
fn hertz_to_mel(f: f64) -> f64 {
    1127.0 * (f / 700.0).ln_1p()
}

impl Mfcc {
    /// Builds the extractor, checking the settings.
    pub fn new(cfg: MfccConfig) -> Result<Self> {
        let bad = |msg: String| Err(Error::Config(format!("mfcc: {msg}")));
        if cfg.frame_length == 0 || cfg.frame_step == 0 {
            return bad("frame_length and frame_step must be positive".into());
        }
        if cfg.fft_length < cfg.frame_length {
            return bad(format!(
                "fft_length {} is shorter than frame_length {}",
                cfg.fft_length, cfg.frame_length
            ));
        }
        let nyquist = cfg.sample_rate as f32 / 2.0;
        if !(cfg.lower_edge_hertz >= 0.0
            && cfg.lower_edge_hertz < cfg.upper_edge_hertz
            && cfg.upper_edge_hertz <= nyquist)
        {
            return bad(format!(
                "need 0 <= lower_edge_hertz < upper_edge_hertz <= {nyquist} (Nyquist), got {} and {}",
                cfg.lower_edge_hertz, cfg.upper_edge_hertz
            ));
        }
        if cfg.num_mel_bins == 0
            || cfg.num_coefficients == 0
            || cfg.num_coefficients > cfg.num_mel_bins
        {
            return bad(format!(
                "need 1 <= num_coefficients ({}) <= num_mel_bins ({})",
                cfg.num_coefficients, cfg.num_mel_bins
            ));
        }
        // Periodic Hann: 0.5 - 0.5 cos(2 pi n / N).
        let n = cfg.frame_length as f64;
        let window = (0..cfg.frame_length)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n).cos()) as f32)
            .collect();
        let bins = cfg.fft_length / 2 + 1;
        let mel = Self::mel_bands(&cfg, bins);
        let nm = cfg.num_mel_bins;
        let base = (1.0 / (2.0 * nm as f64)).sqrt();
        let dct = (0..cfg.num_coefficients)
            .flat_map(|k| {
                let scale = match (cfg.dct, k) {
                    (DctScaling::Ortho, 0) => (1.0 / nm as f64).sqrt(),
                    (DctScaling::Ortho, _) => (2.0 / nm as f64).sqrt(),
                    (DctScaling::Tf, _) => 2.0 * base,
                };
                (0..nm).map(move |i| {
                    let angle =
                        std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2 * nm) as f64;
                    (scale * angle.cos()) as f32
                })
            })
            .collect();
        let fft = FftPlanner::new().plan_fft_forward(cfg.fft_length);
        let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()];
        Ok(Mfcc {
            window,
            buf: vec![Complex32::default(); cfg.fft_length],
            scratch,
            magnitude: vec![0.0; bins],
            log_mel: vec![0.0; nm],
            fft,
            mel,
            dct,
            cfg,
        })
    }

    /// `linear_to_mel_weight_matrix` as sparse bands (only nonzero weights).
    fn mel_bands(cfg: &MfccConfig, bins: usize) -> Vec<MelBand> {
        let nyquist = cfg.sample_rate as f64 / 2.0;
        let lo = hertz_to_mel(cfg.lower_edge_hertz as f64);
        let hi = hertz_to_mel(cfg.upper_edge_hertz as f64);
        let nm = cfg.num_mel_bins;
        let edge = |i: usize| lo + (hi - lo) * i as f64 / (nm + 1) as f64;
        // Bin k's frequency: linspace(0, nyquist, bins)[k]; bin 0 (DC) always gets weight 0.
        let bin_mel: Vec<f64> = (0..bins)
            .map(|k| hertz_to_mel(nyquist * k as f64 / (bins - 1) as f64))
            .collect();
        (0..nm)
            .map(|m| {
                let (l, c, u) = (edge(m), edge(m + 1), edge(m + 2));
                let w: Vec<(usize, f32)> = (1..bins)
                    .filter_map(|k| {
                        let x = bin_mel[k];
                        let v = ((x - l) / (c - l)).min((u - x) / (u - c)).max(0.0);
                        (v > 0.0).then_some((k, v as f32))
                    })
                    .collect();
                let start = w.first().map_or(0, |&(k, _)| k);
                let mut weights = vec![0.0; w.last().map_or(0, |&(k, _)| k + 1 - start)];
                for (k, v) in w {
                    weights[k - start] = v;
                }
                MelBand { start, weights }
            })
            .collect()
    }

    /// The settings.
    pub fn config(&self) -> &MfccConfig {
        &self.cfg
    }

    /// Coefficients per frame.
    pub fn num_coefficients(&self) -> usize {
        self.cfg.num_coefficients
    }

    /// Frames for a clip of `samples` samples (49 for 1 s with the defaults).
    pub fn num_frames(&self, samples: usize) -> usize {
        if samples < self.cfg.frame_length {
            0
        } else {
            (samples - self.cfg.frame_length) / self.cfg.frame_step + 1
        }
    }

    /// MFCCs of a float waveform (about -1..1), `num_frames * num_coefficients` values, frame-major.
    pub fn compute(&mut self, audio: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; self.num_frames(audio.len()) * self.cfg.num_coefficients];
        self.compute_into(audio.len(), |i| audio[i], &mut out);
        out
    }

    /// MFCCs of int16 audio, read as `x / 32768` (what `tf.audio.decode_wav` gives).
    pub fn compute_i16(&mut self, audio: &[i16]) -> Vec<f32> {
        let mut out = vec![0.0; self.num_frames(audio.len()) * self.cfg.num_coefficients];
        self.compute_into(audio.len(), |i| audio[i] as f32 / 32768.0, &mut out);
        out
    }

    fn compute_into(&mut self, len: usize, sample: impl Fn(usize) -> f32, out: &mut [f32]) {
        let nc = self.cfg.num_coefficients;
        let nm = self.cfg.num_mel_bins;
        for (f, row) in out.chunks_exact_mut(nc).enumerate() {
            let start = f * self.cfg.frame_step;
            debug_assert!(start + self.cfg.frame_length <= len);
            for (i, b) in self.buf.iter_mut().enumerate() {
                *b = match self.window.get(i) {
                    Some(&w) => Complex32::new(sample(start + i) * w, 0.0),
                    None => Complex32::default(),
                };
            }
            self.fft
                .process_with_scratch(&mut self.buf, &mut self.scratch);
            for (m, b) in self.magnitude.iter_mut().zip(&self.buf) {
                // |z| as sqrt(re^2 + im^2): hypot's overflow care is not needed here.
                *m = (b.re * b.re + b.im * b.im).sqrt();
            }
            for (lm, band) in self.log_mel.iter_mut().zip(&self.mel) {
                let spec = &self.magnitude[band.start..band.start + band.weights.len()];
                let s: f32 = band.weights.iter().zip(spec).map(|(w, m)| w * m).sum();
                *lm = (s + self.cfg.log_offset).ln();
            }
            for (o, d) in row.iter_mut().zip(self.dct.chunks_exact(nm)) {
                *o = d.iter().zip(&self.log_mel).map(|(a, b)| a * b).sum();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_gives_log_offset_in_coefficient_zero() {
        let mut m = Mfcc::new(MfccConfig::default()).unwrap();
        let y = m.compute(&[0.0; 16000]);
        assert_eq!(y.len(), 49 * 40);
        // Every log-mel is ln(1e-6) = -13.8155; the DC term of the DCT-II is
        // 2 * sum = 2 * 40 * -13.8155, times 1/sqrt(80): -123.57.
        assert!((y[0] - (-123.5702)).abs() < 1e-3, "{}", y[0]);
        // Every other coefficient of a constant is 0.
        assert!(y[1..40].iter().all(|v| v.abs() < 1e-4));
        // Orthonormal: sqrt(40) * -13.8155 = -87.376.
        let mut o = Mfcc::new(MfccConfig {
            dct: DctScaling::Ortho,
            ..MfccConfig::default()
        })
        .unwrap();
        assert!((o.compute(&[0.0; 16000])[0] - (-87.3769)).abs() < 1e-3);
    }

    #[test]
    fn hann_is_periodic_and_bands_exclude_dc() {
        let m = Mfcc::new(MfccConfig::default()).unwrap();
        // Periodic: w[0] = 0, w[240] = 1 (N/2), no trailing zero.
        assert_eq!(m.window[0], 0.0);
        assert!((m.window[240] - 1.0).abs() < 1e-7);
        assert!(m.window[479] > 0.0);
        // First band: 20 Hz = 31.6 mel; the edge spacing is (2146.1 - 31.6) / 41 = 51.6 mel,
        // so the first triangle covers 31.6..134.7 mel = 20..80.8 Hz, bin 1 (31.25 Hz) and 2 (62.5 Hz).
        assert_eq!(m.mel[0].start, 1);
        assert_eq!(m.mel[0].weights.len(), 2);
    }

    #[test]
    fn bad_configs_are_errors() {
        let e = Mfcc::new(MfccConfig {
            upper_edge_hertz: 9000.0,
            ..MfccConfig::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("Nyquist"), "{e}");
        assert!(Mfcc::new(MfccConfig {
            num_coefficients: 41,
            ..MfccConfig::default()
        })
        .is_err());
    }
}
