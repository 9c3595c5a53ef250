//! A notebook's deploy section in one call: check a model on the emulated
//! Cortex-M4 (`qemu-mps2-an386`), or say in one line why that is skipped.
//!
//! ```no_run
//! # let model: Vec<u8> = vec![];
//! # let samples: Vec<Vec<i8>> = vec![];
//! let batch = device_bridge::npy::Array::from_i8_samples(&samples)?;
//! let board = device_bridge::notebook::check_on_qemu(&model, &batch)?;
//! println!("{board}"); // board mismatches: 0 of 320 outputs ... / board section skipped: ...
//! board.evcxr_display(); // the check table (nothing when skipped)
//! # Ok::<(), device_bridge::Error>(())
//! ```

use std::fmt;

use crate::boards::{self, OpenOptions, QEMU_BOARD};
use crate::check::{check, CheckReport};
use crate::error::{Error, Result};
use crate::npy::Array;

/// Why the QEMU board cannot run here (QEMU or the firmware ELF missing), or `None` if it can.
pub fn qemu_skip_reason() -> Option<String> {
    boards::qemu_firmware().err()
}

/// What a notebook's board section found: a check report, or why it was skipped.
#[derive(Clone)]
pub enum BoardCheck {
    /// The board ran the batch.
    Ran(Box<CheckReport>),
    /// The board is unavailable here, and why.
    Skipped(String),
}

impl BoardCheck {
    /// The report, if the board ran.
    pub fn report(&self) -> Option<&CheckReport> {
        match self {
            BoardCheck::Ran(r) => Some(r),
            BoardCheck::Skipped(_) => None,
        }
    }

    /// `true` if the board ran and every output equals the host's.
    pub fn bit_exact(&self) -> bool {
        self.report()
            .is_some_and(|r| r.mismatched_values == 0 && r.mismatched_samples == 0)
    }

    /// The one-line summary (what `Display` prints).
    pub fn summary(&self) -> String {
        self.to_string()
    }

    /// The check table as HTML (a note when skipped).
    pub fn to_html(&self) -> String {
        match self {
            BoardCheck::Ran(r) => r.to_html(),
            BoardCheck::Skipped(why) => format!(
                "<p>board section skipped: {}</p>",
                why.replace('&', "&amp;").replace('<', "&lt;")
            ),
        }
    }

    /// Shows the check table in evcxr (nothing when skipped: the summary line says why).
    pub fn evcxr_display(&self) {
        if let BoardCheck::Ran(r) = self {
            r.evcxr_display();
        }
    }
}

impl fmt::Display for BoardCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoardCheck::Ran(r) => {
                write!(
                    f,
                    "board mismatches: {} of {} outputs ({} of {} samples differ); {:.0} {} per inference",
                    r.mismatched_values,
                    r.output_values(),
                    r.mismatched_samples,
                    r.samples,
                    r.mean_count(),
                    r.unit
                )?;
                if let Some(ms) = r.millis_at_clock() {
                    write!(f, " ({ms:.1} ms at {} MHz)", r.clock_hz as f64 / 1e6)?;
                }
                write!(
                    f,
                    "; RAM (arena) {} of {} bytes; flash (model) {} of {} bytes",
                    r.push.model.arena_used,
                    r.arena_capacity,
                    r.push.model.model_bytes,
                    r.model_capacity
                )
            }
            BoardCheck::Skipped(why) => write!(f, "board section skipped: {why}"),
        }
    }
}

impl fmt::Debug for BoardCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Runs `batch` through `model` on the QEMU board and on the host interpreter
/// and compares them ([`check`]); the model is preloaded into the board's
/// model storage (QEMU's `-device loader`), not pushed over the 115200-baud
/// UART. Skipped, with the reason, when QEMU or the firmware is missing;
/// other failures are errors.
pub fn check_on_qemu(model: &[u8], batch: &Array) -> Result<BoardCheck> {
    if let Some(why) = qemu_skip_reason() {
        return Ok(BoardCheck::Skipped(why));
    }
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "device-bridge-notebook-{}-{n}.tflite",
        std::process::id()
    ));
    std::fs::write(&path, model).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    let opts = OpenOptions {
        preload: Some(path.clone()),
        ..OpenOptions::default()
    };
    // The preload image is a copy made by `open`: the model file can go at once.
    let board = boards::open(QEMU_BOARD, &opts);
    let _ = std::fs::remove_file(&path);
    let mut board = board?;
    Ok(BoardCheck::Ran(Box::new(check(
        &mut board.device,
        model,
        batch,
    )?)))
}
