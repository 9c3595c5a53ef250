//! Post-training quantization and quantization reports.

pub mod params;
pub mod ptq;
pub mod report;

pub use ptq::{append_softmax, build_float, quantize, Int8Model};
pub use report::{quant_report, QuantReport, ReportRow};
