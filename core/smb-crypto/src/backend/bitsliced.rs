//! Bit-sliced AES-128/256 encryption of 8 blocks at once on 128-bit vectors (the
//! Käsper–Schwabe layout), for CTR keystream on NEON without the crypto extensions.
//!
//! Constant time by construction: only XOR/AND, byte permutations with fixed indices and
//! fixed shifts; no table is indexed by data or key.
//!
//! Layout: eight "planes" `s[p]`, `p` = bit position within a byte (0 = least significant).
//! In every plane, byte `4 * row + col` holds that state cell of all 8 blocks: bit `b` of it
//! belongs to block `b`. Rotating rows (MixColumns) is then a 4-byte `ext`, ShiftRows a `tbl`.
//!
//! The S-box is the 113-gate circuit of Boyar, Peralta and Calik
//! (<http://www.cs.yale.edu/homes/peralta/CircuitStuff/SLP_AES_113.txt>), in the gate order of
//! the RustCrypto `aes` fixslice code (MIT/Apache-2.0). Its 4 NOT gates are left out: the S-box
//! then computes `S(x) ^ 0x63`, and since ShiftRows and MixColumns map a state of all-0x63 to
//! itself, XORing 0x63 into round keys 1..Nr compensates exactly.

use super::simd::Simd;

/// 4x4 byte transpose: AES column-major byte order <-> row-major plane order (an involution).
const TRANSPOSE: [u8; 16] = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];
/// ShiftRows in the row-major layout: row `r` rotates left by `r`.
const SHIFT_ROWS: [u8; 16] = [0, 1, 2, 3, 5, 6, 7, 4, 10, 11, 8, 9, 15, 12, 13, 14];

/// Bit-sliced round keys: `rk[round][plane]`, AES-128 uses rounds 0..=10, AES-256 0..=14.
#[derive(Clone)]
#[repr(align(16))] // Lets NEON load the tables with immediate offsets.
pub(crate) struct BsKey {
    rk: [[[u8; 16]; 8]; 15],
    nr: usize,
}

/// `t = (a ^ (b >> S)) & m; a ^= t; b ^= t << S` on 64-bit lanes (the masks keep every bit
/// inside its byte, so lane width does not matter).
#[inline(always)]
fn swapmove<V: Simd, const S: i32>(a: &mut V, b: &mut V, m: V) {
    let t = a.xor(b.shr64::<S>()).and(m);
    *a = a.xor(t);
    *b = b.xor(t.shl64::<S>());
}

/// 8x8 bit transpose inside every byte position across the 8 registers: bit `p` of byte `j`
/// of `x[b]` goes to bit `b` of byte `j` of `x[p]`. Its own inverse.
#[inline(always)]
fn transpose_bits<V: Simd>(x: &mut [V; 8]) {
    let [x0, x1, x2, x3, x4, x5, x6, x7] = x;
    let m = V::splat(0x55);
    swapmove::<V, 1>(x1, x0, m);
    swapmove::<V, 1>(x3, x2, m);
    swapmove::<V, 1>(x5, x4, m);
    swapmove::<V, 1>(x7, x6, m);
    let m = V::splat(0x33);
    swapmove::<V, 2>(x2, x0, m);
    swapmove::<V, 2>(x3, x1, m);
    swapmove::<V, 2>(x6, x4, m);
    swapmove::<V, 2>(x7, x5, m);
    let m = V::splat(0x0f);
    swapmove::<V, 4>(x4, x0, m);
    swapmove::<V, 4>(x5, x1, m);
    swapmove::<V, 4>(x6, x2, m);
    swapmove::<V, 4>(x7, x3, m);
}

/// 8 AES blocks -> bit-sliced state.
#[inline(always)]
pub(crate) fn bitslice<V: Simd>(blocks: [V; 8]) -> [V; 8] {
    let t = V::load(&TRANSPOSE);
    let mut x = blocks.map(|b| b.tbl(t));
    transpose_bits(&mut x);
    x
}

/// Bit-sliced state -> 8 AES blocks.
#[inline(always)]
pub(crate) fn unbitslice<V: Simd>(mut x: [V; 8]) -> [V; 8] {
    transpose_bits(&mut x);
    let t = V::load(&TRANSPOSE);
    x.map(|b| b.tbl(t))
}

/// SubBytes without its 4 NOT gates: `S(x) ^ 0x63` (see the module docs).
#[inline(always)]
#[allow(clippy::many_single_char_names, clippy::similar_names)]
fn sub_bytes_nonot<V: Simd>(s: &mut [V; 8]) {
    let [u7, u6, u5, u4, u3, u2, u1, u0] = *s;
    let y14 = u3.xor(u5);
    let y13 = u0.xor(u6);
    let y12 = y13.xor(y14);
    let t1 = u4.xor(y12);
    let y15 = t1.xor(u5);
    let t2 = y12.and(y15);
    let y6 = y15.xor(u7);
    let y20 = t1.xor(u1);
    let y9 = u0.xor(u3);
    let y11 = y20.xor(y9);
    let t12 = y9.and(y11);
    let y7 = u7.xor(y11);
    let y8 = u0.xor(u5);
    let t0 = u1.xor(u2);
    let y10 = y15.xor(t0);
    let y17 = y10.xor(y11);
    let t13 = y14.and(y17);
    let t14 = t13.xor(t12);
    let y19 = y10.xor(y8);
    let t15 = y8.and(y10);
    let t16 = t15.xor(t12);
    let y16 = t0.xor(y11);
    let y21 = y13.xor(y16);
    let t7 = y13.and(y16);
    let y18 = u0.xor(y16);
    let y1 = t0.xor(u7);
    let y4 = y1.xor(u3);
    let t5 = y4.and(u7);
    let t6 = t5.xor(t2);
    let t18 = t6.xor(t16);
    let t22 = t18.xor(y19);
    let y2 = y1.xor(u0);
    let t10 = y2.and(y7);
    let t11 = t10.xor(t7);
    let t20 = t11.xor(t16);
    let t24 = t20.xor(y18);
    let y5 = y1.xor(u6);
    let t8 = y5.and(y1);
    let t9 = t8.xor(t7);
    let t19 = t9.xor(t14);
    let t23 = t19.xor(y21);
    let y3 = y5.xor(y8);
    let t3 = y3.and(y6);
    let t4 = t3.xor(t2);
    let t17 = t4.xor(y20);
    let t21 = t17.xor(t14);
    let t26 = t21.and(t23);
    let t27 = t24.xor(t26);
    let t31 = t22.xor(t26);
    let t25 = t21.xor(t22);
    let t28 = t25.and(t27);
    let t29 = t28.xor(t22);
    let z14 = t29.and(y2);
    let z5 = t29.and(y7);
    let t30 = t23.xor(t24);
    let t32 = t31.and(t30);
    let t33 = t32.xor(t24);
    let t35 = t27.xor(t33);
    let t36 = t24.and(t35);
    let t38 = t27.xor(t36);
    let t39 = t29.and(t38);
    let t40 = t25.xor(t39);
    let t43 = t29.xor(t40);
    let z3 = t43.and(y16);
    let tc12 = z3.xor(z5);
    let z12 = t43.and(y13);
    let z13 = t40.and(y5);
    let z4 = t40.and(y1);
    let tc6 = z3.xor(z4);
    let t34 = t23.xor(t33);
    let t37 = t36.xor(t34);
    let t41 = t40.xor(t37);
    let z8 = t41.and(y10);
    let z17 = t41.and(y8);
    let t44 = t33.xor(t37);
    let z0 = t44.and(y15);
    let z9 = t44.and(y12);
    let z10 = t37.and(y3);
    let z1 = t37.and(y6);
    let tc5 = z1.xor(z0);
    let tc11 = tc6.xor(tc5);
    let z11 = t33.and(y4);
    let t42 = t29.xor(t33);
    let t45 = t42.xor(t41);
    let z7 = t45.and(y17);
    let tc8 = z7.xor(tc6);
    let z16 = t45.and(y14);
    let z6 = t42.and(y11);
    let tc16 = z6.xor(tc8);
    let z15 = t42.and(y9);
    let tc20 = z15.xor(tc16);
    let tc1 = z15.xor(z16);
    let tc2 = z10.xor(tc1);
    let tc21 = tc2.xor(z11);
    let tc3 = z9.xor(tc2);
    let s0 = tc3.xor(tc16);
    let s3 = tc3.xor(tc11);
    let s1 = s3.xor(tc16);
    let tc13 = z13.xor(tc1);
    let z2 = t33.and(u7);
    let tc4 = z0.xor(z2);
    let tc7 = z12.xor(tc4);
    let tc9 = z8.xor(tc7);
    let tc10 = tc8.xor(tc9);
    let tc17 = z14.xor(tc10);
    let s5 = tc21.xor(tc17);
    let tc26 = tc17.xor(tc20);
    let s2 = tc26.xor(z17);
    let tc14 = tc4.xor(tc12);
    let tc18 = tc13.xor(tc14);
    let s6 = tc10.xor(tc18);
    let s7 = z12.xor(tc18);
    let s4 = tc14.xor(s3);
    *s = [s7, s6, s5, s4, s3, s2, s1, s0];
}

#[inline(always)]
fn shift_rows<V: Simd>(s: &mut [V; 8]) {
    let sr = V::load(&SHIFT_ROWS);
    for x in s.iter_mut() {
        *x = x.tbl(sr);
    }
}

/// MixColumns: `out = 2·(a ^ rot1 a) ^ rot1 a ^ rot2(a ^ rot1 a)`, rows rotated with `ext`.
#[inline(always)]
fn mix_columns<V: Simd>(s: &mut [V; 8]) {
    let r1: [V; 8] = s.map(|a| a.ext::<4>(a));
    let b: [V; 8] = core::array::from_fn(|i| s[i].xor(r1[i]));
    // xtime(b): bit i <- bit i-1, and bit 7 folds into bits 0, 1, 3, 4 (0x11b).
    let x: [V; 8] = [
        b[7],
        b[0].xor(b[7]),
        b[1],
        b[2].xor(b[7]),
        b[3].xor(b[7]),
        b[4],
        b[5],
        b[6],
    ];
    for i in 0..8 {
        s[i] = x[i].xor(r1[i]).xor(b[i].ext::<8>(b[i]));
    }
}

#[inline(always)]
fn add_round_key<V: Simd>(s: &mut [V; 8], rk: &[[u8; 16]; 8]) {
    for (x, k) in s.iter_mut().zip(rk) {
        *x = x.xor(V::load(k));
    }
}

/// Encrypts 8 blocks (in AES byte order, as loaded from memory).
#[inline(always)]
pub(crate) fn encrypt8<V: Simd>(key: &BsKey, blocks: [V; 8]) -> [V; 8] {
    let mut s = bitslice(blocks);
    add_round_key(&mut s, &key.rk[0]);
    for rk in &key.rk[1..key.nr] {
        sub_bytes_nonot(&mut s);
        shift_rows(&mut s);
        mix_columns(&mut s);
        add_round_key(&mut s, rk);
    }
    sub_bytes_nonot(&mut s);
    shift_rows(&mut s);
    add_round_key(&mut s, &key.rk[key.nr]);
    unbitslice(s)
}

/// The AES S-box on all 16 bytes of one block, constant time (for the key schedule).
fn sub_block<V: Simd>(block: [u8; 16]) -> [u8; 16] {
    let mut s = bitslice([V::load(&block); 8]);
    sub_bytes_nonot(&mut s);
    unbitslice(s)[0].xor(V::splat(0x63)).to_bytes()
}

/// The standard AES key expansion (FIPS-197 5.2) for 16- or 32-byte keys, using the
/// constant-time bit-sliced S-box. Returns the round keys and the number of rounds.
pub(crate) fn expand_key<V: Simd>(key: &[u8]) -> Option<([[u8; 16]; 15], usize)> {
    let nk = match key.len() {
        16 => 4,
        32 => 8,
        _ => return None,
    };
    let nr = nk + 6;
    let mut w = [[0u8; 4]; 60];
    for (i, c) in key.chunks_exact(4).enumerate() {
        w[i].copy_from_slice(c);
    }
    let mut rcon = 1u8;
    for i in nk..4 * (nr + 1) {
        let mut t = w[i - 1];
        if i % nk == 0 || (nk > 6 && i % nk == 4) {
            if i % nk == 0 {
                t.rotate_left(1);
            }
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&t);
            t.copy_from_slice(&sub_block::<V>(b)[..4]);
            if i % nk == 0 {
                t[0] ^= rcon;
                // xtime on a public constant.
                rcon = (rcon << 1) ^ (if rcon & 0x80 != 0 { 0x1b } else { 0 });
            }
        }
        for j in 0..4 {
            w[i][j] = w[i - nk][j] ^ t[j];
        }
    }
    let mut rk = [[0u8; 16]; 15];
    for (r, k) in rk.iter_mut().enumerate().take(nr + 1) {
        for c in 0..4 {
            k[4 * c..4 * c + 4].copy_from_slice(&w[4 * r + c]);
        }
    }
    Some((rk, nr))
}

impl BsKey {
    /// Bit-sliced round keys for a 16- or 32-byte key.
    pub(crate) fn new<V: Simd>(key: &[u8]) -> Option<Self> {
        let (rk, nr) = expand_key::<V>(key)?;
        Some(Self::from_round_keys::<V>(&rk, nr))
    }

    /// Bit-slices standard round keys (0x63 folded into rounds 1..=nr).
    pub(crate) fn from_round_keys<V: Simd>(rk: &[[u8; 16]; 15], nr: usize) -> Self {
        let mut out = Self {
            rk: [[[0; 16]; 8]; 15],
            nr,
        };
        for (r, (dst, k)) in out.rk.iter_mut().zip(rk).enumerate().take(nr + 1) {
            let mut k = V::load(k);
            if r > 0 {
                k = k.xor(V::splat(0x63));
            }
            for (d, plane) in dst.iter_mut().zip(bitslice([k; 8])) {
                plane.store(d);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::backend::simd::Soft;
    use aes::cipher::{BlockCipherEncrypt, KeyInit};
    use std::vec::Vec;

    #[test]
    #[allow(clippy::needless_range_loop)] // Index arithmetic is the point here.
    fn bitslice_roundtrip() {
        let blocks: [Soft; 8] =
            core::array::from_fn(|b| Soft(core::array::from_fn(|i| (b * 37 + i * 11 + 5) as u8)));
        let s = bitslice(blocks);
        // Plane p, byte 4*r+c, bit b = bit p of byte 4*c+r of block b.
        for p in 0..8 {
            for j in 0..16 {
                let (r, c) = (j / 4, j % 4);
                for b in 0..8 {
                    let want = (blocks[b].0[4 * c + r] >> p) & 1;
                    assert_eq!((s[p].0[j] >> b) & 1, want);
                }
            }
        }
        assert_eq!(unbitslice(s), blocks);
    }

    #[test]
    fn sbox_matches_fips197() {
        // S(0x00) = 0x63, S(0x53) = 0xed, S(0xff) = 0x16.
        let out = sub_block::<Soft>([0x00, 0x53, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&out[..4], &[0x63, 0xed, 0x16, 0x7c]);
    }

    #[test]
    fn encrypt8_matches_rustcrypto() {
        for klen in [16usize, 32] {
            let key: Vec<u8> = (0..klen).map(|i| (i * 7 + 3) as u8).collect();
            let bk = BsKey::new::<Soft>(&key).unwrap();
            let blocks: [[u8; 16]; 8] =
                core::array::from_fn(|b| core::array::from_fn(|i| (b * 31 + i * 13) as u8));
            let out = encrypt8(&bk, blocks.map(Soft));
            for (b, o) in blocks.iter().zip(out) {
                let mut want = aes::Block::from(*b);
                if klen == 16 {
                    aes::Aes128::new_from_slice(&key)
                        .unwrap()
                        .encrypt_block(&mut want);
                } else {
                    aes::Aes256::new_from_slice(&key)
                        .unwrap()
                        .encrypt_block(&mut want);
                }
                assert_eq!(o.0, <[u8; 16]>::from(want), "key len {klen}");
            }
        }
    }
}
