//! Bytes to a verified flatbuffer view of a TFLite model.

use alloc::format;
use alloc::string::String;

use crate::error::{Error, Result};
use crate::schema;

/// Verifies `bytes` as a TFLite model and returns the flatbuffer view.
///
/// The flatbuffers verifier checks every offset, so truncated or garbage
/// bytes give an error, never a panic.
pub fn model(bytes: &[u8]) -> Result<schema::Model<'_>> {
    if bytes.len() < 8 {
        return Err(Error::msg(format!(
            "not a tflite model: {} bytes, need at least 8",
            bytes.len()
        )));
    }
    if !schema::model_buffer_has_identifier(bytes) {
        return Err(Error::msg(format!(
            "not a tflite model: file identifier is {:?}, expected \"TFL3\"",
            String::from_utf8_lossy(&bytes[4..8])
        )));
    }
    Ok(schema::root_as_model(bytes)?)
}
