//! The training loop: mini-batch Adam on softmax cross-entropy, with
//! evaluation and prediction.

use std::io::IsTerminal;
use std::time::Instant;

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use super::adam::Adam;
use super::host::with_host;
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
    pub(crate) fn gather(&self, idx: &[usize]) -> Result<(Tensor, Tensor)> {
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
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 5,
            batch_size: 64,
            learning_rate: 1e-3,
            seed: 0,
            progress: true,
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
    let mut opt = Adam::new(model.vars(), cfg.learning_rate);
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
            let logits = train_step(model, &mut opt, &x, &y)?;
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
        history.epochs.push(stats);
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
    // On a rayon worker, the ops' parallel loops start without waking threads from outside.
    rayon::scope(|_| {
        let logits = model.forward(x)?;
        let loss = candle_nn::loss::cross_entropy(&logits, y)?;
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
pub fn predict(model: &Sequential, images: &[f32]) -> Result<Tensor> {
    let per: usize = model.input_shape.iter().product();
    if !images.len().is_multiple_of(per) {
        return Err(Error::Msg(format!(
            "predict: {} values is not a whole number of {:?} images",
            images.len(),
            model.input_shape
        )));
    }
    let [c, h, w] = model.input_shape;
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
}
