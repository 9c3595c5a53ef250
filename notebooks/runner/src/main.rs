//! `workbench-notebook`: runs Rust Jupyter notebooks headless with evcxr and writes them executed.

mod notebook;
mod params;
mod run;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
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
    match cli.command {
        Command::Run {
            notebooks,
            out,
            params,
        } => match run_notebooks(&notebooks, &out, &params) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::from(2)
            }
        },
    }
}

/// Runs each notebook; returns whether all succeeded.
fn run_notebooks(paths: &[PathBuf], out: &std::path::Path, raw: &[String]) -> Result<bool> {
    let params = raw
        .chunks(2)
        .map(|pair| params::Parameter::new(&pair[0], &pair[1]))
        .collect::<Result<Vec<_>>>()?;
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
