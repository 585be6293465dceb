//! SMB2 TREE_CONNECT ([MS-SMB2] 2.2.9, 2.2.10).

use crate::body::Body;
use crate::emit::Out;
use crate::error::Result;
use crate::header::HEADER_LEN;

/// Share types ([MS-SMB2] 2.2.10).
pub mod share_type {
    pub const DISK: u8 = 0x01;
    pub const PIPE: u8 = 0x02;
    pub const PRINT: u8 = 0x03;
}

/// Share flags ([MS-SMB2] 2.2.10).
pub mod share_flags {
    pub const MANUAL_CACHING: u32 = 0x0000_0000;
    pub const NO_CACHING: u32 = 0x0000_0030;
    pub const ENCRYPT_DATA: u32 = 0x0000_8000;
}

/// Share capabilities ([MS-SMB2] 2.2.10).
pub mod share_caps {
    pub const DFS: u32 = 0x0000_0008;
    pub const CONTINUOUS_AVAILABILITY: u32 = 0x0000_0010;
}

/// A parsed TREE_CONNECT request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub flags: u16,
    /// UTF-16LE `\\server\share`.
    pub path: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 9)?;
        Ok(Self {
            flags: b.u16(2),
            path: b.blob(usize::from(b.u16(4)), usize::from(b.u16(6)))?,
        })
    }
}

/// Writes a TREE_CONNECT response; returns the message length.
pub fn emit_response(
    msg: &mut [u8],
    share_type: u8,
    share_flags: u32,
    capabilities: u32,
    maximal_access: u32,
) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..HEADER_LEN + 16]);
    o.u16(0, 16);
    o.u8(2, share_type);
    o.u8(3, 0);
    o.u32(4, share_flags);
    o.u32(8, capabilities);
    o.u32(12, maximal_access);
    HEADER_LEN + 16
}
