//! The image transforms of the MobileNet tutorial, as torchvision defines them:
//! `RandomResizedCrop` and a horizontal flip for training, `Resize` and
//! `CenterCrop` for evaluation, `ToTensor` + `Normalize`, and the integerising
//! transform `floor(x / eps)` of QuantLib's true-integer evaluation.

use image::imageops::{self, FilterType};
use image::RgbImage;
use rand::rngs::StdRng;
use rand::Rng;

use crate::{Error, Result};

/// torchvision's `RandomResizedCrop`: a random region of random area and aspect
/// ratio, resized to `size` x `size`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomResizedCrop {
    /// Output side in pixels.
    pub size: usize,
    /// Range of the region's area as a fraction of the image's.
    pub scale: (f64, f64),
    /// Range of the region's width / height.
    pub ratio: (f64, f64),
}

impl Default for RandomResizedCrop {
    fn default() -> Self {
        RandomResizedCrop {
            size: 224,
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
        }
    }
}

impl RandomResizedCrop {
    /// The region `(top, left, height, width)` for an image of `width` x `height`:
    /// ten tries of a random area and log-uniform ratio, else a centre crop
    /// clamped to the ratio range (torchvision's `get_params`).
    pub fn region(
        &self,
        width: usize,
        height: usize,
        rng: &mut StdRng,
    ) -> (usize, usize, usize, usize) {
        let area = (width * height) as f64;
        let (log_lo, log_hi) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target = area * rng.random_range(self.scale.0..=self.scale.1);
            let aspect = rng.random_range(log_lo..=log_hi).exp();
            // Python's round(): ties to even.
            let w = (target * aspect).sqrt().round_ties_even() as usize;
            let h = (target / aspect).sqrt().round_ties_even() as usize;
            if 0 < w && w <= width && 0 < h && h <= height {
                let top = rng.random_range(0..=height - h);
                let left = rng.random_range(0..=width - w);
                return (top, left, h, w);
            }
        }
        let in_ratio = width as f64 / height as f64;
        let (w, h) = if in_ratio < self.ratio.0 {
            (
                width,
                (width as f64 / self.ratio.0).round_ties_even() as usize,
            )
        } else if in_ratio > self.ratio.1 {
            (
                (height as f64 * self.ratio.1).round_ties_even() as usize,
                height,
            )
        } else {
            (width, height)
        };
        ((height - h) / 2, (width - w) / 2, h, w)
    }
}

/// A pipeline from a decoded image to a square RGB image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Transform {
    /// Training: [`RandomResizedCrop`], then a horizontal flip with probability 1/2 when `flip`.
    Train {
        /// The random crop.
        crop: RandomResizedCrop,
        /// Whether to flip half of the images.
        flip: bool,
    },
    /// Evaluation: the shorter side resized to `resize`, then the centre `crop` x `crop`.
    Eval {
        /// Shorter side after resizing.
        resize: usize,
        /// Side of the centre crop.
        crop: usize,
    },
}

impl Transform {
    /// The tutorial's training transform for `size` x `size` inputs.
    pub fn train(size: usize) -> Self {
        Transform::Train {
            crop: RandomResizedCrop {
                size,
                ..RandomResizedCrop::default()
            },
            flip: true,
        }
    }

    /// The tutorial's evaluation transform: resize to `size / 0.875` (256 for 224), centre crop `size`.
    pub fn eval(size: usize) -> Self {
        Transform::Eval {
            resize: (size as f64 / 0.875) as usize,
            crop: size,
        }
    }

    /// Side of the square output.
    pub fn size(&self) -> usize {
        match *self {
            Transform::Train { crop, .. } => crop.size,
            Transform::Eval { crop, .. } => crop,
        }
    }

    /// Checks the sizes: non-zero, and a centre crop no larger than the resize.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Transform::Train { crop, .. } => {
                let ok = crop.size > 0
                    && 0.0 < crop.scale.0
                    && crop.scale.0 <= crop.scale.1
                    && 0.0 < crop.ratio.0
                    && crop.ratio.0 <= crop.ratio.1;
                if !ok {
                    return Err(Error::Config(format!(
                        "RandomResizedCrop {crop:?}: size, scale or ratio out of range"
                    )));
                }
            }
            Transform::Eval { resize, crop } => {
                if crop == 0 || resize < crop {
                    return Err(Error::Config(format!(
                        "eval transform: centre crop {crop} must be positive and at most the resize {resize}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// `img` transformed (random choices drawn from `rng`).
    pub fn apply(&self, img: &RgbImage, rng: &mut StdRng) -> RgbImage {
        let (w, h) = (img.width() as usize, img.height() as usize);
        match *self {
            Transform::Train { crop, flip } => {
                let (top, left, ch, cw) = crop.region(w, h, rng);
                let region = imageops::crop_imm(img, left as u32, top as u32, cw as u32, ch as u32)
                    .to_image();
                let s = crop.size as u32;
                let mut out = imageops::resize(&region, s, s, FilterType::Triangle);
                if flip && rng.random_bool(0.5) {
                    imageops::flip_horizontal_in_place(&mut out);
                }
                out
            }
            Transform::Eval { resize, crop } => {
                let resized = resize_shorter(img, resize);
                center_crop(&resized, crop)
            }
        }
    }
}

/// torchvision's `Resize(size)`: the shorter side becomes `size`, the longer
/// `int(size * long / short)`, with an antialiased bilinear (triangle) filter.
pub fn resize_shorter(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = if w <= h {
        (size, size * h / w)
    } else {
        (size * w / h, size)
    };
    if (nw, nh) == (w, h) {
        return img.clone();
    }
    imageops::resize(img, nw as u32, nh as u32, FilterType::Triangle)
}

/// torchvision's `CenterCrop(size)` of an image at least `size` on each side
/// (offsets `round((side - size) / 2)`, ties to even).
pub fn center_crop(img: &RgbImage, size: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let size_w = size.min(w);
    let size_h = size.min(h);
    let top = ((h - size_h) as f64 / 2.0).round_ties_even() as u32;
    let left = ((w - size_w) as f64 / 2.0).round_ties_even() as u32;
    imageops::crop_imm(img, left, top, size_w as u32, size_h as u32).to_image()
}

/// `ToTensor` then `Normalize(mean, std)`: `(pixel / 255 - mean[c]) / std[c]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    /// Per-channel mean (RGB).
    pub mean: [f32; 3],
    /// Per-channel standard deviation (RGB).
    pub std: [f32; 3],
}

impl Normalize {
    /// ImageNet's statistics, the tutorial's normalization.
    pub const IMAGENET: Normalize = Normalize {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// The image as CHW floats written to `out` (`3 * h * w` values).
    pub fn to_chw(&self, img: &RgbImage, out: &mut [f32]) {
        let plane = (img.width() * img.height()) as usize;
        debug_assert_eq!(out.len(), 3 * plane);
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                out[c * plane + i] = (f32::from(px[c]) / 255.0 - self.mean[c]) / self.std[c];
            }
        }
    }

    /// CHW floats back to row-major RGB bytes (the inverse of [`Normalize::to_chw`], rounded
    /// and saturated), for showing what a network sees.
    pub fn to_rgb8(&self, chw: &[f32]) -> Vec<u8> {
        let plane = chw.len() / 3;
        (0..plane * 3)
            .map(|k| {
                let (i, c) = (k / 3, k % 3);
                let v = (chw[c * plane + i] * self.std[c] + self.mean[c]) * 255.0;
                v.round().clamp(0.0, 255.0) as u8
            })
            .collect()
    }
}

/// QuantLib's integerising input transform: `floor(x / eps)`, saturated to int8.
pub fn integerize(x: f32, eps: f32) -> i8 {
    (x / eps).floor().clamp(-128.0, 127.0) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_rgb8_undoes_to_chw() {
        let img = RgbImage::from_fn(3, 2, |x, y| image::Rgb([x as u8 * 100, y as u8 * 255, 7]));
        let mut chw = vec![0.0; 3 * 6];
        Normalize::IMAGENET.to_chw(&img, &mut chw);
        assert_eq!(Normalize::IMAGENET.to_rgb8(&chw), img.into_raw());
    }
}
