//! `workbench-notebook`: runs Rust Jupyter notebooks headless with evcxr and writes them executed.

mod authoring;
mod grade;
mod notebook;
mod params;
mod run;
mod student;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "workbench-notebook", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Execute notebooks cell by cell and write them with their outputs.
    Run {
        /// Notebooks (.ipynb, nbformat 4) to run, in order.
        #[arg(required = true)]
        notebooks: Vec<PathBuf>,
        /// Folder for the executed notebooks (same file names).
        #[arg(long, default_value = "out/notebooks")]
        out: PathBuf,
        /// Override a parameter: `-p name value`, value is a Rust expression used verbatim.
        #[arg(short = 'p', long = "param", num_args = 2, value_names = ["NAME", "VALUE"])]
        params: Vec<String>,
    },
    /// Write the student version of teaching notebooks: solutions stubbed with `todo!()`,
    /// hidden tests removed, outputs cleared.
    ///
    /// Code between `// BEGIN SOLUTION` and `// END SOLUTION` becomes `todo!()` (a region that
    /// is one `let x: T = ...;` becomes `let x: T = todo!();`); markdown between
    /// `<!-- BEGIN SOLUTION -->` and `<!-- END SOLUTION -->` becomes "*Your answer here.*";
    /// code between `// BEGIN HIDDEN TESTS` and `// END HIDDEN TESTS` is removed (with its cell
    /// when nothing else is left). Everything else, cell ids and metadata included, is kept.
    #[command(verbatim_doc_comment)]
    Student {
        /// Teacher notebooks (.ipynb, nbformat 4).
        #[arg(required = true)]
        notebooks: Vec<PathBuf>,
        /// Folder for the student versions (same file names).
        #[arg(long)]
        out: PathBuf,
    },
    /// Run submissions with the hidden tests put back and grade their tasks.
    ///
    /// Each submission runs to the end (a failing cell does not stop it) in the folder of
    /// the source notebook (--tests), else its own; a task passes when every check of it
    /// ran and passed. Writes into --out: the executed notebook, grades.json (notebook,
    /// tasks [{id, points, passed, message}], score, max_score, questions for grading by
    /// hand, failures) and feedback.html; with several submissions, one folder each plus
    /// grades.json (a list) and grades.csv (one row each).
    ///
    /// Exits 0 when grading worked, whatever the score, and 2 when it could not grade
    /// (a missing file, not a notebook, a broken solution marker).
    #[command(verbatim_doc_comment)]
    Grade {
        /// Submitted notebooks (.ipynb, nbformat 4).
        #[arg(required = true)]
        submissions: Vec<PathBuf>,
        /// The teacher's notebook: its hidden tests are put back, its tasks and questions
        /// are graded [default: each submission grades itself].
        #[arg(long, value_name = "SOURCE.ipynb")]
        tests: Option<PathBuf>,
        /// Folder for executed notebooks, grades and feedback.
        #[arg(long, default_value = "out/grades")]
        out: PathBuf,
        /// Time limit per cell in seconds, compilation included.
        #[arg(long, value_name = "SECONDS", default_value_t = 600.0)]
        cell_timeout: f64,
        /// Override a parameter: `-p name value`, value is a Rust expression used verbatim.
        #[arg(short = 'p', long = "param", num_args = 2, value_names = ["NAME", "VALUE"])]
        params: Vec<String>,
    },
}

fn main() -> ExitCode {
    // evcxr re-runs this binary as its runtime subprocess (and as a rustc wrapper); in the
    // runtime, stdout first goes through our filter so panics and `?` errors become visible.
    if std::env::var_os("EVCXR_IS_RUNTIME").is_some() {
        if let Err(error) = run::filter_runtime_stdout() {
            eprintln!("workbench-notebook: cannot filter runtime stdout: {error}");
        }
    }
    evcxr::runtime_hook();

    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            notebooks,
            out,
            params,
        } => run_notebooks(&notebooks, &out, &params),
        Command::Student { notebooks, out } => student_versions(&notebooks, &out).map(|()| true),
        Command::Grade {
            submissions,
            tests,
            out,
            cell_timeout,
            params,
        } => grade_submissions(&submissions, tests.as_deref(), &out, cell_timeout, &params)
            .map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn parse_params(raw: &[String]) -> Result<Vec<params::Parameter>> {
    raw.chunks(2)
        .map(|pair| params::Parameter::new(&pair[0], &pair[1]))
        .collect()
}

/// Runs `nb` (read from `path`) with the working directory `dir`, as `options` say.
fn run_in(
    nb: &mut notebook::Notebook,
    path: &Path,
    dir: &Path,
    options: &run::RunOptions,
) -> Result<run::RunReport> {
    let start_dir = std::env::current_dir().context("reading the working directory")?;
    std::env::set_current_dir(dir)
        .with_context(|| format!("entering the notebook's folder {}", dir.display()))?;
    let report = run::run_with(nb, options);
    std::env::set_current_dir(&start_dir)
        .with_context(|| format!("returning to {}", start_dir.display()))?;
    report.with_context(|| format!("notebook {}", path.display()))
}

/// Writes the student version of each notebook into `out`.
fn student_versions(paths: &[PathBuf], out: &Path) -> Result<()> {
    let mut seen = Vec::new();
    for path in paths {
        let mut nb = notebook::Notebook::read(path)?;
        let summary = student::make_student(&mut nb)
            .with_context(|| format!("notebook {}", path.display()))?;
        let name = path
            .file_name()
            .with_context(|| format!("notebook path {} has no file name", path.display()))?;
        if seen.contains(&name) {
            bail!(
                "two notebooks named {} would overwrite each other in {}",
                name.to_string_lossy(),
                out.display()
            );
        }
        seen.push(name);
        let out_path = out.join(name);
        nb.write(&out_path)?;
        eprintln!(
            "{} -> {}: {} solutions stubbed, {} cells with hidden tests ({} removed)",
            path.display(),
            out_path.display(),
            summary.stubbed,
            summary.hidden,
            summary.removed
        );
    }
    Ok(())
}

/// A name per submission, unique among them: the file stem, or folder and stem when two share one.
fn submission_names(paths: &[PathBuf]) -> Vec<String> {
    let stem = |p: &PathBuf| {
        p.file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
    };
    let stems: Vec<String> = paths.iter().map(stem).collect();
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let clash = stems.iter().filter(|s| **s == stems[i]).count() > 1;
            let folder = p
                .parent()
                .and_then(Path::file_name)
                .map(|f| f.to_string_lossy().into_owned());
            match folder {
                Some(folder) if clash => format!("{folder}-{}", stems[i]),
                _ if clash => format!("{}-{i}", stems[i]),
                _ => stems[i].clone(),
            }
        })
        .collect()
}

/// Grades each submission; writes executed notebooks, grades.json, feedback.html (and grades.csv).
fn grade_submissions(
    paths: &[PathBuf],
    tests: Option<&Path>,
    out: &Path,
    cell_timeout: f64,
    raw: &[String],
) -> Result<()> {
    let params = parse_params(raw)?;
    if !(cell_timeout > 0.0 && cell_timeout.is_finite()) {
        bail!("cell timeout {cell_timeout} s is not a positive number of seconds");
    }
    let start_dir = std::env::current_dir().context("reading the working directory")?;
    let out = &start_dir.join(out);
    let source = tests
        .map(|t| notebook::Notebook::read(&start_dir.join(t)))
        .transpose()?;
    // Read every submission first: a missing or broken file stops grading before any run.
    let submissions = paths
        .iter()
        .map(|p| notebook::Notebook::read(&start_dir.join(p)))
        .collect::<Result<Vec<_>>>()?;
    let names = submission_names(paths);
    let options = run::RunOptions {
        keep_going: true,
        cell_timeout: Some(std::time::Duration::from_secs_f64(cell_timeout)),
    };
    let several = paths.len() > 1;
    let mut grades = Vec::new();
    for ((path, mut nb), name) in paths.iter().zip(submissions).zip(&names) {
        let abs = start_dir.join(path);
        let restored = source
            .as_ref()
            .map_or(0, |s| grade::restore_hidden(&mut nb, s));
        params::inject(&mut nb, &params);
        let dir = match tests {
            Some(t) => start_dir.join(t),
            None => abs.clone(),
        };
        let dir = dir
            .parent()
            .map_or_else(|| start_dir.clone(), Path::to_path_buf);
        eprintln!(
            "grading {} ({restored} hidden-test cells put back)",
            path.display()
        );
        let report = run_in(&mut nb, &abs, &dir, &options)?;
        let folder = if several { out.join(name) } else { out.clone() };
        let executed = folder.join(format!("{name}.ipynb"));
        nb.write(&executed)?;
        let grade = grade::Grade::new(
            path.display().to_string(),
            executed.display().to_string(),
            source.as_ref().unwrap_or(&nb),
            &nb,
            report.failures,
        );
        for f in &grade.failures {
            eprintln!("  {f}");
        }
        write_file(&folder.join("grades.json"), &pretty(&grade.to_json())?)?;
        write_file(&folder.join("feedback.html"), &grade.feedback_html())?;
        eprintln!(
            "{}: {} / {} ({} of {} tasks passed) -> {}",
            path.display(),
            grade.score(),
            grade.max_score(),
            grade.tasks.iter().filter(|t| t.passed).count(),
            grade.tasks.len(),
            folder.display()
        );
        grades.push(grade);
    }
    if several {
        let all: Vec<_> = grades.iter().map(grade::Grade::to_json).collect();
        write_file(
            &out.join("grades.json"),
            &pretty(&serde_json::Value::Array(all))?,
        )?;
        write_file(&out.join("grades.csv"), &grade::csv(&grades))?;
        eprintln!(
            "grades of {} submissions in {}",
            grades.len(),
            out.join("grades.csv").display()
        );
    }
    Ok(())
}

fn pretty(value: &serde_json::Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating folder {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Runs each notebook; returns whether all succeeded.
fn run_notebooks(paths: &[PathBuf], out: &Path, raw: &[String]) -> Result<bool> {
    let params = parse_params(raw)?;
    // Cells run with the notebook's folder as working directory, as Jupyter runs them, so
    // relative paths (`:dep workbench = { path = "../workbench" }`, evcxr.toml) mean the same.
    let start_dir = std::env::current_dir().context("reading the working directory")?;
    let out = &start_dir.join(out);
    let mut all_ok = true;
    for path in paths {
        let path = &start_dir.join(path);
        let mut nb = notebook::Notebook::read(path)?;
        params::inject(&mut nb, &params);
        let file_name = path
            .file_name()
            .with_context(|| format!("notebook path {} has no file name", path.display()))?;
        let out_path = out.join(file_name);
        eprintln!("running {}", path.display());
        let dir = path.parent().unwrap_or(&start_dir);
        std::env::set_current_dir(dir)
            .with_context(|| format!("entering the notebook's folder {}", dir.display()))?;
        let report = run::run(&mut nb);
        std::env::set_current_dir(&start_dir)
            .with_context(|| format!("returning to {}", start_dir.display()))?;
        let report = report.with_context(|| format!("notebook {}", path.display()))?;
        nb.write(&out_path)?;
        for t in &report.timings {
            eprintln!("  cell {}: {:.2} s", t.index, t.elapsed.as_secs_f64());
        }
        match report.failure {
            Some(failure) => {
                eprintln!("error: notebook {}: {failure}", path.display());
                eprintln!("executed notebook written to {}", out_path.display());
                all_ok = false;
            }
            None => eprintln!("ok: {} -> {}", path.display(), out_path.display()),
        }
    }
    Ok(all_ok)
}
