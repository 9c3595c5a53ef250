//! Headless Chromium for checking pages the workbench writes (reports, exported notebooks).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A headless, offline Chromium command (`chromium` or `chromium-browser` on the PATH).
pub fn chromium() -> Result<Command> {
    let bin = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .context(
            "chromium is missing: run scripts/setup-notebooks.sh (installs Debian's chromium)",
        )?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        // Offline: every host name fails at once (exports reference CDNs for MathJax etc.).
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=15000",
    ]);
    Ok(cmd)
}

/// The DOM of `page` (a local file, `#fragment` allowed) after its scripts ran.
pub fn dump_dom(page: &Path, fragment: &str) -> Result<String> {
    let url = format!("file://{}{fragment}", page.canonicalize()?.display());
    let out = chromium()?
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .context("starting chromium")?;
    if !out.status.success() {
        bail!(
            "chromium --dump-dom {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
