//! QuantLib's PACT flow on MobileNetV1 0.25 and shapes-synth: the integer
//! network (F2T: eps propagation, requantization with D = 2^24, integer
//! depthwise convolutions and average pool) predicts what the fake-quantized
//! network (F2F) predicts on real images, and `workbench mobilenet train`
//! writes the promised metrics. Data: `$WORKBENCH_DATA/shapes-synth`, else
//! `../shared/data/shapes-synth` beside the repository.
#![cfg(feature = "images")]

use std::process::Command;

use workbench::quant::f2t;
use workbench::train::{predict, Network};
use workbench::tutorial::mobilenet::{self, MobileNetTrainConfig};

mod data_common;

use data_common::shapes_synth as data;

#[test]
fn integer_network_predicts_what_the_fake_quantized_one_does() {
    workbench::threads::configure(&Default::default());
    let cfg = MobileNetTrainConfig {
        resolution: 64,
        epochs: 6,
        qat_epochs: 1,
        limit: Some(60),
        progress: false,
        ..Default::default()
    };
    let run = mobilenet::train(&data(), &cfg).unwrap();
    let m = &run.metrics;
    println!(
        "float {:.3}, observed {:.3}, fake {:.3}, integer {:.3}, agreement {:.3}",
        m.float_accuracy,
        m.observed_accuracy,
        m.fake_quant_accuracy,
        m.integer_accuracy,
        m.agreement
    );
    assert!(m.agreement >= 0.95, "agreement {}", m.agreement);
    assert!(
        (m.integer_accuracy - m.fake_quant_accuracy).abs() <= 0.05,
        "fake {} vs integer {}",
        m.fake_quant_accuracy,
        m.integer_accuracy
    );
    // (six short epochs on 600 images barely move the float network off chance;
    // the point is that the two quantized forms agree image by image, as they
    // must whatever the accuracy: the tutorial's run below measures accuracy)

    // logits: the integer network's are the fake network's up to requantization flooring
    let imgs = mobilenet::validation_images(&data(), &cfg).unwrap();
    let fake = predict(&run.pact, &imgs.images)
        .unwrap()
        .to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    let int = run.integer.predict_logits(&imgs.images).unwrap();
    let (mut diff, mut spread) = (0f64, 0f64);
    for (f, i) in fake.iter().zip(&int) {
        let mean = f.iter().sum::<f64>() / f.len() as f64;
        spread += f.iter().map(|v| (v - mean).abs()).sum::<f64>() / f.len() as f64;
        diff += f.iter().zip(i).map(|(a, b)| (a - b).abs()).sum::<f64>() / f.len() as f64;
    }
    println!(
        "mean |fake - integer| logit {:.4}, mean logit spread {:.4}",
        diff / fake.len() as f64,
        spread / fake.len() as f64
    );
    assert!(
        diff < 0.1 * spread,
        "logit difference {diff} vs spread {spread}"
    );
    let same = fake
        .iter()
        .zip(&int)
        .filter(|(f, i)| f2t::argmax(f) == f2t::argmax(i))
        .count();
    assert_eq!(same as f64 / fake.len() as f64, m.agreement);
    // the clips were set by observation and trained: positive, not all equal to the initial 1
    let clips = run.pact.clip_values().unwrap();
    assert_eq!(clips.len(), 27);
    assert!(clips.iter().all(|(_, c)| *c > 0.0));
    assert!(clips.iter().any(|(_, c)| (*c - 1.0).abs() > 1e-3));
    assert_eq!(run.pact.clip_vars().len(), 27);
}

#[test]
fn cli_writes_checkpoints_and_pact_metrics() {
    let out = std::env::temp_dir().join(format!("workbench-mobilenet-pact-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args([
            "mobilenet",
            "train",
            "--width",
            "0.25",
            "--resolution",
            "32",
            "--epochs",
            "1",
            "--qat-epochs",
            "1",
            "--limit",
            "4",
        ])
        .arg("--data")
        .arg(data())
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
        "model_pact.safetensors",
        "config.json",
        "model_integer.onnx",
        "model_int8.tflite",
        "features/input.txt",
        "features/out_layer0.txt",
        "features/out_layer27.txt",
        "features/output.txt",
        "metrics.json",
    ] {
        let len = std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{f} missing or empty");
    }
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    for k in [
        "float_accuracy",
        "fake_quant_accuracy",
        "integer_accuracy",
        "tflite_int8_accuracy",
        "agreement",
    ] {
        let v = m[k].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{k}: {}", m[k]);
    }
    assert_eq!(m["images"], serde_json::json!([40, 40]));
    assert_eq!(m["qat_epochs"], 1);
    // the PACT checkpoint holds the 27 clips beside the weights
    let st = std::fs::read(out.join("model_pact.safetensors")).unwrap();
    let names = safetensors::SafeTensors::deserialize(&st)
        .unwrap()
        .names()
        .len();
    let clips = safetensors::SafeTensors::deserialize(&st)
        .unwrap()
        .names()
        .iter()
        .filter(|n| n.ends_with(".clip_hi"))
        .count();
    assert_eq!(clips, 27, "{names} tensors");
    // 27 requantized layers, then the output accumulators
    assert!(!out.join("features/out_layer28.txt").exists());

    // eval on the same split gives the numbers train measured
    let eval = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_workbench"))
            .args(["mobilenet", "eval", "--limit", "4", "--run"])
            .arg(&out)
            .arg("--data")
            .arg(data())
            .args(extra)
            .output()
            .unwrap()
    };
    let o = eval(&["--split", "val", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["images"], 40);
    for k in [
        "float_accuracy",
        "fake_quant_accuracy",
        "integer_accuracy",
        "tflite_int8_accuracy",
        "agreement",
    ] {
        let (a, b) = (e[k].as_f64().unwrap(), m[k].as_f64().unwrap());
        assert!((a - b).abs() < 1e-6, "{k}: eval {a}, train {b}");
    }
    let o = eval(&[]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && table.contains("integer accuracy"),
        "{table}"
    );
    // a missing split, run or checkpoint is named
    let o = eval(&["--split", "nosuch"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("nosuch"), "{err}");
    std::fs::rename(out.join("model_pact.safetensors"), out.join("moved")).unwrap();
    let o = eval(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("model_pact.safetensors"),
        "{err}"
    );
    std::fs::rename(out.join("moved"), out.join("model_pact.safetensors")).unwrap();
    // a run of other classes than the folder's
    let cfg_path = out.join("config.json");
    let mut rc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    rc["classes"].as_array_mut().unwrap().pop();
    std::fs::write(&cfg_path, rc.to_string()).unwrap();
    let o = eval(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("differ from the run's 9"),
        "{err}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["mobilenet", "eval", "--run", "/nonexistent-run", "--data"])
        .arg(data())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("/nonexistent-run"),
        "{err}"
    );

    // bad input names the problem
    let o = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["mobilenet", "train", "--limit", "0", "--data"])
        .arg(data())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("limit"), "{err}");
}

/// Regression: a barely trained run (3 epochs on 200 images at 64 px) has batch
/// norms whose requantization terms pass i64 and float64; `integerize` failed
/// ("additive term ... out of range") and train then saved nothing.
#[test]
fn barely_trained_run_integerizes_and_writes_everything() {
    let out =
        std::env::temp_dir().join(format!("workbench-mobilenet-barely-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args([
            "mobilenet",
            "train",
            "--resolution",
            "64",
            "--epochs",
            "3",
            "--qat-epochs",
            "1",
            "--limit",
            "20",
        ])
        .arg("--data")
        .arg(data())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "model.safetensors",
        "model_pact.safetensors",
        "config.json",
        "model_int8.tflite",
        "model_integer.onnx",
        "metrics.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let _ = std::fs::remove_dir_all(&out);
}
