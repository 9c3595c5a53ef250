//! The board's protocol state machine: binary frames and MLPerf text commands.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use device_bridge_protocol::cobs::{Accumulator, Feed};
use device_bridge_protocol::crc::crc32;
use device_bridge_protocol::frame::{self, MAX_FRAME, MAX_WIRE};
use device_bridge_protocol::mlperf::{self, Command};
use device_bridge_protocol::msg::{
    BoardInfo, Counter, Flavor, IoInfo, ModelInfo, OpCount, Request, Response, MAX_IO, MAX_OPS,
    PROFILE_PAGE,
};
use device_bridge_protocol::{MAX_CHUNK, MAX_PAYLOAD, PROTOCOL_VERSION};

use crate::berr;
use crate::error::{BoardError, Result};
use crate::model::{self, dtype, Plan};

/// Where the board's replies go (a UART, a socket).
pub trait Tx {
    /// Sends bytes; may block until they are out.
    fn write(&mut self, bytes: &[u8]);
}

/// The board's counter: cycles, retired instructions or nanoseconds.
pub trait Clock {
    /// The current count (monotonic).
    fn now(&mut self) -> u64;
}

/// What a board says about itself in the hello reply.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Board name, e.g. `qemu-mps2-an386`.
    pub name: &'static str,
    /// CPU, e.g. `cortex-m4`.
    pub cpu: &'static str,
    /// Core clock in Hz (converts counts to microseconds for MLPerf timestamps).
    pub clock_hz: u32,
    /// What the [`Clock`] counts.
    pub counter: Counter,
    /// Whose arithmetic models are prepared for (TFLite Micro's on a microcontroller).
    pub flavor: Flavor,
}

/// A model transfer in progress.
#[derive(Debug, Clone, Copy)]
struct Transfer {
    size: usize,
    crc: u32,
    received: usize,
}

/// MLPerf `db` buffer state: bytes go straight into graph input 0.
#[derive(Debug, Clone, Copy, Default)]
struct Db {
    expect: usize,
    pos: usize,
}

/// Frame buffers, apart from the state so a reply may borrow the arena.
struct Io {
    rx: [u8; MAX_FRAME],
    payload: [u8; MAX_PAYLOAD],
    raw: [u8; MAX_FRAME],
    wire: [u8; MAX_WIRE + 1],
}

impl Io {
    fn send(&mut self, seq: u16, r: &Response<'_>, tx: &mut impl Tx) {
        let (tag, n) = r.encode(&mut self.payload);
        // A leading delimiter flushes any partial frame or text at the host.
        self.wire[0] = 0;
        let len = frame::encode(
            PROTOCOL_VERSION,
            seq,
            tag,
            &self.payload[..n],
            &mut self.raw,
            &mut self.wire[1..],
        );
        tx.write(&self.wire[..len + 1]);
    }
}

/// Forwards formatted text to a [`Tx`].
struct Text<'t, T: Tx>(&'t mut T);

impl<T: Tx> Write for Text<'_, T> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// Board state over caller-provided model storage `S` and tensor arena `A`.
pub struct Board<S, A, C> {
    cfg: Config,
    model: S,
    arena: A,
    /// Arena bytes skipped so that the usable arena is 4-aligned.
    arena_skip: usize,
    clock: C,
    acc: Accumulator<MAX_WIRE>,
    io: Io,
    transfer: Option<Transfer>,
    /// Size and CRC of the prepared model.
    loaded: Option<(usize, u32)>,
    plan: Option<Plan>,
    profile: Vec<u64>,
    db: Db,
    /// Frames dropped for bad COBS or CRC (link noise).
    pub dropped_frames: u32,
}

impl<S: AsRef<[u8]> + AsMut<[u8]>, A: AsRef<[u8]> + AsMut<[u8]>, C: Clock> Board<S, A, C> {
    /// A board storing models in `model` and running them in `arena`.
    pub fn new(cfg: Config, model: S, mut arena: A, clock: C) -> Self {
        let p = arena.as_mut().as_ptr() as usize;
        let arena_skip = (4 - p % 4) % 4;
        Board {
            cfg,
            model,
            arena,
            arena_skip,
            clock,
            acc: Accumulator::new(),
            io: Io {
                rx: [0; MAX_FRAME],
                payload: [0; MAX_PAYLOAD],
                raw: [0; MAX_FRAME],
                wire: [0; MAX_WIRE + 1],
            },
            transfer: None,
            loaded: None,
            plan: None,
            profile: Vec::new(),
            db: Db::default(),
            dropped_frames: 0,
        }
    }

    /// Forgets the model and any transfer, as a power-on reset does.
    pub fn reset(&mut self) {
        self.acc.clear();
        self.transfer = None;
        self.loaded = None;
        self.plan = None;
        self.profile.clear();
        self.db = Db::default();
    }

    /// Prints the MLPerf boot lines (`m-init-done`, `m-ready`).
    pub fn boot(&mut self, tx: &mut impl Tx) {
        tx.write(b"m-init-done\r\nm-ready\r\n");
    }

    fn arena_capacity(&self) -> usize {
        self.arena.as_ref().len().saturating_sub(self.arena_skip)
    }

    /// The prepared model, if any.
    pub fn plan(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }

    /// Per-op counts of the last invoke.
    pub fn profile(&self) -> &[u64] {
        &self.profile
    }

    /// Handles one received byte.
    pub fn on_byte(&mut self, byte: u8, tx: &mut impl Tx) {
        if byte == mlperf::TERMINATOR {
            let pending = self.acc.pending();
            // Binary frames carry the version byte (0x01) second, so never look like text.
            let text = !pending.is_empty()
                && pending
                    .iter()
                    .all(|&b| (0x20..0x7F).contains(&b) || b == b'\r' || b == b'\n');
            if text {
                let mut line = [0u8; mlperf::CMD_SIZE];
                let p = pending.trim_ascii();
                let n = p.len().min(line.len());
                line[..n].copy_from_slice(&p[..n]);
                self.acc.clear();
                let s = core::str::from_utf8(&line[..n]).unwrap_or("");
                self.on_text(s, tx);
                return;
            }
        }
        let n = match self.acc.feed(byte) {
            Feed::Consumed => return,
            Feed::Dropped => {
                self.dropped_frames += 1;
                return;
            }
            Feed::Frame(f) => {
                self.io.rx[..f.len()].copy_from_slice(f);
                f.len()
            }
        };
        self.on_frame(n, tx);
    }

    fn on_frame(&mut self, n: usize, tx: &mut impl Tx) {
        let rx = self.io.rx;
        let f = match frame::parse(&rx[..n]) {
            Ok(f) => f,
            Err(_) => {
                // Noise: the host resends after its timeout.
                self.dropped_frames += 1;
                return;
            }
        };
        if f.version != PROTOCOL_VERSION {
            let e = berr!(
                Version,
                PROTOCOL_VERSION,
                f.version,
                "protocol version mismatch: board speaks {PROTOCOL_VERSION}, host sent {}",
                f.version
            );
            return self.send_error(f.seq, &e, tx);
        }
        let req = match Request::decode(f.tag, f.payload) {
            Ok(r) => r,
            Err(e) => {
                let e = berr!(
                    Malformed,
                    f.tag,
                    0,
                    "malformed request (tag {:#04x}): {e}",
                    f.tag
                );
                return self.send_error(f.seq, &e, tx);
            }
        };
        if let Err(e) = self.handle(f.seq, req, tx) {
            self.send_error(f.seq, &e, tx);
        }
    }

    fn send_error(&mut self, seq: u16, e: &BoardError, tx: &mut impl Tx) {
        let r = Response::Error {
            code: e.code,
            a: e.a,
            b: e.b,
            text: e.message(),
        };
        self.io.send(seq, &r, tx);
    }

    fn model_info(&self) -> ModelInfo {
        let plan = self.plan.as_ref().expect("model prepared");
        let mut info = ModelInfo {
            model_bytes: self.loaded.map_or(0, |l| l.0) as u32,
            arena_used: (plan.activations + plan.scratch) as u32,
            plan_bytes: plan.plan_bytes() as u32,
            ops: plan.ops() as u16,
            inputs: [IoInfo::default(); MAX_IO],
            inputs_len: plan.inputs.len().min(MAX_IO) as u8,
            outputs: [IoInfo::default(); MAX_IO],
            outputs_len: plan.outputs.len().min(MAX_IO) as u8,
        };
        for (d, s) in info.inputs.iter_mut().zip(&plan.inputs) {
            *d = IoInfo {
                dtype: s.dtype,
                bytes: s.bytes as u32,
            };
        }
        for (d, s) in info.outputs.iter_mut().zip(&plan.outputs) {
            *d = IoInfo {
                dtype: s.dtype,
                bytes: s.bytes as u32,
            };
        }
        info
    }

    fn handle(&mut self, seq: u16, req: Request<'_>, tx: &mut impl Tx) -> Result<()> {
        let resp = match req {
            Request::Hello => {
                let mut ops = [0; MAX_OPS];
                let mut ops_len = 0;
                for (slot, code) in ops.iter_mut().zip(model::op::supported()) {
                    *slot = code;
                    ops_len += 1;
                }
                let info = BoardInfo {
                    protocol: PROTOCOL_VERSION,
                    name: self.cfg.name,
                    cpu: self.cfg.cpu,
                    clock_hz: self.cfg.clock_hz,
                    counter: self.cfg.counter,
                    model_capacity: self.model.as_ref().len() as u32,
                    arena_capacity: self.arena_capacity() as u32,
                    max_chunk: MAX_CHUNK as u16,
                    ops,
                    ops_len,
                    flavor: self.cfg.flavor,
                };
                self.io.send(seq, &Response::Hello(info), tx);
                return Ok(());
            }
            Request::LoadBegin { size, crc } => {
                let (size, cap) = (size as usize, self.model.as_ref().len());
                if size > cap {
                    return Err(berr!(
                        ModelTooBig,
                        size,
                        cap,
                        "model of {size} bytes exceeds the board's {cap} bytes of model storage"
                    ));
                }
                let resume_at = match (self.transfer, self.loaded) {
                    (Some(t), _) if t.size == size && t.crc == crc => t.received,
                    (None, Some((s, c))) if s == size && c == crc => size,
                    _ => {
                        self.plan = None;
                        self.loaded = None;
                        self.transfer = Some(Transfer {
                            size,
                            crc,
                            received: 0,
                        });
                        0
                    }
                };
                if resume_at == size && self.loaded.is_some() {
                    // Already prepared: keep it, let LoadEnd confirm.
                    self.transfer = None;
                }
                Response::LoadReady {
                    resume_at: resume_at as u32,
                }
            }
            Request::LoadChunk { offset, data } => {
                let Some(t) = self.transfer.as_mut() else {
                    return Err(berr!(
                        NoTransfer,
                        offset,
                        0,
                        "no model transfer in progress (board was reset?); send LoadBegin"
                    ));
                };
                let off = offset as usize;
                if off > t.received {
                    return Err(berr!(
                        OutOfOrder,
                        t.received,
                        off,
                        "chunk at offset {off} skips past {} received bytes",
                        t.received
                    ));
                }
                let end = off + data.len();
                if end > t.size {
                    return Err(berr!(
                        ModelTooBig,
                        end,
                        t.size,
                        "chunk ends at {end}, past the model's {} bytes",
                        t.size
                    ));
                }
                self.model.as_mut()[off..end].copy_from_slice(data);
                t.received = t.received.max(end);
                Response::LoadAck {
                    next: t.received as u32,
                }
            }
            Request::LoadEnd => {
                match self.transfer {
                    None if self.plan.is_some() => {}
                    None => {
                        return Err(berr!(
                            NoTransfer,
                            0,
                            0,
                            "no model transfer in progress (board was reset?); send LoadBegin"
                        ))
                    }
                    Some(_) => self.finish_load()?,
                }
                Response::ModelReady(self.model_info())
            }
            Request::SetInput {
                index,
                offset,
                data,
            } => {
                let r = self.io_range(true, index, offset as usize, data.len())?;
                self.arena.as_mut()[r].copy_from_slice(data);
                Response::Ack
            }
            Request::Invoke => Response::Invoked {
                count: self.invoke()?,
            },
            Request::GetOutput { index, offset, len } => {
                let total = self.io_bytes(false, index)?;
                let len = (len as usize)
                    .min(MAX_CHUNK)
                    .min(total.saturating_sub(offset as usize));
                let r = self.io_range(false, index, offset as usize, len)?;
                let resp = Response::Output {
                    total: total as u32,
                    data: &self.arena.as_ref()[r],
                };
                self.io.send(seq, &resp, tx);
                return Ok(());
            }
            Request::GetProfile { first } => {
                let plan = self
                    .plan
                    .as_ref()
                    .ok_or_else(|| berr!(NoModel, 0, 0, "no model loaded"))?;
                let mut entries = [OpCount::default(); PROFILE_PAGE];
                let first = first as usize;
                let n = self.profile.len().saturating_sub(first).min(PROFILE_PAGE);
                for (i, e) in entries[..n].iter_mut().enumerate() {
                    *e = OpCount {
                        code: plan.op_code(first + i),
                        count: self.profile[first + i],
                    };
                }
                Response::Profile {
                    total: plan.ops() as u16,
                    first: first as u16,
                    entries,
                    len: n as u8,
                }
            }
            Request::Reset => {
                self.reset();
                Response::Ack
            }
            _ => return Err(berr!(Malformed, 0, 0, "unknown request")),
        };
        self.io.send(seq, &resp, tx);
        Ok(())
    }

    /// Checks the received model's CRC, parses and prepares it.
    fn finish_load(&mut self) -> Result<()> {
        let Some(t) = self.transfer else {
            return Err(berr!(NoTransfer, 0, 0, "no model transfer in progress"));
        };
        if t.received != t.size {
            return Err(berr!(
                Incomplete,
                t.received,
                t.size,
                "model incomplete: {} of {} bytes received",
                t.received,
                t.size
            ));
        }
        let got = crc32(&self.model.as_ref()[..t.size]);
        self.transfer = None;
        if got != t.crc {
            return Err(berr!(
                ModelCrc,
                t.crc,
                got,
                "model crc {got:#010x} does not match {:#010x}; resend it",
                t.crc
            ));
        }
        let cap = self.arena_capacity();
        let flavor = match self.cfg.flavor {
            Flavor::LiteRt => workbench_tflite::Flavor::LiteRt,
            Flavor::Micro => workbench_tflite::Flavor::Micro,
        };
        let plan = model::prepare(&self.model.as_ref()[..t.size], cap, flavor)?;
        self.profile = vec![0; plan.ops()];
        self.plan = Some(plan);
        self.loaded = Some((t.size, t.crc));
        self.db = Db::default();
        Ok(())
    }

    /// Prepares a model already in the model storage (e.g. preloaded by a
    /// debugger or QEMU's `-device loader`) if its CRC matches.
    pub fn preload(&mut self, size: usize, crc: u32) -> Result<()> {
        if size > self.model.as_ref().len() {
            return Err(berr!(
                ModelTooBig,
                size,
                self.model.as_ref().len(),
                "preloaded model of {size} bytes exceeds the model storage"
            ));
        }
        self.transfer = Some(Transfer {
            size,
            crc,
            received: size,
        });
        self.finish_load()
    }

    fn io_bytes(&self, input: bool, index: u8) -> Result<usize> {
        let plan = self
            .plan
            .as_ref()
            .ok_or_else(|| berr!(NoModel, 0, 0, "no model loaded"))?;
        let list = if input { &plan.inputs } else { &plan.outputs };
        let what = if input { "input" } else { "output" };
        list.get(index as usize).map(|io| io.bytes).ok_or_else(|| {
            berr!(
                BadTensor,
                index,
                list.len(),
                "{what} {index} does not exist (model has {})",
                list.len()
            )
        })
    }

    /// Arena range of bytes `offset..offset + len` of a graph input or output.
    fn io_range(
        &self,
        input: bool,
        index: u8,
        offset: usize,
        len: usize,
    ) -> Result<core::ops::Range<usize>> {
        let total = self.io_bytes(input, index)?;
        let plan = self.plan.as_ref().expect("checked");
        let io = if input {
            plan.inputs[index as usize]
        } else {
            plan.outputs[index as usize]
        };
        // Checked: `offset` comes off the wire and usize is 32 bits on the board.
        let end = offset.checked_add(len).filter(|&e| e <= total);
        let Some(end) = end else {
            return Err(berr!(
                BadTensor,
                offset,
                total,
                "bytes {offset}..+{len} are past the tensor's {total} bytes"
            ));
        };
        let _ = end;
        let r = plan.arena_range(io.tensor);
        let s = self.arena_skip + r.start + offset;
        Ok(s..s + len)
    }

    /// Runs the model once; returns the count and records the per-op profile.
    pub fn invoke(&mut self) -> Result<u64> {
        let plan = self
            .plan
            .as_ref()
            .ok_or_else(|| berr!(NoModel, 0, 0, "no model loaded"))?;
        let size = self.loaded.map_or(0, |l| l.0);
        let model = &self.model.as_ref()[..size];
        let arena = &mut self.arena.as_mut()[self.arena_skip..];
        let start = self.clock.now();
        let mut t = start;
        for i in 0..plan.ops() {
            plan.run_step(i, model, arena);
            let now = self.clock.now();
            self.profile[i] = now - t;
            t = now;
        }
        Ok(t - start)
    }

    fn micros(&self, count: u64) -> u64 {
        match self.cfg.counter {
            Counter::Nanoseconds => count / 1000,
            _ => count * 1_000_000 / u64::from(self.cfg.clock_hz.max(1)),
        }
    }

    fn on_text(&mut self, line: &str, tx: &mut impl Tx) {
        let mut w = Text(tx);
        match mlperf::parse_command(line) {
            Err(e) => {
                let _ = write!(w, "e-[{e}]\r\n");
            }
            Ok(Command::Name) => {
                let _ = write!(w, "m-name-dut-[{}]\r\n", self.cfg.name);
            }
            Ok(Command::Profile) => {
                let _ = write!(
                    w,
                    "m-profile-[workbench device-bridge-board {}]\r\n",
                    env!("CARGO_PKG_VERSION")
                );
                let _ = match self.loaded {
                    Some((size, crc)) => {
                        write!(w, "m-model-[tflite {size} bytes crc {crc:08x}]\r\n")
                    }
                    None => write!(w, "m-model-[none]\r\n"),
                };
            }
            Ok(Command::Help) => {
                let _ = write!(w, "name profile timestamp db infer results\r\n");
            }
            Ok(Command::Timestamp) => {
                let t = self.clock.now();
                let _ = write!(w, "m-lap-us-{}\r\n", self.micros(t));
            }
            Ok(Command::DbLoad(n)) => match self.io_bytes(true, 0) {
                Ok(want) if want == n => {
                    self.db = Db { expect: n, pos: 0 };
                    let _ = write!(w, "m-[Expecting {n} bytes]\r\n");
                }
                Ok(want) => {
                    let _ = write!(w, "e-[db load {n}: the model's input has {want} bytes]\r\n");
                }
                Err(e) => {
                    let _ = write!(w, "e-[{e}]\r\n");
                }
            },
            Ok(Command::DbHex(hex)) => {
                if self.db.pos >= self.db.expect {
                    let _ = write!(w, "e-[db: no load in progress]\r\n");
                } else if let Ok(r) =
                    self.io_range(true, 0, self.db.pos, self.db.expect - self.db.pos)
                {
                    let n = mlperf::decode_hex(hex, &mut self.arena.as_mut()[r]);
                    self.db.pos += n;
                    if self.db.pos == self.db.expect {
                        let _ = write!(w, "m-load-done\r\n");
                    }
                }
            }
            Ok(Command::DbPrint) => {
                if let Ok(r) = self.io_range(true, 0, 0, self.db.pos) {
                    for chunk in self.arena.as_ref()[r].chunks(8) {
                        let _ = write!(w, "m-buffer-");
                        for (i, b) in chunk.iter().enumerate() {
                            let _ = write!(w, "{}{b:02x}", if i > 0 { "-" } else { "" });
                        }
                        let _ = write!(w, "\r\n");
                    }
                }
            }
            Ok(Command::Infer { n, warmup }) => {
                if self.plan.is_none() {
                    let _ = write!(w, "e-[no model loaded]\r\n");
                } else {
                    let _ = write!(w, "m-warmup-start-{warmup}\r\n");
                    for _ in 0..warmup {
                        let _ = self.invoke();
                    }
                    let _ = write!(w, "m-warmup-done\r\nm-infer-start-{n}\r\n");
                    let t0 = self.clock.now();
                    let _ = write!(w, "m-lap-us-{}\r\n", self.micros(t0));
                    for _ in 0..n {
                        let _ = self.invoke();
                    }
                    let t1 = self.clock.now();
                    let _ = write!(w, "m-lap-us-{}\r\nm-infer-done\r\n", self.micros(t1));
                    self.results(&mut w);
                }
            }
            Ok(Command::Results) => self.results(&mut w),
        }
        let _ = write!(w, "{}\r\n", mlperf::READY);
    }

    /// `m-results-[...]`: output 0 as floats (dequantized int8), three decimals.
    fn results<T: Tx>(&self, w: &mut Text<'_, T>) {
        let Some(plan) = self.plan.as_ref() else {
            let _ = write!(w, "e-[no model loaded]\r\n");
            return;
        };
        let Some(o) = plan.outputs.first() else {
            return;
        };
        let r = plan.arena_range(o.tensor);
        let bytes = &self.arena.as_ref()[self.arena_skip + r.start..self.arena_skip + r.end];
        let _ = write!(w, "m-results-[");
        let n = bytes.len() / dtype::size(o.dtype);
        for i in 0..n {
            let v = if o.dtype == dtype::F32 {
                f32::from_le_bytes([
                    bytes[4 * i],
                    bytes[4 * i + 1],
                    bytes[4 * i + 2],
                    bytes[4 * i + 3],
                ])
            } else {
                o.scale * (i32::from(bytes[i] as i8) - o.zero_point) as f32
            };
            let _ = write!(w, "{}{v:.3}", if i > 0 { "," } else { "" });
        }
        let _ = write!(w, "]\r\n");
    }
}
