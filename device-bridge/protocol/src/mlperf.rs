//! The MLPerf Tiny benchmark runner's text protocol (EEMBC's `ee_lib`).
//!
//! The runner sends ASCII commands terminated by `%` (`name%`, `profile%`,
//! `db load N%`, `db 0a1b...%`, `infer N W%`, `results%`); the device answers
//! with `\r\n`-terminated lines: `m-...` messages, `e-[...]` errors, and
//! `m-ready` after every command. A command line holds at most
//! [`CMD_SIZE`] characters, so the runner sends `db` hex in pieces.

/// The command terminator.
pub const TERMINATOR: u8 = b'%';
/// Longest command the device buffers (EEMBC's `EE_CMD_SIZE`).
pub const CMD_SIZE: usize = 80;
/// Sent after every command and at boot.
pub const READY: &str = "m-ready";
/// Hex digits a host puts in one `db` command (fits [`CMD_SIZE`]).
pub const DB_HEX_PER_COMMAND: usize = 64;

/// A parsed runner command.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum Command<'a> {
    /// `name`: print `m-name-dut-[NAME]`.
    Name,
    /// `profile`: print the firmware and model versions.
    Profile,
    /// `help`: list commands.
    Help,
    /// `timestamp`: print `m-lap-us-N`.
    Timestamp,
    /// `db load N`: expect `N` bytes of input.
    DbLoad(usize),
    /// `db HEX`: append bytes.
    DbHex(&'a str),
    /// `db print`: dump the buffer.
    DbPrint,
    /// `infer N W`: `W` warm-up runs, then `N` timed runs (defaults 1 and 10).
    Infer {
        /// Timed runs.
        n: usize,
        /// Warm-up runs.
        warmup: usize,
    },
    /// `results`: print the last output as floats.
    Results,
}

/// Parses one command (terminator removed). `Err` holds the message for `e-[...]`.
pub fn parse_command(line: &str) -> Result<Command<'_>, &'static str> {
    let mut it = line.split(' ').filter(|s| !s.is_empty());
    let Some(cmd) = it.next() else {
        return Err("Empty command");
    };
    Ok(match cmd {
        "name" => Command::Name,
        "profile" => Command::Profile,
        "help" => Command::Help,
        "timestamp" => Command::Timestamp,
        "results" => Command::Results,
        "db" => match it.next() {
            None => return Err("Command 'db' requires a subcommand"),
            Some("load") => match it.next().map(str::parse::<usize>) {
                None => return Err("Command 'db load' requires the # of bytes"),
                Some(Ok(n)) if n > 0 => Command::DbLoad(n),
                Some(_) => return Err("Command 'db load' must be >0 bytes"),
            },
            Some("print") => Command::DbPrint,
            Some(hex) => {
                if hex.len() % 2 != 0 {
                    return Err("Insufficent number of hex digits");
                }
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err("Invalid hex digit");
                }
                Command::DbHex(hex)
            }
        },
        "infer" => {
            let mut n = 1;
            let mut warmup = 10;
            if let Some(a) = it.next() {
                n = match a.parse::<usize>() {
                    Ok(v) if v > 0 => v,
                    _ => return Err("Inference iterations must be >0"),
                };
                if let Some(b) = it.next() {
                    warmup = b.parse().map_err(|_| "Inference warmup must be >=0")?;
                }
            }
            Command::Infer { n, warmup }
        }
        _ => return Err("Unknown command"),
    })
}

/// Decodes `db` hex digits into `out`; returns the bytes written (stops when `out` is full).
pub fn decode_hex(hex: &str, out: &mut [u8]) -> usize {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    };
    let mut n = 0;
    for (pair, o) in hex.as_bytes().chunks_exact(2).zip(out.iter_mut()) {
        *o = (digit(pair[0]) << 4) | digit(pair[1]);
        n += 1;
    }
    n
}

/// One line a device sent, classified for the host.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Line<'a> {
    /// `m-ready`.
    Ready,
    /// `m-name-dut-[NAME]`: the name.
    Name(&'a str),
    /// `m-lap-us-N`.
    LapUs(u64),
    /// `m-results-[a,b,...]`: the text between the brackets.
    Results(&'a str),
    /// `m-load-done`.
    LoadDone,
    /// `e-[...]`: the message.
    Error(&'a str),
    /// Any other line.
    Other(&'a str),
}

/// Classifies one device line (without `\r\n`).
pub fn parse_line(line: &str) -> Line<'_> {
    fn bracket(rest: &str) -> Option<&str> {
        rest.strip_prefix('[')?.strip_suffix(']')
    }
    let line = line.trim_end_matches(['\r', '\n']);
    if line == READY {
        Line::Ready
    } else if line == "m-load-done" {
        Line::LoadDone
    } else if let Some(v) = line.strip_prefix("m-lap-us-").and_then(|v| v.parse().ok()) {
        Line::LapUs(v)
    } else if let Some(r) = line.strip_prefix("m-results-").and_then(bracket) {
        Line::Results(r)
    } else if let Some(n) = line
        .strip_prefix("m-name-")
        .and_then(|r| r.split_once('-'))
        .and_then(|(_, r)| bracket(r))
    {
        Line::Name(n)
    } else if let Some(e) = line.strip_prefix("e-").and_then(bracket) {
        Line::Error(e)
    } else {
        Line::Other(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command("name"), Ok(Command::Name));
        assert_eq!(parse_command("db load 784"), Ok(Command::DbLoad(784)));
        assert_eq!(parse_command("db 0aFF"), Ok(Command::DbHex("0aFF")));
        assert_eq!(
            parse_command("db 0aF"),
            Err("Insufficent number of hex digits")
        );
        assert_eq!(
            parse_command("db load 0"),
            Err("Command 'db load' must be >0 bytes")
        );
        assert_eq!(
            parse_command("infer"),
            Ok(Command::Infer { n: 1, warmup: 10 })
        );
        assert_eq!(
            parse_command("infer 5 2"),
            Ok(Command::Infer { n: 5, warmup: 2 })
        );
        assert_eq!(
            parse_command("infer 0"),
            Err("Inference iterations must be >0")
        );
        assert_eq!(parse_command("launch"), Err("Unknown command"));
        let mut out = [0u8; 2];
        assert_eq!(decode_hex("0aFf", &mut out), 2);
        assert_eq!(out, [0x0a, 0xff]);
    }

    #[test]
    fn lines() {
        assert_eq!(parse_line("m-ready\r\n"), Line::Ready);
        assert_eq!(
            parse_line("m-name-dut-[workbench]"),
            Line::Name("workbench")
        );
        assert_eq!(parse_line("m-lap-us-1234"), Line::LapUs(1234));
        assert_eq!(
            parse_line("m-results-[0.000,0.996]"),
            Line::Results("0.000,0.996")
        );
        assert_eq!(
            parse_line("e-[Unknown command]"),
            Line::Error("Unknown command")
        );
        assert_eq!(parse_line("m-infer-done"), Line::Other("m-infer-done"));
    }
}
