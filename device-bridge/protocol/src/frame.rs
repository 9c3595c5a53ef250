//! One frame: `version u8, seq u16 LE, tag u8, payload, crc32 u32 LE`, the
//! CRC over everything before it, the whole COBS-encoded with a `0x00`
//! delimiter.

use crate::cobs;
use crate::crc::crc32;
use crate::MAX_PAYLOAD;

/// Header bytes before the payload: version, sequence number, tag.
pub const HEADER: usize = 4;
/// Trailer bytes: the CRC-32.
pub const TRAILER: usize = 4;
/// The largest decoded frame.
pub const MAX_FRAME: usize = HEADER + MAX_PAYLOAD + TRAILER;
/// The largest encoded frame on the wire, delimiter included.
pub const MAX_WIRE: usize = cobs::max_encoded_len(MAX_FRAME) + 1;

/// A decoded, checksum-verified frame.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Frame<'a> {
    /// The sender's protocol version.
    pub version: u8,
    /// The request's sequence number (echoed in the response).
    pub seq: u16,
    /// The message tag.
    pub tag: u8,
    /// The message body.
    pub payload: &'a [u8],
}

/// Why a decoded COBS frame was rejected.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than header and trailer.
    Short {
        /// The frame's length.
        len: usize,
    },
    /// The CRC does not match.
    Crc {
        /// CRC carried by the frame.
        expected: u32,
        /// CRC computed over the frame.
        actual: u32,
    },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::Short { len } => write!(f, "frame of {len} bytes is too short"),
            FrameError::Crc { expected, actual } => {
                write!(
                    f,
                    "frame crc {actual:#010x} does not match {expected:#010x}"
                )
            }
        }
    }
}

/// Checks and splits a decoded COBS frame.
pub fn parse(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
    if bytes.len() < HEADER + TRAILER {
        return Err(FrameError::Short { len: bytes.len() });
    }
    let (body, tail) = bytes.split_at(bytes.len() - TRAILER);
    let expected = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let actual = crc32(body);
    if expected != actual {
        return Err(FrameError::Crc { expected, actual });
    }
    Ok(Frame {
        version: body[0],
        seq: u16::from_le_bytes([body[1], body[2]]),
        tag: body[3],
        payload: &body[HEADER..],
    })
}

/// Builds a frame in `raw` (at least [`MAX_FRAME`] bytes) around a payload
/// written by `body`, then COBS-encodes it into `wire` (at least
/// [`MAX_WIRE`] bytes). Returns the wire length.
///
/// # Panics
/// If `body` writes more than [`MAX_PAYLOAD`] bytes or a buffer is too small.
pub fn encode(
    version: u8,
    seq: u16,
    tag: u8,
    payload: &[u8],
    raw: &mut [u8],
    wire: &mut [u8],
) -> usize {
    assert!(payload.len() <= MAX_PAYLOAD, "payload too long");
    raw[0] = version;
    raw[1..3].copy_from_slice(&seq.to_le_bytes());
    raw[3] = tag;
    let end = HEADER + payload.len();
    raw[HEADER..end].copy_from_slice(payload);
    let crc = crc32(&raw[..end]);
    raw[end..end + TRAILER].copy_from_slice(&crc.to_le_bytes());
    cobs::encode(&raw[..end + TRAILER], wire).expect("wire buffer too small")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_fixture() {
        let mut raw = [0u8; MAX_FRAME];
        let mut wire = [0u8; MAX_WIRE];
        let n = encode(1, 0x0102, 0x06, &[], &mut raw, &mut wire);
        // body 01 02 01 06; crc32(01 02 01 06) little-endian, then COBS.
        let crc = crc32(&[1, 2, 1, 6]).to_le_bytes();
        let mut want = [0u8; 10];
        want[0] = 9;
        want[1..5].copy_from_slice(&[1, 2, 1, 6]);
        want[5..9].copy_from_slice(&crc);
        assert!(!crc.contains(&0));
        assert_eq!(&wire[..n], &want[..]);
        let mut b = wire;
        let m = cobs::decode_in_place(&mut b[..n - 1]).unwrap();
        let f = parse(&b[..m]).unwrap();
        assert_eq!(
            (f.version, f.seq, f.tag, f.payload),
            (1, 0x0102, 6, &[][..])
        );
    }

    #[test]
    fn corrupt_byte_is_caught() {
        let mut raw = [0u8; MAX_FRAME];
        let mut wire = [0u8; MAX_WIRE];
        let n = encode(1, 7, 3, b"hello", &mut raw, &mut wire);
        let mut b = wire;
        let m = cobs::decode_in_place(&mut b[..n - 1]).unwrap();
        b[5] ^= 0x40;
        assert!(matches!(parse(&b[..m]), Err(FrameError::Crc { .. })));
        assert_eq!(parse(&b[..3]), Err(FrameError::Short { len: 3 }));
    }
}
