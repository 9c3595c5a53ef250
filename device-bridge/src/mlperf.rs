//! The host side of the MLPerf Tiny runner's text protocol: drive any DUT
//! that speaks EEMBC's `ee_lib` commands (ours or another firmware).

use std::time::{Duration, Instant};

use device_bridge_protocol::mlperf::{parse_line, Line, DB_HEX_PER_COMMAND, TERMINATOR};

use crate::error::{Error, Result};
use crate::transport::Transport;

/// An MLPerf Tiny device under test.
pub struct MlperfDut {
    t: Box<dyn Transport>,
    pending: Vec<u8>,
    /// How long one command may take to reach `m-ready`. Default 20 s.
    pub timeout: Duration,
}

/// What `infer N W` printed.
#[derive(Debug, Clone, PartialEq)]
pub struct InferResult {
    /// The `m-results-[...]` values.
    pub results: Vec<f32>,
    /// Microseconds between the two `m-lap-us-` lines (the N timed runs).
    pub elapsed_us: u64,
    /// Every line, in order.
    pub lines: Vec<String>,
}

fn err(message: String) -> Error {
    Error::Protocol {
        what: "mlperf",
        message,
    }
}

impl MlperfDut {
    /// Wraps a link and discards what the DUT printed at boot (until 200 ms of quiet).
    pub fn open(t: Box<dyn Transport>) -> Result<Self> {
        let mut d = MlperfDut {
            t,
            pending: Vec::new(),
            timeout: Duration::from_secs(20),
        };
        let mut buf = [0u8; 1024];
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            let n =
                d.t.recv(&mut buf, Duration::from_millis(200))
                    .map_err(|source| Error::Link {
                        what: "mlperf",
                        source,
                    })?;
            if n == 0 {
                break;
            }
        }
        Ok(d)
    }

    /// Sends `cmd%` and returns the lines up to (without) `m-ready`; an `e-[...]` line is an error.
    pub fn command(&mut self, cmd: &str) -> Result<Vec<String>> {
        let mut wire = cmd.as_bytes().to_vec();
        wire.push(TERMINATOR);
        self.t.send(&wire).map_err(|source| Error::Link {
            what: "mlperf",
            source,
        })?;
        let deadline = Instant::now() + self.timeout;
        let mut lines = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.pending.drain(..=i).collect();
                // Binary frames from a bridge-protocol board start with 0x00; skip non-text.
                let text = String::from_utf8_lossy(&raw)
                    .trim_matches(|c: char| c.is_whitespace() || c == '\0')
                    .to_string();
                if text.is_empty() {
                    continue;
                }
                match parse_line(&text) {
                    Line::Ready => return Ok(lines),
                    Line::Error(e) => {
                        // Drain through m-ready so the next command starts clean.
                        let _ = self.until_ready(deadline);
                        return Err(err(format!("'{cmd}': the device replied e-[{e}]")));
                    }
                    _ => lines.push(text),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout {
                    what: "mlperf command",
                    attempts: 1,
                    timeout: self.timeout,
                });
            }
            let n = self.t.recv(&mut buf, left).map_err(|source| Error::Link {
                what: "mlperf",
                source,
            })?;
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    fn until_ready(&mut self, deadline: Instant) -> Result<()> {
        let mut buf = [0u8; 1024];
        while Instant::now() < deadline {
            if let Some(i) = self.pending.windows(7).position(|w| w == b"m-ready") {
                self.pending.drain(..i + 7);
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let n = self.t.recv(&mut buf, left).map_err(|source| Error::Link {
                what: "mlperf",
                source,
            })?;
            self.pending.extend_from_slice(&buf[..n]);
        }
        Ok(())
    }

    /// `name%`: the DUT's name.
    pub fn name(&mut self) -> Result<String> {
        let lines = self.command("name")?;
        lines
            .iter()
            .find_map(|l| match parse_line(l) {
                Line::Name(n) => Some(n.to_string()),
                _ => None,
            })
            .ok_or_else(|| err(format!("'name': no m-name line in {lines:?}")))
    }

    /// `db load N%` then `db HEX%` commands: the input tensor's bytes.
    pub fn load(&mut self, bytes: &[u8]) -> Result<()> {
        self.command(&format!("db load {}", bytes.len()))?;
        let mut done = false;
        for chunk in bytes.chunks(DB_HEX_PER_COMMAND / 2) {
            let hex: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let lines = self.command(&format!("db {hex}"))?;
            done |= lines.iter().any(|l| parse_line(l) == Line::LoadDone);
        }
        if !done {
            return Err(err(format!(
                "'db': no m-load-done after {} bytes",
                bytes.len()
            )));
        }
        Ok(())
    }

    /// `infer N W%`: `W` warm-up runs, `N` timed runs, then the results.
    pub fn infer(&mut self, n: usize, warmup: usize) -> Result<InferResult> {
        let lines = self.command(&format!("infer {n} {warmup}"))?;
        let laps: Vec<u64> = lines
            .iter()
            .filter_map(|l| match parse_line(l) {
                Line::LapUs(v) => Some(v),
                _ => None,
            })
            .collect();
        let [t0, t1] = laps[..] else {
            return Err(err(format!(
                "'infer': expected 2 m-lap-us lines, got {}",
                laps.len()
            )));
        };
        let results = parse_results(&lines)?;
        Ok(InferResult {
            results,
            elapsed_us: t1.saturating_sub(t0),
            lines,
        })
    }

    /// `results%`: the last output as floats.
    pub fn results(&mut self) -> Result<Vec<f32>> {
        let lines = self.command("results")?;
        parse_results(&lines)
    }
}

fn parse_results(lines: &[String]) -> Result<Vec<f32>> {
    let r = lines
        .iter()
        .find_map(|l| match parse_line(l) {
            Line::Results(r) => Some(r),
            _ => None,
        })
        .ok_or_else(|| err(format!("no m-results line in {lines:?}")))?;
    r.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<f32>()
                .map_err(|e| err(format!("bad result value '{s}': {e}")))
        })
        .collect()
}
