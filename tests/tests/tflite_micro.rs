//! Our interpreter with TFLite Micro's arithmetic (`Flavor::Micro`) against TFLite Micro itself.
//!
//! Every int8 fixture with a FULLY_CONNECTED (`tests/refs/*.tflite`, MLPerf Tiny's
//! `tests/refs/mlperf/*.tflite`) runs through TFLite Micro's interpreter (the `tflite-micro`
//! wheel, `tests/refs/run_tflm.py`) and through ours with the Micro rule, reference and
//! optimized kernels: int8 outputs must be identical. LiteRT's rule (double-precision
//! FULLY_CONNECTED rescale) must differ from TFLite Micro on at least one output, so the
//! comparison can tell the two rules apart.

use anyhow::{bail, Context, Result};
use workbench_tests::{
    diff, fixtures, python, refs_dir, run_ours_flavor, run_tflm, scratch_dir, Array, Fixture,
};
use workbench_tflite::runtime::Kernels;
use workbench_tflite::{DType, Flavor, Graph, Op};

/// MLPerf Tiny's models (`tests/refs/mlperf/`, see its README), each with `NAME.input.npy`.
const MLPERF: [&str; 4] = [
    "ad01_int8",
    "kws_ref_model",
    "pretrainedResnet_quant",
    "vww_96_int8",
];

/// The fixtures with an int8 input and output and at least one int8 FULLY_CONNECTED.
fn fc_fixtures() -> Result<Vec<(Fixture, Graph)>> {
    let mlperf = MLPERF.iter().map(|name| {
        let dir = refs_dir().join("mlperf");
        Fixture {
            name: (*name).to_string(),
            model: dir.join(format!("{name}.tflite")),
            input: dir.join(format!("{name}.input.npy")),
        }
    });
    let mut out = Vec::new();
    for f in fixtures()?.into_iter().chain(mlperf) {
        let graph = workbench_tflite::read_file(&f.model)
            .with_context(|| format!("importing {}", f.model.display()))?;
        let int8 = |t: Option<&usize>| t.is_some_and(|&t| graph.tensors[t].dtype == DType::I8);
        let fc = graph.nodes.iter().any(|n| {
            matches!(n.op, Op::FullyConnected { .. })
                && n.inputs
                    .first()
                    .copied()
                    .flatten()
                    .is_some_and(|t| graph.tensors[t].dtype == DType::I8)
        });
        if fc && int8(graph.inputs.first()) && int8(graph.outputs.first()) {
            out.push((f, graph));
        }
    }
    Ok(out)
}

/// Outputs of `a` and `b` that differ.
fn differing(a: &Array, b: &Array) -> Result<usize> {
    Ok(diff(a, b)?.map_or(0, |d| d.count))
}

#[test]
fn micro_flavor_matches_tflite_micro() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("tflite-micro")?;
    let fixtures = fc_fixtures()?;
    let names: Vec<&str> = fixtures.iter().map(|(f, _)| f.name.as_str()).collect();
    for want in [
        "mnist_tiny",
        "fc",
        "fc_per_tensor",
        "ad01_int8",
        "kws_ref_model",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let (mut failures, mut litert_differs) = (Vec::new(), Vec::new());
    for (f, graph) in &fixtures {
        let batch = Array::read_npy(&f.input)?;
        let tflm = run_tflm(&f.model, &f.input, &scratch)?;
        for kernels in [Kernels::Reference, Kernels::Optimized] {
            let ours = run_ours_flavor(graph, &batch, kernels, Flavor::Micro)?;
            match diff(&tflm, &ours) {
                Ok(None) => {}
                Ok(Some(d)) => failures.push(format!("{} ({kernels:?}): {d}", f.name)),
                Err(e) => failures.push(format!("{} ({kernels:?}): {e:#}", f.name)),
            }
        }
        let litert = run_ours_flavor(graph, &batch, Kernels::Reference, Flavor::LiteRt)?;
        let n = differing(&tflm, &litert)?;
        eprintln!(
            "{}: {} samples, {} outputs; LiteRT's rule differs from TFLite Micro on {n}",
            f.name,
            batch.shape[0],
            tflm.len()
        );
        if n > 0 {
            litert_differs.push(f.name.clone());
        }
    }
    if !failures.is_empty() {
        bail!(
            "ours (Flavor::Micro) vs TFLite Micro:\n  - {}",
            failures.join("\n  - ")
        );
    }
    // The sanity check that this comparison can fail: the other rule is told apart.
    assert!(
        !litert_differs.is_empty(),
        "LiteRT's rule equals TFLite Micro on every fixture ({names:?}): the test cannot tell the rules apart"
    );
    eprintln!("LiteRT's rule differs from TFLite Micro on {litert_differs:?}");
    Ok(())
}
