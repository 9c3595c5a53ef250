//! The `device-bridge` command line: `check --json` on the in-process host board.

use std::path::Path;
use std::process::Command;

#[test]
fn check_json_reports_mismatches_counts_and_per_mac_by_op() {
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/refs");
    let out = Command::new(env!("CARGO_BIN_EXE_device-bridge"))
        .args(["check", "--board", "host", "--json", "--model"])
        .arg(refs.join("mnist_tiny.tflite"))
        .arg("--input")
        .arg(refs.join("mnist_tiny.input.npy"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(v["mismatches"], 0);
    assert_eq!(v["samples"], 8);
    let unit = v["unit"].as_str().unwrap();
    let per_inference = v[format!("{unit}_per_inference")].as_f64().unwrap();
    assert!(per_inference > 0.0);
    // mnist_tiny: three convolutions, two pools, two dense layers.
    let layers = v["layers"].as_array().unwrap();
    let ops: Vec<&str> = layers.iter().map(|l| l["op"].as_str().unwrap()).collect();
    assert_eq!(
        ops,
        [
            "CONV_2D",
            "MAX_POOL_2D",
            "CONV_2D",
            "MAX_POOL_2D",
            "CONV_2D",
            "FULLY_CONNECTED",
            "FULLY_CONNECTED"
        ]
    );
    let sum: u64 = layers.iter().map(|l| l["count"].as_u64().unwrap()).sum();
    assert!(sum > 0);
    // Per MAC by op: the op's counts over its MACs, from the layer rows.
    let per_mac = &v[format!("{unit}_per_mac")];
    for op in ["CONV_2D", "FULLY_CONNECTED"] {
        let (c, m) = layers
            .iter()
            .filter(|l| l["op"] == op)
            .fold((0, 0), |(c, m), l| {
                (
                    c + l["count"].as_u64().unwrap(),
                    m + l["macs"].as_u64().unwrap(),
                )
            });
        assert!(m > 0, "{op} has MACs");
        assert!((per_mac[op].as_f64().unwrap() - c as f64 / m as f64).abs() < 1e-9);
    }
    assert!(per_mac.get("MAX_POOL_2D").is_none());
}
