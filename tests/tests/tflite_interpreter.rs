//! Our .tflite import, export and runtime against the real TFLite interpreter.
//!
//! Fixtures: `tests/refs/*.tflite`, made by TensorFlow's converter (`tests/refs/gen_models.py`),
//! each with an input batch `NAME.input.npy`. Expected values come from TFLite's reference
//! kernels (`run_tflite.py --kernels reference`), which we must match bit for bit; TFLite's
//! default kernels (XNNPACK) are only reported. On a mismatch the message names the model,
//! the differing elements and, from a TFLite dump of the first differing sample, the first
//! operator whose output differs when fed TFLite's own inputs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use workbench_tests::{
    check_import, diff, dump_tflite, fixture, fixtures, localize, python, run_ours, run_tflite,
    scratch_dir, Array, Fixture, TfliteKernels,
};
use workbench_tflite::runtime::Kernels;
use workbench_tflite::Graph;

/// Our kernel sets, each of which must equal TFLite's reference kernels.
const OURS: [Kernels; 2] = [Kernels::Reference, Kernels::Optimized];

fn read(path: &Path) -> Result<Graph> {
    workbench_tflite::read_file(path).with_context(|| format!("importing {}", path.display()))
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

/// Compares `ours` with TFLite's reference outputs; on a mismatch, locates the first differing op.
fn check_outputs(
    f: &Fixture,
    graph: &Graph,
    expected: &Array,
    ours: &Array,
    kernels: Kernels,
    scratch: &Path,
) -> Result<Option<String>> {
    let label = format!("{} ours {kernels:?} vs TFLite reference kernels", f.name);
    let d = match diff(expected, ours) {
        Ok(None) => return Ok(None),
        Ok(Some(d)) => d,
        Err(e) => return Ok(Some(format!("{label}: {e:#}"))),
    };
    let sample = d.rows[0];
    let dir = scratch.join(format!("{}-dump-sample{sample}", f.name));
    std::fs::create_dir_all(&dir)?;
    let dump = dump_tflite(&f.model, &f.input, sample, &dir)?;
    Ok(Some(format!(
        "{label}: {d}\n    {}",
        localize(graph, &dump, kernels)
    )))
}

#[test]
fn imported_models_match_tflite_reference_kernels() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("import")?;
    let (mut checks, mut failures) = (0, Vec::new());
    for f in fixtures()? {
        let batch = Array::read_npy(&f.input)?;
        let expected = run_tflite(&f.model, &f.input, TfliteKernels::Reference, &scratch)?;
        let xnnpack = run_tflite(&f.model, &f.input, TfliteKernels::Default, &scratch)?;
        let graph = match read(&f.model) {
            Ok(g) => g,
            Err(e) => {
                checks += OURS.len();
                failures.push(format!("{}: {e:#}", f.name));
                continue;
            }
        };
        for kernels in OURS {
            checks += 1;
            let ours = match run_ours(&graph, &batch, kernels) {
                Ok(o) => o,
                Err(e) => {
                    failures.push(format!("{}: ours {kernels:?}: {e:#}", f.name));
                    continue;
                }
            };
            if let Some(failure) = check_outputs(&f, &graph, &expected, &ours, kernels, &scratch)? {
                failures.push(failure);
            }
            // Reported, not asserted: XNNPACK requantizes differently from the reference kernels.
            match diff(&xnnpack, &ours) {
                Ok(None) => {}
                Ok(Some(d)) => eprintln!(
                    "note: {} ours {kernels:?} vs TFLite default (XNNPACK) kernels: {d}",
                    f.name
                ),
                Err(e) => eprintln!("note: {} vs XNNPACK: {e:#}", f.name),
            }
        }
    }
    let result = finish("import", checks, failures);
    if result.is_ok() {
        std::fs::remove_dir_all(&scratch).ok();
    }
    result
}

#[test]
fn imported_tensors_match_tflite() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("tensors")?;
    let (mut checks, mut failures) = (0, Vec::new());
    for f in fixtures()? {
        checks += 1;
        let graph = match read(&f.model) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!("{}: {e:#}", f.name));
                continue;
            }
        };
        let dir = scratch.join(&f.name);
        std::fs::create_dir_all(&dir)?;
        let dump = dump_tflite(&f.model, &f.input, 0, &dir)?;
        let problems = check_import(&graph, &dump)?;
        if !problems.is_empty() {
            failures.push(format!("{}:\n    {}", f.name, problems.join("\n    ")));
        }
    }
    let result = finish("tensors", checks, failures);
    if result.is_ok() {
        std::fs::remove_dir_all(&scratch).ok();
    }
    result
}

/// Ways two graphs differ, field by field (empty when equal).
fn graph_differences(a: &Graph, b: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    if a.tensors.len() != b.tensors.len() {
        out.push(format!(
            "{} tensors vs {}",
            a.tensors.len(),
            b.tensors.len()
        ));
    }
    for (i, (x, y)) in a.tensors.iter().zip(&b.tensors).enumerate() {
        if x == y {
            continue;
        }
        let mut what = Vec::new();
        if x.name != y.name {
            what.push(format!("name {:?} vs {:?}", x.name, y.name));
        }
        if x.shape != y.shape || x.dtype != y.dtype {
            what.push(format!(
                "{:?}{:?} vs {:?}{:?}",
                x.dtype, x.shape, y.dtype, y.shape
            ));
        }
        if x.quant != y.quant {
            what.push(format!("quant {:?} vs {:?}", x.quant, y.quant));
        }
        if x.data != y.data {
            what.push("data differs".into());
        }
        out.push(format!("tensor #{i} {:?}: {}", x.name, what.join(", ")));
    }
    if a.nodes.len() != b.nodes.len() {
        out.push(format!("{} nodes vs {}", a.nodes.len(), b.nodes.len()));
    }
    for (i, (x, y)) in a.nodes.iter().zip(&b.nodes).enumerate() {
        if x != y {
            out.push(format!("node {i}: {x:?} vs {y:?}"));
        }
    }
    if a.inputs != b.inputs || a.outputs != b.outputs {
        out.push(format!(
            "inputs/outputs {:?}/{:?} vs {:?}/{:?}",
            a.inputs, a.outputs, b.inputs, b.outputs
        ));
    }
    if a.description != b.description {
        out.push(format!(
            "description {:?} vs {:?}",
            a.description, b.description
        ));
    }
    out
}

/// Exports `graph` to `dir/NAME.exported.tflite`; returns the path and the bytes.
fn export(graph: &Graph, name: &str, dir: &Path) -> Result<(std::path::PathBuf, Vec<u8>)> {
    let bytes =
        workbench_tflite::export::write(graph).with_context(|| format!("exporting {name}"))?;
    let path = dir.join(format!("{name}.exported.tflite"));
    std::fs::write(&path, &bytes)?;
    Ok((path, bytes))
}

#[test]
fn exported_models_run_identically_in_tflite() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("export")?;
    let (mut checks, mut failures) = (0, Vec::new());
    for f in fixtures()? {
        checks += 1;
        let run = || -> Result<Vec<String>> {
            let graph = read(&f.model)?;
            let batch = Array::read_npy(&f.input)?;
            let (path, bytes) = export(&graph, &f.name, &scratch)?;
            let mut problems = Vec::new();
            match workbench_tflite::read(&bytes) {
                Ok(back) => {
                    let d = graph_differences(&graph, &back);
                    if !d.is_empty() {
                        problems.push(format!("re-imported graph differs: {}", d.join("; ")));
                    }
                }
                Err(e) => problems.push(format!("re-importing the export: {e:#}")),
            }
            let tflite = match run_tflite(&path, &f.input, TfliteKernels::Reference, &scratch) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(format!("TFLite cannot run the export: {e:#}"));
                    return Ok(problems);
                }
            };
            let ours = run_ours(&graph, &batch, Kernels::Reference)?;
            match diff(&tflite, &ours) {
                Ok(None) => {}
                Ok(Some(d)) => {
                    problems.push(format!(
                        "TFLite reference kernels on the export vs ours (Reference): {d}"
                    ));
                    // Does TFLite see the exported tensors as we meant them?
                    let dir = scratch.join(format!("{}-exported-dump", f.name));
                    std::fs::create_dir_all(&dir)?;
                    let dump = dump_tflite(&path, &f.input, d.rows[0], &dir)?;
                    let import = check_import(&graph, &dump)?;
                    if import.is_empty() {
                        problems.push(format!(
                            "TFLite sees the same tensors; {}",
                            localize(&graph, &dump, Kernels::Reference)
                        ));
                    } else {
                        problems.push(format!(
                            "TFLite reads the export differently:\n      {}",
                            import.join("\n      ")
                        ));
                    }
                }
                Err(e) => problems.push(format!("TFLite on the export vs ours: {e:#}")),
            }
            Ok(problems)
        };
        match run() {
            Ok(p) if p.is_empty() => {}
            Ok(p) => failures.push(format!("{}:\n    {}", f.name, p.join("\n    "))),
            Err(e) => failures.push(format!("{}: {e:#}", f.name)),
        }
    }
    let result = finish("export", checks, failures);
    if result.is_ok() {
        std::fs::remove_dir_all(&scratch).ok();
    }
    result
}

/// import -> export -> import keeps the graph, re-export gives the same bytes, and TFLite
/// computes the same outputs from the exported file as from TF's.
fn round_trip(name: &str, scratch: &Path) -> Result<()> {
    let f = fixture(name)?;
    let graph = read(&f.model)?;
    let (path, bytes) = export(&graph, &f.name, scratch)?;
    let back = workbench_tflite::read(&bytes)
        .with_context(|| format!("re-importing the exported {name}"))?;
    let d = graph_differences(&graph, &back);
    if !d.is_empty() {
        bail!(
            "{name}: import -> export -> import changes the graph:\n  {}",
            d.join("\n  ")
        );
    }
    let again = workbench_tflite::export::write(&back)?;
    if again != bytes {
        bail!(
            "{name}: exporting the re-imported graph gives different bytes ({} vs {})",
            again.len(),
            bytes.len()
        );
    }
    let original = run_tflite(&f.model, &f.input, TfliteKernels::Reference, scratch)?;
    let exported = run_tflite(&path, &f.input, TfliteKernels::Reference, scratch)?;
    if let Some(d) = diff(&original, &exported)? {
        bail!("{name}: TFLite outputs, exported vs original file: {d}");
    }
    Ok(())
}

#[test]
fn mnist_round_trips() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("mnist-round-trip")?;
    // The tutorial network with random weights (FC biases omitted by the converter) and trained.
    round_trip("mnist_random", &scratch)?;
    round_trip("mnist_tiny", &scratch)?;
    std::fs::remove_dir_all(&scratch).ok();
    Ok(())
}

/// Every Keras 3 fixture (`tests/refs/keras3/`, one input and one output), exported by
/// us, runs in TFLite's reference kernels exactly as the converter's own file does.
#[test]
fn keras3_fixtures_export_and_run_identically_in_tflite() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("keras3-export")?;
    let dir = workbench_tests::refs_dir().join("keras3");
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".tflite")?.to_string())
        })
        .collect();
    names.sort();
    let (mut checks, mut skipped, mut failures) = (0, Vec::new(), Vec::new());
    for name in names {
        let model = dir.join(format!("{name}.tflite"));
        let input = dir.join(format!("{name}.input.npy"));
        let graph = read(&model)?;
        if !input.is_file() || graph.outputs.len() != 1 {
            skipped.push(name);
            continue;
        }
        checks += 1;
        let run = || -> Result<()> {
            let (exported, _) = export(&graph, &name, &scratch)?;
            let want = run_tflite(&model, &input, TfliteKernels::Reference, &scratch)?;
            let got = run_tflite(&exported, &input, TfliteKernels::Reference, &scratch)
                .context("TFLite on the export")?;
            if let Some(d) = diff(&want, &got)? {
                bail!("TFLite outputs, exported vs original file: {d}");
            }
            Ok(())
        };
        if let Err(e) = run() {
            failures.push(format!("{name}: {e:#}"));
        }
    }
    eprintln!(
        "keras3 export: {} fixtures with several inputs or outputs not run here: {}",
        skipped.len(),
        skipped.join(", ")
    );
    assert!(checks >= 70, "only {checks} Keras 3 fixtures were checked");
    let result = finish("keras3 export", checks, failures);
    if result.is_ok() {
        std::fs::remove_dir_all(&scratch).ok();
    }
    result
}
