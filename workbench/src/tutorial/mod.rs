//! The tutorials' flows end to end, as the CLI and the notebooks run them.

pub mod emg;
pub mod emg_qat;
pub mod kws;
pub mod mnist;
mod mnist_display;
#[cfg(feature = "images")]
pub mod mobilenet;
pub mod quant_tips;
