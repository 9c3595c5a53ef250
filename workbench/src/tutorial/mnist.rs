//! The MNIST tutorial end to end: train the handwriting CNN, quantize it to
//! int8, evaluate both, report, estimate and export for a microcontroller.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dataset::mnist::Mnist;
use crate::estimate::{estimate, Estimate};
use crate::metrics::{accuracy, ConfusionMatrix};
use crate::quant::{self, Int8Model, QuantReport};
use crate::train::{self, FitConfig, History, Length, Sequential};
use crate::{Error, Result};

/// Images per sample: one channel of 28 x 28.
pub const INPUT_SHAPE: [usize; 3] = [1, 28, 28];

/// Settings of a tutorial run.
#[derive(Debug, Clone)]
pub struct MnistConfig {
    /// Epochs of training (default 5).
    pub epochs: usize,
    /// Batch size (default 64).
    pub batch_size: usize,
    /// Use only the first N training images (default: all).
    pub train_limit: Option<usize>,
    /// Representative images for calibration (default 1,000 training images).
    pub representative: usize,
    /// Debug images for the quantization report (default 200 test images).
    pub debug_examples: usize,
    /// Seed for initialisation and shuffling (default 0).
    pub seed: u64,
    /// Show progress bars (default true).
    pub progress: bool,
}

impl Default for MnistConfig {
    fn default() -> Self {
        MnistConfig {
            epochs: 5,
            batch_size: 64,
            train_limit: None,
            representative: 1000,
            debug_examples: 200,
            seed: 0,
            progress: true,
        }
    }
}

/// The numbers written to `metrics.json`.
#[derive(Debug, Clone, Serialize)]
pub struct MnistMetrics {
    /// Test accuracy of the float model.
    pub float_accuracy: f64,
    /// Test accuracy of the int8 model.
    pub int8_accuracy: f64,
    /// Constant tensor bytes of the int8 model.
    pub rom_bytes: usize,
    /// Activation bytes with no buffer sharing.
    pub ram_bytes_worst: usize,
    /// Activation bytes with two live buffers.
    pub ram_bytes_best: usize,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// Size of the `.tflite` file.
    pub tflite_bytes: usize,
    /// Training images used.
    pub train_images: usize,
    /// Test images evaluated.
    pub test_images: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Training throughput over the whole run.
    pub train_samples_per_s: f64,
    /// Where the data came from.
    pub data_source: String,
    /// Confusion matrix and per-class scores of the int8 model.
    pub int8_confusion: ConfusionMatrix,
}

/// Everything a tutorial run produced.
#[derive(Debug)]
pub struct MnistRun {
    /// The trained float model.
    pub model: Sequential,
    /// Per-epoch training history.
    pub history: History,
    /// The int8 model.
    pub int8: Int8Model,
    /// The quantization report.
    pub report: QuantReport,
    /// ROM/RAM/MAC estimates.
    pub estimate: Estimate,
    /// The headline numbers.
    pub metrics: MnistMetrics,
    /// The `.tflite` bytes.
    pub tflite: Vec<u8>,
}

/// Trains, quantizes, evaluates, reports and estimates on `data`.
pub fn run(data: &Mnist, data_source: &str, cfg: &MnistConfig) -> Result<MnistRun> {
    let n_train = cfg
        .train_limit
        .unwrap_or(usize::MAX)
        .min(data.train_labels.len());
    let n_test = data.test_labels.len();
    let train_set = data.train_samples(n_train)?;
    let test_set = data.test_samples(n_test)?;

    let model = crate::models::mnist_cnn(cfg.seed)?;
    let fit_cfg = FitConfig {
        length: Length::Epochs(cfg.epochs),
        batch_size: cfg.batch_size,
        seed: cfg.seed,
        progress: cfg.progress,
        ..FitConfig::default()
    };
    let t0 = std::time::Instant::now();
    let history = train::fit(&model, &train_set, Some(&test_set), &fit_cfg)?;
    let train_secs = t0.elapsed().as_secs_f64();

    let (_, float_acc) = train::evaluate(&model, &test_set)?;

    let n_rep = cfg.representative.min(n_train);
    let int8 = quant::quantize(&model, &train_set.take(n_rep))?;
    let preds = int8.predict(&test_set)?;
    let truth: Vec<usize> = test_set.labels.iter().map(|&l| l as usize).collect();
    let int8_acc = accuracy(&preds, &truth);
    let confusion = ConfusionMatrix::from_predictions(&preds, &truth, 10)?;

    let n_debug = cfg.debug_examples.min(n_test);
    let report = quant::quant_report(&model, &int8, &test_set.take(n_debug))?;
    let est = estimate(&int8.graph);
    let tflite = crate::tflite::export::write(&int8.graph)?;

    let metrics = MnistMetrics {
        float_accuracy: float_acc as f64,
        int8_accuracy: int8_acc,
        rom_bytes: est.rom_bytes,
        ram_bytes_worst: est.ram_bytes_worst,
        ram_bytes_best: est.ram_bytes_best,
        macs: est.macs,
        tflite_bytes: tflite.len(),
        train_images: n_train,
        test_images: n_test,
        epochs: cfg.epochs,
        train_samples_per_s: (n_train * cfg.epochs) as f64 / train_secs,
        data_source: data_source.to_string(),
        int8_confusion: confusion,
    };
    Ok(MnistRun {
        model,
        history,
        int8,
        report,
        estimate: est,
        metrics,
        tflite,
    })
}

impl MnistRun {
    /// Writes `model.safetensors`, `model_int8.tflite`, `model_int8.cc`, `quant_report.csv` and `metrics.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let p = |f: &str| dir.join(f);
        self.model.save(&p("model.safetensors"))?;
        write(&p("model_int8.tflite"), &self.tflite)?;
        let c = crate::tflite::c_array::to_c_array(&self.tflite, "g_model");
        write(&p("model_int8.cc"), c.as_bytes())?;
        self.report.write_csv(&p("quant_report.csv"))?;
        let json = serde_json::to_string_pretty(&self.metrics)
            .map_err(|e| Error::Data(format!("metrics.json: {e}")))?;
        write(&p("metrics.json"), json.as_bytes())?;
        Ok([
            "model.safetensors",
            "model_int8.tflite",
            "model_int8.cc",
            "quant_report.csv",
            "metrics.json",
        ]
        .iter()
        .map(|f| p(f))
        .collect())
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}
