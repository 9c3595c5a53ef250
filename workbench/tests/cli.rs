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
fn inspect_prints_model_parameters_one_line_each() {
    let out = tmp("params");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/refs/mnist_tiny.tflite");
    let mut g = workbench::tflite::read_file(&model).unwrap();
    workbench::dataset::normalize::InputNormalization::MeanStd.write(&mut g.params);
    g.params
        .set("classes", vec!["zero".to_string(), "one".to_string()]);
    let with = out.join("with_params.tflite");
    std::fs::write(&with, workbench::tflite::write(&g).unwrap()).unwrap();
    let o = workbench().arg("inspect").arg(&with).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains(concat!(
            "model parameters (SL_PARAMSv1):\n",
            "  samplewise_norm.rescale: 0 (float)\n",
            "  samplewise_norm.mean_and_std: true (bool)\n",
            "  classes: \"zero\",\"one\" (str_list)\n",
            "input normalization: samplewise (x - mean) / (std + 1e-6)\n",
        )),
        "{text}"
    );
    // A model without parameters prints no such lines.
    let o = workbench().arg("inspect").arg(&model).output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("model parameters"));
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

/// `n` pseudo-random float32 samples of `shape`, in [-2, 2), as an NPY file.
fn random_npy(path: &Path, n: usize, shape: &[usize]) {
    let mut seed = 0x2545_f491_u32;
    let len = n * shape.iter().product::<usize>();
    let data = (0..len)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
        })
        .collect();
    let mut full = vec![n];
    full.extend_from_slice(shape);
    workbench::npy::write_npy(
        path,
        &workbench::npy::NpyArray {
            shape: full,
            data: workbench::npy::NpyData::F32(data),
        },
    )
    .unwrap();
}

#[test]
fn quant_convert_and_debug_write_their_files_and_name_bad_inputs() {
    let out = tmp("quant");
    let float =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/refs/keras3/gap_head_f32.tflite");
    let rep = out.join("rep.npy");
    random_npy(&rep, 8, &[12, 12, 3]);
    let q = out.join("q.tflite");
    let o = workbench()
        .args(["quant", "convert", "--float"])
        .arg(&float)
        .arg("--representative")
        .arg(&rep)
        .arg("--out")
        .arg(&q)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let g = workbench::tflite::read_file(&q).unwrap();
    assert_eq!(g.tensors[g.inputs[0]].dtype, workbench::tflite::DType::I8);
    assert_eq!(g.tensors[g.outputs[0]].dtype, workbench::tflite::DType::I8);

    let dir = out.join("debug");
    let o = workbench()
        .args(["quant", "debug", "--float"])
        .arg(&float)
        .arg("--representative")
        .arg(&rep)
        .arg("--data")
        .arg(&rep)
        .arg("--sensitivity")
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = std::fs::read_to_string(dir.join("quant_report.csv")).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert!(lines[0].starts_with("op_name,tensor_idx,num_elements,stddev,mean_error,max_abs_error,mean_squared_error,scale,zero_point,tensor_name,range,rmse_over_scale,sqnr_db,propagated_rmse"));
    let ops: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ops, ["CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]);
    let sens = std::fs::read_to_string(dir.join("sensitivity.csv")).unwrap();
    assert_eq!(sens.lines().count(), 5, "{sens}");
    assert!(dir.join("model_metrics.csv").is_file());
    let html = std::fs::read_to_string(dir.join("quant_report.html")).unwrap();
    assert!(
        html.contains("Layer explorer") && html.contains("<svg"),
        "{html}"
    );
    assert!(!html.contains("<script src") && !html.contains("<link"));

    // A representative set of the wrong shape, then of the wrong dtype: errors name the file.
    let wrong = out.join("wrong_shape.npy");
    random_npy(&wrong, 4, &[7, 7, 3]);
    let ints = out.join("ints.npy");
    workbench::npy::write_npy(
        &ints,
        &workbench::npy::NpyArray {
            shape: vec![2, 12, 12, 3],
            data: workbench::npy::NpyData::I8(vec![0; 864]),
        },
    )
    .unwrap();
    for (bad, says) in [
        (&wrong, "expected shape [N, 12, 12, 3]"),
        (&ints, "expected float32"),
    ] {
        let o = workbench()
            .args(["quant", "convert", "--float"])
            .arg(&float)
            .arg("--representative")
            .arg(bad)
            .arg("--out")
            .arg(out.join("x.tflite"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = String::from_utf8_lossy(&o.stderr);
        let name = bad.file_name().unwrap().to_string_lossy();
        assert!(err.contains(name.as_ref()) && err.contains(says), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A truncated float model.
    let trunc = out.join("trunc.tflite");
    std::fs::write(&trunc, &std::fs::read(&float).unwrap()[..400]).unwrap();
    let o = workbench()
        .args(["quant", "convert", "--float"])
        .arg(&trunc)
        .arg("--representative")
        .arg(&rep)
        .arg("--out")
        .arg(out.join("x.tflite"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("trunc.tflite") && !err.contains("panicked"),
        "{err}"
    );
}
