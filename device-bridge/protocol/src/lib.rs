//! `#![no_std]` wire protocol between the device bridge (host) and a board.
//!
//! Layers, bottom up:
//! - [`crc`]: CRC-32 (IEEE 802.3) over every frame.
//! - [`cobs`]: consistent-overhead byte stuffing; a `0x00` ends every frame,
//!   so a receiver resynchronizes after garbage at the next `0x00`.
//! - [`frame`]: `version, seq, tag, payload, crc32` inside one COBS frame.
//! - [`msg`]: the requests and responses, encoded into caller buffers.
//! - [`mlperf`]: the MLPerf Tiny runner's `%`-terminated text protocol.
//!
//! The link is stop-and-wait: the host sends one request with a sequence
//! number and waits (with a timeout) for the response carrying the same
//! number, resending the identical request on timeout. Every request is
//! idempotent on the board (a model chunk carries its offset, `LoadBegin` of
//! the model being received resumes instead of restarting), so a duplicated
//! or resent request is harmless and the board keeps no reply cache. Stale
//! responses (an old sequence number) are dropped by the host.
#![no_std]

pub mod cobs;
pub mod crc;
pub mod frame;
pub mod mlperf;
pub mod msg;

/// The protocol version sent in every frame and in the hello reply (2: the hello reply ends with the board's arithmetic flavor).
pub const PROTOCOL_VERSION: u8 = 2;

/// The largest payload of one frame (message tag excluded), in bytes.
pub const MAX_PAYLOAD: usize = 1024;

/// Bytes a model chunk, an input chunk or an output chunk may carry.
pub const MAX_CHUNK: usize = MAX_PAYLOAD - 16;
