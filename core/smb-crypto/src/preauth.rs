//! SMB 3.1.1 preauthentication integrity hash ([MS-SMB2] 3.3.5.4 NEGOTIATE, 3.3.5.5
//! SESSION_SETUP; 2.2.3.1.1 SHA-512).

use sha2::{Digest, Sha512};

/// A running SHA-512 preauth integrity hash value.
///
/// Starts at 64 zero bytes; every NEGOTIATE / SESSION_SETUP request and response (the whole
/// SMB2 message, header included) is folded in with `value = SHA-512(value || message)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreauthHash {
    /// The current hash value.
    pub value: [u8; 64],
}

impl Default for PreauthHash {
    fn default() -> Self {
        Self::new()
    }
}

impl PreauthHash {
    /// The initial value: 64 zero bytes.
    #[must_use]
    pub const fn new() -> Self {
        Self { value: [0; 64] }
    }

    /// `value = SHA-512(value || msg)`.
    pub fn update(&mut self, msg: &[u8]) {
        self.update_parts(&[msg]);
    }

    /// Like [`update`](Self::update) for a message held in several pieces (e.g. header and
    /// body buffers): `value = SHA-512(value || parts[0] || parts[1] || ...)`.
    pub fn update_parts(&mut self, parts: &[&[u8]]) {
        let mut h = Sha512::new();
        h.update(self.value);
        for p in parts {
            h.update(p);
        }
        self.value.copy_from_slice(&h.finalize());
    }
}
