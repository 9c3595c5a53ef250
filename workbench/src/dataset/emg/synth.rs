//! Synthetic 8-channel forearm EMG, for doing the hands-on without an armband.
//!
//! The model, all drawn from a seeded RNG (same seed, same bytes):
//!
//! - a forearm with [`MUSCLES`] muscles at angles around the arm; the armband's
//!   electrodes sit every 45 degrees and pick up each muscle with a gain that
//!   falls off with the angular distance (a circular Gaussian);
//! - a *population* gesture template (muscle activation per gesture) shared by
//!   everyone made from one seed, and per *subject* variations of it (activation
//!   jitter, extra muscles, muscle positions, skin gain), so a network pre-trained
//!   on many subjects transfers only partly to a new one;
//! - each active muscle emits band-limited noise (Butterworth 20-150 Hz) with an
//!   amplitude envelope that ramps over ~150 ms at onset and release;
//! - per *session*: the armband rotated by up to ±[`SynthConfig::max_rotation_deg`],
//!   a DC offset per channel, a slow drift and 50 Hz mains hum, and white sensor noise;
//! - the hands-on protocol: an initial rest, then gestures 1..8, each
//!   [`SynthConfig::repetitions`] times hold then rest, with jittered durations.

use std::f64::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::session::Session;
use crate::dsp::butterworth::{butter, Band};
use crate::dsp::lfilter::Lfilter;

/// Muscles modelled around the forearm.
pub const MUSCLES: usize = 12;

/// Generator settings; the defaults match the shared `emg-synth` sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    /// The world's seed: the population template and every subject derive from it (default 0).
    pub seed: u64,
    /// Samples per second (default 500).
    pub sample_rate: f64,
    /// Electrodes around the arm (default 8).
    pub channels: usize,
    /// Gestures, numbered 1.. (default 8).
    pub gestures: usize,
    /// Holds per gesture (default 5).
    pub repetitions: usize,
    /// Initial rest in seconds (default 20).
    pub initial_rest_s: f64,
    /// Mean hold in seconds (default 6), jittered by ±0.5 s.
    pub hold_s: f64,
    /// Mean rest between holds in seconds (default 4), jittered by ±0.5 s.
    pub rest_s: f64,
    /// Largest armband rotation between sessions in degrees (default 15; electrodes are 45 apart).
    pub max_rotation_deg: f64,
    /// How much a subject's gesture activations differ from the population's, 0..1 (default 0.5).
    pub subject_spread: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 0,
            sample_rate: 500.0,
            channels: 8,
            gestures: 8,
            repetitions: 5,
            initial_rest_s: 20.0,
            hold_s: 6.0,
            rest_s: 4.0,
            max_rotation_deg: 15.0,
            subject_spread: 0.5,
        }
    }
}

/// A subject: where their muscles are, how each gesture activates them, how strong each is.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    /// Angle of each muscle around the arm, radians.
    pub muscle_angle: Vec<f64>,
    /// Angular spread of each muscle's pickup, radians.
    pub muscle_width: Vec<f64>,
    /// `activation[g][m]`: muscle `m`'s activation (0..1) in gesture `g` (0 = rest).
    pub activation: Vec<Vec<f64>>,
    /// Amplitude of each muscle at full activation, microvolts.
    pub muscle_uv: Vec<f64>,
}

/// Standard normal draws (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// An RNG for one purpose, derived from the seed and a tag.
fn rng_for(seed: u64, tag: &[u64]) -> StdRng {
    // SplitMix64 over the seed and tags, so nearby seeds give unrelated streams.
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    for &t in tag {
        x = x.wrapping_add(t.wrapping_mul(0xbf58_476d_1ce4_e5b9));
        x ^= x >> 31;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 29;
    }
    StdRng::seed_from_u64(x)
}

/// The population's gesture template: `template[g][m]` for gestures 1..=G (row 0 is rest).
fn population(cfg: &SynthConfig) -> Vec<Vec<f64>> {
    let mut rng = rng_for(cfg.seed, &[1]);
    let mut t = vec![vec![0.0; MUSCLES]];
    for _ in 0..cfg.gestures {
        let mut row = vec![0.0; MUSCLES];
        // Two to four prime movers, contiguous-ish around the arm, plus weak co-contraction.
        let movers = rng.random_range(2..=4);
        let centre = rng.random_range(0..MUSCLES);
        for k in 0..movers {
            let m = (centre + k * rng.random_range(1..=3)) % MUSCLES;
            row[m] = rng.random_range(0.5..1.0);
        }
        for v in row.iter_mut() {
            if *v == 0.0 {
                *v = rng.random_range(0.0..0.15);
            }
        }
        t.push(row);
    }
    t
}

/// Subject `id` of the world made by `cfg.seed`.
pub fn subject(cfg: &SynthConfig, id: u64) -> Subject {
    let template = population(cfg);
    let mut rng = rng_for(cfg.seed, &[2, id]);
    let spacing = 2.0 * PI / MUSCLES as f64;
    let s = cfg.subject_spread;
    // Anatomy and habitual armband placement: the whole layout turned by up to ±30 degrees x spread/0.5.
    let layout = rng.random_range(-1.0..1.0) * s * 60f64.to_radians();
    let muscle_angle = (0..MUSCLES)
        .map(|m| m as f64 * spacing + layout + 0.25 * spacing * normal(&mut rng))
        .collect();
    let muscle_width = (0..MUSCLES).map(|_| rng.random_range(0.35..0.6)).collect();
    let muscle_uv = (0..MUSCLES)
        .map(|_| rng.random_range(60.0..160.0))
        .collect();
    let activation = template
        .iter()
        .enumerate()
        .map(|(g, row)| {
            if g == 0 {
                return vec![0.03; MUSCLES];
            }
            // The subject's own way of making the gesture, mixed with the population's.
            row.iter()
                .map(|&a| {
                    let own = if rng.random::<f64>() < 0.3 {
                        rng.random_range(0.4..1.0)
                    } else {
                        rng.random_range(0.0..0.1)
                    };
                    ((1.0 - s) * a + s * own).clamp(0.0, 1.0)
                })
                .collect()
        })
        .collect();
    Subject {
        muscle_angle,
        muscle_width,
        activation,
        muscle_uv,
    }
}

/// The protocol's trigger: initial rest, then each gesture `repetitions` times (hold, rest).
pub fn protocol(cfg: &SynthConfig, rng: &mut StdRng) -> Vec<i64> {
    let n = |s: f64| (s * cfg.sample_rate).round() as usize;
    let mut t = vec![0; n(cfg.initial_rest_s)];
    for g in 1..=cfg.gestures as i64 {
        for _ in 0..cfg.repetitions {
            let hold = n(cfg.hold_s + rng.random_range(-0.5..0.5));
            let rest = n(cfg.rest_s + rng.random_range(-0.5..0.5));
            t.extend(std::iter::repeat_n(g, hold));
            t.extend(std::iter::repeat_n(0, rest));
        }
    }
    t
}

/// Session `session` (1, 2, ...) of subject `id`: the armband put on anew, the whole protocol recorded.
pub fn session(cfg: &SynthConfig, id: u64, session: u64) -> Session {
    let subj = subject(cfg, id);
    let mut rng = rng_for(cfg.seed, &[3, id, session]);
    let fs = cfg.sample_rate;
    let trigger = protocol(cfg, &mut rng);
    let len = trigger.len();
    let rotation = rng.random_range(-1.0..1.0) * cfg.max_rotation_deg.to_radians();
    let nc = cfg.channels;

    // Each electrode's pickup of each muscle at this session's rotation, with per-electrode skin gain.
    let pickup: Vec<Vec<f64>> = (0..nc)
        .map(|c| {
            let angle = c as f64 * 2.0 * PI / nc as f64 + rotation;
            let skin = rng.random_range(0.85..1.15);
            (0..MUSCLES)
                .map(|m| {
                    let d = (angle - subj.muscle_angle[m] + PI).rem_euclid(2.0 * PI) - PI;
                    skin * (-0.5 * (d / subj.muscle_width[m]).powi(2)).exp()
                })
                .collect()
        })
        .collect();

    // Smoothed activation envelopes: a one-pole low-pass (~150 ms) of the step pattern.
    let alpha = 1.0 - (-1.0 / (0.05 * fs)).exp();
    let mut env = vec![vec![0.0; len]; MUSCLES];
    // Per-repetition effort (how hard this hold is squeezed).
    let mut effort = 1.0;
    let mut prev = 0;
    let mut state = [0.0; MUSCLES];
    for (t, &g) in trigger.iter().enumerate() {
        if g != prev && g > 0 {
            effort = rng.random_range(0.8..1.2);
        }
        prev = g;
        for m in 0..MUSCLES {
            let target = subj.activation[g as usize][m] * if g > 0 { effort } else { 1.0 };
            state[m] += alpha * (target - state[m]);
            env[m][t] = state[m];
        }
    }

    // Band-limited muscle noise.
    let band = butter(2, Band::Bandpass(20.0, 150.0), fs).expect("valid EMG band");
    let sources: Vec<Vec<f64>> = (0..MUSCLES)
        .map(|m| {
            let white: Vec<f64> = (0..len).map(|_| normal(&mut rng)).collect();
            let mut y = vec![0.0; len];
            Lfilter::new(&band.b, &band.a)
                .expect("butter gives a[0] = 1")
                .run(&white, &mut y);
            let amp = subj.muscle_uv[m] * 2.0;
            y.iter_mut().zip(&env[m]).for_each(|(v, &e)| *v *= amp * e);
            y
        })
        .collect();

    let channels = (0..nc)
        .map(|c| {
            let dc = rng.random_range(-3000.0..3000.0);
            let drift_uv = rng.random_range(20.0..120.0);
            let drift_hz = rng.random_range(0.02..0.1);
            let drift_phase = rng.random_range(0.0..2.0 * PI);
            let hum_uv = rng.random_range(10.0..60.0);
            let hum_phase = rng.random_range(0.0..2.0 * PI);
            let sensor_uv = 3.0;
            (0..len)
                .map(|t| {
                    let time = t as f64 / fs;
                    let emg: f64 = (0..MUSCLES).map(|m| pickup[c][m] * sources[m][t]).sum();
                    dc + drift_uv * (2.0 * PI * drift_hz * time + drift_phase).sin()
                        + hum_uv * (2.0 * PI * 50.0 * time + hum_phase).sin()
                        + sensor_uv * normal(&mut rng)
                        + emg
                })
                .collect()
        })
        .collect();
    let mut s = Session::new(channels, trigger).expect("equal lengths");
    s.metadata = vec![
        ("source".into(), "workbench emg synth".into()),
        ("seed".into(), cfg.seed.to_string()),
        ("subject".into(), id.to_string()),
        ("session".into(), session.to_string()),
        ("sample_rate".into(), format!("{fs}")),
        (
            "rotation_deg".into(),
            format!("{:.2}", rotation.to_degrees()),
        ),
    ];
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SynthConfig {
        SynthConfig {
            gestures: 2,
            repetitions: 2,
            initial_rest_s: 2.0,
            hold_s: 1.5,
            rest_s: 1.0,
            ..SynthConfig::default()
        }
    }

    #[test]
    fn same_seed_same_session_other_seed_other_session() {
        let cfg = small();
        assert_eq!(session(&cfg, 3, 1), session(&cfg, 3, 1));
        assert_ne!(session(&cfg, 3, 1).channels, session(&cfg, 3, 2).channels);
        let other = SynthConfig { seed: 1, ..small() };
        assert_ne!(session(&cfg, 3, 1).channels, session(&other, 3, 1).channels);
    }

    #[test]
    fn protocol_is_rest_then_each_gesture_held_repetitions_times() {
        let cfg = small();
        let s = session(&cfg, 0, 1);
        let runs = s.trigger_runs();
        let values: Vec<i64> = runs.iter().map(|r| r.0).collect();
        assert_eq!(values, vec![0, 1, 0, 1, 0, 2, 0, 2, 0]);
        assert_eq!(runs[0].1, 1000);
        assert!(runs[1..].iter().all(|r| r.1 >= 250 && r.1 <= 1000));
    }
}
