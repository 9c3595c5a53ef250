//! Model parameters in `check`: a float32 batch gets the model's input
//! normalization (MLTK's `samplewise_norm.*`) before it is quantized, and the
//! parameters appear in the text and `--json` output (the `host` board).

use std::path::PathBuf;
use std::process::Command;

use device_bridge::check::HostModel;
use device_bridge::npy::{self, Array, Elem};
use workbench_tflite::{InputNormalization, ModelParams};

mod common;

/// mnist_tiny with `norm` written into its parameters, and its int8 input's (scale, zero point).
fn model_with(norm: InputNormalization) -> (Vec<u8>, (f32, i64)) {
    let (bytes, _) = common::fixture("mnist_tiny");
    let mut g = workbench_tflite::read(&bytes).unwrap();
    assert!(g.params.is_empty());
    norm.write(&mut g.params);
    let q = g.tensors[g.inputs[0]].quant.clone().unwrap();
    (
        workbench_tflite::write(&g).unwrap(),
        (q.scale[0], q.zero_point[0]),
    )
}

/// Raw pixels 0..=255 from the fixture's int8 batch (`q + 128`), as float32.
fn raw_pixels() -> (Array, Vec<f32>) {
    let (_, batch) = common::fixture("mnist_tiny");
    let x: Vec<f32> = batch
        .bytes
        .iter()
        .map(|&b| f32::from(b as i8) + 128.0)
        .collect();
    let a = Array {
        shape: batch.shape.clone(),
        elem: Elem::F32,
        bytes: x.iter().flat_map(|v| v.to_le_bytes()).collect(),
    };
    (a, x)
}

fn quantize(x: f32, (scale, zero_point): (f32, i64)) -> i8 {
    ((x / scale).round() as i64 + zero_point).clamp(-128, 127) as i8
}

#[test]
fn float_batch_is_rescaled_then_quantized() {
    let (model, quant) = model_with(InputNormalization::Rescale(1.0 / 255.0));
    let host = HostModel::new(&model).unwrap();
    let (pixels, x) = raw_pixels();
    let (samples, prep) = host.prepare(&pixels).unwrap();
    let prep = prep.unwrap();
    assert_eq!(prep.normalization, InputNormalization::Rescale(1.0 / 255.0));
    assert_eq!(prep.quantized, Some(quant));
    let want: Vec<u8> = x
        .iter()
        .map(|&v| quantize(v * (1.0 / 255.0), quant) as u8)
        .collect();
    assert_eq!(samples.concat(), want);
}

#[test]
fn float_batch_is_mean_std_normalized_per_sample() {
    let (model, quant) = model_with(InputNormalization::MeanStd);
    let host = HostModel::new(&model).unwrap();
    let (pixels, x) = raw_pixels();
    let (samples, _) = host.prepare(&pixels).unwrap();
    assert_eq!(samples.len(), 8);
    // Naive reference: per 784-value sample, (x - mean) / (population std + 1e-6).
    for (s, xs) in samples.iter().zip(x.chunks(784)) {
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let std = (xs
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        let want: Vec<u8> = xs
            .iter()
            .map(|&v| quantize(((f64::from(v) - mean) / (std + 1e-6)) as f32, quant) as u8)
            .collect();
        assert_eq!(s, &want);
    }
}

#[test]
fn int8_batch_goes_in_as_it_is() {
    let (model, _) = model_with(InputNormalization::MeanStd);
    let host = HostModel::new(&model).unwrap();
    let (_, batch) = common::fixture("mnist_tiny");
    let (samples, prep) = host.prepare(&batch).unwrap();
    assert!(prep.is_none());
    assert_eq!(samples.concat(), batch.bytes);
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "device-bridge-params-{}-{name}",
        std::process::id()
    ))
}

fn check(model: &PathBuf, input: &PathBuf, json: bool) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_device-bridge"));
    cmd.args(["check", "--board", "host", "--model"])
        .arg(model)
        .arg("--input")
        .arg(input);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn check_prints_params_and_normalizes_a_float_batch() {
    let (model, (scale, zero_point)) = model_with(InputNormalization::Rescale(1.0 / 255.0));
    let (model_path, input_path) = (temp("model.tflite"), temp("input.npy"));
    std::fs::write(&model_path, &model).unwrap();
    npy::write(&input_path, &raw_pixels().0).unwrap();

    let v: serde_json::Value =
        serde_json::from_str(&check(&model_path, &input_path, true)).expect("one JSON object");
    assert_eq!(v["mismatches"], 0);
    assert_eq!(v["samples"], 8);
    let rescale = v["params"]["samplewise_norm.rescale"].as_f64().unwrap();
    assert_eq!(rescale, f64::from(1.0f32 / 255.0));
    assert_eq!(v["params"]["samplewise_norm.mean_and_std"], false);
    assert_eq!(v["input"]["normalization"], "rescale x * 0.003921569");
    assert_eq!(
        v["input"]["quantized"]["scale"].as_f64().unwrap(),
        f64::from(scale)
    );
    assert_eq!(v["input"]["quantized"]["zero_point"], zero_point);

    let text = check(&model_path, &input_path, false);
    assert!(
        text.contains(
            "model parameters (SL_PARAMSv1):\n  samplewise_norm.rescale: 0.003921569 (float)\n  samplewise_norm.mean_and_std: false (bool)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("input: float32, normalized (rescale x * 0.003921569), then quantized to int8 with scale"),
        "{text}"
    );
    let _ = std::fs::remove_file(model_path);
    let _ = std::fs::remove_file(input_path);
}

#[test]
fn check_json_of_a_model_without_params_has_an_empty_params_object() {
    let refs = common::refs();
    let v: serde_json::Value = serde_json::from_str(&check(
        &refs.join("mnist_tiny.tflite"),
        &refs.join("mnist_tiny.input.npy"),
        true,
    ))
    .unwrap();
    assert_eq!(v["params"], serde_json::json!({}));
    assert!(v["input"].is_null());
}

#[test]
fn model_params_survive_the_bridge_read() {
    let (model, _) = model_with(InputNormalization::MeanStd);
    let host = HostModel::new(&model).unwrap();
    let mut want = ModelParams::new();
    InputNormalization::MeanStd.write(&mut want);
    assert_eq!(host.graph().params, want);
}
