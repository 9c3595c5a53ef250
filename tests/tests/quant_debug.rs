//! `workbench::quant::debug` against TensorFlow's Quantization Debugger.
//!
//! For a few Keras 3 float fixtures, `tests/refs/keras3/tf_debugger.py` calibrates with TF's
//! calibrator on the fixture's representative set, quantizes with TF's MLIR quantizer with
//! numeric verification and writes `QuantizationDebugger.layer_statistics_dump` (TFLite's
//! reference kernels). Our `Debugger` does the same from the float model; the rows must name
//! the same ops in the same order, with scales within 1e-5 relative, zero points equal and
//! mean squared errors within 5%.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use workbench::npy::{read_npy, NpyData};
use workbench::quant::convert::{ConvertOptions, Io};
use workbench::quant::debug::{report_csv, Debugger, HIST_BINS};
use workbench_tests::{python, refs_dir, scratch_dir};

const SCALE_RTOL: f64 = 1e-5;
const MSE_RTOL: f64 = 0.05;
/// Fixtures compared (one float input each, small).
const FAMILIES: [&str; 4] = ["gap_head", "mnist", "se_block", "leaky_relu_model"];

/// One row of TF's CSV: op name, mean squared error, scale, zero point, tensor name.
type TfRow = (String, f64, f64, i64, String);

fn tf_rows(csv: &Path) -> Result<Vec<TfRow>> {
    let text = std::fs::read_to_string(csv).with_context(|| format!("{}", csv.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty CSV")?.split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .context(name.to_string())
    };
    let (op, mse, scale, zp, name) = (
        col("op_name")?,
        col("mean_squared_error")?,
        col("scale")?,
        col("zero_point")?,
        col("tensor_name")?,
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Ok((
                f[op].to_string(),
                f[mse].parse()?,
                f[scale].parse()?,
                f[zp].parse()?,
                f[name..].join(","),
            ))
        })
        .collect()
}

fn check(family: &str, scratch: &Path) -> Result<usize> {
    let dir = refs_dir().join("keras3");
    let py = python()?;
    let run = |args: &[&std::ffi::OsStr]| -> Result<()> {
        let out = Command::new(&py)
            .args(args)
            .env("TF_CPP_MIN_LOG_LEVEL", "2")
            .output()?;
        if !out.status.success() {
            bail!("{:?}: {}", args, String::from_utf8_lossy(&out.stderr));
        }
        Ok(())
    };
    let rep = scratch.join(format!("{family}.representative.npy"));
    run(&[
        dir.join("representative.py").as_os_str(),
        family.as_ref(),
        scratch.as_os_str(),
    ])?;
    let float = dir.join(format!("{family}_f32.tflite"));
    let csv = scratch.join(format!("{family}.tf.csv"));
    run(&[
        dir.join("tf_debugger.py").as_os_str(),
        float.as_os_str(),
        csv.as_os_str(),
        rep.as_os_str(),
    ])?;
    let want = tf_rows(&csv)?;
    let data = vec![read_npy(&rep)?];
    let graph = workbench_tflite::read_file(&float)?;
    let options = ConvertOptions {
        io: Io::Float,
        ..ConvertOptions::default()
    };
    let dbg = Debugger::new(graph, &data, options)?;
    let got = dbg.report(&data)?;
    std::fs::write(scratch.join(format!("{family}.ours.csv")), report_csv(&got))?;
    let ops = |v: Vec<&str>| v.join(" ");
    ensure!(
        want.len() == got.len(),
        "{family}: TF reports {} layers ({}), we report {} ({})",
        want.len(),
        ops(want.iter().map(|r| r.0.as_str()).collect()),
        got.len(),
        ops(got.iter().map(|r| r.op_name.as_str()).collect())
    );
    let mut problems = Vec::new();
    for (k, (w, g)) in want.iter().zip(&got).enumerate() {
        let (op, mse, scale, zp, name) = w;
        if op != &g.op_name || name != &g.tensor_name {
            problems.push(format!(
                "row {k}: TF {op} {name}, ours {} {}",
                g.op_name, g.tensor_name
            ));
            continue;
        }
        if ((scale - g.scale) / scale).abs() > SCALE_RTOL || *zp != g.zero_point {
            problems.push(format!(
                "row {k} {op} {name}: TF scale {scale} zp {zp}, ours {} {}",
                g.scale, g.zero_point
            ));
        }
        if ((mse - g.mean_squared_error) / mse).abs() > MSE_RTOL {
            problems.push(format!(
                "row {k} {op} {name}: TF mean squared error {mse:e}, ours {:e}",
                g.mean_squared_error
            ));
        }
    }
    ensure!(
        problems.is_empty(),
        "{family}:\n    {}",
        problems.join("\n    ")
    );
    eprintln!("{family}: {} layers match TF's debugger", got.len());
    Ok(got.len())
}

#[test]
fn layer_statistics_match_tf_quantization_debugger() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("quant-debug")?;
    let mut failures = Vec::new();
    let mut rows = 0;
    for family in FAMILIES {
        match check(family, &scratch) {
            Ok(n) => rows += n,
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if !failures.is_empty() {
        bail!(
            "differ from TF's Quantization Debugger:\n  - {}",
            failures.join("\n  - ")
        );
    }
    eprintln!(
        "quant debug: {rows} rows over {} models match",
        FAMILIES.len()
    );
    std::fs::remove_dir_all(&scratch).ok();
    Ok(())
}

/// `Debugger::denylist` re-quantizes from the first calibration: keeping MEAN float must give
/// TF's `gap_head_selective` (the Quantization Debugger's `denylisted_ops=["MEAN"]`) outputs.
#[test]
fn denylist_without_recalibrating_matches_tf_selective_model() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("quant-debug-denylist")?;
    let dir = refs_dir().join("keras3");
    let out = Command::new(python()?)
        .arg(dir.join("representative.py"))
        .arg("gap_head")
        .arg(&scratch)
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep = vec![read_npy(scratch.join("gap_head.representative.npy"))?];
    let float = workbench_tflite::read_file(&dir.join("gap_head_f32.tflite"))?;
    let options = ConvertOptions {
        io: Io::Float,
        ..ConvertOptions::default()
    };
    let mut dbg = Debugger::new(float, &rep, options)?;
    let before = dbg.report(&rep)?.len();
    dbg.denylist(vec![], vec!["MEAN".into()])?;
    let after = dbg.report(&rep)?;
    ensure!(
        after.len() + 1 == before && after.iter().all(|r| r.op_name != "MEAN"),
        "denylisting MEAN: {before} rows before, {:?} after",
        after.iter().map(|r| r.op_name.as_str()).collect::<Vec<_>>()
    );
    let tf = workbench_tflite::read_file(&dir.join("gap_head_selective.tflite"))?;
    // One output step of TF's model: the scale of the int8 tensor its last DEQUANTIZE reads.
    let step = tf
        .nodes
        .iter()
        .find(|n| n.outputs.contains(&tf.outputs[0]))
        .and_then(|n| n.inputs[0])
        .and_then(|t| tf.tensors[t].quant.as_ref())
        .map(|q| q.scale[0])
        .context("gap_head_selective's output is not a DEQUANTIZE")?;
    let batch = read_npy(dir.join("gap_head_f32.input.npy"))?;
    let want = read_npy(dir.join("gap_head_selective.expected.npy"))?;
    let (NpyData::F32(x), NpyData::F32(w)) = (&batch.data, &want.data) else {
        bail!("float32 batch and outputs expected");
    };
    let mut interp = workbench_tflite::Interpreter::new(dbg.int8().clone())?;
    let per = x.len() / batch.shape[0];
    let mut got = Vec::new();
    for row in x.chunks(per) {
        interp.set_input_f32(0, row)?;
        interp.invoke()?;
        got.extend_from_slice(interp.output_f32(0)?);
    }
    ensure!(
        got.len() == w.len(),
        "{} outputs, TF {}",
        got.len(),
        w.len()
    );
    let worst = got
        .iter()
        .zip(w)
        .map(|(a, b)| ((a - b) / step).abs())
        .fold(0f32, f32::max);
    ensure!(
        worst < 1e-3,
        "outputs differ from TF's selective model by up to {worst} steps"
    );
    std::fs::remove_dir_all(&scratch).ok();
    Ok(())
}

/// The report page in headless Chromium: the bar charts and every panel draw, and the layer
/// selector (driven by the page address, as a reader's pick would) shows that layer's panel
/// alone, with its float and int8 histograms and, for a convolution, its filter's channels.
#[test]
fn report_page_draws_and_switches_layers_in_chromium() -> Result<()> {
    python()?; // fails, with what to do, when the reference venv is missing
    let scratch = scratch_dir("quant-debug-page")?;
    let dir = refs_dir().join("keras3");
    let out = Command::new(python()?)
        .arg(dir.join("representative.py"))
        .arg("mnist")
        .arg(&scratch)
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rep = vec![read_npy(scratch.join("mnist.representative.npy"))?];
    let float = workbench_tflite::read_file(&dir.join("mnist_f32.tflite"))?;
    let dbg = Debugger::new(float, &rep, ConvertOptions::default())?;
    let report = dbg.explorer(&rep, None)?;
    let conv = report
        .rows
        .iter()
        .position(|r| r.op_name == "CONV_2D" && r.weights.is_some())
        .context("no CONV_2D row with filter statistics")?;
    let channels = report.rows[conv]
        .weights
        .as_ref()
        .map_or(0, |w| w.min.len());
    ensure!(channels > 1, "per-channel filter statistics expected");
    let page = scratch.join("quant_report.html");
    std::fs::write(&page, report.page())?;
    for pick in [conv, report.rows.len() - 1] {
        let dom = workbench_tests::dump_dom(&page, &format!("#layer={pick}"))?;
        let panels: Vec<&str> = dom.split("class=\"wb-panel\"").skip(1).collect();
        ensure!(
            panels.len() == report.rows.len(),
            "{} panels for {} layers",
            panels.len(),
            report.rows.len()
        );
        for (i, p) in panels.iter().enumerate() {
            let head = &p[..p.find('>').context("unterminated panel")?];
            let hidden = head.contains("hidden");
            ensure!(
                hidden == (i != pick),
                "picking layer {pick}: panel {i} is {}",
                if hidden { "hidden" } else { "shown" }
            );
        }
        let shown = panels[pick];
        let shown = &shown[..shown.find("class=\"wb-panel\"").unwrap_or(shown.len())];
        // float and int8 output histograms, error histogram (+ filter range and filter error)
        let plots = shown.matches("class=\"wb-plot\"").count();
        let want = if pick == conv { 4 } else { 2 };
        ensure!(plots >= want, "layer {pick}: {plots} plots, want {want}");
        ensure!(
            shown.matches("<rect").count() >= 2 * HIST_BINS,
            "layer {pick}: histograms have no bars"
        );
        if pick == conv {
            ensure!(
                shown.matches("channel ").count() >= channels,
                "layer {pick}: fewer than {channels} filter channels drawn"
            );
        }
    }
    // the page's two bar charts, one bar per layer each
    let dom = workbench_tests::dump_dom(&page, "")?;
    let charts = &dom[..dom.find("<table").context("no table")?];
    ensure!(
        charts.matches("<rect").count() == 2 * report.rows.len(),
        "range and rmse/scale charts: {} bars for {} layers",
        charts.matches("<rect").count(),
        report.rows.len()
    );
    if std::env::var_os("WORKBENCH_KEEP_SCRATCH").is_none() {
        std::fs::remove_dir_all(&scratch).ok();
    }
    Ok(())
}
