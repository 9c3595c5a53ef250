//! The bridge's errors.

use std::path::PathBuf;
use std::time::Duration;

pub use device_bridge_protocol::msg::ErrorCode;

/// Everything that can go wrong talking to a board.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No valid reply within the timeout, after every retry.
    #[error("{what}: no reply from the board after {attempts} attempts of {timeout:?} each")]
    Timeout {
        /// The request that went unanswered.
        what: &'static str,
        /// Attempts made.
        attempts: u32,
        /// Timeout per attempt.
        timeout: Duration,
    },
    /// The link closed or failed.
    #[error("link to the board failed during {what}: {source}")]
    Link {
        /// The request in flight.
        what: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The board replied with an error.
    #[error("board error during {what}: {message} ({code:?})")]
    Board {
        /// The request that failed.
        what: &'static str,
        /// The board's error code.
        code: ErrorCode,
        /// First detail.
        a: u32,
        /// Second detail.
        b: u32,
        /// The board's message.
        message: String,
    },
    /// Host and board speak different protocol versions.
    #[error("protocol mismatch: board speaks version {board}, this bridge speaks {host}")]
    Version {
        /// The board's version.
        board: u8,
        /// Ours.
        host: u8,
    },
    /// The board sent something the protocol does not allow here.
    #[error("protocol error during {what}: {message}")]
    Protocol {
        /// The request in flight.
        what: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's contents are wrong.
    #[error("{}: {message}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The host interpreter rejected the model.
    #[error(transparent)]
    Tflite(#[from] workbench_tflite::Error),
    /// Anything else, e.g. a board that cannot be started.
    #[error("{0}")]
    Msg(String),
}

impl Error {
    /// The board's error code, if the board replied with an error.
    pub fn board_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Board { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// A bridge result.
pub type Result<T> = std::result::Result<T, Error>;
