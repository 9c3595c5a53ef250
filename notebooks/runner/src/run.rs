//! Executing a notebook's code cells in one evcxr `CommandContext`.
//!
//! evcxr reports compile errors as `Err`, but a panic or an `Err` propagated with `?` in a cell
//! only prints a marker line on the runtime's stdout that evcxr consumes, and it keeps just the
//! last `EVCXR_BEGIN_CONTENT` block per MIME type. So the runtime subprocess (this same binary,
//! see [`filter_runtime_stdout`]) rewrites its stdout: display blocks get our own markers (kept in
//! order, one output each) and failures add a `WORKBENCH_CELL_FAILED` line.

use crate::notebook::{Notebook, Output};
use anyhow::{anyhow, bail, Context, Result};
use crossbeam_channel::{select, Receiver, Sender};
use evcxr::{CommandContext, EvalOutputs};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

const EVCXR_BEGIN: &str = "EVCXR_BEGIN_CONTENT ";
const EVCXR_END: &str = "EVCXR_END_CONTENT";
const EVCXR_PANIC: &str = "EVCXR_PANIC_NOTIFICATION";
const EVCXR_USER_ERROR: &str = "EVCXR_ERROR_OCCURRED";
const EVCXR_COMPLETE: &str = "EVCXR_EXECUTION_COMPLETE";
const BEGIN: &str = "WORKBENCH_BEGIN_CONTENT ";
const END: &str = "WORKBENCH_END_CONTENT";
const FAILED: &str = "WORKBENCH_CELL_FAILED ";
/// How long stderr must stay quiet after a cell before its stderr is considered complete
/// (evcxr forwards the runtime's stderr from another thread, unsynchronized with execution).
const STDERR_QUIET: Duration = Duration::from_millis(150);

/// How a cell failed.
#[derive(Debug, Clone)]
pub struct CellFailure {
    /// Index of the cell in the executed notebook.
    pub index: usize,
    /// First non-empty line of its source.
    pub first_line: String,
    /// Error name: `CompilationError`, `panic`, `Error`, ...
    pub ename: String,
    /// Error message.
    pub evalue: String,
}

impl std::fmt::Display for CellFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cell {} (`{}`) failed: {}: {}",
            self.index,
            self.first_line,
            self.ename,
            self.evalue.trim_end()
        )
    }
}

/// Wall time of one executed cell.
#[derive(Debug, Clone)]
pub struct CellTiming {
    /// Index of the cell.
    pub index: usize,
    /// Time from sending the cell to having all its output.
    pub elapsed: Duration,
}

/// Outcome of running a notebook: its code cells were executed until the first failure
/// (or to the end with [`RunOptions::keep_going`]).
#[derive(Debug)]
pub struct RunReport {
    /// The first failing cell, if any.
    pub failure: Option<CellFailure>,
    /// Every failing cell, in order (at most one without `keep_going`).
    pub failures: Vec<CellFailure>,
    /// Per-cell wall times, in execution order.
    pub timings: Vec<CellTiming>,
}

/// How to run a notebook.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run the cells after a failing one too (default: stop at the first failure).
    pub keep_going: bool,
    /// Kill a cell's evaluation after this long, compilation included (default: no limit).
    /// Cells of evcxr commands only (`:dep ...`, whose first build takes minutes) have no
    /// limit. The kernel's variables are lost then, so the run stops there.
    pub cell_timeout: Option<Duration>,
}

/// Ename of a cell stopped by [`RunOptions::cell_timeout`].
pub const TIMEOUT: &str = "Timeout";

/// Kills the evcxr runtime (process `pid`) unless told within `limit` that the cell ended;
/// the returned sender says so, the flag tells whether it killed.
fn watchdog(
    pid: u32,
    limit: Duration,
) -> (Sender<()>, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (done, done_rx) = crossbeam_channel::bounded::<()>(1);
    let fired = std::sync::Arc::new(AtomicBool::new(false));
    let flag = fired.clone();
    std::thread::spawn(move || {
        if let Err(crossbeam_channel::RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
            flag.store(true, Ordering::SeqCst);
            // SAFETY: sends a signal to the runtime subprocess this run started; no memory
            // is involved. A pid that already exited makes kill return an error, ignored.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    });
    (done, fired)
}

/// In the evcxr runtime subprocess: routes stdout through a pipe whose lines get our markers.
///
/// Call only when `EVCXR_IS_RUNTIME` is set, right before `evcxr::runtime_hook()`.
pub fn filter_runtime_stdout() -> std::io::Result<()> {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: plain POSIX calls on descriptors this function owns; fd 1 is replaced atomically by
    // dup2 and the original is kept open as `real` for the forwarding thread.
    let (reader, real) = unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let real = libc::dup(1);
        if real < 0 || libc::dup2(fds[1], 1) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::close(fds[1]);
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(real),
        )
    };
    std::thread::spawn(move || forward_runtime_stdout(BufReader::new(reader), real));
    Ok(())
}

fn forward_runtime_stdout(reader: impl BufRead, mut out: std::fs::File) {
    let mut in_block = false;
    // evcxr evaluates `42` while starting and waits for its stdout to be consumed, so the first
    // execution (ended by EVCXR_EXECUTION_COMPLETE) goes through unchanged for evcxr to parse.
    let mut started = false;
    for line in reader.split(b'\n') {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(&line);
        let written = if !started {
            started = text == EVCXR_COMPLETE;
            out.write_all(&line).and_then(|()| out.write_all(b"\n"))
        } else if let Some(mime) = text.strip_prefix(EVCXR_BEGIN) {
            in_block = true;
            writeln!(out, "{BEGIN}{mime}")
        } else if in_block && text == EVCXR_END {
            in_block = false;
            writeln!(out, "{END}")
        } else if text == EVCXR_PANIC {
            in_block = false;
            writeln!(out, "{EVCXR_PANIC}\n{FAILED}panic")
        } else if text == EVCXR_USER_ERROR {
            writeln!(out, "{EVCXR_USER_ERROR}\n{FAILED}error")
        } else {
            out.write_all(&line).and_then(|()| out.write_all(b"\n"))
        };
        if written.and_then(|()| out.flush()).is_err() {
            break;
        }
    }
}

/// Collects the evcxr context's stdout and stderr lines on a thread, as evcxr requires.
struct Collector {
    flush: Sender<()>,
    lines: Receiver<(Vec<String>, Vec<String>)>,
}

impl Collector {
    fn new(stdout: Receiver<String>, stderr: Receiver<String>) -> Collector {
        let (flush, flush_rx) = crossbeam_channel::unbounded::<()>();
        let (lines_tx, lines) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            loop {
                select! {
                    recv(stdout) -> line => match line {
                        Ok(line) => out.push(line),
                        Err(_) => return,
                    },
                    recv(stderr) -> line => match line {
                        Ok(line) => err.push(line),
                        Err(_) => return,
                    },
                    recv(flush_rx) -> request => {
                        if request.is_err() {
                            return;
                        }
                        // evcxr returns only once its stdout channel is drained, so all stdout
                        // lines are in `out`; stderr may still be on its way.
                        while let Ok(line) = stderr.recv_timeout(STDERR_QUIET) {
                            err.push(line);
                        }
                        let _ = lines_tx.send((std::mem::take(&mut out), std::mem::take(&mut err)));
                    },
                }
            }
        });
        Collector { flush, lines }
    }

    /// All stdout and stderr lines since the previous call.
    fn take(&self) -> Result<(Vec<String>, Vec<String>)> {
        self.flush
            .send(())
            .map_err(|_| anyhow!("output collector stopped"))?;
        self.lines
            .recv()
            .map_err(|_| anyhow!("output collector stopped"))
    }
}

/// One item of a cell's stdout, in order.
#[derive(Debug, PartialEq)]
enum Item {
    Text(String),
    Block(String, String),
    Failed(String),
}

fn parse_stdout(lines: Vec<String>) -> Vec<Item> {
    let mut items = Vec::new();
    let mut block: Option<(String, Vec<String>)> = None;
    for line in lines {
        if let Some(kind) = line.strip_prefix(FAILED) {
            if let Some((mime, content)) = block.take() {
                items.push(Item::Block(mime, content.join("\n")));
            }
            items.push(Item::Failed(kind.to_owned()));
        } else if line == EVCXR_PANIC || line == EVCXR_USER_ERROR {
            // Consumed by evcxr; never forwarded, but harmless to skip.
        } else if let Some((mime, content)) = &mut block {
            if line == END {
                items.push(Item::Block(std::mem::take(mime), content.join("\n")));
                block = None;
            } else {
                content.push(line);
            }
        } else if let Some(mime) = line.strip_prefix(BEGIN) {
            block = Some((mime.trim().to_owned(), Vec::new()));
        } else {
            items.push(Item::Text(line));
        }
    }
    if let Some((mime, content)) = block {
        items.push(Item::Block(mime, content.join("\n")));
    }
    items
}

fn sorted_bundle(outputs: EvalOutputs) -> Vec<(String, String)> {
    let mut data: Vec<_> = outputs.content_by_mime_type.into_iter().collect();
    data.sort();
    data
}

/// Whether every line of `source` is an evcxr command (`:dep ...`), a comment or blank.
fn commands_only(source: &str) -> bool {
    source
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with(':') || l.starts_with("//"))
}

/// Whether the cell source ends with an expression whose value evcxr displays.
fn ends_with_expression(source: &str) -> bool {
    let last = source
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("//"));
    last.is_some_and(|l| !l.ends_with(';') && !l.starts_with(':') && !l.ends_with('}'))
}

/// Turns a cell's stdout items, stderr and evcxr result into nbformat outputs.
fn cell_outputs(
    source: &str,
    execution_count: u64,
    items: Vec<Item>,
    stderr: &[String],
    value: Option<EvalOutputs>,
) -> (Vec<Output>, Option<String>) {
    let mut outputs = Vec::new();
    let mut failed = None;
    let mut text = String::new();
    let mut bundle: Vec<(String, String)> = Vec::new();
    let flush_text = |text: &mut String, outputs: &mut Vec<Output>| {
        if !text.is_empty() {
            outputs.push(Output::Stream {
                name: "stdout",
                text: std::mem::take(text),
            });
        }
    };
    let flush_bundle = |bundle: &mut Vec<(String, String)>, outputs: &mut Vec<Output>| {
        if !bundle.is_empty() {
            outputs.push(Output::DisplayData {
                data: std::mem::take(bundle),
            });
        }
    };
    for item in items {
        match item {
            Item::Text(line) => {
                flush_bundle(&mut bundle, &mut outputs);
                text.push_str(&line);
                text.push('\n');
            }
            Item::Block(mime, content) => {
                flush_text(&mut text, &mut outputs);
                // A repeated MIME type starts a new display.
                if bundle.iter().any(|(m, _)| *m == mime) {
                    flush_bundle(&mut bundle, &mut outputs);
                }
                bundle.push((mime, content));
            }
            Item::Failed(kind) => failed = Some(kind),
        }
    }
    flush_text(&mut text, &mut outputs);
    let value = value.filter(|v| !v.is_empty()).map(sorted_bundle);
    if !bundle.is_empty() && value.is_none() && failed.is_none() && ends_with_expression(source) {
        outputs.push(Output::ExecuteResult {
            execution_count,
            data: std::mem::take(&mut bundle),
        });
    }
    flush_bundle(&mut bundle, &mut outputs);
    if !stderr.is_empty() {
        outputs.push(Output::Stream {
            name: "stderr",
            text: stderr.iter().map(|l| format!("{l}\n")).collect(),
        });
    }
    if let Some(data) = value {
        outputs.push(Output::ExecuteResult {
            execution_count,
            data,
        });
    }
    (outputs, failed)
}

fn compile_error_output(errors: &[evcxr::CompilationError]) -> (String, Vec<String>) {
    let mut evalue = String::new();
    let mut traceback = Vec::new();
    for error in errors {
        let message = error.message();
        if !evalue.is_empty() {
            evalue.push('\n');
        }
        evalue.push_str(&message);
        traceback.push(format!("error: {message}"));
        if error.is_from_user_code() {
            for spanned in error.spanned_messages() {
                traceback.extend(spanned.lines.iter().cloned());
                if !spanned.label.is_empty() {
                    traceback.push(format!("  {}", spanned.label));
                }
            }
            traceback.extend(error.help().into_iter().map(|h| format!("help: {h}")));
        } else {
            traceback.push(error.rendered());
        }
    }
    (evalue, traceback)
}

/// The stderr of a failed cell without the backtrace evcxr's runtime prints (`RUST_BACKTRACE=1`).
fn failure_message(stderr: &[String]) -> String {
    stderr
        .iter()
        .take_while(|l| !l.starts_with("stack backtrace:"))
        .filter(|l| !l.starts_with("note: "))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

fn first_line(source: &str) -> String {
    source
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_owned()
}

/// Executes the code cells of `notebook` in order, recording outputs and execution counts,
/// and stops at the first failing cell.
pub fn run(notebook: &mut Notebook) -> Result<RunReport> {
    run_with(notebook, &RunOptions::default())
}

/// Executes the code cells of `notebook` in order as `options` say, recording outputs and
/// execution counts.
pub fn run_with(notebook: &mut Notebook, options: &RunOptions) -> Result<RunReport> {
    let (mut context, outputs) =
        CommandContext::new().map_err(|e| anyhow!("starting evcxr: {e}"))?;
    let collector = Collector::new(outputs.stdout, outputs.stderr);
    // As the Jupyter kernel does: evcxr.toml / init.evcxr / prelude.rs from the working
    // directory or the evcxr config directory (dependencies, prelude such as `:cache`).
    if let Err(error) = context.execute(":load_config") {
        bail!(
            "evcxr start-up configuration (evcxr.toml, init.evcxr or prelude.rs) failed: {error}"
        );
    }
    // Discard what evcxr's own start-up evaluation printed.
    collector.take().context("starting evcxr")?;
    notebook.clear_outputs();
    let mut report = RunReport {
        failure: None,
        failures: Vec::new(),
        timings: Vec::new(),
    };
    let mut execution_count = 0;
    for index in 0..notebook.cell_count() {
        if !notebook.is_code(index) {
            continue;
        }
        let source = notebook.source(index);
        execution_count += 1;
        let start = Instant::now();
        let guard = options
            .cell_timeout
            .filter(|_| !commands_only(&source))
            .and_then(|limit| {
                let pid = context.process_handle().lock().ok()?.id();
                // Never 0 or negative: kill(0) would signal this whole process group.
                (1..=i32::MAX as u32)
                    .contains(&pid)
                    .then(|| watchdog(pid, limit))
            });
        let result = context.execute(&source);
        let timed_out = guard.is_some_and(|(done, fired)| {
            let _ = done.send(());
            fired.load(std::sync::atomic::Ordering::SeqCst)
        });
        let (stdout, stderr) = collector.take()?;
        report.timings.push(CellTiming {
            index,
            elapsed: start.elapsed(),
        });
        let items = parse_stdout(stdout);
        let (value, error) = match result {
            Ok(value) => (Some(value), None),
            Err(evcxr::Error::CompilationErrors(errors)) => {
                let (evalue, traceback) = compile_error_output(&errors);
                (
                    None,
                    Some(("CompilationError".to_owned(), evalue, traceback)),
                )
            }
            Err(evcxr::Error::SubprocessTerminated(message)) => (
                None,
                Some((
                    "SubprocessTerminated".to_owned(),
                    message.clone(),
                    message.lines().map(str::to_owned).collect(),
                )),
            ),
            Err(other) => {
                let message = other.to_string();
                let lines = message.lines().map(str::to_owned).collect();
                (None, Some(("EvcxrError".to_owned(), message, lines)))
            }
        };
        let (mut outputs, failed) = cell_outputs(&source, execution_count, items, &stderr, value);
        let error = if timed_out {
            let limit = options.cell_timeout.unwrap_or_default().as_secs_f64();
            let message = format!("the cell ran longer than the time limit of {limit} s");
            Some((TIMEOUT.to_owned(), message.clone(), vec![message]))
        } else {
            error
        };
        let error = error.or_else(|| {
            failed.map(|kind| {
                let ename = if kind == "panic" { "panic" } else { "Error" };
                (ename.to_owned(), failure_message(&stderr), stderr.clone())
            })
        });
        if let Some((ename, evalue, traceback)) = error {
            outputs.push(Output::Error {
                ename: ename.clone(),
                evalue: evalue.clone(),
                traceback,
            });
            notebook.set_outputs(index, execution_count, &outputs);
            let stop = !options.keep_going || ename == TIMEOUT || ename == "SubprocessTerminated";
            let failure = CellFailure {
                index,
                first_line: first_line(&source),
                ename,
                evalue,
            };
            report.failure.get_or_insert_with(|| failure.clone());
            report.failures.push(failure);
            if stop {
                break;
            }
            continue;
        }
        notebook.set_outputs(index, execution_count, &outputs);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_text_and_failures_in_order() {
        let lines = [
            "hello",
            "WORKBENCH_BEGIN_CONTENT text/html",
            "<b>x</b>",
            "<i>y</i>",
            "WORKBENCH_END_CONTENT",
            "WORKBENCH_CELL_FAILED panic",
        ];
        let items = parse_stdout(lines.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            items,
            vec![
                Item::Text("hello".into()),
                Item::Block("text/html".into(), "<b>x</b>\n<i>y</i>".into()),
                Item::Failed("panic".into()),
            ]
        );
    }

    #[test]
    fn recognizes_command_cells() {
        assert!(commands_only(
            ":dep a = \"1\"\n// the kernel\n\n:dep b = \"2\""
        ));
        assert!(!commands_only(":dep a = \"1\"\nlet x = 1;"));
    }

    #[test]
    fn detects_trailing_expressions() {
        assert!(ends_with_expression("let x = 1;\nx + 1\n"));
        assert!(!ends_with_expression("let x = 1;\n"));
        assert!(!ends_with_expression("fn f() {}\n// done"));
        assert!(!ends_with_expression(":dep serde"));
    }
}
