//! The committed reference models under `tests/refs/` and scratch directories.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// The data directory: `$WORKBENCH_DATA` when set and not empty, else `../shared/data` beside the workspace.
pub fn data_dir() -> PathBuf {
    std::env::var_os("WORKBENCH_DATA")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"))
}

/// `tests/refs/`: generator scripts and fixtures.
pub fn refs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("refs")
}

/// One reference model and its input batch.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// File stem, e.g. `mnist_tiny`.
    pub name: String,
    /// `NAME.tflite`.
    pub model: PathBuf,
    /// `NAME.input.npy`: a batch `[N, ...input shape without batch]`.
    pub input: PathBuf,
}

/// Every `tests/refs/*.tflite` with its `NAME.input.npy`, sorted by name.
pub fn fixtures() -> Result<Vec<Fixture>> {
    let dir = refs_dir();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("tflite") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let input = dir.join(format!("{name}.input.npy"));
        if !input.is_file() {
            bail!(
                "{}: missing its input batch {}",
                path.display(),
                input.display()
            );
        }
        out.push(Fixture {
            name,
            model: path,
            input,
        });
    }
    if out.is_empty() {
        bail!(
            "no fixtures in {}; run tests/refs/gen_models.py",
            dir.display()
        );
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The one fixture called `name`.
pub fn fixture(name: &str) -> Result<Fixture> {
    fixtures()?
        .into_iter()
        .find(|f| f.name == name)
        .with_context(|| format!("no fixture {name}.tflite in {}", refs_dir().display()))
}

/// A fresh empty directory for one test's files, under the system temp dir.
pub fn scratch_dir(test: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir()
        .join("workbench-tests")
        .join(format!("{test}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    Ok(dir)
}
