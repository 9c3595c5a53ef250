//! WAV reading (strict and converting), the Speech Commands index and splits,
//! augmentation determinism, and the `kws features` CLI, on kws-synth and on
//! WAVs written here.

use std::path::{Path, PathBuf};

use workbench::dataset::speech_commands::{
    hash_percentage, which_set, SpeechCommands, SpeechCommandsConfig, Split, SplitSource,
};
use workbench::dataset::wav;

fn data_dir() -> PathBuf {
    std::env::var_os("WORKBENCH_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn synth() -> PathBuf {
    data_dir().join("kws-synth")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("workbench-sc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_wav(
    path: &Path,
    rate: u32,
    channels: u16,
    bits: u16,
    frames: usize,
    value: impl Fn(usize, u16) -> i32,
) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..frames {
        for c in 0..channels {
            match bits {
                8 => w.write_sample(value(i, c) as i8).unwrap(),
                16 => w.write_sample(value(i, c) as i16).unwrap(),
                _ => w.write_sample(value(i, c)).unwrap(),
            }
        }
    }
    w.finalize().unwrap();
}

fn err(path: &Path) -> String {
    let e = wav::read_pcm16(path, 16000).unwrap_err().to_string();
    assert!(
        e.contains(&path.display().to_string()),
        "error does not name the file: {e}"
    );
    e
}

#[test]
fn bad_wavs_get_errors_naming_the_file() {
    let d = tmp("bad");
    let p = d.join("rate8k.wav");
    write_wav(&p, 8000, 1, 16, 800, |i, _| i as i32);
    let e = err(&p);
    assert!(e.contains("8000 Hz mono 16-bit"), "{e}");

    let p = d.join("stereo.wav");
    write_wav(&p, 16000, 2, 16, 800, |i, _| i as i32);
    assert!(err(&p).contains("stereo"));

    let p = d.join("8bit.wav");
    write_wav(&p, 16000, 1, 8, 800, |i, _| (i % 100) as i32);
    assert!(err(&p).contains("8-bit"));

    let p = d.join("empty.wav");
    std::fs::write(&p, b"").unwrap();
    assert!(err(&p).contains("empty file"));

    let p = d.join("no_samples.wav");
    write_wav(&p, 16000, 1, 16, 0, |_, _| 0);
    assert!(err(&p).contains("no audio samples"));

    // A whole file cut in the middle of its data chunk.
    let p = d.join("truncated.wav");
    write_wav(&p, 16000, 1, 16, 16000, |i, _| (i % 1000) as i32);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..44 + 2 * 5000 + 1]).unwrap();
    let e = err(&p);
    assert!(e.contains("truncated") && e.contains("16000"), "{e}");

    // Cut inside the header.
    let p = d.join("header.wav");
    std::fs::write(&p, &bytes[..20]).unwrap();
    assert!(err(&p).contains("WAV"));

    let p = d.join("not_a_wav.wav");
    std::fs::write(&p, b"hello, this is text and not audio at all").unwrap();
    assert!(err(&p).contains("not a readable WAV"));
}

#[test]
fn conversion_mixes_rescales_resamples_and_says_so() {
    let d = tmp("convert");
    // 0.1 s of stereo 24-bit at 32 kHz: left 0.5, right 0.25 (of full scale 2^23).
    let p = d.join("stereo24.wav");
    write_wav(&p, 32000, 2, 24, 3200, |_, c| {
        if c == 0 {
            1 << 22
        } else {
            1 << 21
        }
    });
    let (x, note) = wav::read_converted(&p, 16000).unwrap();
    // Half the rate: 1600 samples of (0.5 + 0.25) / 2 = 0.375 -> 12288.
    assert_eq!(x.len(), 1600);
    assert!(x.iter().all(|&v| v == 12288), "{:?}", &x[..4]);
    let note = note.unwrap();
    assert!(
        note.contains("32000 Hz stereo 24-bit PCM -> 16000 Hz mono 16-bit PCM"),
        "{note}"
    );
    // An 8-bit file: 64 / 128 = 0.5 -> 16384.
    let p = d.join("u8.wav");
    write_wav(&p, 16000, 1, 8, 10, |_, _| 64);
    let (x, note) = wav::read_converted(&p, 16000).unwrap();
    assert_eq!(x, vec![16384; 10]);
    assert!(note.is_some());
    // A file already in the right format converts to itself, silently.
    let p = d.join("ok.wav");
    write_wav(&p, 16000, 1, 16, 5, |i, _| i as i32 * 100 - 200);
    let (x, note) = wav::read_converted(&p, 16000).unwrap();
    assert_eq!(x, vec![-200, -100, 0, 100, 200]);
    assert!(note.is_none());
    // Converting never hides a truncated file.
    let p = d.join("cut.wav");
    write_wav(&p, 44100, 2, 16, 1000, |i, _| i as i32);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
    assert!(wav::read_converted(&p, 16000)
        .unwrap_err()
        .to_string()
        .contains("truncated"));
}

#[test]
fn index_follows_the_lists_with_silence_and_unknown_shares() {
    let sc = SpeechCommands::open(&synth(), SpeechCommandsConfig::default()).unwrap();
    assert_eq!(sc.labels(), ["_silence_", "_unknown_", "yes", "no"]);
    assert_eq!(sc.split_source(), SplitSource::Lists);
    let val_list = std::fs::read_to_string(synth().join("validation_list.txt")).unwrap();
    for split in Split::ALL {
        let s = sc.samples(split);
        let count = |l: u32| s.iter().filter(|x| x.label == l).count();
        let words = count(2) + count(3);
        // Default shares: 100 / 4 classes = 25% of the wanted-word clips each, rounded up.
        let share = (words as f64 * 25.0 / 100.0).ceil() as usize;
        assert_eq!(count(0), share, "{split:?} silence");
        assert_eq!(count(1), share, "{split:?} unknown");
        assert!(s
            .iter()
            .filter(|x| x.label == 1)
            .all(|x| x.word != "yes" && x.word != "no"));
        for x in s.iter().filter(|x| x.path.is_some()) {
            let p = x.path.as_ref().unwrap();
            let rel = format!("{}/{}", x.word, p.file_name().unwrap().to_string_lossy());
            assert_eq!(
                val_list.lines().any(|l| l == rel),
                split == Split::Validation,
                "{rel}"
            );
        }
    }
    // kws-synth has 40 clips per word; the lists follow the hashing rule.
    let val_yes = val_list.lines().filter(|l| l.starts_with("yes/")).count();
    assert_eq!(
        sc.samples(Split::Validation)
            .iter()
            .filter(|x| x.label == 2)
            .count(),
        val_yes
    );
}

#[test]
fn without_lists_the_hashing_rule_splits_by_speaker() {
    let d = tmp("nolists");
    for w in ["yes", "no", "cat"] {
        std::fs::create_dir_all(d.join(w)).unwrap();
        for e in std::fs::read_dir(synth().join(w)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, d.join(w).join(p.file_name().unwrap())).unwrap();
        }
    }
    let cfg = SpeechCommandsConfig {
        unknown_percentage: Some(100.0),
        ..SpeechCommandsConfig::default()
    };
    let sc = SpeechCommands::open(&d, cfg).unwrap();
    assert_eq!(sc.split_source(), SplitSource::Hash);
    assert!(sc.background_files().is_empty());
    for split in Split::ALL {
        for x in sc.samples(split).iter().filter(|x| x.path.is_some()) {
            let name = x
                .path
                .as_ref()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            assert_eq!(
                which_set(&name, 10.0, 10.0),
                split,
                "{name} {}",
                hash_percentage(&name)
            );
        }
    }
    // The same speakers as kws-synth's own lists (made with the same rule).
    let val = std::fs::read_to_string(synth().join("validation_list.txt")).unwrap();
    let ours: std::collections::BTreeSet<String> = sc
        .samples(Split::Validation)
        .iter()
        .filter(|x| x.label == 2)
        .map(|x| {
            format!(
                "yes/{}",
                x.path
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
            )
        })
        .collect();
    let theirs: std::collections::BTreeSet<String> = val
        .lines()
        .filter(|l| l.starts_with("yes/"))
        .map(String::from)
        .collect();
    assert_eq!(ours, theirs);
}

#[test]
fn augmentation_is_seeded_and_silence_is_noise_only() {
    let cfg = SpeechCommandsConfig {
        seed: 7,
        ..SpeechCommandsConfig::default()
    };
    let a = SpeechCommands::open(&synth(), cfg.clone()).unwrap();
    let b = SpeechCommands::open(&synth(), cfg).unwrap();
    assert_eq!(a.samples(Split::Training), b.samples(Split::Training));
    let idx: Vec<usize> = (0..20).collect();
    let x = a.batch(Split::Training, &idx, 3).unwrap();
    assert_eq!(x, b.batch(Split::Training, &idx, 3).unwrap());
    assert_eq!(x.clips.len(), 20 * 16000);
    assert_ne!(
        x.clips,
        a.batch(Split::Training, &idx, 4).unwrap().clips,
        "epochs must differ"
    );
    // Validation ignores the epoch and is never shifted or mixed, except silence.
    let v = a.split_batch(Split::Validation, 1).unwrap();
    assert_eq!(v, a.split_batch(Split::Validation, 2).unwrap());
    for (k, s) in a.samples(Split::Validation).iter().enumerate() {
        let clip = &v.clips[k * 16000..(k + 1) * 16000];
        match &s.path {
            Some(p) => {
                let raw = wav::pad_or_cut(wav::read_pcm16(p, 16000).unwrap(), 16000);
                assert!(
                    raw.iter().zip(clip).all(|(&r, &c)| r as f32 / 32768.0 == c),
                    "{}",
                    p.display()
                );
            }
            None => assert!(clip.iter().any(|&c| c != 0.0) && clip.iter().all(|c| c.abs() <= 1.0)),
        }
    }
    // A different seed gives a different order.
    let c = SpeechCommands::open(
        &synth(),
        SpeechCommandsConfig {
            seed: 8,
            ..SpeechCommandsConfig::default()
        },
    )
    .unwrap();
    assert_ne!(a.samples(Split::Training), c.samples(Split::Training));
}

#[test]
fn loader_errors_name_the_bad_file_and_the_missing_word() {
    let d = tmp("badset");
    std::fs::create_dir_all(d.join("yes")).unwrap();
    std::fs::create_dir_all(d.join("no")).unwrap();
    write_wav(
        &d.join("yes/aaaa_nohash_0.wav"),
        16000,
        1,
        16,
        16000,
        |i, _| (i % 300) as i32,
    );
    write_wav(
        &d.join("no/bbbb_nohash_0.wav"),
        44100,
        1,
        16,
        16000,
        |i, _| (i % 300) as i32,
    );
    let e = SpeechCommands::open(
        &d,
        SpeechCommandsConfig {
            wanted_words: vec!["yes".into(), "up".into()],
            ..SpeechCommandsConfig::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("\"up\" not found") && e.contains("no, yes"),
        "{e}"
    );
    let sc = SpeechCommands::open(&d, SpeechCommandsConfig::default()).unwrap();
    let all: Vec<(Split, usize)> = Split::ALL
        .iter()
        .flat_map(|&s| (0..sc.samples(s).len()).map(move |i| (s, i)))
        .collect();
    let errors: Vec<String> = all
        .iter()
        .filter_map(|&(s, i)| sc.clip(s, i, 0).err().map(|e| e.to_string()))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("bbbb_nohash_0.wav") && errors[0].contains("44100 Hz"),
        "{}",
        errors[0]
    );
    // With convert, it loads (and is resampled to 16 kHz).
    let sc = SpeechCommands::open(
        &d,
        SpeechCommandsConfig {
            convert: true,
            ..SpeechCommandsConfig::default()
        },
    )
    .unwrap();
    for &(s, i) in &all {
        assert_eq!(sc.clip(s, i, 0).unwrap().len(), 16000);
    }
}

#[test]
fn kws_features_cli_writes_n_49_40() {
    let d = tmp("cli");
    let out = d.join("f.npy");
    for (frontend, coeffs) in [("micro", None), ("mfcc", Some("10"))] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_workbench"));
        cmd.args(["kws", "features", "--frontend", frontend, "--input"])
            .arg(synth().join("yes"))
            .arg("--output")
            .arg(&out);
        if let Some(c) = coeffs {
            cmd.args(["--coefficients", c]);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let a = workbench::npy::read_npy(&out).unwrap();
        assert_eq!(
            a.shape,
            vec![40, 49, coeffs.map_or(40, |c| c.parse().unwrap())]
        );
        // Row 0 is the first WAV by path, through the library.
        let mut first: Vec<_> = std::fs::read_dir(synth().join("yes"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        first.sort();
        let clip = wav::pad_or_cut(wav::read_pcm16(&first[0], 16000).unwrap(), 16000);
        let expected: Vec<f32> = match frontend {
            "micro" => workbench::dsp::MicroFrontend::new(Default::default())
                .unwrap()
                .compute(&clip)
                .into_iter()
                .map(workbench::dsp::micro_frontend::to_float)
                .collect(),
            _ => workbench::dsp::Mfcc::new(workbench::dsp::MfccConfig {
                num_coefficients: 10,
                ..Default::default()
            })
            .unwrap()
            .compute_i16(&clip),
        };
        let workbench::npy::NpyData::F32(v) = a.data else {
            panic!("not float32")
        };
        assert_eq!(&v[..expected.len()], &expected[..]);
    }
    // A bad WAV in the input names the file; exit status 2.
    let bad = d.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    write_wav(&bad.join("x.wav"), 16000, 2, 16, 100, |_, _| 0);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["kws", "features", "--frontend", "micro", "--input"])
        .arg(&bad)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("x.wav") && e.contains("stereo"), "{e}");
}
