//! EMG data against references nobody here wrote: scipy's Butterworth design and
//! lfilter, an independent scipy/numpy preparation script
//! (`scripts/emg_prepare_ref.py`, written from issue 4's description), numpy's
//! decoding of the BioWolf recording and pyarrow's reading of our Parquet.

mod data_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use data_common::{shared_data, temp_dir};
use workbench::dataset::emg::{self, synth, PrepareConfig, SynthConfig};
use workbench::dsp::butterworth::{butter, Band};
use workbench::dsp::lfilter::lfilter;
use workbench::npy::{read_npy, NpyData};

/// The reference venv's python (with scipy and pyarrow): `$WORKBENCH_PYTHON`, else `<repo>/.venv/bin/python`.
fn python() -> PathBuf {
    let p = std::env::var_os("WORKBENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "no reference python at {} (run scripts/setup-venv.sh or set WORKBENCH_PYTHON)",
        p.display()
    );
    p
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_python(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(python()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn py(code: &str, arg: &str) -> serde_json::Value {
    let out = run_python(&["-c".as_ref(), code.as_ref(), arg.as_ref()]);
    serde_json::from_str(&out).unwrap()
}

fn subject_a() -> (PathBuf, PathBuf) {
    let d = shared_data().join("emg-synth/subject_a");
    (d.join("session_1.parquet"), d.join("session_2.parquet"))
}

fn workbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_workbench"))
}

fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Each design: (order, btype, cutoffs in Hz, fs).
const DESIGNS: &str = r#"[
 [4, "highpass", [10], 500], [1, "lowpass", [100], 1000], [2, "lowpass", [10], 500],
 [3, "highpass", [0.5], 250], [5, "lowpass", [3000], 16000], [8, "lowpass", [40], 500],
 [2, "bandpass", [20, 150], 500], [4, "bandpass", [300, 3400], 16000], [3, "bandpass", [1, 2], 100],
 [2, "bandstop", [49, 51], 500], [4, "bandstop", [45, 55], 1000], [5, "bandstop", [100, 200], 1000],
 [6, "highpass", [200], 500], [7, "lowpass", [249], 500]
]"#;

const SCIPY_DESIGN: &str = r#"
import json, sys
import numpy as np
from scipy.signal import butter, lfilter
h = lambda v: np.asarray(v, "<f8").tobytes().hex()  # exact: JSON decimals may round
out = []
rng = np.random.default_rng(7)
x = rng.standard_normal(2000) * 100 + 50
for order, btype, wn, fs in json.loads(sys.argv[1]):
    b, a = butter(order, wn if len(wn) > 1 else wn[0], btype=btype, fs=fs)
    out.append({"b": h(b), "a": h(a), "y": h(lfilter(b, a, x))})
# The EMG high-pass on a long signal, to check our design and filter end to end.
b, a = butter(4, 10 / 250, btype="highpass")
xl = rng.standard_normal(200000) * 150 + 2000
print(json.dumps({"x": h(x), "filters": out, "xl": h(xl), "yl": h(lfilter(b, a, xl))}))
"#;

/// Little-endian f64s from hex (bit-exact, unlike decimal JSON).
fn hex_f64s(v: &serde_json::Value) -> Vec<f64> {
    let s = v.as_str().unwrap().as_bytes();
    s.chunks(16)
        .map(|c| {
            let mut b = [0u8; 8];
            for (i, pair) in c.chunks(2).enumerate() {
                b[i] = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
            }
            f64::from_le_bytes(b)
        })
        .collect()
}

fn close(ours: &[f64], theirs: &[f64], rel: f64, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let scale = theirs.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (o - t).abs() <= rel * scale,
            "{what}[{i}]: ours {o:e}, scipy {t:e} (scale {scale:e})"
        );
    }
}

#[test]
fn butter_and_lfilter_match_scipy_to_1e_9() {
    let r = py(SCIPY_DESIGN, DESIGNS);
    let designs: Vec<serde_json::Value> = serde_json::from_str(DESIGNS).unwrap();
    let x = hex_f64s(&r["x"]);
    let mut worst = 0.0f64;
    for (d, f) in designs.iter().zip(r["filters"].as_array().unwrap()) {
        let order = d[0].as_u64().unwrap() as usize;
        let wn = f64s(&d[2]);
        let fs = d[3].as_f64().unwrap();
        let band = match d[1].as_str().unwrap() {
            "lowpass" => Band::Lowpass(wn[0]),
            "highpass" => Band::Highpass(wn[0]),
            "bandpass" => Band::Bandpass(wn[0], wn[1]),
            _ => Band::Bandstop(wn[0], wn[1]),
        };
        let ba = butter(order, band, fs).unwrap();
        let what = format!("{d}");
        let (b, a) = (hex_f64s(&f["b"]), hex_f64s(&f["a"]));
        close(&ba.b, &b, 1e-9, &format!("{what} b"));
        close(&ba.a, &a, 1e-9, &format!("{what} a"));
        // lfilter on scipy's own coefficients: the filter alone (narrow bands amplify
        // coefficient rounding, so our design's output is compared only for the EMG filter below).
        // It does scipy's operations in scipy's order, so it is bit-exact on this machine; the
        // tolerance leaves room for other libm/compiler builds.
        let y = lfilter(&b, &a, &x).unwrap();
        close(&y, &hex_f64s(&f["y"]), 1e-12, &format!("{what} lfilter"));
        for (o, t) in ba.b.iter().chain(&ba.a).zip(b.iter().chain(&a)) {
            worst = worst.max((o - t).abs() / t.abs().max(1.0));
        }
    }
    eprintln!("butter: worst coefficient error {worst:e} (relative to max(1, |coef|))");
    // The hands-on's high-pass, our design and our filter, on 200,000 samples with a DC offset.
    let ba = butter(4, Band::Highpass(10.0), 500.0).unwrap();
    let y = lfilter(&ba.b, &ba.a, &hex_f64s(&r["xl"])).unwrap();
    close(&y, &hex_f64s(&r["yl"]), 1e-9, "emg high-pass");
    let worst = y
        .iter()
        .zip(hex_f64s(&r["yl"]))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!("emg high-pass: worst |ours - scipy| {worst:e} over 200000 samples");
}

/// Reads an NPY written by the preparation (ours or the reference).
fn load(dir: &Path, name: &str) -> (Vec<usize>, NpyData) {
    let a = read_npy(dir.join(name)).unwrap();
    (a.shape, a.data)
}

fn compare_with_reference(ours: &Path, theirs: &Path) {
    for split in ["train", "val", "test"] {
        let (ls, ld) = load(ours, &format!("{split}_labels.npy"));
        let (rs, rd) = load(theirs, &format!("{split}_labels.npy"));
        assert_eq!(ls, rs, "{split}: window counts");
        assert_eq!(ld, rd, "{split}: labels");
        let (ds, dd) = load(ours, &format!("{split}_data.npy"));
        let (rs, rd) = load(theirs, &format!("{split}_data.npy"));
        assert_eq!(ds, rs, "{split}: data shape");
        let (NpyData::F32(a), NpyData::F32(b)) = (dd, rd) else {
            panic!("{split}: data must be float32")
        };
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "{split}: worst difference {worst:e}");
        eprintln!("{split}: {} windows, worst |ours - scipy| {worst:e}", ls[0]);
    }
    let read = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("rescaling_values.json")).unwrap())
            .unwrap()
    };
    let (o, t) = (read(ours), read(theirs));
    for key in ["min", "max"] {
        let (a, b) = (f64s(&o[key]), f64s(&t[key]));
        assert_eq!(a.len(), 8);
        close(&a, &b, 1e-9, key);
    }
}

#[test]
fn prepare_matches_the_scipy_reference_on_subject_a() {
    let (s1, s2) = subject_a();
    let script = repo().join("scripts/emg_prepare_ref.py");
    for concat in [false, true] {
        let tag = if concat { "concat" } else { "plain" };
        let theirs = temp_dir(&format!("emg-ref-{tag}"));
        let mut args = vec![
            script.as_os_str(),
            s1.as_os_str(),
            s2.as_os_str(),
            theirs.as_os_str(),
        ];
        if concat {
            args.push("--concatenate-all".as_ref());
        }
        run_python(&args);
        let ours = temp_dir(&format!("emg-ours-{tag}"));
        if concat {
            // Through the CLI.
            let o = workbench()
                .args(["emg", "prepare", "--concatenate-all", "--train-val"])
                .arg(&s1)
                .arg("--test")
                .arg(&s2)
                .arg("--out")
                .arg(&ours)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        } else {
            let p = emg::prepare_files(&s1, &s2, &PrepareConfig::default()).unwrap();
            assert_eq!(p.train.shape()[1..], [300, 8]);
            assert!(p.train.len() > 500 && p.val.len() > 100 && p.test.len() > 500);
            p.save(&ours).unwrap();
        }
        compare_with_reference(&ours, &theirs);
    }
}

const NUMPY_BIOWOLF: &str = r#"
import json, sys
import numpy as np
import pyarrow.parquet as pq
raw = open(sys.argv[1], "rb").read()
footer_at = raw.rfind(b"<<>>IEP,")
fields = raw[footer_at + 8:].decode().split(",")
gain = {1: 7000700, 2: 14000800, 3: 20991300, 4: 27990100, 6: 41994600, 8: 55994200, 12: 83970500}
g = int([f for f in fields if f.startswith("G")][0][1:])
p = np.frombuffer(raw[:footer_at], dtype=np.uint8).reshape(-1, 32)[1:].astype(np.int32)
s24 = (p[:, 0:24:3] << 16) | (p[:, 1:24:3] << 8) | p[:, 2:24:3]
s24 = np.where(s24 >= 1 << 23, s24 - (1 << 24), s24)
uv = s24 * (1 / gain[g]) * 1e6
t = pq.read_table(sys.argv[2])
ours = np.stack([t.column(f"Ch{i}").to_numpy() for i in range(1, 9)], axis=1)
kv = pq.read_metadata(sys.argv[2]).metadata
meta = {k.decode(): v.decode() for k, v in kv.items() if k != b"ARROW:schema"}
print(json.dumps({"rows": len(uv), "max_abs_diff": float(np.abs(ours - uv).max()),
                  "trigger_equal": bool((t.column("Trigger").to_numpy() == p[:, 31]).all()),
                  "meta": meta}))
"#;

#[test]
fn import_biowolf_matches_numpy_decoding_and_keeps_the_footer() {
    let bin = shared_data().join("emg-biowolf/Data_20240527_140458.bin");
    let dir = temp_dir("emg-biowolf");
    let out = dir.join("rec.parquet");
    let o = workbench()
        .args(["emg", "import-biowolf"])
        .arg(&bin)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = run_python(&[
        "-c".as_ref(),
        NUMPY_BIOWOLF.as_ref(),
        bin.as_os_str(),
        out.as_os_str(),
    ]);
    let r: serde_json::Value = serde_json::from_str(&r).unwrap();
    assert_eq!(r["rows"], 42573, "85 s at 500 Hz, first packet dropped");
    assert!(r["max_abs_diff"].as_f64().unwrap() < 1e-9, "{r}");
    assert_eq!(r["trigger_equal"], true);
    assert_eq!(r["meta"]["sample_rate"], "500");
    assert_eq!(r["meta"]["gain"], "12");
    assert_eq!(r["meta"]["subject"], "");
    // And it reads back as a session.
    let s = emg::read_parquet(&out, 8).unwrap();
    assert_eq!((s.len(), s.meta("gain")), (42573, Some("12")));

    // A truncated copy: the footer survives but the packets don't add up.
    let bytes = std::fs::read(&bin).unwrap();
    let cut = dir.join("cut.bin");
    let footer = bytes.windows(8).rposition(|w| w == b"<<>>IEP,").unwrap();
    std::fs::write(&cut, [&bytes[..footer - 5], &bytes[footer..]].concat()).unwrap();
    let o = workbench()
        .args(["emg", "import-biowolf"])
        .arg(&cut)
        .arg("--out")
        .arg(dir.join("cut.parquet"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("cut.bin") && err.contains("not a whole number of 32-byte packets"),
        "{err}"
    );
    // Cut before the footer ends: no footer at all.
    std::fs::write(&cut, &bytes[..footer + 3]).unwrap();
    let e = emg::read_biowolf(&cut).unwrap_err().to_string();
    assert!(e.contains("cut.bin") && e.contains("footer"), "{e}");
}

#[test]
fn prepare_errors_name_the_file() {
    let dir = temp_dir("emg-bad");
    let (s1, s2) = subject_a();
    let junk = dir.join("junk.parquet");
    std::fs::write(&junk, b"Ch1,Ch2\n1,2\n").unwrap();
    let o = workbench()
        .args(["emg", "prepare", "--train-val"])
        .arg(&s1)
        .arg("--test")
        .arg(&junk)
        .arg("--out")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("junk.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    // A session whose trigger never changes cannot be trimmed.
    let mut s = emg::read_parquet(&s2, 8).unwrap();
    s.trigger.iter_mut().for_each(|t| *t = 0);
    let flat = dir.join("flat.parquet");
    emg::write_parquet(&flat, &s, emg::ChannelType::F32).unwrap();
    let e = emg::prepare_files(&s1, &flat, &PrepareConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("flat.parquet") && e.contains("1 runs"), "{e}");
    // Recorded at another rate.
    s.metadata = vec![("sample_rate".into(), "1000".into())];
    emg::write_parquet(&flat, &s, emg::ChannelType::F32).unwrap();
    let e = emg::prepare_files(&flat, &s2, &PrepareConfig::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("flat.parquet") && e.contains("1000 Hz"), "{e}");
}

/// Log-RMS per channel of each window: a crude feature a nearest-centroid classifier can use.
fn features(w: &emg::Windows) -> Vec<[f64; 8]> {
    (0..w.len())
        .map(|i| {
            let x = w.window(i);
            let mut f = [0.0; 8];
            for (c, fc) in f.iter_mut().enumerate() {
                let mean = x.iter().skip(c).step_by(8).map(|&v| v as f64).sum::<f64>() / 300.0;
                let var = x
                    .iter()
                    .skip(c)
                    .step_by(8)
                    .map(|&v| (v as f64 - mean).powi(2))
                    .sum::<f64>()
                    / 300.0;
                *fc = 0.5 * var.max(1e-12).ln();
            }
            f
        })
        .collect()
}

/// Nearest-centroid accuracy on `test`'s gesture windows (rest is easy), fit on `train`.
fn centroid_accuracy(train: &emg::Windows, test: &emg::Windows) -> f64 {
    let (ft, fe) = (features(train), features(test));
    let mut sums = vec![([0.0; 8], 0usize); 9];
    for (f, &l) in ft.iter().zip(&train.labels) {
        let s = &mut sums[l as usize];
        (0..8).for_each(|c| s.0[c] += f[c]);
        s.1 += 1;
    }
    let centroids: Vec<[f64; 8]> = sums
        .iter()
        .map(|(s, n)| s.map(|v| v / (*n).max(1) as f64))
        .collect();
    let gestures = test.labels.iter().filter(|&&l| l > 0).count();
    let hits = fe
        .iter()
        .zip(&test.labels)
        .filter(|(_, &l)| l > 0)
        .filter(|(f, &l)| {
            let d = |c: &[f64; 8]| (0..8).map(|i| (c[i] - f[i]).powi(2)).sum::<f64>();
            let best = (0..9)
                .min_by(|&a, &b| d(&centroids[a]).total_cmp(&d(&centroids[b])))
                .unwrap();
            best as i64 == l
        })
        .count();
    hits as f64 / gestures as f64
}

#[test]
fn synthetic_subjects_are_learnable_and_distinct() {
    let cfg = SynthConfig::default();
    let a1 = synth::session(&cfg, 100, 1);
    let a2 = synth::session(&cfg, 100, 2);
    let b2 = synth::session(&cfg, 101, 2);
    let pc = PrepareConfig::default();
    let same = emg::prepare(&a1, &a2, &pc).unwrap();
    let other = emg::prepare(&a1, &b2, &pc).unwrap();
    let val = centroid_accuracy(&same.train, &same.val);
    let next_session = centroid_accuracy(&same.train, &same.test);
    let other_subject = centroid_accuracy(&same.train, &other.test);
    eprintln!(
        "nearest centroid on log-RMS, gesture windows: same session {val:.3}, next session {next_session:.3}, other subject {other_subject:.3}"
    );
    assert!(val > 0.9, "same-session validation {val}");
    assert!(next_session > 0.5, "next session {next_session}");
    assert!(
        other_subject < next_session - 0.2,
        "another subject ({other_subject}) should be clearly harder than the same subject's next session ({next_session})"
    );
}

#[test]
fn synth_cli_is_deterministic_and_follows_the_protocol() {
    let dir = temp_dir("emg-synth");
    let make = |out: &Path| {
        let o = workbench()
            .args(["emg", "synth", "--subjects", "2", "--first-subject", "5"])
            .args([
                "--sessions",
                "1",
                "--seed",
                "3",
                "--repetitions",
                "1",
                "--out",
            ])
            .arg(out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    make(&dir.join("a"));
    make(&dir.join("b"));
    for id in [5, 6] {
        let rel = format!("subject_{id}/session_1.parquet");
        let (a, b) = (dir.join("a").join(&rel), dir.join("b").join(&rel));
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{rel}"
        );
        let s = emg::read_parquet(&a, 8).unwrap();
        assert_eq!(s.meta("subject"), Some(id.to_string().as_str()));
        assert_eq!(s.meta("seed"), Some("3"));
        let gestures: Vec<i64> = s.trigger_runs().iter().map(|r| r.0).collect();
        let expected: Vec<i64> = std::iter::once(0)
            .chain((1..=8).flat_map(|g| [g, 0]))
            .collect();
        assert_eq!(gestures, expected);
    }
    let o = workbench()
        .args(["emg", "synth", "--subjects", "0", "--out"])
        .arg(dir.join("c"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}
