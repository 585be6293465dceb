//! Unit tests: the NEON algorithms through the portable [`Soft`] model against RustCrypto
//! (so they run natively on any host), and the pure backend selection.

use super::modes::{self, Kernel};
use super::simd::Soft;
use super::vec::VecKernel;
use super::{hwcap, Arch, Backend};
use aes_gcm::aead::array::Array;
use aes_gcm::aead::consts::{U11, U16};
use aes_gcm::{AeadInOut, Aes128Gcm, Aes256Gcm, KeyInit};
use cmac::{Cmac, Mac};

extern crate std;
use std::eprintln;
use std::vec::Vec;

type Aes128Ccm = ccm::Ccm<aes::Aes128, U16, U11>;
type Aes256Ccm = ccm::Ccm<aes::Aes256, U16, U11>;

fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn ref_gcm(key: &[u8], nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
    let n = Array::from(*nonce);
    let tag = if key.len() == 16 {
        Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(&n, aad, data.into())
    } else {
        Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(&n, aad, data.into())
    };
    tag.unwrap().into()
}

fn ref_ccm(key: &[u8], nonce: &[u8; 11], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
    let n = Array::from(*nonce);
    let tag = if key.len() == 16 {
        Aes128Ccm::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(&n, aad, data.into())
    } else {
        Aes256Ccm::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(&n, aad, data.into())
    };
    tag.unwrap().into()
}

/// The mode layer on a kernel against RustCrypto, for the given lengths.
pub(crate) fn check_kernel<K: Kernel>(mk: impl Fn(&[u8]) -> K, lens: &[usize]) {
    for klen in [16usize, 32] {
        let key = bytes(klen, klen as u32);
        let k = mk(&key);
        for (i, &len) in lens.iter().enumerate() {
            let seed = (i * 7 + klen) as u32;
            let plain = bytes(len, seed);
            let aad = bytes(32 + (i % 3) * 7, seed + 1);
            // GCM seal and open.
            let nonce: [u8; 12] = bytes(12, seed + 2).try_into().unwrap();
            let (mut a, mut b) = (plain.clone(), plain.clone());
            let t1 = modes::gcm_seal(&k, &nonce, &aad, &mut a).unwrap();
            let t2 = ref_gcm(&key, &nonce, &aad, &mut b);
            assert_eq!(a, b, "gcm ct klen {klen} len {len}");
            assert_eq!(t1, t2, "gcm tag klen {klen} len {len}");
            assert!(modes::gcm_open(&k, &nonce, &aad, &mut a, &t1));
            assert_eq!(a, plain);
            let mut bad = t1;
            bad[0] ^= 1;
            assert!(!modes::gcm_open(&k, &nonce, &aad, &mut b, &bad));
            // CCM seal and open.
            let nonce: [u8; 11] = bytes(11, seed + 3).try_into().unwrap();
            let (mut a, mut b) = (plain.clone(), plain.clone());
            let t1 = modes::ccm_seal(&k, &nonce, &aad, &mut a).unwrap();
            let t2 = ref_ccm(&key, &nonce, &aad, &mut b);
            assert_eq!(a, b, "ccm ct klen {klen} len {len}");
            assert_eq!(t1, t2, "ccm tag klen {klen} len {len}");
            assert!(modes::ccm_open(&k, &nonce, &aad, &mut a, &t1));
            assert_eq!(a, plain);
            // GMAC = GCM with the message as AAD.
            let mut empty: [u8; 0] = [];
            let want = ref_gcm(&key, &[5; 12], &plain, &mut empty);
            assert_eq!(
                modes::gmac(&k, &[5; 12], &plain).unwrap(),
                want,
                "gmac {len}"
            );
            // CMAC (AES-128 only in SMB, but the construction is generic).
            if klen == 16 {
                let (k1, k2) = modes::cmac_subkeys(&k);
                let want = Cmac::<aes::Aes128>::new_from_slice(&key)
                    .unwrap()
                    .chain_update(&plain)
                    .finalize()
                    .into_bytes();
                assert_eq!(
                    &modes::cmac(&k, &k1, &k2, &plain)[..],
                    &want[..],
                    "cmac {len}"
                );
            }
        }
    }
}

const SMALL_LENS: [usize; 14] = [0, 1, 15, 16, 17, 31, 32, 100, 127, 128, 129, 255, 256, 1100];

#[test]
fn neon_algorithms_via_soft_model() {
    check_kernel(
        |k| VecKernel::<Soft>::new(k, true, true).unwrap(),
        &SMALL_LENS,
    );
    // Without the bit-sliced keys (the signer configuration) CTR falls back to vperm.
    check_kernel(
        |k| VecKernel::<Soft>::new(k, false, true).unwrap(),
        &[0, 33, 200],
    );
}

/// The x86 code paths this CPU can run, each as a key constructor: the 128-bit AES-NI +
/// PCLMULQDQ path always (if AES-NI is there at all), the 256-bit GHASH with the 128-bit GCM
/// loop if VPCLMULQDQ is there, the 256-bit GHASH and GCM if VAES is too. Says on stderr which
/// are skipped.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::type_complexity)]
fn x86_paths(test: &str) -> Vec<(&'static str, fn(&[u8]) -> super::x86::AesNi)> {
    use super::x86::{wide_features, AesNi};
    if !super::x86::supported() {
        eprintln!("{test}: SKIPPED: no AES-NI/PCLMULQDQ on this CPU");
        return Vec::new();
    }
    let mut v: Vec<(&'static str, fn(&[u8]) -> AesNi)> =
        std::vec![("aesni-128", |k| AesNi::new(k, true).unwrap().narrow())];
    let f = wide_features();
    if f.vpclmul {
        v.push(("vpclmul-ghash", |k| {
            AesNi::new(k, true).unwrap().without_vaes()
        }));
    } else {
        eprintln!("{test}: SKIPPED the 256-bit GHASH path: no AVX2 + VPCLMULQDQ on this CPU");
    }
    if f.vaes {
        v.push(("vaes-vpclmul", |k| AesNi::new(k, true).unwrap()));
    } else {
        eprintln!("{test}: SKIPPED the 256-bit GCM path: no AVX2 + VAES + VPCLMULQDQ on this CPU");
    }
    v
}

#[cfg(target_arch = "x86_64")]
#[test]
fn x86_kernel_if_supported() {
    let mut lens = SMALL_LENS.to_vec();
    lens.extend([1024 + 7, 4096, 4096 + 256, 5000, 65536 + 3]);
    for (name, mk) in x86_paths("x86_kernel_if_supported") {
        eprintln!("x86_kernel_if_supported: {name}");
        check_kernel(mk, &lens);
    }
}

/// The run-time detection agrees with std's.
#[cfg(target_arch = "x86_64")]
#[test]
fn x86_wide_detection_matches_std() {
    let f = super::x86::wide_features();
    let avx2 = std::is_x86_feature_detected!("avx2");
    let vpclmul = avx2 && std::is_x86_feature_detected!("vpclmulqdq");
    let vaes = vpclmul && std::is_x86_feature_detected!("vaes");
    eprintln!("x86 wide features: {f:?}");
    assert_eq!(f.vpclmul, vpclmul);
    assert_eq!(f.vaes, vaes);
    // The name for logs carries the path; the backend's name (board profiles, ids) does not.
    let want = if !super::x86::supported() {
        "x86-aesni"
    } else if vaes {
        "x86-aesni-vaes-vpclmul"
    } else if vpclmul {
        "x86-aesni-vpclmul"
    } else {
        "x86-aesni"
    };
    assert_eq!(Backend::X86AesNi.path_name(), want);
    assert_eq!(Backend::X86AesNi.name(), "x86-aesni");
    assert_eq!(Backend::Portable.path_name(), "portable");
}

/// Every x86 path against RustCrypto and against each other on random lengths up to ~70 KiB
/// at random (unaligned) offsets, in place: GCM seal and open with random AAD (long AAD
/// included, which takes the wide GHASH), GMAC (AAD only), both key sizes; and GHASH and the
/// GCM block loops on their own with random state, counters about to wrap included.
#[cfg(target_arch = "x86_64")]
#[test]
fn x86_paths_differential_random() {
    let paths = x86_paths("x86_paths_differential_random");
    if paths.is_empty() {
        return;
    }
    let mut rng = bytes(4096, 77).into_iter().cycle();
    let mut next = move |n: usize| -> usize {
        let r = usize::from(rng.next().unwrap())
            | usize::from(rng.next().unwrap()) << 8
            | usize::from(rng.next().unwrap()) << 16;
        r % n
    };
    let iters: usize = std::env::var("SMB_CRYPTO_DIFF_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let mut lens: Vec<usize> = std::vec![0, 1, 15, 16, 17, 255, 256, 257, 511, 512, 4111, 65616];
    lens.extend((0..iters).map(|_| next(70_000)));
    for (i, &len) in lens.iter().enumerate() {
        let seed = 1000 + i as u32;
        let klen = if i % 2 == 0 { 16 } else { 32 };
        let key = bytes(klen, seed);
        let aad_len = match i % 4 {
            0 => 32, // the SMB transform header
            1 => 0,
            2 => next(300),
            _ => next(6000),
        };
        let aad = bytes(aad_len, seed + 1);
        let plain = bytes(len, seed + 2);
        let nonce: [u8; 12] = bytes(12, seed + 3).try_into().unwrap();
        let mut want = plain.clone();
        let want_tag = ref_gcm(&key, &nonce, &aad, &mut want);
        let mut empty: [u8; 0] = [];
        let want_gmac = ref_gcm(&key, &nonce, &plain, &mut empty);
        let off = next(64);
        let mut store = std::vec![0xA5u8; off + len + 16];
        for (name, mk) in &paths {
            let k = mk(&key);
            let ctx = std::format!("{name} klen {klen} len {len} aad {aad_len} off {off}");
            let buf = &mut store[off..off + len];
            buf.copy_from_slice(&plain);
            let tag = modes::gcm_seal(&k, &nonce, &aad, buf).unwrap();
            assert!(buf == &want[..], "{ctx}: seal ciphertext");
            assert_eq!(tag, want_tag, "{ctx}: seal tag");
            assert!(modes::gcm_open(&k, &nonce, &aad, buf, &tag), "{ctx}: open");
            assert!(buf == &plain[..], "{ctx}: open plaintext");
            buf.copy_from_slice(&want);
            let mut bad = tag;
            bad[next(16)] ^= 1 << next(8);
            assert!(
                !modes::gcm_open(&k, &nonce, &aad, buf, &bad),
                "{ctx}: forged tag"
            );
            assert!(
                store[..off].iter().all(|&b| b == 0xA5),
                "{ctx}: wrote before"
            );
            assert!(
                store[off + len..].iter().all(|&b| b == 0xA5),
                "{ctx}: wrote after"
            );
            let gmac = modes::gmac(&k, &nonce, &store[off..off + len]);
            assert_eq!(gmac, Some(want_gmac), "{ctx}: gmac");
        }

        // The block-level primitives against the 128-bit path, from random state.
        let nblocks = len / 16;
        let y0: [u8; 16] = bytes(16, seed + 4).try_into().unwrap();
        let mut ctr0: [u8; 16] = bytes(16, seed + 5).try_into().unwrap();
        if i % 3 == 0 {
            // inc32 wraps inside the data.
            ctr0[12..15].fill(0xFF);
            ctr0[15] = 0xFF - next(40) as u8;
        }
        let data = &plain[..nblocks * 16];
        let base = (paths[0].1)(&key);
        let (mut y_ref, mut c_ref, mut enc_ref) = (y0, ctr0, data.to_vec());
        base.gcm_encrypt(&mut c_ref, &mut y_ref, &mut enc_ref);
        let (mut yd_ref, mut cd_ref, mut dec_ref) = (y0, ctr0, data.to_vec());
        base.gcm_decrypt(&mut cd_ref, &mut yd_ref, &mut dec_ref);
        let mut gh_ref = y0;
        base.ghash(&mut gh_ref, data);
        for (name, mk) in &paths[1..] {
            let k = mk(&key);
            let ctx = std::format!("{name} klen {klen} blocks {nblocks} off {off}");
            let buf = &mut store[off..off + nblocks * 16];
            let mut gh = y0;
            k.ghash(&mut gh, &plain[..nblocks * 16]);
            assert_eq!(gh, gh_ref, "{ctx}: ghash");
            buf.copy_from_slice(data);
            let (mut y, mut c) = (y0, ctr0);
            k.gcm_encrypt(&mut c, &mut y, buf);
            assert!(buf == &enc_ref[..], "{ctx}: gcm_encrypt data");
            assert_eq!((y, c), (y_ref, c_ref), "{ctx}: gcm_encrypt state");
            buf.copy_from_slice(data);
            let (mut y, mut c) = (y0, ctr0);
            k.gcm_decrypt(&mut c, &mut y, buf);
            assert!(buf == &dec_ref[..], "{ctx}: gcm_decrypt data");
            assert_eq!((y, c), (yd_ref, cd_ref), "{ctx}: gcm_decrypt state");
        }
    }
}

#[test]
fn selection_per_cpu_model() {
    // Linux AT_HWCAP as QEMU 7.2 user mode reports it (printed by tests/backends.rs).
    // cortex-a76 (Pi 5): fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics ...
    let a76 = 0x0011_9ffb;
    // Pi-4-like (QEMU_CPU=cortex-a72,neon=off,vfp=off): fp asimd crc32 cpuid.
    let pi4 = 0x883;
    // A Cortex-A72 with the crypto extension (some non-Pi boards).
    let a72_crypto = pi4 | hwcap::AARCH64_AES | hwcap::AARCH64_PMULL;
    assert_eq!(Backend::select(Arch::Aarch64, a76, 0), Backend::Armv8Crypto);
    assert_eq!(
        Backend::select(Arch::Aarch64, a72_crypto, 0),
        Backend::Armv8Crypto
    );
    assert_eq!(Backend::select(Arch::Aarch64, pi4, 0), Backend::Aarch64Neon);
    // AES without PMULL (does not exist in practice) is not enough for GCM.
    assert_eq!(
        Backend::select(Arch::Aarch64, pi4 | hwcap::AARCH64_AES, 0),
        Backend::Aarch64Neon
    );
    // Even with the ASIMD bit hidden, aarch64 executes NEON.
    assert_eq!(Backend::select(Arch::Aarch64, 0, 0), Backend::Aarch64Neon);
    // armv7: cortex-a7 (NEON, no crypto extensions) and cortex-a7,neon=off.
    let a7 = 0x001f_b8d7;
    assert_ne!(a7 & hwcap::ARM_NEON, 0);
    assert_eq!(Backend::select(Arch::Arm, a7, 0), Backend::Armv7Neon);
    assert_eq!(
        Backend::select(Arch::Arm, 0x001f_a8d7, 0),
        Backend::Portable
    );
    assert_eq!(Backend::select(Arch::Arm, 0, 0), Backend::Portable);
    // A 32-bit OS on an ARMv8 CPU with AES/PMULL (AT_HWCAP2): no AArch32 crypto-extension
    // backend, NEON is still the best path; without NEON still portable.
    let aes_pmull = hwcap::ARM2_AES | hwcap::ARM2_PMULL;
    assert_eq!(
        Backend::select(Arch::Arm, a7, aes_pmull),
        Backend::Armv7Neon
    );
    assert_eq!(
        Backend::select(Arch::Arm, a7 & !hwcap::ARM_NEON, aes_pmull),
        Backend::Portable
    );
    // x86_64 CPUID.1:ECX: a Xeon with AES-NI etc. vs. an old Core 2 (SSSE3, no AES).
    let xeon: u64 = 0xfffa_3203;
    assert_eq!(Backend::select(Arch::X86_64, xeon, 0), Backend::X86AesNi);
    assert_eq!(Backend::select(Arch::X86_64, 1 << 9, 0), Backend::Portable);
    assert_eq!(
        Backend::select(Arch::Other, u64::MAX, u64::MAX),
        Backend::Portable
    );
}

#[test]
fn names_roundtrip() {
    for b in Backend::ALL {
        assert_eq!(Backend::from_name(b.name()), Some(b));
        assert_eq!(Backend::from_u8(b as u8), Some(b));
    }
    assert_eq!(Backend::from_name("nope"), None);
    assert!(Backend::Portable.is_available());
    if !cfg!(target_arch = "arm") {
        assert!(!Backend::Armv7Neon.is_available());
    }
}

fn unhex(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    d.chunks(2)
        .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// NIST / RFC vectors on one kernel: FIPS-197 C.1 and C.3 (AES block), the GCM
/// specification's test cases 1-4 and 13-16 (McGrew-Viega, as used by NIST CAVP), RFC 4493
/// (AES-CMAC). CCM with SMB's parameters (11-byte nonce, 16-byte tag) is covered by the
/// Samba and Microsoft vectors in tests/known_answers.rs.
pub(crate) fn nist_vectors<K: Kernel>(mk: impl Fn(&[u8]) -> K) {
    // FIPS-197 appendix C.
    let pt: [u8; 16] = unhex("00112233445566778899aabbccddeeff")
        .try_into()
        .unwrap();
    for (key, ct) in [
        (
            "000102030405060708090a0b0c0d0e0f",
            "69c4e0d86a7b0430d8cdb78070b4c55a",
        ),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "8ea2b7ca516745bfeafc49904b496089",
        ),
    ] {
        let k = mk(&unhex(key));
        let mut b = pt;
        k.encrypt_block(&mut b);
        assert_eq!(b.to_vec(), unhex(ct), "FIPS-197 {key}");
        // The same block through CTR (keystream of counter block = pt, data = 0).
        let mut ctr = pt;
        let mut data = [0u8; 16];
        k.ctr32(&mut ctr, &mut data);
        assert_eq!(data.to_vec(), unhex(ct), "FIPS-197 via CTR {key}");
    }

    // GCM test cases (key, iv, plaintext, aad, ciphertext, tag).
    const K3: &str = "feffe9928665731c6d6a8f9467308308";
    const IV3: &str = "cafebabefacedbaddecaf888";
    const P3: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                      1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
    const P4: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                      1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const A4: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    let k256 = std::format!("{K3}{K3}");
    let cases: [(&str, &str, &str, &str, &str, &str); 8] = [
        (
            "00000000000000000000000000000000",
            "000000000000000000000000",
            "",
            "",
            "",
            "58e2fccefa7e3061367f1d57a4e7455a",
        ),
        (
            "00000000000000000000000000000000",
            "000000000000000000000000",
            "00000000000000000000000000000000",
            "",
            "0388dace60b6a392f328c2b971b2fe78",
            "ab6e47d42cec13bdf53a67b21257bddf",
        ),
        (
            K3,
            IV3,
            P3,
            "",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
            "4d5c2af327cd64a62cf35abd2ba6fab4",
        ),
        (
            K3,
            IV3,
            P4,
            A4,
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            "000000000000000000000000",
            "",
            "",
            "",
            "530f8afbc74536b9a963b4f1c4cb738b",
        ),
        (
            "0000000000000000000000000000000000000000000000000000000000000000",
            "000000000000000000000000",
            "00000000000000000000000000000000",
            "",
            "cea7403d4d606b6e074ec5d3baf39d18",
            "d0d1c8a799996bf0265b98b5d48ab919",
        ),
        (
            &k256,
            IV3,
            P3,
            "",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
            "b094dac5d93471bdec1a502270e3cc6c",
        ),
        (
            &k256,
            IV3,
            P4,
            A4,
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (n, (key, iv, p, a, c, t)) in cases.iter().enumerate() {
        let k = mk(&unhex(key));
        let iv: [u8; 12] = unhex(iv).try_into().unwrap();
        let aad = unhex(a);
        let mut data = unhex(p);
        let tag = modes::gcm_seal(&k, &iv, &aad, &mut data).unwrap();
        assert_eq!(data, unhex(c), "GCM case {n} ciphertext");
        assert_eq!(tag.to_vec(), unhex(t), "GCM case {n} tag");
        assert!(modes::gcm_open(&k, &iv, &aad, &mut data, &tag));
        assert_eq!(data, unhex(p));
    }

    // RFC 4493 section 4.
    let k = mk(&unhex("2b7e151628aed2a6abf7158809cf4f3c"));
    let (k1, k2) = modes::cmac_subkeys(&k);
    assert_eq!(k1.to_vec(), unhex("fbeed618357133667c85e08f7236a8de"));
    assert_eq!(k2.to_vec(), unhex("f7ddac306ae266ccf90bc11ee46d513b"));
    let m = unhex(
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
         30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
    );
    for (len, mac) in [
        (0, "bb1d6929e95937287fa37d129b756746"),
        (16, "070a16b46b4d4144f79bdd9dd04a287c"),
        (40, "dfa66747de9ae63030ca32611497c827"),
        (64, "51f0bebf7e3b9d92fc49741779363cfe"),
    ] {
        assert_eq!(
            modes::cmac(&k, &k1, &k2, &m[..len]).to_vec(),
            unhex(mac),
            "CMAC {len}"
        );
    }
}

/// The reference vectors hold for RustCrypto itself (guards against a typo in them).
#[test]
fn nist_vectors_agree_with_rustcrypto() {
    let mut data = unhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let key = unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    let iv: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
    let tag = ref_gcm(
        &key,
        &iv,
        &unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
        &mut data,
    );
    assert_eq!(tag.to_vec(), unhex("76fc6ece0f4e1768cddf8853bb2d551b"));
}

#[test]
fn nist_vectors_soft_model() {
    nist_vectors(|k| VecKernel::<Soft>::new(k, true, true).unwrap());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn nist_vectors_x86() {
    for (name, mk) in x86_paths("nist_vectors_x86") {
        eprintln!("nist_vectors_x86: {name}");
        nist_vectors(mk);
    }
}

#[cfg(target_arch = "aarch64")]
#[test]
fn nist_vectors_and_differential_neon() {
    nist_vectors(|k| super::neon::NeonKernel::new(k, true, true).unwrap());
    let mut lens = SMALL_LENS.to_vec();
    lens.extend([1024 + 7, 4096, 5000]);
    check_kernel(
        |k| super::neon::NeonKernel::new(k, true, true).unwrap(),
        &lens,
    );
}

#[cfg(target_arch = "arm")]
#[test]
fn nist_vectors_and_differential_armv7() {
    // Under `QEMU_CPU=cortex-a7,neon=off` the kernel must not be built (nor run: SIGILL).
    let Some(_) = super::armv7::Armv7Kernel::new(&[0; 16], true) else {
        assert!(!Backend::Armv7Neon.is_available());
        return;
    };
    assert!(Backend::Armv7Neon.is_available());
    nist_vectors(|k| super::armv7::Armv7Kernel::new(k, true).unwrap());
    let mut lens = SMALL_LENS.to_vec();
    lens.extend([1024 + 7, 4096, 5000]);
    check_kernel(|k| super::armv7::Armv7Kernel::new(k, true).unwrap(), &lens);
    // Without the GHASH tables (the CMAC signer configuration) GHASH still works.
    check_kernel(
        |k| super::armv7::Armv7Kernel::new(k, false).unwrap(),
        &[0, 33, 200],
    );
}

/// Ad-hoc throughput of the x86 code paths on this CPU (128-bit AES-NI/PCLMULQDQ, 256-bit
/// GHASH, 256-bit GHASH + VAES GCM), GB/s of GMAC, GCM seal and GCM open (32-byte AAD):
/// `cargo test --release -p smb-crypto --lib -- --ignored x86_throughput --nocapture`.
#[cfg(target_arch = "x86_64")]
#[test]
#[ignore = "benchmark; run on demand with --release"]
fn x86_throughput() {
    use super::x86::AesNi;
    use std::time::{Duration, Instant};
    if !super::x86::supported() {
        eprintln!("x86_throughput: skipped, no AES-NI/PCLMULQDQ");
        return;
    }
    /// Best GB/s of 5 runs of ~40 ms each.
    fn rate(len: usize, mut f: impl FnMut()) -> f64 {
        let mut best = 0f64;
        for _ in 0..5 {
            let t = Instant::now();
            let mut n = 0u32;
            while t.elapsed() < Duration::from_millis(40) {
                f();
                n += 1;
            }
            best = best.max(len as f64 * f64::from(n) / t.elapsed().as_secs_f64() / 1e9);
        }
        best
    }
    let f = super::x86::wide_features();
    eprintln!("x86_throughput: {f:?}");
    for klen in [16usize, 32] {
        let key = bytes(klen, 9);
        let full = AesNi::new(&key, true).unwrap();
        let kernels = [
            ("aesni-128", full.narrow()),
            ("vpclmul-ghash", full.without_vaes()),
            ("vaes-vpclmul", full),
        ];
        for len in [64 << 10, 1 << 20] {
            let mut data = bytes(len, 1);
            let aad = [7u8; 32];
            let nonce = [3u8; 12];
            for (name, k) in &kernels {
                let gmac = rate(len, || {
                    core::hint::black_box(modes::gmac(k, &nonce, core::hint::black_box(&data)));
                });
                let seal = rate(len, || {
                    core::hint::black_box(modes::gcm_seal(k, &nonce, &aad, &mut data));
                });
                let tag = [0u8; 16];
                let open = rate(len, || {
                    core::hint::black_box(modes::gcm_open(k, &nonce, &aad, &mut data, &tag));
                });
                eprintln!(
                    "AES-{} {len:>7} B {name:>13}: GB/s gmac {gmac:6.2}  seal {seal:6.2}  \
                     open {open:6.2}",
                    klen * 8
                );
            }
        }
    }
}
