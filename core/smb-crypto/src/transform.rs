//! SMB2 TRANSFORM_HEADER ([MS-SMB2] 2.2.41).
//!
//! ```text
//!  0..4   ProtocolId            0xFD 'S' 'M' 'B'
//!  4..20  Signature             AEAD tag
//! 20..36  Nonce                 CCM: 11 bytes, GCM: 12 bytes, rest zero
//! 36..40  OriginalMessageSize   LE32, length of the encrypted SMB2 message(s)
//! 40..42  Reserved
//! 42..44  Flags                 3.1.1: 0x0001 = Encrypted; 3.0: EncryptionAlgorithm 0x0001
//! 44..52  SessionId             LE64
//! ```
//! The AEAD associated data is bytes 20..52 (Nonce through SessionId).

use crate::CryptoError;
use core::ops::Range;

/// Length of the SMB2 TRANSFORM_HEADER.
pub const TRANSFORM_HEADER_LEN: usize = 52;
/// ProtocolId of a transform header.
pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
/// Flags value meaning "encrypted" (3.1.1), or EncryptionAlgorithm AES-128-CCM (3.0).
pub const TRANSFORM_FLAG_ENCRYPTED: u16 = 0x0001;

pub(crate) const SIGNATURE: Range<usize> = 4..20;
pub(crate) const NONCE: Range<usize> = 20..36;
pub(crate) const AAD: Range<usize> = 20..52;

/// A parsed SMB2 TRANSFORM_HEADER.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransformHeader {
    /// The AEAD tag.
    pub signature: [u8; 16],
    /// The full 16-byte Nonce field.
    pub nonce: [u8; 16],
    /// OriginalMessageSize.
    pub original_message_size: u32,
    /// Flags (3.1.1) / EncryptionAlgorithm (3.0).
    pub flags: u16,
    /// SessionId.
    pub session_id: u64,
}

impl TransformHeader {
    /// Parses the first 52 bytes of `buf`, checking only the length and the ProtocolId.
    ///
    /// # Errors
    ///
    /// [`CryptoError::TooShort`] or [`CryptoError::BadProtocolId`].
    pub fn parse(buf: &[u8]) -> Result<Self, CryptoError> {
        let Some(h) = buf.first_chunk::<TRANSFORM_HEADER_LEN>() else {
            return Err(CryptoError::TooShort);
        };
        if h[..4] != TRANSFORM_PROTOCOL_ID {
            return Err(CryptoError::BadProtocolId);
        }
        let mut signature = [0u8; 16];
        signature.copy_from_slice(&h[SIGNATURE]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&h[NONCE]);
        Ok(Self {
            signature,
            nonce,
            original_message_size: u32::from_le_bytes([h[36], h[37], h[38], h[39]]),
            flags: u16::from_le_bytes([h[42], h[43]]),
            session_id: le64(&h[44..52]),
        })
    }

    /// Writes the header into `out[..52]` (Reserved = 0).
    ///
    /// # Errors
    ///
    /// [`CryptoError::TooShort`] if `out` is shorter than 52 bytes.
    pub fn write(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        let Some(h) = out.first_chunk_mut::<TRANSFORM_HEADER_LEN>() else {
            return Err(CryptoError::TooShort);
        };
        h[..4].copy_from_slice(&TRANSFORM_PROTOCOL_ID);
        h[SIGNATURE].copy_from_slice(&self.signature);
        h[NONCE].copy_from_slice(&self.nonce);
        h[36..40].copy_from_slice(&self.original_message_size.to_le_bytes());
        h[40..42].fill(0);
        h[42..44].copy_from_slice(&self.flags.to_le_bytes());
        h[44..52].copy_from_slice(&self.session_id.to_le_bytes());
        Ok(())
    }
}

/// The SessionId of a transform header, so the engine can find the session (and its key)
/// before calling [`Sealer::open`](crate::Sealer::open). `None` if `buf` is shorter than 52
/// bytes or is not a transform header. The value is unauthenticated until `open` succeeds.
#[must_use]
pub fn transform_session_id(buf: &[u8]) -> Option<u64> {
    TransformHeader::parse(buf).ok().map(|h| h.session_id)
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}
