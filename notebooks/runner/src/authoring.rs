//! The authoring conventions of teaching notebooks: solution and hidden-test regions, and the
//! task and question metadata of cells.
//!
//! - In a code cell, the lines from `// BEGIN SOLUTION` to `// END SOLUTION` are the teacher's
//!   answer. The student version replaces them with `todo!()` at the marker's indentation, so
//!   a function with a fixed signature still compiles; a region that is one statement
//!   `let x: T = <expr>;` becomes `let x: T = todo!();` instead.
//! - In a markdown cell, `<!-- BEGIN SOLUTION -->` ... `<!-- END SOLUTION -->` is a model
//!   answer; the student version shows [`ANSWER_PLACEHOLDER`] there.
//! - In a code cell, the lines from `// BEGIN HIDDEN TESTS` to `// END HIDDEN TESTS` are
//!   removed from the student version (the whole cell if nothing else is left) and put back
//!   for grading.
//! - Cell metadata `"workbench": {"task": "id", "points": N}` (or tags `task:id`, `points:N`)
//!   names a task; `"workbench": {"question": "id", "points": N}` on a markdown cell (or tag
//!   `question:id`) names a question graded by hand. Points default to 1.

use crate::notebook::Notebook;
use anyhow::{bail, Result};
use serde_json::Value;

/// Starts a solution region in a code cell.
pub const BEGIN_SOLUTION: &str = "// BEGIN SOLUTION";
/// Ends a solution region in a code cell.
pub const END_SOLUTION: &str = "// END SOLUTION";
/// Starts a model answer in a markdown cell.
pub const BEGIN_ANSWER: &str = "<!-- BEGIN SOLUTION -->";
/// Ends a model answer in a markdown cell.
pub const END_ANSWER: &str = "<!-- END SOLUTION -->";
/// Starts a hidden-test region in a code cell.
pub const BEGIN_HIDDEN: &str = "// BEGIN HIDDEN TESTS";
/// Ends a hidden-test region in a code cell.
pub const END_HIDDEN: &str = "// END HIDDEN TESTS";
/// What the student version shows in place of a markdown model answer.
pub const ANSWER_PLACEHOLDER: &str = "*Your answer here.*";

/// What a cell is for in a teaching notebook.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A graded task: its id and points.
    Task { id: String, points: f64 },
    /// A question graded by hand: its id and points.
    Question { id: String, points: f64 },
}

/// The role cell `index` of `notebook` declares in its metadata or tags, if any.
pub fn role(notebook: &Notebook, index: usize) -> Option<Role> {
    let meta = notebook.cell(index).pointer("/metadata/workbench");
    let tags = notebook.tags(index);
    let tag = |prefix: &str| {
        tags.iter()
            .find_map(|t| t.strip_prefix(prefix).map(str::to_owned))
    };
    let points = meta
        .and_then(|m| m.get("points"))
        .and_then(Value::as_f64)
        .or_else(|| tag("points:").and_then(|p| p.parse().ok()))
        .unwrap_or(1.0);
    let named = |key: &str| {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| tag(&format!("{key}:")))
    };
    if let Some(id) = named("task") {
        return Some(Role::Task { id, points });
    }
    named("question").map(|id| Role::Question { id, points })
}

/// The tasks of `notebook` in order, each id once: (id, points).
pub fn tasks(notebook: &Notebook) -> Vec<(String, f64)> {
    let mut tasks: Vec<(String, f64)> = Vec::new();
    for index in 0..notebook.cell_count() {
        if let Some(Role::Task { id, points }) = role(notebook, index) {
            if !tasks.iter().any(|(t, _)| *t == id) {
                tasks.push((id, points));
            }
        }
    }
    tasks
}

/// The questions of `notebook` in order: (id, points, cell index).
pub fn questions(notebook: &Notebook) -> Vec<(String, f64, usize)> {
    (0..notebook.cell_count())
        .filter_map(|index| match role(notebook, index) {
            Some(Role::Question { id, points }) => Some((id, points, index)),
            _ => None,
        })
        .collect()
}

/// A region between a begin and an end marker line: line indices of both markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    begin: usize,
    end: usize,
}

/// The regions of `lines` between lines starting (after indentation) with `begin` and `end`.
fn regions(lines: &[&str], begin: &str, end: &str) -> Result<Vec<Region>> {
    let mut found = Vec::new();
    let mut open: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with(begin) {
            if let Some(b) = open {
                bail!(
                    "line {}: {begin} inside the region opened on line {}",
                    i + 1,
                    b + 1
                );
            }
            open = Some(i);
        } else if t.starts_with(end) {
            let Some(b) = open.take() else {
                bail!("line {}: {end} without {begin}", i + 1);
            };
            found.push(Region { begin: b, end: i });
        }
    }
    if let Some(b) = open {
        bail!("line {}: {begin} without {end}", b + 1);
    }
    Ok(found)
}

/// Replaces each region of `source` by what `stub` makes of its marker indentation and its
/// inner lines.
fn replace_regions(
    source: &str,
    begin: &str,
    end: &str,
    stub: impl Fn(&str, &[&str]) -> Option<String>,
) -> Result<String> {
    let lines: Vec<&str> = source.lines().collect();
    let found = regions(&lines, begin, end)?;
    if found.is_empty() {
        return Ok(source.to_owned());
    }
    let mut out: Vec<String> = Vec::new();
    let mut next = 0;
    for r in found {
        out.extend(lines[next..r.begin].iter().map(|l| l.to_string()));
        let line = lines[r.begin];
        let indent = &line[..line.len() - line.trim_start().len()];
        out.extend(stub(indent, &lines[r.begin + 1..r.end]));
        next = r.end + 1;
    }
    out.extend(lines[next..].iter().map(|l| l.to_string()));
    let mut text = out.join("\n");
    if source.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// `let <pattern>: <type> =` of a region that is one `let` statement, if it is one.
fn let_head(inner: &[&str]) -> Option<String> {
    let code: Vec<&str> = inner
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .collect();
    let first = code.first()?;
    if !first.starts_with("let ") || !code.last()?.ends_with(';') {
        return None;
    }
    let joined = code.join(" ");
    // A single statement: the only `;` ends it.
    if joined.matches(';').count() != 1 {
        return None;
    }
    let eq = joined.find(" = ")?;
    Some(joined[..eq].to_owned())
}

/// The student version of a code cell's source: every solution region stubbed with `todo!()`.
pub fn stub_code(source: &str) -> Result<String> {
    replace_regions(source, BEGIN_SOLUTION, END_SOLUTION, |indent, inner| {
        Some(match let_head(inner) {
            Some(head) => format!("{indent}// TODO: your code here\n{indent}{head} = todo!();"),
            None => format!("{indent}// TODO: your code here\n{indent}todo!()"),
        })
    })
}

/// The student version of a markdown cell's source: model answers replaced by a placeholder.
pub fn stub_markdown(source: &str) -> Result<String> {
    replace_regions(source, BEGIN_ANSWER, END_ANSWER, |_, _| {
        Some(ANSWER_PLACEHOLDER.to_owned())
    })
}

/// `source` without its hidden-test regions.
pub fn strip_hidden(source: &str) -> Result<String> {
    replace_regions(source, BEGIN_HIDDEN, END_HIDDEN, |_, _| None)
}

/// Whether `source` holds a hidden-test region.
pub fn has_hidden(source: &str) -> bool {
    source
        .lines()
        .any(|l| l.trim_start().starts_with(BEGIN_HIDDEN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_a_function_body() {
        let src = "fn conv_out(n: usize, k: usize) -> usize {\n    // BEGIN SOLUTION\n    n - k + 1\n    // END SOLUTION\n}\nconv_out(3, 1)";
        assert_eq!(
            stub_code(src).unwrap(),
            "fn conv_out(n: usize, k: usize) -> usize {\n    // TODO: your code here\n    todo!()\n}\nconv_out(3, 1)"
        );
    }

    #[test]
    fn stubs_a_let_expression_and_keeps_its_type() {
        let src = "// BEGIN SOLUTION\nlet drop: f64 =\n    float - int8;\n// END SOLUTION\nprintln!(\"{drop}\");\n";
        assert_eq!(
            stub_code(src).unwrap(),
            "// TODO: your code here\nlet drop: f64 = todo!();\nprintln!(\"{drop}\");\n"
        );
        // Two statements are not one `let`: the region becomes `todo!()`.
        assert!(let_head(&["let a = 1;", "let b = 2;"]).is_none());
    }

    #[test]
    fn unbalanced_markers_are_errors_with_line_numbers() {
        let err = stub_code("a\n// BEGIN SOLUTION\nb").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: // BEGIN SOLUTION without // END SOLUTION"
        );
        let err = stub_code("// END SOLUTION").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: // END SOLUTION without // BEGIN SOLUTION"
        );
        assert!(stub_code("// BEGIN SOLUTION\n// BEGIN SOLUTION\n// END SOLUTION").is_err());
    }

    #[test]
    fn strips_hidden_tests_and_model_answers() {
        let src = "check_a()\n// BEGIN HIDDEN TESTS\ncheck_b()\n// END HIDDEN TESTS\n";
        assert!(has_hidden(src));
        assert_eq!(strip_hidden(src).unwrap(), "check_a()\n");
        assert!(!has_hidden("check_a()"));
        let md = "Why?\n\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->";
        assert_eq!(stub_markdown(md).unwrap(), "Why?\n\n*Your answer here.*");
    }

    #[test]
    fn reads_roles_from_metadata_and_tags() {
        let nb = Notebook::parse(
            r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
              {"cell_type": "code", "id": "a", "metadata": {"workbench": {"task": "t1", "points": 2}},
               "source": "", "outputs": [], "execution_count": null},
              {"cell_type": "code", "id": "b", "metadata": {"tags": ["task:t2"]},
               "source": "", "outputs": [], "execution_count": null},
              {"cell_type": "code", "id": "c", "metadata": {"workbench": {"task": "t1"}},
               "source": "", "outputs": [], "execution_count": null},
              {"cell_type": "markdown", "id": "d", "metadata": {"workbench": {"question": "q", "points": 3}},
               "source": "Why?"}]}"#,
        )
        .unwrap();
        assert_eq!(
            tasks(&nb),
            vec![("t1".to_owned(), 2.0), ("t2".to_owned(), 1.0)]
        );
        assert_eq!(questions(&nb), vec![("q".to_owned(), 3.0, 3)]);
    }
}
