//! The TFLite crate's error type.

use std::path::PathBuf;

/// Errors from reading, writing or running a TFLite model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Anything else, with a message that says what.
    #[error("{0}")]
    Msg(String),
    /// The bytes are not a valid TFLite flatbuffer.
    #[error("not a valid tflite flatbuffer: {0}")]
    Flatbuffer(#[from] flatbuffers::InvalidFlatbuffer),
    /// A problem with one operator, named by index and builtin name.
    #[error("op {index} ({name}): {msg}")]
    Op {
        /// Operator index in execution order.
        index: usize,
        /// TFLite builtin name, e.g. `CONV_2D`.
        name: String,
        /// What is wrong.
        msg: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model file could not be used.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<Error>,
    },
}

impl Error {
    /// A plain message error.
    pub(crate) fn msg(msg: impl Into<String>) -> Self {
        Error::Msg(msg.into())
    }

    /// An error about operator `index` named `name`.
    pub(crate) fn op(index: usize, name: &str, msg: impl Into<String>) -> Self {
        Error::Op {
            index,
            name: name.to_string(),
            msg: msg.into(),
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
