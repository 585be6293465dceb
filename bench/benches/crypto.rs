//! Criterion benchmarks of smb-crypto on every backend available on this CPU.
//!
//! Groups (ids `BACKEND/SIZE`, throughput in bytes):
//! - `seal/<cipher>`, `open/<cipher>`: SMB3 transform encryption/decryption (AES-CCM/GCM,
//!   128/256) of 64 B, 4 KiB, 64 KiB and 1 MiB messages.
//! - `sign/<algo>`, `verify/<algo>`: SMB2 signing (AES-CMAC, AES-GMAC, HMAC-SHA256).
//! - `setup/<cipher|algo>`: key schedule (bit-sliced keys and GHASH tables are not free).
//!
//! The block-level primitives (AES, GHASH, CTR, CBC-MAC) are crate-private; they are measured
//! through these operations (sign = the MAC alone, seal = CTR + MAC). Instruction counts of the
//! ARM backends under emulation: bench/crypto-qemu.sh. Against OpenSSL:
//! bench/crypto-vs-openssl.sh.
//!
//! `cargo bench -p smbed-bench --bench crypto -- 'seal/aes128gcm'` runs one group.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use smb_crypto::{Backend, Cipher, Sealer, Signer, SigningAlgo, TRANSFORM_HEADER_LEN};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 4] = [64, 4 << 10, 64 << 10, 1 << 20];
const CIPHERS: [(Cipher, &str); 4] = [
    (Cipher::Aes128Gcm, "aes128gcm"),
    (Cipher::Aes128Ccm, "aes128ccm"),
    (Cipher::Aes256Gcm, "aes256gcm"),
    (Cipher::Aes256Ccm, "aes256ccm"),
];
const ALGOS: [(SigningAlgo, &str); 3] = [
    (SigningAlgo::AesGmac, "gmac"),
    (SigningAlgo::AesCmac, "cmac"),
    (SigningAlgo::HmacSha256, "hmac-sha256"),
];

fn backends() -> Vec<Backend> {
    let b: Vec<Backend> = Backend::ALL
        .into_iter()
        .filter(|b| b.is_available())
        .collect();
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        eprintln!(
            "smb-crypto backends on this CPU: {:?}; default {} ({})",
            b.iter().map(|b| b.name()).collect::<Vec<_>>(),
            smb_crypto::default_backend().name(),
            smb_crypto::default_backend().path_name()
        );
    });
    b
}

fn key(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(37) ^ 0x5c)
        .collect()
}

fn aead(c: &mut Criterion) {
    for (cipher, name) in CIPHERS {
        let key = key(cipher.key_len());
        for op in ["seal", "open"] {
            let mut g = c.benchmark_group(format!("{op}/{name}"));
            for backend in backends() {
                let s = Sealer::with_backend(cipher, &key, backend).expect("available");
                for len in SIZES {
                    g.throughput(Throughput::Bytes(len as u64));
                    let mut buf = vec![0x5au8; TRANSFORM_HEADER_LEN + len];
                    let nonce = [9u8; 16];
                    let id = BenchmarkId::new(backend.name(), len);
                    if op == "seal" {
                        g.bench_function(id, |b| {
                            b.iter(|| s.seal(7, &nonce, black_box(&mut buf)).expect("seal"));
                        });
                    } else {
                        s.seal(7, &nonce, &mut buf).expect("seal");
                        let sealed = buf.clone();
                        // Opening decrypts in place: restore the ciphertext each time (a memcpy,
                        // small next to the decryption; measured by the same loop everywhere).
                        g.bench_function(id, |b| {
                            b.iter(|| {
                                buf.copy_from_slice(&sealed);
                                s.open(black_box(&mut buf)).expect("open")
                            });
                        });
                    }
                }
            }
            g.finish();
        }
    }
}

fn signing(c: &mut Criterion) {
    for (algo, name) in ALGOS {
        for op in ["sign", "verify"] {
            let mut g = c.benchmark_group(format!("{op}/{name}"));
            for backend in backends() {
                let s = Signer::with_backend(algo, &[0x11; 16], backend).expect("available");
                for len in SIZES {
                    g.throughput(Throughput::Bytes(len as u64));
                    let mut msg = vec![0x5au8; len];
                    let id = BenchmarkId::new(backend.name(), len);
                    if op == "sign" {
                        g.bench_function(id, |b| b.iter(|| s.sign(black_box(&mut msg))));
                    } else {
                        s.sign(&mut msg);
                        g.bench_function(id, |b| {
                            b.iter(|| assert!(s.verify(black_box(&mut msg))));
                        });
                    }
                }
            }
            g.finish();
        }
    }
}

fn setup(c: &mut Criterion) {
    for (cipher, name) in CIPHERS {
        let key = key(cipher.key_len());
        let mut g = c.benchmark_group(format!("setup/{name}"));
        for backend in backends() {
            g.bench_function(backend.name(), |b| {
                b.iter(|| Sealer::with_backend(cipher, black_box(&key), backend).expect("key"));
            });
        }
        g.finish();
    }
    for (algo, name) in ALGOS {
        let mut g = c.benchmark_group(format!("setup/{name}"));
        for backend in backends() {
            g.bench_function(backend.name(), |b| {
                b.iter(|| Signer::with_backend(algo, black_box(&[3; 16]), backend).expect("key"));
            });
        }
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = aead, signing, setup
}
criterion_main!(benches);
