//! SMB3 message encryption and decryption with the transform header ([MS-SMB2] 3.1.4.3
//! "Encrypting the Message", 3.3.5.2.1 "Decrypting the Message"): AES-128/256-CCM and
//! AES-128/256-GCM with a 16-byte tag in the Signature field and bytes 20..52 as AAD.

#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
use crate::backend::{modes, Accel, Uses};
use crate::transform::{
    TransformHeader, AAD, SIGNATURE, TRANSFORM_FLAG_ENCRYPTED, TRANSFORM_HEADER_LEN,
};
use crate::{default_backend, Backend, Cipher, CryptoError};
use aes::{Aes128, Aes256};
use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::{U11, U16};
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, KeyInit};
use ccm::Ccm;
use core::fmt;
use core::ops::Range;

type Aes128Ccm = Ccm<Aes128, U16, U11>;
type Aes256Ccm = Ccm<Aes256, U16, U11>;

#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // No allocator; one Sealer per session direction.
enum Aead {
    Ccm128(Aes128Ccm),
    Gcm128(Aes128Gcm),
    Ccm256(Aes256Ccm),
    Gcm256(Aes256Gcm),
    #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
    Accel(Accel),
}

/// Encrypts (`seal`) or decrypts (`open`) SMB2 messages with one cipher key.
///
/// A session needs two: one with `SessionKeys::encrypt_s2c` for responses and one with
/// `SessionKeys::decrypt_c2s` for requests.
#[derive(Clone)]
pub struct Sealer {
    cipher: Cipher,
    backend: Backend,
    aead: Aead,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("cipher", &self.cipher)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Creates a sealer for `cipher` with `key` (16 bytes for AES-128, 32 for AES-256), using
    /// the [default backend](crate::default_backend).
    ///
    /// # Errors
    ///
    /// [`CryptoError::BadKeyLength`] if `key.len() != cipher.key_len()`.
    pub fn new(cipher: Cipher, key: &[u8]) -> Result<Self, CryptoError> {
        match Self::with_backend(cipher, key, default_backend()) {
            Err(CryptoError::BackendUnavailable) => {
                Self::with_backend(cipher, key, Backend::Portable)
            }
            r => r,
        }
    }

    /// Creates a sealer with an explicit [`Backend`].
    ///
    /// # Errors
    ///
    /// [`CryptoError::BadKeyLength`] if `key.len() != cipher.key_len()`,
    /// [`CryptoError::BackendUnavailable`] if `backend` is not
    /// [available](Backend::is_available).
    pub fn with_backend(cipher: Cipher, key: &[u8], backend: Backend) -> Result<Self, CryptoError> {
        if key.len() != cipher.key_len() {
            return Err(CryptoError::BadKeyLength);
        }
        if !backend.is_available() {
            return Err(CryptoError::BackendUnavailable);
        }
        let bad = |_| CryptoError::BadKeyLength;
        let aead = match backend {
            Backend::Portable | Backend::Armv8Crypto => match cipher {
                Cipher::Aes128Ccm => Aead::Ccm128(Aes128Ccm::new_from_slice(key).map_err(bad)?),
                Cipher::Aes128Gcm => Aead::Gcm128(Aes128Gcm::new_from_slice(key).map_err(bad)?),
                Cipher::Aes256Ccm => Aead::Ccm256(Aes256Ccm::new_from_slice(key).map_err(bad)?),
                Cipher::Aes256Gcm => Aead::Gcm256(Aes256Gcm::new_from_slice(key).map_err(bad)?),
            },
            #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
            _ => {
                let uses = Uses {
                    ctr: true,
                    ghash: cipher.is_gcm(),
                };
                Aead::Accel(Accel::new(backend, key, uses).ok_or(CryptoError::BackendUnavailable)?)
            }
            #[cfg(not(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64")))]
            _ => return Err(CryptoError::BackendUnavailable),
        };
        Ok(Self {
            cipher,
            backend,
            aead,
        })
    }

    /// The backend this sealer runs on.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The cipher this sealer uses.
    #[must_use]
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Encrypts in place. `buf[..52]` is space for the transform header, which is filled in;
    /// `buf[52..]` holds the plaintext SMB2 message(s) (a whole compound chain) and is
    /// encrypted in place. The tag is written to the Signature field.
    ///
    /// Only the first `cipher.nonce_len()` bytes of `nonce` are used (11 for CCM, 12 for GCM);
    /// the rest of the Nonce field is written as zero. The nonce must never repeat under one
    /// key — use [`NonceCounter`].
    ///
    /// # Errors
    ///
    /// [`CryptoError::TooShort`] if there is no payload, [`CryptoError::BadLength`] if the
    /// payload does not fit the 32-bit OriginalMessageSize. `buf` is unchanged on error.
    pub fn seal(
        &self,
        session_id: u64,
        nonce: &[u8; 16],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        if buf.len() <= TRANSFORM_HEADER_LEN {
            return Err(CryptoError::TooShort);
        }
        let size =
            u32::try_from(buf.len() - TRANSFORM_HEADER_LEN).map_err(|_| CryptoError::BadLength)?;
        let n = self.cipher.nonce_len();
        let mut nonce_field = [0u8; 16];
        nonce_field[..n].copy_from_slice(&nonce[..n]);
        let hdr = TransformHeader {
            signature: [0; 16],
            nonce: nonce_field,
            original_message_size: size,
            flags: TRANSFORM_FLAG_ENCRYPTED,
            session_id,
        };
        let mut head = [0u8; TRANSFORM_HEADER_LEN];
        hdr.write(&mut head)?;
        let payload = &mut buf[TRANSFORM_HEADER_LEN..];
        let aad = &head[AAD];
        let tag = match &self.aead {
            Aead::Ccm128(c) => encrypt(c, &nonce_field, aad, payload),
            Aead::Gcm128(c) => encrypt(c, &nonce_field, aad, payload),
            Aead::Ccm256(c) => encrypt(c, &nonce_field, aad, payload),
            Aead::Gcm256(c) => encrypt(c, &nonce_field, aad, payload),
            #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
            Aead::Accel(k) => accel_seal(k, self.cipher, &nonce_field, aad, payload),
        };
        // The AEADs check lengths before touching the payload, so on error nothing changed.
        let tag = tag.ok_or(CryptoError::BadLength)?;
        head[SIGNATURE].copy_from_slice(&tag);
        buf[..TRANSFORM_HEADER_LEN].copy_from_slice(&head);
        Ok(())
    }

    /// Decrypts in place and verifies the tag. `buf` is a whole transform message: the
    /// 52-byte transform header followed by the ciphertext.
    ///
    /// Checks the ProtocolId, Flags == 0x0001 and OriginalMessageSize == `buf.len() - 52`.
    /// On success returns the SessionId and the range of the plaintext in `buf` (`52..len`).
    /// The SessionId is authenticated (it is part of the AAD): the engine finds the session
    /// with [`transform_session_id`](crate::transform_session_id) first, and a rewritten
    /// SessionId selects a wrong key and fails the tag check.
    ///
    /// # Errors
    ///
    /// Header errors ([`CryptoError::TooShort`], [`CryptoError::BadProtocolId`],
    /// [`CryptoError::BadFlags`], [`CryptoError::BadLength`]) leave `buf` untouched.
    /// [`CryptoError::AuthFailed`] means the tag did not verify; the payload then holds
    /// ciphertext or zeros, never unauthenticated plaintext.
    pub fn open(&self, buf: &mut [u8]) -> Result<(u64, Range<usize>), CryptoError> {
        let hdr = TransformHeader::parse(buf)?;
        if hdr.flags != TRANSFORM_FLAG_ENCRYPTED {
            return Err(CryptoError::BadFlags);
        }
        let payload_len = buf.len() - TRANSFORM_HEADER_LEN;
        if payload_len == 0 {
            return Err(CryptoError::TooShort);
        }
        if usize::try_from(hdr.original_message_size).ok() != Some(payload_len) {
            return Err(CryptoError::BadLength);
        }
        let (head, payload) = buf.split_at_mut(TRANSFORM_HEADER_LEN);
        let aad = &head[AAD];
        let ok = match &self.aead {
            Aead::Ccm128(c) => decrypt(c, &hdr.nonce, aad, payload, &hdr.signature),
            Aead::Gcm128(c) => decrypt(c, &hdr.nonce, aad, payload, &hdr.signature),
            Aead::Ccm256(c) => decrypt(c, &hdr.nonce, aad, payload, &hdr.signature),
            Aead::Gcm256(c) => decrypt(c, &hdr.nonce, aad, payload, &hdr.signature),
            #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
            Aead::Accel(k) => accel_open(k, self.cipher, &hdr.nonce, aad, payload, &hdr.signature),
        };
        if ok {
            Ok((hdr.session_id, TRANSFORM_HEADER_LEN..buf.len()))
        } else {
            // CCM decrypts before it can check the tag (the crate zeroes the output on
            // failure); wipe regardless so no unauthenticated plaintext can remain.
            payload.fill(0);
            Err(CryptoError::AuthFailed)
        }
    }
}

#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
fn accel_seal(
    k: &Accel,
    cipher: Cipher,
    nonce: &[u8; 16],
    aad: &[u8],
    payload: &mut [u8],
) -> Option<[u8; 16]> {
    if cipher.is_gcm() {
        modes::gcm_seal(k, nonce.first_chunk()?, aad, payload)
    } else {
        modes::ccm_seal(k, nonce.first_chunk()?, aad, payload)
    }
}

#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
fn accel_open(
    k: &Accel,
    cipher: Cipher,
    nonce: &[u8; 16],
    aad: &[u8],
    payload: &mut [u8],
    tag: &[u8; 16],
) -> bool {
    match (cipher.is_gcm(), nonce.first_chunk(), nonce.first_chunk()) {
        (true, Some(n), _) => modes::gcm_open(k, n, aad, payload, tag),
        (false, _, Some(n)) => modes::ccm_open(k, n, aad, payload, tag),
        _ => false,
    }
}

/// Encrypts `payload` in place; the nonce is the first `A::NonceSize` bytes of `nonce`.
fn encrypt<A: AeadInOut<TagSize = U16>>(
    aead: &A,
    nonce: &[u8; 16],
    aad: &[u8],
    payload: &mut [u8],
) -> Option<[u8; 16]> {
    let nonce = Array::try_from(nonce.get(..nonce_size::<A>())?).ok()?;
    let tag = aead
        .encrypt_inout_detached(&nonce, aad, payload.into())
        .ok()?;
    Some(tag.into())
}

/// Decrypts `payload` in place and verifies `tag`; `false` on any failure.
fn decrypt<A: AeadInOut<TagSize = U16>>(
    aead: &A,
    nonce: &[u8; 16],
    aad: &[u8],
    payload: &mut [u8],
    tag: &[u8; 16],
) -> bool {
    let Some(nonce) = nonce.get(..nonce_size::<A>()) else {
        return false;
    };
    let Ok(nonce) = Array::try_from(nonce) else {
        return false;
    };
    aead.decrypt_inout_detached(&nonce, aad, payload.into(), &(*tag).into())
        .is_ok()
}

fn nonce_size<A: AeadInOut>() -> usize {
    use aes_gcm::aead::array::typenum::Unsigned;
    A::NonceSize::USIZE
}

/// Generates unique transform nonces for one encryption key.
///
/// Layout of the significant bytes: a fixed 4-byte prefix (random, chosen at construction)
/// followed by a little-endian message counter — 7 counter bytes for CCM (2^56 messages),
/// 8 for GCM (2^64 - 1 messages). Remaining bytes of the 16-byte field are zero. The counter
/// never wraps: once its space is exhausted `next` returns `None` and the session must be
/// re-keyed (in practice: torn down).
#[derive(Clone, Debug)]
pub struct NonceCounter {
    prefix: [u8; 4],
    counter: u64,
}

impl NonceCounter {
    /// A counter starting at 0 with the given random prefix (use a fresh random value per
    /// key; the counter alone already guarantees uniqueness under one key).
    #[must_use]
    pub const fn new(prefix: [u8; 4]) -> Self {
        Self { prefix, counter: 0 }
    }

    /// The next nonce for `cipher`, or `None` if the counter space for its nonce length is
    /// exhausted.
    pub fn next(&mut self, cipher: Cipher) -> Option<[u8; 16]> {
        let n = cipher.nonce_len();
        let counter_len = n - self.prefix.len();
        // Counter values must fit in `counter_len` bytes; u64::MAX is reserved as "exhausted".
        let limit = if counter_len >= 8 {
            u64::MAX
        } else {
            1u64 << (8 * counter_len)
        };
        if self.counter >= limit {
            return None;
        }
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&self.prefix);
        out[4..n].copy_from_slice(&self.counter.to_le_bytes()[..counter_len]);
        self.counter += 1;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_counter_layout_and_exhaustion() {
        let mut nc = NonceCounter::new([0xA1, 0xA2, 0xA3, 0xA4]);
        let a = nc.next(Cipher::Aes128Gcm).unwrap();
        let b = nc.next(Cipher::Aes128Ccm).unwrap();
        assert_eq!(
            a,
            [0xA1, 0xA2, 0xA3, 0xA4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            b,
            [0xA1, 0xA2, 0xA3, 0xA4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );

        // CCM: 7 counter bytes.
        nc.counter = (1 << 56) - 1;
        let last = nc.next(Cipher::Aes256Ccm).unwrap();
        assert_eq!(&last[4..11], &[0xFF; 7]);
        assert_eq!(&last[11..], &[0; 5]);
        assert_eq!(nc.next(Cipher::Aes128Ccm), None);
        // GCM still has room after the CCM space is exhausted.
        let g = nc.next(Cipher::Aes128Gcm).unwrap();
        assert_eq!(&g[4..12], &(1u64 << 56).to_le_bytes());

        // GCM: 8 counter bytes, u64::MAX is never handed out.
        nc.counter = u64::MAX - 1;
        let last = nc.next(Cipher::Aes256Gcm).unwrap();
        assert_eq!(&last[4..12], &(u64::MAX - 1).to_le_bytes());
        assert_eq!(nc.next(Cipher::Aes256Gcm), None);
        assert_eq!(nc.next(Cipher::Aes256Gcm), None);
    }
}
