//! Reading and writing Jupyter notebooks (nbformat 4 JSON).

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// A notebook held as its JSON document, so fields this runner does not know survive a round trip.
#[derive(Debug, Clone)]
pub struct Notebook {
    doc: Value,
}

/// One output of a code cell, as nbformat 4 defines it.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Text written to `stdout` or `stderr`.
    Stream { name: &'static str, text: String },
    /// A rich display: MIME type → content.
    DisplayData { data: Vec<(String, String)> },
    /// The value of the cell's final expression: MIME type → content.
    ExecuteResult {
        execution_count: u64,
        data: Vec<(String, String)>,
    },
    /// A failure: error name, message and traceback lines.
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
}

impl Notebook {
    /// Reads and checks an nbformat 4 notebook.
    pub fn read(path: &Path) -> Result<Notebook> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading notebook {}", path.display()))?;
        Notebook::parse(&text).with_context(|| format!("notebook {}", path.display()))
    }

    /// Parses and checks an nbformat 4 notebook from JSON text.
    pub fn parse(text: &str) -> Result<Notebook> {
        let doc: Value = serde_json::from_str(text).context("invalid JSON")?;
        match doc.get("nbformat").and_then(Value::as_u64) {
            Some(4) => {}
            Some(v) => bail!("unsupported nbformat {v}, expected 4"),
            None => bail!("missing nbformat version"),
        }
        let Some(cells) = doc.get("cells").and_then(Value::as_array) else {
            bail!("missing \"cells\" array");
        };
        for (index, cell) in cells.iter().enumerate() {
            if cell.get("cell_type").and_then(Value::as_str).is_none() {
                bail!("cell {index}: missing cell_type");
            }
            if source_of(cell).is_none() {
                bail!("cell {index}: source is neither a string nor a list of strings");
            }
        }
        Ok(Notebook { doc })
    }

    /// Writes the notebook as indented JSON, creating parent folders.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating folder {}", parent.display()))?;
        }
        let mut text = serde_json::to_string_pretty(&self.doc)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing notebook {}", path.display()))
    }

    /// Number of cells.
    pub fn cell_count(&self) -> usize {
        self.cells().len()
    }

    /// Whether cell `index` is a code cell.
    pub fn is_code(&self, index: usize) -> bool {
        self.cells()[index].get("cell_type").and_then(Value::as_str) == Some("code")
    }

    /// Source text of cell `index`.
    pub fn source(&self, index: usize) -> String {
        source_of(&self.cells()[index]).unwrap_or_default()
    }

    /// Whether cell `index` carries `tag` in `metadata.tags`.
    pub fn has_tag(&self, index: usize, tag: &str) -> bool {
        self.cells()[index]
            .pointer("/metadata/tags")
            .and_then(Value::as_array)
            .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(tag)))
    }

    /// The JSON of cell `index`.
    pub fn cell(&self, index: usize) -> &Value {
        &self.cells()[index]
    }

    /// The `cell_type` of cell `index` (`code`, `markdown`, `raw`).
    pub fn cell_type(&self, index: usize) -> &str {
        self.cells()[index]
            .get("cell_type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The `id` of cell `index` (nbformat 4.5), if it has one.
    pub fn cell_id(&self, index: usize) -> Option<&str> {
        self.cells()[index].get("id").and_then(Value::as_str)
    }

    /// The tags of cell `index`.
    pub fn tags(&self, index: usize) -> Vec<String> {
        self.cells()[index]
            .pointer("/metadata/tags")
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replaces the source of cell `index` with `source` (one string).
    pub fn set_source(&mut self, index: usize, source: &str) {
        self.cells_mut()[index]["source"] = Value::String(source.to_owned());
    }

    /// Inserts `cell` (a cell's JSON) at `index`.
    pub fn insert_cell(&mut self, index: usize, cell: Value) {
        self.cells_mut().insert(index, cell);
    }

    /// The outputs of code cell `index` (empty for other cells).
    pub fn outputs(&self, index: usize) -> &[Value] {
        self.cells()[index]
            .get("outputs")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// Removes cell `index`.
    pub fn remove_cell(&mut self, index: usize) {
        self.cells_mut().remove(index);
    }

    /// Inserts a new code cell with `source` and `tags` at `index`.
    pub fn insert_code_cell(&mut self, index: usize, source: &str, tags: &[&str]) {
        let mut cell = json!({
            "cell_type": "code",
            "execution_count": null,
            "metadata": { "tags": tags },
            "outputs": [],
            "source": source,
        });
        if self.needs_cell_ids() {
            cell["id"] = Value::String(format!("{tag}-{index}", tag = tags.join("-")));
        }
        self.cells_mut().insert(index, cell);
    }

    /// Clears the outputs and execution count of every code cell.
    pub fn clear_outputs(&mut self) {
        for cell in self.cells_mut() {
            if cell.get("cell_type").and_then(Value::as_str) == Some("code") {
                cell["outputs"] = json!([]);
                cell["execution_count"] = Value::Null;
            }
        }
    }

    /// Records the execution count and outputs of code cell `index`.
    pub fn set_outputs(&mut self, index: usize, execution_count: u64, outputs: &[Output]) {
        let cell = &mut self.cells_mut()[index];
        cell["execution_count"] = json!(execution_count);
        cell["outputs"] = Value::Array(outputs.iter().map(output_json).collect());
    }

    fn needs_cell_ids(&self) -> bool {
        self.doc
            .get("nbformat_minor")
            .and_then(Value::as_u64)
            .is_some_and(|minor| minor >= 5)
    }

    fn cells(&self) -> &Vec<Value> {
        self.doc["cells"].as_array().expect("checked by parse")
    }

    fn cells_mut(&mut self) -> &mut Vec<Value> {
        self.doc["cells"].as_array_mut().expect("checked by parse")
    }
}

fn source_of(cell: &Value) -> Option<String> {
    match cell.get("source")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(lines) => lines.iter().map(|l| l.as_str()).collect(),
        _ => None,
    }
}

/// A MIME bundle; JSON MIME types hold parsed JSON as nbformat requires.
fn mime_bundle(data: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (mime, content) in data {
        let value = if mime.ends_with("json") {
            serde_json::from_str(content).unwrap_or_else(|_| Value::String(content.clone()))
        } else {
            Value::String(content.clone())
        };
        map.insert(mime.clone(), value);
    }
    Value::Object(map)
}

fn output_json(output: &Output) -> Value {
    match output {
        Output::Stream { name, text } => {
            json!({ "output_type": "stream", "name": name, "text": text })
        }
        Output::DisplayData { data } => {
            json!({ "output_type": "display_data", "data": mime_bundle(data), "metadata": {} })
        }
        Output::ExecuteResult {
            execution_count,
            data,
        } => json!({
            "output_type": "execute_result",
            "execution_count": execution_count,
            "data": mime_bundle(data),
            "metadata": {},
        }),
        Output::Error {
            ename,
            evalue,
            traceback,
        } => json!({
            "output_type": "error",
            "ename": ename,
            "evalue": evalue,
            "traceback": traceback,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_nbformat_3() {
        let err = Notebook::parse(r#"{"nbformat": 3, "cells": []}"#).unwrap_err();
        assert_eq!(err.to_string(), "unsupported nbformat 3, expected 4");
    }

    #[test]
    fn joins_list_sources_and_reads_tags() {
        let nb = Notebook::parse(
            r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
                {"cell_type": "code", "id": "a", "metadata": {"tags": ["parameters"]},
                 "source": ["let x = 1;\n", "x"], "outputs": [], "execution_count": null}]}"#,
        )
        .unwrap();
        assert_eq!(nb.source(0), "let x = 1;\nx");
        assert!(nb.has_tag(0, "parameters"));
        assert!(!nb.has_tag(0, "injected-parameters"));
    }
}
