//! SMB2 CLOSE (2.2.15, 2.2.16), FLUSH (2.2.17, 2.2.18), READ (2.2.19, 2.2.20), WRITE (2.2.21,
//! 2.2.22) and LOCK (2.2.26, 2.2.27) of [MS-SMB2].

use crate::body::Body;
use crate::emit::Out;
use crate::error::{Error, Result};
use crate::field::{le_u32, le_u64};
use crate::header::HEADER_LEN;
use crate::ids::FileId;

/// CLOSE flag: return the file's attributes.
pub const CLOSE_FLAG_POSTQUERY_ATTRIB: u16 = 0x0001;

/// A parsed CLOSE request.
#[derive(Debug, Clone, Copy)]
pub struct CloseRequest {
    pub flags: u16,
    pub file_id: FileId,
}

impl CloseRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let b = Body::new(msg, 24)?;
        Ok(Self {
            flags: b.u16(2),
            file_id: FileId::from_bytes(b.array(8)),
        })
    }
}

/// Attributes a CLOSE response carries when POSTQUERY_ATTRIB was asked.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloseResponseRepr {
    pub flags: u16,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
}

impl CloseResponseRepr {
    pub fn emit(&self, msg: &mut [u8]) -> usize {
        let mut o = Out::new(&mut msg[HEADER_LEN..HEADER_LEN + 60]);
        o.u16(0, 60);
        o.u16(2, self.flags);
        o.u32(4, 0);
        o.u64(8, self.creation_time);
        o.u64(16, self.last_access_time);
        o.u64(24, self.last_write_time);
        o.u64(32, self.change_time);
        o.u64(40, self.allocation_size);
        o.u64(48, self.end_of_file);
        o.u32(56, self.file_attributes);
        HEADER_LEN + 60
    }
}

/// A parsed FLUSH request.
#[derive(Debug, Clone, Copy)]
pub struct FlushRequest {
    pub file_id: FileId,
}

impl FlushRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let b = Body::new(msg, 24)?;
        Ok(Self {
            file_id: FileId::from_bytes(b.array(8)),
        })
    }
}

/// A parsed READ request.
#[derive(Debug, Clone, Copy)]
pub struct ReadRequest {
    pub padding: u8,
    pub flags: u8,
    pub length: u32,
    pub offset: u64,
    pub file_id: FileId,
    pub minimum_count: u32,
    pub channel: u32,
}

impl ReadRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        // Some clients send StructureSize 49 with no buffer byte; Body accepts 48 fixed bytes.
        let b = Body::new(msg, 49)?;
        Ok(Self {
            padding: b.u8(2),
            flags: b.u8(3),
            length: b.u32(4),
            offset: b.u64(8),
            file_id: FileId::from_bytes(b.array(16)),
            minimum_count: b.u32(32),
            channel: b.u32(36),
        })
    }
}

/// Offset of READ response data from the header start.
pub const READ_DATA_OFFSET: usize = HEADER_LEN + 16;

/// Writes a READ response header around `data_len` bytes already placed at
/// [`READ_DATA_OFFSET`]. Returns the message length.
pub fn emit_read_response(msg: &mut [u8], data_len: usize) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..READ_DATA_OFFSET]);
    o.u16(0, 17);
    o.u8(2, READ_DATA_OFFSET as u8);
    o.u8(3, 0);
    o.u32(4, data_len as u32);
    o.u32(8, 0);
    o.u32(12, 0);
    if data_len == 0 {
        msg[READ_DATA_OFFSET] = 0;
        READ_DATA_OFFSET + 1
    } else {
        READ_DATA_OFFSET + data_len
    }
}

/// A parsed WRITE request.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    pub offset: u64,
    pub file_id: FileId,
    pub channel: u32,
    pub flags: u32,
    pub data: &'a [u8],
}

impl<'a> WriteRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 49)?;
        let data_off = usize::from(b.u16(2));
        let len = b.u32(4) as usize;
        Ok(Self {
            data: b.blob(data_off, len)?,
            offset: b.u64(8),
            file_id: FileId::from_bytes(b.array(16)),
            channel: b.u32(32),
            flags: b.u32(44),
        })
    }
}

/// Writes a WRITE response; returns the message length.
pub fn emit_write_response(msg: &mut [u8], count: u32) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..HEADER_LEN + 16]);
    o.u16(0, 17);
    o.u16(2, 0);
    o.u32(4, count);
    o.u32(8, 0);
    o.u16(12, 0);
    o.u16(14, 0);
    msg[HEADER_LEN + 16] = 0;
    HEADER_LEN + 17
}

/// LOCK element flags ([MS-SMB2] 2.2.26.1).
pub mod lock_flags {
    pub const SHARED: u32 = 0x1;
    pub const EXCLUSIVE: u32 = 0x2;
    pub const UNLOCK: u32 = 0x4;
    pub const FAIL_IMMEDIATELY: u32 = 0x10;
}

/// One byte-range lock element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockElement {
    pub offset: u64,
    pub length: u64,
    pub flags: u32,
}

/// A parsed LOCK request.
#[derive(Debug, Clone, Copy)]
pub struct LockRequest<'a> {
    pub lock_sequence: u32,
    pub file_id: FileId,
    locks: &'a [u8],
}

impl<'a> LockRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 48)?;
        let count = usize::from(b.u16(2));
        if count == 0 {
            return Err(Error::Malformed);
        }
        Ok(Self {
            lock_sequence: b.u32(4),
            file_id: FileId::from_bytes(b.array(8)),
            locks: b.blob(HEADER_LEN + 24, count * 24)?,
        })
    }

    pub fn locks(&self) -> impl Iterator<Item = LockElement> + 'a {
        self.locks.chunks_exact(24).map(|c| LockElement {
            offset: le_u64(c),
            length: le_u64(&c[8..]),
            flags: le_u32(&c[16..]),
        })
    }
}
