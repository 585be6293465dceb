//! Direct TCP transport framing ([MS-SMB2] 2.1): each message is preceded by a 4-byte header,
//! a zero byte and a 24-bit big-endian length.

/// Bytes of the Direct TCP header.
pub const HEADER_LEN: usize = 4;

/// Outcome of looking at the start of a receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Need more bytes before the frame length is known.
    Partial,
    /// The frame's payload is this many bytes long (the 4-byte header excluded).
    Complete(usize),
    /// The first byte is not zero: not an SMB2 Direct TCP stream (e.g. NetBIOS session
    /// request on port 139), or garbage.
    Invalid,
}

/// Reads the Direct TCP header at the start of `buf` (push-style, like httparse).
pub fn frame_len(buf: &[u8]) -> Status {
    if buf.len() < HEADER_LEN {
        return Status::Partial;
    }
    if buf[0] != 0 {
        return Status::Invalid;
    }
    Status::Complete((usize::from(buf[1]) << 16) | (usize::from(buf[2]) << 8) | usize::from(buf[3]))
}

/// Writes the Direct TCP header for a payload of `len` bytes (`len` < 2^24).
pub fn emit_header(buf: &mut [u8], len: usize) {
    debug_assert!(len < 1 << 24);
    buf[0] = 0;
    buf[1] = (len >> 16) as u8;
    buf[2] = (len >> 8) as u8;
    buf[3] = len as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_until_four_bytes() {
        assert_eq!(frame_len(&[0, 0, 1]), Status::Partial);
        assert_eq!(
            frame_len(&[0, 0x01, 0x02, 0x03]),
            Status::Complete(0x01_0203)
        );
        assert_eq!(frame_len(&[0x81, 0, 0, 0]), Status::Invalid);
    }

    #[test]
    fn emit_roundtrip() {
        let mut b = [0xa5; 4];
        emit_header(&mut b, 0xab_cdef);
        assert_eq!(frame_len(&b), Status::Complete(0xab_cdef));
    }
}
