//! AArch64 NEON implementation of [`Simd`]: every operation is one instruction.
//!
//! NEON (Advanced SIMD) is mandatory in AArch64 and enabled in the baseline of every aarch64
//! Rust target (`cfg(target_feature = "neon")`), but the intrinsics are `#[target_feature]`
//! functions that Rust only lets safe code call from functions carrying the attribute, which
//! trait methods cannot. Hence the one-line `unsafe` blocks; nothing else here is unsafe.
#![allow(unsafe_code)]

use super::simd::Simd;
use core::arch::aarch64::{
    uint8x16_t, vandq_u8, vbicq_u8, vdupq_n_u8, veorq_u8, vextq_u8, vget_low_p8, vld1q_u8,
    vmull_high_p8, vmull_p8, vqtbl1q_u8, vreinterpretq_p8_u8, vreinterpretq_u64_u8,
    vreinterpretq_u8_p16, vreinterpretq_u8_u64, vshlq_n_u64, vshrq_n_u64, vshrq_n_u8, vst1q_u8,
};

#[cfg(not(target_feature = "neon"))]
compile_error!("the aarch64 NEON backend needs the neon target feature (baseline on aarch64)");

/// One NEON Q register.
#[derive(Clone, Copy)]
pub(crate) struct Neon(uint8x16_t);

impl Simd for Neon {
    #[inline(always)]
    fn zero() -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target (checked above).
        Self(unsafe { vdupq_n_u8(0) })
    }
    #[inline(always)]
    fn splat(b: u8) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target (checked above).
        Self(unsafe { vdupq_n_u8(b) })
    }
    #[inline(always)]
    fn load(b: &[u8; 16]) -> Self {
        // SAFETY: `b` is valid for 16 bytes of reads (`ld1` needs no alignment); NEON is
        // enabled for the whole aarch64 target.
        Self(unsafe { vld1q_u8(b.as_ptr()) })
    }
    #[inline(always)]
    fn store(self, out: &mut [u8; 16]) {
        // SAFETY: `out` is valid for 16 bytes of writes (`st1` needs no alignment); NEON is
        // enabled for the whole aarch64 target.
        unsafe { vst1q_u8(out.as_mut_ptr(), self.0) }
    }
    #[inline(always)]
    fn xor(self, o: Self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe { veorq_u8(self.0, o.0) })
    }
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe { vandq_u8(self.0, o.0) })
    }
    #[inline(always)]
    fn andn(self, o: Self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe { vbicq_u8(self.0, o.0) })
    }
    #[inline(always)]
    fn tbl(self, idx: Self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe { vqtbl1q_u8(self.0, idx.0) })
    }
    #[inline(always)]
    fn ext<const N: i32>(self, o: Self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe { vextq_u8::<N>(self.0, o.0) })
    }
    #[inline(always)]
    fn shr64<const N: i32>(self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe { vreinterpretq_u8_u64(vshrq_n_u64::<N>(vreinterpretq_u64_u8(self.0))) })
    }
    #[inline(always)]
    fn shl64<const N: i32>(self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe { vreinterpretq_u8_u64(vshlq_n_u64::<N>(vreinterpretq_u64_u8(self.0))) })
    }
    #[inline(always)]
    fn hi_nibbles(self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe { vshrq_n_u8::<4>(self.0) })
    }
    #[inline(always)]
    fn pmull_lo(self, o: Self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target (`pmull .8b` is base NEON,
        // unlike the 64-bit `pmull .1q` of the crypto extension).
        Self(unsafe {
            let a = vreinterpretq_p8_u8(self.0);
            let b = vreinterpretq_p8_u8(o.0);
            vreinterpretq_u8_p16(vmull_p8(vget_low_p8(a), vget_low_p8(b)))
        })
    }
    #[inline(always)]
    fn pmull_hi(self, o: Self) -> Self {
        // SAFETY: NEON is enabled for the whole aarch64 target.
        Self(unsafe {
            vreinterpretq_u8_p16(vmull_high_p8(
                vreinterpretq_p8_u8(self.0),
                vreinterpretq_p8_u8(o.0),
            ))
        })
    }
}

/// The NEON (no crypto extensions) kernel.
pub(crate) type NeonKernel = super::vec::VecKernel<Neon>;
