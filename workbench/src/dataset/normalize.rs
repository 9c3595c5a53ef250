//! Input normalization for datasets, the same one a model carries in its
//! parameters (MLTK's `samplewise_norm.*` keys, see
//! [`workbench_tflite::normalize`], where the type lives so the device bridge
//! applies the very same code).
//!
//! ```
//! use workbench::dataset::normalize::{normalize_samples, InputNormalization};
//! use workbench::dataset::Samples;
//!
//! let mut s = Samples::new(vec![0.0, 255.0, 51.0, 102.0], vec![0, 1], [1, 1, 2]).unwrap();
//! normalize_samples(&mut s, InputNormalization::Rescale(0.5));
//! assert_eq!(s.images, [0.0, 127.5, 25.5, 51.0]);
//! ```

pub use workbench_tflite::normalize::{
    InputNormalization, MEAN_AND_STD_KEY, RESCALE_KEY, STD_EPSILON,
};

use crate::dataset::Samples;

/// Normalizes every sample of `samples` in place.
pub fn normalize_samples(samples: &mut Samples, norm: InputNormalization) {
    let per: usize = samples.shape.iter().product();
    if per > 0 {
        norm.apply_each(&mut samples.images, per);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use workbench_tflite::ModelParams;

    #[test]
    fn mean_std_per_sample_on_known_numbers() {
        // Sample 0: [1, 3] has mean 2, std 1; sample 1: [10, 10, ...] is constant.
        let mut s = Samples::new(vec![1.0, 3.0, 10.0, 10.0], vec![0, 1], [1, 1, 2]).unwrap();
        normalize_samples(&mut s, InputNormalization::MeanStd);
        let want = [-0.999999, 0.999999, 0.0, 0.0];
        for (x, w) in s.images.iter().zip(want) {
            assert!((x - w).abs() < 1e-6, "{:?}", s.images);
        }
    }

    #[test]
    fn a_graph_carries_the_normalization() {
        let mut params = ModelParams::new();
        InputNormalization::Rescale(1.0 / 255.0).write(&mut params);
        assert_eq!(
            params.get(RESCALE_KEY).and_then(|v| v.as_f64()),
            Some(f64::from(1.0f32 / 255.0))
        );
        assert_eq!(
            InputNormalization::from_params(&params).unwrap(),
            InputNormalization::Rescale(1.0 / 255.0)
        );
    }
}
