//! Input normalization a model carries in its parameters: what to do to a
//! sample's float values before they enter the model.
//!
//! The keys and their meaning are Silicon Labs MLTK's (its "Model
//! Quantization Tips" tutorial and `mltk.core.preprocess.utils.normalize`):
//!
//! | key | type | meaning |
//! |---|---|---|
//! | `samplewise_norm.rescale` | float | `x * rescale`; `0` means unused |
//! | `samplewise_norm.mean_and_std` | bool | per sample, `(x - mean(x)) / (std(x) + 1e-6)` |
//!
//! `std` is the population standard deviation (divide by `n`, numpy's
//! default) and the `1e-6` is MLTK's training-side floor ([`STD_EPSILON`]),
//! so a constant sample maps to zeros instead of NaN. MLTK's device apps
//! compute `1 / std` without the floor; the two agree to about `1e-6 / std`.
//!
//! When both keys are set, MLTK's training applied the rescale and then the
//! mean/std step, and mean/std cancels any scale, so [`InputNormalization::from_params`]
//! returns [`InputNormalization::MeanStd`]. (MLTK's device apps apply only the
//! rescale in that case; we follow the training, which the model was fitted to.)
//!
//! MLTK's image apps feed an int8 model without either key raw `uint8` pixels
//! minus 128; that is no normalization plus the input's own quantization
//! when its scale is 1 and zero point -128, so it has no variant here.

use alloc::format;

use crate::error::{Error, Result};
use crate::params::{ModelParams, ParamValue};

/// Parameter key of the rescale factor (float, `0` = unused).
pub const RESCALE_KEY: &str = "samplewise_norm.rescale";

/// Parameter key of the per-sample mean/std switch (bool).
pub const MEAN_AND_STD_KEY: &str = "samplewise_norm.mean_and_std";

/// Added to the standard deviation before dividing, as MLTK's training does.
pub const STD_EPSILON: f32 = 1e-6;

/// How to normalize a sample's float values before the model sees them.
///
/// ```
/// use workbench_tflite::normalize::InputNormalization;
/// use workbench_tflite::ModelParams;
///
/// let norm = InputNormalization::Rescale(1.0 / 255.0);
/// let mut params = ModelParams::new();
/// norm.write(&mut params);
/// assert_eq!(InputNormalization::from_params(&params).unwrap(), norm);
///
/// let mut pixels = [0.0, 127.5, 255.0];
/// norm.apply(&mut pixels);
/// assert_eq!(pixels, [0.0, 0.5, 1.0]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum InputNormalization {
    /// Values go in as they are.
    #[default]
    None,
    /// `x * factor` (MLTK's `samplewise_norm.rescale`).
    Rescale(f32),
    /// Per sample `(x - mean(x)) / (std(x) + 1e-6)` (MLTK's `samplewise_norm.mean_and_std`).
    MeanStd,
}

impl InputNormalization {
    /// Normalizes one sample in place.
    pub fn apply(&self, sample: &mut [f32]) {
        match *self {
            InputNormalization::None => {}
            InputNormalization::Rescale(factor) => sample.iter_mut().for_each(|x| *x *= factor),
            InputNormalization::MeanStd => {
                if sample.is_empty() {
                    return;
                }
                // f64 sums: a 96x96x3 image of values near 255 loses digits in f32.
                let n = sample.len() as f64;
                let mean = sample.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
                let var = sample
                    .iter()
                    .map(|&x| (f64::from(x) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                let denom = var.sqrt() + f64::from(STD_EPSILON);
                sample
                    .iter_mut()
                    .for_each(|x| *x = ((f64::from(*x) - mean) / denom) as f32);
            }
        }
    }

    /// Normalizes every sample of `sample_len` values in `values` (sample-major).
    ///
    /// # Panics
    /// If `sample_len` is 0 or does not divide `values.len()`.
    pub fn apply_each(&self, values: &mut [f32], sample_len: usize) {
        assert!(
            sample_len > 0 && values.len().is_multiple_of(sample_len),
            "apply_each: {} values are not whole samples of {sample_len}",
            values.len()
        );
        values
            .chunks_exact_mut(sample_len)
            .for_each(|s| self.apply(s));
    }

    /// Writes both MLTK keys (the unused one as `0` or `false`), as MLTK's models carry them.
    pub fn write(&self, params: &mut ModelParams) {
        let (rescale, mean_and_std) = match *self {
            InputNormalization::None => (0.0, false),
            InputNormalization::Rescale(factor) => (factor, false),
            InputNormalization::MeanStd => (0.0, true),
        };
        params.set(RESCALE_KEY, rescale);
        params.set(MEAN_AND_STD_KEY, mean_and_std);
    }

    /// Reads the normalization from MLTK's keys; absent keys mean unused.
    ///
    /// Any numeric type is accepted for the rescale (MLTK writes `0.0` as a
    /// double) and a bool or integer for mean/std; other types are errors.
    pub fn from_params(params: &ModelParams) -> Result<Self> {
        let wrong = |key: &str, v: &ParamValue, expected: &str| {
            Error::msg(format!(
                "model parameter {key}: expected {expected}, got {} {v}",
                v.type_name()
            ))
        };
        let rescale = match params.get(RESCALE_KEY) {
            None => 0.0,
            Some(v) => v
                .as_f64()
                .ok_or_else(|| wrong(RESCALE_KEY, v, "a number"))?,
        };
        let mean_and_std = match params.get(MEAN_AND_STD_KEY) {
            None => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| wrong(MEAN_AND_STD_KEY, v, "a bool"))?,
        };
        if !rescale.is_finite() {
            return Err(Error::msg(format!(
                "model parameter {RESCALE_KEY}: {rescale} is not a finite number"
            )));
        }
        Ok(if mean_and_std {
            InputNormalization::MeanStd
        } else if rescale != 0.0 {
            InputNormalization::Rescale(rescale as f32)
        } else {
            InputNormalization::None
        })
    }
}

/// `none`, `rescale x * 0.003921569` or `samplewise (x - mean) / (std + 1e-6)`.
impl core::fmt::Display for InputNormalization {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InputNormalization::None => f.write_str("none"),
            InputNormalization::Rescale(factor) => write!(f, "rescale x * {factor}"),
            InputNormalization::MeanStd => {
                write!(f, "samplewise (x - mean) / (std + {STD_EPSILON:e})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn rescale_multiplies() {
        let mut x = [0.0, 127.5, 255.0];
        InputNormalization::Rescale(1.0 / 255.0).apply(&mut x);
        close(&x, &[0.0, 0.5, 1.0]);
    }

    #[test]
    fn mean_std_on_known_numbers() {
        // mean 2.5; population variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25;
        // std 1.1180340; (1 - 2.5) / (1.1180340 + 1e-6) = -1.3416395.
        let mut x = [1.0, 2.0, 3.0, 4.0];
        InputNormalization::MeanStd.apply(&mut x);
        close(&x, &[-1.3416395, -0.4472132, 0.4472132, 1.3416395]);
    }

    #[test]
    fn mean_std_of_a_constant_sample_is_zeros_not_nan() {
        let mut x = [7.0; 5];
        InputNormalization::MeanStd.apply(&mut x);
        assert_eq!(x, [0.0; 5]);
    }

    #[test]
    fn apply_each_normalizes_samples_separately() {
        let mut x = [0.0, 2.0, 10.0, 30.0];
        InputNormalization::MeanStd.apply_each(&mut x, 2);
        // Each pair is (m - d, m + d): -1 and +1 up to the epsilon.
        close(&x, &[-0.999999, 0.999999, -0.9999999, 0.9999999]);
    }

    #[test]
    fn write_then_from_params_round_trips() {
        for norm in [
            InputNormalization::None,
            InputNormalization::Rescale(0.5),
            InputNormalization::MeanStd,
        ] {
            let mut p = ModelParams::new();
            norm.write(&mut p);
            assert_eq!(p.len(), 2);
            assert_eq!(InputNormalization::from_params(&p).unwrap(), norm);
        }
    }

    #[test]
    fn from_params_reads_mltk_types() {
        // MLTK's Python writer stores 0.0 as a double and may store ints.
        let mut p = ModelParams::new();
        p.set(RESCALE_KEY, 0.0f64);
        p.set(MEAN_AND_STD_KEY, 1u8);
        assert_eq!(
            InputNormalization::from_params(&p).unwrap(),
            InputNormalization::MeanStd
        );
        assert_eq!(
            InputNormalization::from_params(&ModelParams::new()).unwrap(),
            InputNormalization::None
        );
    }

    #[test]
    fn both_keys_set_means_mean_std() {
        let mut p = ModelParams::new();
        p.set(RESCALE_KEY, 1.0f32 / 255.0);
        p.set(MEAN_AND_STD_KEY, true);
        assert_eq!(
            InputNormalization::from_params(&p).unwrap(),
            InputNormalization::MeanStd
        );
    }

    #[test]
    fn wrong_types_are_errors_naming_the_key() {
        let mut p = ModelParams::new();
        p.set(RESCALE_KEY, "1/255");
        let err = InputNormalization::from_params(&p).unwrap_err().to_string();
        assert_eq!(
            err,
            "model parameter samplewise_norm.rescale: expected a number, got str \"1/255\""
        );
        let mut p = ModelParams::new();
        p.set(MEAN_AND_STD_KEY, vec![1.0f32]);
        assert!(InputNormalization::from_params(&p).is_err());
    }

    #[test]
    fn display() {
        assert_eq!(InputNormalization::None.to_string(), "none");
        assert_eq!(
            InputNormalization::Rescale(0.5).to_string(),
            "rescale x * 0.5"
        );
        assert_eq!(
            InputNormalization::MeanStd.to_string(),
            "samplewise (x - mean) / (std + 1e-6)"
        );
    }
}
