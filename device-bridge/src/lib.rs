//! The device bridge: push int8 `.tflite` models to boards, run them, and
//! collect outputs and instruction counts.
//!
//! ```no_run
//! use device_bridge::prelude::*;
//! let mut board = device_bridge::boards::open("host", &OpenOptions::default())?;
//! let model = std::fs::read("tests/refs/mnist_tiny.tflite").unwrap();
//! let batch = device_bridge::npy::read("tests/refs/mnist_tiny.input.npy".as_ref())?;
//! let report = device_bridge::check::check(&mut board.device, &model, &batch)?;
//! println!("{report}");
//! # Ok::<(), device_bridge::Error>(())
//! ```
//!
//! Layers: [`transport`] (serial, pseudo-terminal, TCP) → [`link`] (frames,
//! sequence numbers, timeouts, retries) → [`device`] (hello, model push with
//! resume, invoke, outputs, profile) → [`check`] (host vs board). Boards are
//! opened by name with [`boards::open`]; [`host_board`] runs the board logic
//! in-process, [`relay`] injects faults, [`mlperf`] drives MLPerf Tiny DUTs,
//! [`notebook`] is a notebook's deploy section in one call.

pub mod boards;
pub mod check;
pub mod device;
pub mod error;
pub mod host_board;
pub mod link;
pub mod mlperf;
pub mod notebook;
pub mod npy;
pub mod relay;
pub mod transport;

pub use error::{Error, Result};

/// The common imports.
pub mod prelude {
    pub use crate::boards::{open, OpenBoard, OpenOptions};
    pub use crate::check::{check, CheckReport, HostModel};
    pub use crate::device::{BatchRun, BoardInfo, Device, PushReport};
    pub use crate::error::{Error, Result};
}
