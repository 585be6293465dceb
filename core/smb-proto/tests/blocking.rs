//! The blocking `embedded-io` driver (`smb_proto::blocking`): frames in, frames out over any
//! byte stream, ending cleanly when the peer closes and refusing oversized frames.

use smb_proto::blocking::{self, ServeError};
use smb_testkit::client::Req;
use smb_testkit::TestServer;
use smb_wire::{Command, Header, NtStatus};

/// A byte stream: reads from a prepared input, collects writes.
struct Pipe {
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
}

#[derive(Debug)]
struct PipeError;

impl core::fmt::Display for PipeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("pipe error")
    }
}
impl core::error::Error for PipeError {}
impl embedded_io::Error for PipeError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}
impl embedded_io::ErrorType for Pipe {
    type Error = PipeError;
}
impl embedded_io::Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, PipeError> {
        let n = buf.len().min(self.input.len() - self.pos).min(7); // short reads on purpose
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
impl embedded_io::Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> Result<usize, PipeError> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), PipeError> {
        Ok(())
    }
}

fn negotiate_frame(ts: &TestServer) -> Vec<u8> {
    let mut c = ts.client();
    let req = Req::negotiate(&[0x0202, 0x0210], 1, 0, [7; 16], &[]);
    let msg = c.build(&[req]);
    let mut frame = vec![0u8; 4];
    smb_wire::transport::emit_header(&mut frame, msg.len());
    frame.extend_from_slice(&msg);
    frame
}

#[test]
fn serves_frames_until_the_peer_closes() {
    let ts = TestServer::new();
    let frame = negotiate_frame(&ts);
    let conn = ts.accept();
    let mut pipe = Pipe {
        input: frame,
        pos: 0,
        output: Vec::new(),
    };
    let mut rx = vec![0u8; 65536];
    let mut tx = vec![0u8; 1 << 21];
    let end = ts.with(|srv| blocking::serve(srv, conn, &mut pipe, &mut rx, &mut tx, || 1));
    assert!(matches!(end, ServeError::Closed), "{end:?}");
    // One framed NEGOTIATE response came back.
    assert!(pipe.output.len() > 4 + 64);
    let h = Header::new_checked(&pipe.output[4..]).unwrap();
    assert_eq!(h.command(), Command::NEGOTIATE);
    assert_eq!(h.status(), NtStatus::SUCCESS);
}

#[test]
fn refuses_frames_larger_than_the_buffer() {
    let ts = TestServer::new();
    let conn = ts.accept();
    let mut pipe = Pipe {
        input: vec![0, 0x10, 0, 0],
        pos: 0,
        output: Vec::new(),
    };
    let mut rx = vec![0u8; 4096];
    let mut tx = vec![0u8; 1 << 21];
    let end = ts.with(|srv| blocking::serve(srv, conn, &mut pipe, &mut rx, &mut tx, || 1));
    assert!(matches!(end, ServeError::BadFrame), "{end:?}");
    assert!(pipe.output.is_empty());
}

#[test]
fn a_truncated_frame_is_bad_not_a_hang() {
    let ts = TestServer::new();
    let mut frame = negotiate_frame(&ts);
    frame.truncate(frame.len() - 3);
    let conn = ts.accept();
    let mut pipe = Pipe {
        input: frame,
        pos: 0,
        output: Vec::new(),
    };
    let mut rx = vec![0u8; 65536];
    let mut tx = vec![0u8; 1 << 21];
    let end = ts.with(|srv| blocking::serve(srv, conn, &mut pipe, &mut rx, &mut tx, || 1));
    assert!(matches!(end, ServeError::BadFrame), "{end:?}");
}
