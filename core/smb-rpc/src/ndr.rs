//! NDR 2.0 transfer syntax (\[C706\] chapter 14), the subset the srvsvc and wkssvc stubs use:
//! aligned primitives, unique and ref pointers, conformant varying UTF-16 strings and
//! conformant arrays.
//!
//! Alignment is relative to the start of the stub, which is how NDR defines it; a [`Reader`]
//! or [`Writer`] therefore always wraps a whole stub (or, for a writer, a window that starts
//! where the stub starts).
//!
//! Received stubs follow the integer representation the client chose in `drep` (little or big
//! endian); we always answer little-endian.

use core::fmt;

/// Why a stub could not be decoded. The pipe answers both with a fault PDU carrying
/// `rpc_x_bad_stub_data` ([`crate::pdu::FaultStatus::BAD_STUB_DATA`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdrError {
    /// The stub ended before a field, or a count points past its end.
    Truncated,
    /// A value breaks an NDR or IDL rule (the text says which).
    Invalid(&'static str),
}

impl fmt::Display for NdrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("NDR stub truncated"),
            Self::Invalid(what) => write!(f, "invalid NDR: {what}"),
        }
    }
}

/// A cursor over a received stub.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    le: bool,
}

impl<'a> Reader<'a> {
    /// Reads `buf` (a whole stub) with little-endian (`le`) or big-endian integers.
    pub const fn new(buf: &'a [u8], le: bool) -> Self {
        Self { buf, pos: 0, le }
    }

    /// Offset from the start of the stub.
    pub const fn pos(&self) -> usize {
        self.pos
    }

    /// Whether integers are little-endian.
    pub const fn little_endian(&self) -> bool {
        self.le
    }

    /// Bytes left after the cursor.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Skips padding up to the next multiple of `n` (a power of two). Pad bytes are not
    /// checked: clients fill them with anything (impacket uses `0xab`).
    pub fn align(&mut self, n: usize) -> Result<(), NdrError> {
        let pad = self.pos.wrapping_neg() & (n - 1);
        self.take(pad).map(|_| ())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], NdrError> {
        let end = self.pos.checked_add(n).ok_or(NdrError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(NdrError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// An unaligned octet.
    pub fn u8(&mut self) -> Result<u8, NdrError> {
        Ok(self.take(1)?[0])
    }

    /// A 2-aligned `unsigned short`.
    pub fn u16(&mut self) -> Result<u16, NdrError> {
        self.align(2)?;
        let b = self.take(2)?;
        Ok(u16_from(self.le, [b[0], b[1]]))
    }

    /// A 4-aligned `unsigned long` (`DWORD`).
    pub fn u32(&mut self) -> Result<u32, NdrError> {
        self.align(4)?;
        let b = self.take(4)?;
        Ok(u32_from(self.le, [b[0], b[1], b[2], b[3]]))
    }

    /// `n` raw octets (no alignment).
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], NdrError> {
        self.take(n)
    }

    /// The referent id of a unique (or full) pointer: `true` when it is not NULL.
    pub fn ptr(&mut self) -> Result<bool, NdrError> {
        Ok(self.u32()? != 0)
    }

    /// A conformant varying string of `wchar_t` (`[string] wchar_t*` pointee): maximum count,
    /// offset (must be 0), actual count, then the UTF-16 code units, usually NUL-terminated.
    pub fn wstr(&mut self) -> Result<Utf16<'a>, NdrError> {
        let max = self.u32()?;
        let offset = self.u32()?;
        let actual = self.u32()?;
        if offset != 0 {
            return Err(NdrError::Invalid("string offset is not zero"));
        }
        if actual > max {
            return Err(NdrError::Invalid("string actual count exceeds its maximum"));
        }
        let n = usize::try_from(actual).map_err(|_| NdrError::Truncated)?;
        let bytes = self.take(n.checked_mul(2).ok_or(NdrError::Truncated)?)?;
        Ok(Utf16 { bytes, le: self.le })
    }

    /// A `[unique, string] wchar_t*` handled in place (a top-level parameter): `None` for NULL.
    pub fn unique_wstr(&mut self) -> Result<Option<Utf16<'a>>, NdrError> {
        if self.ptr()? {
            self.wstr().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// A 16-bit integer in the sender's byte order (`drep`).
#[expect(
    clippy::big_endian_bytes,
    reason = "NDR integers follow the sender's drep"
)]
pub(crate) fn u16_from(le: bool, b: [u8; 2]) -> u16 {
    if le {
        u16::from_le_bytes(b)
    } else {
        u16::from_be_bytes(b)
    }
}

/// A 32-bit integer in the sender's byte order (`drep`).
#[expect(
    clippy::big_endian_bytes,
    reason = "NDR integers follow the sender's drep"
)]
pub(crate) fn u32_from(le: bool, b: [u8; 4]) -> u32 {
    if le {
        u32::from_le_bytes(b)
    } else {
        u32::from_be_bytes(b)
    }
}

/// A received UTF-16 string in the sender's byte order, compared without allocating.
#[derive(Clone, Copy)]
pub struct Utf16<'a> {
    bytes: &'a [u8],
    le: bool,
}

impl<'a> Utf16<'a> {
    /// Wraps UTF-16 code units stored in `bytes` (an odd final byte is ignored).
    pub const fn new(bytes: &'a [u8], le: bool) -> Self {
        Self { bytes, le }
    }

    /// The code units, including any terminating NUL.
    pub fn units(&self) -> impl Iterator<Item = u16> + 'a {
        let le = self.le;
        self.bytes
            .chunks_exact(2)
            .map(move |c| u16_from(le, [c[0], c[1]]))
    }

    /// The string without its terminator: everything before the first NUL.
    pub fn trimmed(&self) -> impl Iterator<Item = u16> + 'a {
        self.units().take_while(|&u| u != 0)
    }

    /// Whether the string (up to its first NUL) equals `s`, ignoring case the way Windows
    /// compares share names. Ill-formed UTF-16 never matches.
    pub fn eq_ignore_case(&self, s: &str) -> bool {
        let mut ours = char::decode_utf16(self.trimmed());
        let mut theirs = s.chars();
        loop {
            match (ours.next(), theirs.next()) {
                (None, None) => return true,
                (Some(Ok(a)), Some(b)) => {
                    if a != b && !a.to_lowercase().eq(b.to_lowercase()) {
                        return false;
                    }
                }
                _ => return false,
            }
        }
    }
}

impl fmt::Debug for Utf16<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in char::decode_utf16(self.trimmed()) {
            match c {
                Ok(c) => write!(f, "{}", c.escape_debug())?,
                Err(e) => write!(f, "\\u{{{:x}}}", e.unpaired_surrogate())?,
            }
        }
        f.write_str("\"")
    }
}

/// First referent id we hand out, as Windows does; each pointer takes the next multiple of 4.
const FIRST_REFERENT: u32 = 0x0002_0000;

/// Writes a little-endian NDR stub, or the part of it that falls in a window.
///
/// Writing never fails: bytes outside the window are only counted. A writer over an empty
/// window is a size calculator ([`Writer::counting`]), which is how a reply is measured before
/// it is sent; a window further into the stub ([`Writer::window`]) renders one batch of
/// response fragments, so a reply never has to be held whole.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    /// Stub offset of `buf[0]`.
    skip: usize,
    pos: usize,
    overflow: bool,
    next_ref: u32,
}

impl<'a> Writer<'a> {
    /// Writes the stub from its first byte into `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self::window(buf, 0)
    }

    /// Writes stub bytes `skip..skip + buf.len()` into `buf`, counting the rest.
    pub fn window(buf: &'a mut [u8], skip: usize) -> Self {
        Self {
            buf,
            skip,
            pos: 0,
            overflow: false,
            next_ref: FIRST_REFERENT,
        }
    }

    /// Counts without writing anything.
    pub fn counting() -> Writer<'static> {
        Writer::new(&mut [])
    }

    /// Bytes written (or counted) so far: the stub offset of the next byte.
    pub const fn len(&self) -> usize {
        self.pos
    }

    /// Whether nothing has been written.
    pub const fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Whether some bytes fell past the end of the window.
    pub const fn overflowed(&self) -> bool {
        self.overflow
    }

    fn put(&mut self, bytes: &[u8]) {
        let start = self.pos;
        let end = start.saturating_add(bytes.len());
        let win_end = self.skip.saturating_add(self.buf.len());
        let lo = start.max(self.skip);
        let hi = end.min(win_end);
        if lo < hi {
            self.buf[lo - self.skip..hi - self.skip]
                .copy_from_slice(&bytes[lo - start..hi - start]);
        }
        if end > win_end {
            self.overflow = true;
        }
        self.pos = end;
    }

    /// Pads with zeros to the next multiple of `n` (a power of two).
    pub fn align(&mut self, n: usize) {
        let pad = self.pos.wrapping_neg() & (n - 1);
        self.put(&[0u8; 8][..pad]);
    }

    /// A 2-aligned `unsigned short`.
    pub fn u16(&mut self, v: u16) {
        self.align(2);
        self.put(&v.to_le_bytes());
    }

    /// A 4-aligned `unsigned long`.
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.put(&v.to_le_bytes());
    }

    /// A unique pointer's referent id: a fresh non-zero id when `present`, else NULL. The
    /// pointee follows wherever NDR defers it; the caller writes it there.
    pub fn ptr(&mut self, present: bool) {
        if present {
            let id = self.next_ref;
            self.next_ref = self.next_ref.wrapping_add(4);
            self.u32(id);
        } else {
            self.u32(0);
        }
    }

    /// A conformant varying `wchar_t` string with its NUL terminator (the pointee of a
    /// `[string] wchar_t*`): maximum count, offset 0, actual count, code units.
    pub fn wstr(&mut self, s: &str) {
        let n = s.encode_utf16().count().saturating_add(1);
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.u32(n);
        self.u32(0);
        self.u32(n);
        for u in s.encode_utf16() {
            self.put(&u.to_le_bytes());
        }
        self.put(&[0, 0]);
    }
}

/// The NDR size of `wstr(s)` when it starts 4-aligned, not counting the padding after it.
pub fn wstr_len(s: &str) -> usize {
    12 + 2 * (s.encode_utf16().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn reader_aligns_relative_to_stub_start() {
        let b = [
            1u8, 0xab, 0xab, 0xab, 2, 0, 0, 0, 3, 0, 0xab, 0xab, 4, 0, 0, 0,
        ];
        let mut r = Reader::new(&b, true);
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.u32(), Ok(2));
        assert_eq!(r.u16(), Ok(3));
        assert_eq!(r.u32(), Ok(4));
        assert_eq!(r.remaining(), 0);
        assert_eq!(r.u8(), Err(NdrError::Truncated));
    }

    #[test]
    fn reader_big_endian() {
        let b = [0, 0, 1, 2, 3, 4];
        let mut r = Reader::new(&b, false);
        assert_eq!(r.u32(), Ok(0x102));
        assert_eq!(r.u16(), Ok(0x304));
    }

    #[test]
    fn wstr_round_trip() {
        let mut buf = [0xa5u8; 64];
        let mut w = Writer::new(&mut buf);
        w.wstr("sh\u{e9}");
        w.u32(7);
        let n = w.len();
        assert!(!w.overflowed());
        assert_eq!(n, wstr_len("sh\u{e9}") + 4);
        assert_eq!(
            &buf[..n],
            &[4, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, b's', 0, b'h', 0, 0xe9, 0, 0, 0, 7, 0, 0, 0]
        );
        let mut r = Reader::new(&buf[..n], true);
        let s = r.wstr().unwrap();
        assert!(s.eq_ignore_case("SH\u{c9}"));
        assert!(!s.eq_ignore_case("sh"));
        assert!(!s.eq_ignore_case("sh\u{e9}x"));
        assert_eq!(r.u32(), Ok(7));
    }

    #[test]
    fn wstr_rejects_bad_counts() {
        // actual > max
        let b = [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'a', 0, 0, 0];
        assert!(matches!(
            Reader::new(&b, true).wstr(),
            Err(NdrError::Invalid(_))
        ));
        // offset != 0
        let b = [2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, b'a', 0];
        assert!(matches!(
            Reader::new(&b, true).wstr(),
            Err(NdrError::Invalid(_))
        ));
        // actual past the end
        let b = [
            0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, b'a', 0,
        ];
        assert_eq!(
            Reader::new(&b, true).wstr().unwrap_err(),
            NdrError::Truncated
        );
    }

    #[test]
    fn utf16_surrogates_and_embedded_nul() {
        let s = "a\u{1f600}";
        let mut v: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        v.extend_from_slice(&[0, 0, b'x', 0]);
        let u = Utf16::new(&v, true);
        assert!(u.eq_ignore_case("A\u{1f600}"));
        // A lone surrogate never matches.
        let lone = [0x00u8, 0xd8];
        assert!(!Utf16::new(&lone, true).eq_ignore_case("\u{fffd}"));
        assert_eq!(
            std::format!("{:?}", Utf16::new(&lone, true)),
            "\"\\u{d800}\""
        );
    }

    #[test]
    fn writer_counts_past_the_end() {
        let mut small = [0u8; 6];
        let mut w = Writer::new(&mut small);
        w.u16(1);
        w.u32(2);
        w.ptr(true);
        w.ptr(true);
        assert!(w.overflowed());
        assert_eq!(w.len(), 16);
        assert_eq!(small, [1, 0, 0, 0, 2, 0]); // a straddling value is cut at the window
        let mut c = Writer::counting();
        c.u16(1);
        c.u32(2);
        c.ptr(true);
        c.ptr(true);
        assert_eq!(c.len(), 16);
    }

    #[test]
    fn windows_reassemble_the_stub() {
        let encode = |w: &mut Writer<'_>| {
            w.u16(7);
            w.wstr("window");
            w.ptr(true);
            w.u32(0xdead_beef);
        };
        let mut whole = [0u8; 64];
        let mut w = Writer::new(&mut whole);
        encode(&mut w);
        let n = w.len();
        for size in 1..n {
            let mut got = Vec::new();
            let mut at = 0;
            while at < n {
                let mut part = std::vec![0xa5u8; size.min(n - at)];
                let mut w = Writer::window(&mut part, at);
                encode(&mut w);
                assert_eq!(w.len(), n);
                got.extend_from_slice(&part);
                at += size;
            }
            assert_eq!(&got[..], &whole[..n], "window size {size}");
        }
    }

    #[test]
    fn referent_ids_are_distinct_and_nonzero() {
        let mut buf = [0u8; 12];
        let mut w = Writer::new(&mut buf);
        w.ptr(true);
        w.ptr(false);
        w.ptr(true);
        assert_eq!(buf, [0, 0, 2, 0, 0, 0, 0, 0, 4, 0, 2, 0]);
    }
}
