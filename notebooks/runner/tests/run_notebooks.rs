//! End-to-end runs of `workbench-notebook run` on tiny generated notebooks (plain std Rust).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

/// A code cell with optional tags.
fn code(source: &str, tags: &[&str]) -> Value {
    json!({
        "cell_type": "code",
        "execution_count": null,
        "metadata": { "tags": tags },
        "outputs": [],
        "source": source,
    })
}

/// Writes an nbformat 4.4 notebook `name` into `dir`; compiles cells with `:opt 0` for speed.
fn write_notebook(dir: &Path, name: &str, cells: &[Value]) -> PathBuf {
    let mut all = vec![
        json!({"cell_type": "markdown", "metadata": {}, "source": "# test"}),
        code(":opt 0", &[]),
    ];
    all.extend_from_slice(cells);
    let nb = json!({
        "nbformat": 4,
        "nbformat_minor": 4,
        "metadata": {
            "kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"},
            "language_info": {"name": "Rust"},
        },
        "cells": all,
    });
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&nb).unwrap()).unwrap();
    path
}

/// Runs the binary on `notebook` with extra args; returns its output and the executed notebook.
fn run(test: &str, dir: &Path, notebook: &Path, extra: &[&str]) -> (Output, Value) {
    let out_dir = dir.join("out");
    let start = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_workbench-notebook"))
        .arg("run")
        .arg(notebook)
        .arg("--out")
        .arg(&out_dir)
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap();
    eprintln!("{test}: {:.1} s", start.elapsed().as_secs_f64());
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    let written = out_dir.join(notebook.file_name().unwrap());
    let text = std::fs::read_to_string(&written)
        .unwrap_or_else(|e| panic!("{test}: no executed notebook {}: {e}", written.display()));
    (output, serde_json::from_str(&text).unwrap())
}

fn outputs(nb: &Value, cell: usize) -> &Vec<Value> {
    nb["cells"][cell]["outputs"].as_array().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn success_records_stream_display_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write_notebook(
        dir.path(),
        "ok.ipynb",
        &[
            code("println!(\"hello {}\", 6 * 7);", &[]),
            code(
                "struct Card(u32);\n\
                 impl Card {\n\
                 \x20   fn evcxr_display(&self) {\n\
                 \x20       println!(\"EVCXR_BEGIN_CONTENT text/plain\\ncard {}\\nEVCXR_END_CONTENT\", self.0);\n\
                 \x20       println!(\"EVCXR_BEGIN_CONTENT text/html\\n<b>card {}</b>\\nEVCXR_END_CONTENT\", self.0);\n\
                 \x20   }\n\
                 }\n\
                 Card(7).evcxr_display();\n\
                 println!(\"between\");\n\
                 Card(8).evcxr_display();",
                &[],
            ),
            code("let v = vec![1, 2, 3];\nv.len() * 10", &[]),
        ],
    );
    let (output, executed) = run("success", dir.path(), &nb, &[]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Cell 2: stdout as a stream.
    assert_eq!(
        outputs(&executed, 2),
        &vec![json!({"output_type": "stream", "name": "stdout", "text": "hello 42\n"})]
    );
    // Cell 3: each display (consecutive blocks, one per MIME type) as display_data, in order
    // with the stdout between them.
    let card = |n: u32| {
        json!({
            "output_type": "display_data",
            "data": {"text/plain": format!("card {n}"), "text/html": format!("<b>card {n}</b>")},
            "metadata": {},
        })
    };
    assert_eq!(
        outputs(&executed, 3),
        &vec![
            card(7),
            json!({"output_type": "stream", "name": "stdout", "text": "between\n"}),
            card(8),
        ]
    );
    // Cell 4: the final expression's value, shown by evcxr with Debug, as execute_result.
    assert_eq!(
        outputs(&executed, 4),
        &vec![json!({
            "output_type": "execute_result",
            "execution_count": 4,
            "data": {"text/plain": "30"},
            "metadata": {},
        })]
    );
    let counts: Vec<_> = (1..5)
        .map(|i| executed["cells"][i]["execution_count"].clone())
        .collect();
    assert_eq!(counts, vec![json!(1), json!(2), json!(3), json!(4)]);
    // Markdown cells get neither outputs nor counts.
    assert!(executed["cells"][0].get("outputs").is_none());
}

/// Asserts a failed run: non-zero exit naming `cell` and its first line, and an `error` output
/// with `ename` as the last output of that cell; later cells are not executed.
fn assert_failed_at(
    test: &str,
    output: &Output,
    nb: &Value,
    cell: usize,
    first: &str,
    ename: &str,
) {
    let err = stderr(output);
    assert!(!output.status.success(), "{test}: exit should be non-zero");
    assert!(
        err.contains(&format!(".ipynb: cell {cell} (`{first}`) failed: {ename}")),
        "{test}: stderr does not name the cell: {err}"
    );
    let last = outputs(nb, cell).last().expect("an error output");
    assert_eq!(last["output_type"], "error", "{test}");
    assert_eq!(last["ename"], ename, "{test}");
    let next = &nb["cells"][cell + 1];
    assert_eq!(
        next["execution_count"],
        Value::Null,
        "{test}: ran past the failure"
    );
}

#[test]
fn compile_error_fails_naming_the_cell() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write_notebook(
        dir.path(),
        "compile.ipynb",
        &[
            code("let a = 1;", &[]),
            code("let b: u32 = \"not a number\";", &[]),
            code("println!(\"after\");", &[]),
        ],
    );
    let (output, executed) = run("compile error", dir.path(), &nb, &[]);
    assert_failed_at(
        "compile error",
        &output,
        &executed,
        3,
        "let b: u32 = \"not a number\";",
        "CompilationError",
    );
    let evalue = outputs(&executed, 3).last().unwrap()["evalue"].clone();
    assert!(
        evalue.as_str().unwrap().contains("mismatched types"),
        "{evalue}"
    );
}

#[test]
fn panic_fails_naming_the_cell() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write_notebook(
        dir.path(),
        "panic.ipynb",
        &[
            code("let xs: Vec<u8> = Vec::new();", &[]),
            code("// boom\nlet first = xs[3];", &[]),
            code("println!(\"after\");", &[]),
        ],
    );
    let (output, executed) = run("panic", dir.path(), &nb, &[]);
    assert_failed_at("panic", &output, &executed, 3, "// boom", "panic");
    let evalue = outputs(&executed, 3).last().unwrap()["evalue"].clone();
    assert!(
        evalue.as_str().unwrap().contains("index out of bounds"),
        "{evalue}"
    );
}

#[test]
fn question_mark_error_fails_naming_the_cell() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write_notebook(
        dir.path(),
        "err.ipynb",
        &[
            code(
                "let r: Result<(), String> = Err(\"boom\".into());\nr?;",
                &[],
            ),
            code("println!(\"after\");", &[]),
        ],
    );
    let (output, executed) = run("? error", dir.path(), &nb, &[]);
    assert_failed_at(
        "? error",
        &output,
        &executed,
        2,
        "let r: Result<(), String> = Err(\"boom\".into());",
        "Error",
    );
    assert_eq!(outputs(&executed, 2).last().unwrap()["evalue"], "boom");
}

#[test]
fn parameters_are_injected_after_the_parameters_cell() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write_notebook(
        dir.path(),
        "params.ipynb",
        &[
            code("let epochs = 1;\nlet name = \"default\";", &["parameters"]),
            code("println!(\"{name} {}\", epochs * 2);", &[]),
        ],
    );
    let (output, executed) = run(
        "parameters",
        dir.path(),
        &nb,
        &["-p", "epochs", "20", "-p", "name", "\"tuned\""],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let injected = &executed["cells"][3];
    assert_eq!(injected["metadata"]["tags"], json!(["injected-parameters"]));
    assert_eq!(
        injected["source"],
        "// Injected parameters\nlet epochs = 20;\nlet name = \"tuned\";"
    );
    assert_eq!(
        outputs(&executed, 4),
        &vec![json!({"output_type": "stream", "name": "stdout", "text": "tuned 40\n"})]
    );
}
