//! End-to-end runs of `workbench-notebook student` and `grade` on a tiny teaching notebook
//! (plain std Rust: its check cell writes the marker `workbench::check` would).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn code(id: &str, source: &str, meta: Value) -> Value {
    json!({"cell_type": "code", "id": id, "execution_count": null, "metadata": meta,
           "outputs": [], "source": source})
}

/// A check cell: runs `f()` under `catch_unwind` and shows the marker for task `t`.
const CHECK: &str = r#"fn report(passed: bool) {
    let marker = format!("{{&quot;task&quot;:&quot;t&quot;,&quot;passed&quot;:{passed},&quot;message&quot;:&quot;m&quot;}}");
    println!("EVCXR_BEGIN_CONTENT text/html\n<div data-workbench-check=\"{marker}\"></div>\nEVCXR_END_CONTENT");
}
// As workbench::check does: silence the panic hook while the student's code runs.
{
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(|| f());
    std::panic::set_hook(hook);
    report(result.map_or(false, |v| v == 1));
}"#;

/// The teacher's notebook: a task, its check, a hidden check, a question.
fn teacher(dir: &Path, extra: &[Value]) -> PathBuf {
    let mut cells = vec![
        code("opt", ":opt 0", json!({})),
        code(
            "task",
            "fn f() -> u8 {\n    // BEGIN SOLUTION\n    1\n    // END SOLUTION\n}",
            json!({"workbench": {"task": "t", "points": 2}}),
        ),
        code("check", CHECK, json!({})),
        code(
            "hidden",
            "// BEGIN HIDDEN TESTS\nassert_eq!(f(), 1);\n// END HIDDEN TESTS",
            json!({"workbench": {"task": "t"}}),
        ),
        json!({"cell_type": "markdown", "id": "q", "metadata": {"workbench": {"question": "why", "points": 1}},
               "source": "Why?\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->"}),
    ];
    cells.extend_from_slice(extra);
    let nb = json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells});
    let path = dir.join("teacher").join("task.ipynb");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, serde_json::to_string_pretty(&nb).unwrap()).unwrap();
    path
}

fn runner(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_workbench-notebook"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

fn grades(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn solution_gets_full_marks_and_student_version_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    teacher(d, &[]);
    let out = runner(d, &["student", "teacher/task.ipynb", "--out", "student"]);
    assert!(out.status.success());
    let student = std::fs::read_to_string(d.join("student/task.ipynb")).unwrap();
    assert!(student.contains("todo!()") && !student.contains("BEGIN SOLUTION"));
    assert!(!student.contains("HIDDEN") && student.contains("Your answer here"));

    // The teacher's notebook grades itself: full marks.
    let out = runner(d, &["grade", "teacher/task.ipynb", "--out", "solution"]);
    assert!(out.status.success());
    let g = grades(&d.join("solution/grades.json"));
    assert_eq!(
        (g["score"].as_f64(), g["max_score"].as_f64()),
        (Some(2.0), Some(2.0)),
        "{g}"
    );
    assert_eq!(g["questions"][0]["id"], "why");
    assert!(d.join("solution/feedback.html").exists());

    // Two student submissions (same file name): both run to the end, the stub fails its
    // check and the hidden assert (put back) fails too, yet grading exits 0.
    std::fs::create_dir_all(d.join("alice")).unwrap();
    std::fs::copy(d.join("student/task.ipynb"), d.join("alice/task.ipynb")).unwrap();
    let args = [
        "grade",
        "alice/task.ipynb",
        "student/task.ipynb",
        "--tests",
        "teacher/task.ipynb",
        "--out",
        "grades",
    ];
    let out = runner(d, &args);
    assert!(out.status.success());
    let g = grades(&d.join("grades/alice-task/grades.json"));
    assert_eq!(g["score"].as_f64(), Some(0.0), "{g}");
    assert_eq!(g["tasks"][0]["passed"], false);
    // The hidden cell came back and its failed assert is reported.
    assert_eq!(g["failures"].as_array().map(Vec::len), Some(1), "{g}");
    let csv = std::fs::read_to_string(d.join("grades/grades.csv")).unwrap();
    assert_eq!(
        csv,
        "notebook,score,max_score,t\nalice/task.ipynb,0,2,0\nstudent/task.ipynb,0,2,0\n"
    );
}

#[test]
fn a_cell_over_the_time_limit_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let sleep = code(
        "sleep",
        "std::thread::sleep(std::time::Duration::from_secs(300));",
        json!({}),
    );
    teacher(dir.path(), &[sleep]);
    let start = std::time::Instant::now();
    let out = runner(
        dir.path(),
        &[
            "grade",
            "teacher/task.ipynb",
            "--out",
            "g",
            "--cell-timeout",
            // compilation counts: room for a loaded machine to compile each cell
            "30",
        ],
    );
    assert!(out.status.success());
    assert!(
        start.elapsed().as_secs() < 250,
        "the sleeping cell was not stopped"
    );
    let g = grades(&dir.path().join("g/grades.json"));
    assert_eq!(g["failures"][0]["error"], "Timeout", "{g}");
    // Tasks checked before the slow cell still count.
    assert_eq!(g["score"].as_f64(), Some(2.0));
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = runner(d, &["grade", "missing.ipynb"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.ipynb"));
    std::fs::write(d.join("text.ipynb"), "not json").unwrap();
    let out = runner(d, &["student", "text.ipynb", "--out", "s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("text.ipynb"));
}
