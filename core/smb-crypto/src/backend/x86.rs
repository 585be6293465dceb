//! x86_64 backend: AES-NI + PCLMULQDQ (+ SSSE3 `pshufb`, SSE4.1).
//!
//! GCM is one pass: each 8-block iteration runs the AES rounds of 8 counter blocks
//! interleaved with the GHASH multiplications of 8 ciphertext blocks (the previous
//! iteration's when encrypting, the current ones when decrypting) by `H^8 .. H^1`
//! (Karatsuba, one reduction per 8 blocks). CCM interleaves each CBC-MAC block with a CTR
//! block; CMAC is plain serial CBC-MAC.
//!
//! On CPUs with VPCLMULQDQ and AVX2 (Ice Lake, Zen 3 and later) GHASH (GMAC signing, the
//! GHASH of GCM's AAD and tails) runs on 256-bit registers: 16 blocks per iteration in 8
//! registers, two Karatsuba products per `vpclmulqdq` against precomputed pairs of powers of H
//! (`H^16 .. H^1`), one reduction per iteration. With VAES as well the GCM loop runs on 256-bit
//! registers too: two blocks per `vaesenc`, the GHASH of 16 blocks interleaved with the AES
//! rounds. Only AVX2-width (`ymm`) instructions are used, no AVX-512 (`zmm` use can lower the
//! clock of some CPUs, and Zen 3 / Alder Lake have VAES and VPCLMULQDQ without AVX-512).
//!
//! This is the only x86 module with `unsafe`: calling the `#[target_feature]` functions
//! (sound because an [`AesNi`] can only be built after [`supported`] saw the features, and
//! its [`Wide`] keys only after [`wide_features`] saw AVX2 and VPCLMULQDQ, with the `vaes`
//! flag only set if VAES was seen too), CPUID (an `unsafe` intrinsic in older Rust), and
//! unaligned loads/stores from references.
#![allow(unsafe_code)]

use super::gf128::{to_int, x_inv_mul};
use super::modes::Kernel;
use core::arch::x86_64::{
    __cpuid_count, __m128i, __m256i, _mm256_add_epi32, _mm256_aesenc_epi128,
    _mm256_aesenclast_epi128, _mm256_broadcastsi128_si256, _mm256_castsi256_si128,
    _mm256_clmulepi64_epi128, _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_set_epi32,
    _mm256_set_m128i, _mm256_setzero_si256, _mm256_shuffle_epi32, _mm256_shuffle_epi8,
    _mm256_storeu_si256, _mm256_xor_si256, _mm256_zextsi128_si256, _mm_add_epi32, _mm_aesenc_si128,
    _mm_aesenclast_si128, _mm_aeskeygenassist_si128, _mm_clmulepi64_si128, _mm_loadu_si128,
    _mm_set_epi32, _mm_set_epi64x, _mm_setr_epi8, _mm_setzero_si128, _mm_shuffle_epi32,
    _mm_shuffle_epi8, _mm_slli_si128, _mm_srli_si128, _mm_storeu_si128, _mm_xor_si128,
};
use core::sync::atomic::{AtomicU8, Ordering};

cpufeatures::new!(aesni_cpuid, "aes", "pclmulqdq", "ssse3", "sse4.1");

/// Whether the CPU has AES-NI, PCLMULQDQ, SSSE3 and SSE4.1 (CPUID, cached by `cpufeatures`;
/// CPUID traps in VMs).
pub(crate) fn supported() -> bool {
    aesni_cpuid::get()
}

cpufeatures::new!(avx2_cpuid, "avx2");

/// What the wide (256-bit) paths can use on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WideFeatures {
    /// AVX2 and VPCLMULQDQ (OS support for the `ymm` state included): the wide GHASH.
    pub(crate) vpclmul: bool,
    /// VAES as well: the wide GCM loop.
    pub(crate) vaes: bool,
}

/// The CPU's [`WideFeatures`] (computed once, then cached).
///
/// `cpufeatures` ties `vaes` and `vpclmulqdq` to the OS's AVX-512 (`zmm`) state, which CPUs
/// without AVX-512 (Zen 3, Alder Lake) never report, so only AVX2 (CPUID and the `ymm` state in
/// XCR0) goes through it; the VAES and VPCLMULQDQ bits (CPUID.(EAX=7,ECX=0):ECX bits 9 and 10)
/// are read here.
pub(crate) fn wide_features() -> WideFeatures {
    const UNSET: u8 = 0xFF;
    static CACHE: AtomicU8 = AtomicU8::new(UNSET);
    let bits = match CACHE.load(Ordering::Relaxed) {
        UNSET => {
            let bits = if avx2_cpuid::get() {
                // AVX2 was seen in CPUID leaf 7, so the CPU has that leaf.
                // SAFETY: CPUID exists on every x86_64 CPU. (The intrinsic is a safe function
                // in recent Rust, not yet in the crate's MSRV 1.89.)
                #[allow(unused_unsafe)]
                let ecx = unsafe { __cpuid_count(7, 0) }.ecx;
                let vpclmul = u8::from(ecx & (1 << 10) != 0);
                vpclmul | (vpclmul & u8::from(ecx & (1 << 9) != 0)) << 1
            } else {
                0
            };
            CACHE.store(bits, Ordering::Relaxed);
            bits
        }
        bits => bits,
    };
    WideFeatures {
        vpclmul: bits & 1 != 0,
        vaes: bits & 2 != 0,
    }
}

/// The backend's name with the 256-bit paths this CPU takes, for logs: `x86-aesni` (AES-NI
/// and PCLMULQDQ only), `x86-aesni-vpclmul` (256-bit GHASH) or `x86-aesni-vaes-vpclmul`
/// (256-bit GHASH and GCM).
pub(crate) fn path_name() -> &'static str {
    match wide_features() {
        _ if !supported() => "x86-aesni",
        WideFeatures { vaes: true, .. } => "x86-aesni-vaes-vpclmul",
        WideFeatures { vpclmul: true, .. } => "x86-aesni-vpclmul",
        _ => "x86-aesni",
    }
}

/// Expanded AES key and GHASH key powers. Only constructible through [`AesNi::new`], which
/// checks [`supported`]: holding one proves the target features are present.
#[derive(Clone, Copy)]
pub(crate) struct AesNi {
    rk: [__m128i; 15],
    nr: usize,
    /// `H^1 .. H^16`, reflected and multiplied by `x^-1`.
    h: [__m128i; 16],
    /// `lo ^ hi` of each power in the low 64 bits (Karatsuba middle operand).
    hk: [__m128i; 16],
    /// The powers for the 256-bit paths, present iff the key has GHASH powers and
    /// [`wide_features`] saw VPCLMULQDQ: holding one proves AVX2 and VPCLMULQDQ.
    wide: Option<Wide>,
}

/// GHASH key powers in pairs for the 256-bit paths, built by [`wide_keys`] only.
#[derive(Clone, Copy)]
pub(crate) struct Wide {
    /// Register `j` multiplies blocks `2j` (low lane) and `2j + 1` (high lane) of a 16-block
    /// group: `H^(16-2j)` and `H^(15-2j)`.
    hw: [__m256i; 8],
    /// The Karatsuba middle operands of `hw` (as `hk`).
    hkw: [__m256i; 8],
    /// VAES was seen too ([`WideFeatures::vaes`]): the 256-bit GCM loop may run.
    vaes: bool,
}

/// Loads 16 bytes (no alignment needed).
#[inline(always)]
fn ld(b: &[u8]) -> __m128i {
    let b: &[u8; 16] = b.first_chunk().expect("16 bytes");
    // SAFETY: `b` is a valid reference to 16 readable bytes; `loadu` has no alignment
    // requirement, and SSE2 is part of the x86_64 baseline.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// Stores 16 bytes (no alignment needed).
#[inline(always)]
fn st(out: &mut [u8], v: __m128i) {
    let out: &mut [u8; 16] = out.first_chunk_mut().expect("16 bytes");
    // SAFETY: `out` is a valid exclusive reference to 16 writable bytes; `storeu` has no
    // alignment requirement, and SSE2 is part of the x86_64 baseline.
    unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), v) }
}

#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn rev_mask() -> __m128i {
    _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
}

/// `k ^ (k << 32) ^ (k << 64) ^ (k << 96)`.
#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn prefix_xor(k: __m128i) -> __m128i {
    let k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
    _mm_xor_si128(k, _mm_slli_si128::<8>(k))
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn expand_key(key: &[u8]) -> Option<([__m128i; 15], usize)> {
    let mut rk = [_mm_setzero_si128(); 15];
    macro_rules! a {
        ($prev:expr, $from:expr, $rc:literal) => {
            _mm_xor_si128(
                prefix_xor($prev),
                _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rc>($from)),
            )
        };
    }
    macro_rules! b {
        ($prev:expr, $from:expr) => {
            _mm_xor_si128(
                prefix_xor($prev),
                _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>($from)),
            )
        };
    }
    match key.len() {
        16 => {
            rk[0] = ld(key);
            rk[1] = a!(rk[0], rk[0], 0x01);
            rk[2] = a!(rk[1], rk[1], 0x02);
            rk[3] = a!(rk[2], rk[2], 0x04);
            rk[4] = a!(rk[3], rk[3], 0x08);
            rk[5] = a!(rk[4], rk[4], 0x10);
            rk[6] = a!(rk[5], rk[5], 0x20);
            rk[7] = a!(rk[6], rk[6], 0x40);
            rk[8] = a!(rk[7], rk[7], 0x80);
            rk[9] = a!(rk[8], rk[8], 0x1b);
            rk[10] = a!(rk[9], rk[9], 0x36);
            Some((rk, 10))
        }
        32 => {
            rk[0] = ld(&key[..16]);
            rk[1] = ld(&key[16..]);
            rk[2] = a!(rk[0], rk[1], 0x01);
            rk[3] = b!(rk[1], rk[2]);
            rk[4] = a!(rk[2], rk[3], 0x02);
            rk[5] = b!(rk[3], rk[4]);
            rk[6] = a!(rk[4], rk[5], 0x04);
            rk[7] = b!(rk[5], rk[6]);
            rk[8] = a!(rk[6], rk[7], 0x08);
            rk[9] = b!(rk[7], rk[8]);
            rk[10] = a!(rk[8], rk[9], 0x10);
            rk[11] = b!(rk[9], rk[10]);
            rk[12] = a!(rk[10], rk[11], 0x20);
            rk[13] = b!(rk[11], rk[12]);
            rk[14] = a!(rk[12], rk[13], 0x40);
            Some((rk, 14))
        }
        _ => None,
    }
}

#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn aes1(rk: &[__m128i; 15], nr: usize, b: __m128i) -> __m128i {
    let mut b = _mm_xor_si128(b, rk[0]);
    for k in &rk[1..nr] {
        b = _mm_aesenc_si128(b, *k);
    }
    _mm_aesenclast_si128(b, rk[nr])
}

#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn aes8<const NR: usize>(rk: &[__m128i; 15], mut b: [__m128i; 8]) -> [__m128i; 8] {
    for x in &mut b {
        *x = _mm_xor_si128(*x, rk[0]);
    }
    for k in &rk[1..NR] {
        for x in &mut b {
            *x = _mm_aesenc_si128(*x, *k);
        }
    }
    for x in &mut b {
        *x = _mm_aesenclast_si128(*x, rk[NR]);
    }
    b
}

/// Karatsuba partial products of `a * h`, accumulated into `(lo, hi, mid)`.
#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn mul_acc(acc: &mut [__m128i; 3], a: __m128i, h: __m128i, hk: __m128i) {
    acc[0] = _mm_xor_si128(acc[0], _mm_clmulepi64_si128::<0x00>(a, h));
    acc[1] = _mm_xor_si128(acc[1], _mm_clmulepi64_si128::<0x11>(a, h));
    let am = _mm_xor_si128(a, _mm_shuffle_epi32::<0x4e>(a));
    acc[2] = _mm_xor_si128(acc[2], _mm_clmulepi64_si128::<0x00>(am, hk));
}

/// Recombines the Karatsuba terms and reduces modulo the GHASH polynomial.
#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn finish(acc: [__m128i; 3]) -> __m128i {
    let [lo, hi, mid] = acc;
    let mid = _mm_xor_si128(mid, _mm_xor_si128(lo, hi));
    let lo = _mm_xor_si128(lo, _mm_slli_si128::<8>(mid));
    let hi = _mm_xor_si128(hi, _mm_srli_si128::<8>(mid));
    // Two folds of the low 64 bits by x^63 + x^62 + x^57 (the reflected polynomial).
    let q = _mm_set_epi64x(0xC200_0000_0000_0000_u64 as i64, 0);
    let t = _mm_clmulepi64_si128::<0x10>(lo, q);
    let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    let t = _mm_clmulepi64_si128::<0x10>(lo, q);
    let lo = _mm_xor_si128(_mm_shuffle_epi32::<0x4e>(lo), t);
    _mm_xor_si128(hi, lo)
}

/// `acc = (acc ^ b_0) H^n ^ b_1 H^(n-1) ^ ... ^ b_(n-1) H` for the byte-reversed blocks.
#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn ghash_n(k: &AesNi, acc: __m128i, blocks: &[__m128i]) -> __m128i {
    let n = blocks.len();
    let z = _mm_setzero_si128();
    let mut t = [z; 3];
    for (i, b) in blocks.iter().enumerate() {
        let b = if i == 0 { _mm_xor_si128(*b, acc) } else { *b };
        mul_acc(&mut t, b, k.h[n - 1 - i], k.hk[n - 1 - i]);
    }
    finish(t)
}

/// GHASH of whole blocks on 128-bit registers, 8 blocks per reduction; `acc` byte-reversed.
#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn ghash_acc(k: &AesNi, mut acc: __m128i, data: &[u8]) -> __m128i {
    let rev = rev_mask();
    for c in data.chunks(128) {
        let n = c.len() / 16;
        let mut b = [_mm_setzero_si128(); 8];
        for (dst, src) in b.iter_mut().zip(c.chunks_exact(16)) {
            *dst = _mm_shuffle_epi8(ld(src), rev);
        }
        acc = ghash_n(k, acc, &b[..n]);
    }
    acc
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn ghash_impl(k: &AesNi, y: &mut [u8; 16], data: &[u8]) {
    let rev = rev_mask();
    let acc = ghash_acc(k, _mm_shuffle_epi8(ld(y), rev), data);
    st(y, _mm_shuffle_epi8(acc, rev));
}

/// The next 8 counter blocks from the byte-reversed counter `c` (inc32 on its low word).
#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn counters8(c: &mut __m128i, rev: __m128i) -> [__m128i; 8] {
    let mut out = [_mm_setzero_si128(); 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = _mm_shuffle_epi8(_mm_add_epi32(*c, _mm_set_epi32(0, 0, 0, i as i32)), rev);
    }
    *c = _mm_add_epi32(*c, _mm_set_epi32(0, 0, 0, 8));
    out
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn ctr32_impl(k: &AesNi, ctr: &mut [u8; 16], data: &mut [u8]) {
    let rev = rev_mask();
    let one = _mm_set_epi32(0, 0, 0, 1);
    let mut c = _mm_shuffle_epi8(ld(ctr), rev);
    let mut chunks = data.chunks_exact_mut(128);
    for chunk in &mut chunks {
        let ks = if k.nr == 10 {
            aes8::<10>(&k.rk, counters8(&mut c, rev))
        } else {
            aes8::<14>(&k.rk, counters8(&mut c, rev))
        };
        for (blk, s) in chunk.chunks_exact_mut(16).zip(ks) {
            st(blk, _mm_xor_si128(ld(blk), s));
        }
    }
    for blk in chunks.into_remainder().chunks_exact_mut(16) {
        let s = aes1(&k.rk, k.nr, _mm_shuffle_epi8(c, rev));
        c = _mm_add_epi32(c, one);
        st(blk, _mm_xor_si128(ld(blk), s));
    }
    st(ctr, _mm_shuffle_epi8(c, rev));
}

/// One-pass GCM over whole 128-byte chunks; returns how many bytes it processed.
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn gcm_fused<const NR: usize, const ENCRYPT: bool>(
    k: &AesNi,
    ctr: &mut [u8; 16],
    y: &mut [u8; 16],
    data: &mut [u8],
) -> usize {
    let rev = rev_mask();
    let z = _mm_setzero_si128();
    let mut c = _mm_shuffle_epi8(ld(ctr), rev);
    let mut acc = _mm_shuffle_epi8(ld(y), rev);
    // Byte-reversed ciphertext blocks waiting to be hashed.
    let mut pending = [z; 8];
    let mut have_pending = false;
    let done = data.len() / 128 * 128;
    for chunk in data[..done].chunks_exact_mut(128) {
        let mut b = counters8(&mut c, rev);
        let mut input = [z; 8];
        for (i, x) in input.iter_mut().enumerate() {
            *x = ld(&chunk[16 * i..]);
        }
        if !ENCRYPT {
            // Hash this chunk's ciphertext while decrypting it.
            pending = input.map(|x| _mm_shuffle_epi8(x, rev));
            have_pending = true;
        }
        for x in &mut b {
            *x = _mm_xor_si128(*x, k.rk[0]);
        }
        let mut t = [z; 3];
        if have_pending {
            pending[0] = _mm_xor_si128(pending[0], acc);
        }
        for r in 1..NR {
            for x in &mut b {
                *x = _mm_aesenc_si128(*x, k.rk[r]);
            }
            if have_pending && r <= 8 {
                mul_acc(&mut t, pending[r - 1], k.h[8 - r], k.hk[8 - r]);
            }
        }
        if have_pending {
            acc = finish(t);
        }
        for (i, x) in b.iter_mut().enumerate() {
            *x = _mm_xor_si128(_mm_aesenclast_si128(*x, k.rk[NR]), input[i]);
            st(&mut chunk[16 * i..], *x);
        }
        if ENCRYPT {
            pending = b.map(|x| _mm_shuffle_epi8(x, rev));
            have_pending = true;
        }
    }
    if ENCRYPT && have_pending {
        acc = ghash_n(k, acc, &pending);
    }
    st(ctr, _mm_shuffle_epi8(c, rev));
    st(y, _mm_shuffle_epi8(acc, rev));
    done
}

/// Loads 32 bytes (no alignment needed).
#[inline]
#[target_feature(enable = "avx")]
fn ld256(b: &[u8]) -> __m256i {
    let b: &[u8; 32] = b.first_chunk().expect("32 bytes");
    // SAFETY: `b` is a valid reference to 32 readable bytes; `loadu` has no alignment
    // requirement; AVX is enabled for this function.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Stores 32 bytes (no alignment needed).
#[inline]
#[target_feature(enable = "avx")]
fn st256(out: &mut [u8], v: __m256i) {
    let out: &mut [u8; 32] = out.first_chunk_mut().expect("32 bytes");
    // SAFETY: `out` is a valid exclusive reference to 32 writable bytes; `storeu` has no
    // alignment requirement; AVX is enabled for this function.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) }
}

/// [`mul_acc`] on two blocks at once: the Karatsuba partial products of the blocks in `p`
/// by the powers in `h` (middle operands in `hk`), accumulated into `(lo, hi, mid)`.
#[inline]
#[target_feature(enable = "avx,avx2,vpclmulqdq")]
fn mul_acc2(acc: &mut [__m256i; 3], p: __m256i, h: __m256i, hk: __m256i) {
    acc[0] = _mm256_xor_si256(acc[0], _mm256_clmulepi64_epi128::<0x00>(p, h));
    acc[1] = _mm256_xor_si256(acc[1], _mm256_clmulepi64_epi128::<0x11>(p, h));
    let pm = _mm256_xor_si256(p, _mm256_shuffle_epi32::<0x4e>(p));
    acc[2] = _mm256_xor_si256(acc[2], _mm256_clmulepi64_epi128::<0x00>(pm, hk));
}

/// [`finish`] of two-lane accumulators: adds the lanes (the sum of the products is linear),
/// then one reduction.
#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1,avx,avx2,vpclmulqdq")]
fn finish2(acc: [__m256i; 3]) -> __m128i {
    finish(acc.map(|v| _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))))
}

/// `(p_0 ^ acc) H^16 ^ p_1 H^15 ^ ... ^ p_15 H` for 16 byte-reversed blocks held in pairs
/// (block `2j` in the low lane of `p[j]`), one reduction.
#[inline]
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1,avx,avx2,vpclmulqdq")]
fn ghash16(w: &Wide, acc: __m128i, p: &[__m256i; 8]) -> __m128i {
    let mut t = [_mm256_setzero_si256(); 3];
    // The pairs that do not depend on `acc` first: their products can overlap the reduction
    // that produces `acc`.
    for ((p, h), hk) in p.iter().zip(&w.hw).zip(&w.hkw).skip(1) {
        mul_acc2(&mut t, *p, *h, *hk);
    }
    let p0 = _mm256_xor_si256(p[0], _mm256_zextsi128_si256(acc));
    mul_acc2(&mut t, p0, w.hw[0], w.hkw[0]);
    finish2(t)
}

/// GHASH on 256-bit registers: 16 blocks per reduction, the remaining (up to 15) blocks on the
/// 128-bit path.
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1,avx,avx2,vpclmulqdq")]
fn ghash_wide(k: &AesNi, w: &Wide, y: &mut [u8; 16], data: &[u8]) {
    let rev1 = rev_mask();
    let rev = _mm256_broadcastsi128_si256(rev1);
    let mut acc = _mm_shuffle_epi8(ld(y), rev1);
    let mut groups = data.chunks_exact(256);
    for g in &mut groups {
        let p: [__m256i; 8] =
            core::array::from_fn(|j| _mm256_shuffle_epi8(ld256(&g[32 * j..]), rev));
        acc = ghash16(w, acc, &p);
    }
    acc = ghash_acc(k, acc, groups.remainder());
    st(y, _mm_shuffle_epi8(acc, rev1));
}

/// The pairs of powers of H for [`Wide`].
#[target_feature(enable = "avx,avx2")]
fn wide_keys(k: &AesNi, vaes: bool) -> Wide {
    Wide {
        hw: core::array::from_fn(|j| _mm256_set_m128i(k.h[14 - 2 * j], k.h[15 - 2 * j])),
        hkw: core::array::from_fn(|j| _mm256_set_m128i(k.hk[14 - 2 * j], k.hk[15 - 2 * j])),
        vaes,
    }
}

/// [`gcm_fused`] on 256-bit registers: 16 blocks per iteration in 8 registers of 2 blocks,
/// the GHASH of 16 blocks (by `H^16 .. H^1`, one reduction) interleaved with the AES rounds:
/// the previous iteration's ciphertext when encrypting, this iteration's when decrypting.
///
/// The loop is bound by the three vector ALU ports (for AES-128 per 256 bytes: 80 `vaesenc`,
/// 26 `vpclmulqdq` and about 90 XORs, shuffles and adds), so the counter blocks take one byte
/// swap instead of eight whenever the counter's last byte does not carry. Spelling the rounds
/// out (no per-round "hash this round?" test) was measured too: LLVM then schedules the GHASH
/// ahead of the rounds, and sealing got 5% slower.
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1,avx,avx2,vaes,vpclmulqdq")]
fn gcm_fused_vaes<const NR: usize, const ENCRYPT: bool>(
    k: &AesNi,
    w: &Wide,
    ctr: &mut [u8; 16],
    y: &mut [u8; 16],
    data: &mut [u8],
) -> usize {
    const W: usize = 8; // 256-bit registers per iteration
    let rev1 = rev_mask();
    let rev = _mm256_broadcastsi128_si256(rev1);
    let z = _mm256_setzero_si256();
    let mut rk = [z; 15];
    for (dst, src) in rk.iter_mut().zip(&k.rk).take(NR + 1) {
        *dst = _mm256_broadcastsi128_si256(*src);
    }
    // Byte-reversed counters: lanes hold (c, c + 1).
    let mut c = _mm256_add_epi32(
        _mm256_broadcastsi128_si256(_mm_shuffle_epi8(ld(ctr), rev1)),
        _mm256_set_epi32(0, 0, 0, 1, 0, 0, 0, 0),
    );
    // Big-endian increments of the last byte: 2j in the top byte of the last 32-bit word.
    let inc: [__m256i; W] = core::array::from_fn(|j| {
        let v = (2 * j as i32) << 24;
        _mm256_set_epi32(v, 0, 0, 0, v, 0, 0, 0)
    });
    let sixteen = _mm256_set_epi32(0, 0, 0, 16, 0, 0, 0, 16);
    // The counter's last byte (lane 0), to know when it carries.
    let mut low = ctr[15];
    let mut acc = _mm_shuffle_epi8(ld(y), rev1);
    // Byte-reversed ciphertext blocks waiting to be hashed.
    let mut pending = [z; W];
    let mut have_pending = false;
    let done = data.len() / (32 * W) * (32 * W);
    for chunk in data[..done].chunks_exact_mut(32 * W) {
        // The next 16 counter blocks, whitened with round key 0.
        let mut b: [__m256i; W] = if low <= 0xF0 {
            // No carry out of the last byte within these 16 blocks: add to the big-endian
            // counters directly.
            let cbe = _mm256_shuffle_epi8(c, rev);
            core::array::from_fn(|j| _mm256_xor_si256(_mm256_add_epi32(cbe, inc[j]), rk[0]))
        } else {
            core::array::from_fn(|j| {
                let d = 2 * j as i32;
                let cj = _mm256_add_epi32(c, _mm256_set_epi32(0, 0, 0, d, 0, 0, 0, d));
                _mm256_xor_si256(_mm256_shuffle_epi8(cj, rev), rk[0])
            })
        };
        c = _mm256_add_epi32(c, sixteen);
        low = low.wrapping_add(16);
        if !ENCRYPT {
            // Hash this chunk's ciphertext while decrypting it.
            for (j, p) in pending.iter_mut().enumerate() {
                *p = _mm256_shuffle_epi8(ld256(&chunk[32 * j..]), rev);
            }
            have_pending = true;
        }
        if have_pending {
            pending[0] = _mm256_xor_si256(pending[0], _mm256_zextsi128_si256(acc));
        }
        let mut t = [z; 3];
        for r in 1..NR {
            for x in &mut b {
                *x = _mm256_aesenc_epi128(*x, rk[r]);
            }
            if have_pending && r <= W {
                mul_acc2(&mut t, pending[r - 1], w.hw[r - 1], w.hkw[r - 1]);
            }
        }
        if have_pending {
            acc = finish2(t);
        }
        for (j, x) in b.iter_mut().enumerate() {
            let out = &mut chunk[32 * j..];
            *x = _mm256_xor_si256(_mm256_aesenclast_epi128(*x, rk[NR]), ld256(out));
            st256(out, *x);
        }
        if ENCRYPT {
            pending = b.map(|x| _mm256_shuffle_epi8(x, rev));
            have_pending = true;
        }
    }
    if ENCRYPT && have_pending {
        acc = ghash16(w, acc, &pending);
    }
    st(ctr, _mm_shuffle_epi8(_mm256_castsi256_si128(c), rev1));
    st(y, _mm_shuffle_epi8(acc, rev1));
    done
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn gcm_impl<const ENCRYPT: bool>(k: &AesNi, ctr: &mut [u8; 16], y: &mut [u8; 16], data: &mut [u8]) {
    let done = match &k.wide {
        // SAFETY: `k.wide` is only set when `wide_features()` saw AVX2 and VPCLMULQDQ, and
        // its `vaes` flag only when it saw VAES too (see `AesNi::new`).
        Some(w) if w.vaes && k.nr == 10 => unsafe {
            gcm_fused_vaes::<10, ENCRYPT>(k, w, ctr, y, data)
        },
        // SAFETY: as above.
        Some(w) if w.vaes => unsafe { gcm_fused_vaes::<14, ENCRYPT>(k, w, ctr, y, data) },
        _ if k.nr == 10 => gcm_fused::<10, ENCRYPT>(k, ctr, y, data),
        _ => gcm_fused::<14, ENCRYPT>(k, ctr, y, data),
    };
    // The rest is under 16 blocks (the 256-bit loop) or 8: the 128-bit GHASH.
    let rest = &mut data[done..];
    if ENCRYPT {
        ctr32_impl(k, ctr, rest);
        ghash_impl(k, y, rest);
    } else {
        ghash_impl(k, y, rest);
        ctr32_impl(k, ctr, rest);
    }
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn cbc_mac_impl(k: &AesNi, mac: &mut [u8; 16], data: &[u8]) {
    let mut m = ld(mac);
    for blk in data.chunks_exact(16) {
        m = aes1(&k.rk, k.nr, _mm_xor_si128(m, ld(blk)));
    }
    st(mac, m);
}

/// CCM over whole blocks, one CTR block next to each (serial) CBC-MAC block.
#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn ccm_impl<const NR: usize, const ENCRYPT: bool>(
    k: &AesNi,
    ctr: &mut [u8; 16],
    mac: &mut [u8; 16],
    data: &mut [u8],
) {
    let rev = rev_mask();
    let one = _mm_set_epi32(0, 0, 0, 1);
    let mut c = _mm_shuffle_epi8(ld(ctr), rev);
    let mut m = ld(mac);
    for blk in data.chunks_exact_mut(16) {
        let input = ld(blk);
        let mut s = _mm_xor_si128(_mm_shuffle_epi8(c, rev), k.rk[0]);
        c = _mm_add_epi32(c, one);
        if ENCRYPT {
            m = _mm_xor_si128(m, input);
            m = _mm_xor_si128(m, k.rk[0]);
            for r in 1..NR {
                s = _mm_aesenc_si128(s, k.rk[r]);
                m = _mm_aesenc_si128(m, k.rk[r]);
            }
            m = _mm_aesenclast_si128(m, k.rk[NR]);
            s = _mm_aesenclast_si128(s, k.rk[NR]);
            st(blk, _mm_xor_si128(s, input));
        } else {
            // The plaintext is needed before its MAC block can start.
            for r in 1..NR {
                s = _mm_aesenc_si128(s, k.rk[r]);
            }
            let p = _mm_xor_si128(_mm_aesenclast_si128(s, k.rk[NR]), input);
            st(blk, p);
            m = aes1(&k.rk, NR, _mm_xor_si128(m, p));
        }
    }
    st(ctr, _mm_shuffle_epi8(c, rev));
    st(mac, m);
}

#[target_feature(enable = "aes,pclmulqdq,ssse3,sse4.1")]
fn new_impl(key: &[u8], with_ghash: bool) -> Option<AesNi> {
    let (rk, nr) = expand_key(key)?;
    let z = _mm_setzero_si128();
    let mut k = AesNi {
        rk,
        nr,
        h: [z; 16],
        hk: [z; 16],
        wide: None,
    };
    if with_ghash {
        let mut hb = [0u8; 16];
        st(&mut hb, aes1(&k.rk, nr, z));
        k.h[0] = ld(&x_inv_mul(to_int(&hb)).to_le_bytes());
        k.hk[0] = _mm_xor_si128(k.h[0], _mm_shuffle_epi32::<0x4e>(k.h[0]));
        for i in 1..16 {
            // The product of a (reflected) and H * x^-1 is a * H: multiplying H^i * x^-1 by
            // it gives H^(i+1) * x^-1 directly.
            let mut t = [z; 3];
            mul_acc(&mut t, k.h[i - 1], k.h[0], k.hk[0]);
            k.h[i] = finish(t);
            k.hk[i] = _mm_xor_si128(k.h[i], _mm_shuffle_epi32::<0x4e>(k.h[i]));
        }
    }
    Some(k)
}

impl AesNi {
    /// Expands a 16- or 32-byte key (and the GHASH powers if `with_ghash`). `None` for other
    /// key lengths or if the CPU lacks the features.
    pub(crate) fn new(key: &[u8], with_ghash: bool) -> Option<Self> {
        if !supported() {
            return None;
        }
        // SAFETY: `supported()` confirmed aes, pclmulqdq, ssse3 and sse4.1.
        let mut k = unsafe { new_impl(key, with_ghash) }?;
        let f = wide_features();
        if with_ghash && f.vpclmul {
            // SAFETY: `wide_features()` saw AVX2 (and the OS's support for its registers).
            k.wide = Some(unsafe { wide_keys(&k, f.vaes) });
        }
        Some(k)
    }

    /// The same key on the 128-bit code paths only (the path of CPUs without VPCLMULQDQ).
    #[cfg(test)]
    pub(crate) fn narrow(mut self) -> Self {
        self.wide = None;
        self
    }

    /// The same key with the 256-bit GHASH but the 128-bit GCM loop (a CPU with VPCLMULQDQ
    /// but not VAES).
    #[cfg(test)]
    pub(crate) fn without_vaes(mut self) -> Self {
        if let Some(w) = &mut self.wide {
            w.vaes = false;
        }
        self
    }
}

impl Kernel for AesNi {
    fn encrypt_block(&self, block: &mut [u8; 16]) {
        let mut mac = [0u8; 16];
        self.cbc_mac(&mut mac, block);
        *block = mac;
    }

    fn ctr32(&self, ctr: &mut [u8; 16], data: &mut [u8]) {
        // SAFETY: `self` exists, so `supported()` held (see `AesNi::new`).
        unsafe { ctr32_impl(self, ctr, data) }
    }

    fn cbc_mac(&self, mac: &mut [u8; 16], data: &[u8]) {
        // SAFETY: `self` exists, so `supported()` held (see `AesNi::new`).
        unsafe { cbc_mac_impl(self, mac, data) }
    }

    fn ghash(&self, y: &mut [u8; 16], data: &[u8]) {
        match &self.wide {
            // SAFETY: `self.wide` is only set when `wide_features()` saw AVX2 and VPCLMULQDQ,
            // and `self` exists, so `supported()` held (see `AesNi::new`).
            Some(w) if data.len() >= 256 => unsafe { ghash_wide(self, w, y, data) },
            // SAFETY: `self` exists, so `supported()` held (see `AesNi::new`).
            _ => unsafe { ghash_impl(self, y, data) },
        }
    }
    fn gcm_encrypt(&self, ctr: &mut [u8; 16], y: &mut [u8; 16], data: &mut [u8]) {
        // SAFETY: `self` exists, so `supported()` held (see `AesNi::new`).
        unsafe { gcm_impl::<true>(self, ctr, y, data) }
    }

    fn gcm_decrypt(&self, ctr: &mut [u8; 16], y: &mut [u8; 16], data: &mut [u8]) {
        // SAFETY: `self` exists, so `supported()` held (see `AesNi::new`).
        unsafe { gcm_impl::<false>(self, ctr, y, data) }
    }

    fn ccm_encrypt(&self, ctr: &mut [u8; 16], mac: &mut [u8; 16], data: &mut [u8]) {
        // SAFETY: `self` exists, so `supported()` held (see `AesNi::new`).
        unsafe {
            if self.nr == 10 {
                ccm_impl::<10, true>(self, ctr, mac, data);
            } else {
                ccm_impl::<14, true>(self, ctr, mac, data);
            }
        }
    }

    fn ccm_decrypt(&self, ctr: &mut [u8; 16], mac: &mut [u8; 16], data: &mut [u8]) {
        // SAFETY: `self` exists, so `supported()` held (see `AesNi::new`).
        unsafe {
            if self.nr == 10 {
                ccm_impl::<10, false>(self, ctr, mac, data);
            } else {
                ccm_impl::<14, false>(self, ctr, mac, data);
            }
        }
    }
}
