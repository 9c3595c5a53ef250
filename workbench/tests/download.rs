//! Downloads against a local HTTP server on 127.0.0.1 that serves the shared
//! MNIST files and injects faults: resume with Range, retry, checksum rejection.
//! Never contacts the internet.

#![cfg(feature = "download")]

mod data_common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use workbench::dataset::download::{
    fetch, sha256_file, sha256_hex, FetchOptions, RemoteFile, RetryPolicy,
};
use workbench::dataset::mnist;

/// Faults the server injects.
#[derive(Default, Clone)]
struct Faults {
    /// On the first request for each file, send the full headers but only this many body bytes, then close.
    cut_first_after: Option<usize>,
    /// On the first request for each file, answer with this status and no body.
    status_first: Option<u16>,
    /// Flip one byte in the middle of every file served.
    corrupt: bool,
    /// Ignore Range headers and always send the whole file with 200.
    ignore_range: bool,
}

/// One request the server saw: path and the Range header, if any.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    path: String,
    range: Option<String>,
}

struct Server {
    base: String,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(root: PathBuf, faults: Faults) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            let mut count: HashMap<String, usize> = HashMap::new();
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = serve(stream, &root, &faults, &log2, &mut count);
            }
        });
        Server { base, log }
    }

    fn requests(&self, name: &str) -> Vec<Seen> {
        let path = format!("/{name}");
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    fn total_requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

/// Handles one HTTP/1.1 request on `stream` (always `Connection: close`).
fn serve(
    mut stream: TcpStream,
    root: &Path,
    faults: &Faults,
    log: &Mutex<Vec<Seen>>,
    count: &mut HashMap<String, usize>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    log.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    let n = count.entry(path.clone()).or_insert(0);
    *n += 1;
    let first = *n == 1;

    let respond = |s: &mut TcpStream, status: &str, headers: &str, body: &[u8]| {
        write!(
            s,
            "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        )?;
        s.write_all(body)
    };
    if first {
        if let Some(code) = faults.status_first {
            return respond(&mut stream, &format!("{code} Injected"), "", b"");
        }
    }
    let name = path.trim_start_matches('/');
    let file = root.join(name);
    if name.contains("..") || !file.is_file() {
        return respond(&mut stream, "404 Not Found", "", b"no such file");
    }
    let mut body = std::fs::read(&file)?;
    if faults.corrupt {
        let mid = body.len() / 2;
        body[mid] ^= 0xff;
    }
    let len = body.len();
    let start = range
        .as_deref()
        .filter(|_| !faults.ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<usize>().ok());
    let (status, headers, body) = match start {
        Some(s) if s >= len => {
            let h = format!("Content-Range: bytes */{len}\r\n");
            return respond(&mut stream, "416 Range Not Satisfiable", &h, b"");
        }
        Some(s) => (
            "206 Partial Content",
            format!("Content-Range: bytes {s}-{}/{len}\r\n", len - 1),
            &body[s..],
        ),
        None => ("200 OK", String::new(), &body[..]),
    };
    match faults.cut_first_after {
        Some(k) if first => {
            // Announce the whole body, send only k bytes, then close.
            write!(
                stream,
                "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n",
                body.len()
            )?;
            stream.write_all(&body[..k.min(body.len())])?;
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Both)
        }
        _ => respond(&mut stream, status, &headers, body),
    }
}

/// Quick retries, with or without progress bars.
fn fast(progress: bool) -> FetchOptions {
    FetchOptions {
        progress,
        retry: RetryPolicy {
            retries: 3,
            backoff: Duration::from_millis(10),
        },
    }
}

/// RemoteFile entries for files in `dir`, with hashes and sizes computed from them.
fn local_list(dir: &Path, names: &[&str]) -> Vec<(String, String, u64)> {
    names
        .iter()
        .map(|n| {
            let p = dir.join(n);
            (
                n.to_string(),
                sha256_file(&p).unwrap(),
                std::fs::metadata(&p).unwrap().len(),
            )
        })
        .collect()
}

fn remote(list: &[(String, String, u64)]) -> Vec<RemoteFile<'_>> {
    list.iter()
        .map(|(n, h, s)| RemoteFile {
            name: n,
            sha256: h,
            size: Some(*s),
        })
        .collect()
}

/// One shared MNIST file served with `faults` and fetched into a fresh folder,
/// which may already hold a `.part` from an earlier run. The folder is removed on drop.
struct OneFile {
    src: PathBuf,
    name: &'static str,
    server: Server,
    dest: PathBuf,
    list: Vec<(String, String, u64)>,
}

impl OneFile {
    fn new(tag: &str, name: &'static str, faults: Faults, part: Option<&[u8]>) -> Option<OneFile> {
        let src = data_common::mnist_dir()?;
        let server = Server::start(src.clone(), faults);
        let dest = data_common::temp_dir(tag);
        if let Some(part) = part {
            std::fs::write(dest.join(format!("{name}.part")), part).unwrap();
        }
        let list = local_list(&src, &[name]);
        Some(OneFile {
            src,
            name,
            server,
            dest,
            list,
        })
    }

    /// The file's bytes in the shared folder.
    fn original(&self) -> Vec<u8> {
        std::fs::read(self.src.join(self.name)).unwrap()
    }

    fn fetch(&self) -> workbench::Result<()> {
        fetch(
            &self.server.base,
            &remote(&self.list),
            &self.dest,
            &fast(false),
        )
    }

    /// Fetches and checks that the downloaded file equals the original.
    fn fetch_and_compare(&self) {
        self.fetch().unwrap();
        assert_eq!(
            std::fs::read(self.dest.join(self.name)).unwrap(),
            self.original()
        );
    }

    fn requests(&self) -> Vec<Seen> {
        self.server.requests(self.name)
    }
}

impl Drop for OneFile {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dest).ok();
    }
}

const ALL: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

#[test]
fn downloads_all_four_and_skips_them_next_time() {
    let Some(src) = data_common::mnist_dir() else {
        return;
    };
    let server = Server::start(src.clone(), Faults::default());
    let dest = data_common::temp_dir("dl-all").join("mnist");
    let list = local_list(&src, &ALL);
    fetch(&server.base, &remote(&list), &dest, &fast(true)).unwrap();
    for n in ALL {
        assert_eq!(
            std::fs::read(dest.join(n)).unwrap(),
            std::fs::read(src.join(n)).unwrap()
        );
        assert!(!dest.join(format!("{n}.part")).exists());
    }
    assert_eq!(server.total_requests(), 4);
    let m = mnist::load_dir(&dest).unwrap();
    assert_eq!((m.train_len(), m.test_len()), (60_000, 10_000));
    // Second run: files present with the right hash, nothing fetched.
    fetch(&server.base, &remote(&list), &dest, &fast(false)).unwrap();
    assert_eq!(server.total_requests(), 4);
    // A damaged copy is replaced by a verified download.
    let n = "t10k-labels-idx1-ubyte.gz";
    std::fs::write(dest.join(n), b"damaged").unwrap();
    fetch(&server.base, &remote(&list), &dest, &fast(false)).unwrap();
    assert_eq!(server.total_requests(), 5);
    assert_eq!(
        std::fs::read(dest.join(n)).unwrap(),
        std::fs::read(src.join(n)).unwrap()
    );
    std::fs::remove_dir_all(dest.parent().unwrap()).ok();
}

#[test]
fn resumes_with_range_after_a_cut_connection() {
    let faults = Faults {
        cut_first_after: Some(300_000),
        ..Faults::default()
    };
    let Some(f) = OneFile::new("dl-cut", "t10k-images-idx3-ubyte.gz", faults, None) else {
        return;
    };
    f.fetch_and_compare();
    let seen = f.requests();
    // First a plain GET that was cut, then a ranged GET from where it stopped.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range, None);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=300000-"));
}

#[test]
fn resumes_a_partial_file_left_by_an_earlier_run() {
    let name = "train-labels-idx1-ubyte.gz";
    let Some(full) = data_common::mnist_dir().map(|d| std::fs::read(d.join(name)).unwrap()) else {
        return;
    };
    let f = OneFile::new("dl-part", name, Faults::default(), Some(&full[..1234])).unwrap();
    f.fetch_and_compare();
    let seen = f.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].range.as_deref(), Some("bytes=1234-"));
}

#[test]
fn restarts_when_the_server_ignores_range() {
    let name = "train-labels-idx1-ubyte.gz";
    let Some(full) = data_common::mnist_dir().map(|d| std::fs::read(d.join(name)).unwrap()) else {
        return;
    };
    let faults = Faults {
        ignore_range: true,
        ..Faults::default()
    };
    let f = OneFile::new("dl-norange", name, faults, Some(&full[..1000])).unwrap();
    // The 200 reply replaced the part instead of being appended to it.
    f.fetch_and_compare();
    assert_eq!(f.requests().len(), 1);
}

#[test]
fn a_stale_partial_file_is_discarded_once() {
    // 1000 bytes that are not the file's start: resuming gives a bad checksum.
    let stale = vec![0x55u8; 1000];
    let name = "train-labels-idx1-ubyte.gz";
    let Some(f) = OneFile::new("dl-stale", name, Faults::default(), Some(&stale)) else {
        return;
    };
    f.fetch_and_compare();
    let seen = f.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range.as_deref(), Some("bytes=1000-"));
    assert_eq!(seen[1].range, None);
}

#[test]
fn retries_a_server_error() {
    let faults = Faults {
        status_first: Some(503),
        ..Faults::default()
    };
    let Some(f) = OneFile::new("dl-503", "t10k-labels-idx1-ubyte.gz", faults, None) else {
        return;
    };
    f.fetch_and_compare();
    assert_eq!(f.requests().len(), 2);
}

#[test]
fn rejects_wrong_bytes_and_deletes_them() {
    let faults = Faults {
        corrupt: true,
        ..Faults::default()
    };
    let name = "t10k-labels-idx1-ubyte.gz";
    let Some(f) = OneFile::new("dl-corrupt", name, faults, None) else {
        return;
    };
    let e = f.fetch().unwrap_err().to_string();
    let mut bad = f.original();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    let expected = &f.list[0].1;
    let actual = sha256_hex(&bad);
    assert_eq!(
        e,
        format!(
            "download {}{name}: {name}: sha256 mismatch: expected {expected}, got {actual}; deleted the bad download",
            f.server.base
        )
    );
    assert!(!f.dest.join(name).exists());
    assert!(!f.dest.join(format!("{name}.part")).exists());
}

#[test]
fn not_found_is_not_retried() {
    let Some(src) = data_common::mnist_dir() else {
        return;
    };
    let server = Server::start(src, Faults::default());
    let dest = data_common::temp_dir("dl-404");
    let files = [RemoteFile {
        name: "nope.gz",
        sha256: "00",
        size: None,
    }];
    let e = fetch(&server.base, &files, &dest, &fast(false)).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("download {}nope.gz: HTTP 404", server.base)
    );
    assert_eq!(server.total_requests(), 1);
    std::fs::remove_dir_all(&dest).ok();
}

#[test]
fn gives_up_on_a_dead_server() {
    // Bind then drop a listener: the port refuses connections.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dest = data_common::temp_dir("dl-dead");
    let files = [RemoteFile {
        name: "x.gz",
        sha256: "00",
        size: Some(10),
    }];
    let e = fetch(
        &format!("http://127.0.0.1:{port}"),
        &files,
        &dest,
        &fast(false),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(&format!(
            "download http://127.0.0.1:{port}/x.gz: giving up after 4 attempts"
        )),
        "{e}"
    );
    std::fs::remove_dir_all(&dest).ok();
}

#[test]
fn mnist_remote_list_is_well_formed() {
    // The four names match the loader's, and each hash is 64 hex digits.
    for (f, n) in mnist::REMOTE_FILES.iter().zip(mnist::FILE_NAMES) {
        assert_eq!(f.name, format!("{n}.gz"));
        assert_eq!(f.sha256.len(), 64);
        assert!(f.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
    }
    // A dead URL fails with a download error.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dest = data_common::temp_dir("dl-api");
    let e = fetch(
        &format!("http://127.0.0.1:{port}/"),
        &[],
        &dest,
        &fast(false),
    );
    assert!(e.is_ok(), "an empty list fetches nothing");
    std::fs::remove_dir_all(&dest).ok();
}
