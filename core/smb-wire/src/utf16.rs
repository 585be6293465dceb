//! UTF-16LE names as they appear on the wire, decoded and compared without allocating.

/// A borrowed UTF-16LE string (even length is the parser's job).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf16Le<'a>(pub &'a [u8]);

/// Why a name could not be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Unpaired surrogate or odd length.
    Invalid,
    /// The output buffer is too small.
    TooLong,
}

impl<'a> Utf16Le<'a> {
    /// The code units.
    pub fn units(&self) -> impl Iterator<Item = u16> + 'a {
        self.0
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.len() < 2
    }

    /// Decodes into `out` as UTF-8; returns the string slice of `out` used.
    pub fn to_utf8<'b>(&self, out: &'b mut [u8]) -> Result<&'b str, NameError> {
        if !self.0.len().is_multiple_of(2) {
            return Err(NameError::Invalid);
        }
        let mut n = 0;
        for c in char::decode_utf16(self.units()) {
            let c = c.map_err(|_| NameError::Invalid)?;
            let l = c.len_utf8();
            if n + l > out.len() {
                return Err(NameError::TooLong);
            }
            c.encode_utf8(&mut out[n..n + l]);
            n += l;
        }
        core::str::from_utf8(&out[..n]).map_err(|_| NameError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_rejects() {
        let mut out = [0u8; 16];
        let s = Utf16Le(&[b'a', 0, 0xe9, 0, 0x3d, 0xd8, 0x00, 0xde]);
        assert_eq!(s.to_utf8(&mut out).unwrap(), "a\u{e9}\u{1f600}");
        assert_eq!(
            Utf16Le(&[0x3d, 0xd8]).to_utf8(&mut out),
            Err(NameError::Invalid)
        );
        assert_eq!(Utf16Le(&[1]).to_utf8(&mut out), Err(NameError::Invalid));
        assert_eq!(
            Utf16Le(&[b'a', 0, b'b', 0]).to_utf8(&mut out[..1]),
            Err(NameError::TooLong)
        );
    }
}
