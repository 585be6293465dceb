//! SMB2 SESSION_SETUP ([MS-SMB2] 2.2.5, 2.2.6) and LOGOFF (2.2.7, 2.2.8).

use crate::body::Body;
use crate::emit::Out;
use crate::error::Result;
use crate::header::HEADER_LEN;

/// SESSION_SETUP request flags.
pub const FLAG_BINDING: u8 = 0x01;

/// Session flags of the response ([MS-SMB2] 2.2.6).
pub mod session_flags {
    pub const IS_GUEST: u16 = 0x0001;
    pub const IS_NULL: u16 = 0x0002;
    pub const ENCRYPT_DATA: u16 = 0x0004;
}

/// A parsed SESSION_SETUP request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub flags: u8,
    pub security_mode: u8,
    pub capabilities: u32,
    pub previous_session_id: u64,
    pub security_buffer: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 25)?;
        Ok(Self {
            flags: b.u8(2),
            security_mode: b.u8(3),
            capabilities: b.u32(4),
            security_buffer: b.blob(usize::from(b.u16(12)), usize::from(b.u16(14)))?,
            previous_session_id: b.u64(16),
        })
    }
}

/// Offset of the security buffer in the response.
pub const RESPONSE_BUFFER_OFFSET: usize = HEADER_LEN + 8;

/// Writes a SESSION_SETUP response body; the security blob must already be at
/// [`RESPONSE_BUFFER_OFFSET`]. Returns the message length.
pub fn emit_response(msg: &mut [u8], session_flags: u16, security_len: usize) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..RESPONSE_BUFFER_OFFSET]);
    o.u16(0, 9);
    o.u16(2, session_flags);
    o.u16(
        4,
        if security_len > 0 {
            RESPONSE_BUFFER_OFFSET as u16
        } else {
            0
        },
    );
    o.u16(6, security_len as u16);
    (RESPONSE_BUFFER_OFFSET + security_len).max(HEADER_LEN + 9)
}

/// Checks a 4-byte-body request (LOGOFF, TREE_DISCONNECT, ECHO, CANCEL: StructureSize 4).
pub fn parse_empty(msg: &[u8]) -> Result<()> {
    Body::new(msg, 4).map(|_| ())
}

/// Writes a 4-byte body (StructureSize 4, Reserved); returns the message length.
pub fn emit_empty(msg: &mut [u8]) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..HEADER_LEN + 4]);
    o.u16(0, 4);
    o.u16(2, 0);
    HEADER_LEN + 4
}

/// Writes an SMB2 ERROR response body ([MS-SMB2] 2.2.2) with no error data; returns the
/// message length (the one-byte ErrorData is included, as the spec requires).
pub fn emit_error(msg: &mut [u8]) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..HEADER_LEN + 9]);
    o.u16(0, 9);
    o.u8(2, 0);
    o.u8(3, 0);
    o.u32(4, 0);
    o.u8(8, 0);
    HEADER_LEN + 9
}

/// Writes an SMB2 ERROR response carrying `data` as ErrorData (e.g. the 4-byte required size
/// of STATUS_BUFFER_TOO_SMALL, [MS-SMB2] 2.2.2). Returns the message length.
pub fn emit_error_data(msg: &mut [u8], data: &[u8]) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..HEADER_LEN + 8 + data.len().max(1)]);
    o.u16(0, 9);
    o.u8(2, 0);
    o.u8(3, 0);
    o.u32(4, data.len() as u32);
    if data.is_empty() {
        o.u8(8, 0);
    } else {
        o.bytes(8, data);
    }
    HEADER_LEN + 8 + data.len().max(1)
}
