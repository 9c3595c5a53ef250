//! The notebooks, executed headless by `workbench-notebook` and through real Jupyter
//! (papermill with the evcxr kernel), exported to HTML and checked in headless Chromium.
//!
//! Needs `scripts/setup-notebooks.sh` (evcxr_jupyter, the Jupyter venv, chromium), which
//! `scripts/test.sh` runs first. Notebooks share one evcxr build folder (`evcxr.toml`), so
//! they run one at a time. Outputs go to `<repo>/out/notebooks-test/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use workbench_tests::chromium;

/// Notebooks share `notebooks/evcxr.toml`'s build folder: one run at a time.
static NOTEBOOK_LOCK: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir() -> PathBuf {
    repo().join("out").join("notebooks-test")
}

/// `workbench-notebook`, built by `cargo test --workspace` next to this test's binary.
fn runner() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test binary has no target folder")?;
    let bin = dir.join("workbench-notebook");
    ensure!(
        bin.exists(),
        "{} is missing: build it with `cargo build --release -p workbench-notebook`",
        bin.display()
    );
    Ok(bin)
}

fn jupyter_venv() -> Result<PathBuf> {
    let venv = repo().join(".venv-jupyter");
    ensure!(
        venv.join("bin/python").exists(),
        "{} is missing: run scripts/setup-notebooks.sh",
        venv.display()
    );
    Ok(venv)
}

/// Runs `cmd`, failing with its output when it exits non-zero; returns stdout and wall seconds.
fn run(cmd: &mut Command, what: &str) -> Result<(String, f64)> {
    let start = Instant::now();
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    eprintln!(
        "{what}: {secs:.1} s\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    record_time(what, secs);
    Ok((String::from_utf8_lossy(&out.stdout).into_owned(), secs))
}

/// Appends `what<TAB>seconds` to `out/notebooks-test/times.tsv`, which `scripts/test.sh`
/// prints at the end of a run (the notebooks' warm re-run times).
fn record_time(what: &str, secs: f64) {
    use std::io::Write;
    let path = out_dir().join("times.tsv");
    let line = format!("{what}\t{secs:.1}\n");
    let written = std::fs::create_dir_all(out_dir()).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?
            .write_all(line.as_bytes())
    });
    if let Err(e) = written {
        eprintln!("could not record the time in {}: {e}", path.display());
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// All outputs of all cells of an executed notebook.
fn outputs(nb: &Value) -> Vec<&Value> {
    nb["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["outputs"].as_array().into_iter().flatten())
        .collect()
}

fn stdout_text(nb: &Value) -> String {
    outputs(nb)
        .iter()
        .filter(|o| o["output_type"] == "stream" && o["name"] == "stdout")
        .map(|o| text_of(&o["text"]))
        .collect()
}

/// The number after `label` in `text`, e.g. `int8 accuracy 97.12%` -> 97.12.
fn number_after(text: &str, label: &str) -> Result<f64> {
    let at = text
        .find(label)
        .with_context(|| format!("no {label:?} in the notebook's output:\n{text}"))?;
    let rest = text[at + label.len()..].trim_start();
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-' || *c == '+')
        .collect();
    num.parse()
        .with_context(|| format!("no number after {label:?}: {rest:.40}"))
}

/// The QEMU board's firmware ELF, where `device-bridge` looks for it (`DEVICE_FIRMWARE`, else
/// the firmware's build folder).
fn firmware_elf() -> PathBuf {
    std::env::var_os("DEVICE_FIRMWARE").map_or_else(
        || {
            repo().join(
                "device-bridge/firmware/target/thumbv7em-none-eabi/release/device-bridge-firmware",
            )
        },
        PathBuf::from,
    )
}

fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// Checks a notebook's board section: the emulated Cortex-M4 gave the host's int8 outputs
/// (`board mismatches: 0 of N outputs`), or the section printed why it was skipped, which
/// fails when QEMU is on PATH and the firmware is built.
fn check_board_section(path: &Path, text: &str, nb: &str) -> Result<()> {
    if let Some(at) = text.find("board mismatches:") {
        let line = text[at..].lines().next().unwrap_or_default();
        let mismatches = number_after(line, "board mismatches:")?;
        let outputs = number_after(line, " of ")?;
        let instructions = number_after(line, "samples differ);")?;
        eprintln!("{nb}: {line}");
        ensure!(
            mismatches == 0.0,
            "{nb}: the board's int8 outputs differ from the host's: {line}"
        );
        ensure!(
            outputs > 0.0 && instructions > 0.0,
            "{nb}: board section ran nothing: {line}"
        );
        ensure!(
            line.contains("RAM (arena)") && line.contains("flash (model)"),
            "{nb}: no RAM and flash in {line:?}"
        );
        let all = std::fs::read_to_string(path)?;
        ensure!(
            all.contains("device-bridge check") && all.contains("per MAC"),
            "{nb}: the board section shows no check table"
        );
        return Ok(());
    }
    let at = text.find("board section skipped:").with_context(|| {
        format!("{nb}: neither a board check nor a skip line in the output:\n{text}")
    })?;
    let line = text[at..].lines().next().unwrap_or_default();
    eprintln!("{nb}: {line}");
    let fw = firmware_elf();
    ensure!(
        !(on_path("qemu-system-arm") && fw.exists()),
        "{nb}: QEMU is installed and {} is built, yet {line}",
        fw.display()
    );
    Ok(())
}

/// Checks the executed MNIST notebook carries real outputs: numbers, an image, plots.
fn check_mnist_outputs(path: &Path) -> Result<()> {
    let nb: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let text = stdout_text(&nb);
    let float_acc = number_after(&text, "float accuracy")?;
    let int8_acc = number_after(&text, "int8 accuracy")?;
    eprintln!("{}: float {float_acc}%, int8 {int8_acc}%", path.display());
    ensure!(
        float_acc > 80.0,
        "float accuracy {float_acc}% is not a trained model"
    );
    ensure!(
        (float_acc - int8_acc).abs() <= 2.0,
        "int8 accuracy {int8_acc}% is far from float {float_acc}%"
    );
    ensure!(text.contains("epoch 1/"), "no per-epoch training line");
    ensure!(
        text.contains("calibrated on 100 training images"),
        "the representative set is not the tutorial's 100 images"
    );
    for (what, dtype) in [("input details:", "int8"), ("output details:", "int8")] {
        let line = text
            .lines()
            .find(|l| l.starts_with(what))
            .with_context(|| format!("no {what:?} line"))?;
        ensure!(
            line.contains(&format!("dtype: {dtype}")) && line.contains("quantization: ("),
            "{line}"
        );
    }
    ensure!(
        text.contains("dequantized output of the first test image: ["),
        "the dequantized output is not shown"
    );
    check_board_section(path, &text, "mnist")?;
    let displays: Vec<&Value> = outputs(&nb)
        .into_iter()
        .filter(|o| o["output_type"] == "display_data" || o["output_type"] == "execute_result")
        .collect();
    let pngs = displays
        .iter()
        .filter(|d| d["data"]["image/png"].is_string())
        .count();
    ensure!(
        pngs >= 1,
        "no image/png display (the first training digits)"
    );
    let plots: Vec<&&Value> = displays
        .iter()
        .filter(|d| d["data"]["application/vnd.plotly.v1+json"].is_object())
        .collect();
    ensure!(
        plots.len() >= 2,
        "expected the learning curve and the rmse/scale plot, found {} plotly displays",
        plots.len()
    );
    for p in &plots {
        let html = text_of(&p["data"]["text/html"]);
        ensure!(
            html.contains("Plotly.newPlot"),
            "a plot has no HTML rendering"
        );
        ensure!(
            !html.contains("<script src="),
            "a plot loads something from the network"
        );
    }
    // plotly.js embedded exactly once, and no MathJax (its loader is what plotly.js lacks).
    let all = std::fs::read_to_string(path)?;
    let embeds = all.matches("* plotly.js v").count();
    ensure!(
        embeds == 1,
        "plotly.js is embedded {embeds} times in the notebook (want once)"
    );
    ensure!(!all.contains("MathJax.loader"), "MathJax is embedded");
    for key in [
        "<table",
        "ROM",
        "rmse/scale",
        "confusion matrix",
        "Total params",
    ] {
        ensure!(all.contains(key), "the executed notebook has no {key:?}");
    }
    Ok(())
}

/// A JavaScript check appended to an exported page: counts plots that drew an SVG and
/// images that loaded, and writes the counts into `<pre id="wb-check">`.
const CHECK_SCRIPT: &str = r#"<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var plots = document.querySelectorAll('div.plotly-graph-div');
    var drawn = 0;
    plots.forEach(function (p) { if (p.querySelector('svg.main-svg')) drawn++; });
    var imgs = document.querySelectorAll('img');
    var loaded = 0;
    imgs.forEach(function (i) { if (i.complete && i.naturalWidth > 0) loaded++; });
    // Quantization debugger reports: inline SVG charts, one layer panel shown by their script.
    var reports = document.querySelectorAll('div.wbdbg');
    var explorers = 0, bars = 0;
    reports.forEach(function (r) {
      var panels = r.querySelectorAll('.wb-panel');
      var shown = Array.from(panels).filter(function (p) { return !p.hidden; }).length;
      if (panels.length > 0 && shown === 1) explorers++;
      bars += r.querySelectorAll('svg.wb-plot rect').length;
    });
    var pre = document.createElement('pre');
    pre.id = 'wb-check';
    pre.textContent = 'WBCHECK' + JSON.stringify({plots: plots.length, drawn: drawn,
      images: imgs.length, loaded: loaded, plotly: !!window.Plotly,
      reports: reports.length, explorers: explorers, report_bars: bars}) + 'WBCHECK';
    document.body.appendChild(pre);
  }, 1000);
});
</script>"#;

/// Exports `executed` to HTML with nbconvert, checks in Chromium that every plot drew
/// and every image loaded, and saves a screenshot; returns (plots, images).
fn browser_check(executed: &Path, name: &str) -> Result<(u64, u64)> {
    let venv = jupyter_venv()?;
    let html_dir = out_dir().join("html");
    std::fs::create_dir_all(&html_dir)?;
    run(
        Command::new(venv.join("bin/jupyter"))
            .args(["nbconvert", "--to", "html", "--output-dir"])
            .arg(&html_dir)
            .arg(executed),
        "jupyter nbconvert --to html",
    )?;
    let stem = executed.file_stem().context("notebook name")?;
    let html = html_dir.join(stem).with_extension("html");
    let page = std::fs::read_to_string(&html).with_context(|| html.display().to_string())?;
    let checked = html_dir.join(format!("{name}.check.html"));
    let at = page
        .rfind("</body>")
        .context("exported HTML has no </body>")?;
    std::fs::write(
        &checked,
        format!("{}{CHECK_SCRIPT}{}", &page[..at], &page[at..]),
    )?;
    let (dom, _) = run(
        chromium()?.arg("--dump-dom").arg(&checked),
        "chromium --dump-dom",
    )?;
    // The element the script adds (the script's own source is in the dump too).
    let marker = "id=\"wb-check\">";
    let at = dom
        .find(marker)
        .context("the check script did not run in Chromium")?;
    let text = &dom[at + marker.len()..];
    let json = text[..text.find("</pre>").context("unterminated check output")?]
        .trim_start_matches("WBCHECK")
        .trim_end_matches("WBCHECK");
    let v: Value = serde_json::from_str(json)?;
    eprintln!("{name}: browser check {v}");
    let shots = out_dir().join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let shot = shots.join(format!("{name}.png"));
    run(
        chromium()?
            .arg(format!("--screenshot={}", shot.display()))
            .arg("--window-size=1280,9000")
            .arg(&html),
        "chromium --screenshot",
    )?;
    ensure!(
        v["plotly"] == true,
        "plotly.js did not load in the exported page"
    );
    ensure!(
        v["plots"] == v["drawn"],
        "{name}: {} plots, only {} drew an SVG",
        v["plots"],
        v["drawn"]
    );
    ensure!(
        v["images"] == v["loaded"],
        "{name}: {} images, only {} loaded",
        v["images"],
        v["loaded"]
    );
    ensure!(
        v["reports"] == v["explorers"],
        "{name}: {} debugger reports, only {} switched to one layer panel",
        v["reports"],
        v["explorers"]
    );
    Ok((
        v["plots"].as_u64().unwrap_or(0),
        v["images"].as_u64().unwrap_or(0),
    ))
}

/// Reads the `grades.json` that `workbench-notebook grade` wrote into `dir`, failing when a
/// cell of the notebook failed; returns (score, max_score, grades).
fn read_grades(dir: &Path) -> Result<(f64, f64, Value)> {
    let path = dir.join("grades.json");
    let grades: Value = serde_json::from_slice(&std::fs::read(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let failures = grades["failures"].as_array().map_or(0, Vec::len);
    ensure!(failures == 0, "cells failed: {}", grades["failures"]);
    let score = grades["score"].as_f64().context("no score")?;
    let max = grades["max_score"].as_f64().context("no max_score")?;
    eprintln!(
        "{}: {score} / {max}, tasks {}",
        grades["notebook"], grades["tasks"]
    );
    Ok((score, max, grades))
}

/// Runs `notebooks/<name>.ipynb` through `workbench-notebook grade` with `params` (one run:
/// the tutorial's outputs and its graded tasks), checks the solutions get full marks, and
/// returns the executed notebook.
fn run_in_runner(name: &str, params: &[(&str, &str)]) -> Result<PathBuf> {
    let nb = repo().join(format!("notebooks/{name}.ipynb"));
    let out = out_dir().join("runner").join(name);
    let mut cmd = Command::new(runner()?);
    cmd.arg("grade").arg(&nb).arg("--out").arg(&out);
    for (k, v) in params {
        cmd.args(["-p", k, v]);
    }
    let (_, secs) = run(&mut cmd, &format!("workbench-notebook grade {name}.ipynb"))?;
    eprintln!("runner: {name}.ipynb in {secs:.1} s");
    let (score, max, grades) = read_grades(&out)?;
    ensure!(
        max > 0.0 && score == max,
        "{name}: the solutions scored {score} of {max}: {}",
        grades["tasks"]
    );
    ensure!(
        grades["questions"]
            .as_array()
            .is_some_and(|q| !q.is_empty()),
        "{name}: no questions listed for grading by hand"
    );
    Ok(out.join(format!("{name}.ipynb")))
}

/// Makes the student version of `notebooks/<name>.ipynb` and grades it with the hidden tests
/// put back: it must run to the end and score below the maximum (every task is `todo!()`).
fn grade_student_version(name: &str, params: &[(&str, &str)]) -> Result<()> {
    let nb = repo().join(format!("notebooks/{name}.ipynb"));
    let student_dir = out_dir().join("student");
    run(
        Command::new(runner()?)
            .arg("student")
            .arg(&nb)
            .arg("--out")
            .arg(&student_dir),
        &format!("workbench-notebook student {name}.ipynb"),
    )?;
    let student = student_dir.join(format!("{name}.ipynb"));
    let text = std::fs::read_to_string(&student)?;
    ensure!(
        !text.contains("BEGIN SOLUTION") && !text.contains("BEGIN HIDDEN TESTS"),
        "{name}: the student version still holds solutions or hidden tests"
    );
    let out = out_dir().join("student-grades").join(name);
    let mut cmd = Command::new(runner()?);
    cmd.arg("grade")
        .arg(&student)
        .arg("--tests")
        .arg(&nb)
        .arg("--out")
        .arg(&out);
    for (k, v) in params {
        cmd.args(["-p", k, v]);
    }
    let (_, secs) = run(
        &mut cmd,
        &format!("workbench-notebook grade student {name}.ipynb"),
    )?;
    eprintln!("student version: {name}.ipynb graded in {secs:.1} s");
    let (score, max, grades) = read_grades(&out)?;
    ensure!(
        score < max,
        "{name}: the student version scored {score} of {max}"
    );
    let tasks = grades["tasks"].as_array().context("no tasks")?;
    ensure!(
        tasks.iter().all(|t| t["message"]
            .as_str()
            .is_some_and(|m| m.contains("not done yet"))),
        "{name}: a stubbed task was not reported as not done yet: {}",
        grades["tasks"]
    );
    ensure!(
        out.join("feedback.html").exists(),
        "{name}: no feedback page"
    );
    Ok(())
}

/// CI settings: two epochs on 10,000 images.
const MNIST_PARAMS: [(&str, &str); 3] = [
    ("epochs", "2"),
    ("train_limit", "10000"),
    ("representative", "100"),
];

#[test]
fn mnist_notebook_runs_headless_and_renders_in_chromium() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // 1. The headless runner.
    let executed = run_in_runner("mnist", &MNIST_PARAMS)?;
    check_mnist_outputs(&executed)?;

    // 2. The HTML export in a real browser.
    let (plots, images) = browser_check(&executed, "mnist")?;
    ensure!(
        plots >= 2 && images >= 1,
        "{plots} plots, {images} images in the page"
    );

    Ok(())
}

/// The smallest MNIST run: the student version's tasks do not depend on training.
const MNIST_STUDENT_PARAMS: [(&str, &str); 3] = [
    ("epochs", "1"),
    ("train_limit", "1000"),
    ("representative", "100"),
];

#[test]
fn mnist_student_version_runs_to_the_end_below_full_marks() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    grade_student_version("mnist", &MNIST_STUDENT_PARAMS)
}

#[test]
fn mnist_notebook_runs_in_jupyter_with_papermill() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let nb = repo().join("notebooks/mnist.ipynb");
    // Real Jupyter: papermill with the evcxr kernel.
    let venv = jupyter_venv()?;
    let pm_out = out_dir().join("papermill").join("mnist.ipynb");
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(repo().join("scripts/run_papermill.py"))
        .arg(&nb)
        .arg(&pm_out)
        .env("JUPYTER_PATH", venv.join("share/jupyter"));
    for (k, v) in MNIST_PARAMS {
        cmd.args(["-p", k, v]);
    }
    let (_, secs) = run(&mut cmd, "papermill mnist.ipynb (evcxr kernel)")?;
    eprintln!("papermill: mnist.ipynb in {secs:.1} s");
    check_mnist_outputs(&pm_out)?;
    Ok(())
}

/// Runs and cells of the output-order check: each run starts the kernel afresh. With two
/// busy processes beside it, stock evcxr_jupyter 0.22.0 lost lines in 10 of 240 cells (7 of
/// 12 runs); 120 cells catch that with probability > 99% (see notebooks/kernel/README.md).
const OUTPUT_ORDER_RUNS: &str = "6";
const OUTPUT_ORDER_GROUPS: &str = "5";

/// Every line a cell prints reaches Jupyter before the kernel reports the cell done: cells
/// that print right before finishing, print a lot, print then display, and print to stderr,
/// executed through nbclient many times in a row on a loaded machine.
#[test]
fn jupyter_kernel_delivers_every_printed_line() -> Result<()> {
    let venv = jupyter_venv()?;
    // Its own working folder: plain Rust cells, no evcxr.toml, no shared build folder.
    let dir = out_dir().join("output-order");
    std::fs::create_dir_all(&dir)?;
    let report = dir.join("report.json");
    let (stdout, secs) = run(
        Command::new(venv.join("bin/python"))
            .arg(repo().join("tests/jupyter/output_order.py"))
            .args(["--runs", OUTPUT_ORDER_RUNS, "--groups", OUTPUT_ORDER_GROUPS])
            .args(["--load", "2", "--report"])
            .arg(&report)
            .current_dir(&dir)
            .env("JUPYTER_PATH", venv.join("share/jupyter")),
        "output_order.py (evcxr kernel through nbclient)",
    )?;
    eprintln!("{stdout}");
    let summary: Value = serde_json::from_slice(&std::fs::read(&report)?)?;
    eprintln!("output order: {summary} ({secs:.1} s)");
    ensure!(
        summary["runs"].as_u64() == OUTPUT_ORDER_RUNS.parse().ok()
            && summary["cells_with_losses"] == 0,
        "cells lost output: {summary}"
    );
    Ok(())
}

/// CI settings for the EMG notebook: a few epochs, two pre-training subjects, windows every 150 samples.
const EMG_PARAMS: [(&str, &str); 6] = [
    ("epochs", "3"),
    ("pretrain_epochs", "2"),
    ("pretrain_subjects", "2"),
    ("qat_epochs", "2"),
    ("stride", "150"),
    // a Rust expression, as the runner takes values
    (
        "out_dir",
        r#"String::from("../out/notebooks-test/emg-files")"#,
    ),
];

/// Checks the executed EMG notebook: the four accuracies, the table, the files, the plots.
fn check_emg_outputs(path: &Path) -> Result<()> {
    let nb: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let text = stdout_text(&nb);
    let zero_shot = number_after(&text, "zero-shot on session 2: accuracy")?;
    let fine_tuned = number_after(&text, "(accuracy")?;
    let integer = number_after(&text, "integer accuracy")?;
    let float = number_after(&text, "float accuracy")?;
    eprintln!(
        "{}: zero-shot {zero_shot}%, fine-tuned {fine_tuned}%, integer {integer}% (float {float}%)",
        path.display()
    );
    // nine classes, mostly rest: a trained model is well above a third
    ensure!(fine_tuned > 40.0, "fine-tuned accuracy {fine_tuned}%");
    ensure!(
        integer >= float - 2.0,
        "integer accuracy {integer}% far below float {float}%"
    );
    ensure!(text.contains("epoch 1/"), "no per-epoch training line");
    // the converted model evaluated before QAT, as the hands-on does
    let ptq = number_after(&text, "PTQ int8 accuracy")?;
    let ptq_fake = number_after(&text, "before QAT: fake-quantized accuracy")?;
    eprintln!(
        "{}: before QAT: PTQ int8 {ptq}%, fake-quantized {ptq_fake}%",
        path.display()
    );
    ensure!(
        (0.0..=100.0).contains(&ptq) && (0.0..=100.0).contains(&ptq_fake),
        "before-QAT accuracies {ptq}%, {ptq_fake}%"
    );
    ensure!(
        text.find("PTQ int8 accuracy") < text.find("integer accuracy"),
        "the converted model is not evaluated before QAT"
    );
    check_board_section(path, &text, "emg")?;
    let all = std::fs::read_to_string(path)?;
    for key in [
        "integer (MATCH)",
        "TFLite int8",
        "clip_val",
        "model_integer.onnx",
        "multipliers",
        "Total params",
        "ROM",
        "PTQ int8 (before QAT)",
        "raw Ch1..Ch8",
        "normalized Ch1..Ch8",
        "th sample shown",
    ] {
        ensure!(all.contains(key), "the executed notebook has no {key:?}");
    }
    let files = repo().join("out/notebooks-test/emg-files");
    for f in [
        "model_integer.onnx",
        "model_qat_int8.tflite",
        "rescaling_values.json",
        "temponet_ptq_int8.cc",
    ] {
        ensure!(files.join(f).exists(), "{} was not written", f);
    }
    // the prepared splits, as NPY files, with as many windows as the notebook printed
    for split in ["train", "val", "test"] {
        let data = workbench::npy::read_npy(files.join(format!("{split}_data.npy")))?;
        let labels = workbench::npy::read_npy(files.join(format!("{split}_labels.npy")))?;
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{split:<5} ")) && l.contains("windows of"))
            .with_context(|| format!("no {split} windows line"))?;
        let windows = number_after(line, split)?;
        ensure!(
            data.shape.len() == 3
                && data.shape[0] as f64 == windows
                && data.shape[1..] == [300, 8]
                && labels.shape == [data.shape[0]],
            "{split}: data {:?}, labels {:?}, {windows} windows printed",
            data.shape,
            labels.shape
        );
    }
    let rv: Value = serde_json::from_slice(&std::fs::read(files.join("rescaling_values.json"))?)?;
    ensure!(
        rv["clip_val"].as_f64().is_some_and(|v| v > 0.0)
            && rv["min"].as_array().map(Vec::len) == Some(8),
        "rescaling_values.json: {rv}"
    );
    Ok(())
}

/// The smallest EMG run: one epoch per training step.
const EMG_STUDENT_PARAMS: [(&str, &str); 6] = [
    ("epochs", "1"),
    ("pretrain_epochs", "1"),
    ("pretrain_subjects", "2"),
    ("qat_epochs", "1"),
    ("stride", "150"),
    (
        "out_dir",
        r#"String::from("../out/notebooks-test/emg-student-files")"#,
    ),
];

#[test]
fn emg_student_version_runs_to_the_end_below_full_marks() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    grade_student_version("emg", &EMG_STUDENT_PARAMS)
}

#[test]
fn emg_notebook_runs_headless_and_renders_in_chromium() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let executed = run_in_runner("emg", &EMG_PARAMS)?;
    check_emg_outputs(&executed)?;
    // raw Ch1 and trimmed (2), all raw and normalized channels (2), two windows, learning
    // curve, macro accuracy, QAT curve
    let (plots, _) = browser_check(&executed, "emg")?;
    ensure!(plots >= 9, "{plots} plots in the page");
    Ok(())
}

/// CI settings for kws.ipynb (the lab's `micro_kws_xs`): 200 steps of 32 clips on the
/// synthetic corpus; batch norm momentum 0.9 for a DS-CNN S run (Keras' 0.99 keeps it at
/// chance for ~600 steps).
const KWS_PARAMS: [(&str, &str); 6] = [
    ("steps", "150"),
    ("steps_fine", "50"),
    ("batch_size", "32"),
    ("eval_every", "25"),
    ("batch_norm_momentum", "0.9"),
    (
        "out_dir",
        "String::from(\"../out/notebooks-test/kws-files\")",
    ),
];

/// Checks the executed keyword-spotting notebook carries real outputs.
fn check_kws_outputs(path: &Path) -> Result<()> {
    let nb: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let text = stdout_text(&nb);
    let float_acc = number_after(&text, "float accuracy")?;
    let int8_acc = number_after(&text, "int8 accuracy")?;
    let acc_line = text
        .lines()
        .find(|l| l.starts_with("float accuracy"))
        .context("no accuracy line")?;
    let test_clips = number_after(acc_line, "points (")?;
    let rom = number_after(&text, "ROM")?;
    let macs = number_after(&text, "bytes (best),")?;
    let ds_cnn_macs = number_after(&text, "DS-CNN S for comparison:")?;
    let mine = number_after(&text, "my model: float accuracy")?;
    let mine_int8 = number_after(&text, "within budget: int8 test accuracy")?;
    eprintln!(
        "{}: micro_kws_xs float {float_acc}%, int8 {int8_acc}% ({test_clips} test clips), \
         ROM {rom} B, {macs} MACs; DS-CNN S {ds_cnn_macs} MACs; my model float {mine}%, int8 {mine_int8}%",
        path.display()
    );
    // the lab's balance: int(100 / 4 classes) = 25% silence and 25% unknown
    ensure!(
        text.contains("silence and unknown: 25% of the wanted-word clips each (100 / 4 classes)"),
        "silence and unknown are not the lab's 25%"
    );
    // 4 classes: chance is 25%, and at 25% silence and unknown half the clips are yes or no
    ensure!(
        float_acc >= 60.0,
        "float accuracy {float_acc}% is not a trained model"
    );
    // one clip either way
    ensure!(
        (float_acc - int8_acc).abs() <= 100.0 / test_clips + 1e-6,
        "int8 accuracy {int8_acc}% is not within a clip of float {float_acc}%"
    );
    // the float .tflite computes what the trained model computes
    let agree_line = text
        .lines()
        .find(|l| l.starts_with("the float .tflite and the trained model agree on"))
        .context("no agreement line for the float .tflite")?;
    let agree = number_after(agree_line, "agree on")?;
    ensure!(
        agree == test_clips,
        "the float .tflite and the model differ: {agree_line}"
    );
    ensure!(mine_int8 >= 50.0, "my model's int8 accuracy {mine_int8}%");
    // micro_kws_xs on 49x40: a 5x4 depthwise convolution with 4 filters at 25x20, dense 2000 -> 4
    ensure!(
        macs == 48_000.0,
        "micro_kws_xs estimate {macs} MACs, expected 40,000 + 8,000"
    );
    // DS-CNN S on 49x40: 25*20*64*(10*4 + 4*(9 + 64)) + 64*4 MACs
    ensure!(
        ds_cnn_macs == 10_624_256.0,
        "DS-CNN S estimate {ds_cnn_macs} MACs, expected 10,624,256"
    );
    // 2000 x 4 int8 weights alone
    ensure!(rom > 8_000.0, "ROM estimate {rom} B");
    // the lab's checkpoints: each new best written, the best loaded back
    let files = repo().join("out/notebooks-test/kws-files");
    let loaded = text
        .lines()
        .find(|l| l.contains("loaded back the best:"))
        .context("no best checkpoint line")?;
    let best_step = number_after(loaded, "(step ")?;
    let best_file = files.join(format!("best-step{best_step}.safetensors"));
    ensure!(
        best_file.exists(),
        "{} was not written ({loaded})",
        best_file.display()
    );
    for f in [
        "kws_float.tflite",
        "kws_int8.tflite",
        "kws_int8.cc",
        "kws_dynamic.tflite",
    ] {
        ensure!(files.join(f).exists(), "{f} was not written");
    }
    // the lab's "fp32": dynamic range, micro_kws_xs's 2000 x 4 dense weights int8 (the
    // 80 depthwise weights are under TF's 1024 and stay float32)
    let dynamic_acc = number_after(&text, "dynamic-range .tflite accuracy")?;
    let dynamic_line = text
        .lines()
        .find(|l| l.starts_with("kws_dynamic.tflite:"))
        .context("no kws_dynamic.tflite line")?;
    let int8_weights = number_after(dynamic_line, "int8 weight tensors:")?;
    ensure!(
        int8_weights == 1.0,
        "the dynamic-range model has {int8_weights} int8 weight tensors, expected 1"
    );
    let dynamic_bytes = number_after(dynamic_line, "kws_dynamic.tflite:")?;
    let float_bytes = number_after(dynamic_line, "(float")?;
    ensure!(
        dynamic_bytes < float_bytes / 2.0,
        "kws_dynamic.tflite is {dynamic_bytes} B against {float_bytes} B in float32"
    );
    ensure!(
        (dynamic_acc - float_acc).abs() <= 100.0 / test_clips + 1e-6,
        "dynamic-range accuracy {dynamic_acc}% is not within a clip of float {float_acc}%"
    );
    ensure!(
        text.contains("step 25/200:") && text.contains("step 200/200:"),
        "no progress lines"
    );
    ensure!(
        text.contains("ds_cnn_s: ROM") && text.contains("MACs: over budget"),
        "DS-CNN S fits the small budget?"
    );
    check_board_section(path, &text, "kws")?;
    let displays: Vec<&Value> = outputs(&nb)
        .into_iter()
        .filter(|o| o["output_type"] == "display_data" || o["output_type"] == "execute_result")
        .collect();
    let pngs = displays
        .iter()
        .filter(|d| d["data"]["image/png"].is_string())
        .count();
    ensure!(pngs >= 1, "no image/png display (the feature images)");
    let plots = displays
        .iter()
        .filter(|d| d["data"]["application/vnd.plotly.v1+json"].is_object())
        .count();
    ensure!(
        plots >= 2,
        "expected accuracy and loss curves, found {plots} plots"
    );
    let all = std::fs::read_to_string(path)?;
    for key in ["Total params", "DEPTHWISE_CONV_2D", "RAM bytes", "<table"] {
        ensure!(all.contains(key), "the executed notebook has no {key:?}");
    }
    Ok(())
}

/// The KWS student run keeps the CI settings: the notebook's own budget check asserts the
/// small model beats chance, which fewer steps do not reach.
#[test]
fn kws_student_version_runs_to_the_end_below_full_marks() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut params = KWS_PARAMS;
    params[5].1 = "String::from(\"../out/notebooks-test/kws-student-files\")";
    grade_student_version("kws", &params)
}

#[test]
fn kws_notebook_runs_headless_and_renders_in_chromium() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let executed = run_in_runner("kws", &KWS_PARAMS)?;
    check_kws_outputs(&executed)?;
    // accuracy and loss curves; the feature pictures
    let (plots, images) = browser_check(&executed, "kws")?;
    ensure!(
        plots >= 2 && images >= 1,
        "{plots} plots, {images} images in the page"
    );
    Ok(())
}

/// CI settings for quantization_tips.ipynb: one epoch on 3,000 images per variant.
const TIPS_PARAMS: [(&str, &str); 6] = [
    ("epochs", "1"),
    ("train_limit", "3000"),
    ("test_limit", "500"),
    ("representative", "200"),
    ("debug_samples", "64"),
    (
        "out_dir",
        "String::from(\"../out/notebooks-test/quantization_tips-files\")",
    ),
];

/// Checks the executed quantization-tips notebook carries real, computed outputs.
fn check_tips_outputs(path: &Path) -> Result<()> {
    let nb: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let text = stdout_text(&nb);
    let float_acc = number_after(&text, "float accuracy")?;
    let int8_acc = number_after(&text, "int8 accuracy")?;
    ensure!(
        float_acc > 50.0 && (float_acc - int8_acc).abs() < 5.0,
        "baseline: float {float_acc}%, int8 {int8_acc}%"
    );
    let ros = number_after(&text, "rmse/scale =")?;
    ensure!(
        (ros - 1.0 / 12f64.sqrt()).abs() < 2e-3,
        "measured rounding rmse/scale {ros}"
    );
    // selective quantization: 0..=3 layers left in float, ROM growing with each
    let mut roms = Vec::new();
    for k in 0..=3 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{k} float layers:")))
            .with_context(|| format!("no selective-quantization line for {k} float layers"))?;
        roms.push(number_after(line, "ROM")?);
    }
    ensure!(
        roms.windows(2).all(|w| w[1] >= w[0]) && roms[3] > roms[0],
        "ROM should grow as layers are left in float: {roms:?}"
    );
    let sens = text.matches("only this int8:").count();
    ensure!(sens >= 6, "{sens} sensitivity rows");
    // the normalization stored in the .tflite, read back, and applied by the device bridge
    ensure!(
        text.contains("input normalization read back: MeanStd")
            && text.contains("samplewise_norm.mean_and_std"),
        "the model parameters were not read back"
    );
    ensure!(
        text.contains("ops [\"QUANTIZE\"") && text.contains("\"DEQUANTIZE\"]"),
        "the float-input/output int8 model does not start with QUANTIZE and end with DEQUANTIZE"
    );
    check_board_section(path, &text, "quantization_tips")?;
    ensure!(
        !text.contains("NaN") && !text.contains("inf dB"),
        "non-finite numbers in the outputs"
    );
    Ok(())
}

#[test]
fn quantization_tips_notebook_runs_headless_and_renders_in_chromium() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let executed = run_in_runner("quantization_tips", &TIPS_PARAMS)?;
    check_tips_outputs(&executed)?;
    // normalization accuracies, selective quantization, sensitivity (plotly), and the
    // debugger reports (inline SVG with the layer explorer)
    let (plots, _) = browser_check(&executed, "quantization_tips")?;
    ensure!(plots >= 3, "{plots} plots in the page");
    Ok(())
}

#[test]
fn quantization_tips_student_version_runs_to_the_end_below_full_marks() -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    grade_student_version("quantization_tips", &TIPS_PARAMS)
}

/// CI settings for mobilenet.ipynb: MobileNetV1 0.25 at 64 x 64, 8 images per class in each
/// split, one float epoch and one PACT epoch.
const MOBILENET_PARAMS: [(&str, &str); 6] = [
    ("resolution", "64"),
    ("limit", "8"),
    ("epochs", "1"),
    ("qat_epochs", "1"),
    ("batch_size", "16"),
    (
        "out_dir",
        r#"String::from("../out/notebooks-test/mobilenet-files")"#,
    ),
];

/// Checks the executed MobileNet notebook: the accuracy table and the agreement, the clips
/// before and after fine-tuning, the per-layer requantization, the files it wrote.
fn check_mobilenet_outputs(path: &Path) -> Result<()> {
    let nb: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let text = stdout_text(&nb);
    let float = number_after(&text, "float accuracy")?;
    let observed = number_after(&text, "observed accuracy")?;
    let fake = number_after(&text, "fake-quantized accuracy")?;
    let integer = number_after(&text, "integer accuracy")?;
    let agreement = number_after(&text, "agreement")?;
    let agreement_line = text
        .lines()
        .find(|l| l.starts_with("agreement"))
        .context("no agreement line")?;
    let images = number_after(agreement_line, "% of")?;
    eprintln!(
        "{}: float {float}%, observed {observed}%, fake-quantized {fake}%, integer {integer}%, \
         agreement {agreement}% of {images} images",
        path.display()
    );
    for (what, v) in [
        ("float", float),
        ("observed", observed),
        ("fake-quantized", fake),
        ("integer", integer),
        ("agreement", agreement),
    ] {
        ensure!((0.0..=100.0).contains(&v), "{what} accuracy {v}%");
    }
    // 10 classes x 8 validation images
    ensure!(images == 80.0, "{images} validation images, expected 80");
    // images where fake and integer predict alike score alike: the accuracies can differ by
    // at most the share of images where the predictions differ (one printed decimal each)
    ensure!(
        (fake - integer).abs() <= 100.0 - agreement + 0.02,
        "fake-quantized {fake}% and integer {integer}% differ by more than the disagreement \
         ({agreement}% agreement)"
    );
    ensure!(agreement >= 50.0, "agreement {agreement}%");
    ensure!(
        text.contains("QAT epoch 1/1: loss"),
        "no per-epoch fine-tuning line"
    );
    ensure!(
        text.contains("train: 4000 images") && text.contains("val: 800 images"),
        "the data set's sizes are not shown"
    );
    // the clips table: one row per PACT activation (stem + 13 blocks x 2), observed and trained
    let clip_rows = text
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 3
                && f[0].ends_with("_bn")
                && f[1].parse::<f64>().is_ok_and(|v| v > 0.0)
                && f[2].parse::<f64>().is_ok_and(|v| v > 0.0)
        })
        .count();
    ensure!(clip_rows == 27, "{clip_rows} clip rows, expected 27");
    // the requantization table and the stem's channel 0
    let stem = text
        .lines()
        .find(|l| l.starts_with("conv0, channel 0:"))
        .context("no stem channel line")?;
    let mul = number_after(stem, "-> mul")?;
    // its sign is gamma's (a short run can leave gamma negative); zero would mean no channel
    ensure!(mul != 0.0, "stem multiplier {mul}: {stem}");
    ensure!(
        text.lines()
            .filter(|l| l.contains("depthwise") && l.contains(" .. "))
            .count()
            == 13,
        "the requantization table has not 13 depthwise rows"
    );
    let files = repo().join("out/notebooks-test/mobilenet-files");
    for f in [
        "model_integer.onnx",
        "model.safetensors",
        "model_pact.safetensors",
        "config.json",
        "features/out_layer0.txt",
        "features/output.txt",
    ] {
        ensure!(files.join(f).exists(), "{f} was not written");
    }
    let metrics: Value = serde_json::from_slice(&std::fs::read(files.join("metrics.json"))?)?;
    let saved = 100.0
        * metrics["agreement"]
            .as_f64()
            .context("no agreement in metrics.json")?;
    ensure!(
        (saved - agreement).abs() < 0.006,
        "metrics.json's agreement {saved}% is not the printed {agreement}%"
    );
    let all = std::fs::read_to_string(path)?;
    for key in ["Total params", "features/out_layer0.txt: ", "conv0.out"] {
        ensure!(all.contains(key), "the executed notebook has no {key:?}");
    }
    let pngs = outputs(&nb)
        .iter()
        .filter(|o| o["data"]["image/png"].is_string())
        .count();
    ensure!(
        pngs >= 2,
        "{pngs} image/png outputs: expected the stored images and the transformed ones"
    );
    Ok(())
}

#[test]
fn mobilenet_notebook_runs_headless_renders_in_chromium_and_its_student_version_grades(
) -> Result<()> {
    let _lock = NOTEBOOK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let executed = run_in_runner("mobilenet", &MOBILENET_PARAMS)?;
    check_mobilenet_outputs(&executed)?;
    // float and fine-tuning learning curves, the clips; the two image grids
    let (plots, images) = browser_check(&executed, "mobilenet")?;
    ensure!(
        plots >= 3 && images >= 2,
        "{plots} plots, {images} images in the page"
    );
    let mut student = MOBILENET_PARAMS;
    student[5].1 = r#"String::from("../out/notebooks-test/mobilenet-student-files")"#;
    grade_student_version("mobilenet", &student)
}
