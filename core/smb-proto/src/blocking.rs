//! A blocking driver for hosts without an async runtime (an RTOS task, a test, a thread per
//! connection): frames are read and written through the `embedded-io` traits, so any byte
//! stream a `no_std` network stack offers can carry SMB ([MS-SMB2] 2.1 Direct TCP framing).

use embedded_io::{Read, ReadExactError, Write};
use smb_wire::transport;

use crate::policy::Policy;
use crate::server::{ConnId, Server};
use crate::vfs::Vfs;

/// Why [`serve`] stopped.
#[derive(Debug)]
pub enum ServeError<E> {
    /// The peer closed the stream between frames (a clean end).
    Closed,
    /// The stream failed.
    Io(E),
    /// The peer sent a frame longer than the receive buffer, or not Direct TCP.
    BadFrame,
    /// The engine asked to drop the connection (the reason is static text).
    Disconnect(&'static str),
}

/// Reads one Direct TCP frame into `rx`; returns the payload length.
pub fn read_frame<S: Read>(stream: &mut S, rx: &mut [u8]) -> Result<usize, ServeError<S::Error>> {
    let mut head = [0u8; transport::HEADER_LEN];
    match stream.read_exact(&mut head) {
        Ok(()) => {}
        Err(ReadExactError::UnexpectedEof) => return Err(ServeError::Closed),
        Err(ReadExactError::Other(e)) => return Err(ServeError::Io(e)),
    }
    let transport::Status::Complete(len) = transport::frame_len(&head) else {
        return Err(ServeError::BadFrame);
    };
    if len > rx.len() || len < 4 {
        return Err(ServeError::BadFrame);
    }
    stream.read_exact(&mut rx[..len]).map_err(|e| match e {
        ReadExactError::UnexpectedEof => ServeError::BadFrame,
        ReadExactError::Other(e) => ServeError::Io(e),
    })?;
    Ok(len)
}

/// Serves one connection until it ends: read a frame, let the engine answer, write the answer.
/// `now` supplies FILETIME timestamps. The caller calls [`Server::close`] afterwards.
pub fn serve<S, V, P>(
    server: &mut Server<'_, V, P>,
    conn: ConnId,
    stream: &mut S,
    rx: &mut [u8],
    tx: &mut [u8],
    mut now: impl FnMut() -> u64,
) -> ServeError<S::Error>
where
    S: Read + Write,
    V: Vfs,
    P: Policy,
{
    loop {
        let len = match read_frame(stream, rx) {
            Ok(n) => n,
            Err(e) => return e,
        };
        match server.handle_frame(now(), conn, &mut rx[..len], tx) {
            Ok(0) => {}
            Ok(n) => {
                if let Err(e) = stream.write_all(&tx[..n]).and_then(|()| stream.flush()) {
                    return ServeError::Io(e);
                }
            }
            Err(d) => return ServeError::Disconnect(d.0),
        }
    }
}
