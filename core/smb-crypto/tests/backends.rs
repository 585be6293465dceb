//! Every accelerated backend against the portable (RustCrypto) one through the public API,
//! and the backend selected on the running CPU.
//!
//! Run under qemu-user for each board CPU (bench/crypto-qemu.sh does):
//! `QEMU_CPU=cortex-a76`, `QEMU_CPU=cortex-a72,neon=off,vfp=off` (Pi 4), `cortex-a7`,
//! `cortex-a7,neon=off` and `cortex-a15` (armv7), and natively on x86_64.

use smb_crypto::{
    default_backend, Backend, Cipher, CryptoError, Sealer, Signer, SigningAlgo,
    TRANSFORM_HEADER_LEN,
};

const ALL_CIPHERS: [Cipher; 4] = [
    Cipher::Aes128Ccm,
    Cipher::Aes128Gcm,
    Cipher::Aes256Ccm,
    Cipher::Aes256Gcm,
];

/// xorshift64*, seeded per test so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            c.copy_from_slice(&r[..c.len()]);
        }
    }
}

fn accelerated() -> Vec<Backend> {
    Backend::ALL
        .into_iter()
        .filter(|b| *b != Backend::Portable && b.is_available())
        .collect()
}

/// Lengths: the edge cases, then random ones in 0..70,000. Fewer under emulation.
fn lengths(rng: &mut Rng) -> Vec<usize> {
    let mut v = vec![
        1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 4096, 65536,
    ];
    let n = std::env::var("SMB_CRYPTO_DIFF_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    for _ in 0..n {
        v.push(rng.below(70_000));
    }
    v
}

#[test]
fn seal_and_open_match_portable() {
    let mut rng = Rng(0x005E_A10F_CAFE);
    let backends = accelerated();
    eprintln!("accelerated backends here: {backends:?}");
    for len in lengths(&mut rng) {
        let len = len.max(1);
        for cipher in ALL_CIPHERS {
            let mut key = vec![0u8; cipher.key_len()];
            rng.fill(&mut key);
            let mut nonce = [0u8; 16];
            rng.fill(&mut nonce);
            let sid = rng.next();
            let reference = Sealer::with_backend(cipher, &key, Backend::Portable).unwrap();
            let mut plain = vec![0u8; len];
            rng.fill(&mut plain);
            let mut want = vec![0u8; TRANSFORM_HEADER_LEN];
            want.extend_from_slice(&plain);
            reference.seal(sid, &nonce, &mut want).unwrap();
            for &b in &backends {
                let s = Sealer::with_backend(cipher, &key, b).unwrap();
                assert_eq!(s.backend(), b);
                // Random alignment inside a larger buffer.
                let off = rng.below(64);
                let mut store = vec![0xA5u8; off + want.len() + 7];
                let buf = &mut store[off..off + want.len()];
                buf[TRANSFORM_HEADER_LEN..].copy_from_slice(&plain);
                s.seal(sid, &nonce, buf).unwrap();
                assert!(
                    buf == &want[..],
                    "{b:?} {cipher:?} len {len} off {off}: seal differs"
                );
                // Open what it sealed, and what the reference sealed.
                let (got_sid, range) = s.open(buf).unwrap();
                assert_eq!(got_sid, sid);
                assert!(buf[range] == plain[..], "{b:?} {cipher:?} len {len}: open");
                // A flipped bit anywhere in the authenticated part fails and wipes.
                let mut bad = want.clone();
                let pos = 20 + rng.below(bad.len() - 20);
                bad[pos] ^= 1 << rng.below(8);
                match s.open(&mut bad) {
                    Err(CryptoError::AuthFailed) => {
                        assert!(bad[TRANSFORM_HEADER_LEN..].iter().all(|&x| x == 0));
                    }
                    Err(_) => {} // header checks (size, flags) reject before decrypting
                    Ok(_) => panic!("{b:?} {cipher:?} len {len}: forgery accepted"),
                }
            }
            // The reference opens too (sanity of the comparison itself).
            reference.open(&mut want).unwrap();
        }
    }
}

#[test]
fn signatures_match_portable() {
    let mut rng = Rng(0x0516_4A7E);
    let backends = accelerated();
    for len in lengths(&mut rng) {
        let len = len.max(64);
        for algo in [SigningAlgo::AesCmac, SigningAlgo::AesGmac] {
            let mut key = [0u8; 16];
            rng.fill(&mut key);
            let mut msg = vec![0u8; len];
            rng.fill(&mut msg);
            let mut want = msg.clone();
            Signer::with_backend(algo, &key, Backend::Portable)
                .unwrap()
                .sign(&mut want);
            for &b in &backends {
                let s = Signer::with_backend(algo, &key, b).unwrap();
                let off = rng.below(64);
                let mut store = vec![0u8; off + len];
                let buf = &mut store[off..];
                buf.copy_from_slice(&msg);
                s.sign(buf);
                assert!(buf == &want[..], "{b:?} {algo:?} len {len} off {off}");
                assert!(s.verify(buf));
                buf[rng.below(len)] ^= 1 << rng.below(8);
                if buf[48..64] == want[48..64] {
                    assert!(!s.verify(buf), "{b:?} {algo:?} len {len}: forgery");
                }
            }
        }
    }
}

/// The backend each emulated CPU model selects (qemu-user exports its `QEMU_CPU` to the
/// guest environment), and that it is the one `Sealer::new` uses.
#[test]
fn backend_selected_for_this_cpu() {
    let (hwcap, hwcap2) = rustix::param::linux_hwcap();
    let chosen = Backend::from_hwcap(hwcap as u64, hwcap2 as u64);
    let cpu = std::env::var("QEMU_CPU").unwrap_or_default();
    eprintln!(
        "QEMU_CPU={cpu:?} AT_HWCAP={hwcap:#x} AT_HWCAP2={hwcap2:#x} -> {} (detect: {})",
        chosen.path_name(),
        Backend::detect().name()
    );
    let expected = match cpu.as_str() {
        "cortex-a76" | "max" => Some(Backend::Armv8Crypto),
        "cortex-a72,neon=off,vfp=off" => Some(Backend::Aarch64Neon),
        // armv7 with NEON (no crypto extensions) takes the NEON assembly; without, portable.
        "cortex-a7" | "cortex-a15" => Some(Backend::Armv7Neon),
        "cortex-a7,neon=off" | "cortex-a15,neon=off" => Some(Backend::Portable),
        "" if cfg!(target_arch = "x86_64") => Some(if chosen.is_available() {
            Backend::X86AesNi
        } else {
            Backend::Portable
        }),
        _ => None,
    };
    if let Some(e) = expected {
        assert_eq!(chosen, e, "QEMU_CPU={cpu:?}");
    }
    assert!(chosen.is_available());
    // Detection without the host's help agrees with the HWCAP-based choice.
    assert_eq!(Backend::detect(), chosen);
    assert_eq!(default_backend(), chosen);
    let s = Sealer::new(Cipher::Aes128Gcm, &[1; 16]).unwrap();
    assert_eq!(s.backend(), chosen);
    assert_eq!(
        Signer::new(SigningAlgo::AesGmac, &[1; 16]).backend(),
        chosen
    );
    // Unavailable backends are refused, not silently replaced.
    for b in Backend::ALL.into_iter().filter(|b| !b.is_available()) {
        assert!(Sealer::with_backend(Cipher::Aes128Gcm, &[1; 16], b).is_err());
        assert!(Signer::with_backend(SigningAlgo::AesCmac, &[1; 16], b).is_err());
        assert!(smb_crypto::set_default_backend(b).is_err());
    }
}
