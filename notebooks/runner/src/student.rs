//! The student version of a teaching notebook: solutions stubbed, hidden tests removed,
//! outputs cleared, every other cell and field kept.

use crate::authoring;
use crate::notebook::Notebook;
use anyhow::{Context, Result};

/// What making a student version changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StudentSummary {
    /// Cells whose solution regions were stubbed.
    pub stubbed: usize,
    /// Cells with hidden tests (removed, or cut down to their visible part).
    pub hidden: usize,
    /// Cells removed because only hidden tests were in them.
    pub removed: usize,
}

/// Turns `notebook` (the teacher's) into its student version in place.
pub fn make_student(notebook: &mut Notebook) -> Result<StudentSummary> {
    let mut summary = StudentSummary::default();
    let mut index = 0;
    while index < notebook.cell_count() {
        let source = notebook.source(index);
        let context = || format!("cell {index} (`{}`)", first_line(&source));
        let stubbed = match notebook.cell_type(index) {
            "code" => {
                let visible = authoring::strip_hidden(&source).with_context(context)?;
                if visible != source {
                    summary.hidden += 1;
                    if visible.trim().is_empty() {
                        notebook.remove_cell(index);
                        summary.removed += 1;
                        continue;
                    }
                }
                authoring::stub_code(&visible).with_context(context)?
            }
            "markdown" => authoring::stub_markdown(&source).with_context(context)?,
            _ => source.clone(),
        };
        if stubbed != source {
            if authoring::strip_hidden(&source)? != stubbed {
                summary.stubbed += 1;
            }
            notebook.set_source(index, &stubbed);
        }
        index += 1;
    }
    notebook.clear_outputs();
    Ok(summary)
}

fn first_line(source: &str) -> &str {
    source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEACHER: &str = r##"{"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "rust"}}, "cells": [
      {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": "# Title"},
      {"cell_type": "code", "id": "task", "metadata": {"workbench": {"task": "t", "points": 2}},
       "source": "fn f() -> u8 {\n    // BEGIN SOLUTION\n    1\n    // END SOLUTION\n}",
       "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}], "execution_count": 3},
      {"cell_type": "code", "id": "check", "metadata": {},
       "source": "let c = 1;\n// BEGIN HIDDEN TESTS\nlet d = 2;\n// END HIDDEN TESTS\n", "outputs": [], "execution_count": null},
      {"cell_type": "code", "id": "hidden", "metadata": {},
       "source": "// BEGIN HIDDEN TESTS\nsecret()\n// END HIDDEN TESTS", "outputs": [], "execution_count": null},
      {"cell_type": "markdown", "id": "q", "metadata": {"workbench": {"question": "q"}},
       "source": "Why?\n<!-- BEGIN SOLUTION -->\nBecause.\n<!-- END SOLUTION -->"}]}"##;

    #[test]
    fn stubs_strips_and_clears() {
        let mut nb = Notebook::parse(TEACHER).unwrap();
        let summary = make_student(&mut nb).unwrap();
        assert_eq!(
            summary,
            StudentSummary {
                stubbed: 2,
                hidden: 2,
                removed: 1
            }
        );
        assert_eq!(nb.cell_count(), 4);
        assert_eq!(
            nb.source(1),
            "fn f() -> u8 {\n    // TODO: your code here\n    todo!()\n}"
        );
        assert_eq!(nb.cell(1)["outputs"], serde_json::json!([]));
        assert_eq!(nb.cell(1)["execution_count"], serde_json::Value::Null);
        assert_eq!(nb.cell(1)["metadata"]["workbench"]["points"], 2);
        assert_eq!(nb.source(2), "let c = 1;\n");
        assert_eq!(nb.cell_id(3), Some("q"));
        assert_eq!(nb.source(3), "Why?\n*Your answer here.*");
    }

    #[test]
    fn names_the_cell_of_a_bad_region() {
        let bad = TEACHER.replace("    // END SOLUTION\\n", "");
        let mut nb = Notebook::parse(&bad).unwrap();
        let err = format!("{:#}", make_student(&mut nb).unwrap_err());
        assert_eq!(
            err,
            "cell 1 (`fn f() -> u8 {`): line 2: // BEGIN SOLUTION without // END SOLUTION"
        );
    }
}
