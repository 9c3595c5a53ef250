//! Board errors: a protocol [`ErrorCode`], two numeric details and a short
//! message in a fixed buffer (no heap), sent to the host as is.

use core::fmt::{self, Write};

pub use device_bridge_protocol::msg::ErrorCode;

/// Longest error message kept.
pub const MSG_LEN: usize = 200;

/// A board error.
#[derive(Clone)]
pub struct BoardError {
    /// What kind of error.
    pub code: ErrorCode,
    /// First detail (see [`ErrorCode`]).
    pub a: u32,
    /// Second detail.
    pub b: u32,
    msg: [u8; MSG_LEN],
    len: usize,
}

impl BoardError {
    /// An error with a formatted message (cut at [`MSG_LEN`] bytes).
    pub fn new(code: ErrorCode, a: u32, b: u32, args: fmt::Arguments<'_>) -> Self {
        let mut e = BoardError {
            code,
            a,
            b,
            msg: [0; MSG_LEN],
            len: 0,
        };
        let _ = e.write_fmt(args);
        e
    }

    /// The message.
    pub fn message(&self) -> &str {
        core::str::from_utf8(&self.msg[..self.len]).unwrap_or("?")
    }
}

impl Write for BoardError {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut b = [0; 4];
            let e = c.encode_utf8(&mut b);
            if self.len + e.len() > MSG_LEN {
                return Ok(());
            }
            self.msg[self.len..self.len + e.len()].copy_from_slice(e.as_bytes());
            self.len += e.len();
        }
        Ok(())
    }
}

impl fmt::Debug for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BoardError({:?}, {}, {}, {:?})",
            self.code,
            self.a,
            self.b,
            self.message()
        )
    }
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Builds a [`BoardError`]: `berr!(Code, a, b, "fmt", args...)`.
#[macro_export]
macro_rules! berr {
    ($code:ident, $a:expr, $b:expr, $($fmt:tt)+) => {
        $crate::error::BoardError::new(
            $crate::error::ErrorCode::$code,
            ($a) as u32,
            ($b) as u32,
            format_args!($($fmt)+),
        )
    };
}

/// A board result.
pub type Result<T> = core::result::Result<T, BoardError>;
