//! Rich display of workbench values in Jupyter notebooks on the evcxr kernel.
//!
//! Types with an inherent `evcxr_display(&self)` method are shown by evcxr as
//! the MIME block that method prints (HTML tables here, PNG for images); their
//! `Display` stays plain text. Each type also has `to_html(&self) -> String`.

pub mod debugger;
pub mod evcxr;
pub mod html;
pub mod png;
pub mod spectrogram;

mod estimate;
mod metrics;
mod quant;
mod summary;

pub use self::png::{digits_png, rgb_grid_png, Image};
pub use debugger::DebugReport;
pub use spectrogram::{spectrogram_png, spectrograms_png};
pub use summary::ModelSummary;
