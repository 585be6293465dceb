//! Runs one smb-crypto operation once, for instruction counting under qemu-user with the
//! qemu-icount plugin (bench/crypto-qemu.sh). Usage: `crypto_icount OP BACKEND LEN`.
use smb_crypto::{Backend, Cipher, Sealer, Signer, SigningAlgo, TRANSFORM_HEADER_LEN};
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map_or("gcm", String::as_str);
    let backend = args.get(2).map_or("portable", String::as_str);
    let Some(backend) = Backend::from_name(backend) else {
        eprintln!("unknown backend {backend}");
        std::process::exit(2);
    };
    if !backend.is_available() {
        eprintln!("backend {} not available on this CPU", backend.name());
        std::process::exit(3);
    }
    let len: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(65536);
    let key = [0x42u8; 32];
    match op {
        "gcm" | "ccm" | "gcm256" | "ccm256" => {
            let cipher = match op {
                "gcm" => Cipher::Aes128Gcm,
                "ccm" => Cipher::Aes128Ccm,
                "gcm256" => Cipher::Aes256Gcm,
                _ => Cipher::Aes256Ccm,
            };
            let s = Sealer::with_backend(cipher, &key[..cipher.key_len()], backend).expect("key");
            let mut buf = vec![0x5au8; TRANSFORM_HEADER_LEN + len.max(1)];
            s.seal(1, &[7; 16], black_box(&mut buf)).expect("seal");
            black_box(&buf);
        }
        "gmac" | "cmac" | "hmac" => {
            let algo = match op {
                "gmac" => SigningAlgo::AesGmac,
                "cmac" => SigningAlgo::AesCmac,
                _ => SigningAlgo::HmacSha256,
            };
            let s = Signer::with_backend(algo, &[0x42; 16], backend).expect("backend");
            let mut msg = vec![0x5au8; len.max(64)];
            s.sign(black_box(&mut msg));
            black_box(&msg);
        }
        _ => panic!("unknown op {op}"),
    }
}
