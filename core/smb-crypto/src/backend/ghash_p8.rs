//! GHASH with 8-bit polynomial multiplies (NEON `pmull .8h, .8b, .8b`) for CPUs without the
//! 64-bit PMULL of the crypto extensions.
//!
//! Field elements are held byte-reversed, as 128-bit little-endian integers whose bit
//! `127 - i` is the coefficient of `x^i` (GHASH's reflected bit order). A 64x64-bit carry-less
//! product is assembled from 8 `pmull`s of one operand against the 8 byte-rotations of the
//! other (`P_k`, lane `m` = `a[m] * b[(m + k) % 8]`); a 128x128 product is 3 of those
//! (Karatsuba). Up to [`GROUP`] blocks are multiplied by `H^GROUP .. H^1` and their partial
//! products accumulated *before* the (linear) recombination of the lanes and the reduction,
//! which are then paid once per group. The low/high products and the middle products are
//! accumulated in two passes over the group so that the accumulators (16, then 8) stay in the
//! 32 NEON registers.
//!
//! Constant time: multiplications, XORs, fixed byte shifts and masks only.
//!
//! The 32-bit ARM backend (`backend/armv7.rs`) runs the same algorithm in NEON assembly
//! (`vmull.p8`) on [`GhashKey`]'s tables.

use super::gf128::{gf_mul, to_int, x_inv_mul};
use super::simd::Simd;

/// Byte reversal (`tbl` index).
const REV: [u8; 16] = [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
/// Byte reversal, then the low 64 bits in both halves.
const REV_LO2: [u8; 16] = [15, 14, 13, 12, 11, 10, 9, 8, 15, 14, 13, 12, 11, 10, 9, 8];
/// Byte reversal, then the high 64 bits in both halves.
const REV_HI2: [u8; 16] = [7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0];

/// `LOW[k]`: bytes `0 .. 16 - 2k` set: the 16-bit lanes of `P_k` that do not wrap.
pub(crate) const LOW: [[u8; 16]; 8] = {
    let mut m = [[0u8; 16]; 8];
    let mut k = 0;
    while k < 8 {
        let mut j = 0;
        while j < 16 - 2 * k {
            m[k][j] = 0xff;
            j += 1;
        }
        k += 1;
    }
    m
};

/// Blocks per aggregated reduction.
pub(crate) const GROUP: usize = 16;

/// Operand tables for `H^1 .. H^GROUP` (each pre-multiplied by `x^-1`, see
/// [`x_inv_mul`]). With `lo`, `hi` the 64-bit halves of a power and `mid = lo ^ hi`,
/// `[power-1][i]` for `i` in 0..4 is `rot_2i(lo) | rot_2i+1(lo)`, then the same for `hi`
/// (4..8) and `mid` (8..12): one `pmull` and one `pmull2` of an operand duplicated into both
/// halves use all 16 bytes.
#[derive(Clone)]
#[repr(align(16))] // Lets NEON load the tables with immediate offsets.
pub(crate) struct GhashKey {
    pub(crate) k: [[[u8; 16]; 12]; GROUP],
}

impl GhashKey {
    /// Tables for the hash key `h` (= E(K, 0^128), spec byte order).
    pub(crate) fn new(h: &[u8; 16]) -> Self {
        let h1 = to_int(h);
        let mut out = Self {
            k: [[[0; 16]; 12]; GROUP],
        };
        let mut p = h1;
        for t in &mut out.k {
            let bytes = x_inv_mul(p).to_le_bytes();
            let (lo, hi) = bytes.split_at(8);
            let mid: [u8; 8] = core::array::from_fn(|m| lo[m] ^ hi[m]);
            for (part, src) in [lo, hi, &mid[..]].into_iter().enumerate() {
                for i in 0..4 {
                    for m in 0..8 {
                        t[4 * part + i][m] = src[(m + 2 * i) % 8];
                        t[4 * part + i][8 + m] = src[(m + 2 * i + 1) % 8];
                    }
                }
            }
            p = gf_mul(p, h1);
        }
        out
    }
}

/// Recombines the 8 rotation products of a 64x64 multiply into the 128-bit product.
#[inline(always)]
fn fold<V: Simd>(p: &[V; 8]) -> V {
    let z = V::zero();
    macro_rules! term {
        ($k:literal) => {{
            let low = V::load(&LOW[$k]);
            // Lanes that did not wrap move up k bytes, the wrapped ones down 8 - k bytes.
            z.ext::<{ 16 - $k }>(p[$k].and(low))
                .xor(p[$k].andn(low).ext::<{ 8 - $k }>(z))
        }};
    }
    p[0].xor(term!(1))
        .xor(term!(2))
        .xor(term!(3))
        .xor(term!(4))
        .xor(term!(5))
        .xor(term!(6))
        .xor(term!(7))
}

/// Reduces the 256-bit product `hi:lo` modulo x^128 + x^7 + x^2 + x + 1 (reflected).
#[inline(always)]
fn reduce<V: Simd>(lo: V, hi: V) -> V {
    let z = V::zero();
    // Phase 1: the low 64 bits d0 fold into d1 (left shifts) and d2 (right shifts). The left
    // part of d1's own fold is computed here too: it does not depend on the update of d1.
    let t = lo.shl64::<57>().xor(lo.shl64::<62>()).xor(lo.shl64::<63>());
    let lo = lo.xor(z.ext::<8>(t));
    let hi = hi.xor(t.ext::<8>(z));
    // Phase 2: d0 -> d2 and d1 -> d3 (right shifts).
    hi.xor(lo)
        .xor(lo.shr64::<1>())
        .xor(lo.shr64::<2>())
        .xor(lo.shr64::<7>())
}

/// One 64x64-bit product per block (`part` 0: low halves, 1: high halves, 2: Karatsuba
/// middle), accumulated as 8 rotation products per block and recombined once.
#[inline(always)]
fn pass<V: Simd>(
    key: &GhashKey,
    n: usize,
    raw: &impl Fn(usize) -> V,
    part: usize,
    operand: impl Fn(V) -> V,
) -> V {
    let mut acc = [V::zero(); 8];
    for i in 0..n {
        let x = operand(raw(i));
        let t = &key.k[n - 1 - i][4 * part..4 * part + 4];
        for (j, k) in t.iter().enumerate() {
            let k = V::load(k);
            acc[2 * j] = acc[2 * j].xor(x.pmull_lo(k));
            acc[2 * j + 1] = acc[2 * j + 1].xor(x.pmull_hi(k));
        }
    }
    fold(&acc)
}

/// `y = (y ^ X_1) * H^n ^ X_2 * H^(n-1) ^ ... ^ X_n * H` for up to [`GROUP`] full blocks.
#[inline(always)]
fn group<V: Simd>(key: &GhashKey, y: V, data: &[u8]) -> V {
    let rev = V::load(&REV);
    let z = V::zero();
    let n = data.len() / 16;
    // Y is added to the first block in memory byte order, before the reversal.
    let yraw = y.tbl(rev);
    let raw = |i: usize| {
        let r = V::load(data[16 * i..16 * i + 16].try_into().expect("16 bytes"));
        if i == 0 {
            r.xor(yraw)
        } else {
            r
        }
    };
    let (rev_lo2, rev_hi2) = (V::load(&REV_LO2), V::load(&REV_HI2));
    let lo = pass(key, n, &raw, 0, |r| r.tbl(rev_lo2));
    let hi = pass(key, n, &raw, 1, |r| r.tbl(rev_hi2));
    let mid = pass(key, n, &raw, 2, |r| r.xor(r.ext::<8>(r)).tbl(rev_lo2));
    let mid = mid.xor(lo).xor(hi);
    reduce(lo.xor(z.ext::<8>(mid)), hi.xor(mid.ext::<8>(z)))
}

/// GHASH update over full 16-byte blocks (`data.len()` a multiple of 16).
#[inline(always)]
pub(crate) fn ghash<V: Simd>(key: &GhashKey, y: &mut [u8; 16], data: &[u8]) {
    let rev = V::load(&REV);
    let mut acc = V::load(y).tbl(rev);
    let mut chunks = data.chunks_exact(16 * GROUP);
    for c in &mut chunks {
        acc = group(key, acc, c);
    }
    let rest = chunks.remainder();
    if rest.len() >= 16 {
        acc = group(key, acc, &rest[..rest.len() / 16 * 16]);
    }
    acc.tbl(rev).store(y);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::backend::simd::Soft;
    use std::vec::Vec;

    /// Reference: one block at a time with the bit-serial multiply.
    fn ghash_ref(h: &[u8; 16], y: &mut [u8; 16], data: &[u8]) {
        let hh = to_int(h);
        let mut acc = to_int(y);
        for b in data.chunks_exact(16) {
            acc = gf_mul(acc ^ to_int(b.try_into().unwrap()), hh);
        }
        let mut out = acc.to_le_bytes();
        out.reverse();
        *y = out;
    }

    #[test]
    fn p8_ghash_matches_reference() {
        let h: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(73) ^ 0xA5);
        let key = GhashKey::new(&h);
        let data: Vec<u8> = (0..16 * 37).map(|i| (i * 131 + 7) as u8).collect();
        for blocks in [0usize, 1, 2, 7, 8, 9, 15, 16, 17, 37] {
            let mut y1 = [0x3c; 16];
            let mut y2 = y1;
            ghash::<Soft>(&key, &mut y1, &data[..16 * blocks]);
            ghash_ref(&h, &mut y2, &data[..16 * blocks]);
            assert_eq!(y1, y2, "{blocks} blocks");
        }
    }
}
