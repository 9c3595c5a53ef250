//! The MobileNet tutorial's float training: MobileNetV1 on an ImageFolder
//! tree (`train/`, `val/`) through the image loader (random resized crops
//! and flips for training, resize + centre crop for validation), SGD with
//! Nesterov momentum and weight decay (none on biases and batch norms),
//! then `model.safetensors` and `metrics.json` with the float accuracy.
//! Quantization is not part of this step yet.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dataset::images::{ImageFolder, Loader, LoaderOptions, Normalize, Transform};
use crate::models::{mobilenet_v1, MobileNetV1Config};
use crate::train::{
    evaluate, fit, FitConfig, History, Length, OptimizerChoice, Sequential, SgdConfig,
};
use crate::{Error, Result};

/// Settings of [`train`]; the defaults are a short run of MobileNetV1 0.25 at 96x96.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetTrainConfig {
    /// Width multiplier (default 0.25).
    pub width: f64,
    /// Input side (default 96).
    pub resolution: usize,
    /// Passes over the training images (default 5).
    pub epochs: usize,
    /// Images per step (default 32).
    pub batch_size: usize,
    /// SGD's learning rate (default 0.1).
    pub learning_rate: f64,
    /// SGD's momentum, Nesterov (default 0.9).
    pub momentum: f64,
    /// Weight decay of the weights; biases and batch norms have none (default 4e-5).
    pub weight_decay: f64,
    /// Seed of the weights, the order and the augmentation (default 0).
    pub seed: u64,
    /// Show progress (default on).
    pub progress: bool,
}

impl Default for MobileNetTrainConfig {
    fn default() -> Self {
        MobileNetTrainConfig {
            width: 0.25,
            resolution: 96,
            epochs: 5,
            batch_size: 32,
            learning_rate: 0.1,
            momentum: 0.9,
            weight_decay: 4e-5,
            seed: 0,
            progress: true,
        }
    }
}

/// The numbers of a run (written to `metrics.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MobileNetMetrics {
    /// Class names, index order.
    pub classes: Vec<String>,
    /// Images per split: training, validation.
    pub images: [usize; 2],
    /// Width multiplier.
    pub width: f64,
    /// Input side.
    pub resolution: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Float validation loss after training.
    pub val_loss: f32,
    /// Float validation accuracy after training.
    pub val_accuracy: f32,
    /// Training images per second (over the whole run, validation excluded).
    pub samples_per_second: f64,
}

/// A trained model with its history and numbers.
#[derive(Debug)]
pub struct MobileNetRun {
    /// The float model (batch norms not folded).
    pub model: Sequential,
    /// One record per epoch.
    pub history: History,
    /// The headline numbers.
    pub metrics: MobileNetMetrics,
}

/// Trains MobileNetV1 on the ImageFolder tree at `root` (`train/`, `val/`).
pub fn train(root: &Path, cfg: &MobileNetTrainConfig) -> Result<MobileNetRun> {
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(Error::Config(format!(
            "mobilenet train: epochs {} and batch size {} must be positive",
            cfg.epochs, cfg.batch_size
        )));
    }
    let (train_set, val_set) = ImageFolder::splits(root)?;
    let classes = train_set.classes.clone();
    let images = [train_set.len(), val_set.len()];
    let opts = LoaderOptions {
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        ..Default::default()
    };
    let loader = Loader::new(
        train_set,
        Transform::train(cfg.resolution),
        Normalize::IMAGENET,
        opts,
    )?;
    let val = Loader::new(
        val_set,
        Transform::eval(cfg.resolution),
        Normalize::IMAGENET,
        opts,
    )?
    .all()?;
    let model = mobilenet_v1(&MobileNetV1Config {
        width: cfg.width,
        resolution: cfg.resolution,
        classes: classes.len(),
        seed: cfg.seed,
        ..Default::default()
    })?;
    let fit_cfg = FitConfig {
        length: Length::Epochs(cfg.epochs),
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        optimizer: OptimizerChoice::Sgd {
            config: SgdConfig {
                momentum: cfg.momentum,
                nesterov: cfg.momentum > 0.0,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
            decay_vectors: false,
        },
        seed: cfg.seed,
        progress: cfg.progress,
        ..Default::default()
    };
    let history = fit(&model, &loader, Some(&val), &fit_cfg)?;
    let (val_loss, val_accuracy) = evaluate(&model, &val)?;
    let metrics = MobileNetMetrics {
        classes,
        images,
        width: cfg.width,
        resolution: cfg.resolution,
        params: model.vars().iter().map(|v| v.elem_count()).sum(),
        epochs: history.records.len(),
        val_loss,
        val_accuracy,
        samples_per_second: (images[0] * history.records.len()) as f64
            / history.train_seconds().max(1e-9),
    };
    Ok(MobileNetRun {
        model,
        history,
        metrics,
    })
}

impl MobileNetRun {
    /// Writes `model.safetensors` and `metrics.json` into `dir`; returns their paths.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let weights = dir.join("model.safetensors");
        self.model.save(&weights)?;
        let metrics = dir.join("metrics.json");
        let json = serde_json::to_string_pretty(&self.metrics)
            .map_err(|e| Error::Data(format!("metrics.json: {e}")))?;
        std::fs::write(&metrics, json).map_err(|e| Error::io(&metrics, e))?;
        Ok(vec![weights, metrics])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_and_missing_data_are_errors() {
        let cfg = MobileNetTrainConfig {
            epochs: 0,
            ..Default::default()
        };
        let e = train(Path::new("/nonexistent"), &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("epochs 0"), "{e}");
        let e = train(Path::new("/nonexistent"), &MobileNetTrainConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent"), "{e}");
    }
}
