//! Consistent-overhead byte stuffing (Cheshire & Baker, 1999).
//!
//! Encoding removes every `0x00` from a frame, adding at most one byte per
//! 254 plus one; a `0x00` then marks the end of a frame. The decoder is an
//! accumulator fed byte by byte: it never panics, and after garbage or an
//! overlong frame it drops bytes until the next `0x00` and starts over.

/// Worst-case encoded length of `n` bytes, delimiter excluded.
pub const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// Encodes `data` into `out` and appends the `0x00` delimiter; returns the
/// bytes written, or `None` if `out` is too small.
pub fn encode(data: &[u8], out: &mut [u8]) -> Option<usize> {
    if out.len() < max_encoded_len(data.len()) + 1 {
        return None;
    }
    let mut code_at = 0;
    let mut w = 1;
    let mut code: u8 = 1;
    for &b in data {
        if b == 0 {
            out[code_at] = code;
            code_at = w;
            w += 1;
            code = 1;
        } else {
            out[w] = b;
            w += 1;
            code += 1;
            if code == 0xFF {
                out[code_at] = code;
                code_at = w;
                w += 1;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    out[w] = 0;
    Some(w + 1)
}

/// Decodes one encoded frame (delimiter excluded) in place; returns the
/// decoded length, or `None` if the bytes are not valid COBS.
pub fn decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let mut r = 0;
    let mut w = 0;
    while r < buf.len() {
        let code = buf[r];
        if code == 0 {
            return None;
        }
        r += 1;
        let n = code as usize - 1;
        if r + n > buf.len() {
            return None;
        }
        for i in 0..n {
            let b = buf[r + i];
            if b == 0 {
                return None;
            }
            buf[w] = b;
            w += 1;
        }
        r += n;
        if code != 0xFF && r < buf.len() {
            buf[w] = 0;
            w += 1;
        }
    }
    Some(w)
}

/// What one byte fed to an [`Accumulator`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Feed<'a> {
    /// More bytes are needed.
    Consumed,
    /// A whole frame, decoded.
    Frame(&'a [u8]),
    /// A frame was dropped: too long, or not valid COBS. Counted, never fatal.
    Dropped,
}

/// Collects bytes into frames: fixed buffer of `N` encoded bytes.
#[derive(Debug)]
pub struct Accumulator<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflow: bool,
}

impl<const N: usize> Default for Accumulator<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Accumulator<N> {
    /// An empty accumulator.
    pub const fn new() -> Self {
        Accumulator {
            buf: [0; N],
            len: 0,
            overflow: false,
        }
    }

    /// Drops any partial frame.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// The bytes received since the last delimiter (for text protocols that
    /// share the link).
    pub fn pending(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Feeds one byte.
    pub fn feed(&mut self, byte: u8) -> Feed<'_> {
        if byte == 0 {
            let (len, overflow) = (self.len, self.overflow);
            self.clear();
            if overflow {
                return Feed::Dropped;
            }
            if len == 0 {
                return Feed::Consumed;
            }
            return match decode_in_place(&mut self.buf[..len]) {
                Some(n) => Feed::Frame(&self.buf[..n]),
                None => Feed::Dropped,
            };
        }
        if self.len == N {
            self.overflow = true;
            return Feed::Consumed;
        }
        self.buf[self.len] = byte;
        self.len += 1;
        Feed::Consumed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(data: &[u8]) -> ([u8; 600], usize) {
        let mut out = [0u8; 600];
        let n = encode(data, &mut out).unwrap();
        (out, n)
    }

    #[test]
    fn paper_vectors() {
        // Examples from the COBS literature (delimiter appended).
        let cases: [(&[u8], &[u8]); 5] = [
            (&[0x00], &[0x01, 0x01, 0x00]),
            (&[0x00, 0x00], &[0x01, 0x01, 0x01, 0x00]),
            (
                &[0x11, 0x22, 0x00, 0x33],
                &[0x03, 0x11, 0x22, 0x02, 0x33, 0x00],
            ),
            (
                &[0x11, 0x22, 0x33, 0x44],
                &[0x05, 0x11, 0x22, 0x33, 0x44, 0x00],
            ),
            (
                &[0x11, 0x00, 0x00, 0x00],
                &[0x02, 0x11, 0x01, 0x01, 0x01, 0x00],
            ),
        ];
        for (raw, wire) in cases {
            let (out, n) = enc(raw);
            assert_eq!(&out[..n], wire, "encode {raw:02x?}");
            let mut acc = Accumulator::<64>::new();
            let mut got = None;
            for &b in wire {
                if let Feed::Frame(f) = acc.feed(b) {
                    let mut v = [0u8; 8];
                    v[..f.len()].copy_from_slice(f);
                    got = Some((v, f.len()));
                }
            }
            let (v, len) = got.unwrap();
            assert_eq!(&v[..len], raw, "decode {wire:02x?}");
        }
    }

    #[test]
    fn long_runs_round_trip() {
        let mut data = [0u8; 520];
        for (i, b) in data.iter_mut().enumerate() {
            *b = (i % 255) as u8 + u8::from(i % 300 == 7);
        }
        for len in [0, 1, 253, 254, 255, 508, 520] {
            let (out, n) = enc(&data[..len]);
            assert!(n <= max_encoded_len(len) + 1);
            assert!(!out[..n - 1].contains(&0));
            let mut buf = out;
            let m = decode_in_place(&mut buf[..n - 1]).unwrap();
            assert_eq!(&buf[..m], &data[..len], "len {len}");
        }
    }

    #[test]
    fn resyncs_after_garbage_and_overflow() {
        let mut acc = Accumulator::<8>::new();
        // Overlong garbage, then a delimiter: dropped.
        for b in 1..=20u8 {
            assert_eq!(acc.feed(b), Feed::Consumed);
        }
        assert_eq!(acc.feed(0), Feed::Dropped);
        // Invalid COBS (code points past the end): dropped.
        for b in [0x05, 0x11] {
            acc.feed(b);
        }
        assert_eq!(acc.feed(0), Feed::Dropped);
        // The next good frame decodes.
        for b in [0x03, 0x11, 0x22, 0x02, 0x33] {
            acc.feed(b);
        }
        assert_eq!(acc.feed(0), Feed::Frame(&[0x11, 0x22, 0x00, 0x33]));
    }
}
