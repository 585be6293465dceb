//! SMB2/SMB3 message signing ([MS-SMB2] 3.1.4.1 "Signing An Outgoing Message", 3.1.5.1
//! "Verifying an Incoming Message"): HMAC-SHA256 (2.x), AES-128-CMAC (3.0, 3.0.2, 3.1.1) and
//! AES-128-GMAC (3.1.1 with `SMB2_SIGNING_CAPABILITIES`, [MS-SMB2] 2.2.3.1.7).

#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
use crate::backend::{modes, Accel, Uses};
use crate::{default_backend, Backend, CryptoError};
use aes::Aes128;
use aes_gcm::{AeadInOut, Aes128Gcm};
use cmac::Cmac;
use core::fmt;
use core::ops::Range;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Length of the SMB2 sync/async header.
pub const SMB2_HEADER_LEN: usize = 64;
/// Byte range of the Signature field in the SMB2 header.
pub const SIGNATURE_RANGE: Range<usize> = 48..64;

const FLAGS_SERVER_TO_REDIR: u8 = 0x01;
const CMD_CANCEL: u16 = 0x000C;

/// Signing algorithm, with its [MS-SMB2] 2.2.3.1.7 `SMB2_SIGNING_CAPABILITIES` id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgo {
    /// HMAC-SHA256 truncated to 16 bytes (id 0; the SMB 2.0.2/2.1 algorithm).
    HmacSha256,
    /// AES-128-CMAC (id 1; SMB 3.0, 3.0.2 and the 3.1.1 default).
    AesCmac,
    /// AES-128-GMAC (id 2; SMB 3.1.1).
    AesGmac,
}

impl SigningAlgo {
    /// Maps a `SMB2_SIGNING_CAPABILITIES` algorithm id to a [`SigningAlgo`].
    #[must_use]
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            0 => Some(Self::HmacSha256),
            1 => Some(Self::AesCmac),
            2 => Some(Self::AesGmac),
            _ => None,
        }
    }

    /// The `SMB2_SIGNING_CAPABILITIES` algorithm id.
    #[must_use]
    pub const fn id(self) -> u16 {
        match self {
            Self::HmacSha256 => 0,
            Self::AesCmac => 1,
            Self::AesGmac => 2,
        }
    }
}

#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // No allocator; one Signer per session.
enum Mac16 {
    Hmac(Hmac<Sha256>),
    Cmac(Cmac<Aes128>),
    Gmac(Aes128Gcm),
    /// CMAC on an accelerated backend, with the subkeys K1, K2.
    #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
    AccelCmac(Accel, [u8; 16], [u8; 16]),
    #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
    AccelGmac(Accel),
}

/// Signs and verifies SMB2 messages with one key.
///
/// The key schedule is computed once in [`Signer::new`]; `sign`/`verify` do not allocate.
#[derive(Clone)]
pub struct Signer {
    algo: SigningAlgo,
    backend: Backend,
    mac: Mac16,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("algo", &self.algo)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Creates a signer on the [default backend](crate::default_backend). For
    /// [`SigningAlgo::HmacSha256`] `key` is the session key, otherwise the derived
    /// `SessionKeys::signing` key.
    #[must_use]
    pub fn new(algo: SigningAlgo, key: &[u8; 16]) -> Self {
        Self::with_backend(algo, key, default_backend())
            .unwrap_or_else(|_| Self::portable(algo, key))
    }

    /// Creates a signer with an explicit [`Backend`]. HMAC-SHA256 always uses the portable
    /// code (the backends accelerate AES and GHASH only).
    ///
    /// # Errors
    ///
    /// [`CryptoError::BackendUnavailable`] if `backend` is not
    /// [available](Backend::is_available).
    pub fn with_backend(
        algo: SigningAlgo,
        key: &[u8; 16],
        backend: Backend,
    ) -> Result<Self, CryptoError> {
        if !backend.is_available() {
            return Err(CryptoError::BackendUnavailable);
        }
        match (backend, algo) {
            (Backend::Portable | Backend::Armv8Crypto, _) | (_, SigningAlgo::HmacSha256) => {
                let mut s = Self::portable(algo, key);
                s.backend = backend;
                Ok(s)
            }
            #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
            (_, SigningAlgo::AesCmac | SigningAlgo::AesGmac) => {
                let gmac = algo == SigningAlgo::AesGmac;
                let uses = Uses {
                    ctr: false,
                    ghash: gmac,
                };
                let k = Accel::new(backend, key, uses).ok_or(CryptoError::BackendUnavailable)?;
                let mac = if gmac {
                    Mac16::AccelGmac(k)
                } else {
                    let (k1, k2) = modes::cmac_subkeys(&k);
                    Mac16::AccelCmac(k, k1, k2)
                };
                Ok(Self { algo, backend, mac })
            }
            #[cfg(not(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64")))]
            _ => Err(CryptoError::BackendUnavailable),
        }
    }

    fn portable(algo: SigningAlgo, key: &[u8; 16]) -> Self {
        let mac = match algo {
            SigningAlgo::HmacSha256 => {
                // HMAC zero-pads short keys to the block size, so this is HMAC(key).
                let mut block = [0u8; 64];
                block[..16].copy_from_slice(key);
                Mac16::Hmac(Hmac::<Sha256>::new(&block.into()))
            }
            SigningAlgo::AesCmac => Mac16::Cmac(Cmac::<Aes128>::new(key.into())),
            SigningAlgo::AesGmac => Mac16::Gmac(Aes128Gcm::new(key.into())),
        };
        Self {
            algo,
            backend: Backend::Portable,
            mac,
        }
    }

    /// The backend this signer was created for (HMAC-SHA256 runs the portable code on all).
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The algorithm this signer uses.
    #[must_use]
    pub fn algo(&self) -> SigningAlgo {
        self.algo
    }

    /// Signs one SMB2 message (64-byte header + body; for a compound request/response only
    /// that element's bytes, up to but excluding the next element): computes the signature with
    /// the Signature field (bytes 48..64) taken as zero and writes it there.
    ///
    /// The caller sets `SMB2_FLAGS_SIGNED` beforehand. Buffers shorter than 64 bytes are left
    /// untouched.
    pub fn sign(&self, msg: &mut [u8]) {
        if msg.len() < SMB2_HEADER_LEN {
            return;
        }
        msg[SIGNATURE_RANGE].fill(0);
        // On the (unreachable) GMAC length error the field stays zero and will not verify.
        if let Some(sig) = self.mac_zeroed(msg) {
            msg[SIGNATURE_RANGE].copy_from_slice(&sig);
        }
    }

    /// Verifies the signature of one SMB2 message (see [`sign`](Self::sign)) in constant time.
    ///
    /// The buffer is mutable only because the Signature field is zeroed while the MAC is
    /// computed; on return it holds exactly its original bytes. Returns `false` for buffers
    /// shorter than 64 bytes.
    #[must_use]
    pub fn verify(&self, msg: &mut [u8]) -> bool {
        if msg.len() < SMB2_HEADER_LEN {
            return false;
        }
        let mut received = [0u8; 16];
        received.copy_from_slice(&msg[SIGNATURE_RANGE]);
        msg[SIGNATURE_RANGE].fill(0);
        let computed = self.mac_zeroed(msg);
        msg[SIGNATURE_RANGE].copy_from_slice(&received);
        computed.is_some_and(|c| crate::ct_eq(&c, &received))
    }

    /// MAC over `msg` whose Signature field is already zero. `None` only if GMAC rejects the
    /// length (more than 2^61 bytes, unreachable in practice).
    fn mac_zeroed(&self, msg: &[u8]) -> Option<[u8; 16]> {
        let mut out = [0u8; 16];
        match &self.mac {
            Mac16::Hmac(m) => {
                let full = m.clone().chain_update(msg).finalize().into_bytes();
                out.copy_from_slice(&full[..16]);
            }
            Mac16::Cmac(m) => {
                out.copy_from_slice(&m.clone().chain_update(msg).finalize().into_bytes());
            }
            Mac16::Gmac(gcm) => {
                let nonce = gmac_nonce(msg);
                let mut empty: [u8; 0] = [];
                let tag = gcm
                    .encrypt_inout_detached(&nonce.into(), msg, (&mut empty[..]).into())
                    .ok()?;
                out.copy_from_slice(&tag);
            }
            #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
            Mac16::AccelCmac(k, k1, k2) => out = modes::cmac(k, k1, k2, msg),
            #[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
            Mac16::AccelGmac(k) => out = modes::gmac(k, &gmac_nonce(msg), msg)?,
        }
        Some(out)
    }
}

/// [MS-SMB2] 3.1.4.1 GMAC nonce: MessageId (header bytes 24..32, little-endian as on the wire)
/// followed by a LE32 with bit 0 = server-to-client (Flags has `SMB2_FLAGS_SERVER_TO_REDIR`)
/// and bit 1 = CANCEL request. `msg` is at least 64 bytes.
fn gmac_nonce(msg: &[u8]) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&msg[24..32]);
    let mut role = 0u8;
    if msg[16] & FLAGS_SERVER_TO_REDIR != 0 {
        role |= 1;
    }
    if u16::from_le_bytes([msg[12], msg[13]]) == CMD_CANCEL {
        role |= 2;
    }
    nonce[8] = role;
    nonce
}
