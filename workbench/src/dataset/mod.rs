//! Datasets: file formats, loaders and downloads.

pub mod download;
pub mod emg;
pub mod idx;
pub mod mnist;
