//! One interface over the two keyword-spotting front ends, and batch helpers.

use rayon::prelude::*;

use super::mfcc::{Mfcc, MfccConfig};
use super::micro_frontend::{self, MicroFrontend, MicroFrontendConfig};
use crate::error::{Error, Result};
use crate::npy::{NpyArray, NpyData};

/// A feature extractor: the micro front end (scaled by 10/256) or MFCC.
#[derive(Debug, Clone)]
pub enum FeatureExtractor {
    /// The TFLite-Micro front end; features are its `u16` output times 10/256.
    Micro(MicroFrontend),
    /// `tf.signal` MFCC of `x / 32768`.
    Mfcc(Mfcc),
}

impl FeatureExtractor {
    /// The micro front end with `cfg`.
    pub fn micro(cfg: MicroFrontendConfig) -> Result<Self> {
        Ok(FeatureExtractor::Micro(MicroFrontend::new(cfg)?))
    }

    /// MFCC with `cfg`.
    pub fn mfcc(cfg: MfccConfig) -> Result<Self> {
        Ok(FeatureExtractor::Mfcc(Mfcc::new(cfg)?))
    }

    /// Frames for a clip of `samples` samples.
    pub fn num_frames(&self, samples: usize) -> usize {
        match self {
            FeatureExtractor::Micro(m) => m.num_frames(samples),
            FeatureExtractor::Mfcc(m) => m.num_frames(samples),
        }
    }

    /// Values per frame (channels or coefficients).
    pub fn num_coefficients(&self) -> usize {
        match self {
            FeatureExtractor::Micro(m) => m.num_channels(),
            FeatureExtractor::Mfcc(m) => m.num_coefficients(),
        }
    }

    /// Float features of one int16 clip, `num_frames * num_coefficients`, frame-major.
    pub fn compute(&mut self, clip: &[i16]) -> Vec<f32> {
        match self {
            FeatureExtractor::Micro(m) => m
                .compute(clip)
                .into_iter()
                .map(micro_frontend::to_float)
                .collect(),
            FeatureExtractor::Mfcc(m) => m.compute_i16(clip),
        }
    }

    /// Features of `clips` (equal-length clips of `clip_samples`, one after another), in parallel.
    ///
    /// Returns `N * num_frames * num_coefficients` values.
    pub fn batch(&self, clips: &[i16], clip_samples: usize) -> Result<Vec<f32>> {
        if clip_samples == 0 || !clips.len().is_multiple_of(clip_samples) {
            return Err(Error::Shape(format!(
                "features: {} samples are not whole clips of {clip_samples}",
                clips.len()
            )));
        }
        let per = self.num_frames(clip_samples) * self.num_coefficients();
        let mut out = vec![0.0f32; clips.len() / clip_samples * per];
        out.par_chunks_mut(per.max(1))
            .zip(clips.par_chunks(clip_samples))
            .for_each_init(
                || self.clone(),
                |fx, (o, c)| o.copy_from_slice(&fx.compute(c)),
            );
        Ok(out)
    }
}

/// Features of every clip as a float32 array `(N, frames, coefficients)`.
pub fn features_array(
    fx: &FeatureExtractor,
    clips: &[i16],
    clip_samples: usize,
) -> Result<NpyArray> {
    let data = fx.batch(clips, clip_samples)?;
    Ok(NpyArray {
        shape: vec![
            clips.len() / clip_samples.max(1),
            fx.num_frames(clip_samples),
            fx.num_coefficients(),
        ],
        data: NpyData::F32(data),
    })
}
