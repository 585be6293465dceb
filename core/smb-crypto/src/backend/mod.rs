//! Crypto backends and their selection.
//!
//! | [`Backend`]      | CPU                                  | AES / GHASH                        |
//! |------------------|--------------------------------------|------------------------------------|
//! | `Portable`       | any                                  | RustCrypto (`aes`, `aes-gcm`, `ccm`, `cmac`) |
//! | `X86AesNi`       | x86_64 with AES-NI, PCLMULQDQ, SSSE3, SSE4.1 | own one-pass GCM, CCM, CMAC; 256-bit GHASH with VPCLMULQDQ + AVX2, 256-bit GCM with VAES too |
//! | `Armv8Crypto`    | aarch64 with AES + PMULL (Pi 5)      | RustCrypto's ARMv8 code paths      |
//! | `Aarch64Neon`    | aarch64 without them (Pi 3, Pi 4)    | bit-sliced AES (CTR), vector-permute AES (CBC-MAC, CMAC), 8-bit `pmull` GHASH |
//! | `Armv7Neon`      | 32-bit ARM with NEON (Cortex-A7/A15, Pi 2/3/4 on a 32-bit OS) | NEON assembly: vector-permute AES (CTR, CBC-MAC, CMAC), 8-bit `vmull.p8` GHASH |
//!
//! `no_std` code cannot ask the OS for the CPU's features, so the host passes them:
//! `Backend::from_hwcap(getauxval(AT_HWCAP), getauxval(AT_HWCAP2))` (with rustix:
//! `rustix::param::linux_hwcap()`), then [`set_default_backend`] once at start-up and log
//! [`Backend::name`] (or [`Backend::path_name`], which adds the code path taken inside the
//! backend, e.g. `x86-aesni-vaes-vpclmul`). Without that, [`default_backend`] falls back to
//! [`Backend::detect`].
//! [`Sealer::new`](crate::Sealer::new) and [`Signer::new`](crate::Signer::new) use the default;
//! the `with_backend` constructors pick one explicitly (tests, benchmarks).
//!
//! On 32-bit ARM, `Armv7Neon` is chosen whenever AT_HWCAP has NEON; the ARMv8 AES/PMULL bits
//! of AT_HWCAP2 (a 32-bit OS on a Cortex-A53/A72 with the crypto extension) are not used, as
//! there is no AArch32 crypto-extension backend. Without NEON it is `Portable`.
//!
//! Note on `Portable` and `Armv8Crypto`: RustCrypto's `aes`/`polyval` detect AES/PMULL at run
//! time themselves, so on a CPU that has them the portable path runs the ARMv8 (or AES-NI)
//! instructions too; on a Pi 4 (and on any 32-bit ARM) it is the constant-time software
//! fixslice.

use crate::CryptoError;
use core::sync::atomic::{AtomicU8, Ordering};

#[cfg(target_arch = "arm")]
mod armv7;
#[cfg(any(target_arch = "aarch64", test))]
mod bitsliced;
#[cfg(any(
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "x86_64",
    test
))]
mod gf128;
// On arm only the key tables are used (the GHASH itself is assembly).
#[cfg(any(target_arch = "aarch64", target_arch = "arm", test))]
#[cfg_attr(target_arch = "arm", allow(dead_code))]
mod ghash_p8;
#[cfg(any(
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "x86_64",
    test
))]
pub(crate) mod modes;
#[cfg(target_arch = "aarch64")]
mod neon;
// On arm only the portable model (`Soft`) is used, for the vperm key schedule.
#[cfg(any(target_arch = "aarch64", target_arch = "arm", test))]
#[cfg_attr(target_arch = "arm", allow(dead_code))]
mod simd;
#[cfg(any(target_arch = "aarch64", test))]
mod vec;
#[cfg(any(target_arch = "aarch64", target_arch = "arm", test))]
#[cfg_attr(target_arch = "arm", allow(dead_code))]
mod vperm;
#[cfg(target_arch = "x86_64")]
mod x86;

/// A cryptographic implementation. See the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Backend {
    /// RustCrypto crates (their own run-time detection of AES-NI / ARMv8 AES included).
    Portable = 0,
    /// x86_64 AES-NI + PCLMULQDQ.
    X86AesNi = 1,
    /// AArch64 with the AES and PMULL instructions (via RustCrypto).
    Armv8Crypto = 2,
    /// AArch64 NEON without the crypto extensions: bit-sliced / vector-permute AES and
    /// 8-bit-multiply GHASH, all constant time.
    Aarch64Neon = 3,
    /// 32-bit ARM with NEON (the ARMv8 crypto extensions, if any, are not used): vector-permute
    /// AES and 8-bit-multiply GHASH in NEON assembly, all constant time. Selected when Linux
    /// AT_HWCAP has NEON.
    Armv7Neon = 4,
}

/// The CPU architecture a HWCAP word belongs to, for [`Backend::select`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64: the `hwcap` word is CPUID leaf 1 ECX (Linux's AT_HWCAP on x86 does not carry
    /// AES-NI or PCLMULQDQ).
    X86_64,
    /// AArch64: Linux AT_HWCAP.
    Aarch64,
    /// 32-bit ARM: Linux AT_HWCAP and AT_HWCAP2.
    Arm,
    /// Anything else.
    Other,
}

impl Arch {
    /// The architecture this crate is compiled for.
    pub const CURRENT: Self = if cfg!(target_arch = "x86_64") {
        Self::X86_64
    } else if cfg!(target_arch = "aarch64") {
        Self::Aarch64
    } else if cfg!(target_arch = "arm") {
        Self::Arm
    } else {
        Self::Other
    };
}

/// Linux HWCAP bits used for the selection.
pub mod hwcap {
    /// AArch64 AT_HWCAP: Advanced SIMD.
    pub const AARCH64_ASIMD: u64 = 1 << 1;
    /// AArch64 AT_HWCAP: AES instructions.
    pub const AARCH64_AES: u64 = 1 << 3;
    /// AArch64 AT_HWCAP: PMULL/PMULL2 on 64-bit lanes.
    pub const AARCH64_PMULL: u64 = 1 << 4;
    /// 32-bit ARM AT_HWCAP: NEON.
    pub const ARM_NEON: u64 = 1 << 12;
    /// 32-bit ARM AT_HWCAP2: AES instructions.
    pub const ARM2_AES: u64 = 1 << 0;
    /// 32-bit ARM AT_HWCAP2: PMULL.
    pub const ARM2_PMULL: u64 = 1 << 1;
    /// x86_64 CPUID.1:ECX: PCLMULQDQ, SSSE3, SSE4.1 and AES.
    pub const X86_ECX_AESNI_PCLMUL: u64 = (1 << 1) | (1 << 9) | (1 << 19) | (1 << 25);
}

const UNSET: u8 = 0xFF;
static DEFAULT: AtomicU8 = AtomicU8::new(UNSET);

impl Backend {
    /// Every backend, in `repr` order.
    pub const ALL: [Self; 5] = [
        Self::Portable,
        Self::X86AesNi,
        Self::Armv8Crypto,
        Self::Aarch64Neon,
        Self::Armv7Neon,
    ];

    /// A short lower-case name for logs and benchmark ids.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::X86AesNi => "x86-aesni",
            Self::Armv8Crypto => "armv8-crypto",
            Self::Aarch64Neon => "aarch64-neon",
            Self::Armv7Neon => "armv7-neon",
        }
    }

    /// [`name`](Self::name) and, for logs, the code path the running CPU takes within the
    /// backend: `x86-aesni-vaes-vpclmul` (256-bit VAES/VPCLMULQDQ GCM and GHASH),
    /// `x86-aesni-vpclmul` (256-bit GHASH only) or `x86-aesni` on x86_64; the plain name for
    /// the others. Not accepted by [`from_name`](Self::from_name): the variants are one backend
    /// (board profiles' `aes-ni`), chosen inside it at run time.
    #[must_use]
    pub fn path_name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::X86AesNi => x86::path_name(),
            _ => self.name(),
        }
    }

    /// Parses [`name`](Self::name).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Pure selection: the backend this crate uses on a CPU of architecture `arch` with the
    /// given capability words (see [`Arch`] for what `hwcap` means per architecture; `hwcap2`
    /// is only used on 32-bit ARM). Independent of the machine it runs on, for tests.
    #[must_use]
    pub const fn select(arch: Arch, hwcap: u64, hwcap2: u64) -> Self {
        // AT_HWCAP2's AES/PMULL bits (32-bit ARMv8) would matter only to an AArch32
        // crypto-extension backend, which this crate does not have.
        let _ = hwcap2;
        match arch {
            Arch::X86_64 => {
                let need = hwcap::X86_ECX_AESNI_PCLMUL;
                if hwcap & need == need {
                    Self::X86AesNi
                } else {
                    Self::Portable
                }
            }
            Arch::Aarch64 => {
                let crypto = hwcap::AARCH64_AES | hwcap::AARCH64_PMULL;
                if hwcap & crypto == crypto {
                    Self::Armv8Crypto
                } else {
                    // ASIMD is architecturally mandatory (and assumed by the Rust target);
                    // the neon=off QEMU models only hide the HWCAP bit.
                    Self::Aarch64Neon
                }
            }
            Arch::Arm => {
                if hwcap & hwcap::ARM_NEON != 0 {
                    Self::Armv7Neon
                } else {
                    Self::Portable
                }
            }
            Arch::Other => Self::Portable,
        }
    }

    /// The backend for the running CPU from Linux `getauxval(AT_HWCAP)` and
    /// `getauxval(AT_HWCAP2)` (`rustix::param::linux_hwcap()`). On x86_64 the arguments are
    /// ignored and CPUID is read instead.
    #[must_use]
    pub fn from_hwcap(hwcap: u64, hwcap2: u64) -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let _ = (hwcap, hwcap2);
            let ecx = if x86::supported() {
                hwcap::X86_ECX_AESNI_PCLMUL
            } else {
                0
            };
            Self::select(Arch::X86_64, ecx, 0)
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Self::select(Arch::CURRENT, hwcap, hwcap2)
        }
    }

    /// Best available backend without help from the host: CPUID on x86_64, RustCrypto's
    /// AES detection (Linux `getauxval` through the `libc` crate) on aarch64, Linux
    /// `getauxval(AT_HWCAP)` on 32-bit ARM.
    #[must_use]
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            Self::from_hwcap(0, 0)
        }
        #[cfg(target_arch = "aarch64")]
        {
            if aes::hardware_accelerated() {
                Self::Armv8Crypto
            } else {
                Self::Aarch64Neon
            }
        }
        #[cfg(target_arch = "arm")]
        {
            let (hwcap, hwcap2) = armv7::hwcap();
            Self::from_hwcap(hwcap, hwcap2)
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64", target_arch = "arm")))]
        {
            Self::Portable
        }
    }

    /// Whether this build implements the backend and the running CPU can execute it.
    #[must_use]
    pub fn is_available(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::X86AesNi => x86::supported(),
            #[cfg(target_arch = "aarch64")]
            Self::Armv8Crypto => aes::hardware_accelerated(),
            #[cfg(target_arch = "aarch64")]
            Self::Aarch64Neon => true,
            #[cfg(target_arch = "arm")]
            Self::Armv7Neon => armv7::neon_available(),
            _ => false,
        }
    }

    const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Portable),
            1 => Some(Self::X86AesNi),
            2 => Some(Self::Armv8Crypto),
            3 => Some(Self::Aarch64Neon),
            4 => Some(Self::Armv7Neon),
            _ => None,
        }
    }
}

/// Sets the backend used by [`Sealer::new`](crate::Sealer::new) and
/// [`Signer::new`](crate::Signer::new) from now on (existing instances keep theirs).
///
/// # Errors
///
/// [`CryptoError::BackendUnavailable`] if `backend` is not [available](Backend::is_available);
/// the default is then unchanged.
pub fn set_default_backend(backend: Backend) -> Result<(), CryptoError> {
    if !backend.is_available() {
        return Err(CryptoError::BackendUnavailable);
    }
    DEFAULT.store(backend as u8, Ordering::Relaxed);
    Ok(())
}

/// The default backend: the one set with [`set_default_backend`], else [`Backend::detect`].
#[must_use]
pub fn default_backend() -> Backend {
    if let Some(b) = Backend::from_u8(DEFAULT.load(Ordering::Relaxed)) {
        return b;
    }
    let b = Backend::detect();
    DEFAULT.store(b as u8, Ordering::Relaxed);
    b
}

/// Key material of an accelerated backend (everything but RustCrypto).
#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
#[derive(Clone)]
pub(crate) enum Accel {
    #[cfg(target_arch = "x86_64")]
    X86(x86::AesNi),
    #[cfg(target_arch = "aarch64")]
    Neon(neon::NeonKernel),
    #[cfg(target_arch = "arm")]
    Armv7(armv7::Armv7Kernel),
}

/// What a key will be used for, to skip unneeded key schedules.
#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
#[derive(Clone, Copy)]
pub(crate) struct Uses {
    /// CTR mode (bulk encryption).
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    pub(crate) ctr: bool,
    /// GHASH (GCM, GMAC).
    pub(crate) ghash: bool,
}

#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
impl Accel {
    /// Key schedules for `backend`, `None` if it is not an accelerated backend of this build,
    /// not available on this CPU, or the key length is not 16/32.
    pub(crate) fn new(backend: Backend, key: &[u8], uses: Uses) -> Option<Self> {
        match backend {
            #[cfg(target_arch = "x86_64")]
            Backend::X86AesNi => x86::AesNi::new(key, uses.ghash).map(Self::X86),
            #[cfg(target_arch = "aarch64")]
            Backend::Aarch64Neon => {
                neon::NeonKernel::new(key, uses.ctr, uses.ghash).map(Self::Neon)
            }
            #[cfg(target_arch = "arm")]
            Backend::Armv7Neon => armv7::Armv7Kernel::new(key, uses.ghash).map(Self::Armv7),
            _ => None,
        }
    }
}

#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
macro_rules! dispatch {
    ($self:ident, $k:ident => $e:expr) => {
        match $self {
            #[cfg(target_arch = "x86_64")]
            Accel::X86($k) => $e,
            #[cfg(target_arch = "aarch64")]
            Accel::Neon($k) => $e,
            #[cfg(target_arch = "arm")]
            Accel::Armv7($k) => $e,
        }
    };
}

#[cfg(any(target_arch = "aarch64", target_arch = "arm", target_arch = "x86_64"))]
impl modes::Kernel for Accel {
    fn encrypt_block(&self, block: &mut [u8; 16]) {
        dispatch!(self, k => k.encrypt_block(block))
    }
    fn ctr32(&self, ctr: &mut [u8; 16], data: &mut [u8]) {
        dispatch!(self, k => k.ctr32(ctr, data))
    }
    fn cbc_mac(&self, mac: &mut [u8; 16], data: &[u8]) {
        dispatch!(self, k => k.cbc_mac(mac, data))
    }
    fn ghash(&self, y: &mut [u8; 16], data: &[u8]) {
        dispatch!(self, k => k.ghash(y, data))
    }
    fn gcm_encrypt(&self, ctr: &mut [u8; 16], y: &mut [u8; 16], data: &mut [u8]) {
        dispatch!(self, k => k.gcm_encrypt(ctr, y, data))
    }
    fn gcm_decrypt(&self, ctr: &mut [u8; 16], y: &mut [u8; 16], data: &mut [u8]) {
        dispatch!(self, k => k.gcm_decrypt(ctr, y, data))
    }
    fn ccm_encrypt(&self, ctr: &mut [u8; 16], mac: &mut [u8; 16], data: &mut [u8]) {
        dispatch!(self, k => k.ccm_encrypt(ctr, mac, data))
    }
    fn ccm_decrypt(&self, ctr: &mut [u8; 16], mac: &mut [u8; 16], data: &mut [u8]) {
        dispatch!(self, k => k.ccm_decrypt(ctr, mac, data))
    }
}

#[cfg(test)]
mod tests;
