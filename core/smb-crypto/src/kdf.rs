//! SMB3 key derivation ([MS-SMB2] 3.1.4.2, NIST SP800-108 KDF in counter mode).
//!
//! PRF = HMAC-SHA256, r = 32 (the counter `i` is a 32-bit big-endian integer), L = output
//! length in bits, also encoded as 32-bit big-endian. The fixed input is
//! `i || Label || 0x00 || Context || L`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// SP800-108 counter-mode KDF with HMAC-SHA256 as used by SMB 3.x ([MS-SMB2] 3.1.4.2).
///
/// `label` and `context` are passed exactly as [MS-SMB2] lists them, i.e. *including* their
/// trailing NUL (`b"SMB2AESCMAC\0"`); the KDF inserts its own `0x00` separator after the label
/// as SP800-108 prescribes. `out` is filled completely and `L = out.len() * 8` bits (SMB uses
/// 16 bytes, or 32 bytes for AES-256 cipher keys).
///
/// # Panics
///
/// If `out.len() * 8` does not fit in 32 bits (more than 512 MiB of output) — a caller bug,
/// never reachable from peer input.
pub fn kdf(key: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) {
    let bits = u32::try_from(out.len())
        .ok()
        .and_then(|n| n.checked_mul(8))
        .expect("kdf output length exceeds the 32-bit L field");
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let Ok(prf) = HmacSha256::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of every length")
    };
    let mut counter: u32 = 1;
    for chunk in out.chunks_mut(32) {
        let mut mac = prf.clone();
        mac.update(&be32(counter));
        mac.update(label);
        mac.update(&[0]);
        mac.update(context);
        mac.update(&be32(bits));
        let block = mac.finalize().into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
        counter = counter.wrapping_add(1);
    }
}

#[expect(
    clippy::big_endian_bytes,
    reason = "SP800-108 encodes i and L big-endian"
)]
fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}
