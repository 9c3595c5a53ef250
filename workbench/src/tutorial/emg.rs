//! The EMG hands-on end to end: pre-train TEMPONet on synthetic subjects,
//! evaluate it zero-shot on a new subject's second session, fine-tune it on
//! the subject's first session, evaluate again, then fold batch norm,
//! quantize to TFLite int8 and export.
//!
//! Training follows the hands-on's configuration: up to 300 epochs, batch 32,
//! Adam at 1e-4, label smoothing 0.25, early stopping with patience 50 on the
//! validation loss and the best checkpoint kept. Each epoch records loss,
//! accuracy and macro accuracy (the mean of per-class recall).

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::dataset::emg::{prepare, synth, PrepareConfig, Prepared, Session, SynthConfig, Windows};
use crate::metrics::ConfusionMatrix;
use crate::models::temponet::temponet;
use crate::quant::{self, Int8Model};
use crate::train::{
    self, EarlyStopping, FitConfig, History, Length, Monitor, Network, Samples, Sequential,
};
use crate::{Error, Result};

/// Classes of the hands-on: rest and 8 gestures.
pub const CLASSES: usize = 9;

/// Training settings; the defaults are the hands-on's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Most epochs (default 300).
    pub epochs: usize,
    /// Windows per step (default 32).
    pub batch_size: usize,
    /// Adam's learning rate (default 1e-4).
    pub learning_rate: f64,
    /// Label smoothing of the cross-entropy (default 0.25).
    pub label_smoothing: f64,
    /// Epochs without a lower validation loss before stopping (default 50).
    pub patience: usize,
    /// Seed of the shuffling (default 0).
    pub seed: u64,
    /// Print one line per epoch.
    pub progress: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 300,
            batch_size: 32,
            learning_rate: 1e-4,
            label_smoothing: 0.25,
            patience: 50,
            seed: 0,
            progress: true,
        }
    }
}

impl TrainConfig {
    /// The hands-on's training as a [`FitConfig`]: epochs, label smoothing, the
    /// best checkpoint and early stopping on validation loss.
    pub fn fit_config(&self) -> FitConfig {
        FitConfig {
            length: Length::Epochs(self.epochs),
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            label_smoothing: self.label_smoothing,
            seed: self.seed,
            progress: self.progress,
            best: Some(Monitor::ValLoss),
            early_stopping: Some(EarlyStopping {
                monitor: Monitor::ValLoss,
                patience: self.patience,
            }),
            ..FitConfig::default()
        }
    }
}

/// Loss, accuracy and macro accuracy of a model on a set of windows, with its predictions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// Mean cross-entropy (unsmoothed); NaN for the int8 model.
    pub loss: f64,
    /// Fraction of windows classified right.
    pub accuracy: f64,
    /// Mean per-class recall over the classes present.
    pub macro_accuracy: f64,
    /// Windows evaluated.
    pub windows: usize,
    /// The confusion matrix.
    #[serde(skip)]
    pub confusion: ConfusionMatrix,
}

/// Mean recall over the classes that have support in `cm` (0 when none has).
pub fn macro_accuracy(cm: &ConfusionMatrix) -> f64 {
    cm.macro_accuracy()
}

/// Windows (`N x size x channels`, time-major) as TEMPONet samples `[channels, 1, size]`.
pub fn samples(w: &Windows) -> Result<Samples> {
    let (size, ch) = (w.size, w.channels);
    let mut images = vec![0f32; w.data.len()];
    for n in 0..w.len() {
        let src = w.window(n);
        let dst = &mut images[n * size * ch..(n + 1) * size * ch];
        for t in 0..size {
            for c in 0..ch {
                dst[c * size + t] = src[t * ch + c];
            }
        }
    }
    let labels = w
        .labels
        .iter()
        .map(|&l| {
            u32::try_from(l)
                .ok()
                .filter(|&l| (l as usize) < CLASSES)
                .ok_or_else(|| Error::Data(format!("emg: window label {l} outside 0..{CLASSES}")))
        })
        .collect::<Result<Vec<u32>>>()?;
    Samples::new(images, labels, [ch, 1, size])
}

/// A fresh TEMPONet for windows of `size` samples and `channels` channels.
pub fn model(channels: usize, size: usize, seed: u64) -> Result<Sequential> {
    temponet(channels, size, CLASSES, seed)
}

/// Evaluates the float `model` on `data`.
pub fn evaluate<M: Network + ?Sized>(model: &M, data: &Samples) -> Result<Evaluation> {
    if data.is_empty() {
        return Err(Error::Data("emg evaluate: no windows".into()));
    }
    let logits = train::predict(model, &data.images)?;
    let z = logits.to_vec2::<f32>()?;
    let mut preds = Vec::with_capacity(z.len());
    let mut loss = 0f64;
    for (row, &l) in z.iter().zip(&data.labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
        loss += sum.ln() - (row[l as usize] - max) as f64;
        preds.push(argmax(row));
    }
    let mut e = from_predictions(&preds, &data.labels)?;
    e.loss = loss / data.len() as f64;
    Ok(e)
}

fn argmax<T: PartialOrd + Copy>(row: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

fn from_predictions(preds: &[usize], labels: &[u32]) -> Result<Evaluation> {
    let truth: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
    let confusion = ConfusionMatrix::from_predictions(preds, &truth, CLASSES)?;
    Ok(Evaluation {
        loss: f64::NAN,
        accuracy: confusion.accuracy(),
        macro_accuracy: macro_accuracy(&confusion),
        windows: preds.len(),
        confusion,
    })
}

/// Trains `model` in place on `train_set`, validating on `val` after each
/// epoch ([`TrainConfig::fit_config`]); keeps the weights of the epoch with
/// the lowest validation loss.
pub fn train<M: Network + ?Sized>(
    model: &M,
    train_set: &Samples,
    val: &Samples,
    cfg: &TrainConfig,
) -> Result<History> {
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(Error::Config(
            "emg train: epochs and batch size must be positive".into(),
        ));
    }
    if train_set.is_empty() || val.is_empty() {
        return Err(Error::Data(
            "emg train: no training or no validation windows".into(),
        ));
    }
    train::fit(model, train_set, Some(val), &cfg.fit_config())
}

/// Runs the float model's int8 version on `data` and evaluates its predictions.
pub fn evaluate_int8(q: &Int8Model, data: &Samples) -> Result<Evaluation> {
    from_predictions(&q.predict(data)?, &data.labels)
}

/// Folds batch norm into `model` and quantizes it to int8 with `representative` windows.
pub fn quantize(model: &Sequential, representative: &Samples) -> Result<Int8Model> {
    let folded = train::fold_batch_norm(model)?;
    quant::quantize(&folded, representative)
}

/// A multi-subject synthetic pre-training set: for each subject of `subjects`,
/// both sessions prepared on their own (own min-max scaling); training takes
/// the first session's training repetitions and the whole second session,
/// validation the first session's validation repetition.
pub fn pretrain_set(
    synth_cfg: &SynthConfig,
    subjects: Range<u64>,
    prep: &PrepareConfig,
) -> Result<(Windows, Windows)> {
    let mut train_w = Windows::default();
    let mut val_w = Windows::default();
    for id in subjects {
        let s1 = synth::session(synth_cfg, id, 1);
        let s2 = synth::session(synth_cfg, id, 2);
        let p = prepare(&s1, &s2, prep)?;
        train_w.extend(&p.train);
        train_w.extend(&p.test);
        val_w.extend(&p.val);
    }
    Ok((train_w, val_w))
}

/// Settings of the whole flow.
#[derive(Debug, Clone, PartialEq)]
pub struct EmgConfig {
    /// Pre-training (defaults: the hands-on's with learning rate 1e-3).
    pub pretrain: TrainConfig,
    /// Fine-tuning on the new subject (the hands-on's settings).
    pub finetune: TrainConfig,
    /// The synthetic world pre-training subjects come from.
    pub synth: SynthConfig,
    /// Pre-training subject ids (default 100..108).
    pub pretrain_subjects: Range<u64>,
    /// The preparation (default the hands-on's).
    pub prepare: PrepareConfig,
    /// Representative windows for int8 calibration (default 300).
    pub representative: usize,
    /// Seed of the model's initial weights.
    pub seed: u64,
}

impl Default for EmgConfig {
    fn default() -> Self {
        EmgConfig {
            pretrain: TrainConfig {
                learning_rate: 1e-3,
                ..TrainConfig::default()
            },
            finetune: TrainConfig::default(),
            synth: SynthConfig::default(),
            pretrain_subjects: 100..108,
            prepare: PrepareConfig::default(),
            representative: 300,
            seed: 0,
        }
    }
}

/// The three accuracies on the new subject's second session, and the int8 one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmgMetrics {
    /// Pre-trained model on the new subject's second session, zero-shot.
    pub zero_shot: Evaluation,
    /// Fine-tuned model on the second session.
    pub fine_tuned: Evaluation,
    /// Fine-tuned model on the first session's validation repetition.
    pub fine_tuned_val: Evaluation,
    /// Int8 (batch norm folded, post-training quantized) on the second session.
    pub int8: Evaluation,
    /// Pre-training windows (training, validation).
    pub pretrain_windows: (usize, usize),
    /// The new subject's windows (training, validation, test).
    pub subject_windows: (usize, usize, usize),
    /// Size of the `.tflite` flatbuffer.
    pub tflite_bytes: usize,
}

/// Everything the flow made.
pub struct EmgRun {
    /// The fine-tuned float model.
    pub model: Sequential,
    /// Pre-training history.
    pub pretrain_history: History,
    /// Fine-tuning history.
    pub finetune_history: History,
    /// The int8 model.
    pub int8: Int8Model,
    /// The `.tflite` flatbuffer of the int8 model.
    pub tflite: Vec<u8>,
    /// The numbers.
    pub metrics: EmgMetrics,
}

/// Pre-trains on synthetic subjects, then evaluates zero-shot, fine-tunes and
/// quantizes on the new subject's two sessions.
pub fn run(session_1: &Session, session_2: &Session, cfg: &EmgConfig) -> Result<EmgRun> {
    let (pt_train, pt_val) = pretrain_set(&cfg.synth, cfg.pretrain_subjects.clone(), &cfg.prepare)?;
    let pt_train = samples(&pt_train)?;
    let pt_val = samples(&pt_val)?;
    let subject: Prepared = prepare(session_1, session_2, &cfg.prepare)?;
    let (tr, va, te) = (
        samples(&subject.train)?,
        samples(&subject.val)?,
        samples(&subject.test)?,
    );
    let model = model(cfg.prepare.channels, cfg.prepare.window.size, cfg.seed)?;
    let pretrain_history = train(&model, &pt_train, &pt_val, &cfg.pretrain)?;
    let zero_shot = evaluate(&model, &te)?;
    let finetune_history = train(&model, &tr, &va, &cfg.finetune)?;
    let fine_tuned = evaluate(&model, &te)?;
    let fine_tuned_val = evaluate(&model, &va)?;
    let int8 = quantize(&model, &tr.take(cfg.representative))?;
    let int8_eval = evaluate_int8(&int8, &te)?;
    let tflite = crate::tflite::export::write(&int8.graph)?;
    let metrics = EmgMetrics {
        zero_shot,
        fine_tuned,
        fine_tuned_val,
        int8: int8_eval,
        pretrain_windows: (pt_train.len(), pt_val.len()),
        subject_windows: (tr.len(), va.len(), te.len()),
        tflite_bytes: tflite.len(),
    };
    Ok(EmgRun {
        model,
        pretrain_history,
        finetune_history,
        int8,
        tflite,
        metrics,
    })
}

impl EmgRun {
    /// Writes `model.safetensors`, `model_int8.tflite`, `history.json` and `metrics.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let p = |f: &str| dir.join(f);
        self.model.save(&p("model.safetensors"))?;
        write(&p("model_int8.tflite"), &self.tflite)?;
        let json = |v: &dyn erased::Json| v.json();
        write(
            &p("history.json"),
            json(&(&self.pretrain_history, &self.finetune_history))?.as_bytes(),
        )?;
        write(&p("metrics.json"), json(&self.metrics)?.as_bytes())?;
        Ok([
            "model.safetensors",
            "model_int8.tflite",
            "history.json",
            "metrics.json",
        ]
        .iter()
        .map(|f| p(f))
        .collect())
    }
}

/// Serializing values of different types through one closure.
pub(crate) mod erased {
    use crate::{Error, Result};
    /// A value that serializes to pretty JSON.
    pub trait Json {
        fn json(&self) -> Result<String>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Result<String> {
            serde_json::to_string_pretty(self).map_err(|e| Error::Data(format!("json: {e}")))
        }
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}
