//! The keyword-spotting lab end to end: Speech Commands clips through a
//! front end (the micro front end or MFCC), DS-CNN S or `micro_kws_xs`
//! trained by steps with a piecewise-constant learning rate, validation every
//! N steps keeping the best checkpoint, test metrics, full-int8 conversion and
//! estimates.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use serde::Serialize;

use crate::dataset::speech_commands::{SpeechCommands, SpeechCommandsConfig, Split};
use crate::dsp::{FeatureExtractor, MfccConfig, MicroFrontendConfig};
use crate::estimate::{estimate, Estimate};
use crate::metrics::{accuracy, ConfusionMatrix};
use crate::quant::{self, Int8Model};
use crate::tflite::runtime::Interpreter;
use crate::tflite::DType;
use crate::train::{
    self, fold_batch_norm, EarlyStopping, FitConfig, History, Layer, Monitor, PiecewiseConstant,
    Samples, Sequential, TrainSource,
};
use crate::{Error, Result};

/// The front end turning clips into feature images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Frontend {
    /// The TFLite-Micro front end (micro_speech settings, 40 channels), times 10/256.
    Micro,
    /// MFCC as `tf.signal` computes it, keeping this many coefficients.
    Mfcc(usize),
}

impl Frontend {
    /// The feature extractor with the lab's settings.
    pub fn extractor(self) -> Result<FeatureExtractor> {
        match self {
            Frontend::Micro => FeatureExtractor::micro(MicroFrontendConfig::micro_speech()),
            Frontend::Mfcc(n) => FeatureExtractor::mfcc(MfccConfig {
                num_coefficients: n,
                ..MfccConfig::default()
            }),
        }
    }
}

/// The model trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum KwsModel {
    /// ARM's DS-CNN S ([`crate::models::ds_cnn_s`]).
    DsCnnS,
    /// The lab's example ([`crate::models::micro_kws_xs`]).
    MicroKwsXs,
}

impl KwsModel {
    /// A fresh model for `[1, frames, coefficients]` input.
    pub fn build(
        self,
        frames: usize,
        coefficients: usize,
        classes: usize,
        seed: u64,
    ) -> Result<Sequential> {
        match self {
            KwsModel::DsCnnS => crate::models::ds_cnn_s(frames, coefficients, classes, seed),
            KwsModel::MicroKwsXs => {
                crate::models::micro_kws_xs(frames, coefficients, classes, seed)
            }
        }
    }
}

/// Settings of a keyword-spotting run; the defaults are the lab's.
#[derive(Debug, Clone)]
pub struct KwsConfig {
    /// Words, silence/unknown shares, augmentation, seed of the data (default: yes, no).
    pub data: SpeechCommandsConfig,
    /// Front end (default: the micro front end).
    pub frontend: Frontend,
    /// Model (default: the lab's `micro_kws_xs`).
    pub model: KwsModel,
    /// `(steps, learning rate)` stages (default: 12,000 at 0.001, then 3,000 at 0.0001).
    pub schedule: Vec<(u64, f64)>,
    /// Clips per step (default 100).
    pub batch_size: usize,
    /// Steps between validations (default 400); the last step is always validated.
    pub eval_every: usize,
    /// Stop after this many validations without a lower validation loss (default: off; the lab uses 10).
    pub early_stopping_patience: Option<usize>,
    /// Validation clips used to calibrate the int8 model (default 100).
    pub representative: usize,
    /// Seed of initialisation and batch order (default 0).
    pub seed: u64,
    /// Batch norm momentum (default: the model's, Keras' 0.99). Keras' running
    /// statistics forget their start (mean 0, variance 1) slowly: the depthwise
    /// outputs' variance is about 0.01, so the evaluation-mode model is at chance
    /// until some 600 steps have passed; short runs (tests, CI) use 0.9.
    pub batch_norm_momentum: Option<f64>,
    /// Show a progress bar, or progress lines without a terminal (default true).
    pub progress: bool,
    /// Folder where each new best is written as `best-step{N}.safetensors`, the best
    /// reloaded from it after training, as the lab's checkpoints (default none: kept in memory).
    pub checkpoint_dir: Option<PathBuf>,
}

impl Default for KwsConfig {
    fn default() -> Self {
        KwsConfig {
            data: SpeechCommandsConfig::default(),
            frontend: Frontend::Micro,
            model: KwsModel::MicroKwsXs,
            schedule: vec![(12_000, 1e-3), (3_000, 1e-4)],
            batch_size: 100,
            eval_every: 400,
            early_stopping_patience: None,
            representative: 100,
            seed: 0,
            batch_norm_momentum: None,
            progress: true,
            checkpoint_dir: None,
        }
    }
}

impl KwsConfig {
    /// A fresh model as configured (architecture, seed, batch norm momentum) for `data`.
    ///
    /// In a notebook, build the model in the cell that trains it: evcxr gives each
    /// cell its own copy of candle, and backprop needs the model's variables from
    /// the copy that runs it.
    pub fn build_model(&self, data: &KwsData) -> Result<Sequential> {
        let [_, frames, coefficients] = data.shape;
        let mut model = self
            .model
            .build(frames, coefficients, data.labels().len(), self.seed)?;
        if let Some(m) = self.batch_norm_momentum {
            if !(0.0..1.0).contains(&m) {
                return Err(Error::Config(format!(
                    "kws: batch norm momentum {m} is not in [0, 1)"
                )));
            }
            for (_, layer) in &mut model.layers {
                if let Layer::BatchNorm { config, .. } = layer {
                    config.momentum = m;
                }
            }
        }
        Ok(model)
    }
}

/// The headline numbers of a run (written to `metrics.json`).
#[derive(Debug, Clone, Serialize)]
pub struct KwsMetrics {
    /// Class names, index order.
    pub labels: Vec<String>,
    /// Clips per split: training, validation, test.
    pub clips: [usize; 3],
    /// Steps trained.
    pub steps: u64,
    /// Step of the best checkpoint (by validation accuracy).
    pub best_step: u64,
    /// The best checkpoint's file, when written ([`KwsConfig::checkpoint_dir`]).
    pub best_checkpoint: Option<PathBuf>,
    /// Validation accuracy of the best checkpoint.
    pub best_val_accuracy: f32,
    /// Test accuracy of the float `.tflite` (batch norm folded), run by the workbench's interpreter.
    pub float_accuracy: f64,
    /// Test accuracy of the int8 `.tflite`, run by the workbench's interpreter.
    pub int8_accuracy: f64,
    /// Constant tensor bytes of the int8 model.
    pub rom_bytes: usize,
    /// Activation bytes with no buffer sharing.
    pub ram_bytes_worst: usize,
    /// Activation bytes with two live buffers.
    pub ram_bytes_best: usize,
    /// Multiply-accumulates per inference.
    pub macs: u64,
    /// Size of the int8 `.tflite` file.
    pub tflite_bytes: usize,
    /// Size of the float `.tflite` file.
    pub float_tflite_bytes: usize,
    /// Wall time of training, seconds.
    pub train_seconds: f64,
    /// Confusion matrix and per-class scores of the float model on the test set.
    pub float_confusion: ConfusionMatrix,
    /// Confusion matrix and per-class scores of the int8 model on the test set.
    pub int8_confusion: ConfusionMatrix,
}

/// Features of a split, ready for training or evaluation.
#[derive(Debug, Clone)]
pub struct KwsData {
    /// The indexed corpus.
    pub corpus: SpeechCommands,
    /// The front end.
    pub extractor: FeatureExtractor,
    /// `[1, frames, coefficients]` of one feature image.
    pub shape: [usize; 3],
    /// Validation features (no augmentation).
    pub validation: Samples,
    /// Test features (no augmentation).
    pub test: Samples,
}

impl KwsData {
    /// Indexes the corpus in `root` and computes validation and test features.
    pub fn open(root: &Path, cfg: &KwsConfig) -> Result<Self> {
        let corpus = SpeechCommands::open(root, cfg.data.clone())?;
        let extractor = cfg.frontend.extractor()?;
        let n = cfg.data.clip_samples;
        let shape = [1, extractor.num_frames(n), extractor.num_coefficients()];
        let mut data = KwsData {
            corpus,
            extractor,
            shape,
            validation: Samples::new(vec![0.0; shape.iter().product()], vec![0], shape)?,
            test: Samples::new(vec![0.0; shape.iter().product()], vec![0], shape)?,
        };
        for split in [Split::Validation, Split::Testing] {
            if data.corpus.samples(split).is_empty() {
                return Err(Error::Data(format!(
                    "kws: the {} split of {} is empty",
                    split.name(),
                    root.display()
                )));
            }
        }
        data.validation = data.features(Split::Validation, None, 0)?;
        data.test = data.features(Split::Testing, None, 0)?;
        Ok(data)
    }

    /// Class names in label order.
    pub fn labels(&self) -> &[String] {
        self.corpus.labels()
    }

    /// Features of entries `indices` of `split` (all when `None`), augmented as for `epoch`.
    pub fn features(&self, split: Split, indices: Option<&[usize]>, epoch: u64) -> Result<Samples> {
        let batch = match indices {
            Some(idx) => self.corpus.batch(split, idx, epoch)?,
            None => self.corpus.split_batch(split, epoch)?,
        };
        let x = self
            .extractor
            .batch(&batch.clips_i16(), batch.clip_samples)?;
        Samples::new(x, batch.labels, self.shape)
    }
}

/// Everything a run produced.
#[derive(Debug)]
pub struct KwsRun {
    /// The trained model at its best checkpoint, batch norm folded.
    pub model: Sequential,
    /// Validations during training.
    pub history: History,
    /// The full-int8 model (int8 input and output, softmax appended).
    pub int8: Int8Model,
    /// ROM/RAM/MAC estimates of the int8 model.
    pub estimate: Estimate,
    /// The headline numbers.
    pub metrics: KwsMetrics,
    /// The int8 `.tflite` bytes.
    pub tflite: Vec<u8>,
    /// The float `.tflite` bytes (float32 weights and activations, softmax output).
    pub float_tflite: Vec<u8>,
}

/// The training split of a [`KwsData`] as a [`TrainSource`]: each batch's
/// features are computed when drawn, augmented as for its epoch.
#[derive(Debug, Clone, Copy)]
pub struct TrainingClips<'a>(pub &'a KwsData);

impl TrainSource for TrainingClips<'_> {
    fn len(&self) -> usize {
        self.0.corpus.samples(Split::Training).len()
    }
    fn sample_shape(&self) -> [usize; 3] {
        self.0.shape
    }
    fn batch(&self, idx: &[usize], epoch: u64) -> Result<(Tensor, Tensor, Vec<u32>)> {
        let batch = self.0.features(Split::Training, Some(idx), epoch)?;
        let all: Vec<usize> = (0..batch.len()).collect();
        let (x, y) = batch.gather(&all)?;
        Ok((x, y, batch.labels))
    }
}

impl KwsConfig {
    /// The lab's training as a [`FitConfig`]: steps with the piecewise learning
    /// rate, validation every `eval_every` steps, the best checkpoint by
    /// validation accuracy, early stopping on validation loss.
    pub fn fit_config(&self) -> Result<FitConfig> {
        let schedule = PiecewiseConstant::new(self.schedule.clone())?;
        let steps = schedule.total_steps();
        if steps == 0 || self.batch_size == 0 || self.eval_every == 0 {
            return Err(Error::Config(format!(
                "kws train: steps ({steps}), batch size ({}) and validation interval ({}) must be positive",
                self.batch_size, self.eval_every
            )));
        }
        Ok(FitConfig {
            batch_size: self.batch_size,
            seed: self.seed,
            progress: self.progress,
            best: Some(Monitor::ValAccuracy),
            early_stopping: self.early_stopping_patience.map(|patience| EarlyStopping {
                monitor: Monitor::ValLoss,
                patience,
            }),
            checkpoint_dir: self.checkpoint_dir.clone(),
            ..FitConfig::steps(schedule, self.eval_every as u64)
        })
    }
}

/// Trains `model` on `data` as the lab does ([`KwsConfig::fit_config`]); the model ends at
/// its best checkpoint, read back from its file when [`KwsConfig::checkpoint_dir`] is set.
pub fn train(model: &Sequential, data: &KwsData, cfg: &KwsConfig) -> Result<History> {
    if data.corpus.samples(Split::Training).is_empty() {
        return Err(Error::Data("kws train: no training clips".into()));
    }
    let history = train::fit(
        model,
        &TrainingClips(data),
        Some(&data.validation),
        &cfg.fit_config()?,
    )?;
    if let Some(dir) = &cfg.checkpoint_dir {
        let (step, path) = best_checkpoint(dir)?;
        let best = history.best_record().map(|r| r.step);
        if best != Some(step) {
            return Err(Error::Data(format!(
                "kws train: the last checkpoint in {} is from step {step}, the best validation from step {best:?}",
                dir.display()
            )));
        }
        model.load(&path)?;
    }
    Ok(history)
}

/// The best checkpoint [`train`] wrote into `dir`, as `(step, path)`: the lab's pick after training.
pub fn best_checkpoint(dir: &Path) -> Result<(u64, PathBuf)> {
    train::best_checkpoint(dir)?.ok_or_else(|| {
        Error::Data(format!(
            "kws: no best-step*.safetensors checkpoint in {}",
            dir.display()
        ))
    })
}

fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Predicted classes of the float `model` on `data`.
pub fn predict_float(model: &Sequential, data: &Samples) -> Result<Vec<usize>> {
    let logits = train::predict(model, &data.images)?.to_vec2::<f32>()?;
    Ok(logits.iter().map(|r| argmax(r.as_slice())).collect())
}

/// Predicted classes of a `.tflite` model (float or int8 input) on `data`, run in the
/// workbench's interpreter one clip at a time, as the lab's `tflite_test` runs its files.
pub fn predict_tflite(tflite: &[u8], data: &Samples) -> Result<Vec<usize>> {
    let graph = crate::tflite::read(tflite)?;
    let input = *graph
        .inputs
        .first()
        .ok_or_else(|| Error::Shape("kws: the .tflite has no input".into()))?;
    let in_t = &graph.tensors[input];
    let (dtype, quant) = (in_t.dtype, quant::ptq::tensor_quant(&graph, input));
    let per: usize = data.shape.iter().product();
    if in_t.num_elements() != per {
        return Err(Error::Shape(format!(
            "kws: the .tflite takes {:?}, the clips' features are {:?}",
            in_t.shape, data.shape
        )));
    }
    let mut interp = Interpreter::new(graph)?;
    let mut preds = Vec::with_capacity(data.len());
    for chw in data.images.chunks(per.max(1)) {
        let hwc = quant::ptq::chw_to_hwc(chw, data.shape);
        match dtype {
            DType::F32 => interp.set_input_f32(0, &hwc)?,
            DType::I8 => {
                let q: Vec<i8> = hwc
                    .iter()
                    .map(|&x| quant::params::quantize_value(x, quant.0, quant.1))
                    .collect();
                interp.set_input_i8(0, &q)?
            }
            other => {
                return Err(Error::Shape(format!(
                    "kws: a .tflite input of type {other:?} (float32 or int8 expected)"
                )))
            }
        }
        interp.invoke()?;
        preds.push(match interp.output_f32(0) {
            Ok(out) => argmax(out),
            Err(_) => argmax(interp.output_i8(0)?),
        });
    }
    Ok(preds)
}

/// Folds batch norm and converts to full int8 (int8 input, int8 softmax output), calibrated on the first `representative` validation clips.
pub fn convert(
    model: &Sequential,
    data: &KwsData,
    representative: usize,
) -> Result<(Sequential, Int8Model)> {
    let folded = fold_batch_norm(model)?;
    let rep = data.validation.take(representative.max(1));
    let mut int8 = quant::quantize(&folded, &rep)?;
    quant::append_softmax(&mut int8)?;
    Ok((folded, int8))
}

/// The float `.tflite` of a (batch-norm folded) model: float32 input, weights and softmax output.
pub fn float_tflite(folded: &Sequential) -> Result<Vec<u8>> {
    Ok(crate::tflite::export::write(&quant::build_float(
        folded,
        &quant::FloatOptions { softmax: true },
    )?)?)
}

/// Trains, converts, evaluates and estimates on the corpus in `root`.
pub fn run(root: &Path, cfg: &KwsConfig) -> Result<(KwsData, KwsRun)> {
    let data = KwsData::open(root, cfg)?;
    let run = run_on(&data, cfg)?;
    Ok((data, run))
}

/// Like [`run`] on already opened data.
pub fn run_on(data: &KwsData, cfg: &KwsConfig) -> Result<KwsRun> {
    let classes = data.labels().len();
    let model = cfg.build_model(data)?;
    let t0 = Instant::now();
    let history = train(&model, data, cfg)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let (folded, int8) = convert(&model, data, cfg.representative)?;
    let truth: Vec<usize> = data.test.labels.iter().map(|&l| l as usize).collect();
    let est = estimate(&int8.graph);
    let tflite = crate::tflite::export::write(&int8.graph)?;
    let float_tflite = float_tflite(&folded)?;
    // both models evaluated through their written files, as the lab's tflite_test
    let float_preds = predict_tflite(&float_tflite, &data.test)?;
    let int8_preds = predict_tflite(&tflite, &data.test)?;
    let best_checkpoint = match &cfg.checkpoint_dir {
        Some(dir) => Some(best_checkpoint(dir)?.1),
        None => None,
    };
    let best = history
        .best_record()
        .ok_or_else(|| Error::Data("kws train: no validation ran".into()))?;
    let metrics = KwsMetrics {
        labels: data.labels().to_vec(),
        clips: [
            data.corpus.samples(Split::Training).len(),
            data.validation.len(),
            data.test.len(),
        ],
        steps: history.records.last().map_or(0, |p| p.step),
        best_step: best.step,
        best_checkpoint,
        best_val_accuracy: best.val_accuracy.unwrap_or(f64::NAN) as f32,
        float_accuracy: accuracy(&float_preds, &truth),
        int8_accuracy: accuracy(&int8_preds, &truth),
        rom_bytes: est.rom_bytes,
        ram_bytes_worst: est.ram_bytes_worst,
        ram_bytes_best: est.ram_bytes_best,
        macs: est.macs,
        tflite_bytes: tflite.len(),
        float_tflite_bytes: float_tflite.len(),
        train_seconds,
        float_confusion: ConfusionMatrix::from_predictions(&float_preds, &truth, classes)?,
        int8_confusion: ConfusionMatrix::from_predictions(&int8_preds, &truth, classes)?,
    };
    Ok(KwsRun {
        model: folded,
        history,
        int8,
        estimate: est,
        metrics,
        tflite,
        float_tflite,
    })
}

impl KwsMetrics {
    /// Per-class precision, recall and F1 of the int8 model as text lines.
    pub fn per_class_lines(&self) -> Vec<String> {
        let cm = &self.int8_confusion;
        self.labels
            .iter()
            .enumerate()
            .map(|(c, name)| {
                format!(
                    "{name:>10}: precision {:.3} recall {:.3} f1 {:.3} (support {})",
                    cm.precision(c),
                    cm.recall(c),
                    cm.f1(c),
                    cm.support(c)
                )
            })
            .collect()
    }
}

impl KwsRun {
    /// Writes `model.safetensors` (folded float), `model_float.tflite`, `model_int8.tflite`, `model_int8.cc` and `metrics.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let p = |f: &str| dir.join(f);
        self.model.save(&p("model.safetensors"))?;
        write(&p("model_float.tflite"), &self.float_tflite)?;
        write(&p("model_int8.tflite"), &self.tflite)?;
        let c = crate::tflite::c_array::to_c_array(&self.tflite, "g_model");
        write(&p("model_int8.cc"), c.as_bytes())?;
        let json = serde_json::to_string_pretty(&self.metrics)
            .map_err(|e| Error::Data(format!("metrics.json: {e}")))?;
        write(&p("metrics.json"), json.as_bytes())?;
        Ok([
            "model.safetensors",
            "model_float.tflite",
            "model_int8.tflite",
            "model_int8.cc",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_graph_of_ds_cnn_s_is_float32_with_version_1_ops() {
        let m = crate::models::ds_cnn_s(49, 40, 4, 0).unwrap();
        let folded = fold_batch_norm(&m).unwrap();
        let g = quant::build_float(&folded, &quant::FloatOptions { softmax: true }).unwrap();
        assert!(g.tensors.iter().all(|t| t.quant.is_none()));
        // every tensor but the reshape's int32 shape is float32
        let not_f32: Vec<&str> = g
            .tensors
            .iter()
            .filter(|t| t.dtype != DType::F32)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(not_f32, ["flatten.shape"]);
        assert_eq!(g.nodes.last().unwrap().op.name(), "SOFTMAX");
        let bytes = float_tflite(&folded).unwrap();
        let back = crate::tflite::read(&bytes).unwrap();
        assert_eq!(back.nodes.len(), g.nodes.len());
        // TF's converter writes version 1 of each float op
        let model = crate::tflite::schema::root_as_model(&bytes).unwrap();
        let codes = model.operator_codes().unwrap();
        assert_eq!(codes.len(), 6); // conv, depthwise, average pool, reshape, dense, softmax
        assert!(codes.iter().all(|c| c.version() == 1));
    }
}
