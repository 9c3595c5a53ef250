//! Board names and how to reach them: `host` (in-process, TCP), `host-pty`
//! (in-process, pseudo-terminal), `tcp:HOST:PORT`, `serial:PATH[@BAUD]`, and
//! `qemu-mps2-an386` (our firmware on QEMU's Cortex-M4 board).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::host_board::{HostBoard, HostBoardConfig};
use crate::transport::{Serial, Tcp, Transport, DEFAULT_BAUD};

/// The QEMU board's name.
pub const QEMU_BOARD: &str = "qemu-mps2-an386";

/// Where a preloaded model goes (`-device loader`): the firmware's model
/// storage, the start of the board's PSRAM (`.model` in `device-bridge/firmware/memory.x`).
pub const QEMU_MODEL_ADDR: u32 = 0x2100_0000;

/// The preload header's magic (`ModelStore` in `device-bridge/firmware/src/main.rs`).
const PRELOAD_MAGIC: &[u8; 4] = b"WBML";

/// Writes `model` behind the firmware's preload header (magic, size, CRC-32,
/// padding) to a temporary file for `-device loader`.
fn preload_image(model: &Path) -> Result<PathBuf> {
    let bytes = std::fs::read(model).map_err(|source| Error::Io {
        path: model.to_path_buf(),
        source,
    })?;
    let mut img = Vec::with_capacity(bytes.len() + 16);
    img.extend_from_slice(PRELOAD_MAGIC);
    img.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    img.extend_from_slice(&device_bridge_protocol::crc::crc32(&bytes).to_le_bytes());
    img.extend_from_slice(&[0; 4]);
    img.extend_from_slice(&bytes);
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "device-bridge-preload-{}-{n}.bin",
        std::process::id()
    ));
    std::fs::write(&path, img).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Something that keeps a board alive while it is open.
enum Keep {
    None,
    Host(#[allow(dead_code)] HostBoard),
    Qemu(Child, Option<PathBuf>),
}

/// Keeps whatever runs a board (a host-board thread, a QEMU process) alive; stops it on drop.
pub struct Guard(Keep);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Keep::Qemu(c, image) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
            if let Some(img) = image {
                let _ = std::fs::remove_file(img);
            }
        }
    }
}

/// An open board and whatever runs it.
pub struct OpenBoard {
    /// The protocol client.
    pub device: Device,
    guard: Guard,
}

impl OpenBoard {
    /// The client and the guard, e.g. to move the link to another protocol.
    pub fn into_parts(self) -> (Device, Guard) {
        (self.device, self.guard)
    }
}

/// Options for opening a board.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Baud rate for serial boards (default 115200).
    pub baud: Option<u32>,
    /// For QEMU: preload these model bytes with `-device loader` (fast path).
    pub preload: Option<PathBuf>,
}

/// The firmware image of the QEMU board, or why there is none.
pub fn qemu_firmware() -> std::result::Result<(PathBuf, PathBuf), String> {
    let qemu = which("qemu-system-arm")
        .ok_or("qemu-system-arm is not installed (run scripts/setup-firmware.sh)")?;
    let fw = match std::env::var_os("DEVICE_FIRMWARE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("firmware/target/thumbv7em-none-eabi/release/device-bridge-firmware"),
    };
    if !fw.exists() {
        return Err(format!(
            "firmware {} is not built (run scripts/setup-firmware.sh, then scripts/build-firmware.sh)",
            fw.display()
        ));
    }
    Ok((qemu, fw))
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(bin))
            .find(|p| p.is_file())
    })
}

/// A free local TCP port below 32768 (QEMU's `-serial tcp:` wants a fixed one).
///
/// Each call starts at a different place (process id, then a counter), so
/// boards started at once in one process do not race for the same port.
fn free_port() -> Result<u16> {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = (u64::from(std::process::id()) * 2_654_435_761) % 12_000 + call * 101;
    for k in 0..2000u64 {
        let p = 20_000 + ((seed + k * 7919) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return Ok(p);
        }
    }
    Err(Error::Msg("no free TCP port in 20000..32000".into()))
}

/// Starts QEMU with our firmware; returns the child, a TCP transport to its
/// UART0 and the preload image to delete once QEMU is done with it.
pub fn spawn_qemu(preload: Option<&Path>) -> Result<(Child, Tcp, Option<PathBuf>)> {
    // Another process may take the port between the check and QEMU's bind: retry.
    let mut last = None;
    for _ in 0..3 {
        match spawn_qemu_once(preload) {
            Err(Error::Msg(m)) if m.contains("exited") => last = Some(Error::Msg(m)),
            other => return other,
        }
    }
    Err(last.expect("tried"))
}

fn spawn_qemu_once(preload: Option<&Path>) -> Result<(Child, Tcp, Option<PathBuf>)> {
    let (qemu, fw) = qemu_firmware().map_err(Error::Msg)?;
    let port = free_port()?;
    let mut cmd = Command::new(qemu);
    cmd.args([
        "-M",
        "mps2-an386",
        "-display",
        "none",
        "-monitor",
        "none",
        "-icount",
        "shift=0",
        "-kernel",
    ])
    .arg(&fw)
    .arg("-serial")
    .arg(format!("tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let image = preload.map(preload_image).transpose()?;
    if let Some(img) = &image {
        cmd.arg("-device").arg(format!(
            "loader,file={},addr={QEMU_MODEL_ADDR:#x},force-raw=on",
            img.display()
        ));
    }
    // QEMU reads the image after the UART connection is accepted: the caller removes it later.
    match connect_qemu(cmd, port) {
        Ok((child, t)) => Ok((child, t, image)),
        Err(e) => {
            if let Some(img) = image {
                let _ = std::fs::remove_file(img);
            }
            Err(e)
        }
    }
}

fn connect_qemu(mut cmd: Command, port: u16) -> Result<(Child, Tcp)> {
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Msg(format!("cannot start qemu-system-arm: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Tcp::connect(("127.0.0.1", port), Duration::from_millis(500)) {
            Ok(t) => return Ok((child, t)),
            Err(e) => {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut msg = String::new();
                    if let Some(mut s) = child.stderr.take() {
                        use std::io::Read;
                        let _ = s.read_to_string(&mut msg);
                    }
                    return Err(Error::Msg(format!(
                        "qemu-system-arm exited ({status}): {}",
                        msg.trim()
                    )));
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    return Err(Error::Msg(format!(
                        "qemu's UART on port {port} did not accept a connection: {e}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Opens a board by name (see the module docs).
pub fn open(name: &str, opts: &OpenOptions) -> Result<OpenBoard> {
    let (transport, keep): (Box<dyn Transport>, Keep) = if name == "host" {
        let hb = HostBoard::spawn_tcp(HostBoardConfig::default())
            .map_err(|e| Error::Msg(format!("host board: {e}")))?;
        let addr = hb.addr().expect("tcp board");
        let t = Tcp::connect(addr, Duration::from_secs(2))
            .map_err(|e| Error::Msg(format!("host board: {e}")))?;
        (Box::new(t), Keep::Host(hb))
    } else if name == "host-pty" {
        let (hb, port) = HostBoard::spawn_pty(HostBoardConfig::default())
            .map_err(|e| Error::Msg(format!("host board: {e}")))?;
        (
            Box::new(Serial::from_port(Box::new(port), "pty (host board)")),
            Keep::Host(hb),
        )
    } else if let Some(addr) = name.strip_prefix("tcp:") {
        let t = Tcp::connect(addr, Duration::from_secs(5))
            .map_err(|e| Error::Msg(format!("{name}: {e}")))?;
        (Box::new(t), Keep::None)
    } else if let Some(rest) = name.strip_prefix("serial:") {
        let (path, baud) = match rest.rsplit_once('@') {
            Some((p, b)) => (
                p,
                b.parse()
                    .map_err(|_| Error::Msg(format!("{name}: bad baud rate '{b}'")))?,
            ),
            None => (rest, opts.baud.unwrap_or(DEFAULT_BAUD)),
        };
        (
            Box::new(Serial::open(path, baud).map_err(|e| Error::Msg(e.to_string()))?),
            Keep::None,
        )
    } else if name == QEMU_BOARD {
        return open_qemu(opts);
    } else {
        return Err(Error::Msg(format!(
            "unknown board '{name}'; expected host, host-pty, {QEMU_BOARD}, tcp:HOST:PORT or serial:PATH[@BAUD]"
        )));
    };
    let device = Device::open(transport)?;
    Ok(OpenBoard {
        device,
        guard: Guard(keep),
    })
}

/// Starts QEMU and says hello; a start-up that fails (a port taken by
/// another process, a connection the emulator drops under load) is retried
/// on a fresh port, and the last failure carries QEMU's own stderr.
fn open_qemu(opts: &OpenOptions) -> Result<OpenBoard> {
    let mut last = None;
    for _ in 0..3 {
        let (child, t, image) = spawn_qemu(opts.preload.as_deref())?;
        let mut guard = Guard(Keep::Qemu(child, image));
        match Device::open(Box::new(t)) {
            Ok(device) => return Ok(OpenBoard { device, guard }),
            Err(e) => {
                let stderr = match &mut guard.0 {
                    Keep::Qemu(c, _) => {
                        let _ = c.kill();
                        let mut msg = String::new();
                        if let Some(mut s) = c.stderr.take() {
                            use std::io::Read;
                            let _ = s.read_to_string(&mut msg);
                        }
                        msg
                    }
                    _ => String::new(),
                };
                last = Some(if stderr.trim().is_empty() {
                    e
                } else {
                    Error::Msg(format!("{e}; qemu-system-arm said: {}", stderr.trim()))
                });
            }
        }
    }
    Err(last.expect("tried"))
}

/// One reachable board, for `device-bridge boards`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reachable {
    /// The name to pass to `--board`.
    pub name: String,
    /// What it is, or why it is unavailable.
    pub note: String,
}

/// Lists what the bridge can reach: built-in boards, the emulator, serial ports.
pub fn list() -> Vec<Reachable> {
    let mut v = vec![
        Reachable {
            name: "host".into(),
            note: "device-bridge-board logic in this process, over TCP".into(),
        },
        Reachable {
            name: "host-pty".into(),
            note: "device-bridge-board logic in this process, over a pseudo-terminal".into(),
        },
    ];
    v.push(Reachable {
        name: QEMU_BOARD.into(),
        note: match qemu_firmware() {
            Ok((_, fw)) => format!("Cortex-M4 under QEMU, firmware {}", fw.display()),
            Err(why) => format!("unavailable: {why}"),
        },
    });
    match serialport::available_ports() {
        Ok(ports) => v.extend(ports.into_iter().map(|p| Reachable {
            name: format!("serial:{}", p.port_name),
            note: format!("{:?}", p.port_type),
        })),
        Err(e) => v.push(Reachable {
            name: "serial:*".into(),
            note: format!("cannot list serial ports: {e}"),
        }),
    }
    v
}
