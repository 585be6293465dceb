//! 32-bit ARM NEON backend (`Backend::Armv7Neon`: Cortex-A7/A9/A15/A53 with a 32-bit OS, Pi 2,
//! Pi 3/4 on a 32-bit OS), for CPUs with NEON and without (or without a use of) the ARMv8
//! crypto extensions. Everything is constant time.
//!
//! - AES-128/256 for CTR, CBC-MAC (CCM) and single blocks: Mike Hamburg's vector-permute AES
//!   ("Accelerating AES with Vector Permute Instructions", CHES 2009), the same algorithm,
//!   constants and key schedule as [`super::vperm`], with `vtbl.8` on two-register tables:
//!   the S-box is an inversion in GF(2^4)^2 done with 16-entry lookups *in registers*, so no
//!   memory address depends on data or key. One block costs ~40 NEON instructions per round.
//! - GHASH (GCM, GMAC): the 8-bit polynomial multiply `vmull.p8` of [`super::ghash_p8`]: a
//!   64x64-bit carry-less product is 8 `vmull.p8` of one operand against the 8 byte rotations
//!   of the other, a 128-bit product 3 of those (Karatsuba); up to 16 blocks are multiplied
//!   by `H^16 .. H^1` and their partial products summed before one recombination and one
//!   reduction. It uses [`GhashKey`]'s tables unchanged.
//! - The key schedules (vperm round keys, powers of H) are computed in portable constant-time
//!   Rust ([`Soft`], [`GhashKey::new`]); only the bulk work is assembly.
//!
//! Instruction counts under qemu-arm (`QEMU_CPU=cortex-a7`, 64 KiB messages, per byte,
//! `bench/crypto-qemu.sh --icount-only`), this backend vs. `Portable` (RustCrypto's 32-bit
//! fixslice AES and soft POLYVAL): AES-128-GCM 31.0 vs 184.7 (0.17), AES-GMAC 5.2 vs 86.7
//! (0.06), AES-128-CCM 51.6 vs 337.1 (0.15), AES-128-CMAC 25.7 vs 239.2 (0.11).
//!
//! Not done: a bit-sliced 8-block CTR (as `backend/bitsliced.rs` on aarch64). With only 16 Q
//! registers its S-box needs spills; estimated from the aarch64 kernel (~16 instructions per
//! byte there) at ~19-20 per byte here against ~26 for vperm CTR, i.e. GCM ~0.13 instead of
//! 0.17 of portable.
//!
//! # Why assembly, and the register contract
//!
//! On stable Rust the 32-bit ARM NEON intrinsics and `#[target_feature(enable = "neon")]` are
//! unstable, and the `armv7-unknown-linux-gnueabihf` target is built with `-neon,-d32`, so
//! `asm!` cannot take NEON register operands either. Each kernel is therefore one `asm!`
//! block that takes pointers in general registers and starts with `.fpu neon` so that the
//! assembler accepts NEON. (LLVM parses every inline-asm block with its own parser state, so
//! the directive does not leak into other code: checked, a later block without it still
//! rejects NEON. It may record NEON in the object's build attributes, which is true and which
//! nothing checks at run time.) The blocks are only
//! executed after run-time detection found NEON (AT_HWCAP bit 12, see [`neon_available`]):
//! an [`Armv7Kernel`] cannot be built otherwise, so a CPU without NEON never takes SIGILL.
//!
//! Registers: the kernels use all sixteen Q registers q0-q15 (= d0-d31).
//! - d0-d7 (q0-q3) are caller-saved in the AAPCS but may hold the compiler's live values
//!   around the block: declared clobbered (`out("d0") _` ...).
//! - d8-d15 (q4-q7) are callee-saved in the AAPCS: declared clobbered too, so the compiler
//!   saves and restores them in the enclosing function if (and only if) it needs them.
//! - d16-d31 (q8-q15) exist on every NEON CPU (NEON implies 32 D registers). With this
//!   target's `-d32` the compiler never allocates them, and `asm!` cannot name them as
//!   clobbers. But a build with `-C target-cpu=cortex-a7` (or a `+neon,+d32` target such as
//!   `thumbv7neon-*`) lets the compiler keep values there across the block, and stable Rust
//!   offers no `cfg` to tell these builds apart. So every block saves d16-d31 on the stack
//!   first (`vpush`) and restores them last (`vpop`): two instructions per call, correct for
//!   every build.
//! - General registers are `asm!` operands (scratch ones as `out(reg) _` or
//!   `inout(reg) x => _`); the flags are clobbered (`subs`), which `asm!` assumes by default.
#![allow(unsafe_code)]

use super::ghash_p8::{GhashKey, GROUP, LOW};
use super::modes::Kernel;
use super::simd::Soft;
use super::vperm::{
    VpKey, K_INV1, K_INV2, K_IPT1, K_IPT2, MC_BACKWARD, MC_FORWARD, SB1T, SB1U, SB2T, SB2U, SBOT,
    SBOU, SR,
};
use core::arch::asm;

/// Linux `getauxval(AT_HWCAP)` and `getauxval(AT_HWCAP2)`.
#[cfg(target_os = "linux")]
pub(crate) fn hwcap() -> (u64, u64) {
    // SAFETY: getauxval has no preconditions; it reads the process's auxiliary vector and
    // returns 0 for an unknown type.
    unsafe {
        (
            u64::from(libc::getauxval(libc::AT_HWCAP)),
            u64::from(libc::getauxval(libc::AT_HWCAP2)),
        )
    }
}

/// Without Linux there is no AT_HWCAP to ask: NEON is treated as absent.
#[cfg(not(target_os = "linux"))]
pub(crate) fn hwcap() -> (u64, u64) {
    (0, 0)
}

/// Whether NEON can be executed here: AT_HWCAP bit 12 (`HWCAP_NEON`).
pub(crate) fn neon_available() -> bool {
    hwcap().0 & super::hwcap::ARM_NEON != 0
}

/// A 16-byte aligned block (for `vldm`/`vldr`, which need word alignment).
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Block([u8; 16]);

/// The vperm constants in the order the kernels load them: `IPT1 IPT2` (q6, q7 at the start of
/// a block), `SBOU SBOT SR[2]` (the last round; AES-128 and AES-256 both end with
/// `SR[nr % 4]` = `SR[2]`), then q9..q15 in one `vldm`: `SB2T SB2U SB1T SB1U INV2 INV1`, 0x0F.
#[repr(C, align(16))]
struct VpConsts([[u8; 16]; 12]);

static VP_CONSTS: VpConsts = VpConsts([
    K_IPT1, K_IPT2, SBOU, SBOT, SR[2], SB2T, SB2U, SB1T, SB1U, K_INV2, K_INV1, [0x0f; 16],
]);
/// Byte offset of SB2T (the q9..q15 group) in [`VP_CONSTS`].
const CONSTS_Q9: usize = 5 * 16;

/// The [`LOW`] masks for rotations 1..8, as the GHASH fold loads them.
#[repr(C, align(16))]
struct GhMasks([[u8; 16]; 7]);

static GH_MASKS: GhMasks = GhMasks([LOW[1], LOW[2], LOW[3], LOW[4], LOW[5], LOW[6], LOW[7]]);

/// vperm round keys laid out for the kernels: `rk[0]`, then for each middle round `r` the
/// triple `rk[r], MC_FORWARD[r % 4], MC_BACKWARD[r % 4]` (one `vldm` of 48 bytes), then
/// `rk[nr]`; `middle` = nr - 1 at byte offset [`MIDDLE_OFFSET`].
#[derive(Clone)]
#[repr(C, align(16))]
struct ArmVpKey {
    rk: [[u8; 16]; 41],
    middle: u32,
}

/// Byte offset of [`ArmVpKey::middle`] (the kernels read it with `ldr`).
const MIDDLE_OFFSET: usize = 41 * 16;
const _: () = assert!(core::mem::offset_of!(ArmVpKey, middle) == MIDDLE_OFFSET);

impl ArmVpKey {
    fn new(key: &[u8]) -> Option<Self> {
        let vp = VpKey::new::<Soft>(key)?;
        let (rk, nr) = vp.round_keys();
        let mut out = Self {
            rk: [[0; 16]; 41],
            middle: (nr - 1) as u32,
        };
        out.rk[0] = rk[0];
        for r in 1..nr {
            let i = 1 + 3 * (r - 1);
            out.rk[i] = rk[r];
            out.rk[i + 1] = MC_FORWARD[r % 4];
            out.rk[i + 2] = MC_BACKWARD[r % 4];
        }
        out.rk[1 + 3 * (nr - 1)] = rk[nr];
        Some(out)
    }
}

/// Key material of the armv7 NEON backend for one AES key.
#[derive(Clone)]
pub(crate) struct Armv7Kernel {
    vp: ArmVpKey,
    gh: Option<GhashKey>,
}

impl Armv7Kernel {
    /// Key schedules for a 16- or 32-byte key; the GHASH tables only if `with_ghash`. `None`
    /// for another key length or if the CPU has no NEON.
    pub(crate) fn new(key: &[u8], with_ghash: bool) -> Option<Self> {
        if !neon_available() {
            return None;
        }
        let mut k = Self {
            vp: ArmVpKey::new(key)?,
            gh: None,
        };
        if with_ghash {
            k.gh = Some(k.ghash_key());
        }
        Some(k)
    }

    fn ghash_key(&self) -> GhashKey {
        let mut h = [0u8; 16];
        self.encrypt_block(&mut h);
        GhashKey::new(&h)
    }
}

/// The GF(2^4)^2 inversion of the vperm S-box on the state in q0, with q15 = 0x0F,
/// q14 = INV1, q13 = INV2: leaves t5 ("u" input) in q5 and t6 ("t" input) in q4.
/// Clobbers q0-q3.
macro_rules! vp_inv {
    () => {
        concat!(
            "vshr.u8 q1, q0, #4\n",         // bh
            "vand q2, q0, q15\n",           // bl
            "vtbl.8 d6, {{d26,d27}}, d4\n", // t2 = INV2[bl]
            "vtbl.8 d7, {{d26,d27}}, d5\n",
            "veor q2, q2, q1\n",            // bl ^= bh
            "vtbl.8 d8, {{d28,d29}}, d2\n", // INV1[bh]
            "vtbl.8 d9, {{d28,d29}}, d3\n",
            "veor q4, q4, q3\n",
            "vtbl.8 d10, {{d28,d29}}, d8\n",
            "vtbl.8 d11, {{d28,d29}}, d9\n",
            "veor q5, q5, q2\n",            // t5 = bl ^ INV1[t2 ^ INV1[bh]]
            "vtbl.8 d8, {{d28,d29}}, d4\n", // INV1[bl]
            "vtbl.8 d9, {{d28,d29}}, d5\n",
            "veor q4, q4, q3\n",
            "vtbl.8 d0, {{d28,d29}}, d8\n",
            "vtbl.8 d1, {{d28,d29}}, d9\n",
            "veor q4, q0, q1\n", // t6 = bh ^ INV1[t2 ^ INV1[bl]]
        )
    };
}

/// Encrypts the block in q0 (AES byte order) into q2 with the [`ArmVpKey`] at `{key}`, the
/// constants at `{c}` and q9..q15 loaded from `{c} + CONSTS_Q9`. Clobbers q0-q8 and the
/// scratch registers `{t}`, `{n}`.
macro_rules! vp_encrypt {
    () => {
        concat!(
            // Input transform to the vperm basis, round key 0.
            "vld1.8 {{d12-d15}}, [{c}]\n",
            "mov {t}, {key}\n",
            "ldr {n}, [{key}, #656]\n", // MIDDLE_OFFSET
            "vand q1, q0, q15\n",
            "vshr.u8 q2, q0, #4\n",
            "vtbl.8 d6, {{d12,d13}}, d2\n",
            "vtbl.8 d7, {{d12,d13}}, d3\n",
            "vtbl.8 d8, {{d14,d15}}, d4\n",
            "vtbl.8 d9, {{d14,d15}}, d5\n",
            "vld1.8 {{d2,d3}}, [{t}]!\n",
            "veor q0, q3, q4\n",
            "veor q0, q0, q1\n",
            // Middle rounds: q6 = round key, q7 = MC_FORWARD, q8 = MC_BACKWARD.
            "2:\n",
            "vldmia {t}!, {{d12-d17}}\n",
            vp_inv!(),
            // t7 = SB1T[t6] ^ SB1U[t5] ^ rk          (q11 = SB1T, q12 = SB1U)
            "vtbl.8 d2, {{d22,d23}}, d8\n",
            "vtbl.8 d3, {{d22,d23}}, d9\n",
            "vtbl.8 d4, {{d24,d25}}, d10\n",
            "vtbl.8 d5, {{d24,d25}}, d11\n",
            "veor q1, q1, q2\n",
            "veor q1, q1, q6\n",
            // t8 = SB2T[t6] ^ SB2U[t5] ^ t7[mcf]     (q9 = SB2T, q10 = SB2U)
            "vtbl.8 d4, {{d18,d19}}, d8\n",
            "vtbl.8 d5, {{d18,d19}}, d9\n",
            "vtbl.8 d6, {{d20,d21}}, d10\n",
            "vtbl.8 d7, {{d20,d21}}, d11\n",
            "veor q2, q2, q3\n",
            "vtbl.8 d6, {{d2,d3}}, d14\n",
            "vtbl.8 d7, {{d2,d3}}, d15\n",
            "veor q2, q2, q3\n",
            // b = t8[mcf] ^ t7[mcb] ^ t8
            "vtbl.8 d0, {{d4,d5}}, d14\n",
            "vtbl.8 d1, {{d4,d5}}, d15\n",
            "vtbl.8 d6, {{d2,d3}}, d16\n",
            "vtbl.8 d7, {{d2,d3}}, d17\n",
            "veor q0, q0, q3\n",
            "veor q0, q0, q2\n",
            "subs {n}, {n}, #1\n",
            "bne 2b\n",
            // Last round: SBOU[t5] ^ SBOT[t6] ^ rk[nr], then ShiftRows (SR[2]).
            vp_inv!(),
            "add {n}, {c}, #32\n",
            "vld1.8 {{d12-d15}}, [{n}]!\n",
            "vtbl.8 d0, {{d12,d13}}, d10\n",
            "vtbl.8 d1, {{d12,d13}}, d11\n",
            "vtbl.8 d2, {{d14,d15}}, d8\n",
            "vtbl.8 d3, {{d14,d15}}, d9\n",
            "veor q0, q0, q1\n",
            "vld1.8 {{d2,d3}}, [{t}]\n",
            "veor q0, q0, q1\n",
            "vld1.8 {{d2,d3}}, [{n}]\n",
            "vtbl.8 d4, {{d0,d1}}, d2\n",
            "vtbl.8 d5, {{d0,d1}}, d3\n",
        )
    };
}

/// Loads q9..q15 (the constants every round uses).
macro_rules! vp_setup {
    () => {
        concat!("add {t}, {c}, #80\n", "vldmia {t}, {{d18-d31}}\n") // CONSTS_Q9
    };
}
const _: () = assert!(CONSTS_Q9 == 80 && MIDDLE_OFFSET == 656);

/// Runs an `asm!` block in the NEON assembler mode, with d16-d31 saved and restored and
/// d0-d15 declared clobbered (see the module docs).
macro_rules! neon_asm {
    ($($tpl:expr),+ ; $($ops:tt)*) => {
        asm!(
            ".fpu neon",
            "vpush {{d16-d31}}",
            $($tpl),+,
            "vpop {{d16-d31}}",
            $($ops)*
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
        )
    };
}

/// CBC-MAC: `mac = E(mac ^ block)` over `blocks` >= 1 blocks at `data`.
fn cbc_mac_asm(key: &ArmVpKey, mac: &mut Block, data: *const u8, blocks: usize) {
    debug_assert!(blocks >= 1);
    // SAFETY: NEON is present (an `Armv7Kernel` only exists if `neon_available()`); `data`
    // is valid for `16 * blocks` bytes of reads (callers pass whole blocks of a slice);
    // `key`, `mac` and `VP_CONSTS` are valid, aligned and sized as the kernel reads/writes
    // them (`vldm` needs word alignment: all three are 16-byte aligned). Registers: see the
    // module docs.
    unsafe {
        neon_asm!(
            vp_setup!(),
            "vld1.8 {{d0,d1}}, [{mac}]",
            "3:",
            "vld1.8 {{d2,d3}}, [{data}]!",
            "veor q0, q0, q1",
            vp_encrypt!(),
            "vmov q0, q2",
            "subs {blocks}, {blocks}, #1",
            "bne 3b",
            "vst1.8 {{d0,d1}}, [{mac}]";
            key = in(reg) core::ptr::from_ref(key),
            c = in(reg) &raw const VP_CONSTS,
            mac = in(reg) mac.0.as_mut_ptr(),
            data = inout(reg) data => _,
            blocks = inout(reg) blocks => _,
            t = out(reg) _,
            n = out(reg) _,
        );
    }
}

/// CTR: XORs `E(ctr), E(ctr + 1), ...` into `blocks` >= 1 blocks at `data`, incrementing the
/// big-endian last word of `ctr`.
fn ctr_asm(key: &ArmVpKey, ctr: &mut Block, data: *mut u8, blocks: usize) {
    debug_assert!(blocks >= 1);
    // SAFETY: as in `cbc_mac_asm`; `data` is valid for `16 * blocks` bytes of reads and
    // writes; `ctr` is 16-byte aligned (the word load/store at +12 is aligned).
    unsafe {
        neon_asm!(
            vp_setup!(),
            "3:",
            "vld1.8 {{d0,d1}}, [{ctr}]",
            "ldr {n}, [{ctr}, #12]",
            "rev {n}, {n}",
            "add {n}, {n}, #1",
            "rev {n}, {n}",
            "str {n}, [{ctr}, #12]",
            vp_encrypt!(),
            "vld1.8 {{d2,d3}}, [{data}]",
            "veor q2, q2, q1",
            "vst1.8 {{d4,d5}}, [{data}]!",
            "subs {blocks}, {blocks}, #1",
            "bne 3b";
            key = in(reg) core::ptr::from_ref(key),
            c = in(reg) &raw const VP_CONSTS,
            ctr = in(reg) ctr.0.as_mut_ptr(),
            data = inout(reg) data => _,
            blocks = inout(reg) blocks => _,
            t = out(reg) _,
            n = out(reg) _,
        );
    }
}

/// GHASH state for the kernel: `y` (spec byte order) and room for the low and high
/// Karatsuba products between the passes (`vstr`/`vldr` at offsets 16 and 32).
#[repr(C, align(16))]
struct GhState {
    y: [u8; 16],
    lo: [u8; 16],
    hi: [u8; 16],
}

/// First block of a pass: `y` XORed in, products written straight into the accumulators
/// q8..q15. `$setup` forms the 64-bit operand in d0 from the block in q0 (memory order):
/// the field element's low half is the byte reversal of d1, its high half that of d0.
macro_rules! gh_first {
    ($setup:literal) => {
        concat!(
            "vld1.8 {{d0,d1}}, [{d}]!\n",
            "vld1.8 {{d2,d3}}, [{y}]\n",
            "veor q0, q0, q1\n",
            $setup,
            "vldmia {k}, {{d8-d15}}\n",
            "sub {k}, {k}, #192\n",
            "vmull.p8 q8, d0, d8\n",
            "vmull.p8 q9, d0, d9\n",
            "vmull.p8 q10, d0, d10\n",
            "vmull.p8 q11, d0, d11\n",
            "vmull.p8 q12, d0, d12\n",
            "vmull.p8 q13, d0, d13\n",
            "vmull.p8 q14, d0, d14\n",
            "vmull.p8 q15, d0, d15\n",
        )
    };
}

/// Further blocks of a pass: the 8 rotation products accumulated into q8..q15.
macro_rules! gh_next {
    ($setup:literal) => {
        concat!(
            "vld1.8 {{d0,d1}}, [{d}]!\n",
            $setup,
            "vldmia {k}, {{d8-d15}}\n",
            "sub {k}, {k}, #192\n",
            "vmull.p8 q1, d0, d8\n",
            "vmull.p8 q2, d0, d9\n",
            "veor q8, q8, q1\n",
            "vmull.p8 q1, d0, d10\n",
            "veor q9, q9, q2\n",
            "vmull.p8 q2, d0, d11\n",
            "veor q10, q10, q1\n",
            "vmull.p8 q1, d0, d12\n",
            "veor q11, q11, q2\n",
            "vmull.p8 q2, d0, d13\n",
            "veor q12, q12, q1\n",
            "vmull.p8 q1, d0, d14\n",
            "veor q13, q13, q2\n",
            "vmull.p8 q2, d0, d15\n",
            "veor q14, q14, q1\n",
            "veor q15, q15, q2\n",
        )
    };
}

/// Recombines the rotation products q8..q15 (`P_0 .. P_7`) into the 128-bit product in q8:
/// in `P_k` the lanes that did not wrap (mask `LOW[k]`) move up k bytes, the wrapped ones
/// down 8 - k bytes. q0 = 0, q1 = mask (walked with `{i}`), q4/q5 scratch.
macro_rules! gh_fold {
    () => {
        concat!(
            "vmov.i8 q0, #0\n",
            "mov {i}, {masks}\n",
            // k = 1
            "vld1.8 {{d2,d3}}, [{i}]!\n",
            "vand q4, q9, q1\n",
            "vbic q5, q9, q1\n",
            "vext.8 q4, q0, q4, #15\n",
            "vext.8 q5, q5, q0, #7\n",
            "veor q8, q8, q4\n",
            "veor q8, q8, q5\n",
            // k = 2
            "vld1.8 {{d2,d3}}, [{i}]!\n",
            "vand q4, q10, q1\n",
            "vbic q5, q10, q1\n",
            "vext.8 q4, q0, q4, #14\n",
            "vext.8 q5, q5, q0, #6\n",
            "veor q8, q8, q4\n",
            "veor q8, q8, q5\n",
            // k = 3
            "vld1.8 {{d2,d3}}, [{i}]!\n",
            "vand q4, q11, q1\n",
            "vbic q5, q11, q1\n",
            "vext.8 q4, q0, q4, #13\n",
            "vext.8 q5, q5, q0, #5\n",
            "veor q8, q8, q4\n",
            "veor q8, q8, q5\n",
            // k = 4
            "vld1.8 {{d2,d3}}, [{i}]!\n",
            "vand q4, q12, q1\n",
            "vbic q5, q12, q1\n",
            "vext.8 q4, q0, q4, #12\n",
            "vext.8 q5, q5, q0, #4\n",
            "veor q8, q8, q4\n",
            "veor q8, q8, q5\n",
            // k = 5
            "vld1.8 {{d2,d3}}, [{i}]!\n",
            "vand q4, q13, q1\n",
            "vbic q5, q13, q1\n",
            "vext.8 q4, q0, q4, #11\n",
            "vext.8 q5, q5, q0, #3\n",
            "veor q8, q8, q4\n",
            "veor q8, q8, q5\n",
            // k = 6
            "vld1.8 {{d2,d3}}, [{i}]!\n",
            "vand q4, q14, q1\n",
            "vbic q5, q14, q1\n",
            "vext.8 q4, q0, q4, #10\n",
            "vext.8 q5, q5, q0, #2\n",
            "veor q8, q8, q4\n",
            "veor q8, q8, q5\n",
            // k = 7
            "vld1.8 {{d2,d3}}, [{i}]!\n",
            "vand q4, q15, q1\n",
            "vbic q5, q15, q1\n",
            "vext.8 q4, q0, q4, #9\n",
            "vext.8 q5, q5, q0, #1\n",
            "veor q8, q8, q4\n",
            "veor q8, q8, q5\n",
        )
    };
}

/// One Karatsuba part over the `{n}` blocks at `{data}`: `$keys` points `{k}` at the part's
/// table of power `n` (192 bytes per power, powers descending), `$setup` forms the operand;
/// the 128-bit sum of products ends in q8.
macro_rules! gh_pass {
    ($keys:literal, $setup:literal) => {
        concat!(
            "mov {d}, {data}\n",
            $keys,
            gh_first!($setup),
            "subs {i}, {n}, #1\n",
            "beq 5f\n",
            "4:\n",
            gh_next!($setup),
            "subs {i}, {i}, #1\n",
            "bne 4b\n",
            "5:\n",
            gh_fold!(),
        )
    };
}

/// `y = (y ^ X_1) * H^n ^ ... ^ X_n * H` for `1 <= n <= GROUP` blocks at `data`.
fn ghash_group_asm(key: &GhashKey, st: &mut GhState, data: *const u8, n: usize) {
    debug_assert!((1..=GROUP).contains(&n));
    let tables = key.k[n - 1].as_ptr();
    // SAFETY: NEON is present (an `Armv7Kernel` only exists if `neon_available()`); `data`
    // is valid for `16 * n` bytes of reads; `tables` points at `key.k[n - 1]` and the kernel
    // reads `key.k[n - 1 - i]` for i < n (192 bytes each, in bounds); `st` and `GH_MASKS`
    // are valid and 16-byte aligned (`vldr`/`vstr`/`vldm` need word alignment). Registers:
    // see the module docs.
    unsafe {
        neon_asm!(
            // Low halves, high halves, middle (low ^ high).
            gh_pass!("mov {k}, {key}\n", "vrev64.8 d0, d1\n"),
            "vstr d16, [{y}, #16]",
            "vstr d17, [{y}, #24]",
            gh_pass!("add {k}, {key}, #64\n", "vrev64.8 d0, d0\n"),
            "vstr d16, [{y}, #32]",
            "vstr d17, [{y}, #40]",
            gh_pass!("add {k}, {key}, #128\n", "veor d0, d0, d1\nvrev64.8 d0, d0\n"),
            // Karatsuba recombination: mid ^= lo ^ hi; lo ^= mid << 64; hi ^= mid >> 64.
            "vldr d4, [{y}, #16]",
            "vldr d5, [{y}, #24]",
            "vldr d6, [{y}, #32]",
            "vldr d7, [{y}, #40]",
            "veor q8, q8, q2",
            "veor q8, q8, q3",
            "veor d5, d5, d16",
            "veor d6, d6, d17",
            // Reduction modulo x^128 + x^7 + x^2 + x + 1 (reflected), as ghash_p8::reduce.
            "vshl.i64 q4, q2, #57",
            "vshl.i64 q5, q2, #62",
            "veor q4, q4, q5",
            "vshl.i64 q5, q2, #63",
            "veor q4, q4, q5",
            "veor d5, d5, d8",
            "veor d6, d6, d9",
            "vshr.u64 q4, q2, #1",
            "vshr.u64 q5, q2, #2",
            "veor q4, q4, q5",
            "vshr.u64 q5, q2, #7",
            "veor q4, q4, q5",
            "veor q3, q3, q2",
            "veor q3, q3, q4",
            // Back to spec byte order.
            "vrev64.8 q3, q3",
            "vswp d6, d7",
            "vst1.8 {{d6,d7}}, [{y}]";
            y = in(reg) core::ptr::from_mut(st),
            data = in(reg) data,
            n = in(reg) n,
            key = in(reg) tables,
            masks = in(reg) &raw const GH_MASKS,
            d = out(reg) _,
            k = out(reg) _,
            i = out(reg) _,
        );
    }
}

impl Kernel for Armv7Kernel {
    fn encrypt_block(&self, block: &mut [u8; 16]) {
        let mut mac = Block([0; 16]);
        cbc_mac_asm(&self.vp, &mut mac, block.as_ptr(), 1);
        *block = mac.0;
    }

    fn ctr32(&self, ctr: &mut [u8; 16], data: &mut [u8]) {
        let blocks = data.len() / 16;
        if blocks == 0 {
            return;
        }
        let mut c = Block(*ctr);
        ctr_asm(&self.vp, &mut c, data.as_mut_ptr(), blocks);
        *ctr = c.0;
    }

    fn cbc_mac(&self, mac: &mut [u8; 16], data: &[u8]) {
        let blocks = data.len() / 16;
        if blocks == 0 {
            return;
        }
        let mut m = Block(*mac);
        cbc_mac_asm(&self.vp, &mut m, data.as_ptr(), blocks);
        *mac = m.0;
    }

    fn ghash(&self, y: &mut [u8; 16], data: &[u8]) {
        let mut st = GhState {
            y: *y,
            lo: [0; 16],
            hi: [0; 16],
        };
        let mut run = |g: &GhashKey| {
            for c in data.chunks(16 * GROUP) {
                let n = c.len() / 16;
                if n > 0 {
                    ghash_group_asm(g, &mut st, c.as_ptr(), n);
                }
            }
        };
        match &self.gh {
            Some(g) => run(g),
            // Not used by the callers (GHASH tables are built for GCM/GMAC keys); kept
            // correct rather than panicking.
            None => run(&self.ghash_key()),
        }
        *y = st.y;
    }
}
