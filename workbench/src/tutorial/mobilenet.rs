//! The MobileNet tutorial: MobileNetV1 on an ImageFolder tree (`train/`,
//! `val/`) through the image loader (random resized crops and flips for
//! training, resize + centre crop for validation), SGD with Nesterov
//! momentum and weight decay (none on biases and batch norms); then
//! QuantLib's PACT flow: float-to-fake ([`f2f`](crate::quant::f2f): batch
//! norms kept, an observation pass over the validation images setting the
//! clips, fine-tuning with `PACTSGD`), fake-to-true ([`f2t`](crate::quant::f2t):
//! eps propagation, requantization with `D = 2^24`), and the float,
//! fake-quantized and integer accuracies on the same images with the
//! agreement of fake and true predictions; and the TFLite int8 form
//! ([`PactModel::to_tflite`]: batch norms folded, the clips as activation
//! ranges) with its accuracy in our interpreter. `model.safetensors`,
//! `model_pact.safetensors`, `config.json` (what [`eval`] needs to rebuild
//! the networks; these three are written by [`train`] as soon as they exist when
//! [`MobileNetTrainConfig::checkpoint_dir`] is set), `model_int8.tflite`,
//! `model_integer.onnx` (DORY-style, [`pact_onnx`](crate::quant::pact_onnx)),
//! the per-layer feature dump of the first validation image (`features/`,
//! [`features`](crate::quant::features)) and `metrics.json` are written;
//! [`eval`] evaluates a saved run on another image set.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::images::{ImageFolder, Loader, LoaderOptions, Normalize, Transform};
use crate::metrics;
use crate::models::{mobilenet_v1, MobileNetV1Config};
use crate::quant::f2f::{ClipInit, F2fConfig, Granularity, PactModel};
use crate::quant::f2t::{self, PactIntegerNetwork};
use crate::quant::features::dump_features;
use crate::quant::Int8Model;
use crate::train::{
    evaluate, fit, predict, FitConfig, History, Length, Network, OptimizerChoice,
    PiecewiseConstant, Samples, Sequential, SgdConfig,
};
use crate::{Error, Result};

/// Settings of [`train`]; the defaults are a short run of MobileNetV1 0.25 at 96x96.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetTrainConfig {
    /// Width multiplier (default 0.25).
    pub width: f64,
    /// Input side (default 96).
    pub resolution: usize,
    /// Passes over the training images (default 30).
    pub epochs: usize,
    /// Images per step (default 32).
    pub batch_size: usize,
    /// SGD's starting learning rate, divided by 10 after half of the float steps and again after three quarters (default 0.1).
    pub learning_rate: f64,
    /// SGD's momentum, Nesterov (default 0.9).
    pub momentum: f64,
    /// Weight decay of the weights; biases and batch norms have none (default 4e-5).
    pub weight_decay: f64,
    /// Seed of the weights, the order and the augmentation (default 0).
    pub seed: u64,
    /// Show progress (default on).
    pub progress: bool,
    /// Passes of PACT fine-tuning after the float training (default 1; 0: observation only).
    pub qat_epochs: usize,
    /// SGD's learning rate while fine-tuning (default 0.001, where the float phase ends).
    pub qat_learning_rate: f64,
    /// Weight decay of the PACT clips (QuantLab's `pact_decay`, default 1e-3).
    pub pact_decay: f64,
    /// Weight quanta per channel or per layer (default per channel).
    pub granularity: Granularity,
    /// How the observation pass sets the clips (default min-max).
    pub clip_init: ClipInit,
    /// Images per class in each split, for quick runs (default all).
    pub limit: Option<usize>,
    /// Where [`train`] writes `model.safetensors` after the float training and
    /// `model_pact.safetensors` and `config.json` after the fine-tuning, before
    /// the steps that can fail (default none).
    pub checkpoint_dir: Option<PathBuf>,
}

impl MobileNetTrainConfig {
    /// The defaults, usable in constants (the CLI's flags show them).
    pub const DEFAULT: MobileNetTrainConfig = MobileNetTrainConfig {
        width: 0.25,
        resolution: 96,
        epochs: 30,
        batch_size: 32,
        learning_rate: 0.1,
        momentum: 0.9,
        weight_decay: 4e-5,
        seed: 0,
        progress: true,
        qat_epochs: 1,
        qat_learning_rate: 0.001,
        pact_decay: 1e-3,
        granularity: Granularity::PerChannel,
        clip_init: ClipInit::MinMax,
        limit: None,
        checkpoint_dir: None,
    };
}

impl Default for MobileNetTrainConfig {
    fn default() -> Self {
        MobileNetTrainConfig::DEFAULT
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
    /// PACT fine-tuning epochs.
    pub qat_epochs: usize,
    /// Fine-tuning images per second (validation excluded; 0 without fine-tuning).
    pub qat_samples_per_second: f64,
    /// Float validation accuracy (as `val_accuracy`).
    pub float_accuracy: f32,
    /// Fake-quantized validation accuracy right after the observation pass, before fine-tuning.
    pub observed_accuracy: f32,
    /// Fake-quantized validation accuracy after fine-tuning.
    pub fake_quant_accuracy: f32,
    /// Accuracy of the integer network (QuantLib's F2T) on the same images.
    pub integer_accuracy: f32,
    /// Accuracy of the TFLite int8 form (`model_int8.tflite`) in our interpreter on the same images.
    pub tflite_int8_accuracy: Option<f32>,
    /// Share of validation images on which the fake-quantized and integer networks predict the same class.
    pub agreement: f64,
}

/// A trained model with its history and numbers.
#[derive(Debug)]
pub struct MobileNetRun {
    /// The float model (batch norms not folded).
    pub model: Sequential,
    /// One record per epoch.
    pub history: History,
    /// The fake-quantized model after fine-tuning.
    pub pact: PactModel,
    /// Each PACT clip as the observation pass set it, before fine-tuning (layer name, clip).
    pub observed_clips: Vec<(String, f32)>,
    /// Its fine-tuning history (one record per epoch).
    pub qat_history: History,
    /// The integer network.
    pub integer: PactIntegerNetwork,
    /// The TFLite int8 form ([`PactModel::to_tflite`]).
    pub int8: Int8Model,
    /// The headline numbers.
    pub metrics: MobileNetMetrics,
    /// The first validation image (CHW, normalized), whose integer features [`MobileNetRun::save`] dumps.
    pub sample: Vec<f32>,
}

/// What a saved run needs to rebuild its networks (written to `config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MobileNetRunConfig {
    /// Width multiplier.
    pub width: f64,
    /// Input side.
    pub resolution: usize,
    /// Class names, index order.
    pub classes: Vec<String>,
    /// One weight quantum per layer (else per output channel).
    pub per_layer: bool,
    /// The input's quantum.
    pub input_eps: f32,
}

/// Trains MobileNetV1 on the ImageFolder tree at `root` (`train/`, `val/`).
pub fn train(root: &Path, cfg: &MobileNetTrainConfig) -> Result<MobileNetRun> {
    if cfg.epochs == 0 || cfg.batch_size == 0 {
        return Err(Error::Config(format!(
            "mobilenet train: epochs {} and batch size {} must be positive",
            cfg.epochs, cfg.batch_size
        )));
    }
    let (train_set, val_set) = splits(root, cfg)?;
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
    let val = eval_images(val_set, cfg)?;
    let model = mobilenet_v1(&MobileNetV1Config {
        width: cfg.width,
        resolution: cfg.resolution,
        classes: classes.len(),
        seed: cfg.seed,
        ..Default::default()
    })?;
    // one SGD setting for the float training and the PACT fine-tuning
    let sgd = SgdConfig {
        momentum: cfg.momentum,
        nesterov: cfg.momentum > 0.0,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    };
    let fit_cfg = FitConfig {
        length: Length::Epochs(cfg.epochs),
        batch_size: cfg.batch_size,
        learning_rate: cfg.learning_rate,
        schedule: Some(step_decay(
            cfg.learning_rate,
            cfg.epochs,
            images[0],
            cfg.batch_size,
        )?),
        optimizer: OptimizerChoice::Sgd {
            config: sgd,
            decay_vectors: false,
        },
        seed: cfg.seed,
        progress: cfg.progress,
        ..Default::default()
    };
    let history = fit(&model, &loader, Some(&val), &fit_cfg)?;
    let (val_loss, val_accuracy) = evaluate(&model, &val)?;
    if let Some(dir) = &cfg.checkpoint_dir {
        save_float(&model, dir)?;
    }

    // F2F: fake quantization, observation over the validation images, fine-tuning
    let pact = PactModel::new(
        &model,
        F2fConfig {
            granularity: cfg.granularity,
            clip_init: cfg.clip_init,
            ..Default::default()
        },
    )?;
    pact.observe(&val)?;
    let observed_clips = pact.clip_values()?;
    let (_, observed_accuracy) = evaluate(&pact, &val)?;
    let qat_history = if cfg.qat_epochs > 0 {
        let qat_cfg = FitConfig {
            length: Length::Epochs(cfg.qat_epochs),
            learning_rate: cfg.qat_learning_rate,
            optimizer: OptimizerChoice::PactSgd {
                config: sgd,
                decay_vectors: false,
                pact_decay: cfg.pact_decay,
            },
            ..fit_cfg.clone()
        };
        fit(&pact, &loader, Some(&val), &qat_cfg)?
    } else {
        History::default()
    };
    if let Some(dir) = &cfg.checkpoint_dir {
        save_pact(
            &pact,
            &run_config(cfg.width, cfg.resolution, &classes, &pact),
            dir,
        )?;
    }

    // the TFLite int8 form, in our interpreter on the same images
    let int8 = pact.to_tflite(&val)?;
    let tflite_int8_accuracy = accuracy(&int8.predict(&val)?, &val.labels) as f32;

    // F2T: the integer network on the same images; the comparison's fake-quantized
    // predictions give the fake-quantized accuracy (one pass over the images)
    let integer = f2t::integerize(&pact)?;
    let cmp = compare(&pact, &integer, &val)?;
    let per: usize = val.shape.iter().product();
    let sample = val.images.get(..per).unwrap_or_default().to_vec();
    let metrics = MobileNetMetrics {
        classes,
        images,
        width: cfg.width,
        resolution: cfg.resolution,
        params: model.vars().iter().map(|v| v.elem_count()).sum(),
        epochs: history.records.len(),
        val_loss,
        val_accuracy,
        samples_per_second: images_per_second(images[0], &history),
        qat_epochs: qat_history.records.len(),
        qat_samples_per_second: images_per_second(images[0], &qat_history),
        float_accuracy: val_accuracy,
        observed_accuracy,
        fake_quant_accuracy: cmp.fake_accuracy as f32,
        integer_accuracy: cmp.integer_accuracy as f32,
        tflite_int8_accuracy: Some(tflite_int8_accuracy),
        agreement: cmp.agreement,
    };
    Ok(MobileNetRun {
        model,
        history,
        pact,
        observed_clips,
        qat_history,
        integer,
        int8,
        metrics,
        sample,
    })
}

/// Training images per second over `history`'s epochs (0 when it has none).
fn images_per_second(train_images: usize, history: &History) -> f64 {
    (train_images * history.records.len()) as f64 / history.train_seconds().max(1e-9)
}

/// The training and validation folders under `root`, each cut to `cfg.limit` images per class.
fn splits(root: &Path, cfg: &MobileNetTrainConfig) -> Result<(ImageFolder, ImageFolder)> {
    let (mut train_set, mut val_set) = ImageFolder::splits(root)?;
    if let Some(n) = cfg.limit {
        if n == 0 {
            return Err(Error::Config(
                "mobilenet train: the limit of images per class must be positive".into(),
            ));
        }
        train_set = per_class(train_set, n);
        val_set = per_class(val_set, n);
    }
    Ok((train_set, val_set))
}

fn eval_images(folder: ImageFolder, cfg: &MobileNetTrainConfig) -> Result<Samples> {
    let opts = LoaderOptions {
        batch_size: cfg.batch_size.max(1),
        seed: cfg.seed,
        ..Default::default()
    };
    Loader::new(
        folder,
        Transform::eval(cfg.resolution),
        Normalize::IMAGENET,
        opts,
    )?
    .all()
}

/// The float phase's rate: `rate` for half of the steps, `rate / 10` for a quarter, then `rate / 100`.
fn step_decay(rate: f64, epochs: usize, images: usize, batch: usize) -> Result<PiecewiseConstant> {
    let total = (epochs * images.div_ceil(batch)) as u64;
    let (half, quarter) = (total / 2, total / 4);
    PiecewiseConstant::new(vec![
        (half, rate),
        (quarter, rate / 10.0),
        (total - half - quarter, rate / 100.0),
    ])
}
/// The validation images [`train`] evaluates on (resize, centre crop, ImageNet normalization; `cfg.limit` per class).
pub fn validation_images(root: &Path, cfg: &MobileNetTrainConfig) -> Result<Samples> {
    eval_images(splits(root, cfg)?.1, cfg)
}

/// Every class's first `n` images of `folder`.
fn per_class(mut folder: ImageFolder, n: usize) -> ImageFolder {
    let mut seen = vec![0usize; folder.classes.len()];
    folder.items.retain(|(_, label)| {
        let c = &mut seen[*label as usize];
        *c += 1;
        *c <= n
    });
    folder
}

/// The fake-quantized and integer networks on the same images (the tutorial's `Evaluation.compare`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Fake-quantized predictions.
    pub fake: Vec<usize>,
    /// Integer predictions.
    pub integer: Vec<usize>,
    /// Fake-quantized accuracy.
    pub fake_accuracy: f64,
    /// Integer accuracy.
    pub integer_accuracy: f64,
    /// Share of images with the same prediction.
    pub agreement: f64,
}

/// Runs the fake-quantized and integer networks on `data` and compares their predictions.
pub fn compare(
    pact: &PactModel,
    integer: &PactIntegerNetwork,
    data: &Samples,
) -> Result<Comparison> {
    let logits = predict(pact, &data.images)?
        .to_dtype(candle_core::DType::F64)?
        .to_vec2::<f64>()?;
    let fake: Vec<usize> = logits.iter().map(|r| f2t::argmax(r)).collect();
    let integer: Vec<usize> = integer
        .predict_logits(&data.images)?
        .iter()
        .map(|r| f2t::argmax(r))
        .collect();
    Ok(Comparison {
        fake_accuracy: accuracy(&fake, &data.labels),
        integer_accuracy: accuracy(&integer, &data.labels),
        agreement: f2t::agreement(&fake, &integer),
        fake,
        integer,
    })
}

/// [`metrics::accuracy`] against a data set's `u32` labels.
fn accuracy(predictions: &[usize], labels: &[u32]) -> f64 {
    let truth: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
    metrics::accuracy(predictions, &truth)
}

/// What `config.json` holds for a PACT model of this shape.
fn run_config(
    width: f64,
    resolution: usize,
    classes: &[String],
    pact: &PactModel,
) -> MobileNetRunConfig {
    MobileNetRunConfig {
        width,
        resolution,
        classes: classes.to_vec(),
        per_layer: pact.config.granularity == Granularity::PerLayer,
        input_eps: pact.config.input_eps,
    }
}

/// Writes `model.safetensors` into `dir`; returns its path.
fn save_float(model: &Sequential, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let p = dir.join("model.safetensors");
    model.save(&p)?;
    Ok(p)
}

/// Writes `model_pact.safetensors` and `config.json` into `dir`; returns their paths.
fn save_pact(pact: &PactModel, rc: &MobileNetRunConfig, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let p = dir.join("model_pact.safetensors");
    pact.save_state(&p)?;
    Ok(vec![
        p,
        put_json(dir, "config.json", serde_json::to_string_pretty(rc))?,
    ])
}

/// Writes `json` to `dir/name`; returns the path.
fn put_json(dir: &Path, name: &str, json: serde_json::Result<String>) -> Result<PathBuf> {
    let p = dir.join(name);
    let json = json.map_err(|e| Error::Data(format!("{name}: {e}")))?;
    std::fs::write(&p, json).map_err(|e| Error::io(&p, e))?;
    Ok(p)
}

impl MobileNetRun {
    /// The run's `config.json`.
    pub fn run_config(&self) -> MobileNetRunConfig {
        run_config(
            self.metrics.width,
            self.metrics.resolution,
            &self.metrics.classes,
            &self.pact,
        )
    }

    /// Writes `model.safetensors` (float), `model_pact.safetensors` (the
    /// fake-quantized model with its clips), `config.json`, `model_int8.tflite`,
    /// `model_integer.onnx` (with the `onnx` feature), the feature dump of the
    /// first validation image in `features/`, and `metrics.json` into `dir`;
    /// returns their paths.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut written = vec![save_float(&self.model, dir)?];
        written.extend(save_pact(&self.pact, &self.run_config(), dir)?);
        let p = dir.join(TFLITE_FILE);
        let bytes = crate::tflite::export::write(&self.int8.graph)?;
        std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
        written.push(p);
        #[cfg(feature = "onnx")]
        {
            let p = dir.join("model_integer.onnx");
            let bytes = self.integer.to_onnx()?.to_bytes();
            std::fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
            written.push(p);
        }
        if !self.sample.is_empty() {
            let features = dir.join("features");
            dump_features(
                &self.integer,
                &self.integer.quantize_input(&self.sample),
                &features,
            )?;
            written.push(features);
        }
        written.push(put_json(
            dir,
            "metrics.json",
            serde_json::to_string_pretty(&self.metrics),
        )?);
        Ok(written)
    }
}

/// A saved run's float, fake-quantized and integer accuracies on another image set ([`eval`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MobileNetEval {
    /// The folder evaluated (`DATA/SPLIT`).
    pub folder: PathBuf,
    /// Images evaluated.
    pub images: usize,
    /// Float accuracy.
    pub float_accuracy: f32,
    /// Fake-quantized accuracy.
    pub fake_quant_accuracy: f64,
    /// Integer accuracy.
    pub integer_accuracy: f64,
    /// Share of images on which the fake-quantized and integer networks predict the same class.
    pub agreement: f64,
    /// Accuracy of the run's `model_int8.tflite` in our interpreter.
    pub tflite_int8_accuracy: f64,
}

/// The TFLite int8 model's file name in a run directory.
pub const TFLITE_FILE: &str = "model_int8.tflite";

/// Reads a saved run's `config.json`.
pub fn read_run_config(run: &Path) -> Result<MobileNetRunConfig> {
    if !run.is_dir() {
        return Err(Error::bad_file(run, "not a run directory"));
    }
    let p = run.join("config.json");
    let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_file(&p, e.to_string()))
}

/// Evaluates the run saved in `run` (by [`MobileNetRun::save`]) on the ImageFolder `folder`
/// (e.g. `DATA/val`), at most `limit` images per class.
pub fn eval(run: &Path, folder: &Path, limit: Option<usize>) -> Result<MobileNetEval> {
    let rc = read_run_config(run)?;
    let mut images = ImageFolder::open(folder)?;
    if images.classes != rc.classes {
        return Err(Error::bad_file(
            folder,
            format!(
                "{} classes {:?} differ from the run's {} {:?} ({})",
                images.classes.len(),
                images.classes,
                rc.classes.len(),
                rc.classes,
                run.join("config.json").display()
            ),
        ));
    }
    if let Some(n) = limit {
        if n == 0 {
            return Err(Error::Config(
                "mobilenet eval: the limit of images per class must be positive".into(),
            ));
        }
        images = per_class(images, n);
    }
    let model = mobilenet_v1(&MobileNetV1Config {
        width: rc.width,
        resolution: rc.resolution,
        classes: rc.classes.len(),
        ..Default::default()
    })?;
    model.load(&run.join("model.safetensors"))?;
    let pact = PactModel::new(
        &model,
        F2fConfig {
            granularity: if rc.per_layer {
                Granularity::PerLayer
            } else {
                Granularity::PerChannel
            },
            input_eps: rc.input_eps,
            ..Default::default()
        },
    )?;
    pact.load_state(&run.join("model_pact.safetensors"))?;
    let integer = f2t::integerize(&pact)?;
    let graph = crate::tflite::import::read_file(&run.join(TFLITE_FILE))?;
    let int8 = Int8Model {
        input: graph
            .inputs
            .first()
            .copied()
            .ok_or_else(|| Error::bad_file(run.join(TFLITE_FILE), "the model has no input"))?,
        graph,
        layer_outputs: Vec::new(),
        layer_inputs: Vec::new(),
        ranges: Vec::new(),
    };
    let cfg = MobileNetTrainConfig {
        resolution: rc.resolution,
        ..Default::default()
    };
    let data = eval_images(images, &cfg)?;
    let (_, float_accuracy) = evaluate(&model, &data)?;
    let cmp = compare(&pact, &integer, &data)?;
    let tflite_int8_accuracy = accuracy(&int8.predict(&data)?, &data.labels);
    Ok(MobileNetEval {
        folder: folder.to_path_buf(),
        images: data.len(),
        float_accuracy,
        fake_quant_accuracy: cmp.fake_accuracy,
        integer_accuracy: cmp.integer_accuracy,
        agreement: cmp.agreement,
        tflite_int8_accuracy,
    })
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
