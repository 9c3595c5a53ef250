//! Int16 audio clips on disk: a WAV, a directory of WAVs, or an int16 NPY `(N, samples)`.

use std::path::{Path, PathBuf};

use super::wav;
use crate::error::{Error, Result};

/// How [`read_clips`] reads WAVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClipOptions {
    /// Samples per clip: WAVs are padded or cut to it (default 16000, one second).
    pub samples: usize,
    /// Convert WAVs that are not 16 kHz mono 16-bit PCM (printing a line each)
    /// instead of rejecting them (default false).
    pub convert: bool,
}

impl Default for ClipOptions {
    fn default() -> Self {
        ClipOptions {
            samples: 16000,
            convert: false,
        }
    }
}

/// Int16 clips from a WAV, a directory of WAVs (sorted by path) or an int16 NPY `(N, samples)`.
///
/// Returns the clips one after another and the samples per clip.
pub fn read_clips(input: &Path, options: &ClipOptions) -> Result<(Vec<i16>, usize)> {
    let ClipOptions {
        samples: clip_samples,
        convert,
    } = *options;
    const RATE: u32 = 16000;
    let read_wav = |p: &Path| -> Result<Vec<i16>> {
        let x = if convert {
            let (x, note) = wav::read_converted(p, RATE)?;
            if let Some(n) = note {
                eprintln!("{n}");
            }
            x
        } else {
            wav::read_pcm16(p, RATE)?
        };
        Ok(wav::pad_or_cut(x, clip_samples))
    };
    if input.is_dir() {
        let mut files: Vec<PathBuf> = Vec::new();
        collect_wavs(input, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(Error::bad_file(input, "no .wav files in this directory"));
        }
        let clips: Vec<Vec<i16>> = files.iter().map(|p| read_wav(p)).collect::<Result<_>>()?;
        return Ok((clips.concat(), clip_samples));
    }
    let is_npy = input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if !is_npy {
        return Ok((read_wav(input)?, clip_samples));
    }
    read_clips_npy(input)
}

/// Reads int16 clips `(N, samples)` from an NPY file; returns them one after another and the samples per clip.
pub fn read_clips_npy(path: &Path) -> Result<(Vec<i16>, usize)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bad = |msg: String| Error::bad_file(path, msg);
    let f =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a readable NPY file: {e}")))?;
    let shape = f.shape().to_vec();
    let descr = f.dtype().descr();
    let is_i16 = matches!(f.dtype(), npyz::DType::Plain(ts)
        if ts.type_char() == npyz::TypeChar::Int && ts.size_field() == 2);
    if !is_i16 || shape.len() != 2 || shape[1] == 0 || f.order() == npyz::Order::Fortran {
        return Err(bad(format!(
            "expected int16 clips of shape (N, samples) in C order, got dtype {descr} shape {shape:?}"
        )));
    }
    let v: Vec<i16> = f
        .into_vec()
        .map_err(|e| bad(format!("truncated or bad NPY data: {e}")))?;
    Ok((v, shape[1] as usize))
}

/// Writes int16 clips (each `clip_samples` long, one after another) as an NPY `(N, samples)`.
pub fn write_clips_npy(path: &Path, clips: &[i16], clip_samples: usize) -> Result<()> {
    use npyz::WriterBuilder;
    use std::io::Write;
    let n = clips.len() / clip_samples.max(1);
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = std::io::BufWriter::new(file);
    let res = (|| -> std::io::Result<()> {
        let mut writer = npyz::WriteOptions::<i16>::new()
            .default_dtype()
            .shape(&[n as u64, clip_samples as u64])
            .writer(&mut w)
            .begin_nd()?;
        writer.extend(clips[..n * clip_samples].iter().copied())?;
        writer.finish()?;
        w.flush()
    })();
    res.map_err(|e| Error::io(path, e))
}

fn collect_wavs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        if p.is_dir() {
            collect_wavs(&p, out)?;
        } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")) {
            out.push(p);
        }
    }
    Ok(())
}
