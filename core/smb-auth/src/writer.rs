//! Bounds-checked little-endian writer into a caller buffer.

use crate::AuthError;

/// Appends bytes to a borrowed buffer; every write fails with
/// [`AuthError::BufferTooSmall`] instead of panicking when the buffer is full.
pub(crate) struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut [u8]) -> Self {
        Writer { out, pos: 0 }
    }

    /// Bytes written so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), AuthError> {
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(AuthError::BufferTooSmall)?;
        self.out
            .get_mut(self.pos..end)
            .ok_or(AuthError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), AuthError> {
        self.put(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), AuthError> {
        self.put(&v.to_le_bytes())
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), AuthError> {
        self.put(&v.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), AuthError> {
        self.put(&v.to_le_bytes())
    }

    /// `s` as UTF-16LE, without terminator.
    pub(crate) fn utf16(&mut self, s: &str) -> Result<(), AuthError> {
        for unit in s.encode_utf16() {
            self.u16(unit)?;
        }
        Ok(())
    }
}
