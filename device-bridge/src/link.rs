//! Stop-and-wait request/response over a [`Transport`]: sequence numbers,
//! CRC-checked COBS frames, a timeout on every wait and bounded retries.

use std::time::{Duration, Instant};

use device_bridge_protocol::cobs::{Accumulator, Feed};
use device_bridge_protocol::frame::{self, MAX_FRAME, MAX_WIRE};
use device_bridge_protocol::msg::{Request, Response};
use device_bridge_protocol::{MAX_PAYLOAD, PROTOCOL_VERSION};

use crate::error::{Error, Result};
use crate::transport::Transport;

/// Counters of what the link had to recover from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Requests sent (first attempts).
    pub requests: u64,
    /// Requests resent after a timeout.
    pub resent: u64,
    /// Received frames dropped for bad COBS or CRC.
    pub dropped: u64,
    /// Valid replies with an old sequence number (duplicates), ignored.
    pub stale: u64,
}

/// The name of a request, for errors.
pub fn request_name(r: &Request<'_>) -> &'static str {
    match r {
        Request::Hello => "hello",
        Request::LoadBegin { .. } => "load begin",
        Request::LoadChunk { .. } => "load chunk",
        Request::LoadEnd => "load end",
        Request::SetInput { .. } => "set input",
        Request::Invoke => "invoke",
        Request::GetOutput { .. } => "get output",
        Request::GetProfile { .. } => "get profile",
        Request::Reset => "reset",
        _ => "request",
    }
}

/// A framed, retrying link to one board.
pub struct Link {
    transport: Box<dyn Transport>,
    acc: Box<Accumulator<MAX_WIRE>>,
    seq: u16,
    /// Protocol version written into frames (tests change it to provoke a mismatch).
    pub version: u8,
    /// How long to wait for each reply before resending. Default 1 s.
    pub timeout: Duration,
    /// Attempts per request (first send included). Default 6.
    pub attempts: u32,
    /// What was recovered from so far.
    pub stats: LinkStats,
    /// Bytes since the last frame delimiter, to show text a board printed (e.g. a panic).
    text: Vec<u8>,
}

/// Most bytes of board text kept for error messages.
const MAX_TEXT: usize = 512;

impl Link {
    /// A link over `transport` with the default timeout and attempts.
    pub fn new(transport: Box<dyn Transport>) -> Self {
        Link {
            transport,
            acc: Box::new(Accumulator::new()),
            seq: 0,
            version: PROTOCOL_VERSION,
            timeout: Duration::from_secs(1),
            attempts: 6,
            stats: LinkStats::default(),
            text: Vec::new(),
        }
    }

    /// The transport, e.g. to speak another protocol on the same link.
    pub fn into_transport(self) -> Box<dyn Transport> {
        self.transport
    }

    /// Describes the transport.
    pub fn describe(&self) -> String {
        self.transport.describe()
    }

    /// Sends `req` and hands the matching reply to `f`, with `timeout` per attempt.
    /// A board error reply becomes [`Error::Board`].
    pub fn call_with<R>(
        &mut self,
        req: &Request<'_>,
        timeout: Duration,
        f: impl FnOnce(Response<'_>) -> Result<R>,
    ) -> Result<R> {
        let what = request_name(req);
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut payload = [0u8; MAX_PAYLOAD];
        let (tag, n) = req.encode(&mut payload);
        let mut raw = [0u8; MAX_FRAME];
        let mut wire = vec![0u8; MAX_WIRE + 1];
        // A leading delimiter makes the board drop any partial frame first.
        let len = frame::encode(
            self.version,
            seq,
            tag,
            &payload[..n],
            &mut raw,
            &mut wire[1..],
        ) + 1;
        let link_err = |source| Error::Link { what, source };
        self.stats.requests += 1;
        let mut buf = [0u8; 4096];
        let mut rx = vec![0u8; MAX_FRAME];
        for attempt in 0..self.attempts {
            if attempt > 0 {
                self.stats.resent += 1;
            }
            self.transport.send(&wire[..len]).map_err(link_err)?;
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let got = self.transport.recv(&mut buf, left).map_err(link_err)?;
                for &b in &buf[..got] {
                    if b == 0 {
                        self.text.clear();
                    } else if self.text.len() < MAX_TEXT {
                        self.text.push(b);
                    }
                    let m = match self.acc.feed(b) {
                        Feed::Consumed => continue,
                        Feed::Dropped => {
                            self.stats.dropped += 1;
                            continue;
                        }
                        Feed::Frame(fr) => {
                            rx[..fr.len()].copy_from_slice(fr);
                            fr.len()
                        }
                    };
                    let Ok(fr) = frame::parse(&rx[..m]) else {
                        self.stats.dropped += 1;
                        continue;
                    };
                    if fr.seq != seq {
                        self.stats.stale += 1;
                        continue;
                    }
                    let resp =
                        Response::decode(fr.tag, fr.payload).map_err(|e| Error::Protocol {
                            what,
                            message: format!("undecodable reply (tag {:#04x}): {e}", fr.tag),
                        })?;
                    if let Response::Error { code, a, b, text } = resp {
                        if code == device_bridge_protocol::msg::ErrorCode::Version {
                            return Err(Error::Version {
                                board: a as u8,
                                host: b as u8,
                            });
                        }
                        return Err(Error::Board {
                            what,
                            code,
                            a,
                            b,
                            message: text.to_string(),
                        });
                    }
                    return f(resp);
                }
            }
        }
        let printed = self.printed_text();
        if !printed.is_empty() {
            return Err(Error::Protocol {
                what,
                message: format!(
                    "no reply after {} attempts; the board printed: {printed}",
                    self.attempts
                ),
            });
        }
        Err(Error::Timeout {
            what,
            attempts: self.attempts,
            timeout,
        })
    }

    /// Printable text the board sent outside frames since the last delimiter.
    fn printed_text(&self) -> String {
        let t = &self.text;
        if t.iter()
            .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n')
        {
            String::from_utf8_lossy(t).trim().to_string()
        } else {
            String::new()
        }
    }

    /// [`call_with`](Self::call_with) with the link's default timeout.
    pub fn call<R>(
        &mut self,
        req: &Request<'_>,
        f: impl FnOnce(Response<'_>) -> Result<R>,
    ) -> Result<R> {
        self.call_with(req, self.timeout, f)
    }
}

/// The error for a reply of the wrong kind.
pub(crate) fn unexpected<T>(what: &'static str, r: &Response<'_>) -> Result<T> {
    Err(Error::Protocol {
        what,
        message: format!("unexpected reply {r:?}"),
    })
}
