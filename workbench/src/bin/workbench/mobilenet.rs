//! `workbench mobilenet train`: MobileNetV1's float training on an ImageFolder tree.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use workbench::tutorial::mobilenet::{self, MobileNetTrainConfig};

/// The MobileNet tutorial's subcommands.
#[derive(Subcommand)]
pub enum MobilenetCmd {
    /// Trains MobileNetV1 (SGD, Nesterov) and writes model.safetensors and metrics.json with the float accuracy.
    Train(TrainArgs),
}

/// Flags of `workbench mobilenet train`.
#[derive(Args)]
pub struct TrainArgs {
    /// ImageFolder root with train/ and val/ (one folder per class).
    #[arg(long)]
    data: PathBuf,
    /// Width multiplier.
    #[arg(long, default_value_t = 0.25)]
    width: f64,
    /// Input side in pixels.
    #[arg(long, default_value_t = 96)]
    resolution: usize,
    /// Passes over the training images.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// SGD's learning rate.
    #[arg(long, default_value_t = 0.1)]
    learning_rate: f64,
    /// Seed of the weights, the order and the augmentation.
    #[arg(long, default_value_t = 0)]
    seed: u64,
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
        }
    }
    Ok(())
}
