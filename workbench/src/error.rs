//! The workbench's error type.

use std::path::PathBuf;

/// Errors from the workbench library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file's contents are malformed.
    #[error("{path}: {msg}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. "bad magic number 0x00000802, expected 0x00000803".
        msg: String,
    },
    /// A download failed.
    #[error("download {url}: {msg}")]
    Download {
        /// What was fetched.
        url: String,
        /// What went wrong.
        msg: String,
    },
    /// An error from candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// An error from the TFLite crate.
    #[error(transparent)]
    Tflite(#[from] workbench_tflite::Error),
    /// Tensors, arrays or images whose shapes do not fit together.
    #[error("{0}")]
    Shape(String),
    /// A setting out of its range (a rate, a size, a filter order).
    #[error("{0}")]
    Config(String),
    /// Data that cannot be used: empty sets, labels out of range, counts that disagree.
    #[error("{0}")]
    Data(String),
    /// A network or graph the operation does not support as it is.
    #[error("{0}")]
    Model(String),
    /// Anything else, with a message that says what.
    #[error("{0}")]
    Msg(String),
}

/// Result with the workbench's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed-file error on `path`.
    pub fn bad_file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
