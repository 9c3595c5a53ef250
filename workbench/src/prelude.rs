//! What a notebook needs in one import: `use workbench::prelude::*;`.
//!
//! The modules a tutorial walks through (data, models, training,
//! quantization, plots, estimates) and the types it names most.
//!
//! ```
//! use workbench::prelude::*;
//! let model = models::mnist_cnn(0).unwrap();
//! let cfg = FitConfig { length: Length::Epochs(1), ..FitConfig::default() };
//! assert_eq!(model.input_shape, [1, 28, 28]);
//! assert_eq!(cfg.batch_size, 64);
//! ```

pub use crate::dataset::normalize::InputNormalization;
pub use crate::metrics::{accuracy, ConfusionMatrix};
pub use crate::train::{
    self, evaluate, fit, predict, Activation, Conv2dConfig, EarlyStopping, FitConfig, History,
    Layer, Length, Monitor, Network, Padding, PiecewiseConstant, Pool2dConfig, PoolKind, Samples,
    Sequential,
};
pub use crate::{check, dataset, display, estimate, models, plot, quant, threads, Error, Result};
pub use workbench_tflite::ModelParams;
