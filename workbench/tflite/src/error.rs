//! The TFLite crate's error type.

#[cfg(feature = "std")]
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use core::fmt;
#[cfg(feature = "std")]
use std::path::PathBuf;

/// Errors from reading, writing, preparing or running a TFLite model.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Anything else, with a message that says what.
    Msg(String),
    /// The bytes are not a valid TFLite flatbuffer.
    Flatbuffer(flatbuffers::InvalidFlatbuffer),
    /// A problem with one operator, named by index and builtin name.
    Op {
        /// Operator index in execution order.
        index: usize,
        /// TFLite builtin name, e.g. `CONV_2D`.
        name: String,
        /// What is wrong (naming the tensor, if one is at fault).
        msg: String,
    },
    /// Reading or writing a file failed.
    #[cfg(feature = "std")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A model file could not be used.
    #[cfg(feature = "std")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<Error>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Msg(m) => f.write_str(m),
            Error::Flatbuffer(e) => write!(f, "not a valid tflite flatbuffer: {e}"),
            Error::Op { index, name, msg } => write!(f, "op {index} ({name}): {msg}"),
            #[cfg(feature = "std")]
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            #[cfg(feature = "std")]
            Error::File { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Flatbuffer(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            Error::File { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<flatbuffers::InvalidFlatbuffer> for Error {
    fn from(e: flatbuffers::InvalidFlatbuffer) -> Self {
        Error::Flatbuffer(e)
    }
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
pub type Result<T> = core::result::Result<T, Error>;
