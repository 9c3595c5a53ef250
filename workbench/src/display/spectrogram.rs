//! Feature images (spectrograms, MFCCs) as grayscale PNG pictures.

use super::png::Image;
use crate::{Error, Result};

/// Border between tiles in [`spectrograms_png`], in pixels.
const GAP: usize = 2;
/// Gray level of the border.
const GAP_GRAY: u8 = 128;

/// A `frames x coefficients` feature image (frame-major) as a grayscale picture:
/// time runs left to right, coefficient 0 at the bottom, each value a `scale x scale`
/// block, min..max of the values mapped to black..white.
pub fn spectrogram_png(
    features: &[f32],
    frames: usize,
    coefficients: usize,
    scale: usize,
) -> Result<Image> {
    spectrograms_png(features, 1, frames, coefficients, scale)
}

/// The first `count` feature images of `features` side by side (see [`spectrogram_png`]), each normalised on its own.
pub fn spectrograms_png(
    features: &[f32],
    count: usize,
    frames: usize,
    coefficients: usize,
    scale: usize,
) -> Result<Image> {
    let per = frames * coefficients;
    if count == 0 || per == 0 || scale == 0 {
        return Err(Error::Data(format!(
            "spectrogram_png: empty picture ({count} images of {frames}x{coefficients}, scale {scale})"
        )));
    }
    if features.len() < count * per {
        return Err(Error::Shape(format!(
            "spectrogram_png: {count} images of {frames}x{coefficients} need {} values, got {}",
            count * per,
            features.len()
        )));
    }
    let (tw, th) = (frames * scale, coefficients * scale);
    let width = count * tw + (count + 1) * GAP;
    let height = th + 2 * GAP;
    let mut pixels = vec![GAP_GRAY; width * height];
    for k in 0..count {
        let f = &features[k * per..(k + 1) * per];
        let lo = f.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = f.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let range = if hi > lo { hi - lo } else { 1.0 };
        let x0 = GAP + k * (tw + GAP);
        for y in 0..th {
            let coef = coefficients - 1 - y / scale;
            let row = &mut pixels[(GAP + y) * width + x0..(GAP + y) * width + x0 + tw];
            for (x, p) in row.iter_mut().enumerate() {
                let v = f[(x / scale) * coefficients + coef];
                let g = if v.is_finite() { (v - lo) / range } else { 0.0 };
                *p = (g.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    Image::from_gray(width, height, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_levels() {
        // 2 frames x 3 coefficients: values 0..5, frame-major
        let f: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let img = spectrogram_png(&f, 2, 3, 1).unwrap();
        assert_eq!((img.width(), img.height()), (2 + 2 * GAP, 3 + 2 * GAP));
        let px = |x: usize, y: usize| img.pixels()[(GAP + y) * img.width() + GAP + x];
        // bottom-left is frame 0, coefficient 0 (the minimum): black
        assert_eq!(px(0, 2), 0);
        // top-right is frame 1, coefficient 2 (the maximum): white
        assert_eq!(px(1, 0), 255);
        // frame 0, coefficient 2 = 2 of 0..5
        assert_eq!(px(0, 0), (2.0f32 / 5.0 * 255.0).round() as u8);
        assert!(spectrogram_png(&f[..5], 2, 3, 1).is_err());
        assert!(spectrograms_png(&f, 0, 2, 3, 1).is_err());
    }
}
