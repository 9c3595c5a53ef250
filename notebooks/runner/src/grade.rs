//! Grading an executed submission: hidden tests put back before the run, check markers read
//! from the outputs after it, and the grade written as JSON, CSV and an HTML feedback page.
//!
//! A check (`workbench::check::Check`) shows as HTML whose `data-workbench-check` attribute
//! holds JSON with `task`, `passed` and `message`. A task passes when at least one check for it
//! ran and every check for it passed.

use crate::authoring;
use crate::notebook::Notebook;
use crate::run::CellFailure;
use serde_json::{json, Value};

/// HTML attribute a check writes its result into (`workbench::check::MARKER_ATTRIBUTE`).
pub const MARKER_ATTRIBUTE: &str = "data-workbench-check";

/// Puts the hidden-test cells of `source` back into `submission`; returns how many.
///
/// A hidden cell replaces the submission's cell with the same id; without one it is inserted
/// after the nearest cell before it in `source` that the submission has (by id), else after
/// the submission's last cell of the same task, else at the end.
pub fn restore_hidden(submission: &mut Notebook, source: &Notebook) -> usize {
    let mut restored = 0;
    for s in 0..source.cell_count() {
        if source.cell_type(s) != "code" || !authoring::has_hidden(&source.source(s)) {
            continue;
        }
        restored += 1;
        let find_id = |nb: &Notebook, id: Option<&str>| {
            id.and_then(|id| (0..nb.cell_count()).find(|&i| nb.cell_id(i) == Some(id)))
        };
        if let Some(at) = find_id(submission, source.cell_id(s)) {
            submission.set_source(at, &source.source(s));
            continue;
        }
        let task = match authoring::role(source, s) {
            Some(authoring::Role::Task { id, .. }) => Some(id),
            _ => None,
        };
        let after_task = task.and_then(|task| {
            (0..submission.cell_count()).rev().find(|&i| {
                matches!(authoring::role(submission, i),
                         Some(authoring::Role::Task { id, .. }) if id == task)
            })
        });
        let after_previous = || {
            (0..s)
                .rev()
                .find_map(|p| find_id(submission, source.cell_id(p)))
        };
        let at = after_previous()
            .or(after_task)
            .map_or(submission.cell_count(), |i| i + 1);
        let mut cell = source.cell(s).clone();
        cell["outputs"] = json!([]);
        cell["execution_count"] = Value::Null;
        submission.insert_cell(at, cell);
    }
    restored
}

/// `&amp;`, `&lt;`, `&gt;`, `&quot;` and `&#39;` turned back into characters.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// The check markers in the HTML outputs of `notebook`, in order: (cell index, marker JSON).
pub fn markers(notebook: &Notebook) -> Vec<(usize, Value)> {
    let needle = format!("{MARKER_ATTRIBUTE}=\"");
    let mut found = Vec::new();
    for index in 0..notebook.cell_count() {
        for output in notebook.outputs(index) {
            let html = text_of(&output["data"]["text/html"]);
            let mut rest = html.as_str();
            while let Some(at) = rest.find(&needle) {
                rest = &rest[at + needle.len()..];
                let Some(end) = rest.find('"') else { break };
                if let Ok(marker) = serde_json::from_str::<Value>(&unescape(&rest[..end])) {
                    found.push((index, marker));
                }
                rest = &rest[end..];
            }
        }
    }
    found
}

/// The grade of one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskGrade {
    /// Task id.
    pub id: String,
    /// Points it is worth.
    pub points: f64,
    /// Whether every check of it ran and passed.
    pub passed: bool,
    /// Why it failed, or what passed.
    pub message: String,
}

/// The grade of one submission.
#[derive(Debug, Clone)]
pub struct Grade {
    /// The submission's path as given.
    pub notebook: String,
    /// The executed notebook written for it.
    pub executed: String,
    /// Its tasks, in the order of the source notebook.
    pub tasks: Vec<TaskGrade>,
    /// Questions graded by hand: (id, points, the cell's text as submitted).
    pub questions: Vec<(String, f64, String)>,
    /// Cells that failed (compile errors, panics, time limits).
    pub failures: Vec<CellFailure>,
}

impl Grade {
    /// Grades `executed` (the submission after its run) on the tasks and questions of `source`.
    pub fn new(
        notebook: String,
        executed: String,
        source: &Notebook,
        run: &Notebook,
        failures: Vec<CellFailure>,
    ) -> Grade {
        let found = markers(run);
        let tasks = authoring::tasks(source)
            .into_iter()
            .map(|(id, points)| {
                let mine: Vec<&Value> = found
                    .iter()
                    .filter(|(_, m)| m["task"].as_str() == Some(id.as_str()))
                    .map(|(_, m)| m)
                    .collect();
                let failed = mine.iter().find(|m| m["passed"] != true);
                let (passed, message) = match (mine.last(), failed) {
                    (None, _) => (
                        false,
                        match failures.first() {
                            Some(f) => format!("no check ran: {f}"),
                            None => "no check ran".to_owned(),
                        },
                    ),
                    (Some(_), Some(m)) => (false, text_of(&m["message"])),
                    (Some(last), None) => (true, text_of(&last["message"])),
                };
                TaskGrade {
                    id,
                    points,
                    passed,
                    message,
                }
            })
            .collect();
        let questions = authoring::questions(source)
            .into_iter()
            .map(|(id, points, index)| {
                let text = (0..run.cell_count())
                    .find(|&i| {
                        matches!(authoring::role(run, i),
                                 Some(authoring::Role::Question { id: q, .. }) if q == id)
                    })
                    .map_or_else(|| source.source(index), |i| run.source(i));
                (id, points, text)
            })
            .collect();
        Grade {
            notebook,
            executed,
            tasks,
            questions,
            failures,
        }
    }

    /// Points earned on the tasks.
    pub fn score(&self) -> f64 {
        // A fold from +0.0: `Sum` for floats starts at -0.0, printed as "-0".
        self.tasks
            .iter()
            .filter(|t| t.passed)
            .fold(0.0, |sum, t| sum + t.points)
    }

    /// Points the tasks are worth (questions not included).
    pub fn max_score(&self) -> f64 {
        self.tasks.iter().fold(0.0, |sum, t| sum + t.points)
    }

    /// The grade as JSON: `notebook`, `tasks`, `score`, `max_score`, `questions`, `failures`.
    pub fn to_json(&self) -> Value {
        json!({
            "notebook": self.notebook,
            "executed": self.executed,
            "tasks": self.tasks.iter().map(|t| json!({
                "id": t.id, "points": t.points, "passed": t.passed, "message": t.message,
            })).collect::<Vec<_>>(),
            "score": self.score(),
            "max_score": self.max_score(),
            "questions": self.questions.iter().map(|(id, points, text)| json!({
                "id": id, "points": points, "graded": "by hand", "answer": text,
            })).collect::<Vec<_>>(),
            "failures": self.failures.iter().map(|f| json!({
                "cell": f.index, "error": f.ename, "message": f.evalue,
            })).collect::<Vec<_>>(),
        })
    }

    /// The grade as an HTML feedback page for the student.
    pub fn feedback_html(&self) -> String {
        let mut s = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Feedback: {name}</title>\
             <style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}\
             td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
             table{{border-collapse:collapse}}.pass{{color:#0a7d32}}.fail{{color:#b00000}}</style>\
             </head><body>\n<h1>Feedback: {name}</h1>\n<p>Score: <b>{score} / {max}</b> \
             (questions are graded by hand)</p>\n<h2>Tasks</h2>\n<table>\
             <tr><th>task</th><th>points</th><th>result</th><th>message</th></tr>\n",
            name = escape(&self.notebook),
            score = self.score(),
            max = self.max_score(),
        );
        for t in &self.tasks {
            let (class, result) = if t.passed {
                ("pass", "passed")
            } else {
                ("fail", "failed")
            };
            s.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{result}</td><td>{}</td></tr>\n",
                escape(&t.id),
                t.points,
                escape(&t.message)
            ));
        }
        s.push_str("</table>\n");
        if !self.questions.is_empty() {
            s.push_str("<h2>Questions (graded by hand)</h2>\n");
            for (id, points, text) in &self.questions {
                s.push_str(&format!(
                    "<h3>{} ({points} points)</h3>\n<pre>{}</pre>\n",
                    escape(id),
                    escape(text)
                ));
            }
        }
        if !self.failures.is_empty() {
            s.push_str("<h2>Cells that failed</h2>\n<ul>\n");
            for f in &self.failures {
                s.push_str(&format!("<li><pre>{}</pre></li>\n", escape(&f.to_string())));
            }
            s.push_str("</ul>\n");
        }
        s.push_str("</body></html>\n");
        s
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One CSV row per grade: `notebook,score,max_score`, then the points earned per task (the
/// union of all task ids, in first-seen order; empty where a notebook lacks the task).
pub fn csv(grades: &[Grade]) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for g in grades {
        for t in &g.tasks {
            if !ids.contains(&t.id.as_str()) {
                ids.push(&t.id);
            }
        }
    }
    let mut out = String::from("notebook,score,max_score");
    for id in &ids {
        out.push(',');
        out.push_str(&csv_field(id));
    }
    out.push('\n');
    for g in grades {
        out.push_str(&format!(
            "{},{},{}",
            csv_field(&g.notebook),
            g.score(),
            g.max_score()
        ));
        for id in &ids {
            out.push(',');
            if let Some(t) = g.tasks.iter().find(|t| t.id == *id) {
                out.push_str(&(if t.passed { t.points } else { 0.0 }).to_string());
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker_html(task: &str, passed: bool) -> String {
        let json = json!({"task": task, "passed": passed, "message": "m <1>"}).to_string();
        format!(
            "<div {MARKER_ATTRIBUTE}=\"{}\">x</div>",
            escape(&json).replace('\'', "&#39;")
        )
    }

    fn notebook(cells: Value) -> Notebook {
        Notebook::parse(
            &json!({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells})
                .to_string(),
        )
        .unwrap()
    }

    fn code(id: &str, meta: Value, source: &str, html: Option<String>) -> Value {
        let outputs = html.map_or(
            json!([]),
            |h| json!([{"output_type": "display_data", "metadata": {}, "data": {"text/html": h}}]),
        );
        json!({"cell_type": "code", "id": id, "metadata": meta, "source": source,
               "outputs": outputs, "execution_count": null})
    }

    #[test]
    fn tasks_pass_only_when_every_check_passed() {
        let t = |id: &str, p: u32| json!({"workbench": {"task": id, "points": p}});
        let nb = notebook(json!([
            code("a", t("one", 2), "", Some(marker_html("one", true))),
            code("b", json!({}), "", Some(marker_html("one", true))),
            code("c", t("two", 3), "", Some(marker_html("two", true) + &marker_html("two", false))),
            code("d", t("three", 1), "", None),
            {"cell_type": "markdown", "id": "q", "metadata": {"workbench": {"question": "why", "points": 2}},
             "source": "Why? Because."},
        ]));
        assert_eq!(markers(&nb).len(), 4);
        assert_eq!(markers(&nb)[0].1["message"], "m <1>");
        let g = Grade::new("s.ipynb".into(), "o.ipynb".into(), &nb, &nb, vec![]);
        let passed: Vec<bool> = g.tasks.iter().map(|t| t.passed).collect();
        assert_eq!(passed, [true, false, false]);
        assert_eq!(g.tasks[2].message, "no check ran");
        assert_eq!((g.score(), g.max_score()), (2.0, 6.0));
        let j = g.to_json();
        assert_eq!(j["questions"][0]["id"], "why");
        assert_eq!(j["questions"][0]["answer"], "Why? Because.");
        assert_eq!(j["score"], 2.0);
        assert!(g.feedback_html().contains("Score: <b>2 / 6</b>"));
        assert_eq!(
            csv(&[g]),
            "notebook,score,max_score,one,two,three\ns.ipynb,2,6,2,0,0\n"
        );
    }

    #[test]
    fn restores_hidden_cells_by_id_task_or_position() {
        let hidden = "check()\n// BEGIN HIDDEN TESTS\nsecret()\n// END HIDDEN TESTS";
        let task = json!({"workbench": {"task": "t"}});
        let source = notebook(json!([
            code("solution", task.clone(), "f", None),
            code(
                "by-task",
                task.clone(),
                "// BEGIN HIDDEN TESTS\nx\n// END HIDDEN TESTS",
                None
            ),
            code("first", json!({}), "a", None),
            code("by-id", json!({}), hidden, None),
            code(
                "by-position",
                json!({}),
                "// BEGIN HIDDEN TESTS\ny\n// END HIDDEN TESTS",
                None
            ),
        ]));
        let mut submission = notebook(json!([
            code("renamed", task, "f", None),
            code("first", json!({}), "a", None),
            code("by-id", json!({}), "check()", None),
            code("last", json!({}), "z", None),
        ]));
        assert_eq!(restore_hidden(&mut submission, &source), 3);
        let ids: Vec<_> = (0..submission.cell_count())
            .map(|i| submission.cell_id(i).unwrap_or("").to_owned())
            .collect();
        assert_eq!(
            ids,
            [
                "renamed",
                "by-task",
                "first",
                "by-id",
                "by-position",
                "last"
            ]
        );
        assert_eq!(submission.source(3), hidden);
    }

    #[test]
    fn csv_quotes_fields() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
