//! The training loop: mini-batch Adam or SGD on softmax cross-entropy (optionally
//! label-smoothed), with a piecewise-constant learning-rate schedule, early
//! stopping with the best checkpoint, evaluation and prediction.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use super::adam::Adam;
use super::network::Network;
use super::ops::host::with_host;
use super::sgd::{Optimizer, ParamGroup, Sgd, SgdConfig};
use serde::Serialize;

pub use crate::dataset::Samples;
use crate::metrics::ConfusionMatrix;
use crate::{Error, Result};

/// Where a [`fit`] draws its training batches from: [`Samples`], or a
/// source that computes (e.g. augments) each batch's features on demand.
pub trait TrainSource {
    /// The number of training samples.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Input shape of one sample: `[C, H, W]`.
    fn sample_shape(&self) -> [usize; 3];
    /// Samples `idx` as `[n, C, H, W]` images, `[n]` labels and the labels on the host;
    /// `epoch` counts the passes over the data before this batch (for augmentation).
    fn batch(&self, idx: &[usize], epoch: u64) -> Result<(Tensor, Tensor, Vec<u32>)>;
}

impl TrainSource for Samples {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn sample_shape(&self) -> [usize; 3] {
        self.shape
    }
    fn batch(&self, idx: &[usize], _epoch: u64) -> Result<(Tensor, Tensor, Vec<u32>)> {
        let (x, y) = self.gather(idx)?;
        Ok((x, y, idx.iter().map(|&i| self.labels[i]).collect()))
    }
}

/// An image loader draws its batches through its transforms (random crops
/// and flips anew each epoch), decoding on rayon's workers.
#[cfg(feature = "images")]
impl TrainSource for crate::dataset::images::Loader {
    fn len(&self) -> usize {
        self.folder().len()
    }
    fn sample_shape(&self) -> [usize; 3] {
        let side = self.transform().size();
        [3, side, side]
    }
    fn batch(&self, idx: &[usize], epoch: u64) -> Result<(Tensor, Tensor, Vec<u32>)> {
        let samples = crate::dataset::images::Loader::batch(self, epoch, idx)?;
        let all: Vec<usize> = (0..samples.len()).collect();
        let (x, y) = samples.gather(&all)?;
        Ok((x, y, samples.labels))
    }
}

/// How long a [`fit`] runs and when it validates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// Passes over the training data, each shuffled anew; the last batch of a
    /// pass may be smaller; validation after each pass.
    Epochs(usize),
    /// Optimisation steps of full batches drawn from a shuffled order that is
    /// reshuffled when used up; validation every `validate_every` steps and after the last.
    Steps {
        /// Steps in all.
        steps: u64,
        /// Steps between validations.
        validate_every: u64,
    },
}

/// The optimizer a [`fit`] runs; the default is Adam.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum OptimizerChoice {
    /// Adam with Keras' update rule and defaults.
    #[default]
    Adam,
    /// SGD with PyTorch's update rule; its `learning_rate` is replaced by [`FitConfig::learning_rate`] (and the schedule).
    Sgd {
        /// Momentum, dampening, Nesterov and weight decay.
        config: SgdConfig,
        /// Whether variables of rank 0 or 1 (biases, batch norms' gamma and
        /// beta, PACT's clips) decay too; if not, they form a group without decay.
        decay_vectors: bool,
    },
    /// QuantLib's `PACTSGD`: SGD whose learned clipping bounds
    /// ([`Network::clip_vars`]) form a group of their own with weight decay
    /// `pact_decay`; the other variables are grouped as in [`OptimizerChoice::Sgd`].
    PactSgd {
        /// Momentum, dampening, Nesterov and the weight decay of the weights.
        config: SgdConfig,
        /// Whether the other variables of rank 0 or 1 decay too.
        decay_vectors: bool,
        /// Weight decay of the clipping bounds (QuantLab's MobileNetV1 recipe: 1e-3).
        pact_decay: f64,
    },
}

impl OptimizerChoice {
    /// The optimizer over `vars` at learning rate `learning_rate`.
    pub fn build(
        &self,
        vars: Vec<candle_core::Var>,
        learning_rate: f64,
    ) -> Result<Box<dyn Optimizer>> {
        Ok(match *self {
            OptimizerChoice::Adam => Box::new(Adam::new(vars, learning_rate)),
            OptimizerChoice::Sgd {
                config,
                decay_vectors,
            } => {
                let config = SgdConfig {
                    learning_rate,
                    ..config
                };
                let groups = if decay_vectors {
                    vec![ParamGroup::new(vars)]
                } else {
                    let (vectors, weights): (Vec<_>, Vec<_>) =
                        vars.into_iter().partition(|v| v.rank() <= 1);
                    vec![
                        ParamGroup::new(weights),
                        ParamGroup::new(vectors).with_weight_decay(0.0),
                    ]
                };
                Box::new(Sgd::new(groups, config)?)
            }
            OptimizerChoice::PactSgd {
                config,
                decay_vectors,
                ..
            } => OptimizerChoice::Sgd {
                config,
                decay_vectors,
            }
            .build(vars, learning_rate)?,
        })
    }

    /// The optimizer over `model`'s variables: [`OptimizerChoice::build`],
    /// except that `PactSgd` puts [`Network::clip_vars`] in their own group.
    pub fn build_for<M: Network + ?Sized>(
        &self,
        model: &M,
        learning_rate: f64,
    ) -> Result<Box<dyn Optimizer>> {
        let OptimizerChoice::PactSgd {
            config,
            decay_vectors,
            pact_decay,
        } = *self
        else {
            return self.build(model.vars(), learning_rate);
        };
        let clips = model.clip_vars();
        let ids: Vec<_> = clips.iter().map(|c| c.as_tensor().id()).collect();
        let others: Vec<_> = model
            .vars()
            .into_iter()
            .filter(|v| !ids.contains(&v.as_tensor().id()))
            .collect();
        let config = SgdConfig {
            learning_rate,
            ..config
        };
        let mut groups = vec![ParamGroup::new(clips).with_weight_decay(pact_decay)];
        if decay_vectors {
            groups.push(ParamGroup::new(others));
        } else {
            let (vectors, weights): (Vec<_>, Vec<_>) =
                others.into_iter().partition(|v| v.rank() <= 1);
            groups.push(ParamGroup::new(weights));
            groups.push(ParamGroup::new(vectors).with_weight_decay(0.0));
        }
        Ok(Box::new(Sgd::new(groups, config)?))
    }
}

/// Training settings; the defaults are Keras' (Adam 1e-3, batch 64, 5 epochs).
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// How long to train and when to validate (default 5 epochs).
    pub length: Length,
    /// Samples per step (default 64).
    pub batch_size: usize,
    /// The optimizer's learning rate (default 1e-3).
    pub learning_rate: f64,
    /// The optimizer (default Adam).
    pub optimizer: OptimizerChoice,
    /// A learning rate per step, replacing `learning_rate` when set (default none).
    pub schedule: Option<PiecewiseConstant>,
    /// Seed of the shuffling (default 0).
    pub seed: u64,
    /// Show progress: a bar on a terminal, else one line per validation (default on).
    pub progress: bool,
    /// Label smoothing of the cross-entropy (0 = none), as Keras' and PyTorch's `label_smoothing` (default 0).
    pub label_smoothing: f64,
    /// Keep the weights of the best validation by this metric and put them back at the end (default none).
    pub best: Option<Monitor>,
    /// Stop when the validation metric stops improving (default none; needs validation data).
    pub early_stopping: Option<EarlyStopping>,
    /// Folder where each new best (by [`FitConfig::best`]) is written as
    /// `best-step{N}.safetensors`, as the lab's checkpoints (default none).
    pub checkpoint_dir: Option<PathBuf>,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            length: Length::Epochs(5),
            batch_size: 64,
            learning_rate: 1e-3,
            optimizer: OptimizerChoice::Adam,
            schedule: None,
            seed: 0,
            progress: true,
            label_smoothing: 0.0,
            best: None,
            early_stopping: None,
            checkpoint_dir: None,
        }
    }
}

impl FitConfig {
    /// Step-based training on `schedule` (its total steps), validating every `validate_every` steps.
    pub fn steps(schedule: PiecewiseConstant, validate_every: u64) -> Self {
        FitConfig {
            length: Length::Steps {
                steps: schedule.total_steps(),
                validate_every,
            },
            learning_rate: schedule.rate(0),
            schedule: Some(schedule),
            ..FitConfig::default()
        }
    }

    /// Epoch-based training for `epochs` passes.
    pub fn epochs(epochs: usize) -> Self {
        FitConfig {
            length: Length::Epochs(epochs),
            ..FitConfig::default()
        }
    }
}

/// The metrics of one validation point: training metrics since the previous point, validation metrics then.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    /// Optimisation steps done.
    pub step: u64,
    /// Passes over the training data started (1-based).
    pub epoch: u64,
    /// Mean (label-smoothed) training loss since the previous record, weights changing meanwhile as Keras reports it.
    pub loss: f64,
    /// Training accuracy since the previous record, likewise.
    pub accuracy: f64,
    /// Training macro accuracy (mean recall of the classes seen) since the previous record.
    pub macro_accuracy: f64,
    /// Validation cross-entropy (unsmoothed).
    pub val_loss: Option<f64>,
    /// Validation accuracy.
    pub val_accuracy: Option<f64>,
    /// Validation macro accuracy.
    pub val_macro_accuracy: Option<f64>,
    /// Learning rate of the last step.
    pub learning_rate: f64,
    /// Wall time of the training steps since the previous record, in seconds.
    pub seconds: f64,
}

impl Record {
    /// One line as Keras prints it: loss, accuracy, validation metrics, seconds.
    pub fn line(&self) -> String {
        let mut s = format!("loss {:.4} - accuracy {:.4}", self.loss, self.accuracy);
        if let (Some(l), Some(a)) = (self.val_loss, self.val_accuracy) {
            s.push_str(&format!(" - val_loss {l:.4} - val_accuracy {a:.4}"));
        }
        s.push_str(&format!(" - {:.1} s", self.seconds));
        s
    }
}

/// The unit a history's records are counted in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// One record per epoch.
    #[default]
    Epoch,
    /// One record every N steps.
    Step,
}

/// What a [`fit`] run measured: one record per validation point.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct History {
    /// The records in order.
    pub records: Vec<Record>,
    /// Whether records are per epoch or every N steps.
    pub unit: Unit,
    /// The index of the record whose weights the model holds after a run with [`FitConfig::best`].
    pub best: Option<usize>,
}

impl History {
    /// The record of the kept weights (see [`History::best`]).
    pub fn best_record(&self) -> Option<&Record> {
        self.best.and_then(|i| self.records.get(i))
    }

    /// Each record's position on the x axis: its epoch or its step.
    pub fn x(&self) -> Vec<f64> {
        self.records
            .iter()
            .map(|r| match self.unit {
                Unit::Epoch => r.epoch as f64,
                Unit::Step => r.step as f64,
            })
            .collect()
    }

    /// Total wall time of the training steps, in seconds.
    pub fn train_seconds(&self) -> f64 {
        self.records.iter().map(|r| r.seconds).sum()
    }
}

impl std::fmt::Display for History {
    /// One line: records, steps, and the kept record's validation metrics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.unit {
            Unit::Epoch => "epoch",
            Unit::Step => "step",
        };
        let steps = self.records.last().map_or(0, |r| r.step);
        write!(f, "{} records over {steps} steps", self.records.len())?;
        if let Some(r) = self.best_record() {
            let at = match self.unit {
                Unit::Epoch => r.epoch,
                Unit::Step => r.step,
            };
            write!(f, "; best {unit} {at}")?;
            if let (Some(l), Some(a)) = (r.val_loss, r.val_accuracy) {
                write!(f, " (val_loss {l:.4}, val_accuracy {a:.4})")?;
            }
        }
        Ok(())
    }
}

/// A piecewise-constant learning rate: stages of `(steps, rate)` run in
/// order, and the last rate stays after them, as TensorFlow's speech-commands
/// `train.py` reads `--how_many_training_steps=12000,3000 --learning_rate=0.001,0.0001`.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseConstant {
    /// `(number of steps, learning rate)` per stage.
    pub stages: Vec<(u64, f64)>,
}

impl PiecewiseConstant {
    /// A schedule from `(steps, rate)` stages; at least one stage.
    pub fn new(stages: Vec<(u64, f64)>) -> Result<Self> {
        if stages.is_empty() {
            return Err(Error::Config("learning-rate schedule: no stages".into()));
        }
        if let Some((_, r)) = stages.iter().find(|(_, r)| !(*r > 0.0 && r.is_finite())) {
            return Err(Error::Config(format!(
                "learning-rate schedule: rate {r} is not positive"
            )));
        }
        Ok(PiecewiseConstant { stages })
    }

    /// The learning rate of step `step` (0-based).
    pub fn rate(&self, step: u64) -> f64 {
        let mut end = 0u64;
        for &(steps, rate) in &self.stages {
            end = end.saturating_add(steps);
            if step < end {
                return rate;
            }
        }
        self.stages.last().map_or(0.0, |s| s.1)
    }

    /// Total steps of all stages.
    pub fn total_steps(&self) -> u64 {
        self.stages.iter().map(|s| s.0).sum()
    }
}

/// The validation metric that early stopping and the best checkpoint follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// Validation loss; lower is better.
    ValLoss,
    /// Validation accuracy; higher is better.
    ValAccuracy,
}

impl Monitor {
    /// Whether `new` is strictly better than `old`.
    pub fn improves(self, new: f32, old: f32) -> bool {
        match self {
            Monitor::ValLoss => new < old,
            Monitor::ValAccuracy => new > old,
        }
    }

    /// The monitored value in a record, if it was measured.
    pub fn value(self, record: &Record) -> Option<f32> {
        match self {
            Monitor::ValLoss => record.val_loss.map(|v| v as f32),
            Monitor::ValAccuracy => record.val_accuracy.map(|v| v as f32),
        }
    }
}

/// Early stopping as Keras' callback does it: stop after `patience` validations without improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyStopping {
    /// The metric watched.
    pub monitor: Monitor,
    /// Validations without improvement before stopping (at least 1).
    pub patience: usize,
}

/// The best value of a metric seen so far and a copy of the model's
/// variables and buffers from then; counts the checks since.
#[derive(Clone, Debug)]
pub struct BestCheckpoint {
    monitor: Monitor,
    /// Whether improvements copy the model's state (not for a mere tracker).
    keep: bool,
    best: Option<f32>,
    best_check: usize,
    checks: usize,
    state: Vec<(String, Tensor)>,
}

impl BestCheckpoint {
    /// An empty checkpoint following `monitor`.
    pub fn new(monitor: Monitor) -> Self {
        BestCheckpoint {
            monitor,
            keep: true,
            best: None,
            best_check: 0,
            checks: 0,
            state: Vec::new(),
        }
    }

    /// A tracker of the best value that copies no state (for early stopping).
    pub fn tracking(monitor: Monitor) -> Self {
        BestCheckpoint {
            keep: false,
            ..BestCheckpoint::new(monitor)
        }
    }

    /// Records a check of `value`; when it is the best so far (or the first), copies the model's state. Returns whether it did.
    pub fn observe<M: Network + ?Sized>(&mut self, model: &M, value: f32) -> Result<bool> {
        self.checks += 1;
        let better = match self.best {
            None => !value.is_nan(),
            Some(b) => self.monitor.improves(value, b),
        };
        if better {
            self.best = Some(value);
            self.best_check = self.checks;
            if !self.keep {
                return Ok(true);
            }
            // `copy`: a variable's tensor shares storage that later updates overwrite
            self.state = model
                .named_state()
                .into_iter()
                .map(|(n, v)| Ok((n, v.as_tensor().copy()?)))
                .collect::<Result<_>>()?;
        }
        Ok(better)
    }

    /// The best value so far.
    pub fn best(&self) -> Option<f32> {
        self.best
    }

    /// The check (1-based) that gave the best value, 0 before any.
    pub fn best_check(&self) -> usize {
        self.best_check
    }

    /// Checks since the best one.
    pub fn since_best(&self) -> usize {
        self.checks - self.best_check
    }

    /// Puts the saved state back into `model` (a model with the same layer names and shapes).
    pub fn restore<M: Network + ?Sized>(&self, model: &M) -> Result<()> {
        if self.state.is_empty() {
            return Err(Error::Data("best checkpoint: nothing saved yet".into()));
        }
        let vars = model.named_state();
        for (name, t) in &self.state {
            let (_, v) = vars.iter().find(|(n, _)| n == name).ok_or_else(|| {
                Error::Data(format!("best checkpoint: the model has no variable {name}"))
            })?;
            if v.dims() != t.dims() {
                return Err(Error::Shape(format!(
                    "best checkpoint: {name} has shape {:?}, saved {:?}",
                    v.dims(),
                    t.dims()
                )));
            }
            v.set(t)?;
        }
        Ok(())
    }
}

/// The file name of the checkpoint written at `step`: `best-step{step}.safetensors`.
pub fn checkpoint_name(step: u64) -> String {
    format!("best-step{step}.safetensors")
}

/// The step of a checkpoint file name written by [`fit`], if it is one.
fn checkpoint_step(name: &str) -> Option<u64> {
    name.strip_prefix("best-step")?
        .strip_suffix(".safetensors")?
        .parse()
        .ok()
}

/// The checkpoints [`fit`] wrote into `dir` (with [`FitConfig::checkpoint_dir`]) as `(step, path)`, by step.
pub fn checkpoints(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if let Some(step) = entry.file_name().to_str().and_then(checkpoint_step) {
            found.push((step, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The best checkpoint in `dir`: each new best is written later than the one
/// before, so the last step's; `None` when there is none.
pub fn best_checkpoint(dir: &Path) -> Result<Option<(u64, PathBuf)>> {
    Ok(checkpoints(dir)?.pop())
}

/// Creates `dir` and removes the checkpoints of an earlier run from it.
fn clear_checkpoints(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (_, path) in checkpoints(dir)? {
        std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Mean softmax cross-entropy of `logits` `[N, K]` against class `labels` `[N]`
/// with label smoothing `smoothing`: targets `(1 - s) * onehot + s / K`, as
/// Keras' `CategoricalCrossentropy(label_smoothing=s)` and PyTorch's
/// `cross_entropy(label_smoothing=s)` define them; differentiable.
pub fn cross_entropy_smoothed(logits: &Tensor, labels: &Tensor, smoothing: f64) -> Result<Tensor> {
    let (n, k) = logits.dims2().map_err(|_| {
        Error::Shape(format!(
            "cross entropy: expected logits [N, classes], got {:?}",
            logits.dims()
        ))
    })?;
    if labels.dims() != [n] {
        return Err(Error::Shape(format!(
            "cross entropy: expected {n} labels, got shape {:?}",
            labels.dims()
        )));
    }
    if !(0.0..=1.0).contains(&smoothing) {
        return Err(Error::Config(format!(
            "cross entropy: label smoothing {smoothing} is not in [0, 1]"
        )));
    }
    let logp = candle_nn::ops::log_softmax(logits, 1)?;
    let labels = labels.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let mut q = vec![(smoothing / k as f64) as f32; n * k];
    for (row, &l) in labels.iter().enumerate() {
        if l as usize >= k {
            return Err(Error::Data(format!(
                "cross entropy: label {l} out of range for {k} classes"
            )));
        }
        q[row * k + l as usize] += (1.0 - smoothing) as f32;
    }
    let q = Tensor::from_vec(q, (n, k), logits.device())?.to_dtype(logits.dtype())?;
    Ok(((logp * q)?.sum_all()? / -(n as f64))?)
}

/// The number of classes `model` predicts: the width of its logits for one zero input.
fn classes_of<M: Network + ?Sized>(model: &M) -> Result<usize> {
    let [c, h, w] = model.input_shape();
    let x = Tensor::zeros((1, c, h, w), DType::F32, &Device::Cpu)?;
    Ok(rayon::scope(|_| model.forward(&x))?.dim(1)?)
}

fn check_shape(shape: [usize; 3], model: [usize; 3], what: &str) -> Result<()> {
    if shape != model {
        return Err(Error::Shape(format!(
            "{what}: samples of shape {shape:?} but the model expects {model:?}"
        )));
    }
    Ok(())
}

/// Sum of per-sample (label-smoothed by `smoothing`) cross-entropy and number
/// of correct argmaxes in a batch of logits; adds the predictions to `cm`.
fn batch_metrics(
    logits: &Tensor,
    labels: &[u32],
    smoothing: f64,
    cm: &mut ConfusionMatrix,
) -> Result<(f64, usize)> {
    let classes = logits.dim(1)?;
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::Data(format!(
            "label {bad} out of range for {classes} classes"
        )));
    }
    Ok(with_host::<f32, _>(logits, "metrics", |z| {
        let mut loss = 0f64;
        let mut correct = 0;
        for (row, &l) in z.chunks(classes).zip(labels) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = row
                .iter()
                .map(|&v| ((v - max) as f64).exp())
                .sum::<f64>()
                .ln();
            let nll = lse - (row[l as usize] - max) as f64;
            loss += if smoothing == 0.0 {
                nll
            } else {
                // -sum(q log p) with q = (1 - s) onehot + s / K
                let mean_nll =
                    row.iter().map(|&v| lse - (v - max) as f64).sum::<f64>() / classes as f64;
                (1.0 - smoothing) * nll + smoothing * mean_nll
            };
            // first maximum, as argmax does
            let arg = row
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            correct += (arg == l as usize) as usize;
            cm.add(l as usize, arg);
        }
        Ok((loss, correct))
    })?)
}

/// Validation metrics of `model` on `data`: mean cross-entropy, accuracy, macro accuracy.
fn validate<M: Network + ?Sized>(model: &M, data: &Samples) -> Result<(f64, f64, f64)> {
    check_shape(data.shape, model.input_shape(), "evaluation data")?;
    if data.is_empty() {
        return Err(Error::Data("evaluate: no samples".into()));
    }
    let (mut loss, mut correct) = (0f64, 0usize);
    let mut cm: Option<ConfusionMatrix> = None;
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(EVAL_BATCH) {
        let (x, _) = data.gather(chunk)?;
        let logits = rayon::scope(|_| model.forward(&x))?.detach();
        let cm = cm.get_or_insert_with(|| ConfusionMatrix::new(logits.dims()[1]));
        let labels = &data.labels[chunk[0]..chunk[0] + chunk.len()];
        let (l, c) = batch_metrics(&logits, labels, 0.0, cm)?;
        loss += l;
        correct += c;
    }
    let n = data.len() as f64;
    let macro_accuracy = cm.map_or(0.0, |cm| cm.macro_accuracy());
    Ok((loss / n, correct as f64 / n, macro_accuracy))
}

fn progress_bar(len: u64, show: bool) -> ProgressBar {
    let target = if show && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(len), target);
    if let Ok(style) =
        ProgressStyle::with_template("step {pos}/{len} [{bar:30}] {per_sec} {elapsed} {msg}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// The order training samples are drawn in: shuffled once per pass over the data.
struct Sampler {
    order: Vec<usize>,
    pos: usize,
    /// Passes started before the current one.
    epoch: u64,
    started: bool,
    rng: StdRng,
}

impl Sampler {
    fn new(n: usize, seed: u64) -> Self {
        Sampler {
            order: (0..n).collect(),
            pos: n,
            epoch: 0,
            started: false,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn new_pass(&mut self) {
        self.order.shuffle(&mut self.rng);
        self.pos = 0;
        if self.started {
            self.epoch += 1;
        }
        self.started = true;
    }

    /// The next batch within the current pass (smaller at its end).
    fn within_pass(&mut self, batch: usize) -> Vec<usize> {
        if self.pos == self.order.len() {
            self.new_pass();
        }
        let end = (self.pos + batch).min(self.order.len());
        let idx = self.order[self.pos..end].to_vec();
        self.pos = end;
        idx
    }

    /// The next full batch, starting a new pass when the order is used up.
    fn wrapping(&mut self, batch: usize) -> Vec<usize> {
        let mut idx = Vec::with_capacity(batch);
        while idx.len() < batch.min(self.order.len()) {
            if self.pos == self.order.len() {
                self.new_pass();
            }
            idx.push(self.order[self.pos]);
            self.pos += 1;
        }
        idx
    }

    fn pass_done(&self) -> bool {
        self.pos == self.order.len()
    }
}

/// Trains `model` in place on batches from `train`, validating on
/// `validation` (after each epoch, or every N steps: [`FitConfig::length`]);
/// returns one record per validation point (per epoch without validation data).
///
/// Every training loop of the workbench is a configuration of this one: the
/// MNIST tutorial (epochs), the keyword-spotting lab (steps with a piecewise
/// learning rate, best checkpoint by validation accuracy, early stopping on
/// validation loss), the EMG hands-on (epochs, label smoothing, best
/// checkpoint and early stopping on validation loss) and QAT models.
pub fn fit<M: Network + ?Sized, S: TrainSource + ?Sized>(
    model: &M,
    train: &S,
    validation: Option<&Samples>,
    cfg: &FitConfig,
) -> Result<History> {
    if cfg.batch_size == 0 {
        return Err(Error::Config("fit: batch size must be positive".into()));
    }
    if train.is_empty() {
        return Err(Error::Data("fit: no training samples".into()));
    }
    check_shape(train.sample_shape(), model.input_shape(), "training data")?;
    if let Some(v) = validation {
        check_shape(v.shape, model.input_shape(), "validation data")?;
        if v.is_empty() {
            return Err(Error::Data("fit: no validation samples".into()));
        }
    }
    if (cfg.early_stopping.is_some() || cfg.best.is_some()) && validation.is_none() {
        return Err(Error::Data(
            "fit: early stopping and the best checkpoint need validation data".into(),
        ));
    }
    if let Some(dir) = &cfg.checkpoint_dir {
        if cfg.best.is_none() {
            return Err(Error::Config(
                "fit: checkpoints are written for the best weights: set FitConfig::best too".into(),
            ));
        }
        clear_checkpoints(dir)?;
    }
    let n = train.len();
    let (total, unit) = match cfg.length {
        Length::Epochs(e) => (e as u64 * n.div_ceil(cfg.batch_size) as u64, Unit::Epoch),
        Length::Steps {
            steps,
            validate_every,
        } => {
            if validate_every == 0 {
                return Err(Error::Config(
                    "fit: the validation interval must be positive".into(),
                ));
            }
            (steps, Unit::Step)
        }
    };
    let classes = classes_of(model)?;
    let mut opt = cfg.optimizer.build_for(model, cfg.learning_rate)?;
    let mut best = cfg.best.map(BestCheckpoint::new);
    let mut stopper = cfg
        .early_stopping
        .map(|e| BestCheckpoint::tracking(e.monitor));
    let mut sampler = Sampler::new(n, cfg.seed);
    let mut history = History {
        unit,
        ..History::default()
    };
    let pb = progress_bar(total, cfg.progress);
    let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
    let mut cm = ConfusionMatrix::new(classes);
    let mut start = Instant::now();
    for step in 0..total {
        let idx = match cfg.length {
            Length::Epochs(_) => sampler.within_pass(cfg.batch_size),
            Length::Steps { .. } => sampler.wrapping(cfg.batch_size),
        };
        let (x, y, labels) = train.batch(&idx, sampler.epoch)?;
        if let Some(s) = &cfg.schedule {
            opt.set_learning_rate(s.rate(step));
        }
        let logits = train_step_smoothed(model, opt.as_mut(), &x, &y, cfg.label_smoothing)?;
        let (l, c) = batch_metrics(&logits, &labels, cfg.label_smoothing, &mut cm)?;
        loss_sum += l;
        correct += c;
        seen += labels.len();
        pb.inc(1);
        let done = step + 1;
        let record_now = match cfg.length {
            Length::Epochs(_) => sampler.pass_done(),
            Length::Steps { validate_every, .. } => done % validate_every == 0 || done == total,
        };
        if !record_now {
            continue;
        }
        let seconds = start.elapsed().as_secs_f64();
        let val = validation.map(|v| validate(model, v)).transpose()?;
        let record = Record {
            step: done,
            epoch: sampler.epoch + 1,
            loss: loss_sum / seen as f64,
            accuracy: correct as f64 / seen as f64,
            macro_accuracy: cm.macro_accuracy(),
            val_loss: val.map(|v| v.0),
            val_accuracy: val.map(|v| v.1),
            val_macro_accuracy: val.map(|v| v.2),
            learning_rate: opt.learning_rate(),
            seconds,
        };
        (loss_sum, correct, seen) = (0.0, 0, 0);
        cm = ConfusionMatrix::new(classes);
        let line = match cfg.length {
            Length::Epochs(e) => format!("epoch {}/{e}: {}", record.epoch, record.line()),
            Length::Steps { .. } => format!(
                "step {done}/{total}: {} - lr {}",
                record.line(),
                record.learning_rate
            ),
        };
        pb.set_message(line.clone());
        // Without a terminal (notebooks, logs) the bar is hidden: one line per record instead.
        if cfg.progress && !std::io::stderr().is_terminal() {
            println!("{line}");
        }
        if let (Some(monitor), Some(best)) = (cfg.best, best.as_mut()) {
            if let Some(v) = monitor.value(&record) {
                if best.observe(model, v)? {
                    if let Some(dir) = &cfg.checkpoint_dir {
                        model.save_state(&dir.join(checkpoint_name(done)))?;
                    }
                }
            }
        }
        let mut stop = false;
        if let (Some(es), Some(stopper)) = (&cfg.early_stopping, stopper.as_mut()) {
            if let Some(v) = es.monitor.value(&record) {
                stopper.observe(model, v)?;
            }
            stop = stopper.since_best() >= es.patience.max(1);
        }
        history.records.push(record);
        if stop {
            if let (true, Some(es)) = (cfg.progress, cfg.early_stopping) {
                println!(
                    "early stopping at step {done}: no better {:?} for {} validations",
                    es.monitor,
                    es.patience.max(1)
                );
            }
            break;
        }
        start = Instant::now();
    }
    pb.finish();
    if let Some(best) = &best {
        if best.best().is_some() {
            best.restore(model)?;
            history.best = Some(best.best_check() - 1);
        }
    }
    Ok(history)
}

/// One optimisation step on batch `(x, y)`; returns the logits before the step.
pub fn train_step<M: Network + ?Sized>(
    model: &M,
    opt: &mut dyn Optimizer,
    x: &Tensor,
    y: &Tensor,
) -> Result<Tensor> {
    train_step_smoothed(model, opt, x, y, 0.0)
}

/// One optimisation step (training mode) on batch `(x, y)` with label
/// smoothing `smoothing`; returns the logits before the step.
pub fn train_step_smoothed<M: Network + ?Sized>(
    model: &M,
    opt: &mut dyn Optimizer,
    x: &Tensor,
    y: &Tensor,
    smoothing: f64,
) -> Result<Tensor> {
    // On a rayon worker, the ops' parallel loops start without waking threads from outside.
    rayon::scope(|_| {
        let logits = model.forward_train(x)?;
        let loss = if smoothing == 0.0 {
            candle_nn::loss::cross_entropy(&logits, y)?
        } else {
            cross_entropy_smoothed(&logits, y, smoothing)?
        };
        let grads = loss.backward()?;
        opt.step(&grads)?;
        Ok(logits)
    })
}

const EVAL_BATCH: usize = 256;

/// Mean cross-entropy loss and accuracy of `model` on `data`.
pub fn evaluate<M: Network + ?Sized>(model: &M, data: &Samples) -> Result<(f32, f32)> {
    let (loss, accuracy, _) = validate(model, data)?;
    Ok((loss as f32, accuracy as f32))
}

/// The logits `[N, classes]` of `model` for flat NCHW `images`.
pub fn predict<M: Network + ?Sized>(model: &M, images: &[f32]) -> Result<Tensor> {
    let input_shape = model.input_shape();
    let per: usize = input_shape.iter().product();
    if !images.len().is_multiple_of(per) {
        return Err(Error::Shape(format!(
            "predict: {} values is not a whole number of {:?} images",
            images.len(),
            input_shape
        )));
    }
    let [c, h, w] = input_shape;
    let mut outs = Vec::new();
    for chunk in images.chunks(EVAL_BATCH * per) {
        let x = Tensor::from_slice(chunk, (chunk.len() / per, c, h, w), &Device::Cpu)?;
        outs.push(rayon::scope(|_| model.forward(&x))?.detach());
    }
    if outs.is_empty() {
        return Err(Error::Data("predict: no images".into()));
    }
    Ok(Tensor::cat(&outs, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::mnist_cnn;

    #[test]
    fn sgd_choice_spares_vectors_from_decay() {
        // lr 0.1, wd 0.5, gradient 1 everywhere: a weight matrix [2, 2] goes to
        // 2 - 0.1 * (1 + 0.5 * 2) = 1.8; a vector (bias, gamma, PACT clip) to
        // 2 - 0.1 * 1 = 1.9 without decay, 1.8 with it (decay_vectors).
        let dev = &Device::Cpu;
        for (decay_vectors, want_vector) in [(false, 1.9f32), (true, 1.8)] {
            let w = candle_core::Var::new(&[[2f32, 2.0]], dev).unwrap();
            let b = candle_core::Var::new(&[2f32], dev).unwrap();
            let choice = OptimizerChoice::Sgd {
                config: SgdConfig {
                    weight_decay: 0.5,
                    ..Default::default()
                },
                decay_vectors,
            };
            let mut opt = choice.build(vec![w.clone(), b.clone()], 0.1).unwrap();
            let loss =
                (w.as_tensor().sum_all().unwrap() + b.as_tensor().sum_all().unwrap()).unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
            let wv = w
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            assert!(wv.iter().all(|v| (v - 1.8).abs() < 1e-6), "{wv:?}");
            let bv = b.as_tensor().to_vec1::<f32>().unwrap()[0];
            assert!((bv - want_vector).abs() < 1e-6, "{bv} vs {want_vector}");
        }
    }

    #[test]
    fn bad_data_is_an_error() {
        assert!(Samples::new(vec![0.0; 10], vec![1, 2], [1, 2, 2]).is_err());
        let m = mnist_cnn(0).unwrap();
        let s = Samples::new(vec![0.0; 2 * 784], vec![3, 10], [1, 28, 28]).unwrap();
        let e = evaluate(&m, &s).unwrap_err().to_string();
        assert!(e.contains("label 10 out of range for 10 classes"), "{e}");
        let s = Samples::new(vec![0.0; 2 * 16], vec![3, 1], [1, 4, 4]).unwrap();
        assert!(fit(&m, &s, None, &FitConfig::default()).is_err());
        assert!(predict(&m, &[0.0; 100]).is_err());
    }

    #[test]
    fn batch_metrics_by_hand() {
        // logits [0, ln 3] -> p = [1/4, 3/4]; label 1: loss -ln(3/4) = 0.28768, correct
        // logits [2, 0] label 1: loss ln(1 + e^2) - 0 = 2.12693, wrong
        let z = Tensor::new(&[[0f32, 3f32.ln()], [2., 0.]], &Device::Cpu).unwrap();
        let mut cm = ConfusionMatrix::new(2);
        let (loss, correct) = batch_metrics(&z, &[1, 1], 0.0, &mut cm).unwrap();
        assert!((loss - (0.287_682 + 2.126_928)).abs() < 1e-5, "{loss}");
        assert_eq!(correct, 1);
        // predicted 1 then 0, both truly 1: recall of class 1 is 1/2, class 0 never occurs
        assert_eq!(cm.macro_accuracy(), 0.5);
    }

    #[test]
    fn piecewise_constant_by_hand() {
        let s = PiecewiseConstant::new(vec![(3, 1e-3), (2, 1e-4)]).unwrap();
        let rates: Vec<f64> = (0..7).map(|i| s.rate(i)).collect();
        assert_eq!(rates, [1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-4]);
        assert_eq!(s.total_steps(), 5);
        assert!(PiecewiseConstant::new(vec![]).is_err());
        assert!(PiecewiseConstant::new(vec![(1, 0.0)]).is_err());
    }

    #[test]
    fn smoothed_cross_entropy_by_hand() {
        // logits [0, ln 3] -> log p = [ln 1/4, ln 3/4]; label 1, smoothing 0.2, K = 2:
        // targets [0.1, 0.9]; loss = -(0.1 ln 0.25 + 0.9 ln 0.75) = 0.1386294 + 0.2589139
        let z = Tensor::new(&[[0f64, 3f64.ln()]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[1u32], &Device::Cpu).unwrap();
        let l = cross_entropy_smoothed(&z, &y, 0.2)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!((l - 0.397_543_3).abs() < 1e-6, "{l}");
        // smoothing 0 is candle's cross-entropy
        let z = Tensor::randn(0f32, 2., (5, 4), &Device::Cpu).unwrap();
        let y = Tensor::new(&[0u32, 3, 1, 1, 2], &Device::Cpu).unwrap();
        let a = cross_entropy_smoothed(&z, &y, 0.0).unwrap();
        let b = candle_nn::loss::cross_entropy(&z, &y).unwrap();
        let d = (a - b).unwrap().abs().unwrap().to_scalar::<f32>().unwrap();
        assert!(d < 1e-6);
        let bad = Tensor::new(&[0u32, 4, 1, 1, 2], &Device::Cpu).unwrap();
        assert!(cross_entropy_smoothed(&z, &bad, 0.1).is_err());
        assert!(cross_entropy_smoothed(&z, &y, 1.5).is_err());
    }

    #[test]
    fn best_checkpoint_keeps_and_restores_the_best() {
        let m = mnist_cnn(0).unwrap();
        let w0 = m.vars()[0].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let mut best = BestCheckpoint::new(Monitor::ValLoss);
        assert!(best.restore(&m).is_err());
        assert!(best.observe(&m, 1.0).unwrap());
        // the weights change, the loss gets worse: nothing saved
        m.vars()[0].set(&m.vars()[0].zeros_like().unwrap()).unwrap();
        assert!(!best.observe(&m, 1.5).unwrap());
        assert!(!best.observe(&m, 1.0).unwrap(), "equal is not better");
        assert_eq!(
            (best.best(), best.best_check(), best.since_best()),
            (Some(1.0), 1, 2)
        );
        best.restore(&m).unwrap();
        let w = m.vars()[0].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(w, w0);
        let mut acc = BestCheckpoint::new(Monitor::ValAccuracy);
        acc.observe(&m, 0.5).unwrap();
        assert!(acc.observe(&m, 0.6).unwrap());
    }

    #[test]
    fn early_stopping_stops_and_restores() {
        // validation labels the model cannot learn (they contradict the training labels):
        // validation loss rises from the first epoch, so training stops after patience epochs
        let m = mnist_cnn(1).unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        let images: Vec<f32> = (0..64 * 784)
            .map(|_| rand::Rng::random_range(&mut rng, -100f32..100.))
            .collect();
        let labels: Vec<u32> = (0..64).map(|i| i % 10).collect();
        let train = Samples::new(images.clone(), labels.clone(), [1, 28, 28]).unwrap();
        let flipped: Vec<u32> = labels.iter().map(|l| (l + 5) % 10).collect();
        let val = Samples::new(images, flipped, [1, 28, 28]).unwrap();
        let cfg = FitConfig {
            length: Length::Epochs(30),
            batch_size: 16,
            progress: false,
            learning_rate: 3e-3,
            label_smoothing: 0.1,
            schedule: Some(PiecewiseConstant::new(vec![(8, 3e-3), (8, 1e-3)]).unwrap()),
            best: Some(Monitor::ValLoss),
            early_stopping: Some(EarlyStopping {
                monitor: Monitor::ValLoss,
                patience: 3,
            }),
            ..FitConfig::default()
        };
        let h = fit(&m, &train, Some(&val), &cfg).unwrap();
        let losses: Vec<f32> = h
            .records
            .iter()
            .map(|e| e.val_loss.unwrap() as f32)
            .collect();
        assert!(h.records.len() < 30, "stopped early: {losses:?}");
        let best = losses.iter().copied().fold(f32::INFINITY, f32::min);
        let best_at = losses.iter().position(|&l| l == best).unwrap();
        assert_eq!(
            best_at + 1 + 3,
            h.records.len(),
            "3 epochs after the best: {losses:?}"
        );
        assert_eq!(h.best, Some(best_at));
        // the restored model has the best validation loss
        let (l, _) = evaluate(&m, &val).unwrap();
        assert!((l - best).abs() < 1e-5, "{l} vs {best}");
        assert!(fit(&m, &train, None, &cfg).is_err());
    }

    #[test]
    fn best_checkpoints_are_written_and_reload_to_the_best_validation() {
        let dir = std::env::temp_dir().join(format!("wb-fit-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // a stale checkpoint of an earlier run is removed
        std::fs::write(dir.join(checkpoint_name(999)), b"old").unwrap();
        let m = mnist_cnn(2).unwrap();
        let mut rng = StdRng::seed_from_u64(5);
        let images: Vec<f32> = (0..96 * 784)
            .map(|_| rand::Rng::random_range(&mut rng, 0f32..1.))
            .collect();
        let labels: Vec<u32> = (0..96).map(|i| i % 4).collect();
        let all = Samples::new(images, labels, [1, 28, 28]).unwrap();
        let train = all.take(64);
        let val = Samples::new(
            all.images[64 * 784..].to_vec(),
            all.labels[64..].to_vec(),
            [1, 28, 28],
        )
        .unwrap();
        let cfg = FitConfig {
            length: Length::Steps {
                steps: 12,
                validate_every: 2,
            },
            batch_size: 16,
            progress: false,
            best: Some(Monitor::ValLoss),
            checkpoint_dir: Some(dir.clone()),
            ..FitConfig::default()
        };
        let h = fit(&m, &train, Some(&val), &cfg).unwrap();
        let found = checkpoints(&dir).unwrap();
        // one file per new best, the first validation included, none left from before
        let improvements: Vec<u64> = h
            .records
            .iter()
            .scan(f64::INFINITY, |b, r| {
                let l = r.val_loss.unwrap();
                Some(if l < *b {
                    *b = l;
                    Some(r.step)
                } else {
                    None
                })
            })
            .flatten()
            .collect();
        assert_eq!(
            found.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            improvements
        );
        let best = h.best_record().unwrap();
        let (step, path) = best_checkpoint(&dir).unwrap().unwrap();
        assert_eq!(step, best.step);
        // a fresh model loaded from the file has the best validation loss and accuracy
        let fresh = mnist_cnn(7).unwrap();
        fresh.load(&path).unwrap();
        let (loss, acc, _) = validate(&fresh, &val).unwrap();
        assert!(
            (loss - best.val_loss.unwrap()).abs() < 1e-5,
            "{loss} vs {best:?}"
        );
        assert_eq!(acc, best.val_accuracy.unwrap());
        // checkpoints need a best metric
        let no_best = FitConfig { best: None, ..cfg };
        assert!(fit(&m, &train, Some(&val), &no_best).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
