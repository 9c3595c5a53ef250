//! Checks for teaching notebooks: run a student's function or value on known cases and show
//! pass or fail.
//!
//! ```
//! use workbench::check::Check;
//! fn conv_out(input: usize, kernel: usize) -> usize { input - kernel + 1 }
//! let check = Check::new("conv_out")
//!     .equal("conv_out(28, 3)", || conv_out(28, 3), 26)
//!     .close("1/3", || 1.0 / 3.0, 0.333, 1e-3);
//! assert!(check.passed());
//! let todo = Check::new("todo").equal("f()", || -> u8 { todo!() }, 1);
//! assert!(!todo.passed());
//! assert!(todo.marker().contains("\"done\":false"));
//! ```
//!
//! Each case runs inside [`std::panic::catch_unwind`], so a `todo!()` (the student version of a
//! task) shows as "not done yet" and any other panic as a failure with its message; the cell
//! still succeeds, the notebook runs on and the kernel keeps its variables. While a case runs
//! the panic hook is silenced (process-wide: a panic on another thread in that moment prints
//! nothing either).
//!
//! A check shows as an HTML table (its `evcxr_display`); the table's `data-workbench-check`
//! attribute carries the [`Check::marker`] JSON (task, passed, message) that
//! `workbench-notebook grade` reads from the executed notebook.

use crate::display::{evcxr, html::escape};
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// HTML attribute holding a check's machine-readable result.
pub const MARKER_ATTRIBUTE: &str = "data-workbench-check";

/// Start of the message `todo!()` panics with.
const TODO_MESSAGE: &str = "not yet implemented";

/// How one case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The answer matched.
    Pass,
    /// The answer differed.
    Fail,
    /// The code reached `todo!()`.
    NotDone,
    /// The code panicked with this message.
    Panicked(String),
}

/// One checked case: what was run, the expected and actual answers, and a hint.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// What the case runs, e.g. `conv_out(28, 3)`.
    pub name: String,
    /// The expected answer, formatted.
    pub expected: String,
    /// The student's answer, formatted (empty when it did not return).
    pub got: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Shown when the case does not pass.
    pub hint: String,
}

/// The cases checked for one task, shown as a pass/fail table.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    task: String,
    cases: Vec<Case>,
}

/// Runs `f`, catching a panic (with the panic hook silenced); returns its value or the message.
pub fn attempt<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-text payload".to_owned())
    })
}

impl Check {
    /// An empty check for the task named `task` (the id in the task cell's metadata).
    pub fn new(task: &str) -> Check {
        Check {
            task: task.to_owned(),
            cases: Vec::new(),
        }
    }

    /// Adds a case that passes when `got(&value)` holds for the value `f` returns.
    pub fn case<T: Debug>(
        mut self,
        name: &str,
        f: impl FnOnce() -> T,
        expected: impl Into<String>,
        ok: impl FnOnce(&T) -> bool,
    ) -> Check {
        let (got, outcome) = match attempt(f) {
            Ok(value) => {
                let pass = ok(&value);
                let outcome = if pass { Outcome::Pass } else { Outcome::Fail };
                (format!("{value:?}"), outcome)
            }
            Err(message) if message.starts_with(TODO_MESSAGE) => (String::new(), Outcome::NotDone),
            Err(message) => (String::new(), Outcome::Panicked(message)),
        };
        self.cases.push(Case {
            name: name.to_owned(),
            expected: expected.into(),
            got,
            outcome,
            hint: String::new(),
        });
        self
    }

    /// Adds a case that passes when `f` returns exactly `expected`.
    pub fn equal<T: Debug + PartialEq>(
        self,
        name: &str,
        f: impl FnOnce() -> T,
        expected: T,
    ) -> Check {
        let shown = format!("{expected:?}");
        self.case(name, f, shown, move |got| *got == expected)
    }

    /// Adds a case that passes when `f` returns a number within `tolerance` of `expected`.
    pub fn close(
        self,
        name: &str,
        f: impl FnOnce() -> f64,
        expected: f64,
        tolerance: f64,
    ) -> Check {
        self.case(name, f, format!("{expected} ± {tolerance}"), move |got| {
            (got - expected).abs() <= tolerance
        })
    }

    /// Adds a case that passes when `f` returns as many numbers as `expected`, each within
    /// `tolerance` of its counterpart.
    pub fn close_all(
        self,
        name: &str,
        f: impl FnOnce() -> Vec<f32>,
        expected: &[f32],
        tolerance: f32,
    ) -> Check {
        let shown = format!("{expected:?} ± {tolerance}");
        let expected = expected.to_vec();
        self.case(name, f, shown, move |got| {
            got.len() == expected.len()
                && got
                    .iter()
                    .zip(&expected)
                    .all(|(g, e)| (g - e).abs() <= tolerance)
        })
    }

    /// Adds a case that passes when `f` returns the shape `expected`.
    pub fn shape(self, name: &str, f: impl FnOnce() -> Vec<usize>, expected: &[usize]) -> Check {
        self.equal(name, f, expected.to_vec())
    }

    /// Sets the hint of the last case added.
    pub fn hint(mut self, hint: &str) -> Check {
        if let Some(case) = self.cases.last_mut() {
            case.hint = hint.to_owned();
        }
        self
    }

    /// The task this check grades.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// The cases checked so far.
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// Whether there is at least one case and every case passed.
    pub fn passed(&self) -> bool {
        !self.cases.is_empty() && self.cases.iter().all(|c| c.outcome == Outcome::Pass)
    }

    /// Whether no case reached `todo!()`.
    pub fn done(&self) -> bool {
        self.cases.iter().all(|c| c.outcome != Outcome::NotDone)
    }

    /// One line on the first case that did not pass, or on the cases passed.
    pub fn message(&self) -> String {
        let Some(case) = self.cases.iter().find(|c| c.outcome != Outcome::Pass) else {
            return match self.cases.len() {
                0 => "no cases checked".to_owned(),
                n => format!("{n} of {n} cases passed"),
            };
        };
        let mut message = match &case.outcome {
            Outcome::NotDone => format!("{}: not done yet", case.name),
            Outcome::Panicked(why) => format!("{}: panicked: {why}", case.name),
            _ => format!(
                "{}: expected {}, got {}",
                case.name, case.expected, case.got
            ),
        };
        if !case.hint.is_empty() {
            message.push_str(&format!(" (hint: {})", case.hint));
        }
        message
    }

    /// The machine-readable result: JSON with `task`, `passed`, `done`, `cases`, `failed`, `message`.
    pub fn marker(&self) -> String {
        let failed = self
            .cases
            .iter()
            .filter(|c| c.outcome != Outcome::Pass)
            .count();
        serde_json::json!({
            "task": self.task,
            "passed": self.passed(),
            "done": self.done(),
            "cases": self.cases.len(),
            "failed": failed,
            "message": self.message(),
        })
        .to_string()
    }

    /// The result as an HTML table carrying the marker in its `data-workbench-check` attribute.
    pub fn to_html(&self) -> String {
        let (badge, color) = if self.passed() {
            ("passed", "#0a7d32")
        } else if !self.done() {
            ("not done yet", "#8a6d00")
        } else {
            ("failed", "#b00000")
        };
        let mut s = format!(
            "<div class=\"workbench-check\" {MARKER_ATTRIBUTE}=\"{}\">\n\
             <p><b>check {}</b>: <span style=\"color:{color}\"><b>{badge}</b></span></p>\n\
             <table>\n<tr><th>case</th><th>result</th><th>expected</th><th>got</th><th>hint</th></tr>\n",
            escape(&self.marker()),
            escape(&self.task),
        );
        for case in &self.cases {
            let (result, color, got) = match &case.outcome {
                Outcome::Pass => ("pass", "#0a7d32", case.got.clone()),
                Outcome::Fail => ("fail", "#b00000", case.got.clone()),
                Outcome::NotDone => ("not done yet", "#8a6d00", "todo!()".to_owned()),
                Outcome::Panicked(why) => ("panic", "#b00000", format!("panicked: {why}")),
            };
            let hint = if case.outcome == Outcome::Pass {
                ""
            } else {
                case.hint.as_str()
            };
            s.push_str(&format!(
                "<tr><td><code>{}</code></td><td style=\"color:{color}\"><b>{result}</b></td>\
                 <td><code>{}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
                escape(&case.name),
                escape(&case.expected),
                escape(&got),
                escape(hint)
            ));
        }
        s.push_str("</table>\n</div>");
        s
    }

    /// Shows the result as HTML in an evcxr notebook.
    pub fn evcxr_display(&self) {
        evcxr::print_html(&self.to_html());
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed() { "passed" } else { "failed" };
        write!(f, "check {}: {verdict}: {}", self.task, self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv_out(input: usize, kernel: usize, stride: usize) -> usize {
        (input - kernel) / stride + 1
    }

    #[test]
    fn passing_cases_pass() {
        let c = Check::new("conv")
            .equal("conv_out(28, 3, 1)", || conv_out(28, 3, 1), 26)
            .close("mean", || 0.5 + 1e-7, 0.5, 1e-6)
            .close_all("v", || vec![1.0, 2.0], &[1.0, 2.0001], 1e-3)
            .shape("shape", || vec![2, 3], &[2, 3]);
        assert!(c.passed(), "{c}");
        assert_eq!(c.message(), "4 of 4 cases passed");
    }

    #[test]
    fn wrong_answer_fails_with_expected_got_and_hint() {
        let c = Check::new("conv")
            .equal("conv_out(28, 3, 2)", || conv_out(28, 3, 1), 13)
            .hint("divide by the stride");
        assert!(!c.passed());
        assert!(c.done());
        assert_eq!(
            c.message(),
            "conv_out(28, 3, 2): expected 13, got 26 (hint: divide by the stride)"
        );
        assert!(c.to_html().contains("divide by the stride"));
    }

    #[test]
    fn todo_is_not_done_and_other_panics_fail() {
        let c = Check::new("t").equal("f()", || -> i32 { todo!() }, 1);
        assert_eq!(c.cases()[0].outcome, Outcome::NotDone);
        assert!(!c.done() && !c.passed());
        let c = Check::new("t").equal("g()", || -> i32 { panic!("index {}", 3) }, 1);
        assert_eq!(c.cases()[0].outcome, Outcome::Panicked("index 3".into()));
        assert_eq!(c.message(), "g(): panicked: index 3");
        // Sizes and closeness tolerate nothing beyond their bounds.
        let c = Check::new("t").close_all("v", || vec![1.0], &[1.0, 2.0], 1.0);
        assert!(!c.passed());
    }

    #[test]
    fn empty_check_does_not_pass() {
        assert!(!Check::new("t").passed());
    }

    #[test]
    fn marker_is_json_in_an_escaped_attribute() {
        let c = Check::new("a\"b").equal("x < y", || 1, 2);
        let marker: serde_json::Value = serde_json::from_str(&c.marker()).unwrap();
        assert_eq!(marker["task"], "a\"b");
        assert_eq!(marker["passed"], false);
        assert_eq!(marker["failed"], 1);
        let html = c.to_html();
        let at = html.find(MARKER_ATTRIBUTE).unwrap();
        let value = &html[at + MARKER_ATTRIBUTE.len() + 2..];
        let value = &value[..value.find('"').unwrap()];
        assert!(value.contains("&quot;task&quot;:&quot;a\\&quot;b&quot;"));
        assert!(!html.contains("x < y"));
    }
}
