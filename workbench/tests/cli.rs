//! The `workbench` CLI contract: `mnist train` writes its five files with the
//! promised metrics, `infer` reads NPY batches and matches the library, and
//! bad files get errors that name them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_workbench"))
}

fn data_dir() -> PathBuf {
    std::env::var_os("WORKBENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("workbench-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn mnist_train_writes_model_tflite_c_array_report_and_metrics() {
    let out = tmp("train");
    let o = workbench()
        .args([
            "mnist",
            "train",
            "--epochs",
            "1",
            "--train-limit",
            "20000",
            "--offline",
        ])
        .arg("--data-dir")
        .arg(data_dir())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in [
        "model.safetensors",
        "model_int8.tflite",
        "model_int8.cc",
        "quant_report.csv",
        "metrics.json",
    ] {
        let len = std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{f} missing or empty");
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    for k in [
        "float_accuracy",
        "int8_accuracy",
        "rom_bytes",
        "ram_bytes_worst",
        "ram_bytes_best",
        "macs",
    ] {
        assert!(m[k].is_number(), "metrics.json lacks {k}: {m}");
    }
    // 20,000 images, one epoch (about 93%): well above chance, and int8 close to float.
    let (f, q) = (
        m["float_accuracy"].as_f64().unwrap(),
        m["int8_accuracy"].as_f64().unwrap(),
    );
    assert!(f > 0.85, "float accuracy {f}");
    assert!((f - q).abs() < 0.02, "float {f} vs int8 {q}");
    // The tutorial net's MACs, counted by hand: 48,672 + 139,392 + 12,800 + 2,048 + 640.
    assert_eq!(m["macs"].as_u64(), Some(203_552));
    let csv = std::fs::read_to_string(out.join("quant_report.csv")).unwrap();
    assert!(csv.starts_with("op_name,tensor_idx,num_elements,stddev,mean_error,max_abs_error,mean_squared_error,scale,zero_point,tensor_name,range,rmse/scale"));
    assert_eq!(csv.lines().count(), 1 + 8, "one row per layer:\n{csv}");
    let cc = std::fs::read_to_string(out.join("model_int8.cc")).unwrap();
    let tfl = std::fs::read(out.join("model_int8.tflite")).unwrap();
    assert!(
        cc.contains(&format!("g_model_len = {}", tfl.len())),
        "C array length line missing"
    );

    // infer on a float32 batch quantizes with the input's scale; on int8 uses it as-is.
    let x = out.join("x.npy");
    let images: Vec<f32> = (0..2 * 784)
        .map(|i| ((i * 37) % 256) as f32 - 128.0)
        .collect();
    workbench::npy::write_npy(
        &x,
        &workbench::npy::NpyArray {
            shape: vec![2, 28, 28, 1],
            data: workbench::npy::NpyData::F32(images.clone()),
        },
    )
    .unwrap();
    let y = out.join("y.npy");
    let o = workbench()
        .arg("infer")
        .arg("--model")
        .arg(out.join("model_int8.tflite"))
        .arg("--input")
        .arg(&x)
        .arg("--output")
        .arg(&y)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ya = workbench::npy::read_npy(&y).unwrap();
    assert_eq!(ya.shape, vec![2, 10]);
    let xi = out.join("xi.npy");
    workbench::npy::write_npy(
        &xi,
        &workbench::npy::NpyArray {
            shape: vec![2, 28, 28, 1],
            data: workbench::npy::NpyData::I8(images.iter().map(|&v| v as i8).collect()),
        },
    )
    .unwrap();
    let yi = out.join("yi.npy");
    let o = workbench()
        .arg("infer")
        .arg("--model")
        .arg(out.join("model_int8.tflite"))
        .arg("--input")
        .arg(&xi)
        .arg("--output")
        .arg(&yi)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The input scale is 1 and zero point 0 (pixels minus 128 span [-128, 127]), so both agree.
    assert_eq!(ya.data, workbench::npy::read_npy(&yi).unwrap().data);
}

#[test]
fn truncated_tflite_gets_an_error_naming_the_file() {
    let out = tmp("bad");
    let bad = out.join("broken.tflite");
    std::fs::write(&bad, b"TFL3\x00\x00\x00\x10garbage").unwrap();
    let o = workbench().arg("inspect").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("broken.tflite"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn infer_rejects_a_batch_of_the_wrong_shape() {
    let out = tmp("shape");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/refs/mnist_tiny.tflite");
    let x = out.join("x.npy");
    workbench::npy::write_npy(
        &x,
        &workbench::npy::NpyArray {
            shape: vec![3, 5],
            data: workbench::npy::NpyData::I8(vec![0; 15]),
        },
    )
    .unwrap();
    let o = workbench()
        .arg("infer")
        .arg("--model")
        .arg(&model)
        .arg("--input")
        .arg(&x)
        .arg("--output")
        .arg(out.join("y.npy"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a batch of the model's input shape"),
        "{err}"
    );
}

#[test]
fn bench_infer_json_has_every_engine() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = std::env::var_os("WORKBENCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        python.is_file(),
        "{} missing: run scripts/setup-venv.sh (or set WORKBENCH_PYTHON)",
        python.display()
    );
    let o = workbench()
        .args(["bench", "infer", "--json", "--seconds", "0.2", "--model"])
        .arg(root.join("tests/refs/mnist_tiny.tflite"))
        .arg("--python")
        .arg(&python)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    for key in [
        "ours_per_s",
        "ours_reference_per_s",
        "tflite_reference_per_s",
        "tflite_xnnpack_per_s",
    ] {
        let rate = v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"));
        assert!(rate > 0.0, "{key} = {rate}");
    }
}
