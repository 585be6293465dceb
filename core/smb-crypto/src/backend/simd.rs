//! The 128-bit vector operations the NEON algorithms (`bitsliced`, `vperm`, `ghash_p8`) are
//! written against.
//!
//! Every operation is one AArch64 instruction (`eor`, `and`, `bic`, `tbl`, `ext`, `ushr`,
//! `shl`, `pmull`/`pmull2` on bytes), none of them has data-dependent timing, and none reads
//! memory at a secret-dependent address: `tbl` permutes registers.
//!
//! [`Soft`] implements the same operations in plain Rust so the algorithms can be tested
//! natively on any host (`cargo test` on x86_64) against RustCrypto; `backend/neon.rs`
//! implements them with `core::arch::aarch64` intrinsics. The 32-bit ARM backend
//! (`backend/armv7.rs`, hand-written NEON assembly) also runs the vector-permute key schedule
//! through [`Soft`], which is why its `tbl` and `pmull` are branch-free and index no memory
//! with secret data.

/// A 128-bit vector of 16 bytes (byte 0 = least significant, as on little-endian AArch64).
pub(crate) trait Simd: Copy {
    /// All-zero vector.
    fn zero() -> Self;
    /// Every byte `b`.
    fn splat(b: u8) -> Self;
    /// Loads 16 bytes.
    fn load(b: &[u8; 16]) -> Self;
    /// Stores 16 bytes.
    fn store(self, out: &mut [u8; 16]);
    /// `self ^ o`.
    #[must_use]
    fn xor(self, o: Self) -> Self;
    /// `self & o`.
    #[must_use]
    fn and(self, o: Self) -> Self;
    /// `self & !o` (NEON `bic`).
    #[must_use]
    fn andn(self, o: Self) -> Self;
    /// Byte permutation with `self` as the table: `out[i] = self[idx[i]]` if `idx[i] < 16`,
    /// else 0 (NEON `tbl`; SSSE3 `pshufb` agrees for indices < 16 and >= 0x80).
    #[must_use]
    fn tbl(self, idx: Self) -> Self;
    /// Bytes `N..N+16` of the 32-byte concatenation `self || o` (NEON `ext`).
    #[must_use]
    fn ext<const N: i32>(self, o: Self) -> Self;
    /// Logical right shift of each 64-bit lane by `N`.
    #[must_use]
    fn shr64<const N: i32>(self) -> Self;
    /// Left shift of each 64-bit lane by `N`.
    #[must_use]
    fn shl64<const N: i32>(self) -> Self;
    /// Logical right shift of each byte by 4 (the high nibble).
    #[must_use]
    fn hi_nibbles(self) -> Self;
    /// Carry-less products of the low 8 bytes, byte by byte: 16-bit lane `m` is
    /// `clmul(self[m], o[m])` (NEON `pmull .8h, .8b, .8b`).
    #[must_use]
    fn pmull_lo(self, o: Self) -> Self;
    /// The same for the high 8 bytes (NEON `pmull2`).
    #[must_use]
    fn pmull_hi(self, o: Self) -> Self;

    /// The 16 bytes.
    fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        self.store(&mut out);
        out
    }
}

/// Portable model of [`Simd`], for testing the NEON algorithms on any host (and for the key
/// schedule of the armv7 backend): constant time, no secret-dependent branch or address.
#[cfg(any(test, target_arch = "arm"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Soft(pub(crate) [u8; 16]);

#[cfg(any(test, target_arch = "arm"))]
impl Soft {
    fn lanes64(self) -> [u64; 2] {
        let (lo, hi) = self.0.split_at(8);
        [
            u64::from_le_bytes(lo.try_into().expect("8 bytes")),
            u64::from_le_bytes(hi.try_into().expect("8 bytes")),
        ]
    }
    fn from_lanes64(l: [u64; 2]) -> Self {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&l[0].to_le_bytes());
        out[8..].copy_from_slice(&l[1].to_le_bytes());
        Self(out)
    }
    fn map2(self, o: Self, f: impl Fn(u8, u8) -> u8) -> Self {
        Self(core::array::from_fn(|i| f(self.0[i], o.0[i])))
    }
    fn pmull8(a: &[u8], b: &[u8]) -> Self {
        let mut out = [0u8; 16];
        for m in 0..8 {
            let mut p = 0u16;
            for bit in 0..8 {
                let mask = 0u16.wrapping_sub(u16::from((b[m] >> bit) & 1));
                p ^= (u16::from(a[m]) << bit) & mask;
            }
            out[2 * m..2 * m + 2].copy_from_slice(&p.to_le_bytes());
        }
        Self(out)
    }
}

#[cfg(any(test, target_arch = "arm"))]
impl Simd for Soft {
    fn zero() -> Self {
        Self([0; 16])
    }
    fn splat(b: u8) -> Self {
        Self([b; 16])
    }
    fn load(b: &[u8; 16]) -> Self {
        Self(*b)
    }
    fn store(self, out: &mut [u8; 16]) {
        *out = self.0;
    }
    fn xor(self, o: Self) -> Self {
        self.map2(o, |a, b| a ^ b)
    }
    fn and(self, o: Self) -> Self {
        self.map2(o, |a, b| a & b)
    }
    fn andn(self, o: Self) -> Self {
        self.map2(o, |a, b| a & !b)
    }
    fn tbl(self, idx: Self) -> Self {
        // Reads all 16 entries and keeps the matching one by mask (no secret-indexed load, no
        // branch): indices >= 16 match nothing and give 0.
        Self(core::array::from_fn(|i| {
            let mut out = 0u8;
            for (j, &v) in self.0.iter().enumerate() {
                let d = u32::from(idx.0[i] ^ j as u8);
                // d.wrapping_sub(1) has its top bit set exactly when d == 0.
                let hit = (d.wrapping_sub(1) >> 31) as u8;
                out |= v & 0u8.wrapping_sub(hit);
            }
            out
        }))
    }
    fn ext<const N: i32>(self, o: Self) -> Self {
        let n = usize::try_from(N).expect("0..16");
        Self(core::array::from_fn(|i| {
            if i + n < 16 {
                self.0[i + n]
            } else {
                o.0[i + n - 16]
            }
        }))
    }
    fn shr64<const N: i32>(self) -> Self {
        let l = self.lanes64();
        Self::from_lanes64([l[0] >> N, l[1] >> N])
    }
    fn shl64<const N: i32>(self) -> Self {
        let l = self.lanes64();
        Self::from_lanes64([l[0] << N, l[1] << N])
    }
    fn hi_nibbles(self) -> Self {
        Self(self.0.map(|b| b >> 4))
    }
    fn pmull_lo(self, o: Self) -> Self {
        Self::pmull8(&self.0[..8], &o.0[..8])
    }
    fn pmull_hi(self, o: Self) -> Self {
        Self::pmull8(&self.0[8..], &o.0[8..])
    }
}
