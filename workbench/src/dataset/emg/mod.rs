//! Surface EMG gesture data: sessions in Parquet, BioWolf recordings, a synthetic
//! generator, and the hands-on's preparation into training windows.
//!
//! ```no_run
//! use std::path::Path;
//! use workbench::dataset::emg::{prepare_files, PrepareConfig};
//! let dir = Path::new("../shared/data/emg-synth/subject_a");
//! let p = prepare_files(&dir.join("session_1.parquet"), &dir.join("session_2.parquet"),
//!                       &PrepareConfig::default())?;
//! println!("{:?}", p.train); // Windows { n: ..., size: 300, channels: 8, per class: [...] }
//! # Ok::<(), workbench::Error>(())
//! ```

pub mod biowolf;
pub mod parquet;
pub mod prepare;
pub mod session;
pub mod synth;
pub mod window;

pub use biowolf::read_biowolf;
pub use prepare::{prepare, prepare_files, PrepareConfig, Prepared, Rescaling};
pub use session::{read_parquet, write_parquet, ChannelType, Session};
pub use synth::SynthConfig;
pub use window::{window, window_frames, WindowConfig, Windows};

/// Samples per second of the hands-on's armband.
pub const SAMPLE_RATE_HZ: f64 = 500.0;
/// Electrodes on the armband.
pub const CHANNELS: usize = 8;
/// Classes: rest and 8 gestures.
pub const CLASSES: usize = 9;
