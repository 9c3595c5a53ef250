//! Datasets: file formats, loaders and downloads.

pub mod clips;
pub mod download;
pub mod emg;
pub mod idx;
#[cfg(feature = "images")]
pub mod images;
pub mod mnist;
pub mod normalize;
pub mod samples;
pub mod speech_commands;
pub mod wav;

pub use samples::Samples;
