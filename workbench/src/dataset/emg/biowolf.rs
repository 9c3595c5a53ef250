//! The BioWolf armband acquisition GUI's binary recordings.
//!
//! Layout: 32-byte packets, each with 8 channels as 24-bit big-endian two's
//! complement in bytes 0..24 and the trigger in byte 31 (the first packet is
//! dropped), then an ASCII footer `<<>>IEP,T<test>,S<subject>,A<age>,R<remarks>,F<rate>,G<gain>`.
//! Microvolts are `s24 * gain_scale * 1e6`, with `gain_scale` set by the gain
//! setting `G` (see [`gain_scale`]).

use std::path::Path;

use super::session::Session;
use crate::{Error, Result};

/// Bytes per packet.
pub const PACKET_BYTES: usize = 32;
/// Channels per packet.
pub const CHANNELS: usize = 8;
/// The byte holding the trigger.
const TRIGGER_BYTE: usize = 31;
/// The footer's opening.
pub const FOOTER_MAGIC: &[u8] = b"<<>>IEP,";

/// Volts per ADC count for the gain setting `g` (1, 2, 3, 4, 6, 8 or 12).
pub fn gain_scale(g: u32) -> Option<f64> {
    let counts_per_volt = match g {
        1 => 7_000_700.0,
        2 => 14_000_800.0,
        3 => 20_991_300.0,
        4 => 27_990_100.0,
        6 => 41_994_600.0,
        8 => 55_994_200.0,
        12 => 83_970_500.0,
        _ => return None,
    };
    Some(1.0 / counts_per_volt)
}

/// The footer's fields.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Footer {
    /// `T`: the test name.
    pub test: String,
    /// `S`: the subject.
    pub subject: String,
    /// `A`: the subject's age.
    pub age: String,
    /// `R`: remarks.
    pub remarks: String,
    /// `F`: samples per second.
    pub sample_rate: f64,
    /// `G`: the gain setting.
    pub gain: u32,
}

/// Reads a BioWolf `.bin` recording into a session with the footer in its metadata.
pub fn read_biowolf(path: impl AsRef<Path>) -> Result<Session> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_biowolf_text(&bytes).map_err(|msg| Error::bad_file(path, msg))
}

/// Parses the bytes of a BioWolf recording; the error says what is wrong.
pub fn parse_biowolf(bytes: &[u8]) -> Result<Session> {
    parse_biowolf_text(bytes).map_err(Error::Data)
}

/// [`parse_biowolf`] with the error as text (callers add the file).
fn parse_biowolf_text(bytes: &[u8]) -> std::result::Result<Session, String> {
    let start = bytes
        .windows(FOOTER_MAGIC.len())
        .rposition(|w| w == FOOTER_MAGIC)
        .ok_or_else(|| {
            "not a BioWolf recording: no \"<<>>IEP,\" footer (truncated or another format)"
                .to_string()
        })?;
    let footer = parse_footer_text(&bytes[start + FOOTER_MAGIC.len()..])?;
    let data = &bytes[..start];
    if !data.len().is_multiple_of(PACKET_BYTES) {
        return Err(format!(
            "packet data is {} bytes, not a whole number of {PACKET_BYTES}-byte packets (truncated or garbled)",
            data.len()
        ));
    }
    let packets = data.len() / PACKET_BYTES;
    if packets < 2 {
        return Err(format!(
            "{packets} packets: no samples after the dropped first packet"
        ));
    }
    let scale = gain_scale(footer.gain).expect("gain checked in parse_footer") * 1e6;
    let n = packets - 1;
    let mut channels: Vec<Vec<f64>> = (0..CHANNELS).map(|_| Vec::with_capacity(n)).collect();
    let mut trigger = Vec::with_capacity(n);
    for p in data.chunks_exact(PACKET_BYTES).skip(1) {
        for (c, ch) in channels.iter_mut().enumerate() {
            let b = &p[3 * c..3 * c + 3];
            // Sign-extend the 24-bit big-endian value through the top of an i32.
            let s24 = i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8;
            ch.push(f64::from(s24) * scale);
        }
        trigger.push(i64::from(p[TRIGGER_BYTE]));
    }
    let mut session = Session::new(channels, trigger).map_err(|e| e.to_string())?;
    session.metadata = vec![
        ("source".into(), "biowolf".into()),
        ("test".into(), footer.test),
        ("subject".into(), footer.subject),
        ("age".into(), footer.age),
        ("remarks".into(), footer.remarks),
        ("sample_rate".into(), format!("{}", footer.sample_rate)),
        ("gain".into(), footer.gain.to_string()),
    ];
    Ok(session)
}

/// Parses the fields after `<<>>IEP,`.
pub fn parse_footer(bytes: &[u8]) -> Result<Footer> {
    parse_footer_text(bytes).map_err(Error::Data)
}

/// [`parse_footer`] with the error as text (callers add the file).
fn parse_footer_text(bytes: &[u8]) -> std::result::Result<Footer, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "garbled footer: not ASCII text".to_string())?
        .trim_end_matches(['\0', '\r', '\n', ' ']);
    let mut f = Footer::default();
    let (mut rate, mut gain) = (None, None);
    let mut last_text: Option<char> = None;
    for field in text.split(',') {
        let mut chars = field.chars();
        let key = chars.next();
        let value = chars.as_str();
        match key {
            Some('T') => (f.test, last_text) = (value.into(), Some('T')),
            Some('S') => (f.subject, last_text) = (value.into(), Some('S')),
            Some('A') => (f.age, last_text) = (value.into(), Some('A')),
            Some('R') => (f.remarks, last_text) = (value.into(), Some('R')),
            Some('F') => {
                let r: f64 = value
                    .parse()
                    .map_err(|_| format!("garbled footer: sample rate field {field:?}"))?;
                if !(r.is_finite() && r > 0.0) {
                    return Err(format!("garbled footer: sample rate {r} Hz"));
                }
                rate = Some(r);
            }
            Some('G') => {
                let g: u32 = value
                    .parse()
                    .map_err(|_| format!("garbled footer: gain field {field:?}"))?;
                gain_scale(g).ok_or_else(|| {
                    format!("unknown gain setting G{g} (known: 1, 2, 3, 4, 6, 8, 12)")
                })?;
                gain = Some(g);
            }
            // A comma inside free text (most likely the remarks) continues the previous field.
            _ if last_text.is_some() => {
                let target = match last_text {
                    Some('T') => &mut f.test,
                    Some('S') => &mut f.subject,
                    Some('A') => &mut f.age,
                    _ => &mut f.remarks,
                };
                target.push(',');
                target.push_str(field);
            }
            _ => return Err(format!("garbled footer: unexpected field {field:?}")),
        }
    }
    f.sample_rate = rate.ok_or("footer has no F<sample rate> field")?;
    f.gain = gain.ok_or("footer has no G<gain> field")?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(values: [i32; 8], trigger: u8) -> Vec<u8> {
        let mut p = vec![0u8; PACKET_BYTES];
        for (c, v) in values.iter().enumerate() {
            let b = v.to_be_bytes();
            p[3 * c..3 * c + 3].copy_from_slice(&b[1..4]);
        }
        p[TRIGGER_BYTE] = trigger;
        p
    }

    #[test]
    fn hand_made_recording_decodes() {
        let mut bytes = packet([9; 8], 9); // dropped
        bytes.extend(packet([1, -1, 0x7f_ffff, -0x80_0000, 0, 2, 3, 4], 0));
        bytes.extend(packet([7_000_700, 0, 0, 0, 0, 0, 0, 0], 3));
        bytes.extend(b"<<>>IEP,Tgrip,Sanna,A30,Rleft arm, relaxed,F500,G1");
        let s = parse_biowolf(&bytes).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.trigger, vec![0, 3]);
        let uv = 1e6 / 7_000_700.0;
        assert_eq!(s.channels[0], vec![uv, 7_000_700.0 * uv]);
        assert_eq!(s.channels[1][0], -uv);
        assert_eq!(s.channels[2][0], 8_388_607.0 * uv);
        assert_eq!(s.channels[3][0], -8_388_608.0 * uv);
        assert_eq!(s.meta("subject"), Some("anna"));
        assert_eq!(s.meta("remarks"), Some("left arm, relaxed"));
        assert_eq!(s.meta("sample_rate"), Some("500"));
        assert_eq!(s.meta("gain"), Some("1"));
    }

    #[test]
    fn truncated_and_garbled_files_are_errors() {
        let mut bytes = packet([0; 8], 0);
        bytes.extend(packet([0; 8], 0));
        let footer = b"<<>>IEP,T,S,A,R,F500,G12";
        let ok: Vec<u8> = [bytes.clone(), footer.to_vec()].concat();
        assert!(parse_biowolf(&ok).is_ok());
        let e = parse_biowolf(&bytes).unwrap_err().to_string();
        assert!(e.contains("no \"<<>>IEP,\" footer"), "{e}");
        let cut: Vec<u8> = [bytes[..50].to_vec(), footer.to_vec()].concat();
        let e = parse_biowolf(&cut).unwrap_err().to_string();
        assert!(e.contains("not a whole number of 32-byte packets"), "{e}");
        let e = parse_biowolf(&[bytes.clone(), b"<<>>IEP,T,S,A,R,F500,G5".to_vec()].concat())
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown gain setting G5"), "{e}");
        let e = parse_biowolf(&[bytes.clone(), b"<<>>IEP,T,S,A,R,Fx,G1".to_vec()].concat())
            .unwrap_err()
            .to_string();
        assert!(e.contains("sample rate"), "{e}");
        let e = parse_biowolf(&[bytes.clone(), b"<<>>IEP,T,S,A,R,G1".to_vec()].concat())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no F<sample rate>"), "{e}");
        let e = parse_biowolf(&[bytes[..32].to_vec(), footer.to_vec()].concat())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no samples"), "{e}");
        let e = parse_biowolf(&[bytes, b"<<>>IEP,\xff\xfe".to_vec()].concat())
            .unwrap_err()
            .to_string();
        assert!(e.contains("garbled footer"), "{e}");
    }
}
