//! Boards against TFLite itself: outputs of the host board and (when it can
//! run) the emulated Cortex-M4 equal those of the TFLite interpreter whose
//! arithmetic the board says it follows (its hello's flavor) for every
//! reference model: the host board LiteRT's reference kernels (`ai-edge-litert`,
//! `BUILTIN_REF`, via `tests/refs/run_tflite.py`), the Cortex-M4 TFLite Micro
//! (the `tflite-micro` wheel, via `tests/refs/run_tflm.py`). Needs the reference venv (`WORKBENCH_PYTHON`); skipped with
//! a printed reason without it, except under CI.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use device_bridge::boards::{self, OpenOptions, QEMU_BOARD};
use device_bridge::check::HostModel;
use device_bridge::npy;
use workbench_tflite::Flavor;

fn python() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("WORKBENCH_PYTHON")?);
    p.exists().then_some(p)
}

/// The outputs for a fixture's batch of LiteRT's reference kernels or of TFLite Micro.
fn tflite_outputs(py: &PathBuf, name: &str, flavor: Flavor) -> npy::Array {
    let out = std::env::temp_dir().join(format!(
        "device-bridge-ref-{}-{name}-{flavor:?}.npy",
        std::process::id()
    ));
    let script = match flavor {
        Flavor::LiteRt => "run_tflite.py",
        Flavor::Micro => "run_tflm.py",
    };
    let mut cmd = Command::new(py);
    cmd.arg(refs().join(script))
        .arg(refs().join(format!("{name}.tflite")))
        .arg(refs().join(format!("{name}.input.npy")))
        .arg(&out);
    if flavor == Flavor::LiteRt {
        cmd.args(["--kernels", "reference"]);
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "{script} failed on {name}");
    let a = npy::read(&out).unwrap();
    let _ = std::fs::remove_file(out);
    a
}

#[test]
fn boards_match_tflite_reference_kernels() {
    let Some(py) = python() else {
        assert!(
            std::env::var("CI").is_err(),
            "WORKBENCH_PYTHON must be set under CI"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED boards_match_tflite_reference_kernels: WORKBENCH_PYTHON is not set"
        );
        return;
    };
    let mut boards = vec![boards::open("host", &OpenOptions::default()).unwrap()];
    match boards::qemu_firmware() {
        Ok(_) => boards.push(boards::open(QEMU_BOARD, &OpenOptions::default()).unwrap()),
        Err(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {QEMU_BOARD} against TFLite: {why}"
            );
        }
    }
    let flavors: Vec<Flavor> = boards.iter().map(|b| b.device.info().flavor).collect();
    assert_eq!(flavors[0], Flavor::LiteRt, "the host board follows LiteRT");
    if flavors.len() > 1 {
        assert_eq!(
            flavors[1],
            Flavor::Micro,
            "{QEMU_BOARD} follows TFLite Micro"
        );
    }
    for name in fixture_names() {
        let (model, batch) = fixture(&name);
        let host = HostModel::new(&model).unwrap();
        let samples = host.samples(&batch).unwrap();
        for (b, &flavor) in boards.iter_mut().zip(&flavors) {
            let want = tflite_outputs(&py, &name, flavor);
            b.device.push_model(&model).unwrap();
            let run = b.device.run_batch(&samples, false).unwrap();
            let got = host.stack(&run.outputs);
            assert_eq!(
                got.bytes.len(),
                want.bytes.len(),
                "{name} on {}",
                b.device.info().name
            );
            let diff = got
                .bytes
                .iter()
                .zip(&want.bytes)
                .filter(|(a, b)| a != b)
                .count();
            assert_eq!(
                diff,
                0,
                "{name} on {}: {diff} bytes differ from TFLite ({flavor:?})",
                b.device.info().name
            );
        }
    }
}
