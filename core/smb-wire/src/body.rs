//! Checked access to a request body: the fixed part that `StructureSize` announces, and
//! offset/length pairs that count from the start of the SMB2 header ([MS-SMB2] 2.2).
//!
//! After [`Body::new`] succeeds, every fixed-field accessor is in bounds; variable parts are
//! reached only through [`Body::blob`], which checks the offset/length pair with `checked_add`.

use crate::error::{Error, Result};
use crate::field::{le_u16, le_u32, le_u64};
use crate::header::HEADER_LEN;

/// A request body inside a whole message.
#[derive(Debug, Clone, Copy)]
pub struct Body<'a> {
    msg: &'a [u8],
    fixed: usize,
}

impl<'a> Body<'a> {
    /// Checks `StructureSize` equals `structure_size` and that the fixed part (the structure
    /// size with its "one byte of buffer" bit cleared) fits in `msg`.
    pub fn new(msg: &'a [u8], structure_size: u16) -> Result<Self> {
        let fixed = usize::from(structure_size & !1);
        if msg.len() < HEADER_LEN + fixed.max(2) {
            return Err(Error::Truncated);
        }
        if le_u16(&msg[HEADER_LEN..]) != structure_size {
            return Err(Error::Malformed);
        }
        Ok(Self { msg, fixed })
    }

    /// The whole message, header included.
    pub fn msg(&self) -> &'a [u8] {
        self.msg
    }

    /// Length of the fixed part of the body.
    pub fn fixed_len(&self) -> usize {
        self.fixed
    }

    pub fn u8(&self, off: usize) -> u8 {
        self.msg[HEADER_LEN + off]
    }
    pub fn u16(&self, off: usize) -> u16 {
        le_u16(&self.msg[HEADER_LEN + off..])
    }
    pub fn u32(&self, off: usize) -> u32 {
        le_u32(&self.msg[HEADER_LEN + off..])
    }
    pub fn u64(&self, off: usize) -> u64 {
        le_u64(&self.msg[HEADER_LEN + off..])
    }
    /// Bytes `off..off+N` of the fixed part.
    pub fn array<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0; N];
        a.copy_from_slice(&self.msg[HEADER_LEN + off..HEADER_LEN + off + N]);
        a
    }

    /// The variable part at `offset` (from the start of the header) of `len` bytes. A zero
    /// length gives an empty slice whatever the offset. A non-empty buffer must not overlap
    /// the header.
    pub fn blob(&self, offset: usize, len: usize) -> Result<&'a [u8]> {
        if len == 0 {
            return Ok(&[]);
        }
        if offset < HEADER_LEN {
            return Err(Error::Malformed);
        }
        let end = offset.checked_add(len).ok_or(Error::Truncated)?;
        self.msg.get(offset..end).ok_or(Error::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ss: u16, total: usize) -> [u8; 128] {
        let mut b = [0u8; 128];
        b[64..66].copy_from_slice(&ss.to_le_bytes());
        let _ = total;
        b
    }

    #[test]
    fn rejects_wrong_structure_size() {
        let b = msg(9, 128);
        assert_eq!(Body::new(&b, 57).unwrap_err(), Error::Malformed);
        assert!(Body::new(&b, 9).is_ok());
    }

    #[test]
    fn rejects_truncated_fixed_part() {
        let b = msg(57, 128);
        assert_eq!(Body::new(&b[..100], 57).unwrap_err(), Error::Truncated);
        assert!(Body::new(&b[..120], 57).is_ok());
    }

    #[test]
    fn rejects_offset_past_end() {
        let b = msg(9, 128);
        let body = Body::new(&b, 9).unwrap();
        assert_eq!(body.blob(100, 29).unwrap_err(), Error::Truncated);
        assert_eq!(body.blob(usize::MAX, 2).unwrap_err(), Error::Truncated);
        assert_eq!(body.blob(10, 2).unwrap_err(), Error::Malformed);
        assert_eq!(body.blob(100, 28).unwrap().len(), 28);
        assert!(body.blob(5000, 0).unwrap().is_empty());
    }
}
