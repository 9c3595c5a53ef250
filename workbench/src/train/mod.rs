//! Training on candle: a sequential float model, fast fused CPU ops, the
//! training loop and a training benchmark against Keras.
//!
//! Speed comes from: a fused conv2d + bias + activation op (im2col + GEMM
//! forward, GEMM + col2im backward, parallel over samples in fixed groups so
//! results do not depend on the thread count); a max-pool op with a direct
//! backward; each training step running on a rayon worker; and keeping
//! candle's spinning element-wise thread pool from competing with rayon
//! (see `threads`). Everything runs on the CPU device in f32 (f64 for tests).

mod adam;
pub mod batchnorm;
pub mod bench;
pub mod bench_depthwise;
pub mod conv;
pub mod depthwise;
pub mod fit;
pub mod fold;
mod gemm;
mod host;
pub mod network;
pub mod pool;
pub mod sequential;
#[cfg(test)]
mod testing;
mod threads;

pub use adam::Adam;
pub use batchnorm::BatchNormConfig;
pub use bench::{bench_train, BenchConfig, BenchResult};
pub use fit::{
    cross_entropy_smoothed, train_step_smoothed, BestCheckpoint, EarlyStopping, Monitor,
    PiecewiseConstant,
};
pub use fit::{evaluate, fit, predict, EpochStats, FitConfig, History, Samples, TrainData};
pub use fold::fold_batch_norm;
pub use network::Network;
pub use sequential::PoolKind;
pub use sequential::{
    glorot_uniform, mnist_cnn, Activation, Layer, LayerSummary, Padding, Sequential,
};
