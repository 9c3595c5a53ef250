//! Training on candle: the layers and a sequential model over fast fused
//! CPU ops, the training loop, Adam, SGD and batch-norm folding.
//!
//! Modules depend one way: [`vocab`] (activation, padding, pool kind) <-
//! [`ops`] (custom CPU ops) <- [`layer`] <- [`sequential`] <- [`network`]
//! <- [`fit`] (which drives an `Optimizer`: `Adam` or `Sgd`); model builders live in [`crate::models`], above all of them.
//!
//! Speed comes from: a fused conv2d + bias + activation op (im2col + GEMM
//! forward, GEMM + col2im backward, parallel over samples in fixed groups so
//! results do not depend on the thread count); a max-pool op with a direct
//! backward; each training step running on a rayon worker; and keeping
//! candle's spinning element-wise thread pool from competing with rayon
//! (see `threads`). Everything runs on the CPU device in f32 (f64 for tests).

mod adam;
pub mod fit;
pub mod fold;
pub mod layer;
pub mod network;
pub mod ops;
pub mod sequential;
mod sgd;
pub mod vocab;

pub use adam::Adam;
pub use fit::{
    best_checkpoint, checkpoint_name, checkpoints, evaluate, fit, predict, FitConfig, History,
    Length, OptimizerChoice, Record, Samples, TrainSource, Unit,
};
pub use fit::{
    cross_entropy_smoothed, train_step_smoothed, BestCheckpoint, EarlyStopping, Monitor,
    PiecewiseConstant,
};
pub use fold::{fold_batch_norm, fold_foldable_batch_norms};
pub use layer::{glorot_uniform, Conv2dConfig, Layer, Pool2dConfig, LAYER_NORM_EPSILON};
pub use network::Network;
pub use ops::batchnorm::BatchNormConfig;
pub use sequential::{LayerSummary, Sequential, SequentialBuilder};
pub use sgd::{Optimizer, ParamGroup, Sgd, SgdConfig};
pub use vocab::{Activation, Padding, PoolKind};
