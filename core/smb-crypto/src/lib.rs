//! SMB2/SMB3 cryptography for smbed: key derivation, message signing, preauth integrity
//! and the SMB2 TRANSFORM_HEADER encryption ([MS-SMB2] 3.1.4).
//!
//! Everything works in place on caller buffers: no allocation, and malformed peer bytes produce
//! errors (or `false`), never panics. `unsafe` is confined to the accelerated backends
//! (`backend/x86.rs`, `backend/neon.rs`: CPU intrinsics; `backend/armv7.rs`: NEON assembly),
//! see [`Backend`].
//!
//! - [`kdf()`]: SP800-108 counter-mode KDF with HMAC-SHA256 ([MS-SMB2] 3.1.4.2).
//! - [`derive_keys`]: per-session signing/encryption/application keys ([MS-SMB2] 3.3.5.5.3).
//! - [`Signer`]: HMAC-SHA256, AES-128-CMAC and AES-128-GMAC signing ([MS-SMB2] 3.1.4.1).
//! - [`PreauthHash`]: SHA-512 preauth integrity chain ([MS-SMB2] 3.3.5.4, 3.3.5.5).
//! - [`Sealer`], [`NonceCounter`]: AES-CCM/AES-GCM encryption with the transform header
//!   ([MS-SMB2] 2.2.41, 3.1.4.3).
//! - [`Backend`], [`set_default_backend`]: the AES/GHASH implementation (RustCrypto,
//!   AES-NI/PCLMULQDQ, NEON), chosen once at start-up from the CPU's features.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
mod kdf;
mod keys;
mod preauth;
mod seal;
mod signing;
mod transform;

pub use backend::{default_backend, set_default_backend, Arch, Backend};
pub use kdf::kdf;
pub use keys::{derive_keys, derive_keys_full, Cipher, SessionKeys};
pub use preauth::PreauthHash;
pub use seal::{NonceCounter, Sealer};
pub use signing::{Signer, SigningAlgo, SIGNATURE_RANGE, SMB2_HEADER_LEN};
pub use transform::{
    transform_session_id, TransformHeader, TRANSFORM_FLAG_ENCRYPTED, TRANSFORM_HEADER_LEN,
    TRANSFORM_PROTOCOL_ID,
};

use core::fmt;

/// Errors from the encryption layer. Deliberately coarse: an authentication failure does not
/// say which part of the message was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// The buffer is shorter than an SMB2 TRANSFORM_HEADER (52 bytes) or holds no payload.
    TooShort,
    /// The ProtocolId is not `0xFD 'S' 'M' 'B'`.
    BadProtocolId,
    /// The Flags/EncryptionAlgorithm field is not `0x0001`.
    BadFlags,
    /// OriginalMessageSize does not match the payload length, or the payload is too large
    /// for the cipher or the 32-bit size field.
    BadLength,
    /// The key length does not match the cipher (16 bytes for AES-128, 32 for AES-256).
    BadKeyLength,
    /// Tag verification failed: the message was forged, corrupted or uses another key.
    AuthFailed,
    /// The requested [`Backend`] is not implemented in this build or not supported by the CPU.
    BackendUnavailable,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "buffer too short for an SMB2 transform header and payload",
            Self::BadProtocolId => "not an SMB2 transform header (bad protocol id)",
            Self::BadFlags => "transform header flags are not 0x0001 (encrypted)",
            Self::BadLength => "transform header OriginalMessageSize does not match the payload",
            Self::BadKeyLength => "key length does not match the cipher",
            Self::AuthFailed => "message authentication failed",
            Self::BackendUnavailable => "crypto backend not available on this CPU or build",
        })
    }
}

impl core::error::Error for CryptoError {}

/// Constant-time equality of two byte strings.
///
/// The running time depends only on the lengths (which are not treated as secret: slices of
/// different length compare unequal immediately), never on the contents.
#[must_use]
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::ct_eq;

    #[test]
    fn ct_eq_basic() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(&[0x80], &[0x00]));
    }
}
