//! ONNX models: the messages of the official `onnx.proto` (IR version 10)
//! that a feed-forward graph needs, encoded with `prost`, and a small
//! builder for graphs of standard operators.
//!
//! Field numbers and types are those of `onnx/onnx.proto` as shipped with
//! the `onnx` Python package; the tests read our files back with `onnx`'s
//! checker and run them in ONNX Runtime.

pub mod builder;
pub mod proto;

pub use builder::{Attr, GraphBuilder, F32_EXACT, F64_EXACT};
pub use proto::{DataType, ModelProto};
