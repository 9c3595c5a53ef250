//! int8 graphs: read and write `.tflite` flatbuffers with code generated from
//! TFLite's official schema (`workbench-tflite-schema`), prepare every op
//! once, and run them on `kernels-int8`.
//!
//! Without the default `std` feature the crate is `no_std` + `alloc`: the
//! board (`device-bridge-board`) links the same reader, op registry and
//! [`prepare`] as the host [`Interpreter`], so both run the same integers.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod c_array;
pub mod error;
#[cfg(feature = "export")]
pub mod export;
pub mod graph;
pub mod import;
#[cfg(feature = "std")]
pub mod normalize;
pub mod ops;
pub mod params;
pub mod prepare;
pub mod read;
pub mod runtime;
pub mod validate;

/// The generated TFLite schema types (namespace `tflite`).
pub use workbench_tflite_schema as schema;

#[cfg(feature = "std")]
pub use c_array::to_c_array;
pub use error::{Error, Result};
#[cfg(feature = "export")]
pub use export::write;
pub use graph::{Activation, DType, Graph, Node, Op, Padding, Quant, Tensor, Window};
pub use import::read;
#[cfg(feature = "std")]
pub use import::read_file;
#[cfg(feature = "std")]
pub use normalize::InputNormalization;
pub use params::{ModelParams, ParamValue};
pub use prepare::{FcRescale, Flavor, Kernel, Kernels, Prepared, Resolved};
pub use runtime::{Interpreter, Options};
pub use validate::validate;
