//! Model builders for the workbench's tasks, one file per model: the MNIST
//! tutorial's CNN, the keyword-spotting lab's `micro_kws_xs`, ARM's / MLPerf
//! Tiny's DS-CNN S, TEMPONet for EMG gestures, and MobileNetV1 for images. Each returns a freshly
//! initialised [`Sequential`](crate::train::Sequential), deterministic from its seed.

pub mod ds_cnn;
pub mod micro_kws_xs;
pub mod mnist_cnn;
pub mod mobilenet_v1;
pub mod temponet;

pub use ds_cnn::ds_cnn_s;
pub use micro_kws_xs::micro_kws_xs;
pub use mnist_cnn::mnist_cnn;
pub use mobilenet_v1::{mobilenet_v1, MobileNetV1Config};
pub use temponet::temponet;
