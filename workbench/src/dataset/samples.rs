//! The one dataset type: preprocessed features, class labels and the shape of one sample.
//!
//! Every loader ends in [`Samples`]; training ([`crate::train::fit`]),
//! quantization ([`crate::quant::quantize`]), the quantization report and
//! int8 prediction ([`crate::quant::Int8Model::predict`]) all take it.

use candle_core::{Device, Tensor};

use crate::npy::{NpyArray, NpyData};
use crate::{Error, Result};

/// Preprocessed samples: NCHW f32 images and class labels.
#[derive(Clone, Debug)]
pub struct Samples {
    /// `len * C * H * W` values, sample-major, each sample in CHW order.
    pub images: Vec<f32>,
    /// One class index per sample.
    pub labels: Vec<u32>,
    /// `[C, H, W]` of one sample.
    pub shape: [usize; 3],
}

impl Samples {
    /// Samples from flat images and labels, checking that their sizes agree.
    pub fn new(images: Vec<f32>, labels: Vec<u32>, shape: [usize; 3]) -> Result<Self> {
        let per: usize = shape.iter().product();
        if per == 0 || images.len() != labels.len() * per {
            return Err(Error::Shape(format!(
                "samples: {} image values for {} labels of shape {shape:?} (expected {})",
                images.len(),
                labels.len(),
                labels.len() * per
            )));
        }
        Ok(Samples {
            images,
            labels,
            shape,
        })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` samples (all of them if fewer).
    pub fn take(&self, n: usize) -> Samples {
        let n = n.min(self.len());
        let per: usize = self.shape.iter().product();
        Samples {
            images: self.images[..n * per].to_vec(),
            labels: self.labels[..n].to_vec(),
            shape: self.shape,
        }
    }

    /// All images as an `[n, H, W, C]` float32 array: a `.tflite` graph's input layout.
    pub fn to_npy_nhwc(&self) -> NpyArray {
        let [c, h, w] = self.shape;
        let per = c * h * w;
        let mut data = Vec::with_capacity(self.images.len());
        for img in self.images.chunks_exact(per) {
            for p in 0..h * w {
                data.extend((0..c).map(|ch| img[ch * h * w + p]));
            }
        }
        NpyArray {
            shape: vec![self.len(), h, w, c],
            data: NpyData::F32(data),
        }
    }

    /// The labels as class indices (what the debugger's metrics take).
    pub fn class_indices(&self) -> Vec<usize> {
        self.labels.iter().map(|&l| l as usize).collect()
    }

    /// All images as an `[n, C, H, W]` tensor.
    pub fn to_tensor(&self) -> Result<Tensor> {
        let [c, h, w] = self.shape;
        Ok(Tensor::from_slice(
            &self.images,
            (self.len(), c, h, w),
            &Device::Cpu,
        )?)
    }

    /// The images of samples `idx` as an `[n, C, H, W]` tensor, and their labels.
    pub fn gather(&self, idx: &[usize]) -> Result<(Tensor, Tensor)> {
        let per: usize = self.shape.iter().product();
        let mut x = Vec::with_capacity(idx.len() * per);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend_from_slice(&self.images[i * per..(i + 1) * per]);
            y.push(self.labels[i]);
        }
        let [c, h, w] = self.shape;
        Ok((
            Tensor::from_vec(x, (idx.len(), c, h, w), &Device::Cpu)?,
            Tensor::from_vec(y, idx.len(), &Device::Cpu)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nhwc_interleaves_channels_per_pixel() {
        // two samples, 2 channels of 1 x 2 pixels: CHW [c0p0, c0p1, c1p0, c1p1]
        let s = Samples::new(
            vec![1.0, 2.0, 10.0, 20.0, 3.0, 4.0, 30.0, 40.0],
            vec![0, 1],
            [2, 1, 2],
        )
        .unwrap();
        let a = s.to_npy_nhwc();
        assert_eq!(a.shape, vec![2, 1, 2, 2]);
        assert_eq!(
            a.data,
            NpyData::F32(vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0])
        );
        assert_eq!(s.class_indices(), vec![0, 1]);
    }
}
