//! Shared helpers for the data tests: where the shared test data lives.

#![allow(dead_code)]

use std::path::PathBuf;

/// The shared data root: `$WORKBENCH_DATA`, else `<workspace>/../shared/data`.
pub fn shared_data() -> PathBuf {
    match std::env::var_os("WORKBENCH_DATA").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
    }
}

/// The shapes-synth ImageFolder tree (`train/`, `val/`); fails the test if it is absent.
pub fn shapes_synth() -> PathBuf {
    let root = shared_data().join("shapes-synth");
    assert!(
        root.join("train").is_dir(),
        "{}: no shapes-synth data set (set WORKBENCH_DATA)",
        root.display()
    );
    root
}

/// The real MNIST folder, or `None` (with a note on stderr) if it is absent; under CI it must be there.
pub fn mnist_dir() -> Option<PathBuf> {
    let d = shared_data().join("mnist");
    if d.join("train-images-idx3-ubyte.gz").is_file() {
        Some(d)
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no MNIST in {} under CI (set WORKBENCH_DATA)",
            d.display()
        );
        eprintln!("skipped: no MNIST in {} (set WORKBENCH_DATA)", d.display());
        None
    }
}

/// A fresh empty temporary folder unique to this test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("workbench-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
