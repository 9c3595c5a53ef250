//! Resumable, checksummed file downloads over HTTP(S) (feature `download`).
//!
//! Each file is fetched into `dest_dir/<name>.part`; an existing part is
//! resumed with an HTTP `Range` request; connection errors and short reads are
//! retried with exponential backoff; the file is renamed into place only once
//! its SHA-256 matches. Without the `download` feature, [`fetch`] returns an
//! error saying downloads are disabled.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A file to download: its name under the base URL, its SHA-256 (hex) and, if known, its size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteFile<'a> {
    /// File name, appended to the base URL and used as the local name.
    pub name: &'a str,
    /// Expected SHA-256 of the whole file, lowercase or uppercase hex.
    pub sha256: &'a str,
    /// Expected size in bytes, if known (lets short reads be detected).
    pub size: Option<u64>,
}

/// `base` joined with `name`, with exactly one `/` between them.
pub fn join_url(base: &str, name: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), name)
}

/// Lowercase hex SHA-256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex SHA-256 of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How [`fetch`] downloads: progress bars and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchOptions {
    /// Show a progress bar per file on stderr (default true).
    pub progress: bool,
    /// How often and how patiently to retry.
    pub retry: RetryPolicy,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            progress: true,
            retry: RetryPolicy::default(),
        }
    }
}

/// How often and how patiently [`fetch`] retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries per file after the first attempt.
    pub retries: u32,
    /// Wait before the first retry; doubled before each further one.
    pub backoff: std::time::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 4,
            backoff: std::time::Duration::from_millis(500),
        }
    }
}

/// Downloads `files` from `url_base` into `dest_dir` (disabled in this build: an error).
#[cfg(not(feature = "download"))]
pub fn fetch(
    url_base: &str,
    _files: &[RemoteFile],
    _dest_dir: &Path,
    _options: &FetchOptions,
) -> Result<()> {
    Err(Error::Download {
        url: url_base.to_string(),
        msg: "downloads are disabled (workbench was built without the `download` feature)"
            .to_string(),
    })
}

/// Downloads `files` from `url_base` into `dest_dir`, resuming partial downloads and verifying SHA-256.
///
/// Files already in `dest_dir` with the right checksum are skipped; others are
/// replaced once a verified download is complete.
#[cfg(feature = "download")]
pub fn fetch(
    url_base: &str,
    files: &[RemoteFile],
    dest_dir: &Path,
    options: &FetchOptions,
) -> Result<()> {
    std::fs::create_dir_all(dest_dir).map_err(|e| Error::io(dest_dir, e))?;
    let agent = http::agent();
    for f in files {
        http::fetch_one(
            &agent,
            &join_url(url_base, f.name),
            f,
            dest_dir,
            options.progress,
            &options.retry,
        )?;
    }
    Ok(())
}

/// Extracts a `.tar.gz` archive into `dest_dir` (entries escaping `dest_dir` are refused).
#[cfg(feature = "download")]
pub fn extract_tar_gz(archive: &Path, dest_dir: &Path) -> Result<()> {
    let file = std::fs::File::open(archive).map_err(|e| Error::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    std::fs::create_dir_all(dest_dir).map_err(|e| Error::io(dest_dir, e))?;
    // `unpack` skips entries with `..` or absolute paths.
    tar.unpack(dest_dir).map_err(|e| {
        Error::bad_file(
            archive,
            format!("cannot extract into {}: {e}", dest_dir.display()),
        )
    })
}

/// Extracts a `.tar.gz` archive (disabled without the `download` feature).
#[cfg(not(feature = "download"))]
pub fn extract_tar_gz(archive: &Path, _dest_dir: &Path) -> Result<()> {
    Err(Error::bad_file(
        archive,
        "extracting archives is disabled (workbench was built without the `download` feature)",
    ))
}

#[cfg(feature = "download")]
mod http {
    use std::fs::{File, OpenOptions};
    use std::io::{Read, Write};
    use std::path::Path;
    use std::time::Duration;

    use indicatif::{ProgressBar, ProgressStyle};

    use super::{sha256_file, RemoteFile, RetryPolicy};
    use crate::error::{Error, Result};

    /// The outcome of one failed attempt.
    enum Failure {
        /// Worth trying again (connection error, short read, 5xx).
        Retry(String),
        /// Pointless to retry.
        Fatal(Error),
    }

    pub(super) fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Byte ranges must refer to the stored file, never to a re-encoded body.
            .accept_encoding("identity")
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(30)))
            .build()
            .new_agent()
    }

    pub(super) fn fetch_one(
        agent: &ureq::Agent,
        url: &str,
        f: &RemoteFile,
        dest_dir: &Path,
        progress: bool,
        policy: &RetryPolicy,
    ) -> Result<()> {
        let dl_err = |msg: String| Error::Download {
            url: url.to_string(),
            msg,
        };
        let expected = f.sha256.to_ascii_lowercase();
        let target = dest_dir.join(f.name);
        // A copy with the wrong hash stays until a verified download replaces it.
        if target.is_file() && sha256_file(&target)? == expected {
            return Ok(());
        }
        let part = dest_dir.join(format!("{}.part", f.name));
        // A part left by an earlier run may come from another version of the
        // file; if the checksum then fails, start over once from scratch.
        let mut stale_part = part.is_file();
        let bar = if progress {
            let b = ProgressBar::new(f.size.unwrap_or(0));
            let style = ProgressStyle::with_template(
                "{msg:28} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_message(f.name.to_string());
            b
        } else {
            ProgressBar::hidden()
        };
        loop {
            let mut attempt = 0u32;
            loop {
                match attempt_once(agent, url, &part, f.size, &bar) {
                    Ok(()) => break,
                    Err(Failure::Fatal(e)) => {
                        bar.abandon();
                        return Err(e);
                    }
                    Err(Failure::Retry(msg)) => {
                        attempt += 1;
                        if attempt > policy.retries {
                            bar.abandon();
                            return Err(dl_err(format!(
                                "giving up after {attempt} attempts: {msg} (partial download kept in {} for resuming)",
                                part.display()
                            )));
                        }
                        bar.println(format!(
                            "{}: {msg}; retrying ({attempt}/{})",
                            f.name, policy.retries
                        ));
                        std::thread::sleep(policy.backoff * 2u32.pow(attempt - 1));
                    }
                }
            }
            let actual = sha256_file(&part)?;
            if actual == expected {
                break;
            }
            std::fs::remove_file(&part).map_err(|e| Error::io(&part, e))?;
            if stale_part {
                stale_part = false;
                bar.println(format!(
                    "{}: checksum mismatch after resuming an old partial download; starting over",
                    f.name
                ));
                continue;
            }
            bar.abandon();
            return Err(dl_err(format!(
                "{}: sha256 mismatch: expected {expected}, got {actual}; deleted the bad download",
                f.name
            )));
        }
        std::fs::rename(&part, &target).map_err(|e| Error::io(&target, e))?;
        bar.finish();
        Ok(())
    }

    /// One GET (ranged if a part exists), streamed into `part`.
    fn attempt_once(
        agent: &ureq::Agent,
        url: &str,
        part: &Path,
        size: Option<u64>,
        bar: &ProgressBar,
    ) -> std::result::Result<(), Failure> {
        let fatal = |msg: String| {
            Failure::Fatal(Error::Download {
                url: url.to_string(),
                msg,
            })
        };
        let io_fatal = |e: std::io::Error| Failure::Fatal(Error::io(part, e));
        let mut have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if let Some(size) = size {
            if have == size {
                return Ok(());
            }
            if have > size {
                std::fs::remove_file(part).map_err(io_fatal)?;
                have = 0;
            }
        }
        let mut req = agent.get(url);
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(
                e @ (ureq::Error::Io(_)
                | ureq::Error::Timeout(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::Protocol(_)),
            ) => return Err(Failure::Retry(e.to_string())),
            Err(e) => return Err(fatal(e.to_string())),
        };
        let status = resp.status().as_u16();
        let (mut file, offset) = match status {
            206 => {
                let start = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(content_range_start);
                if start != Some(have) {
                    // Not the range we asked for: drop the part and start over.
                    std::fs::remove_file(part).map_err(io_fatal)?;
                    return Err(Failure::Retry(format!(
                        "asked for bytes {have}-, server sent range {start:?}"
                    )));
                }
                let f = OpenOptions::new()
                    .append(true)
                    .open(part)
                    .map_err(io_fatal)?;
                (f, have)
            }
            // Full body (also when the server ignores Range): start from zero.
            200 => (File::create(part).map_err(io_fatal)?, 0),
            // Range past the end: the part is already whole; the checksum decides.
            416 if have > 0 => return Ok(()),
            408 | 429 | 500..=599 => return Err(Failure::Retry(format!("HTTP {status}"))),
            _ => return Err(fatal(format!("HTTP {status}"))),
        };
        let body_len = resp.body().content_length();
        if let Some(total) = body_len.map(|l| l + offset).or(size) {
            bar.set_length(total);
        }
        bar.set_position(offset);
        let mut reader = resp.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    file.flush().map_err(io_fatal)?;
                    return Err(Failure::Retry(format!(
                        "connection lost after {} bytes: {e}",
                        offset + got
                    )));
                }
            };
            file.write_all(&buf[..n]).map_err(io_fatal)?;
            got += n as u64;
            bar.inc(n as u64);
        }
        file.flush().map_err(io_fatal)?;
        let total = offset + got;
        if let Some(len) = body_len {
            if got < len {
                return Err(Failure::Retry(format!(
                    "short read: {total} of {} bytes",
                    offset + len
                )));
            }
        }
        if let Some(size) = size {
            if total < size {
                return Err(Failure::Retry(format!(
                    "short read: {total} of {size} bytes"
                )));
            }
        }
        Ok(())
    }

    /// The first byte of `Content-Range: bytes START-END/TOTAL`.
    fn content_range_start(v: &str) -> Option<u64> {
        let rest = v.trim().strip_prefix("bytes")?.trim_start();
        rest.split('-').next()?.trim().parse().ok()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn parses_content_range() {
            assert_eq!(super::content_range_start("bytes 500-999/1000"), Some(500));
            assert_eq!(super::content_range_start("bytes 0-0/1"), Some(0));
            assert_eq!(super::content_range_start("items 1-2/3"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_strings() {
        // FIPS 180-2 test vector: SHA-256("abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // SHA-256 of the empty string.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn joins_urls() {
        assert_eq!(join_url("http://h/a/", "f.gz"), "http://h/a/f.gz");
        assert_eq!(join_url("http://h/a", "f.gz"), "http://h/a/f.gz");
    }

    #[cfg(not(feature = "download"))]
    #[test]
    fn disabled_without_feature() {
        let e = fetch(
            "http://x/",
            &[],
            Path::new("/nonexistent"),
            &FetchOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("downloads are disabled"), "{e}");
    }
}
