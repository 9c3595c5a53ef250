//! Papermill-style parameters: a cell tagged `injected-parameters` after the `parameters` cell.

use crate::notebook::Notebook;
use anyhow::{bail, Result};

/// Tag of the cell holding default parameter values.
pub const PARAMETERS_TAG: &str = "parameters";
/// Tag of the cell this runner inserts with the overrides.
pub const INJECTED_TAG: &str = "injected-parameters";

/// One `-p name value` override: `value` is a Rust expression, used verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Variable name (a Rust identifier).
    pub name: String,
    /// Rust expression assigned to it.
    pub value: String,
}

impl Parameter {
    /// Checks that `name` is a Rust identifier and `value` is not empty.
    pub fn new(name: &str, value: &str) -> Result<Parameter> {
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
            && chars.all(|c| c == '_' || c.is_alphanumeric())
            && name != "_";
        if !valid {
            bail!("parameter name {name:?} is not a Rust identifier");
        }
        if value.trim().is_empty() {
            bail!("parameter {name}: empty value");
        }
        Ok(Parameter {
            name: name.to_owned(),
            value: value.to_owned(),
        })
    }
}

/// The type written in a `let name: Type = ...;` declaration of `name` in `source`, if any.
///
/// evcxr infers each cell's variables on their own, so `let epochs = 1;` alone would
/// be an `i32`; repeating the declared type keeps `-p epochs 1` a `usize`.
pub fn declared_type(source: &str, name: &str) -> Option<String> {
    source.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("let ")?.trim_start();
        let rest = rest.strip_prefix("mut ").unwrap_or(rest).trim_start();
        let rest = rest.strip_prefix(name)?.trim_start();
        let ty = rest.strip_prefix(':')?;
        let ty = ty.split('=').next()?.trim();
        (!ty.is_empty()).then(|| ty.to_owned())
    })
}

/// Source of the injected cell: one `let name = value;` per parameter, typed as the
/// `parameters` cell (`defaults`) declares it.
pub fn injected_source(params: &[Parameter], defaults: &str) -> String {
    let mut source = String::from("// Injected parameters");
    for p in params {
        match declared_type(defaults, &p.name) {
            Some(ty) => source.push_str(&format!("\nlet {}: {ty} = {};", p.name, p.value)),
            None => source.push_str(&format!("\nlet {} = {};", p.name, p.value)),
        }
    }
    source
}

/// Replaces any earlier injected cell and inserts a new one right after the cell tagged
/// `parameters` (at the top if there is none); returns its index, or `None` without parameters.
pub fn inject(notebook: &mut Notebook, params: &[Parameter]) -> Option<usize> {
    if params.is_empty() {
        return None;
    }
    let mut index = 0;
    while index < notebook.cell_count() {
        if notebook.has_tag(index, INJECTED_TAG) {
            notebook.remove_cell(index);
        } else {
            index += 1;
        }
    }
    let defaults_cell = (0..notebook.cell_count()).find(|&i| notebook.has_tag(i, PARAMETERS_TAG));
    let defaults = defaults_cell
        .map(|i| notebook.source(i))
        .unwrap_or_default();
    let at = defaults_cell.map_or(0, |i| i + 1);
    notebook.insert_code_cell(at, &injected_source(params, &defaults), &[INJECTED_TAG]);
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_declared_types() {
        let src = "let epochs: usize = 5;\nlet mut lr: f64 = 1e-3;\nlet name = \"x\";\nlet epochs_2: u8 = 1;";
        assert_eq!(declared_type(src, "epochs").as_deref(), Some("usize"));
        assert_eq!(declared_type(src, "lr").as_deref(), Some("f64"));
        assert_eq!(declared_type(src, "name"), None);
        assert_eq!(declared_type(src, "missing"), None);
    }

    #[test]
    fn rejects_bad_names() {
        assert!(Parameter::new("epochs", "3").is_ok());
        assert!(Parameter::new("_lr2", "0.1").is_ok());
        assert!(Parameter::new("2x", "1").is_err()); // starts with a digit
        assert!(Parameter::new("a-b", "1").is_err()); // dash
        assert!(Parameter::new("_", "1").is_err()); // placeholder, not a binding
        assert!(Parameter::new("n", " ").is_err()); // empty value
    }

    #[test]
    fn injects_after_parameters_cell_and_replaces_old_injection() {
        let mut nb = Notebook::parse(
            r##"{"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [
                {"cell_type": "markdown", "metadata": {}, "source": "# t"},
                {"cell_type": "code", "metadata": {"tags": ["parameters"]},
                 "source": "let n: usize = 1;\nlet s = \"a\";", "outputs": [], "execution_count": null},
                {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
                 "source": "let n = 5;", "outputs": [], "execution_count": null},
                {"cell_type": "code", "metadata": {}, "source": "n", "outputs": [],
                 "execution_count": null}]}"##,
        )
        .unwrap();
        let params = [
            Parameter::new("n", "7").unwrap(),
            Parameter::new("s", "\"b\"").unwrap(),
        ];
        assert_eq!(inject(&mut nb, &params), Some(2));
        assert_eq!(nb.cell_count(), 4);
        assert_eq!(
            nb.source(2),
            "// Injected parameters\nlet n: usize = 7;\nlet s = \"b\";"
        );
        assert!(nb.has_tag(2, INJECTED_TAG));
        assert_eq!(nb.source(3), "n");
    }
}
