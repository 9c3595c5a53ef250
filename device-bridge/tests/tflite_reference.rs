//! Boards against TFLite itself: outputs of the host board and (when it can
//! run) the emulated Cortex-M4 equal those of TFLite's reference kernels
//! (`ai-edge-litert`, `BUILTIN_REF`, via `tests/refs/run_tflite.py`) for every
//! reference model. Needs the reference venv (`WORKBENCH_PYTHON`); skipped with
//! a printed reason without it, except under CI.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use common::*;
use device_bridge::boards::{self, OpenOptions, QEMU_BOARD};
use device_bridge::check::HostModel;
use device_bridge::npy;

fn python() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("WORKBENCH_PYTHON")?);
    p.exists().then_some(p)
}

/// TFLite's reference-kernel outputs for a fixture's batch.
fn tflite_outputs(py: &PathBuf, name: &str) -> npy::Array {
    let out = std::env::temp_dir().join(format!(
        "device-bridge-ref-{}-{name}.npy",
        std::process::id()
    ));
    let status = Command::new(py)
        .arg(refs().join("run_tflite.py"))
        .arg(refs().join(format!("{name}.tflite")))
        .arg(refs().join(format!("{name}.input.npy")))
        .arg(&out)
        .args(["--kernels", "reference"])
        .status()
        .unwrap();
    assert!(status.success(), "run_tflite.py failed on {name}");
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
    for name in fixture_names() {
        let want = tflite_outputs(&py, &name);
        let (model, batch) = fixture(&name);
        let host = HostModel::new(&model).unwrap();
        let samples = host.samples(&batch).unwrap();
        for b in &mut boards {
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
                "{name} on {}: {diff} bytes differ from TFLite",
                b.device.info().name
            );
        }
    }
}
