//! Our keyword-spotting front ends against TensorFlow (`tests/refs/kws_features.py`).
//!
//! The micro front end must equal TensorFlow's `audio_microfrontend` op bit for
//! bit; MFCC must be within 1e-4 of `tf.signal` relative to the feature range.
//! Clips: kws-synth WAVs picked at random by the test (the seed is printed; set
//! `KWS_TEST_SEED` to replay), training clips augmented by our Speech Commands
//! loader (time shift, background noise), and synthetic edge cases (silence,
//! full-scale square waves, loud noise, other lengths).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use workbench::dataset::clips::write_clips_npy;
use workbench::dataset::speech_commands::{SpeechCommands, SpeechCommandsConfig, Split};
use workbench::dataset::wav;
use workbench::dsp::{DctScaling, Mfcc, MfccConfig, MicroFrontend, MicroFrontendConfig};
use workbench::npy::{self, NpyArray, NpyData};
use workbench_tests::{data_dir, python, refs_dir, scratch_dir};

/// splitmix64: a small deterministic generator for picking clips.
struct Pick(u64);

impl Pick {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn seed() -> u64 {
    match std::env::var("KWS_TEST_SEED") {
        Ok(s) => s.parse().expect("KWS_TEST_SEED must be an integer"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}

/// Every WAV in the word folders of kws-synth, sorted.
fn corpus() -> Result<Vec<PathBuf>> {
    let root = data_dir().join("kws-synth");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&root).with_context(|| root.display().to_string())? {
        let p = e?.path();
        if p.is_dir() && !p.ends_with("_background_noise_") {
            for f in std::fs::read_dir(&p)? {
                let f = f?.path();
                if f.extension().is_some_and(|x| x == "wav") {
                    out.push(f);
                }
            }
        }
    }
    out.sort();
    ensure!(!out.is_empty(), "no WAVs in {}", root.display());
    Ok(out)
}

/// `n` random corpus clips (padded or cut to 1 s), with their names.
fn random_clips(pick: &mut Pick, n: usize) -> Result<(Vec<Vec<i16>>, Vec<String>)> {
    let files = corpus()?;
    let mut clips = Vec::new();
    let mut names = Vec::new();
    for _ in 0..n {
        let f = &files[pick.below(files.len())];
        clips.push(wav::pad_or_cut(wav::read_pcm16(f, 16000)?, 16000));
        names.push(
            f.strip_prefix(data_dir())
                .unwrap_or(f)
                .display()
                .to_string(),
        );
    }
    Ok((clips, names))
}

/// Training clips as our loader augments them (random entries and epoch), as TensorFlow's int16 cast gives them.
fn augmented_clips(pick: &mut Pick, n: usize) -> Result<Vec<Vec<i16>>> {
    let cfg = SpeechCommandsConfig {
        seed: pick.next(),
        ..SpeechCommandsConfig::default()
    };
    let sc = SpeechCommands::open(&data_dir().join("kws-synth"), cfg)?;
    let len = sc.samples(Split::Training).len();
    let idx: Vec<usize> = (0..n).map(|_| pick.below(len)).collect();
    let b = sc.batch(Split::Training, &idx, pick.next())?;
    Ok(b.clips_i16().chunks(16000).map(|c| c.to_vec()).collect())
}

/// Synthetic edge cases of `len` samples: silence, full-scale squares, loud and quiet noise, a noisy chirp.
fn synthetic(pick: &mut Pick, len: usize) -> Vec<Vec<i16>> {
    let mut v = vec![
        vec![0i16; len],
        (0..len)
            .map(|i| if (i / 8) % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect(),
        (0..len)
            .map(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX })
            .collect(),
        (0..len).map(|_| pick.next() as i16).collect(),
        (0..len).map(|_| (pick.next() % 7) as i16 - 3).collect(),
    ];
    // A 100 Hz -> 6.1 kHz chirp over a noise floor of about 60 LSB.
    v.push(
        (0..len)
            .map(|i| {
                let t = i as f64 / 16000.0;
                let tone = 20000.0 * (2.0 * std::f64::consts::PI * (100.0 + 3000.0 * t) * t).sin();
                (tone + (pick.next() % 201) as f64 - 100.0) as i16
            })
            .collect(),
    );
    v
}

fn write_clips(path: &Path, clips: &[Vec<i16>]) -> Result<()> {
    Ok(write_clips_npy(path, &clips.concat(), clips[0].len())?)
}

/// Runs the reference script; returns the NPY it wrote.
fn reference(kind: &str, clips: &Path, out: &Path, args: &[&str]) -> Result<NpyArray> {
    let py = python()?;
    let script = refs_dir().join("kws_features.py");
    let o = Command::new(&py)
        .arg(&script)
        .arg(kind)
        .arg(clips)
        .arg(out)
        .args(args)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .with_context(|| format!("cannot start {}", py.display()))?;
    if !o.status.success() {
        bail!(
            "{} {kind} {args:?} failed: {}",
            script.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(npy::read_npy(out)?)
}

/// Compares our micro front end with the op on `clips`; returns failure lines.
fn check_micro(
    label: &str,
    cfg: &MicroFrontendConfig,
    args: &[&str],
    clips: &[Vec<i16>],
    names: &[String],
    scratch: &Path,
) -> Result<Vec<String>> {
    let input = scratch.join(format!("{label}.clips.npy"));
    write_clips(&input, clips)?;
    let theirs = reference(
        "micro",
        &input,
        &scratch.join(format!("{label}.tf.npy")),
        args,
    )?;
    // The reference writes the op's uint16 values widened to int32.
    let NpyData::I32(theirs_v) = &theirs.data else {
        bail!("{label}: reference wrote {}", theirs.data.dtype_name());
    };
    // The default path (AVX2 where the CPU has it) and the portable one.
    let variants = [
        ("", MicroFrontend::new(cfg.clone())?),
        (" portable", MicroFrontend::new(cfg.clone())?.portable()),
    ];
    let mut failures = Vec::new();
    for (variant, mut fe) in variants {
        let label = format!("{label}{variant}");
        let before = failures.len();
        let ours: Vec<i32> = clips
            .iter()
            .flat_map(|c| fe.compute(c))
            .map(i32::from)
            .collect();
        let shape = vec![
            clips.len(),
            fe.num_frames(clips[0].len()),
            fe.num_channels(),
        ];
        ensure!(
            theirs.shape == shape,
            "{label}: TF shape {:?}, ours {shape:?}",
            theirs.shape
        );
        let per = shape[1] * shape[2];
        for (k, (a, b)) in ours
            .chunks(per.max(1))
            .zip(theirs_v.chunks(per.max(1)))
            .enumerate()
        {
            let bad: Vec<usize> = (0..per).filter(|&i| a[i] != b[i]).collect();
            if let Some(&i) = bad.first() {
                failures.push(format!(
                    "{label}: clip {k} ({}): {} of {per} values differ; first at frame {} channel {}: ours {} TF {}",
                    names.get(k).map(String::as_str).unwrap_or("synthetic"),
                    bad.len(),
                    i / shape[2],
                    i % shape[2],
                    a[i],
                    b[i]
                ));
            }
        }
        eprintln!(
            "{label}: {} clips x {} frames x {} channels compared, {} clips differ",
            shape[0],
            shape[1],
            shape[2],
            failures.len() - before
        );
    }
    Ok(failures)
}

#[test]
fn micro_frontend_equals_tensorflow_op_bit_for_bit() -> Result<()> {
    python()?;
    let seed = seed();
    eprintln!("KWS_TEST_SEED={seed}");
    let mut pick = Pick(seed);
    let scratch = scratch_dir("kws_micro")?;
    let (mut clips, mut names) = random_clips(&mut pick, 24)?;
    eprintln!("random clips: {}", names.join(" "));
    for c in augmented_clips(&mut pick, 8)? {
        clips.push(c);
        names.push("augmented training clip".into());
    }
    clips.extend(synthetic(&mut pick, 16000));
    let mut failures = Vec::new();
    // micro_speech as training runs it (PCAN on, the Python wrapper's default), and without PCAN.
    let speech = MicroFrontendConfig::micro_speech();
    failures.extend(check_micro(
        "micro_speech",
        &speech,
        &[],
        &clips,
        &names,
        &scratch,
    )?);
    let no_pcan = MicroFrontendConfig {
        enable_pcan: false,
        ..speech.clone()
    };
    failures.extend(check_micro(
        "micro_speech_no_pcan",
        &no_pcan,
        &["--no-pcan"],
        &clips,
        &names,
        &scratch,
    )?);
    // The op's defaults (25 ms, 10 ms, 32 channels) on other lengths.
    let op = MicroFrontendConfig::op_defaults();
    let op_args = [
        "--window-size",
        "25",
        "--window-step",
        "10",
        "--channels",
        "32",
    ];
    let short: Vec<Vec<i16>> = clips[..8].iter().map(|c| c[..7777].to_vec()).collect();
    failures.extend(check_micro(
        "op_defaults_short",
        &op,
        &op_args,
        &short,
        &names,
        &scratch,
    )?);
    let long = synthetic(&mut pick, 23456);
    failures.extend(check_micro(
        "op_defaults_long",
        &op,
        &op_args,
        &long,
        &[],
        &scratch,
    )?);
    if !failures.is_empty() {
        bail!(
            "seed {seed}: {} mismatches:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// Per clip, the largest |ours - TF| over the TF feature range (of the whole set).
fn check_mfcc(
    label: &str,
    cfg: &MfccConfig,
    args: &[&str],
    clips: &[Vec<i16>],
    scratch: &Path,
) -> Result<Vec<f64>> {
    let input = scratch.join(format!("{label}.clips.npy"));
    write_clips(&input, clips)?;
    let theirs = reference(
        "mfcc",
        &input,
        &scratch.join(format!("{label}.tf.npy")),
        args,
    )?;
    let NpyData::F32(t) = &theirs.data else {
        bail!("{label}: reference wrote {}", theirs.data.dtype_name());
    };
    let mut m = Mfcc::new(cfg.clone())?;
    let ours: Vec<f32> = clips.iter().flat_map(|c| m.compute_i16(c)).collect();
    let shape = vec![
        clips.len(),
        m.num_frames(clips[0].len()),
        m.num_coefficients(),
    ];
    ensure!(
        theirs.shape == shape,
        "{label}: TF shape {:?}, ours {shape:?}",
        theirs.shape
    );
    let (lo, hi) = t
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    let range = (hi - lo) as f64;
    let per = shape[1] * shape[2];
    let rel: Vec<f64> = ours
        .chunks(per)
        .zip(t.chunks(per))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (*x as f64 - *y as f64).abs() / range)
                .fold(
                    0.0,
                    |w: f64, d| if d.is_nan() { f64::NAN } else { w.max(d) },
                )
        })
        .collect();
    eprintln!(
        "{label}: {shape:?}, TF range {range:.3}, worst clip {:.2e} of the range",
        rel.iter().cloned().fold(0.0, f64::max)
    );
    Ok(rel)
}

#[test]
fn mfcc_matches_tf_signal_within_1e4_of_range() -> Result<()> {
    python()?;
    let seed = seed();
    eprintln!("KWS_TEST_SEED={seed}");
    let mut pick = Pick(seed);
    let scratch = scratch_dir("kws_mfcc")?;
    let (mut clips, mut names) = random_clips(&mut pick, 24)?;
    eprintln!("random clips: {}", names.join(" "));
    for c in augmented_clips(&mut pick, 8)? {
        clips.push(c);
        names.push("augmented training clip".into());
    }
    // Synthetic clips whose mel energies are far above float32 FFT rounding noise.
    // Left out: the tone at exactly Nyquist, whose energy below 4 kHz is only the
    // rounding noise of either FFT (about 1e-5) next to the 1e-6 log offset, so
    // both logs are noise (ours and TF's differ there by up to 2e-3 of the range).
    let synth = synthetic(&mut pick, 16000);
    for (k, c) in synth.into_iter().enumerate().filter(|(k, _)| *k != 2) {
        clips.push(c);
        names.push(format!("synthetic {k}"));
    }
    let mut bad = Vec::new();
    let mut check =
        |label: &str, cfg: MfccConfig, args: &[&str], clips: &[Vec<i16>]| -> Result<()> {
            for (k, rel) in check_mfcc(label, &cfg, args, clips, &scratch)?
                .into_iter()
                .enumerate()
            {
                if rel.is_nan() || rel > 1e-4 {
                    bad.push(format!(
                        "{label}: clip {k} ({}): max difference {rel:.2e} of the range",
                        names[k]
                    ));
                }
            }
            Ok(())
        };
    check("lab", MfccConfig::default(), &[], &clips)?;
    check(
        "mlperf_10_ortho",
        MfccConfig {
            num_coefficients: 10,
            dct: DctScaling::Ortho,
            ..MfccConfig::default()
        },
        &["--coefficients", "10", "--dct", "ortho"],
        &clips,
    )?;
    let short: Vec<Vec<i16>> = clips.iter().map(|c| c[..12345].to_vec()).collect();
    check(
        "other_params",
        MfccConfig {
            frame_length: 400,
            frame_step: 160,
            fft_length: 1024,
            num_mel_bins: 64,
            lower_edge_hertz: 60.0,
            upper_edge_hertz: 7600.0,
            num_coefficients: 13,
            ..MfccConfig::default()
        },
        &[
            "--frame-length",
            "400",
            "--frame-step",
            "160",
            "--fft-length",
            "1024",
            "--mel-bins",
            "64",
            "--lower-hz",
            "60",
            "--upper-hz",
            "7600",
            "--coefficients",
            "13",
        ],
        &short,
    )?;
    ensure!(bad.is_empty(), "seed {seed}: {}", bad.join("; "));
    Ok(())
}
