//! WAV files for keyword spotting: strict 16-bit mono PCM, or converted on request.
//!
//! [`read_pcm16`] accepts only what the Speech Commands pipeline expects (mono,
//! 16-bit integer PCM, the given sample rate, at least one sample, data as long
//! as its header says) and otherwise fails naming the file and the problem.
//! [`read_converted`] instead turns any WAV `hound` reads (8/16/24/32-bit
//! integer or 32-bit float, any channel count and rate) into 16-bit mono at
//! the wanted rate: channels are averaged and the rate changed by linear
//! interpolation (no anti-alias filter, so downsampling keeps some aliasing).

use std::path::Path;

use crate::error::{Error, Result};

/// A WAV's format, as its header gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavFormat {
    /// Samples per second.
    pub sample_rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Bits per sample.
    pub bits: u16,
    /// Whether samples are IEEE floats (else integers).
    pub float: bool,
}

impl std::fmt::Display for WavFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ch = match self.channels {
            1 => "mono".to_string(),
            2 => "stereo".to_string(),
            n => format!("{n} channels"),
        };
        let kind = if self.float { "float" } else { "PCM" };
        write!(f, "{} Hz {ch} {}-bit {kind}", self.sample_rate, self.bits)
    }
}

fn open(path: &Path) -> Result<hound::WavReader<std::io::BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if file.metadata().map(|m| m.len()).unwrap_or(1) == 0 {
        return Err(Error::bad_file(path, "empty file (0 bytes), not a WAV"));
    }
    hound::WavReader::new(std::io::BufReader::new(file)).map_err(|e| match e {
        hound::Error::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::bad_file(path, "truncated WAV header")
        }
        e => Error::bad_file(path, format!("not a readable WAV: {e}")),
    })
}

fn format_of(spec: hound::WavSpec) -> WavFormat {
    WavFormat {
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        bits: spec.bits_per_sample,
        float: spec.sample_format == hound::SampleFormat::Float,
    }
}

/// Reads every sample, failing with "truncated" when the data ends before its header says.
fn samples<S: hound::Sample>(
    path: &Path,
    reader: hound::WavReader<std::io::BufReader<std::fs::File>>,
) -> Result<Vec<S>> {
    let expected = reader.len() as usize;
    if expected == 0 {
        return Err(Error::bad_file(path, "no audio samples (empty data chunk)"));
    }
    let mut out = Vec::with_capacity(expected);
    for s in reader.into_samples::<S>() {
        match s {
            Ok(v) => out.push(v),
            // hound reports a sample cut short as "failed to read enough bytes".
            Err(e) => {
                return Err(Error::bad_file(
                    path,
                    format!(
                    "truncated: the header promises {expected} samples, the file holds {} ({e})",
                    out.len()
                ),
                ))
            }
        }
    }
    if out.len() < expected {
        return Err(Error::bad_file(
            path,
            format!(
                "truncated: the header promises {expected} samples, the file holds {}",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// The format in a WAV's header.
pub fn format(path: &Path) -> Result<WavFormat> {
    Ok(format_of(open(path)?.spec()))
}

/// Reads a mono 16-bit PCM WAV at `sample_rate`; any other format, an empty or a truncated file is an error naming it.
pub fn read_pcm16(path: &Path, sample_rate: u32) -> Result<Vec<i16>> {
    let reader = open(path)?;
    let f = format_of(reader.spec());
    if f.channels != 1 || f.bits != 16 || f.float || f.sample_rate != sample_rate {
        return Err(Error::bad_file(
            path,
            format!(
                "expected {sample_rate} Hz mono 16-bit PCM, got {f} \
                 (convert it, e.g. with the loader's convert option or `sox IN -r {sample_rate} -c 1 -b 16 OUT.wav`)"
            ),
        ));
    }
    samples::<i16>(path, reader)
}

/// Reads any WAV as 16-bit mono at `sample_rate`: channels averaged, bit depth rescaled, rate changed by linear interpolation.
///
/// Returns the samples and, when anything was converted, a line saying what (for the caller to print).
pub fn read_converted(path: &Path, sample_rate: u32) -> Result<(Vec<i16>, Option<String>)> {
    let reader = open(path)?;
    let f = format_of(reader.spec());
    if f.channels == 0 || f.sample_rate == 0 {
        return Err(Error::bad_file(path, format!("invalid format {f}")));
    }
    // Every sample as float in [-1, 1).
    let x: Vec<f32> = match (f.float, f.bits) {
        (true, 32) => samples::<f32>(path, reader)?,
        (false, 8) => samples::<i8>(path, reader)?
            .into_iter()
            .map(|v| v as f32 / 128.0)
            .collect(),
        (false, 16) => samples::<i16>(path, reader)?
            .into_iter()
            .map(|v| v as f32 / 32768.0)
            .collect(),
        (false, b @ 17..=32) => {
            let scale = (1u64 << (b - 1)) as f32;
            samples::<i32>(path, reader)?
                .into_iter()
                .map(|v| v as f32 / scale)
                .collect()
        }
        _ => return Err(Error::bad_file(path, format!("unsupported format {f}"))),
    };
    let ch = f.channels as usize;
    let mono: Vec<f32> = x
        .chunks_exact(ch)
        .map(|c| c.iter().sum::<f32>() / ch as f32)
        .collect();
    let mono = if f.sample_rate == sample_rate {
        mono
    } else {
        resample_linear(&mono, f.sample_rate, sample_rate)
    };
    let out = mono
        .iter()
        .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    let exact = WavFormat {
        sample_rate,
        channels: 1,
        bits: 16,
        float: false,
    };
    let note = (f != exact).then(|| format!("converted {}: {f} -> {exact}", path.display()));
    Ok((out, note))
}

/// Changes the sample rate by linear interpolation between neighbouring samples.
pub fn resample_linear(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if x.is_empty() || from == to {
        return x.to_vec();
    }
    let n = ((x.len() as u64 * to as u64) / from as u64).max(1) as usize;
    let step = from as f64 / to as f64;
    (0..n)
        .map(|i| {
            let t = i as f64 * step;
            let k = t.floor() as usize;
            let frac = (t - k as f64) as f32;
            let a = x[k.min(x.len() - 1)];
            let b = x[(k + 1).min(x.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

/// Pads with zeros or cuts `x` to exactly `len` samples (`decode_wav`'s `desired_samples`).
pub fn pad_or_cut<T: Copy + Default>(mut x: Vec<T>, len: usize) -> Vec<T> {
    x.resize(len, T::default());
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_resampling_halves_and_interpolates() {
        // 4 samples at 2 Hz -> 2 samples at 1 Hz: x[0], x[2].
        assert_eq!(resample_linear(&[0.0, 1.0, 2.0, 3.0], 2, 1), vec![0.0, 2.0]);
        // Upsampling by 2: midpoints interpolated, the last sample repeated.
        assert_eq!(resample_linear(&[0.0, 1.0], 1, 2), vec![0.0, 0.5, 1.0, 1.0]);
        assert_eq!(pad_or_cut(vec![1, 2, 3], 2), vec![1, 2]);
        assert_eq!(pad_or_cut(vec![1], 3), vec![1, 0, 0]);
    }
}
