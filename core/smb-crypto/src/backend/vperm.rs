//! Constant-time single-block AES encryption with vector permutes (Mike Hamburg, "Accelerating
//! AES with Vector Permute Instructions", CHES 2009; public domain), for the serial MACs
//! (CBC-MAC in CCM, CMAC) and single blocks on NEON without the crypto extensions.
//!
//! The 32-bit ARM backend (`backend/armv7.rs`) runs the same algorithm in NEON assembly with this
//! module's key schedule and constants.
//!
//! The S-box is computed by inversion in GF(2^4)^2 with 16-entry `tbl` lookups *in registers*:
//! no memory access depends on secret data. Constants and structure follow Botan's portable
//! port (`aes_vperm.cpp`, Simplified BSD), encryption direction only.

use super::simd::Simd;

/// Four little-endian 32-bit words as 16 bytes (Botan's `SIMD_4x32(a, b, c, d)`).
const fn w(a: u32, b: u32, c: u32, d: u32) -> [u8; 16] {
    let (a, b, c, d) = (
        a.to_le_bytes(),
        b.to_le_bytes(),
        c.to_le_bytes(),
        d.to_le_bytes(),
    );
    [
        a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], c[0], c[1], c[2], c[3], d[0], d[1], d[2],
        d[3],
    ]
}

pub(crate) const K_IPT1: [u8; 16] = w(0x5A2A_7000, 0xC2B2_E898, 0x5222_7808, 0xCABA_E090);
pub(crate) const K_IPT2: [u8; 16] = w(0x317C_4D00, 0x4C01_307D, 0xB0FD_CC81, 0xCD80_B1FC);
pub(crate) const K_INV1: [u8; 16] = w(0x0D08_0180, 0x0E05_060F, 0x0A0B_0C02, 0x0407_0309);
pub(crate) const K_INV2: [u8; 16] = w(0x0F0B_0780, 0x0104_0A06, 0x0205_0809, 0x030D_0E0C);
pub(crate) const SB1U: [u8; 16] = w(0xCB50_3E00, 0xB19B_E18F, 0x142A_F544, 0xA5DF_7A6E);
pub(crate) const SB1T: [u8; 16] = w(0xFAE2_2300, 0x3618_D415, 0x0D2E_D9EF, 0x3BF7_CCC1);
pub(crate) const SB2U: [u8; 16] = w(0x0B71_2400, 0xE27A_93C6, 0xBC98_2FCD, 0x5EB7_E955);
pub(crate) const SB2T: [u8; 16] = w(0x0AE1_2900, 0x69EB_8840, 0xAB82_234A, 0xC2A1_63C8);
pub(crate) const SBOU: [u8; 16] = w(0x6FBD_C700, 0xD0D2_6D17, 0xC502_A878, 0x15AA_BF7A);
pub(crate) const SBOT: [u8; 16] = w(0x5FBB_6A00, 0xCFE4_74A5, 0x412B_35FA, 0x8E1E_90D1);
const OUT_TR1: [u8; 16] = w(0xD6B6_6000, 0xFF9F_4929, 0xDEBE_6808, 0xF797_4121);
const OUT_TR2: [u8; 16] = w(0x50BC_EC00, 0x01ED_BD51, 0xB05C_0CE0, 0xE10D_5DB1);

pub(crate) const MC_FORWARD: [[u8; 16]; 4] = [
    w(0x0003_0201, 0x0407_0605, 0x080B_0A09, 0x0C0F_0E0D),
    w(0x0407_0605, 0x080B_0A09, 0x0C0F_0E0D, 0x0003_0201),
    w(0x080B_0A09, 0x0C0F_0E0D, 0x0003_0201, 0x0407_0605),
    w(0x0C0F_0E0D, 0x0003_0201, 0x0407_0605, 0x080B_0A09),
];
pub(crate) const MC_BACKWARD: [[u8; 16]; 4] = [
    w(0x0201_0003, 0x0605_0407, 0x0A09_080B, 0x0E0D_0C0F),
    w(0x0E0D_0C0F, 0x0201_0003, 0x0605_0407, 0x0A09_080B),
    w(0x0A09_080B, 0x0E0D_0C0F, 0x0201_0003, 0x0605_0407),
    w(0x0605_0407, 0x0A09_080B, 0x0E0D_0C0F, 0x0201_0003),
];
pub(crate) const SR: [[u8; 16]; 4] = [
    w(0x0302_0100, 0x0706_0504, 0x0B0A_0908, 0x0F0E_0D0C),
    w(0x0F0A_0500, 0x030E_0904, 0x0702_0D08, 0x0B06_010C),
    w(0x0B02_0900, 0x0F06_0D04, 0x030A_0108, 0x070E_050C),
    w(0x070A_0D00, 0x0B0E_0104, 0x0F02_0508, 0x0306_090C),
];
const RCON: [u8; 10] = [0x70, 0x2A, 0x98, 0x08, 0x4D, 0x7C, 0x7D, 0x81, 0x1F, 0x83];

/// Round keys in the vperm basis (AES-128: 11 used, AES-256: 15).
#[derive(Clone)]
#[repr(align(16))] // Lets NEON load the tables with immediate offsets.
pub(crate) struct VpKey {
    rk: [[u8; 16]; 15],
    nr: usize,
}

#[inline(always)]
fn lo_nibs<V: Simd>(x: V) -> V {
    x.and(V::splat(0x0f))
}

/// The shared GF(2^4)^2 inversion: returns (t5, t6), the "u" and "t" table inputs.
#[inline(always)]
fn inv<V: Simd>(b: V) -> (V, V) {
    let inv1 = V::load(&K_INV1);
    let bh = b.hi_nibbles();
    let bl = lo_nibs(b);
    let t2 = V::load(&K_INV2).tbl(bl);
    let bl = bl.xor(bh);
    let t5 = bl.xor(inv1.tbl(t2.xor(inv1.tbl(bh))));
    let t6 = bh.xor(inv1.tbl(t2.xor(inv1.tbl(bl))));
    (t5, t6)
}

#[inline(always)]
fn transform<V: Simd>(x: V, t1: &[u8; 16], t2: &[u8; 16]) -> V {
    V::load(t1)
        .tbl(lo_nibs(x))
        .xor(V::load(t2).tbl(x.hi_nibbles()))
}

/// Byte shift towards the high end by `4 * N` bytes (Botan `shift_elems_left<N>`).
#[inline(always)]
fn shift_words_up1<V: Simd>(x: V) -> V {
    V::zero().ext::<12>(x)
}
#[inline(always)]
fn shift_words_up2<V: Simd>(x: V) -> V {
    V::zero().ext::<8>(x)
}

fn schedule_round2<V: Simd>(input1: V, input2: V) -> V {
    let mut smeared = input2.xor(shift_words_up1(input2));
    smeared = smeared.xor(shift_words_up2(smeared));
    smeared = smeared.xor(V::splat(0x5B));
    let (t5, t6) = inv(input1);
    smeared
        .xor(V::load(&SB1U).tbl(t5))
        .xor(V::load(&SB1T).tbl(t6))
}

fn schedule_round<V: Simd>(rc: u8, input1: V, input2: V) -> V {
    let mut r = [0u8; 16];
    r[0] = rc;
    // alignr<1>(shuffle32(input1, (3,3,3,3))): RotWord of the last word.
    let rot = input1.tbl(V::load(&w(
        0x0C0F_0E0D,
        0x0C0F_0E0D,
        0x0C0F_0E0D,
        0x0C0F_0E0D,
    )));
    schedule_round2(rot, input2.xor(V::load(&r)))
}

fn mangle<V: Simd>(k: V, round: usize) -> V {
    let mc = V::load(&MC_FORWARD[0]);
    let mut t = k.xor(V::splat(0x5B)).tbl(mc);
    let t2 = t;
    t = t.tbl(mc);
    let t2 = t.xor(t2).xor(t.tbl(mc));
    t2.tbl(V::load(&SR[round % 4]))
}

fn mangle_last<V: Simd>(k: V, round: usize) -> V {
    let k = k.tbl(V::load(&SR[round % 4])).xor(V::splat(0x5B));
    transform(k, &OUT_TR1, &OUT_TR2)
}

impl VpKey {
    /// The round keys in the vperm basis and the number of rounds (10 or 14).
    #[cfg_attr(not(target_arch = "arm"), allow(dead_code))]
    pub(crate) fn round_keys(&self) -> (&[[u8; 16]; 15], usize) {
        (&self.rk, self.nr)
    }

    /// Key schedule for a 16- or 32-byte key.
    pub(crate) fn new<V: Simd>(key: &[u8]) -> Option<Self> {
        let mut out = Self {
            rk: [[0; 16]; 15],
            nr: 0,
        };
        match key.len() {
            16 => {
                out.nr = 10;
                let mut k = V::load(key.try_into().ok()?);
                k = transform(k, &K_IPT1, &K_IPT2);
                k.store(&mut out.rk[0]);
                for i in 1..10 {
                    k = schedule_round(RCON[i - 1], k, k);
                    mangle(k, (12 - i) % 4).store(&mut out.rk[i]);
                }
                k = schedule_round(RCON[9], k, k);
                mangle_last(k, 2).store(&mut out.rk[10]);
            }
            32 => {
                out.nr = 14;
                let mut k1 = transform(V::load(key[..16].try_into().ok()?), &K_IPT1, &K_IPT2);
                let mut k2 = transform(V::load(key[16..].try_into().ok()?), &K_IPT1, &K_IPT2);
                k1.store(&mut out.rk[0]);
                mangle(k2, 3).store(&mut out.rk[1]);
                let s3333 = V::load(&w(0x0F0E_0D0C, 0x0F0E_0D0C, 0x0F0E_0D0C, 0x0F0E_0D0C));
                for i in (2..14).step_by(2) {
                    let kt = k2;
                    k2 = schedule_round(RCON[i / 2 - 1], k2, k1);
                    k1 = k2;
                    mangle(k2, i % 4).store(&mut out.rk[i]);
                    k2 = schedule_round2(k2.tbl(s3333), kt);
                    mangle(k2, (i - 1) % 4).store(&mut out.rk[i + 1]);
                }
                k2 = schedule_round(RCON[6], k2, k1);
                mangle_last(k2, 2).store(&mut out.rk[14]);
            }
            _ => return None,
        }
        Some(out)
    }
}

/// Encrypts one block.
#[inline(always)]
pub(crate) fn encrypt<V: Simd>(key: &VpKey, b: V) -> V {
    let mut b = transform(b, &K_IPT1, &K_IPT2).xor(V::load(&key.rk[0]));
    let (sb1u, sb1t) = (V::load(&SB1U), V::load(&SB1T));
    let (sb2u, sb2t) = (V::load(&SB2U), V::load(&SB2T));
    for r in 1..key.nr {
        let (t5, t6) = inv(b);
        let t7 = sb1t.tbl(t6).xor(sb1u.tbl(t5)).xor(V::load(&key.rk[r]));
        let mcf = V::load(&MC_FORWARD[r % 4]);
        let t8 = sb2t.tbl(t6).xor(sb2u.tbl(t5)).xor(t7.tbl(mcf));
        b = t8
            .tbl(mcf)
            .xor(t7.tbl(V::load(&MC_BACKWARD[r % 4])))
            .xor(t8);
    }
    let (t5, t6) = inv(b);
    V::load(&SBOU)
        .tbl(t5)
        .xor(V::load(&SBOT).tbl(t6))
        .xor(V::load(&key.rk[key.nr]))
        .tbl(V::load(&SR[key.nr % 4]))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::backend::simd::Soft;
    use aes::cipher::{BlockCipherEncrypt, KeyInit};
    use std::vec::Vec;

    #[test]
    fn vperm_matches_rustcrypto() {
        for klen in [16usize, 32] {
            for seed in 0..8u8 {
                let key: Vec<u8> = (0..klen)
                    .map(|i| {
                        (i as u8)
                            .wrapping_mul(29)
                            .wrapping_add(seed.wrapping_mul(91))
                    })
                    .collect();
                let vk = VpKey::new::<Soft>(&key).unwrap();
                let block: [u8; 16] = core::array::from_fn(|i| (i as u8) ^ seed.wrapping_mul(17));
                let got = encrypt(&vk, Soft(block)).0;
                let mut want = aes::Block::from(block);
                if klen == 16 {
                    aes::Aes128::new_from_slice(&key)
                        .unwrap()
                        .encrypt_block(&mut want);
                } else {
                    aes::Aes256::new_from_slice(&key)
                        .unwrap()
                        .encrypt_block(&mut want);
                }
                assert_eq!(got, <[u8; 16]>::from(want), "key len {klen} seed {seed}");
            }
        }
    }
}
