//! Post-training quantization, quantization-aware training (PACT),
//! MATCH-style integerization, QuantLib-style float-to-fake and fake-to-true
//! conversion, and quantization reports.

pub mod convert;
pub mod debug;
pub mod dynamic_range;
pub mod f2f;
pub mod f2t;
pub mod features;
pub mod integer;
#[cfg(feature = "onnx")]
pub mod match_onnx;
mod norm_ops;
#[cfg(feature = "onnx")]
pub mod pact_onnx;
pub mod params;
pub mod ptq;
pub mod qat;
pub mod report;

pub use dynamic_range::dynamic_range;
pub use ptq::{append_softmax, build_float, quantize, FloatOptions, Int8Model};
pub use report::{quant_report, QuantReport, ReportRow};
