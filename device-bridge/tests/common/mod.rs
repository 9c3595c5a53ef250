//! Shared test helpers: fixtures from `tests/refs` and boards.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use device_bridge::device::Device;
use device_bridge::host_board::{HostBoard, HostBoardConfig};
use device_bridge::npy::{self, Array};
use device_bridge::transport::Tcp;

/// `tests/refs` of the workspace.
pub fn refs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/refs")
}

/// A fixture model's bytes and its input batch.
pub fn fixture(name: &str) -> (Vec<u8>, Array) {
    let model = std::fs::read(refs().join(format!("{name}.tflite"))).unwrap();
    let batch = npy::read(&refs().join(format!("{name}.input.npy"))).unwrap();
    (model, batch)
}

/// Every fixture name in `tests/refs`.
pub fn fixture_names() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(refs())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "tflite")
                .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

/// A host board on TCP and a device connected to `addr` (the board or a relay in front of it).
pub fn host_board(cfg: HostBoardConfig) -> HostBoard {
    HostBoard::spawn_tcp(cfg).unwrap()
}

/// Connects a device to `addr` with a short per-attempt timeout.
pub fn connect(addr: std::net::SocketAddr, timeout: Duration) -> device_bridge::Result<Device> {
    let t = Tcp::connect(addr, Duration::from_secs(2)).unwrap();
    let mut link = device_bridge::link::Link::new(Box::new(t));
    link.timeout = timeout;
    link.attempts = 8;
    Device::open_link(link)
}
