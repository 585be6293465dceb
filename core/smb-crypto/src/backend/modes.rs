//! GCM, GMAC, CCM and CMAC over an accelerated AES/GHASH [`Kernel`], with the SMB parameters:
//! 16-byte tags, 12-byte GCM nonces, 11-byte CCM nonces (so a 4-byte CCM length field).
//!
//! Kernels work on whole 16-byte blocks; this module does the framing (J0, B0, length blocks,
//! CMAC subkeys, partial final blocks) once for every backend.

use crate::ct_eq;

/// Bytes processed per step by the default two-pass GCM/CCM loops (small enough to stay in
/// L1 between the cipher pass and the MAC pass).
const CHUNK: usize = 1024;

/// The block-level primitives of one backend. The key material lives in `self`.
pub(crate) trait Kernel {
    /// Encrypts one block.
    fn encrypt_block(&self, block: &mut [u8; 16]);
    /// CTR mode over whole blocks: XORs E(ctr), E(ctr+1), ... into `data` (a multiple of 16
    /// bytes), incrementing the last 4 bytes of `ctr` as a big-endian counter.
    fn ctr32(&self, ctr: &mut [u8; 16], data: &mut [u8]);
    /// CBC-MAC over whole blocks: `mac = E(mac ^ block)` for each block.
    fn cbc_mac(&self, mac: &mut [u8; 16], data: &[u8]);
    /// GHASH over whole blocks with the key's hash subkey: `y = (y ^ block) * H`.
    fn ghash(&self, y: &mut [u8; 16], data: &[u8]);

    /// GCM encryption of whole blocks: CTR, then GHASH of the ciphertext.
    fn gcm_encrypt(&self, ctr: &mut [u8; 16], y: &mut [u8; 16], data: &mut [u8]) {
        for c in data.chunks_mut(CHUNK) {
            self.ctr32(ctr, c);
            self.ghash(y, c);
        }
    }
    /// GCM decryption of whole blocks: GHASH of the ciphertext, then CTR.
    fn gcm_decrypt(&self, ctr: &mut [u8; 16], y: &mut [u8; 16], data: &mut [u8]) {
        for c in data.chunks_mut(CHUNK) {
            self.ghash(y, c);
            self.ctr32(ctr, c);
        }
    }
    /// CCM encryption of whole blocks: CBC-MAC of the plaintext, then CTR.
    fn ccm_encrypt(&self, ctr: &mut [u8; 16], mac: &mut [u8; 16], data: &mut [u8]) {
        for c in data.chunks_mut(CHUNK) {
            self.cbc_mac(mac, c);
            self.ctr32(ctr, c);
        }
    }
    /// CCM decryption of whole blocks: CTR, then CBC-MAC of the plaintext.
    fn ccm_decrypt(&self, ctr: &mut [u8; 16], mac: &mut [u8; 16], data: &mut [u8]) {
        for c in data.chunks_mut(CHUNK) {
            self.ctr32(ctr, c);
            self.cbc_mac(mac, c);
        }
    }
}

fn xor16(a: &mut [u8; 16], b: &[u8; 16]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x ^= y);
}

/// GHASH of `data` zero-padded to whole blocks.
fn ghash_padded<K: Kernel + ?Sized>(k: &K, y: &mut [u8; 16], data: &[u8]) {
    let full = data.len() / 16 * 16;
    k.ghash(y, &data[..full]);
    if full < data.len() {
        let mut last = [0u8; 16];
        last[..data.len() - full].copy_from_slice(&data[full..]);
        k.ghash(y, &last);
    }
}

/// CTR over a partial final block (`tail.len() < 16`).
fn ctr_tail<K: Kernel + ?Sized>(k: &K, ctr: &mut [u8; 16], tail: &mut [u8]) {
    let mut block = [0u8; 16];
    block[..tail.len()].copy_from_slice(tail);
    k.ctr32(ctr, &mut block);
    tail.copy_from_slice(&block[..tail.len()]);
}

/// GCM lengths block: bit lengths of AAD and text, 64-bit big-endian each.
#[allow(clippy::big_endian_bytes)] // GCM (SP 800-38D 7.1) specifies big-endian lengths.
fn gcm_lengths(aad_len: usize, text_len: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&((aad_len as u64) * 8).to_be_bytes());
    b[8..].copy_from_slice(&((text_len as u64) * 8).to_be_bytes());
    b
}

/// The maximum GCM plaintext: 2^32 - 2 blocks.
const GCM_MAX: u64 = ((1 << 32) - 2) * 16;

/// GCM set-up for a 96-bit nonce ([NIST SP 800-38D] 7.1): E(K, J0) for the tag, the first data
/// counter (J0 + 1) and GHASH over the padded AAD.
fn gcm_start<K: Kernel + ?Sized>(
    k: &K,
    nonce: &[u8; 12],
    aad: &[u8],
) -> ([u8; 16], [u8; 16], [u8; 16]) {
    let mut j0 = [0u8; 16];
    j0[..12].copy_from_slice(nonce);
    j0[15] = 1;
    let mut ek0 = j0;
    k.encrypt_block(&mut ek0);
    let mut ctr = j0;
    ctr[15] = 2;
    let mut y = [0u8; 16];
    ghash_padded(k, &mut y, aad);
    (ek0, ctr, y)
}

/// GCM with a 96-bit nonce, encrypting `data` in place; `None` if `data` is too long.
pub(crate) fn gcm_seal<K: Kernel + ?Sized>(
    k: &K,
    nonce: &[u8; 12],
    aad: &[u8],
    data: &mut [u8],
) -> Option<[u8; 16]> {
    if data.len() as u64 > GCM_MAX {
        return None;
    }
    let (ek0, mut ctr, mut y) = gcm_start(k, nonce, aad);
    let full = data.len() / 16 * 16;
    let (body, tail) = data.split_at_mut(full);
    k.gcm_encrypt(&mut ctr, &mut y, body);
    if !tail.is_empty() {
        ctr_tail(k, &mut ctr, tail);
        ghash_padded(k, &mut y, tail);
    }
    k.ghash(&mut y, &gcm_lengths(aad.len(), data.len()));
    xor16(&mut y, &ek0);
    Some(y)
}

/// GCM decryption in place; `false` (and `data` holds garbage) if the tag does not verify.
pub(crate) fn gcm_open<K: Kernel + ?Sized>(
    k: &K,
    nonce: &[u8; 12],
    aad: &[u8],
    data: &mut [u8],
    tag: &[u8; 16],
) -> bool {
    if data.len() as u64 > GCM_MAX {
        return false;
    }
    let (ek0, mut ctr, mut y) = gcm_start(k, nonce, aad);
    let full = data.len() / 16 * 16;
    let (body, tail) = data.split_at_mut(full);
    k.gcm_decrypt(&mut ctr, &mut y, body);
    if !tail.is_empty() {
        ghash_padded(k, &mut y, tail);
        ctr_tail(k, &mut ctr, tail);
    }
    k.ghash(&mut y, &gcm_lengths(aad.len(), data.len()));
    xor16(&mut y, &ek0);
    ct_eq(&y, tag)
}

/// GMAC: GCM with `msg` as AAD and no plaintext.
pub(crate) fn gmac<K: Kernel + ?Sized>(k: &K, nonce: &[u8; 12], msg: &[u8]) -> Option<[u8; 16]> {
    gcm_seal(k, nonce, msg, &mut [])
}

/// CCM B0 and the first counter block for an 11-byte nonce (L = 4) and a 16-byte tag.
#[allow(clippy::big_endian_bytes)] // CCM (SP 800-38C A.2) specifies big-endian lengths.
fn ccm_start<K: Kernel + ?Sized>(
    k: &K,
    nonce: &[u8; 11],
    aad: &[u8],
    len: usize,
) -> Option<([u8; 16], [u8; 16])> {
    let len32 = u32::try_from(len).ok()?;
    let mut b0 = [0u8; 16];
    // Flags: Adata, M' = (16 - 2) / 2 = 7, L' = 4 - 1 = 3.
    b0[0] = (u8::from(!aad.is_empty()) << 6) | (7 << 3) | 3;
    b0[1..12].copy_from_slice(nonce);
    b0[12..].copy_from_slice(&len32.to_be_bytes());
    let mut mac = [0u8; 16];
    k.cbc_mac(&mut mac, &b0);
    if !aad.is_empty() {
        // AAD length prefix: 2 bytes below 0xFF00, else 0xFFFE + 4 bytes.
        let mut first = [0u8; 16];
        let (hdr, room) = if aad.len() < 0xFF00 {
            first[..2].copy_from_slice(&(aad.len() as u16).to_be_bytes());
            (2, 14)
        } else {
            first[..2].copy_from_slice(&[0xFF, 0xFE]);
            first[2..6].copy_from_slice(&u32::try_from(aad.len()).ok()?.to_be_bytes());
            (6, 10)
        };
        let n = aad.len().min(room);
        first[hdr..hdr + n].copy_from_slice(&aad[..n]);
        k.cbc_mac(&mut mac, &first);
        let rest = &aad[n..];
        let full = rest.len() / 16 * 16;
        k.cbc_mac(&mut mac, &rest[..full]);
        if full < rest.len() {
            let mut last = [0u8; 16];
            last[..rest.len() - full].copy_from_slice(&rest[full..]);
            k.cbc_mac(&mut mac, &last);
        }
    }
    let mut ctr = [0u8; 16];
    ctr[0] = 3;
    ctr[1..12].copy_from_slice(nonce);
    Some((mac, ctr))
}

/// CCM (11-byte nonce, 16-byte tag), encrypting `data` in place; `None` if `data` or `aad`
/// is 2^32 bytes or longer.
pub(crate) fn ccm_seal<K: Kernel + ?Sized>(
    k: &K,
    nonce: &[u8; 11],
    aad: &[u8],
    data: &mut [u8],
) -> Option<[u8; 16]> {
    let (mut mac, mut ctr) = ccm_start(k, nonce, aad, data.len())?;
    let mut s0 = ctr;
    k.encrypt_block(&mut s0);
    ctr[15] = 1;
    let full = data.len() / 16 * 16;
    let (body, tail) = data.split_at_mut(full);
    k.ccm_encrypt(&mut ctr, &mut mac, body);
    if !tail.is_empty() {
        let mut last = [0u8; 16];
        last[..tail.len()].copy_from_slice(tail);
        k.cbc_mac(&mut mac, &last);
        ctr_tail(k, &mut ctr, tail);
    }
    xor16(&mut mac, &s0);
    Some(mac)
}

/// CCM decryption in place; `false` (and `data` holds garbage) if the tag does not verify.
pub(crate) fn ccm_open<K: Kernel + ?Sized>(
    k: &K,
    nonce: &[u8; 11],
    aad: &[u8],
    data: &mut [u8],
    tag: &[u8; 16],
) -> bool {
    let Some((mut mac, mut ctr)) = ccm_start(k, nonce, aad, data.len()) else {
        return false;
    };
    let mut s0 = ctr;
    k.encrypt_block(&mut s0);
    ctr[15] = 1;
    let full = data.len() / 16 * 16;
    let (body, tail) = data.split_at_mut(full);
    k.ccm_decrypt(&mut ctr, &mut mac, body);
    if !tail.is_empty() {
        ctr_tail(k, &mut ctr, tail);
        let mut last = [0u8; 16];
        last[..tail.len()].copy_from_slice(tail);
        k.cbc_mac(&mut mac, &last);
    }
    xor16(&mut mac, &s0);
    ct_eq(&mac, tag)
}

/// CMAC subkeys K1, K2 (SP 800-38B 6.1).
pub(crate) fn cmac_subkeys<K: Kernel + ?Sized>(k: &K) -> ([u8; 16], [u8; 16]) {
    fn dbl(b: &[u8; 16]) -> [u8; 16] {
        let mut r = [0u8; 16];
        r.copy_from_slice(b);
        r.reverse();
        let v = u128::from_le_bytes(r);
        let carry = 0u128.wrapping_sub(v >> 127);
        let mut out = ((v << 1) ^ (carry & 0x87)).to_le_bytes();
        out.reverse();
        out
    }
    let mut l = [0u8; 16];
    k.encrypt_block(&mut l);
    let k1 = dbl(&l);
    let k2 = dbl(&k1);
    (k1, k2)
}

/// AES-CMAC of `msg` with precomputed subkeys.
pub(crate) fn cmac<K: Kernel + ?Sized>(
    k: &K,
    k1: &[u8; 16],
    k2: &[u8; 16],
    msg: &[u8],
) -> [u8; 16] {
    // All blocks but the last go through plain CBC-MAC.
    let n_before_last = if msg.is_empty() {
        0
    } else {
        (msg.len() - 1) / 16
    };
    let (head, last) = msg.split_at(n_before_last * 16);
    let mut mac = [0u8; 16];
    k.cbc_mac(&mut mac, head);
    let mut block = [0u8; 16];
    block[..last.len()].copy_from_slice(last);
    if last.len() == 16 {
        xor16(&mut block, k1);
    } else {
        block[last.len()] = 0x80;
        xor16(&mut block, k2);
    }
    k.cbc_mac(&mut mac, &block);
    mac
}
