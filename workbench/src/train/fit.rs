//! The training loop: mini-batch Adam on softmax cross-entropy (optionally
//! label-smoothed), with a piecewise-constant learning-rate schedule, early
//! stopping with the best checkpoint, evaluation and prediction.

use std::io::IsTerminal;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use super::adam::Adam;
use super::host::with_host;
use super::network::Network;
use super::sequential::Sequential;
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
            return Err(Error::Msg(format!(
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

/// Training data and optional validation data (e.g. the test set).
#[derive(Clone, Debug)]
pub struct TrainData {
    /// The samples trained on.
    pub train: Samples,
    /// Samples evaluated after each epoch.
    pub validation: Option<Samples>,
}

/// Training settings; the defaults are Keras' (Adam 1e-3, batch 64... epochs 5).
#[derive(Clone, Debug)]
pub struct FitConfig {
    /// Passes over the training data.
    pub epochs: usize,
    /// Samples per step; the last batch of an epoch may be smaller.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seed of the per-epoch shuffling.
    pub seed: u64,
    /// Show a progress bar per epoch (only when stderr is a terminal).
    pub progress: bool,
    /// Label smoothing of the cross-entropy (0 = none), as Keras' and PyTorch's `label_smoothing`.
    pub label_smoothing: f64,
    /// A learning rate per step, replacing `learning_rate` when set.
    pub schedule: Option<PiecewiseConstant>,
    /// Stop when the validation metric stops improving, and keep the best weights (needs validation data).
    pub early_stopping: Option<EarlyStopping>,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 5,
            batch_size: 64,
            learning_rate: 1e-3,
            seed: 0,
            progress: true,
            label_smoothing: 0.0,
            schedule: None,
            early_stopping: None,
        }
    }
}

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// Mean training loss over the epoch's samples (weights changing meanwhile, as Keras reports it).
    pub loss: f32,
    /// Training accuracy over the epoch's samples, likewise.
    pub accuracy: f32,
    /// Loss on the validation data after the epoch.
    pub val_loss: Option<f32>,
    /// Accuracy on the validation data after the epoch.
    pub val_accuracy: Option<f32>,
    /// Wall time of the epoch's training steps, in seconds.
    pub seconds: f64,
}

impl EpochStats {
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
            return Err(Error::Msg("learning-rate schedule: no stages".into()));
        }
        if let Some((_, r)) = stages.iter().find(|(_, r)| !(*r > 0.0 && r.is_finite())) {
            return Err(Error::Msg(format!(
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

    /// The monitored value in an epoch's stats, if it was measured.
    pub fn value(self, stats: &EpochStats) -> Option<f32> {
        match self {
            Monitor::ValLoss => stats.val_loss,
            Monitor::ValAccuracy => stats.val_accuracy,
        }
    }
}

/// Early stopping as Keras' callback does it: stop after `patience` checks without improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyStopping {
    /// The metric watched.
    pub monitor: Monitor,
    /// Checks (epochs in [`fit`]) without improvement before stopping.
    pub patience: usize,
    /// Put the best weights back at the end (Keras' `restore_best_weights`).
    pub restore_best: bool,
}

/// The best value of a metric seen so far and a copy of the model's
/// variables and buffers from then; counts the checks since.
#[derive(Clone, Debug)]
pub struct BestCheckpoint {
    monitor: Monitor,
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
            best: None,
            best_check: 0,
            checks: 0,
            state: Vec::new(),
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
            return Err(Error::Msg("best checkpoint: nothing saved yet".into()));
        }
        let vars = model.named_state();
        for (name, t) in &self.state {
            let (_, v) = vars.iter().find(|(n, _)| n == name).ok_or_else(|| {
                Error::Msg(format!("best checkpoint: the model has no variable {name}"))
            })?;
            if v.dims() != t.dims() {
                return Err(Error::Msg(format!(
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

/// Mean softmax cross-entropy of `logits` `[N, K]` against class `labels` `[N]`
/// with label smoothing `smoothing`: targets `(1 - s) * onehot + s / K`, as
/// Keras' `CategoricalCrossentropy(label_smoothing=s)` and PyTorch's
/// `cross_entropy(label_smoothing=s)` define them; differentiable.
pub fn cross_entropy_smoothed(logits: &Tensor, labels: &Tensor, smoothing: f64) -> Result<Tensor> {
    let (n, k) = logits.dims2().map_err(|_| {
        Error::Msg(format!(
            "cross entropy: expected logits [N, classes], got {:?}",
            logits.dims()
        ))
    })?;
    if labels.dims() != [n] {
        return Err(Error::Msg(format!(
            "cross entropy: expected {n} labels, got shape {:?}",
            labels.dims()
        )));
    }
    if !(0.0..=1.0).contains(&smoothing) {
        return Err(Error::Msg(format!(
            "cross entropy: label smoothing {smoothing} is not in [0, 1]"
        )));
    }
    let logp = candle_nn::ops::log_softmax(logits, 1)?;
    let labels = labels.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let mut q = vec![(smoothing / k as f64) as f32; n * k];
    for (row, &l) in labels.iter().enumerate() {
        if l as usize >= k {
            return Err(Error::Msg(format!(
                "cross entropy: label {l} out of range for {k} classes"
            )));
        }
        q[row * k + l as usize] += (1.0 - smoothing) as f32;
    }
    let q = Tensor::from_vec(q, (n, k), logits.device())?.to_dtype(logits.dtype())?;
    Ok(((logp * q)?.sum_all()? / -(n as f64))?)
}

/// Per-epoch metrics of a [`fit`] run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One entry per epoch.
    pub epochs: Vec<EpochStats>,
}

fn check_labels(model: &Sequential, data: &Samples, what: &str) -> Result<()> {
    if data.shape != model.input_shape {
        return Err(Error::Msg(format!(
            "{what}: samples of shape {:?} but the model expects {:?}",
            data.shape, model.input_shape
        )));
    }
    let classes = match model.summary()?.last() {
        Some(last) => last.output_shape.iter().product::<usize>(),
        None => return Err(Error::Msg("model has no layers".into())),
    };
    if let Some(&bad) = data.labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::Msg(format!(
            "{what}: label {bad} out of range for {classes} classes"
        )));
    }
    Ok(())
}

/// Sum of per-sample cross-entropy and number of correct argmaxes in a batch of logits.
fn batch_metrics(logits: &Tensor, labels: &[u32]) -> Result<(f64, usize)> {
    let classes = logits.dim(1)?;
    Ok(with_host::<f32, _>(logits, "metrics", |z| {
        let mut loss = 0f64;
        let mut correct = 0;
        for (row, &l) in z.chunks(classes).zip(labels) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
            loss += sum.ln() - (row[l as usize] - max) as f64;
            // first maximum, as argmax does
            let arg = row
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
            correct += (arg == l as usize) as usize;
        }
        Ok((loss, correct))
    })?)
}

fn progress_bar(len: usize, show: bool, epoch: usize, epochs: usize) -> ProgressBar {
    let target = if show && std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(len as u64), target);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} {elapsed} {msg}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
    pb
}

/// Trains `model` in place on `data`, returning per-epoch metrics.
pub fn fit(model: &Sequential, data: &TrainData, cfg: &FitConfig) -> Result<History> {
    if cfg.batch_size == 0 {
        return Err(Error::Msg("fit: batch size must be positive".into()));
    }
    if data.train.is_empty() {
        return Err(Error::Msg("fit: no training samples".into()));
    }
    check_labels(model, &data.train, "training data")?;
    if let Some(v) = &data.validation {
        check_labels(model, v, "validation data")?;
    }
    if cfg.early_stopping.is_some() && data.validation.is_none() {
        return Err(Error::Msg(
            "fit: early stopping needs validation data".into(),
        ));
    }
    let mut opt = Adam::new(model.vars(), cfg.learning_rate);
    let mut best = cfg.early_stopping.map(|e| BestCheckpoint::new(e.monitor));
    let mut step = 0u64;
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut history = History::default();
    for epoch in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let pb = progress_bar(order.len(), cfg.progress, epoch, cfg.epochs);
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        for idx in order.chunks(cfg.batch_size) {
            let (x, y) = data.train.gather(idx)?;
            if let Some(s) = &cfg.schedule {
                opt.learning_rate = s.rate(step);
            }
            step += 1;
            let logits = train_step_smoothed(model, &mut opt, &x, &y, cfg.label_smoothing)?;
            let labels = &idx
                .iter()
                .map(|&i| data.train.labels[i])
                .collect::<Vec<_>>();
            let (l, c) = batch_metrics(&logits, labels)?;
            loss_sum += l;
            correct += c;
            seen += idx.len();
            pb.inc(idx.len() as u64);
            pb.set_message(format!(
                "loss {:.4} acc {:.4}",
                loss_sum / seen as f64,
                correct as f64 / seen as f64
            ));
        }
        let seconds = start.elapsed().as_secs_f64();
        let (val_loss, val_accuracy) = match &data.validation {
            Some(v) => {
                let (l, a) = evaluate(model, v)?;
                pb.set_message(format!(
                    "loss {:.4} acc {:.4} val_loss {l:.4} val_acc {a:.4}",
                    loss_sum / seen as f64,
                    correct as f64 / seen as f64
                ));
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        pb.finish();
        let stats = EpochStats {
            loss: (loss_sum / seen as f64) as f32,
            accuracy: (correct as f64 / seen as f64) as f32,
            val_loss,
            val_accuracy,
            seconds,
        };
        // Without a terminal (notebooks, logs) the bar is hidden: one line per epoch instead.
        if cfg.progress && !std::io::stderr().is_terminal() {
            println!("epoch {}/{}: {}", epoch + 1, cfg.epochs, stats.line());
        }
        let mut stop = false;
        if let (Some(es), Some(best)) = (&cfg.early_stopping, best.as_mut()) {
            if let Some(v) = es.monitor.value(&stats) {
                best.observe(model, v)?;
            }
            stop = best.since_best() >= es.patience.max(1);
        }
        history.epochs.push(stats);
        if stop {
            break;
        }
    }
    if let (Some(es), Some(best)) = (&cfg.early_stopping, &best) {
        if es.restore_best && best.best().is_some() {
            best.restore(model)?;
        }
    }
    Ok(history)
}

/// One optimisation step on batch `(x, y)`; returns the logits before the step.
pub(crate) fn train_step(
    model: &Sequential,
    opt: &mut Adam,
    x: &Tensor,
    y: &Tensor,
) -> Result<Tensor> {
    train_step_smoothed(model, opt, x, y, 0.0)
}

/// One optimisation step (training mode) on batch `(x, y)` with label
/// smoothing `smoothing`; returns the logits before the step.
pub fn train_step_smoothed<M: Network + ?Sized>(
    model: &M,
    opt: &mut Adam,
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
pub fn evaluate(model: &Sequential, data: &Samples) -> Result<(f32, f32)> {
    check_labels(model, data, "evaluation data")?;
    if data.is_empty() {
        return Err(Error::Msg("evaluate: no samples".into()));
    }
    let (mut loss, mut correct) = (0f64, 0usize);
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(EVAL_BATCH) {
        let (x, _) = data.gather(chunk)?;
        let logits = rayon::scope(|_| model.forward(&x))?.detach();
        let (l, c) = batch_metrics(&logits, &data.labels[chunk[0]..chunk[0] + chunk.len()])?;
        loss += l;
        correct += c;
    }
    Ok((
        (loss / data.len() as f64) as f32,
        (correct as f64 / data.len() as f64) as f32,
    ))
}

/// The logits `[N, classes]` of `model` for flat NCHW `images`.
pub fn predict<M: Network + ?Sized>(model: &M, images: &[f32]) -> Result<Tensor> {
    let input_shape = model.input_shape();
    let per: usize = input_shape.iter().product();
    if !images.len().is_multiple_of(per) {
        return Err(Error::Msg(format!(
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
        return Err(Error::Msg("predict: no images".into()));
    }
    Ok(Tensor::cat(&outs, 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::mnist_cnn;

    #[test]
    fn bad_data_is_an_error() {
        assert!(Samples::new(vec![0.0; 10], vec![1, 2], [1, 2, 2]).is_err());
        let m = mnist_cnn(0).unwrap();
        let s = Samples::new(vec![0.0; 2 * 784], vec![3, 10], [1, 28, 28]).unwrap();
        let e = evaluate(&m, &s).unwrap_err().to_string();
        assert!(e.contains("label 10 out of range for 10 classes"), "{e}");
        let s = Samples::new(vec![0.0; 2 * 16], vec![3, 1], [1, 4, 4]).unwrap();
        let data = TrainData {
            train: s,
            validation: None,
        };
        assert!(fit(&m, &data, &FitConfig::default()).is_err());
        assert!(predict(&m, &[0.0; 100]).is_err());
    }

    #[test]
    fn batch_metrics_by_hand() {
        // logits [0, ln 3] -> p = [1/4, 3/4]; label 1: loss -ln(3/4) = 0.28768, correct
        // logits [2, 0] label 1: loss ln(1 + e^2) - 0 = 2.12693, wrong
        let z = Tensor::new(&[[0f32, 3f32.ln()], [2., 0.]], &Device::Cpu).unwrap();
        let (loss, correct) = batch_metrics(&z, &[1, 1]).unwrap();
        assert!((loss - (0.287_682 + 2.126_928)).abs() < 1e-5, "{loss}");
        assert_eq!(correct, 1);
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
        let data = TrainData {
            train,
            validation: Some(val.clone()),
        };
        let cfg = FitConfig {
            epochs: 30,
            batch_size: 16,
            progress: false,
            learning_rate: 3e-3,
            label_smoothing: 0.1,
            schedule: Some(PiecewiseConstant::new(vec![(8, 3e-3), (8, 1e-3)]).unwrap()),
            early_stopping: Some(EarlyStopping {
                monitor: Monitor::ValLoss,
                patience: 3,
                restore_best: true,
            }),
            ..FitConfig::default()
        };
        let h = fit(&m, &data, &cfg).unwrap();
        let losses: Vec<f32> = h.epochs.iter().map(|e| e.val_loss.unwrap()).collect();
        assert!(h.epochs.len() < 30, "stopped early: {losses:?}");
        let best = losses.iter().copied().fold(f32::INFINITY, f32::min);
        let best_at = losses.iter().position(|&l| l == best).unwrap();
        assert_eq!(
            best_at + 1 + 3,
            h.epochs.len(),
            "3 epochs after the best: {losses:?}"
        );
        // the restored model has the best validation loss
        let (l, _) = evaluate(&m, &val).unwrap();
        assert!((l - best).abs() < 1e-5, "{l} vs {best}");
        let no_val = TrainData {
            train: data.train.clone(),
            validation: None,
        };
        assert!(fit(&m, &no_val, &cfg).is_err());
    }
}
