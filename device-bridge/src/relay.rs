//! A fault-injecting TCP relay between a host and a board, for tests: it
//! drops, duplicates and corrupts bytes at given rates, can cut the link
//! after a number of bytes, and can call a hook (e.g. reset the board) when
//! a number of bytes has gone to the board.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Fault rates per byte (0.0 to 1.0) and one-off events.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Probability that a byte is dropped.
    pub drop: f64,
    /// Probability that a byte is sent twice.
    pub duplicate: f64,
    /// Probability that a byte has a random bit flipped.
    pub corrupt: f64,
    /// Close both connections once this many bytes have gone host to board.
    pub cut_after: Option<u64>,
    /// Seed of the deterministic random generator.
    pub seed: u64,
}

/// xorshift64*: deterministic faults for reproducible tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// A hook called once when `at` bytes have gone host to board.
pub struct Trigger {
    /// Byte count (host to board) that fires the hook.
    pub at: u64,
    /// Set to true when it fires (e.g. a host board's reset flag).
    pub flag: Arc<AtomicBool>,
}

/// A running relay.
pub struct Relay {
    addr: SocketAddr,
    /// Bytes faulted so far (both directions).
    pub faults: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on an OS-chosen local port and relays each connection to `board`.
    pub fn spawn(
        board: SocketAddr,
        faults: Faults,
        trigger: Option<Trigger>,
    ) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (s, c) = (stop.clone(), count.clone());
        let trigger = trigger.map(Arc::new);
        let thread = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let Ok((host, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let Ok(dev) = TcpStream::connect(board) else {
                    continue;
                };
                let _ = host.set_nodelay(true);
                let _ = dev.set_nodelay(true);
                let sent = Arc::new(AtomicU64::new(0));
                for (k, (from, to)) in [
                    (host.try_clone(), dev.try_clone()),
                    (dev.try_clone(), host.try_clone()),
                ]
                .into_iter()
                .enumerate()
                {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        continue;
                    };
                    let (s, c, sent) = (s.clone(), c.clone(), sent.clone());
                    let trig = if k == 0 { trigger.clone() } else { None };
                    let seed = faults.seed.wrapping_add(k as u64 * 0x9E37_79B9) | 1;
                    conns.push(std::thread::spawn(move || {
                        pump(
                            from,
                            to,
                            faults,
                            seed,
                            k == 0,
                            &sent,
                            trig.as_deref(),
                            &s,
                            &c,
                        )
                    }));
                }
            }
            for t in conns {
                let _ = t.join();
            }
        });
        Ok(Relay {
            addr,
            faults: count,
            stop,
            thread: Some(thread),
        })
    }

    /// Where hosts connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    f: Faults,
    seed: u64,
    to_board: bool,
    sent: &AtomicU64,
    trigger: Option<&Trigger>,
    stop: &AtomicBool,
    faulted: &AtomicU64,
) {
    let mut rng = Rng(seed);
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = [0u8; 4096];
    let mut out = Vec::with_capacity(8192);
    while !stop.load(Ordering::Relaxed) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => break,
        };
        out.clear();
        for &b in &buf[..n] {
            if to_board {
                let k = sent.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some(t) = trigger {
                    if k == t.at {
                        t.flag.store(true, Ordering::SeqCst);
                    }
                }
                if f.cut_after.is_some_and(|c| k >= c) {
                    let _ = to.write_all(&out);
                    let _ = from.shutdown(std::net::Shutdown::Both);
                    let _ = to.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
            if rng.chance(f.drop) {
                faulted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let mut b = b;
            if rng.chance(f.corrupt) {
                faulted.fetch_add(1, Ordering::Relaxed);
                b ^= 1 << (rng.next() % 8);
            }
            out.push(b);
            if rng.chance(f.duplicate) {
                faulted.fetch_add(1, Ordering::Relaxed);
                out.push(b);
            }
        }
        if to.write_all(&out).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}
