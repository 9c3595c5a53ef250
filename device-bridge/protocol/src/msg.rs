//! Requests (host to board) and responses (board to host).
//!
//! Integers are little-endian; strings and byte runs carry their length
//! first. Decoding never panics: a short or malformed body is a
//! [`DecodeError`].

/// Why a message body could not be decoded.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum DecodeError {
    /// The tag names no message.
    UnknownTag(u8),
    /// The body ended early.
    Truncated,
    /// A string was not UTF-8.
    BadUtf8,
    /// Bytes were left over after the message.
    Trailing,
    /// A field holds an impossible value.
    BadValue,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::UnknownTag(t) => write!(f, "unknown message tag {t:#04x}"),
            DecodeError::Truncated => f.write_str("message body is truncated"),
            DecodeError::BadUtf8 => f.write_str("message string is not utf-8"),
            DecodeError::Trailing => f.write_str("message body has trailing bytes"),
            DecodeError::BadValue => f.write_str("message field has an impossible value"),
        }
    }
}

/// Sequential reader over a message body.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from(self.u32()?) | (u64::from(self.u32()?) << 32))
    }
    fn str8(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.u8()? as usize;
        core::str::from_utf8(self.take(n)?).map_err(|_| DecodeError::BadUtf8)
    }
    fn bytes16(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing)
        }
    }
}

/// Sequential writer into a message body.
///
/// # Panics
/// Writing past the end of the buffer panics: callers size buffers with
/// [`crate::MAX_PAYLOAD`] and keep chunks within [`crate::MAX_CHUNK`].
struct Writer<'a> {
    b: &'a mut [u8],
    n: usize,
}

impl Writer<'_> {
    fn put(&mut self, s: &[u8]) {
        self.b[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
    }
    fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    /// A string of at most 255 bytes, cut at a char boundary.
    fn str8(&mut self, s: &str) {
        let mut n = s.len().min(255);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.u8(n as u8);
        self.put(&s.as_bytes()[..n]);
    }
    fn bytes16(&mut self, s: &[u8]) {
        self.u16(s.len() as u16);
        self.put(s);
    }
}

/// A request from the host.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum Request<'a> {
    /// Who are you? Answered by [`Response::Hello`].
    Hello,
    /// Start (or resume) receiving a model of `size` bytes with CRC-32 `crc`.
    LoadBegin {
        /// Model size in bytes.
        size: u32,
        /// CRC-32 of the whole model.
        crc: u32,
    },
    /// Model bytes at `offset`.
    LoadChunk {
        /// Where the bytes go.
        offset: u32,
        /// The bytes.
        data: &'a [u8],
    },
    /// All bytes sent: check the CRC, parse and prepare the model.
    LoadEnd,
    /// Input tensor `index`'s bytes at `offset`.
    SetInput {
        /// Graph input index.
        index: u8,
        /// Byte offset into the tensor.
        offset: u32,
        /// The bytes.
        data: &'a [u8],
    },
    /// Run the model once.
    Invoke,
    /// Read `len` bytes of output tensor `index` from `offset`.
    GetOutput {
        /// Graph output index.
        index: u8,
        /// Byte offset into the tensor.
        offset: u32,
        /// Bytes wanted (at most [`crate::MAX_CHUNK`]).
        len: u16,
    },
    /// Per-op counts of the last invoke, from op `first`.
    GetProfile {
        /// First op index wanted.
        first: u16,
    },
    /// Forget the model and any transfer, as after power-up.
    Reset,
}

mod tag {
    pub const HELLO: u8 = 0x01;
    pub const LOAD_BEGIN: u8 = 0x02;
    pub const LOAD_CHUNK: u8 = 0x03;
    pub const LOAD_END: u8 = 0x04;
    pub const SET_INPUT: u8 = 0x05;
    pub const INVOKE: u8 = 0x06;
    pub const GET_OUTPUT: u8 = 0x07;
    pub const GET_PROFILE: u8 = 0x08;
    pub const RESET: u8 = 0x09;

    pub const R_HELLO: u8 = 0x81;
    pub const R_LOAD_READY: u8 = 0x82;
    pub const R_LOAD_ACK: u8 = 0x83;
    pub const R_MODEL_READY: u8 = 0x84;
    pub const R_ACK: u8 = 0x85;
    pub const R_INVOKED: u8 = 0x86;
    pub const R_OUTPUT: u8 = 0x87;
    pub const R_PROFILE: u8 = 0x88;
    pub const R_ERROR: u8 = 0xFF;
}

impl<'a> Request<'a> {
    /// Writes the body into `out`; returns (tag, body length).
    pub fn encode(&self, out: &mut [u8]) -> (u8, usize) {
        let mut w = Writer { b: out, n: 0 };
        let t = match *self {
            Request::Hello => tag::HELLO,
            Request::LoadBegin { size, crc } => {
                w.u32(size);
                w.u32(crc);
                tag::LOAD_BEGIN
            }
            Request::LoadChunk { offset, data } => {
                w.u32(offset);
                w.bytes16(data);
                tag::LOAD_CHUNK
            }
            Request::LoadEnd => tag::LOAD_END,
            Request::SetInput {
                index,
                offset,
                data,
            } => {
                w.u8(index);
                w.u32(offset);
                w.bytes16(data);
                tag::SET_INPUT
            }
            Request::Invoke => tag::INVOKE,
            Request::GetOutput { index, offset, len } => {
                w.u8(index);
                w.u32(offset);
                w.u16(len);
                tag::GET_OUTPUT
            }
            Request::GetProfile { first } => {
                w.u16(first);
                tag::GET_PROFILE
            }
            Request::Reset => tag::RESET,
        };
        (t, w.n)
    }

    /// Decodes a body.
    pub fn decode(t: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { b: body };
        let m = match t {
            tag::HELLO => Request::Hello,
            tag::LOAD_BEGIN => Request::LoadBegin {
                size: r.u32()?,
                crc: r.u32()?,
            },
            tag::LOAD_CHUNK => Request::LoadChunk {
                offset: r.u32()?,
                data: r.bytes16()?,
            },
            tag::LOAD_END => Request::LoadEnd,
            tag::SET_INPUT => Request::SetInput {
                index: r.u8()?,
                offset: r.u32()?,
                data: r.bytes16()?,
            },
            tag::INVOKE => Request::Invoke,
            tag::GET_OUTPUT => Request::GetOutput {
                index: r.u8()?,
                offset: r.u32()?,
                len: r.u16()?,
            },
            tag::GET_PROFILE => Request::GetProfile { first: r.u16()? },
            tag::RESET => Request::Reset,
            other => return Err(DecodeError::UnknownTag(other)),
        };
        r.end()?;
        Ok(m)
    }
}

/// What a board's counter counts.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[repr(u8)]
pub enum Counter {
    /// CPU clock cycles (a real board's cycle counter).
    Cycles = 0,
    /// Retired instructions (QEMU with `-icount shift=0`).
    Instructions = 1,
    /// Nanoseconds of wall time (the host board).
    Nanoseconds = 2,
}

impl Counter {
    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0 => Counter::Cycles,
            1 => Counter::Instructions,
            2 => Counter::Nanoseconds,
            _ => return Err(DecodeError::BadValue),
        })
    }

    /// Lowercase plural unit name, e.g. `instructions`.
    pub fn unit(self) -> &'static str {
        match self {
            Counter::Cycles => "cycles",
            Counter::Instructions => "instructions",
            Counter::Nanoseconds => "ns",
        }
    }
}

/// Whose int8 arithmetic a board's kernels follow where TFLite's interpreters differ
/// (FULLY_CONNECTED's rescale); the host computes its reference the same way.
#[derive(Debug, PartialEq, Eq, Clone, Copy, Default)]
#[repr(u8)]
pub enum Flavor {
    /// LiteRT's (double-precision FULLY_CONNECTED rescale).
    #[default]
    LiteRt = 0,
    /// TFLite Micro's (fixed-point multiplier everywhere).
    Micro = 1,
}

impl Flavor {
    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0 => Flavor::LiteRt,
            1 => Flavor::Micro,
            _ => return Err(DecodeError::BadValue),
        })
    }
}

/// Most builtin ops a hello reply lists.
pub const MAX_OPS: usize = 32;

/// What a board says about itself.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct BoardInfo<'a> {
    /// The board's protocol version.
    pub protocol: u8,
    /// Board name, e.g. `qemu-mps2-an386`.
    pub name: &'a str,
    /// CPU, e.g. `cortex-m4`.
    pub cpu: &'a str,
    /// Core clock in Hz.
    pub clock_hz: u32,
    /// What invoke and profile counts are in.
    pub counter: Counter,
    /// Bytes available to store a model.
    pub model_capacity: u32,
    /// Bytes available for the tensor arena.
    pub arena_capacity: u32,
    /// Largest chunk the board accepts.
    pub max_chunk: u16,
    /// Supported TFLite builtin operator codes (first `ops_len` entries).
    pub ops: [u16; MAX_OPS],
    /// How many entries of `ops` are used.
    pub ops_len: u8,
    /// Whose arithmetic its kernels follow.
    pub flavor: Flavor,
}

impl BoardInfo<'_> {
    /// The supported builtin codes.
    pub fn ops(&self) -> &[u16] {
        &self.ops[..self.ops_len as usize]
    }
}

/// Most graph inputs or outputs a model-ready reply describes.
pub const MAX_IO: usize = 4;

/// Byte size and TFLite type code of one graph input or output.
#[derive(Debug, PartialEq, Eq, Clone, Copy, Default)]
pub struct IoInfo {
    /// TFLite `TensorType` code (0 float32, 9 int8).
    pub dtype: u8,
    /// Size in bytes.
    pub bytes: u32,
}

/// What a board reports after preparing a model.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct ModelInfo {
    /// Model bytes stored.
    pub model_bytes: u32,
    /// Tensor arena bytes used (activations and scratch).
    pub arena_used: u32,
    /// Bytes of prepared metadata (multipliers, biases, op list) on the heap.
    pub plan_bytes: u32,
    /// Operators in the graph.
    pub ops: u16,
    /// Graph inputs (first `inputs_len`).
    pub inputs: [IoInfo; MAX_IO],
    /// Number of graph inputs.
    pub inputs_len: u8,
    /// Graph outputs (first `outputs_len`).
    pub outputs: [IoInfo; MAX_IO],
    /// Number of graph outputs.
    pub outputs_len: u8,
}

/// One operator's count in a profile.
#[derive(Debug, PartialEq, Eq, Clone, Copy, Default)]
pub struct OpCount {
    /// TFLite builtin code.
    pub code: u16,
    /// Cycles, instructions or ns (see [`Counter`]).
    pub count: u64,
}

/// Profile entries one reply carries at most.
pub const PROFILE_PAGE: usize = 64;

/// Error codes a board replies with.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[repr(u8)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request's protocol version differs (`a` board, `b` host).
    Version = 1,
    /// The request could not be decoded.
    Malformed = 2,
    /// A chunk arrived without a transfer in progress (e.g. after a reset).
    NoTransfer = 3,
    /// The model exceeds the model storage (`a` size, `b` capacity).
    ModelTooBig = 4,
    /// A chunk does not continue the transfer (`a` expected offset, `b` got).
    OutOfOrder = 5,
    /// The received model's CRC differs (`a` expected, `b` got).
    ModelCrc = 6,
    /// The model is not a valid `.tflite` the board can run (see text).
    BadModel = 7,
    /// An operator the board lacks (`a` op index, `b` builtin code).
    UnsupportedOp = 8,
    /// The tensor arena is too small (`a` needed, `b` available).
    ArenaTooSmall = 9,
    /// No model is loaded.
    NoModel = 10,
    /// An input or output index or range is invalid (`a` index, `b` size).
    BadTensor = 11,
    /// Not all bytes of the model were received (`a` received, `b` size).
    Incomplete = 12,
}

impl ErrorCode {
    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        use ErrorCode::*;
        Ok(match v {
            1 => Version,
            2 => Malformed,
            3 => NoTransfer,
            4 => ModelTooBig,
            5 => OutOfOrder,
            6 => ModelCrc,
            7 => BadModel,
            8 => UnsupportedOp,
            9 => ArenaTooSmall,
            10 => NoModel,
            11 => BadTensor,
            12 => Incomplete,
            _ => return Err(DecodeError::BadValue),
        })
    }
}

/// A response from the board.
// The profile page is inline: no heap on the board to box it, and responses are short-lived.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum Response<'a> {
    /// Reply to [`Request::Hello`].
    Hello(BoardInfo<'a>),
    /// Reply to [`Request::LoadBegin`]: send from `resume_at` on.
    LoadReady {
        /// Bytes already held of this very model (0 for a fresh transfer).
        resume_at: u32,
    },
    /// Reply to [`Request::LoadChunk`]: bytes `0..next` are held.
    LoadAck {
        /// The next offset expected.
        next: u32,
    },
    /// Reply to [`Request::LoadEnd`].
    ModelReady(ModelInfo),
    /// Reply to [`Request::SetInput`] and [`Request::Reset`].
    Ack,
    /// Reply to [`Request::Invoke`].
    Invoked {
        /// Cycles, instructions or ns the invoke took.
        count: u64,
    },
    /// Reply to [`Request::GetOutput`].
    Output {
        /// Total bytes of the output tensor.
        total: u32,
        /// The bytes requested (fewer at the end).
        data: &'a [u8],
    },
    /// Reply to [`Request::GetProfile`].
    Profile {
        /// Ops in the model.
        total: u16,
        /// Index of the first entry.
        first: u16,
        /// Entries (first `len`).
        entries: [OpCount; PROFILE_PAGE],
        /// Number of entries.
        len: u8,
    },
    /// The request failed.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// First detail (see [`ErrorCode`]).
        a: u32,
        /// Second detail.
        b: u32,
        /// A human-readable message.
        text: &'a str,
    },
}

impl<'a> Response<'a> {
    /// Writes the body into `out`; returns (tag, body length).
    pub fn encode(&self, out: &mut [u8]) -> (u8, usize) {
        let mut w = Writer { b: out, n: 0 };
        let t = match self {
            Response::Hello(i) => {
                w.u8(i.protocol);
                w.str8(i.name);
                w.str8(i.cpu);
                w.u32(i.clock_hz);
                w.u8(i.counter as u8);
                w.u32(i.model_capacity);
                w.u32(i.arena_capacity);
                w.u16(i.max_chunk);
                w.u8(i.ops_len);
                for &op in i.ops() {
                    w.u16(op);
                }
                w.u8(i.flavor as u8);
                tag::R_HELLO
            }
            Response::LoadReady { resume_at } => {
                w.u32(*resume_at);
                tag::R_LOAD_READY
            }
            Response::LoadAck { next } => {
                w.u32(*next);
                tag::R_LOAD_ACK
            }
            Response::ModelReady(m) => {
                w.u32(m.model_bytes);
                w.u32(m.arena_used);
                w.u32(m.plan_bytes);
                w.u16(m.ops);
                for (list, n) in [(&m.inputs, m.inputs_len), (&m.outputs, m.outputs_len)] {
                    w.u8(n);
                    for io in &list[..n as usize] {
                        w.u8(io.dtype);
                        w.u32(io.bytes);
                    }
                }
                tag::R_MODEL_READY
            }
            Response::Ack => tag::R_ACK,
            Response::Invoked { count } => {
                w.u64(*count);
                tag::R_INVOKED
            }
            Response::Output { total, data } => {
                w.u32(*total);
                w.bytes16(data);
                tag::R_OUTPUT
            }
            Response::Profile {
                total,
                first,
                entries,
                len,
            } => {
                w.u16(*total);
                w.u16(*first);
                w.u8(*len);
                for e in &entries[..*len as usize] {
                    w.u16(e.code);
                    w.u64(e.count);
                }
                tag::R_PROFILE
            }
            Response::Error { code, a, b, text } => {
                w.u8(*code as u8);
                w.u32(*a);
                w.u32(*b);
                w.str8(text);
                tag::R_ERROR
            }
        };
        (t, w.n)
    }

    /// Decodes a body.
    pub fn decode(t: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { b: body };
        let m = match t {
            tag::R_HELLO => {
                let protocol = r.u8()?;
                let name = r.str8()?;
                let cpu = r.str8()?;
                let clock_hz = r.u32()?;
                let counter = Counter::from_u8(r.u8()?)?;
                let model_capacity = r.u32()?;
                let arena_capacity = r.u32()?;
                let max_chunk = r.u16()?;
                let ops_len = r.u8()?;
                if ops_len as usize > MAX_OPS {
                    return Err(DecodeError::BadValue);
                }
                let mut ops = [0; MAX_OPS];
                for op in &mut ops[..ops_len as usize] {
                    *op = r.u16()?;
                }
                let flavor = Flavor::from_u8(r.u8()?)?;
                Response::Hello(BoardInfo {
                    protocol,
                    name,
                    cpu,
                    clock_hz,
                    counter,
                    model_capacity,
                    arena_capacity,
                    max_chunk,
                    ops,
                    ops_len,
                    flavor,
                })
            }
            tag::R_LOAD_READY => Response::LoadReady {
                resume_at: r.u32()?,
            },
            tag::R_LOAD_ACK => Response::LoadAck { next: r.u32()? },
            tag::R_MODEL_READY => {
                let model_bytes = r.u32()?;
                let arena_used = r.u32()?;
                let plan_bytes = r.u32()?;
                let ops = r.u16()?;
                let mut lists = [[IoInfo::default(); MAX_IO]; 2];
                let mut lens = [0u8; 2];
                for (list, len) in lists.iter_mut().zip(&mut lens) {
                    *len = r.u8()?;
                    if *len as usize > MAX_IO {
                        return Err(DecodeError::BadValue);
                    }
                    for io in &mut list[..*len as usize] {
                        io.dtype = r.u8()?;
                        io.bytes = r.u32()?;
                    }
                }
                Response::ModelReady(ModelInfo {
                    model_bytes,
                    arena_used,
                    plan_bytes,
                    ops,
                    inputs: lists[0],
                    inputs_len: lens[0],
                    outputs: lists[1],
                    outputs_len: lens[1],
                })
            }
            tag::R_ACK => Response::Ack,
            tag::R_INVOKED => Response::Invoked { count: r.u64()? },
            tag::R_OUTPUT => Response::Output {
                total: r.u32()?,
                data: r.bytes16()?,
            },
            tag::R_PROFILE => {
                let total = r.u16()?;
                let first = r.u16()?;
                let len = r.u8()?;
                if len as usize > PROFILE_PAGE {
                    return Err(DecodeError::BadValue);
                }
                let mut entries = [OpCount::default(); PROFILE_PAGE];
                for e in &mut entries[..len as usize] {
                    e.code = r.u16()?;
                    e.count = r.u64()?;
                }
                Response::Profile {
                    total,
                    first,
                    entries,
                    len,
                }
            }
            tag::R_ERROR => Response::Error {
                code: ErrorCode::from_u8(r.u8()?)?,
                a: r.u32()?,
                b: r.u32()?,
                text: r.str8()?,
            },
            other => return Err(DecodeError::UnknownTag(other)),
        };
        r.end()?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let data = [1u8, 0, 2, 0xFF];
        let reqs = [
            Request::Hello,
            Request::LoadBegin {
                size: 70_000,
                crc: 0xDEAD_BEEF,
            },
            Request::LoadChunk {
                offset: 1024,
                data: &data,
            },
            Request::LoadEnd,
            Request::SetInput {
                index: 1,
                offset: 8,
                data: &data,
            },
            Request::Invoke,
            Request::GetOutput {
                index: 0,
                offset: 3,
                len: 10,
            },
            Request::GetProfile { first: 64 },
            Request::Reset,
        ];
        let mut buf = [0u8; 64];
        for q in reqs {
            let (t, n) = q.encode(&mut buf);
            assert_eq!(Request::decode(t, &buf[..n]), Ok(q));
            if n > 0 {
                assert_eq!(
                    Request::decode(t, &buf[..n - 1]),
                    Err(DecodeError::Truncated)
                );
            }
        }
        assert_eq!(
            Request::decode(0x42, &[]),
            Err(DecodeError::UnknownTag(0x42))
        );
        assert_eq!(
            Request::decode(tag::INVOKE, &[0]),
            Err(DecodeError::Trailing)
        );
    }

    #[test]
    fn responses_round_trip() {
        let mut ops = [0; MAX_OPS];
        ops[..3].copy_from_slice(&[3, 4, 9]);
        let mut entries = [OpCount::default(); PROFILE_PAGE];
        entries[0] = OpCount {
            code: 3,
            count: 1 << 40,
        };
        let mut io = [IoInfo::default(); MAX_IO];
        io[0] = IoInfo {
            dtype: 9,
            bytes: 784,
        };
        let resps = [
            Response::Hello(BoardInfo {
                protocol: 2,
                name: "host",
                cpu: "x86_64",
                clock_hz: 1_000_000_000,
                counter: Counter::Nanoseconds,
                model_capacity: 1 << 20,
                arena_capacity: 1 << 18,
                max_chunk: 1000,
                ops,
                ops_len: 3,
                flavor: Flavor::Micro,
            }),
            Response::LoadReady { resume_at: 5 },
            Response::LoadAck { next: 9 },
            Response::ModelReady(ModelInfo {
                model_bytes: 1,
                arena_used: 2,
                plan_bytes: 3,
                ops: 4,
                inputs: io,
                inputs_len: 1,
                outputs: io,
                outputs_len: 1,
            }),
            Response::Ack,
            Response::Invoked {
                count: 123_456_789_012,
            },
            Response::Output {
                total: 10,
                data: &[1, 2, 3],
            },
            Response::Profile {
                total: 7,
                first: 0,
                entries,
                len: 1,
            },
            Response::Error {
                code: ErrorCode::UnsupportedOp,
                a: 2,
                b: 40,
                text: "op 2: MEAN",
            },
        ];
        let mut buf = [0u8; 1024];
        for r in resps {
            let (t, n) = r.encode(&mut buf);
            assert_eq!(Response::decode(t, &buf[..n]), Ok(r));
        }
    }
}
