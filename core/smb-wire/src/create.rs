//! SMB2 CREATE ([MS-SMB2] 2.2.13, 2.2.14) and create contexts (2.2.13.2, 2.2.14.2).

use crate::body::Body;
use crate::emit::{align8, Out};
use crate::error::{Error, Result};
use crate::field::{le_u16, le_u32};
use crate::header::HEADER_LEN;
use crate::ids::FileId;

/// CreateOptions bits ([MS-SMB2] 2.2.13).
pub mod options {
    pub const DIRECTORY_FILE: u32 = 0x0000_0001;
    pub const WRITE_THROUGH: u32 = 0x0000_0002;
    pub const SEQUENTIAL_ONLY: u32 = 0x0000_0004;
    pub const NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
    pub const SYNCHRONOUS_IO_ALERT: u32 = 0x0000_0010;
    pub const SYNCHRONOUS_IO_NONALERT: u32 = 0x0000_0020;
    pub const NON_DIRECTORY_FILE: u32 = 0x0000_0040;
    pub const COMPLETE_IF_OPLOCKED: u32 = 0x0000_0100;
    pub const NO_EA_KNOWLEDGE: u32 = 0x0000_0200;
    pub const RANDOM_ACCESS: u32 = 0x0000_0800;
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
    pub const OPEN_BY_FILE_ID: u32 = 0x0000_2000;
    pub const OPEN_FOR_BACKUP_INTENT: u32 = 0x0000_4000;
    pub const NO_COMPRESSION: u32 = 0x0000_8000;
    pub const OPEN_REMOTE_INSTANCE: u32 = 0x0000_0400;
    pub const OPEN_REQUIRING_OPLOCK: u32 = 0x0001_0000;
    pub const DISALLOW_EXCLUSIVE: u32 = 0x0002_0000;
    pub const RESERVE_OPFILTER: u32 = 0x0010_0000;
    pub const OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    pub const OPEN_NO_RECALL: u32 = 0x0040_0000;
    pub const OPEN_FOR_FREE_SPACE_QUERY: u32 = 0x0080_0000;
    /// Bits a client may set; the rest are invalid ([MS-SMB2] 3.3.5.9).
    pub const VALID: u32 = 0x00ff_ffff;
}

/// Access mask bits ([MS-SMB2] 2.2.13.1).
pub mod access {
    pub const FILE_READ_DATA: u32 = 0x0000_0001;
    pub const FILE_WRITE_DATA: u32 = 0x0000_0002;
    pub const FILE_APPEND_DATA: u32 = 0x0000_0004;
    pub const FILE_READ_EA: u32 = 0x0000_0008;
    pub const FILE_WRITE_EA: u32 = 0x0000_0010;
    pub const FILE_EXECUTE: u32 = 0x0000_0020;
    pub const FILE_DELETE_CHILD: u32 = 0x0000_0040;
    pub const FILE_READ_ATTRIBUTES: u32 = 0x0000_0080;
    pub const FILE_WRITE_ATTRIBUTES: u32 = 0x0000_0100;
    pub const DELETE: u32 = 0x0001_0000;
    pub const READ_CONTROL: u32 = 0x0002_0000;
    pub const WRITE_DAC: u32 = 0x0004_0000;
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    pub const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
    pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    pub const GENERIC_READ: u32 = 0x8000_0000;

    pub const FILE_GENERIC_READ: u32 =
        READ_CONTROL | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA | SYNCHRONIZE;
    pub const FILE_GENERIC_WRITE: u32 = READ_CONTROL
        | FILE_WRITE_DATA
        | FILE_WRITE_ATTRIBUTES
        | FILE_WRITE_EA
        | FILE_APPEND_DATA
        | SYNCHRONIZE;
    pub const FILE_GENERIC_EXECUTE: u32 =
        READ_CONTROL | FILE_READ_ATTRIBUTES | FILE_EXECUTE | SYNCHRONIZE;
    /// Every specific and standard right of a file.
    pub const FILE_ALL_ACCESS: u32 = 0x001f_01ff;
    /// Rights that change data, metadata or the name.
    pub const ANY_WRITE: u32 = FILE_WRITE_DATA
        | FILE_APPEND_DATA
        | FILE_WRITE_EA
        | FILE_WRITE_ATTRIBUTES
        | FILE_DELETE_CHILD
        | DELETE
        | WRITE_DAC
        | WRITE_OWNER;
}

/// ShareAccess bits ([MS-SMB2] 2.2.13).
pub mod share_access {
    pub const READ: u32 = 0x1;
    pub const WRITE: u32 = 0x2;
    pub const DELETE: u32 = 0x4;
    pub const ALL: u32 = 0x7;
}

/// A parsed CREATE request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub requested_oplock_level: u8,
    pub impersonation_level: u32,
    pub desired_access: u32,
    pub file_attributes: u32,
    pub share_access: u32,
    pub create_disposition: u32,
    pub create_options: u32,
    /// UTF-16LE name relative to the share root.
    pub name: &'a [u8],
    /// Raw create-context chain (iterate with [`ContextIter`]).
    pub contexts: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 57)?;
        let name_len = usize::from(b.u16(46));
        if name_len % 2 != 0 {
            return Err(Error::Malformed);
        }
        let name = b.blob(usize::from(b.u16(44)), name_len)?;
        let contexts = b.blob(b.u32(48) as usize, b.u32(52) as usize)?;
        Ok(Self {
            requested_oplock_level: b.u8(3),
            impersonation_level: b.u32(4),
            desired_access: b.u32(24),
            file_attributes: b.u32(28),
            share_access: b.u32(32),
            create_disposition: b.u32(36),
            create_options: b.u32(40),
            name,
            contexts,
        })
    }

    pub fn contexts(&self) -> ContextIter<'a> {
        ContextIter {
            buf: self.contexts,
            done: self.contexts.is_empty(),
        }
    }
}

/// One create context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context<'a> {
    pub name: &'a [u8],
    pub data: &'a [u8],
}

/// Iterator over a create-context chain ([MS-SMB2] 2.2.13.2); yields an error and stops on
/// the first malformed entry.
#[derive(Debug, Clone)]
pub struct ContextIter<'a> {
    buf: &'a [u8],
    done: bool,
}

impl<'a> Iterator for ContextIter<'a> {
    type Item = Result<Context<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = (|| {
            let b = self.buf;
            if b.len() < 16 {
                return Err(Error::Truncated);
            }
            let next = le_u32(b) as usize;
            let name_off = usize::from(le_u16(&b[4..]));
            let name_len = usize::from(le_u16(&b[6..]));
            let data_off = usize::from(le_u16(&b[10..]));
            let data_len = le_u32(&b[12..]) as usize;
            let name = b.get(name_off..name_off.checked_add(name_len).ok_or(Error::Truncated)?);
            let name = name.ok_or(Error::Truncated)?;
            if name_off < 16 || name_len == 0 {
                return Err(Error::Malformed);
            }
            let data = if data_len == 0 {
                &b[..0]
            } else {
                if data_off < 16 {
                    return Err(Error::Malformed);
                }
                b.get(data_off..data_off.checked_add(data_len).ok_or(Error::Truncated)?)
                    .ok_or(Error::Truncated)?
            };
            if next == 0 {
                self.done = true;
            } else {
                if !next.is_multiple_of(8) || next > b.len() || next < 16 {
                    return Err(Error::Malformed);
                }
                self.buf = &b[next..];
            }
            Ok(Context { name, data })
        })();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Create context names ([MS-SMB2] 2.2.13.2).
pub mod context_name {
    pub const EA_BUFFER: &[u8] = b"ExtA";
    pub const SD_BUFFER: &[u8] = b"SecD";
    pub const DURABLE_HANDLE_REQUEST: &[u8] = b"DHnQ";
    pub const DURABLE_HANDLE_RECONNECT: &[u8] = b"DHnC";
    pub const ALLOCATION_SIZE: &[u8] = b"AlSi";
    pub const QUERY_MAXIMAL_ACCESS: &[u8] = b"MxAc";
    pub const TIMEWARP_TOKEN: &[u8] = b"TWrp";
    pub const QUERY_ON_DISK_ID: &[u8] = b"QFid";
    pub const REQUEST_LEASE: &[u8] = b"RqLs";
    pub const DURABLE_HANDLE_REQUEST_V2: &[u8] = b"DH2Q";
    pub const DURABLE_HANDLE_RECONNECT_V2: &[u8] = b"DH2C";
    pub const APP_INSTANCE_ID: &[u8] = &[
        0x45, 0xBC, 0xA6, 0x6A, 0xEF, 0xA7, 0xF7, 0x4A, 0x90, 0x08, 0xFA, 0x46, 0x2E, 0x14, 0x4D,
        0x74,
    ];
    pub const APP_INSTANCE_VERSION: &[u8] = &[
        0xB9, 0x82, 0xD0, 0xB7, 0x3B, 0x56, 0x07, 0x4F, 0xA0, 0x7B, 0x52, 0x4A, 0x81, 0x16, 0xA0,
        0x10,
    ];
    pub const SVHDX_OPEN_DEVICE_CONTEXT: &[u8] = &[
        0x9C, 0xCB, 0xCF, 0x9E, 0x04, 0xC1, 0xE6, 0x43, 0x98, 0x0E, 0x15, 0x8D, 0xA1, 0xF6, 0xEC,
        0x83,
    ];
    pub const AAPL: &[u8] = b"AAPL";
}

/// Fixed fields of a CREATE response.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseRepr {
    pub oplock_level: u8,
    pub flags: u8,
    pub create_action: u32,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
    pub file_id: FileId,
}

/// Where response create contexts start (header + 88 bytes of fixed body, 8-aligned).
pub const RESPONSE_CONTEXTS_OFFSET: usize = HEADER_LEN + 88;

impl ResponseRepr {
    /// Writes the response; `contexts_len` bytes of contexts are already at
    /// [`RESPONSE_CONTEXTS_OFFSET`]. Returns the message length.
    pub fn emit(&self, msg: &mut [u8], contexts_len: usize) -> usize {
        let mut o = Out::new(&mut msg[HEADER_LEN..RESPONSE_CONTEXTS_OFFSET]);
        o.u16(0, 89);
        o.u8(2, self.oplock_level);
        o.u8(3, self.flags);
        o.u32(4, self.create_action);
        o.u64(8, self.creation_time);
        o.u64(16, self.last_access_time);
        o.u64(24, self.last_write_time);
        o.u64(32, self.change_time);
        o.u64(40, self.allocation_size);
        o.u64(48, self.end_of_file);
        o.u32(56, self.file_attributes);
        o.u32(60, 0);
        self.file_id.write(o.slice_mut(64..80));
        o.u32(
            80,
            if contexts_len > 0 {
                RESPONSE_CONTEXTS_OFFSET as u32
            } else {
                0
            },
        );
        o.u32(84, contexts_len as u32);
        if contexts_len == 0 {
            // The one-byte Buffer the StructureSize counts.
            msg[RESPONSE_CONTEXTS_OFFSET] = 0;
            RESPONSE_CONTEXTS_OFFSET + 1
        } else {
            RESPONSE_CONTEXTS_OFFSET + contexts_len
        }
    }
}

/// Appends a response create context at `buf[pos..]` (pos 8-aligned relative to the chain
/// start), linking it from the previous one at `prev`. Returns the new end, or `None` if it
/// does not fit.
pub fn emit_context(
    buf: &mut [u8],
    prev: Option<usize>,
    pos: usize,
    name: &[u8],
    data: &[u8],
) -> Option<usize> {
    let data_off = align8(16 + name.len());
    let end = pos.checked_add(data_off + data.len())?;
    if end > buf.len() {
        return None;
    }
    if let Some(p) = prev {
        let next = (pos - p) as u32;
        buf[p..p + 4].copy_from_slice(&next.to_le_bytes());
    }
    let mut o = Out::new(&mut buf[pos..end]);
    o.zero(0..data_off);
    o.u32(0, 0);
    o.u16(4, 16);
    o.u16(6, name.len() as u16);
    o.u16(10, if data.is_empty() { 0 } else { data_off as u16 });
    o.u32(12, data.len() as u32);
    o.bytes(16, name);
    o.bytes(data_off, data);
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_chain_roundtrip() {
        let mut buf = [0xa5u8; 128];
        let e1 = emit_context(&mut buf, None, 0, b"MxAc", &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let p2 = align8(e1);
        let e2 = emit_context(&mut buf, Some(0), p2, b"QFid", &[9; 32]).unwrap();
        let mut it = ContextIter {
            buf: &buf[..e2],
            done: false,
        };
        let c = it.next().unwrap().unwrap();
        assert_eq!(c.name, b"MxAc");
        assert_eq!(c.data, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let c = it.next().unwrap().unwrap();
        assert_eq!(c.name, b"QFid");
        assert_eq!(c.data.len(), 32);
        assert!(it.next().is_none());
    }

    #[test]
    fn rejects_bad_context_chains() {
        let mut buf = [0u8; 64];
        let end = emit_context(&mut buf, None, 0, b"MxAc", &[0; 8]).unwrap();
        // next pointing past the end
        buf[..4].copy_from_slice(&200u32.to_le_bytes());
        let mut it = ContextIter {
            buf: &buf[..end],
            done: false,
        };
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        // unaligned next
        buf[..4].copy_from_slice(&17u32.to_le_bytes());
        assert!(ContextIter {
            buf: &buf[..end],
            done: false
        }
        .next()
        .unwrap()
        .is_err());
        // data past the end
        buf[..4].copy_from_slice(&0u32.to_le_bytes());
        buf[12..16].copy_from_slice(&1000u32.to_le_bytes());
        assert!(ContextIter {
            buf: &buf[..end],
            done: false
        }
        .next()
        .unwrap()
        .is_err());
        // every truncation
        for cut in 0..end {
            let _ = ContextIter {
                buf: &buf[..cut],
                done: false,
            }
            .count();
        }
    }
}
