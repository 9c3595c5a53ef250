//! Byte links to a board: a serial port (also a pseudo-terminal) or a TCP
//! socket, behind one [`Transport`] trait so the protocol code is the same.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A bidirectional byte link.
pub trait Transport: Send {
    /// Sends all bytes.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Reads what arrives within `timeout`; `Ok(0)` if nothing did. A closed link is an error.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
    /// A one-line description, e.g. `tcp 127.0.0.1:5000`.
    fn describe(&self) -> String;
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A TCP connection (QEMU's `-serial tcp:...`, the host board, a relay).
pub struct Tcp {
    stream: TcpStream,
    peer: String,
}

impl Tcp {
    /// Connects, waiting at most `timeout`.
    pub fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<Self> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        Ok(Tcp {
            stream,
            peer: addr.to_string(),
        })
    }
}

impl Transport for Tcp {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.stream.read(buf) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the board closed the connection",
            )),
            Ok(n) => Ok(n),
            Err(e) if is_timeout(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        format!("tcp {}", self.peer)
    }
}

/// A serial port, or the host end of a pseudo-terminal.
pub struct Serial {
    port: Box<dyn serialport::SerialPort>,
    name: String,
}

/// The default baud rate.
pub const DEFAULT_BAUD: u32 = 115_200;

impl Serial {
    /// Opens a serial port (8N1, no flow control).
    pub fn open(path: &str, baud: u32) -> io::Result<Self> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(100))
            .open()
            .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
        Ok(Serial {
            port,
            name: format!("serial {path} @ {baud} baud"),
        })
    }

    /// Wraps an open port (e.g. the host end of a [`serialport::TTYPort::pair`]).
    pub fn from_port(port: Box<dyn serialport::SerialPort>, name: &str) -> Self {
        Serial {
            port,
            name: name.to_string(),
        }
    }
}

impl Transport for Serial {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.port.write_all(bytes)?;
        self.port.flush()
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.port
            .set_timeout(timeout.max(Duration::from_millis(1)))
            .map_err(io::Error::other)?;
        match self.port.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if is_timeout(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}
