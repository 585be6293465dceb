//! SMB2 QUERY_DIRECTORY (2.2.33, 2.2.34), QUERY_INFO (2.2.37, 2.2.38), SET_INFO (2.2.39,
//! 2.2.40), CHANGE_NOTIFY (2.2.35) and IOCTL (2.2.31, 2.2.32) of [MS-SMB2].

use crate::body::Body;
use crate::emit::Out;
use crate::error::{Error, Result};
use crate::header::HEADER_LEN;
use crate::ids::FileId;

/// QUERY_DIRECTORY flags.
pub mod dir_flags {
    pub const RESTART_SCANS: u8 = 0x01;
    pub const RETURN_SINGLE_ENTRY: u8 = 0x02;
    pub const INDEX_SPECIFIED: u8 = 0x04;
    pub const REOPEN: u8 = 0x10;
}

/// A parsed QUERY_DIRECTORY request.
#[derive(Debug, Clone, Copy)]
pub struct QueryDirectoryRequest<'a> {
    pub info_class: u8,
    pub flags: u8,
    pub file_index: u32,
    pub file_id: FileId,
    /// UTF-16LE search pattern.
    pub pattern: &'a [u8],
    pub output_buffer_length: u32,
}

impl<'a> QueryDirectoryRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 33)?;
        let len = usize::from(b.u16(26));
        if len % 2 != 0 {
            return Err(Error::Malformed);
        }
        Ok(Self {
            info_class: b.u8(2),
            flags: b.u8(3),
            file_index: b.u32(4),
            file_id: FileId::from_bytes(b.array(8)),
            pattern: b.blob(usize::from(b.u16(24)), len)?,
            output_buffer_length: b.u32(28),
        })
    }
}

/// Offset of the output buffer of QUERY_DIRECTORY and QUERY_INFO responses.
pub const OUTPUT_OFFSET: usize = HEADER_LEN + 8;

/// Writes a QUERY_DIRECTORY or QUERY_INFO response around `len` bytes already at
/// [`OUTPUT_OFFSET`] (both share this layout). Returns the message length.
pub fn emit_output_response(msg: &mut [u8], len: usize) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..OUTPUT_OFFSET]);
    o.u16(0, 9);
    o.u16(2, if len > 0 { OUTPUT_OFFSET as u16 } else { 0 });
    o.u32(4, len as u32);
    if len == 0 {
        msg[OUTPUT_OFFSET] = 0;
        OUTPUT_OFFSET + 1
    } else {
        OUTPUT_OFFSET + len
    }
}

/// QUERY_INFO / SET_INFO InfoType values.
pub mod info_type {
    pub const FILE: u8 = 0x01;
    pub const FILESYSTEM: u8 = 0x02;
    pub const SECURITY: u8 = 0x03;
    pub const QUOTA: u8 = 0x04;
}

/// A parsed QUERY_INFO request.
#[derive(Debug, Clone, Copy)]
pub struct QueryInfoRequest<'a> {
    pub info_type: u8,
    pub info_class: u8,
    pub output_buffer_length: u32,
    pub input: &'a [u8],
    pub additional_information: u32,
    pub flags: u32,
    pub file_id: FileId,
}

impl<'a> QueryInfoRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 41)?;
        Ok(Self {
            info_type: b.u8(2),
            info_class: b.u8(3),
            output_buffer_length: b.u32(4),
            input: b.blob(usize::from(b.u16(8)), b.u32(12) as usize)?,
            additional_information: b.u32(16),
            flags: b.u32(20),
            file_id: FileId::from_bytes(b.array(24)),
        })
    }
}

/// A parsed SET_INFO request.
#[derive(Debug, Clone, Copy)]
pub struct SetInfoRequest<'a> {
    pub info_type: u8,
    pub info_class: u8,
    pub buffer: &'a [u8],
    pub additional_information: u32,
    pub file_id: FileId,
}

impl<'a> SetInfoRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 33)?;
        Ok(Self {
            info_type: b.u8(2),
            info_class: b.u8(3),
            buffer: b.blob(usize::from(b.u16(8)), b.u32(4) as usize)?,
            additional_information: b.u32(12),
            file_id: FileId::from_bytes(b.array(16)),
        })
    }
}

/// Writes a SET_INFO response (StructureSize 2); returns the message length.
pub fn emit_set_info_response(msg: &mut [u8]) -> usize {
    Out::new(&mut msg[HEADER_LEN..HEADER_LEN + 2]).u16(0, 2);
    HEADER_LEN + 2
}

/// A parsed CHANGE_NOTIFY request.
#[derive(Debug, Clone, Copy)]
pub struct ChangeNotifyRequest {
    pub flags: u16,
    pub output_buffer_length: u32,
    pub file_id: FileId,
    pub completion_filter: u32,
}

impl ChangeNotifyRequest {
    pub fn parse(msg: &[u8]) -> Result<Self> {
        let b = Body::new(msg, 32)?;
        Ok(Self {
            flags: b.u16(2),
            output_buffer_length: b.u32(4),
            file_id: FileId::from_bytes(b.array(8)),
            completion_filter: b.u32(24),
        })
    }
}

/// FSCTL / IOCTL codes the server knows ([MS-FSCC] 2.3, [MS-SMB2] 2.2.31).
pub mod fsctl {
    pub const DFS_GET_REFERRALS: u32 = 0x0006_0194;
    pub const DFS_GET_REFERRALS_EX: u32 = 0x0006_01B0;
    pub const PIPE_PEEK: u32 = 0x0011_400C;
    pub const PIPE_WAIT: u32 = 0x0011_0018;
    pub const PIPE_TRANSCEIVE: u32 = 0x0011_C017;
    pub const SRV_COPYCHUNK: u32 = 0x0014_40F2;
    pub const SRV_COPYCHUNK_WRITE: u32 = 0x0014_80F2;
    pub const SRV_ENUMERATE_SNAPSHOTS: u32 = 0x0014_4064;
    pub const SRV_REQUEST_RESUME_KEY: u32 = 0x0014_0078;
    pub const SRV_READ_HASH: u32 = 0x0014_41BB;
    pub const LMR_REQUEST_RESILIENCY: u32 = 0x0014_01D4;
    pub const QUERY_NETWORK_INTERFACE_INFO: u32 = 0x0014_01FC;
    pub const SET_REPARSE_POINT: u32 = 0x0009_00A4;
    pub const GET_REPARSE_POINT: u32 = 0x0009_00A8;
    pub const VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;
    pub const SET_SPARSE: u32 = 0x0009_00C4;
    pub const SET_ZERO_DATA: u32 = 0x0009_80C8;
    pub const QUERY_ALLOCATED_RANGES: u32 = 0x0009_40CF;
    pub const FILE_LEVEL_TRIM: u32 = 0x0009_8208;
    pub const CREATE_OR_GET_OBJECT_ID: u32 = 0x0009_00C0;
    pub const GET_COMPRESSION: u32 = 0x0009_003C;
    pub const SET_COMPRESSION: u32 = 0x0009_C040;
    pub const GET_INTEGRITY_INFORMATION: u32 = 0x0009_027C;
    pub const QUERY_FILE_REGIONS: u32 = 0x0009_0284;
}

/// IOCTL request flag: this is an FSCTL.
pub const IOCTL_IS_FSCTL: u32 = 0x0000_0001;

/// A parsed IOCTL request.
#[derive(Debug, Clone, Copy)]
pub struct IoctlRequest<'a> {
    pub ctl_code: u32,
    pub file_id: FileId,
    pub input: &'a [u8],
    pub max_input_response: u32,
    pub max_output_response: u32,
    pub flags: u32,
}

impl<'a> IoctlRequest<'a> {
    pub fn parse(msg: &'a [u8]) -> Result<Self> {
        let b = Body::new(msg, 57)?;
        Ok(Self {
            ctl_code: b.u32(4),
            file_id: FileId::from_bytes(b.array(8)),
            input: b.blob(b.u32(24) as usize, b.u32(28) as usize)?,
            max_input_response: b.u32(32),
            max_output_response: b.u32(44),
            flags: b.u32(48),
        })
    }
}

/// Offset of the IOCTL response's output buffer.
pub const IOCTL_OUTPUT_OFFSET: usize = HEADER_LEN + 48;

/// Writes an IOCTL response around `out_len` bytes already at [`IOCTL_OUTPUT_OFFSET`].
/// Returns the message length.
pub fn emit_ioctl_response(
    msg: &mut [u8],
    ctl_code: u32,
    file_id: FileId,
    out_len: usize,
) -> usize {
    let mut o = Out::new(&mut msg[HEADER_LEN..IOCTL_OUTPUT_OFFSET]);
    o.u16(0, 49);
    o.u16(2, 0);
    o.u32(4, ctl_code);
    file_id.write(o.slice_mut(8..24));
    o.u32(24, IOCTL_OUTPUT_OFFSET as u32);
    o.u32(28, 0);
    o.u32(32, IOCTL_OUTPUT_OFFSET as u32);
    o.u32(36, out_len as u32);
    o.u32(40, 0);
    o.u32(44, 0);
    IOCTL_OUTPUT_OFFSET + out_len
}
