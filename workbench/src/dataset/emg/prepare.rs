//! The hands-on's preparation: high-pass, trim, repetition splits, min-max scaling, windows.
//!
//! For the train/validation session and the test session alike:
//!
//! 1. high-pass each channel (see [`lfilter_channels`]) with `scipy.signal.butter(4, 10 / 250, "highpass")`
//!    and `scipy.signal.lfilter` (zero initial state), in f64;
//! 2. trim with the trigger's run lengths `seg`: keep samples
//!    `seg[0] - seg[2] .. len - seg[-1] + 1` (a Python slice), so the session
//!    becomes `[rest, gesture 1 rep 0, rest, gesture 1 rep 1, ..., rest]` with
//!    the leading rest as long as the other rests;
//! 3. split the first session by repetition: a mask for repetitions
//!    `first..=last` selects, for each gesture, each such repetition and the
//!    rest just before it (training 0..=3, validation 4..=4); the test split is
//!    the whole second session;
//! 4. scale each channel to `(x - min) / (max - min)` with the training
//!    split's min and max;
//! 5. cut each split (its selected samples, concatenated) into windows
//!    (see [`super::window`]).

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::session::{self, channel_name, runs, Session};
use super::window::{window_frames, WindowConfig, Windows};
use crate::dsp::butterworth::{butter, Band};
use crate::dsp::lfilter::lfilter_channels;
use crate::npy::{write_npy, NpyArray, NpyData};
use crate::{Error, Result};

/// The preparation's settings; the defaults are the hands-on's.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareConfig {
    /// Channels read, `Ch1..Ch<channels>` (default 8).
    pub channels: usize,
    /// Samples per second (default 500); a session whose metadata says otherwise is an error.
    pub sample_rate: f64,
    /// High-pass Butterworth order (default 4).
    pub highpass_order: usize,
    /// High-pass cutoff in Hz (default 10).
    pub highpass_hz: f64,
    /// Repetitions of each gesture for training (default 0..=3).
    pub train_reps: RangeInclusive<usize>,
    /// Repetitions of each gesture for validation (default 4..=4).
    pub val_reps: RangeInclusive<usize>,
    /// Window geometry (default 300 samples, stride 90, gesture margin 750).
    pub window: WindowConfig,
    /// Train and test both become train + test, as the hands-on's `concatenate_all` (default false).
    pub concatenate_all: bool,
}

impl Default for PrepareConfig {
    fn default() -> Self {
        PrepareConfig {
            channels: 8,
            sample_rate: 500.0,
            highpass_order: 4,
            highpass_hz: 10.0,
            train_reps: 0..=3,
            val_reps: 4..=4,
            window: WindowConfig::default(),
            concatenate_all: false,
        }
    }
}

/// The min and max of each channel that scaling used (`rescaling_values.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rescaling {
    /// Per-channel minimum of the filtered training split.
    pub min: Vec<f64>,
    /// Per-channel maximum of the filtered training split.
    pub max: Vec<f64>,
    /// The QAT input quantizer's learned clip, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_val: Option<f64>,
}

/// The three splits as windows, and the scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Training windows (repetitions `train_reps` of the first session).
    pub train: Windows,
    /// Validation windows (repetitions `val_reps` of the first session).
    pub val: Windows,
    /// Test windows (the whole second session).
    pub test: Windows,
    /// The training split's per-channel min and max.
    pub rescaling: Rescaling,
}

/// A session after filtering and trimming.
#[derive(Debug, Clone, PartialEq)]
pub struct Trimmed {
    /// High-passed samples, `channels[c][t]`.
    pub channels: Vec<Vec<f64>>,
    /// The trigger over the same samples.
    pub trigger: Vec<i64>,
}

/// Prepares the two session files; errors name the file at fault.
pub fn prepare_files(train_val: &Path, test: &Path, cfg: &PrepareConfig) -> Result<Prepared> {
    let s1 = session::read_parquet(train_val, cfg.channels)?;
    let s2 = session::read_parquet(test, cfg.channels)?;
    prepare_named(&s1, train_val, &s2, test, cfg)
}

/// Prepares two sessions in memory (errors call them "train/val session" and "test session").
pub fn prepare(train_val: &Session, test: &Session, cfg: &PrepareConfig) -> Result<Prepared> {
    prepare_named(
        train_val,
        Path::new("train/val session"),
        test,
        Path::new("test session"),
        cfg,
    )
}

fn prepare_named(
    s1: &Session,
    p1: &Path,
    s2: &Session,
    p2: &Path,
    cfg: &PrepareConfig,
) -> Result<Prepared> {
    let t1 = filter_and_trim_text(s1, cfg).map_err(|m| Error::bad_file(p1, m))?;
    let t2 = filter_and_trim_text(s2, cfg).map_err(|m| Error::bad_file(p2, m))?;
    let train_mask = repetition_mask(&t1.trigger, cfg.train_reps.clone())
        .map_err(|m| Error::bad_file(p1, format!("training split: {m}")))?;
    let val_mask = repetition_mask(&t1.trigger, cfg.val_reps.clone())
        .map_err(|m| Error::bad_file(p1, format!("validation split: {m}")))?;
    let rescaling = min_max_text(&t1.channels, &train_mask).map_err(|m| Error::bad_file(p1, m))?;
    let split = |t: &Trimmed, mask: Option<&[bool]>| -> Windows {
        let (frames, trig) = select_scaled(t, mask, &rescaling);
        window_frames(&frames, t.channels.len(), &trig, &cfg.window)
    };
    let mut train = split(&t1, Some(&train_mask));
    let val = split(&t1, Some(&val_mask));
    let mut test = split(&t2, None);
    if cfg.concatenate_all {
        train.extend(&test);
        test = train.clone();
    }
    Ok(Prepared {
        train,
        val,
        test,
        rescaling,
    })
}

/// High-passes every channel (in parallel), then trims; the error says what is wrong with the session.
pub fn filter_and_trim(s: &Session, cfg: &PrepareConfig) -> Result<Trimmed> {
    filter_and_trim_text(s, cfg).map_err(Error::Data)
}

/// [`filter_and_trim`] with the error as text (callers add the file).
fn filter_and_trim_text(s: &Session, cfg: &PrepareConfig) -> std::result::Result<Trimmed, String> {
    if let Some(rate) = s.meta("sample_rate").and_then(|r| r.parse::<f64>().ok()) {
        if rate != cfg.sample_rate {
            return Err(format!(
                "recorded at {rate} Hz, the preparation expects {} Hz",
                cfg.sample_rate
            ));
        }
    }
    if s.channels.len() < cfg.channels {
        return Err(format!(
            "expected {} channels, found {}",
            cfg.channels,
            s.channels.len()
        ));
    }
    let (start, end) = trim_bounds_text(&s.trigger)?;
    let ba = butter(
        cfg.highpass_order,
        Band::Highpass(cfg.highpass_hz),
        cfg.sample_rate,
    )
    .map_err(|e| e.to_string())?;
    // Two halves of the channels on two threads, each half filtered in lockstep.
    let half = cfg.channels.div_ceil(2).max(1);
    let channels: Vec<Vec<f64>> = s.channels[..cfg.channels]
        .par_chunks(half)
        .map(|group| lfilter_channels(&ba.b, &ba.a, group).expect("butter gives a[0] = 1"))
        .flatten()
        .map(|y| y[start..end].to_vec())
        .collect();
    Ok(Trimmed {
        channels,
        trigger: s.trigger[start..end].to_vec(),
    })
}

/// The trimmed range `seg[0] - seg[2] .. len - seg[-1] + 1` from the trigger's run lengths `seg`.
///
/// The session must start and end at rest and its initial rest must be at least as long as the
/// rest after the first gesture.
pub fn trim_bounds(trigger: &[i64]) -> Result<(usize, usize)> {
    trim_bounds_text(trigger).map_err(Error::Data)
}

/// [`trim_bounds`] with the error as text (callers add the file).
fn trim_bounds_text(trigger: &[i64]) -> std::result::Result<(usize, usize), String> {
    let seg = runs(trigger);
    if seg.len() < 3 {
        return Err(format!(
            "the trigger has {} runs; a session needs rest, gesture, rest, ... (is Trigger all {}?)",
            seg.len(),
            trigger.first().copied().unwrap_or(0)
        ));
    }
    if seg[0].0 != 0 {
        return Err(format!(
            "the session starts with gesture {}, expected an initial rest",
            seg[0].0
        ));
    }
    let last = *seg.last().expect("3 runs");
    if last.0 != 0 {
        return Err(format!(
            "the session ends with gesture {}, expected a final rest",
            last.0
        ));
    }
    let (seg0, seg2) = (seg[0].1, seg[2].1);
    if seg0 < seg2 {
        return Err(format!(
            "the initial rest ({seg0} samples) is shorter than the rest after the first gesture ({seg2})"
        ));
    }
    Ok((seg0 - seg2, trigger.len() - last.1 + 1))
}

/// The mask of repetitions `reps` of every gesture, each with the rest just before it.
///
/// `trigger` must alternate rest and gesture runs, starting and ending with rest (a trimmed session).
pub fn repetition_mask(
    trigger: &[i64],
    reps: RangeInclusive<usize>,
) -> std::result::Result<Vec<bool>, String> {
    let seg = runs(trigger);
    let mut mask = vec![false; trigger.len()];
    let mut seen: std::collections::BTreeMap<i64, usize> = Default::default();
    let mut pos = 0;
    let mut prev_rest = 0..0;
    for (i, &(value, len)) in seg.iter().enumerate() {
        let range = pos..pos + len;
        pos += len;
        let is_rest_slot = i % 2 == 0;
        if is_rest_slot != (value == 0) {
            return Err(format!(
                "samples {}..{} are {}, expected {} (the trimmed session must alternate rest and gestures)",
                range.start,
                range.end,
                if value == 0 { "rest".to_string() } else { format!("gesture {value}") },
                if is_rest_slot { "rest" } else { "a gesture" },
            ));
        }
        if is_rest_slot {
            prev_rest = range;
            continue;
        }
        let rep = seen.entry(value).or_insert(0);
        if reps.contains(rep) {
            mask[prev_rest.start..range.end].fill(true);
        }
        *rep += 1;
    }
    if !mask.contains(&true) {
        return Err(format!(
            "no gesture has repetitions {}..={} (most repetitions of a gesture: {})",
            reps.start(),
            reps.end(),
            seen.values().max().copied().unwrap_or(0)
        ));
    }
    Ok(mask)
}

/// Per-channel min and max over the masked samples; a constant channel is an error.
pub fn min_max(channels: &[Vec<f64>], mask: &[bool]) -> Result<Rescaling> {
    min_max_text(channels, mask).map_err(Error::Data)
}

/// [`min_max`] with the error as text (callers add the file).
fn min_max_text(channels: &[Vec<f64>], mask: &[bool]) -> std::result::Result<Rescaling, String> {
    let mut min = Vec::with_capacity(channels.len());
    let mut max = Vec::with_capacity(channels.len());
    for (c, x) in channels.iter().enumerate() {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (&v, &m) in x.iter().zip(mask) {
            if m {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if hi <= lo || hi.is_nan() || lo.is_nan() {
            return Err(format!(
                "{} is constant over the training split, cannot min-max scale it",
                channel_name(c)
            ));
        }
        min.push(lo);
        max.push(hi);
    }
    Ok(Rescaling {
        min,
        max,
        clip_val: None,
    })
}

/// The masked samples (all if `mask` is `None`) scaled with `r`, as time-major float32 frames, and their trigger.
fn select_scaled(t: &Trimmed, mask: Option<&[bool]>, r: &Rescaling) -> (Vec<f32>, Vec<i64>) {
    let nc = t.channels.len();
    let scale: Vec<(f64, f64)> = (0..nc).map(|c| (r.min[c], r.max[c] - r.min[c])).collect();
    let kept = mask.map_or(t.trigger.len(), |m| m.iter().filter(|&&k| k).count());
    let mut frames = Vec::with_capacity(kept * nc);
    let mut trigger = Vec::with_capacity(kept);
    for (i, &trig) in t.trigger.iter().enumerate() {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        for (x, &(lo, span)) in t.channels.iter().zip(&scale) {
            frames.push(((x[i] - lo) / span) as f32);
        }
        trigger.push(trig);
    }
    (frames, trigger)
}

impl Rescaling {
    /// `channels` scaled as the windows are: `(x - min) / (max - min)` per channel.
    pub fn apply(&self, channels: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
        if channels.len() != self.min.len() || channels.len() != self.max.len() {
            return Err(Error::Shape(format!(
                "rescaling: {} channels given, the rescaling values have {}",
                channels.len(),
                self.min.len()
            )));
        }
        Ok(channels
            .iter()
            .zip(self.min.iter().zip(&self.max))
            .map(|(x, (&lo, &hi))| x.iter().map(|v| (v - lo) / (hi - lo)).collect())
            .collect())
    }
}

impl Prepared {
    /// Writes `{train,val,test}_data.npy` (float32 N x size x channels),
    /// `{train,val,test}_labels.npy` (int64) and `rescaling_values.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut written = Vec::new();
        for (name, w) in [
            ("train", &self.train),
            ("val", &self.val),
            ("test", &self.test),
        ] {
            let data = dir.join(format!("{name}_data.npy"));
            write_npy(
                &data,
                &NpyArray {
                    shape: w.shape().to_vec(),
                    data: NpyData::F32(w.data.clone()),
                },
            )?;
            let labels = dir.join(format!("{name}_labels.npy"));
            write_npy(
                &labels,
                &NpyArray {
                    shape: vec![w.len()],
                    data: NpyData::I64(w.labels.clone()),
                },
            )?;
            written.extend([data, labels]);
        }
        let json = dir.join("rescaling_values.json");
        let text = serde_json::to_string_pretty(&self.rescaling)
            .map_err(|e| Error::Data(format!("rescaling values: {e}")))?;
        std::fs::write(&json, text + "\n").map_err(|e| Error::io(&json, e))?;
        written.push(json);
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaling_applies_min_max_per_channel() {
        let r = Rescaling {
            min: vec![0.0, -2.0],
            max: vec![10.0, 2.0],
            clip_val: None,
        };
        let out = r.apply(&[vec![0.0, 5.0], vec![-2.0, 2.0]]).unwrap();
        assert_eq!(out, vec![vec![0.0, 0.5], vec![0.0, 1.0]]);
        assert!(r.apply(&[vec![1.0]]).is_err());
    }

    /// `[rest r0, g1, rest, g1, rest, g2, rest, g2, rest]` with run lengths given.
    fn trig(lens: &[(i64, usize)]) -> Vec<i64> {
        lens.iter()
            .flat_map(|&(v, n)| std::iter::repeat_n(v, n))
            .collect()
    }

    #[test]
    fn trim_keeps_a_rest_as_long_as_the_second_run_and_one_final_sample() {
        let t = trig(&[(0, 10), (1, 3), (0, 4), (1, 3), (0, 6)]);
        // seg = [10, 3, 4, 3, 6]: start 10 - 4 = 6, end 26 - 6 + 1 = 21.
        assert_eq!(trim_bounds(&t).unwrap(), (6, 21));
        let short_rest = trig(&[(0, 2), (1, 3), (0, 4), (1, 3), (0, 6)]);
        assert!(trim_bounds(&short_rest)
            .unwrap_err()
            .to_string()
            .contains("shorter"));
        assert!(trim_bounds(&[0; 9])
            .unwrap_err()
            .to_string()
            .contains("1 runs"));
        let ends_in_gesture = trig(&[(0, 10), (1, 3), (0, 4), (1, 3)]);
        assert!(trim_bounds(&ends_in_gesture)
            .unwrap_err()
            .to_string()
            .contains("ends with gesture 1"));
    }

    #[test]
    fn masks_take_each_repetition_with_its_preceding_rest() {
        //                r   g1  r   g1  r   g2  r   g2  r
        let t = trig(&[
            (0, 2),
            (1, 1),
            (0, 2),
            (1, 1),
            (0, 2),
            (2, 1),
            (0, 2),
            (2, 1),
            (0, 1),
        ]);
        let m0 = repetition_mask(&t, 0..=0).unwrap();
        let m1 = repetition_mask(&t, 1..=1).unwrap();
        let on = |m: &[bool]| -> Vec<usize> { (0..m.len()).filter(|&i| m[i]).collect() };
        assert_eq!(on(&m0), vec![0, 1, 2, 6, 7, 8]);
        assert_eq!(on(&m1), vec![3, 4, 5, 9, 10, 11]);
        assert!(repetition_mask(&t, 2..=3)
            .unwrap_err()
            .to_string()
            .contains("no gesture"));
        let adjacent = trig(&[(0, 2), (1, 1), (2, 1), (0, 1)]);
        assert!(repetition_mask(&adjacent, 0..=0)
            .unwrap_err()
            .to_string()
            .contains("alternate"));
    }

    #[test]
    fn constant_channels_cannot_be_scaled() {
        let e = min_max(&[vec![1.0, 2.0], vec![3.0, 3.0]], &[true, true])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Ch2 is constant"), "{e}");
    }
}
