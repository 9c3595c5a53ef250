//! `#![no_std]` board logic shared by the firmware and the host board.
//!
//! A [`Board`] is fed received bytes one at a time ([`Board::on_byte`]) and
//! writes its replies to a [`Tx`]; it reads time from a [`Clock`]. It speaks
//! the binary bridge protocol (`device-bridge-protocol` frames) and, on the same
//! link, the MLPerf Tiny runner's `%`-terminated text commands. Models are
//! real `.tflite` bytes, read and prepared by `workbench-tflite` without `std`
//! (TFLite's generated schema from `workbench-tflite-schema`, the op registry,
//! and the one `prepare` the host interpreter also runs) and stepped on
//! `kernels-int8`, so outputs match the host bit for bit. The board keeps
//! only arena planning and stepping.
//!
//! Needs `alloc` for the prepared plan (multipliers, biases, the op list);
//! the model bytes and the tensor arena are caller-provided buffers.
#![no_std]
// Errors carry their message in a fixed buffer (no heap on error paths); they
// are rare, so the size of `Result` does not matter.
#![allow(clippy::result_large_err)]

extern crate alloc;

pub mod board;
pub mod error;
pub mod model;

pub use board::{Board, Clock, Config, Tx};
pub use error::{BoardError, ErrorCode};
