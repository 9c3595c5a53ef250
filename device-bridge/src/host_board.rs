//! The `host` board: `device-bridge-board`'s logic in a thread of this process,
//! served on a TCP port or the far end of a pseudo-terminal, so the whole
//! protocol path is exercised without hardware or an emulator.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use device_bridge_board::{Board, Clock, Config, Tx};
use device_bridge_protocol::msg::{Counter, Flavor};

/// The host board's name in `hello`.
pub const NAME: &str = "host";

/// Sizes of the host board's memories.
#[derive(Debug, Clone, Copy)]
pub struct HostBoardConfig {
    /// Model storage in bytes. Default 1 MiB.
    pub model_capacity: usize,
    /// Tensor arena in bytes. Default 512 KiB.
    pub arena_capacity: usize,
}

impl Default for HostBoardConfig {
    fn default() -> Self {
        HostBoardConfig {
            model_capacity: 1 << 20,
            arena_capacity: 512 << 10,
        }
    }
}

/// Nanoseconds since the board started.
struct WallClock(Instant);

impl Clock for WallClock {
    fn now(&mut self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

type HostBoardState = Board<Vec<u8>, Vec<u8>, WallClock>;

fn new_board(cfg: HostBoardConfig) -> HostBoardState {
    let config = Config {
        name: NAME,
        cpu: std::env::consts::ARCH,
        clock_hz: 1_000_000_000,
        counter: Counter::Nanoseconds,
        flavor: Flavor::LiteRt,
    };
    Board::new(
        config,
        vec![0; cfg.model_capacity],
        vec![0; cfg.arena_capacity],
        WallClock(Instant::now()),
    )
}

/// Buffers replies and writes them to a stream (errors end the connection).
struct StreamTx<W: Write> {
    w: W,
    failed: bool,
}

impl<W: Write> Tx for StreamTx<W> {
    fn write(&mut self, bytes: &[u8]) {
        if !self.failed && self.w.write_all(bytes).is_err() {
            self.failed = true;
        }
    }
}

/// Controls a running host board.
pub struct HostBoard {
    addr: Option<SocketAddr>,
    reset: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HostBoard {
    /// Serves a host board on `127.0.0.1` at an OS-chosen port; connections
    /// come and go, the board's state persists (like a board on a serial line).
    pub fn spawn_tcp(cfg: HostBoardConfig) -> std::io::Result<HostBoard> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        Self::serve(listener, cfg)
    }

    /// Serves a host board on a given listener.
    pub fn serve(listener: TcpListener, cfg: HostBoardConfig) -> std::io::Result<HostBoard> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let reset = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (reset.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut board = new_board(cfg);
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve_stream(&mut board, stream, &r, &s),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(HostBoard {
            addr: Some(addr),
            reset,
            stop,
            thread: Some(thread),
        })
    }

    /// Serves a host board on the far end of a new pseudo-terminal; returns
    /// the board and the host end, to open with [`crate::transport::Serial::from_port`].
    pub fn spawn_pty(cfg: HostBoardConfig) -> std::io::Result<(HostBoard, serialport::TTYPort)> {
        let (host_end, board_end) = serialport::TTYPort::pair().map_err(std::io::Error::other)?;
        Ok((Self::serve_port(board_end, None, cfg, true)?, host_end))
    }

    /// Serves a host board on the master side of a new pseudo-terminal for
    /// other programs (e.g. an MLPerf runner); returns the path they open.
    pub fn spawn_pty_device(cfg: HostBoardConfig) -> std::io::Result<(HostBoard, String)> {
        use serialport::SerialPort;
        let (master, slave) = serialport::TTYPort::pair().map_err(std::io::Error::other)?;
        let path = slave
            .name()
            .ok_or_else(|| std::io::Error::other("pseudo-terminal has no name"))?;
        // Holding the slave open keeps the master readable while no client is attached.
        Ok((Self::serve_port(master, Some(slave), cfg, false)?, path))
    }

    /// Runs a board on `port` in a thread (printing the boot banner first if `boot`);
    /// `keep` stays open as long as the thread runs.
    fn serve_port(
        mut port: serialport::TTYPort,
        keep: Option<serialport::TTYPort>,
        cfg: HostBoardConfig,
        boot: bool,
    ) -> std::io::Result<HostBoard> {
        use serialport::SerialPort;
        port.set_timeout(Duration::from_millis(20))
            .map_err(std::io::Error::other)?;
        let reset = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (reset.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let _keep = keep;
            let mut board = new_board(cfg);
            let Ok(mut writer) = port.try_clone_native() else {
                return;
            };
            let mut tx = StreamTx {
                w: &mut writer,
                failed: false,
            };
            if boot {
                board.boot(&mut tx);
            }
            let mut buf = [0u8; 4096];
            while !s.load(Ordering::Relaxed) && !tx.failed {
                let n = match port.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => 0,
                    Err(_) => break,
                };
                feed(&mut board, &buf[..n], &mut tx, &r);
            }
        });
        Ok(HostBoard {
            addr: None,
            reset,
            stop,
            thread: Some(thread),
        })
    }

    /// Blocks until the board's thread ends (for a board served by the CLI).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// The TCP address, for a TCP board.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Resets the board before it handles its next byte, as a power cycle would.
    pub fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }

    /// A handle that resets the board (e.g. from a relay's callback).
    pub fn reset_handle(&self) -> Arc<AtomicBool> {
        self.reset.clone()
    }
}

impl Drop for HostBoard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn feed(board: &mut HostBoardState, bytes: &[u8], tx: &mut impl Tx, reset: &AtomicBool) {
    for &b in bytes {
        if reset.swap(false, Ordering::SeqCst) {
            board.reset();
            board.boot(tx);
        }
        board.on_byte(b, tx);
    }
}

fn serve_stream(
    board: &mut HostBoardState,
    stream: TcpStream,
    reset: &AtomicBool,
    stop: &AtomicBool,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let Ok(mut reader) = stream.try_clone() else {
        return;
    };
    let mut tx = StreamTx {
        w: std::io::BufWriter::new(stream),
        failed: false,
    };
    board.boot(&mut tx);
    let _ = tx.w.flush();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) && !tx.failed {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                feed(board, &buf[..n], &mut tx, reset);
                if tx.w.flush().is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}
