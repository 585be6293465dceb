//! Session key derivation ([MS-SMB2] 3.3.5.5.3 "Handling GSS-API Authentication",
//! 3.2.5.3.1) and the SMB 3.1.1 cipher identifiers ([MS-SMB2] 2.2.3.1.2).

use crate::kdf::kdf;
use core::fmt;

/// SMB 3.x encryption cipher, with its [MS-SMB2] 2.2.3.1.2 `SMB2_ENCRYPTION_CAPABILITIES` id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Cipher {
    /// AES-128-CCM (the only cipher of SMB 3.0 / 3.0.2).
    Aes128Ccm = 1,
    /// AES-128-GCM.
    Aes128Gcm = 2,
    /// AES-256-CCM.
    Aes256Ccm = 3,
    /// AES-256-GCM.
    Aes256Gcm = 4,
}

impl Cipher {
    /// Maps a wire cipher id to a [`Cipher`]; `None` for 0 and unknown ids.
    #[must_use]
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            1 => Some(Self::Aes128Ccm),
            2 => Some(Self::Aes128Gcm),
            3 => Some(Self::Aes256Ccm),
            4 => Some(Self::Aes256Gcm),
            _ => None,
        }
    }

    /// The wire cipher id.
    #[must_use]
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// Key length in bytes: 16 for AES-128, 32 for AES-256.
    #[must_use]
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128Ccm | Self::Aes128Gcm => 16,
            Self::Aes256Ccm | Self::Aes256Gcm => 32,
        }
    }

    /// Number of significant nonce bytes in the 16-byte transform header Nonce field:
    /// 11 for CCM, 12 for GCM ([MS-SMB2] 2.2.41). The remaining bytes are zero.
    #[must_use]
    pub const fn nonce_len(self) -> usize {
        match self {
            Self::Aes128Ccm | Self::Aes256Ccm => 11,
            Self::Aes128Gcm | Self::Aes256Gcm => 12,
        }
    }

    /// `true` for the GCM ciphers.
    #[must_use]
    pub const fn is_gcm(self) -> bool {
        matches!(self, Self::Aes128Gcm | Self::Aes256Gcm)
    }
}

/// The keys of one authenticated session, from the server's point of view.
///
/// `encrypt_s2c` and `decrypt_c2s` hold `cipher_key_len` significant bytes (16 or 32); the rest
/// is zero. `cipher_key_len` is 0 when the session has no encryption keys (SMB 2.x, or 3.1.1
/// without a negotiated cipher).
#[derive(Clone)]
pub struct SessionKeys {
    /// Signing key (for SMB 2.x the session key itself, used with HMAC-SHA256).
    pub signing: [u8; 16],
    /// Server-to-client cipher key: the server ENCRYPTS its responses with it
    /// (3.0: "ServerOut", 3.1.1: "SMBS2CCipherKey").
    pub encrypt_s2c: [u8; 32],
    /// Client-to-server cipher key: the server DECRYPTS requests with it
    /// (3.0: "ServerIn ", 3.1.1: "SMBC2SCipherKey").
    pub decrypt_c2s: [u8; 32],
    /// Application key, exported to upper layers such as DCE/RPC.
    pub application: [u8; 16],
    /// Number of significant bytes in `encrypt_s2c` / `decrypt_c2s` (0, 16 or 32).
    pub cipher_key_len: usize,
}

impl SessionKeys {
    /// The server's encryption (server-to-client) key, `cipher_key_len` bytes long.
    #[must_use]
    pub fn encryption_key(&self) -> &[u8] {
        &self.encrypt_s2c[..self.cipher_key_len.min(32)]
    }

    /// The server's decryption (client-to-server) key, `cipher_key_len` bytes long.
    #[must_use]
    pub fn decryption_key(&self) -> &[u8] {
        &self.decrypt_c2s[..self.cipher_key_len.min(32)]
    }
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("cipher_key_len", &self.cipher_key_len)
            .finish_non_exhaustive()
    }
}

/// Derives the session's keys per [MS-SMB2] 3.3.5.5.3 from a 16-byte session key.
///
/// - `0x0300`, `0x0302`: SMB 3.0 labels (`SMB2AESCMAC`/`SmbSign`, `SMB2AESCCM`/`ServerIn `,
///   `SMB2AESCCM`/`ServerOut`, `SMB2APP`/`SmbRpc`); always 16-byte AES-128-CCM keys, `cipher`
///   is ignored.
/// - `0x0311`: `SMBSigningKey`, `SMBC2SCipherKey`, `SMBS2CCipherKey`, `SMBAppKey` with the
///   preauth hash as context; cipher keys are `cipher.key_len()` bytes, none if `cipher` is
///   `None`.
/// - any other dialect (2.0.2, 2.1): signing and application key = session key, no cipher keys.
///
/// For AES-256 ciphers [MS-SMB2] derives the cipher keys from the *full* session key; use
/// [`derive_keys_full`] when it is longer than 16 bytes (e.g. Kerberos AES-256). For NTLM the
/// session key is 16 bytes and both functions agree.
#[must_use]
pub fn derive_keys(
    dialect: u16,
    session_key: &[u8; 16],
    preauth_hash: &[u8; 64],
    cipher: Option<Cipher>,
) -> SessionKeys {
    derive_keys_full(dialect, session_key, preauth_hash, cipher)
}

/// Like [`derive_keys`], but takes the full GSS session key of any length.
///
/// `Session.SessionKey` is its first 16 bytes (zero-padded if shorter) and is used for the
/// signing and application keys and for AES-128 cipher keys; the full key is the KDF input for
/// AES-256 cipher keys ([MS-SMB2] 3.3.5.5.3).
#[must_use]
pub fn derive_keys_full(
    dialect: u16,
    full_session_key: &[u8],
    preauth_hash: &[u8; 64],
    cipher: Option<Cipher>,
) -> SessionKeys {
    let mut sk = [0u8; 16];
    let n = full_session_key.len().min(16);
    sk[..n].copy_from_slice(&full_session_key[..n]);

    let mut keys = SessionKeys {
        signing: [0; 16],
        encrypt_s2c: [0; 32],
        decrypt_c2s: [0; 32],
        application: [0; 16],
        cipher_key_len: 0,
    };
    match dialect {
        0x0300 | 0x0302 => {
            kdf(&sk, b"SMB2AESCMAC\0", b"SmbSign\0", &mut keys.signing);
            kdf(
                &sk,
                b"SMB2AESCCM\0",
                b"ServerIn \0",
                &mut keys.decrypt_c2s[..16],
            );
            kdf(
                &sk,
                b"SMB2AESCCM\0",
                b"ServerOut\0",
                &mut keys.encrypt_s2c[..16],
            );
            kdf(&sk, b"SMB2APP\0", b"SmbRpc\0", &mut keys.application);
            keys.cipher_key_len = 16;
        }
        0x0311 => {
            kdf(&sk, b"SMBSigningKey\0", preauth_hash, &mut keys.signing);
            kdf(&sk, b"SMBAppKey\0", preauth_hash, &mut keys.application);
            if let Some(cipher) = cipher {
                let len = cipher.key_len();
                let kdk: &[u8] = if len == 32 { full_session_key } else { &sk };
                kdf(
                    kdk,
                    b"SMBC2SCipherKey\0",
                    preauth_hash,
                    &mut keys.decrypt_c2s[..len],
                );
                kdf(
                    kdk,
                    b"SMBS2CCipherKey\0",
                    preauth_hash,
                    &mut keys.encrypt_s2c[..len],
                );
                keys.cipher_key_len = len;
            }
        }
        _ => {
            keys.signing = sk;
            keys.application = sk;
        }
    }
    keys
}
