//! A Rust workbench for TinyML: datasets, training on candle, int8
//! quantization exactly as TFLite does it, quantization reports, `.tflite`
//! import and export, estimates and metrics.

pub mod check;
pub mod data_dir;
pub mod dataset;
pub mod display;
pub mod dsp;
pub mod error;
pub mod estimate;
pub mod infer;
pub mod metrics;
pub mod models;
pub mod npy;
pub mod plot;
pub mod prelude;
pub mod quant;
pub mod threads;
pub mod train;
pub mod tutorial;

pub use error::{Error, Result};
pub use workbench_tflite as tflite;
