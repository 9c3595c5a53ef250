//! One EMG recording session: channels, trigger and metadata, read from and written to Parquet.
//!
//! The Parquet layout is the hands-on's: columns `Ch1`..`ChN` (any float or
//! integer type) and `Trigger` (float or integer; `k > 0` while gesture `k` is
//! held, 0 at rest), one row per sample. Other columns are ignored. File-level
//! key-value metadata (for example the armband's subject, sample rate and gain)
//! is kept in [`Session::metadata`].

use std::fmt;

use crate::{Error, Result};

pub use super::parquet::{read_parquet, write_parquet};

/// The trigger column's name.
pub const TRIGGER: &str = "Trigger";

/// The name of channel `i` (0-based): `Ch1`, `Ch2`, ...
pub fn channel_name(i: usize) -> String {
    format!("Ch{}", i + 1)
}

/// A recording: samples of each channel, the gesture trigger per sample, and metadata.
#[derive(Clone, PartialEq)]
pub struct Session {
    /// Samples per channel, `channels[c][t]`, all of the same length.
    pub channels: Vec<Vec<f64>>,
    /// The gesture held at each sample: `k > 0` for gesture `k`, 0 at rest.
    pub trigger: Vec<i64>,
    /// Key-value metadata (Parquet file metadata), in file order.
    pub metadata: Vec<(String, String)>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gestures = self.trigger.iter().copied().max().unwrap_or(0);
        let keys: Vec<&str> = self.metadata.iter().map(|(k, _)| k.as_str()).collect();
        write!(
            f,
            "Session {{ samples: {}, channels: {}, max trigger: {gestures}, metadata keys: {keys:?} }}",
            self.len(),
            self.channels.len(),
        )
    }
}

impl Session {
    /// A session from channel columns and a trigger; errors if lengths differ.
    pub fn new(channels: Vec<Vec<f64>>, trigger: Vec<i64>) -> Result<Self> {
        for (i, c) in channels.iter().enumerate() {
            if c.len() != trigger.len() {
                return Err(Error::Data(format!(
                    "session: {} has {} samples, the trigger {}",
                    channel_name(i),
                    c.len(),
                    trigger.len()
                )));
            }
        }
        Ok(Session {
            channels,
            trigger,
            metadata: Vec::new(),
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.trigger.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.trigger.is_empty()
    }

    /// The value of metadata key `key`, if present.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The run lengths of the trigger: consecutive samples with the same value.
    pub fn trigger_runs(&self) -> Vec<(i64, usize)> {
        runs(&self.trigger)
    }
}

/// Run-length encoding: `(value, length)` of each run of equal values.
pub fn runs(v: &[i64]) -> Vec<(i64, usize)> {
    let mut out: Vec<(i64, usize)> = Vec::new();
    for &x in v {
        match out.last_mut() {
            Some((y, n)) if *y == x => *n += 1,
            _ => out.push((x, 1)),
        }
    }
    out
}

/// The float type of the channel columns written to Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelType {
    /// 32-bit floats, like the shared synthetic sessions (half the size).
    #[default]
    F32,
    /// 64-bit floats, no rounding.
    F64,
}
