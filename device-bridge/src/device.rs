//! An open board: hello, model push with resume, inputs, invoke, outputs, profile.

use std::time::{Duration, Instant};

use device_bridge_protocol::crc::crc32;
use device_bridge_protocol::msg::{Counter, ErrorCode, Flavor, ModelInfo, Request, Response};
use device_bridge_protocol::PROTOCOL_VERSION;

use crate::error::{Error, Result};
use crate::link::{unexpected, Link, LinkStats};
use crate::transport::Transport;

/// What a board said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardInfo {
    /// Board name.
    pub name: String,
    /// CPU.
    pub cpu: String,
    /// Core clock in Hz.
    pub clock_hz: u32,
    /// What counts are in.
    pub counter: Counter,
    /// Model storage in bytes.
    pub model_capacity: u32,
    /// Tensor arena in bytes.
    pub arena_capacity: u32,
    /// Largest chunk accepted.
    pub max_chunk: u16,
    /// Supported TFLite builtin codes.
    pub ops: Vec<u16>,
    /// Whose arithmetic its kernels follow (the host reference follows the same).
    pub flavor: workbench_tflite::Flavor,
}

/// How a model push went.
#[derive(Debug, Clone, PartialEq)]
pub struct PushReport {
    /// Model bytes.
    pub bytes: usize,
    /// Bytes actually sent (resends and restarts included).
    pub sent: usize,
    /// Wall time of the push, preparation on the board included.
    pub seconds: f64,
    /// Transfers restarted from scratch (e.g. the board was reset).
    pub restarts: u32,
    /// Bytes the board already held when the push began (a resumed transfer).
    pub resumed_at: usize,
    /// What the board reported after preparing the model.
    pub model: ModelInfo,
}

impl PushReport {
    /// Model bytes per second.
    pub fn throughput(&self) -> f64 {
        self.bytes as f64 / self.seconds.max(1e-9)
    }
}

/// How long an invoke may take before it is resent.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long preparing a model may take.
pub const PREPARE_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times a push restarts from scratch before giving up.
pub const MAX_RESTARTS: u32 = 4;

/// An open board.
pub struct Device {
    link: Link,
    info: BoardInfo,
    model: Option<ModelInfo>,
    /// Chunk size for pushes (at most the board's `max_chunk`).
    pub chunk: usize,
}

impl Device {
    /// Opens a board on `transport`: says hello and checks the protocol version.
    pub fn open(transport: Box<dyn Transport>) -> Result<Self> {
        Self::open_link(Link::new(transport))
    }

    /// Opens a board on a configured link.
    pub fn open_link(mut link: Link) -> Result<Self> {
        let info = link.call(&Request::Hello, |r| match r {
            Response::Hello(i) => Ok(BoardInfo {
                name: i.name.to_string(),
                cpu: i.cpu.to_string(),
                clock_hz: i.clock_hz,
                counter: i.counter,
                model_capacity: i.model_capacity,
                arena_capacity: i.arena_capacity,
                max_chunk: i.max_chunk,
                ops: i.ops().to_vec(),
                flavor: match i.flavor {
                    Flavor::LiteRt => workbench_tflite::Flavor::LiteRt,
                    Flavor::Micro => workbench_tflite::Flavor::Micro,
                },
            })
            .and_then(|b| {
                if i.protocol != PROTOCOL_VERSION {
                    Err(Error::Version {
                        board: i.protocol,
                        host: PROTOCOL_VERSION,
                    })
                } else {
                    Ok(b)
                }
            }),
            r => unexpected("hello", &r),
        })?;
        let chunk = usize::from(info.max_chunk).min(device_bridge_protocol::MAX_CHUNK);
        Ok(Device {
            link,
            info,
            model: None,
            chunk,
        })
    }

    /// The board's self-description.
    pub fn info(&self) -> &BoardInfo {
        &self.info
    }

    /// The link's recovery counters.
    pub fn link_stats(&self) -> LinkStats {
        self.link.stats
    }

    /// The link, e.g. to hand the transport to an [`crate::mlperf::MlperfDut`].
    pub fn into_link(self) -> Link {
        self.link
    }

    /// The link, e.g. to change its timeout.
    pub fn link_mut(&mut self) -> &mut Link {
        &mut self.link
    }

    /// What the board reported about the loaded model.
    pub fn model(&self) -> Option<&ModelInfo> {
        self.model.as_ref()
    }

    /// Pushes `.tflite` bytes in acknowledged chunks and has the board prepare them.
    ///
    /// A transfer the board already holds part of resumes where it stopped;
    /// one the board lost (reset, CRC mismatch) restarts, at most
    /// [`MAX_RESTARTS`] times.
    pub fn push_model(&mut self, bytes: &[u8]) -> Result<PushReport> {
        let start = Instant::now();
        let (size, crc) = (bytes.len() as u32, crc32(bytes));
        let mut restarts = 0;
        let mut sent = 0;
        let mut first_resume = None;
        loop {
            match self.try_push(bytes, size, crc, &mut sent, &mut first_resume) {
                Ok(model) => {
                    self.model = Some(model);
                    return Ok(PushReport {
                        bytes: bytes.len(),
                        sent,
                        seconds: start.elapsed().as_secs_f64(),
                        restarts,
                        resumed_at: first_resume.unwrap_or(0),
                        model,
                    });
                }
                Err(e)
                    if matches!(
                        e.board_code(),
                        Some(
                            ErrorCode::NoTransfer
                                | ErrorCode::OutOfOrder
                                | ErrorCode::Incomplete
                                | ErrorCode::ModelCrc
                        )
                    ) && restarts < MAX_RESTARTS =>
                {
                    restarts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn try_push(
        &mut self,
        bytes: &[u8],
        size: u32,
        crc: u32,
        sent: &mut usize,
        first: &mut Option<usize>,
    ) -> Result<ModelInfo> {
        self.model = None;
        let mut off = self
            .link
            .call(&Request::LoadBegin { size, crc }, |r| match r {
                Response::LoadReady { resume_at } if resume_at <= size => Ok(resume_at as usize),
                r => unexpected("load begin", &r),
            })?;
        first.get_or_insert(off);
        while off < bytes.len() {
            let end = (off + self.chunk).min(bytes.len());
            let req = Request::LoadChunk {
                offset: off as u32,
                data: &bytes[off..end],
            };
            *sent += end - off;
            off = self.link.call(&req, |r| match r {
                Response::LoadAck { next } if (next as usize) <= bytes.len() => Ok(next as usize),
                r => unexpected("load chunk", &r),
            })?;
        }
        self.link
            .call_with(&Request::LoadEnd, PREPARE_TIMEOUT, |r| match r {
                Response::ModelReady(m) => Ok(m),
                r => unexpected("load end", &r),
            })
    }

    /// Writes graph input `index`'s bytes.
    pub fn set_input(&mut self, index: u8, bytes: &[u8]) -> Result<()> {
        for (k, c) in bytes.chunks(self.chunk).enumerate() {
            let req = Request::SetInput {
                index,
                offset: (k * self.chunk) as u32,
                data: c,
            };
            self.link.call(&req, |r| match r {
                Response::Ack => Ok(()),
                r => unexpected("set input", &r),
            })?;
        }
        Ok(())
    }

    /// Runs the model once; returns the board's count (see [`BoardInfo::counter`]).
    pub fn invoke(&mut self) -> Result<u64> {
        self.link
            .call_with(&Request::Invoke, INVOKE_TIMEOUT, |r| match r {
                Response::Invoked { count } => Ok(count),
                r => unexpected("invoke", &r),
            })
    }

    /// Reads graph output `index`'s bytes.
    pub fn output(&mut self, index: u8) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let req = Request::GetOutput {
                index,
                offset: out.len() as u32,
                len: self.chunk as u16,
            };
            let done = self.link.call(&req, |r| match r {
                Response::Output { total, data } => {
                    out.extend_from_slice(data);
                    if data.is_empty() && out.len() < total as usize {
                        return Err(Error::Protocol {
                            what: "get output",
                            message: "empty chunk before the end".into(),
                        });
                    }
                    Ok(out.len() >= total as usize)
                }
                r => unexpected("get output", &r),
            })?;
            if done {
                return Ok(out);
            }
        }
    }

    /// Per-op (builtin code, count) of the last invoke.
    pub fn profile(&mut self) -> Result<Vec<(u16, u64)>> {
        let mut v: Vec<(u16, u64)> = Vec::new();
        loop {
            let req = Request::GetProfile {
                first: v.len() as u16,
            };
            let total = self.link.call(&req, |r| match r {
                Response::Profile {
                    total,
                    first,
                    entries,
                    len,
                } if first as usize == v.len() => {
                    v.extend(entries[..len as usize].iter().map(|e| (e.code, e.count)));
                    if len == 0 && v.len() < total as usize {
                        return Err(Error::Protocol {
                            what: "get profile",
                            message: "empty page before the end".into(),
                        });
                    }
                    Ok(total as usize)
                }
                r => unexpected("get profile", &r),
            })?;
            if v.len() >= total {
                return Ok(v);
            }
        }
    }

    /// Forgets the board's model.
    pub fn reset(&mut self) -> Result<()> {
        self.model = None;
        self.link.call(&Request::Reset, |r| match r {
            Response::Ack => Ok(()),
            r => unexpected("reset", &r),
        })
    }

    /// Runs one sample per entry of `inputs` (graph input 0's bytes); returns
    /// graph output 0's bytes and the count of each run, and the profile of the last.
    pub fn run_batch(&mut self, inputs: &[Vec<u8>], profile: bool) -> Result<BatchRun> {
        let mut run = BatchRun::default();
        for x in inputs {
            self.set_input(0, x)?;
            run.counts.push(self.invoke()?);
            run.outputs.push(self.output(0)?);
        }
        if profile && !inputs.is_empty() {
            run.profile = self.profile()?;
        }
        Ok(run)
    }
}

/// Outputs and counts of a batch run on a board.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchRun {
    /// Graph output 0's bytes per sample.
    pub outputs: Vec<Vec<u8>>,
    /// The count of each invoke.
    pub counts: Vec<u64>,
    /// (builtin code, count) per op of the last invoke, if asked for.
    pub profile: Vec<(u16, u64)>,
}
