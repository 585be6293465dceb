//! A bounds-checked little-endian writer for response bodies. Emitters compute their length
//! first and check it against the buffer once; after that the writer's puts cannot fail.

use crate::field::{put_le_u16, put_le_u32, put_le_u64};

/// Writes fields at explicit positions in a byte slice.
#[derive(Debug)]
pub struct Out<'a> {
    buf: &'a mut [u8],
}

impl<'a> Out<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf }
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    pub fn u8(&mut self, off: usize, v: u8) {
        self.buf[off] = v;
    }
    pub fn u16(&mut self, off: usize, v: u16) {
        put_le_u16(&mut self.buf[off..], v)
    }
    pub fn u32(&mut self, off: usize, v: u32) {
        put_le_u32(&mut self.buf[off..], v)
    }
    pub fn u64(&mut self, off: usize, v: u64) {
        put_le_u64(&mut self.buf[off..], v)
    }
    pub fn bytes(&mut self, off: usize, v: &[u8]) {
        self.buf[off..off + v.len()].copy_from_slice(v)
    }
    pub fn zero(&mut self, range: core::ops::Range<usize>) {
        self.buf[range].fill(0)
    }
    /// Writes `s` as UTF-16LE at `off`; returns the byte count. The caller checked the room
    /// with [`utf16_len`].
    pub fn utf16(&mut self, off: usize, s: &str) -> usize {
        let mut p = off;
        for u in s.encode_utf16() {
            put_le_u16(&mut self.buf[p..], u);
            p += 2;
        }
        p - off
    }
    pub fn slice_mut(&mut self, range: core::ops::Range<usize>) -> &mut [u8] {
        &mut self.buf[range]
    }
}

/// Bytes `s` takes in UTF-16LE.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

/// Rounds up to a multiple of 8.
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}
