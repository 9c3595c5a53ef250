//! `workbench mobilenet train` and `eval`: MobileNetV1's float training on an
//! ImageFolder tree, QuantLib's PACT flow (fake-quantized fine-tuning, integer
//! network, DORY-style ONNX and feature dump, TFLite int8 form), and a saved run's evaluation.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use workbench::quant::f2f::Granularity;
use workbench::tutorial::mobilenet::{self, MobileNetTrainConfig};

/// The MobileNet tutorial's subcommands.
#[derive(Subcommand)]
pub enum MobilenetCmd {
    /// Trains MobileNetV1 (SGD, Nesterov), fine-tunes it with PACT and makes it integer (QuantLib's flow);
    /// writes model.safetensors, model_pact.safetensors, config.json (these three as soon as they exist),
    /// model_int8.tflite, model_integer.onnx (DORY-style), features/ (DORY's per-layer dump of one image)
    /// and metrics.json (float, fake-quantized, integer and TFLite int8 accuracy, agreement).
    Train(TrainArgs),
    /// Evaluates a trained run (its config.json and checkpoints) on an ImageFolder split:
    /// float, fake-quantized, integer and TFLite int8 accuracy, and the fake/integer agreement.
    Eval(EvalArgs),
}

/// Flags of `workbench mobilenet eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Directory written by `workbench mobilenet train --out`.
    #[arg(long)]
    run: PathBuf,
    /// ImageFolder root holding the split (one folder per class inside it).
    #[arg(long)]
    data: PathBuf,
    /// Split folder under the data root.
    #[arg(long, default_value = "val")]
    split: String,
    /// Images per class (default all).
    #[arg(long)]
    limit: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// The library's defaults, which the flags show.
const TRAIN_DEFAULTS: MobileNetTrainConfig = MobileNetTrainConfig::DEFAULT;

/// Flags of `workbench mobilenet train`.
#[derive(Args)]
pub struct TrainArgs {
    /// ImageFolder root with train/ and val/ (one folder per class).
    #[arg(long)]
    data: PathBuf,
    /// Width multiplier.
    #[arg(long, default_value_t = TRAIN_DEFAULTS.width)]
    width: f64,
    /// Input side in pixels.
    #[arg(long, default_value_t = TRAIN_DEFAULTS.resolution)]
    resolution: usize,
    /// Passes over the training images.
    #[arg(long, default_value_t = TRAIN_DEFAULTS.epochs)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = TRAIN_DEFAULTS.batch_size)]
    batch_size: usize,
    /// SGD's learning rate.
    #[arg(long, default_value_t = TRAIN_DEFAULTS.learning_rate)]
    learning_rate: f64,
    /// Seed of the weights, the order and the augmentation.
    #[arg(long, default_value_t = TRAIN_DEFAULTS.seed)]
    seed: u64,
    /// Passes of PACT fine-tuning (0: observation only).
    #[arg(long, default_value_t = TRAIN_DEFAULTS.qat_epochs)]
    qat_epochs: usize,
    /// SGD's learning rate while fine-tuning.
    #[arg(long, default_value_t = TRAIN_DEFAULTS.qat_learning_rate)]
    qat_learning_rate: f64,
    /// Weight decay of the PACT clips.
    #[arg(long, default_value_t = TRAIN_DEFAULTS.pact_decay)]
    pact_decay: f64,
    /// One weight quantum per layer instead of per output channel.
    #[arg(long)]
    per_layer: bool,
    /// Images per class in each split (default all).
    #[arg(long)]
    limit: Option<usize>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

/// Runs a `workbench mobilenet` subcommand.
pub fn run(cmd: MobilenetCmd) -> Result<()> {
    match cmd {
        MobilenetCmd::Train(a) => {
            let cfg = MobileNetTrainConfig {
                width: a.width,
                resolution: a.resolution,
                epochs: a.epochs,
                batch_size: a.batch_size,
                learning_rate: a.learning_rate,
                seed: a.seed,
                qat_epochs: a.qat_epochs,
                qat_learning_rate: a.qat_learning_rate,
                pact_decay: a.pact_decay,
                granularity: if a.per_layer {
                    Granularity::PerLayer
                } else {
                    Granularity::PerChannel
                },
                limit: a.limit,
                checkpoint_dir: Some(a.out.clone()),
                ..Default::default()
            };
            let run = mobilenet::train(&a.data, &cfg)
                .with_context(|| format!("training on {}", a.data.display()))?;
            for path in run.save(&a.out)? {
                println!("wrote {}", path.display());
            }
            let m = &run.metrics;
            println!(
                "MobileNetV1 {} at {}: {} parameters, val accuracy {:.4}, val loss {:.4}, {:.0} images/s",
                m.width, m.resolution, m.params, m.val_accuracy, m.val_loss, m.samples_per_second
            );
            println!(
                "PACT: observed {:.4}, fake-quantized {:.4} after {} epochs ({:.0} images/s), integer {:.4}, fake/integer agreement {:.4}",
                m.observed_accuracy,
                m.fake_quant_accuracy,
                m.qat_epochs,
                m.qat_samples_per_second,
                m.integer_accuracy,
                m.agreement
            );
            if let Some(acc) = m.tflite_int8_accuracy {
                println!("TFLite int8 (model_int8.tflite, our interpreter): {acc:.4}");
            }
        }
        MobilenetCmd::Eval(a) => {
            let folder = a.data.join(&a.split);
            let e = mobilenet::eval(&a.run, &folder, a.limit).with_context(|| {
                format!("evaluating {} on {}", a.run.display(), folder.display())
            })?;
            if a.json {
                println!("{}", serde_json::to_string(&e)?);
            } else {
                println!("{} images in {}", e.images, e.folder.display());
                println!("float accuracy          {:.4}", e.float_accuracy);
                println!("fake-quantized accuracy {:.4}", e.fake_quant_accuracy);
                println!("integer accuracy        {:.4}", e.integer_accuracy);
                println!("fake/integer agreement  {:.4}", e.agreement);
                println!("TFLite int8 accuracy    {:.4}", e.tflite_int8_accuracy);
            }
        }
    }
    Ok(())
}
