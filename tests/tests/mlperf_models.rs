//! MLPerf Tiny's trained int8 reference models in our interpreter, against TFLite.
//!
//! Fixtures: `tests/refs/mlperf/NAME.tflite`, copied unchanged from mlcommons/tiny
//! (`tests/refs/mlperf/README.md`), with a random int8 batch `NAME.input.npy` and TFLite's
//! reference-kernel outputs `NAME.expected.npy` (`tests/refs/mlperf/gen_mlperf.py`). The
//! outputs must be equal bit for bit, with both our kernel sets. Softmax heads saturate on
//! random inputs, so a second test compares every intermediate tensor of one sample with a
//! TFLite dump (needs the reference venv).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use workbench_tests::{
    check_import, diff, dump_tflite, python, refs_dir, run_ours, scratch_dir, Array, Values,
};
use workbench_tflite::runtime::{Interpreter, Kernels};

/// The four MLPerf Tiny v1 benchmarks' int8 models, by file stem.
const MODELS: [&str; 4] = [
    "ad01_int8",              // anomaly detection: FC autoencoder, 640 -> 640
    "kws_ref_model",          // keyword spotting: DS-CNN, 49x10 MFCC -> 12
    "pretrainedResnet_quant", // image classification: ResNet-8, 32x32x3 -> 10
    "vww_96_int8",            // visual wake words: MobileNetV1 0.25, 96x96x3 -> 2
];

/// Our kernel sets, each of which must equal TFLite's reference kernels.
const OURS: [Kernels; 2] = [Kernels::Reference, Kernels::Optimized];

fn path(name: &str, suffix: &str) -> PathBuf {
    refs_dir().join("mlperf").join(format!("{name}{suffix}"))
}

/// Fails with every collected failure, or prints the summary.
fn finish(test: &str, checks: usize, failures: Vec<String>) -> Result<()> {
    if failures.is_empty() {
        eprintln!("{test}: all {checks} checks passed");
        return Ok(());
    }
    bail!(
        "{test}: {} of {checks} checks failed:\n  - {}",
        failures.len(),
        failures.join("\n  - ")
    )
}

#[test]
fn mlperf_models_match_tflite_reference_outputs() -> Result<()> {
    let (mut checks, mut failures) = (0, Vec::new());
    for name in MODELS {
        let graph = workbench_tflite::read_file(&path(name, ".tflite"))
            .with_context(|| format!("importing {name}"))?;
        let batch = Array::read_npy(&path(name, ".input.npy"))?;
        let expected = Array::read_npy(&path(name, ".expected.npy"))?;
        for kernels in OURS {
            checks += 1;
            let ours = match run_ours(&graph, &batch, kernels) {
                Ok(o) => o,
                Err(e) => {
                    failures.push(format!("{name} ours {kernels:?}: {e:#}"));
                    continue;
                }
            };
            match diff(&expected, &ours) {
                Ok(None) => eprintln!(
                    "{name} ours {kernels:?}: {} samples, {} values equal to TFLite",
                    expected.shape[0],
                    expected.len()
                ),
                Ok(Some(d)) => failures.push(format!("{name} ours {kernels:?}: {d}")),
                Err(e) => failures.push(format!("{name} ours {kernels:?}: {e:#}")),
            }
        }
    }
    finish("mlperf outputs", checks, failures)
}

/// Sample `k` of an int8 batch.
fn sample_i8(batch: &Array, k: usize) -> Result<Vec<i8>> {
    let Values::I8(v) = &batch.values else {
        bail!("input batch is {}, not int8", batch.dtype_name());
    };
    let n = batch.shape.iter().skip(1).product::<usize>();
    Ok(v[k * n..(k + 1) * n].to_vec())
}

#[test]
fn mlperf_intermediate_tensors_match_tflite_dump() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("mlperf-dump")?;
    let (mut checks, mut failures) = (0, Vec::new());
    for name in MODELS {
        let model = path(name, ".tflite");
        let input = path(name, ".input.npy");
        let graph = workbench_tflite::read_file(&model)?;
        let dir = scratch.join(name);
        std::fs::create_dir_all(&dir)?;
        let dump = dump_tflite(&model, &input, 0, &dir)?;
        checks += 1;
        let problems = check_import(&graph, &dump)?;
        if !problems.is_empty() {
            failures.push(format!("{name} import:\n    {}", problems.join("\n    ")));
        }
        let x = sample_i8(&Array::read_npy(&input)?, 0)?;
        for kernels in OURS {
            let mut interp = Interpreter::with_kernels(graph.clone(), kernels)?;
            interp.set_input_i8(0, &x)?;
            interp.invoke()?;
            for (n, node) in graph.nodes.iter().enumerate() {
                checks += 1;
                let t = node.outputs[0];
                let tensor = &graph.tensors[t];
                let Some(r) = dump.tensors.get(t).filter(|r| r.name == tensor.name) else {
                    failures.push(format!(
                        "{name} op {n} ({}): output #{t} {:?} is not TFLite's tensor #{t}",
                        node.op.name(),
                        tensor.name
                    ));
                    continue;
                };
                let want = dump.value(r.index)?;
                let got = Array {
                    shape: want.shape.clone(),
                    values: Values::I8(interp.tensor_i8(t).context("int8 output")?.to_vec()),
                };
                match diff(&want, &got) {
                    Ok(None) => {}
                    Ok(Some(d)) => failures.push(format!(
                        "{name} ours {kernels:?} op {n} ({}) output {:?}: {d}",
                        node.op.name(),
                        tensor.name
                    )),
                    Err(e) => failures.push(format!(
                        "{name} ours {kernels:?} op {n} ({}) output {:?}: {e:#}",
                        node.op.name(),
                        tensor.name
                    )),
                }
            }
        }
        eprintln!(
            "{name}: {} ops, every output tensor compared with TFLite's dump",
            graph.nodes.len()
        );
    }
    let result = finish("mlperf intermediate tensors", checks, failures);
    if result.is_ok() {
        std::fs::remove_dir_all(&scratch).ok();
    }
    result
}
