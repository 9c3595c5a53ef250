//! Helpers for integration tests against the real TFLite interpreter (Python `ai-edge-litert`).
//!
//! The reference side runs `tests/refs/run_tflite.py` with the venv made by
//! `scripts/setup-venv.sh`; our side runs `workbench_tflite::runtime::Interpreter`.

pub mod array;
pub mod browser;
pub mod diff;
pub mod fixtures;
pub mod localize;
pub mod ours;
pub mod reference;

pub use array::{Array, Values};
pub use browser::{chromium, dump_dom};
pub use diff::{diff, Diff};
pub use fixtures::{data_dir, fixture, fixtures, refs_dir, scratch_dir, workspace_root, Fixture};
pub use localize::{check_import, localize};
pub use ours::{run_ours, run_ours_flavor};
pub use reference::{dump_tflite, python, run_tflite, run_tflm, Dump, DumpTensor, TfliteKernels};
