//! Throughput of one smb-crypto operation, `openssl speed` style: repeats it on one buffer
//! for a fixed time and prints bytes per second. Used by bench/crypto-vs-openssl.sh to compare
//! with `openssl speed -evp aes-128-gcm` in the same run.
//!
//! Usage: `crypto_speed [OP [BACKEND [LEN [SECONDS]]]]`, OP one of seal-aes128gcm,
//! seal-aes128ccm, seal-aes256gcm, seal-aes256ccm, open-aes128gcm, sign-gmac, sign-cmac.
use smb_crypto::{default_backend, Backend, Cipher, Sealer, Signer, SigningAlgo};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn cipher(name: &str) -> Option<Cipher> {
    Some(match name {
        "aes128gcm" => Cipher::Aes128Gcm,
        "aes128ccm" => Cipher::Aes128Ccm,
        "aes256gcm" => Cipher::Aes256Gcm,
        "aes256ccm" => Cipher::Aes256Ccm,
        _ => return None,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let op = args.get(1).map_or("seal-aes128gcm", String::as_str);
    let backend = match args.get(2).map(String::as_str) {
        None | Some("default") => default_backend(),
        Some(n) => Backend::from_name(n).unwrap_or_else(|| {
            eprintln!("unknown backend {n}");
            std::process::exit(2)
        }),
    };
    let len: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1 << 20);
    let secs: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let dur = Duration::from_secs_f64(secs);
    let mut run: Box<dyn FnMut()> = match op.split_once('-') {
        Some(("seal", c)) => {
            let c = cipher(c).expect("cipher");
            let s = Sealer::with_backend(c, &[7u8; 32][..c.key_len()], backend).expect("backend");
            let mut buf = vec![0x5au8; 52 + len];
            Box::new(move || s.seal(1, &[3; 16], black_box(&mut buf)).expect("seal"))
        }
        Some(("open", c)) => {
            let c = cipher(c).expect("cipher");
            let s = Sealer::with_backend(c, &[7u8; 32][..c.key_len()], backend).expect("backend");
            let mut sealed = vec![0x5au8; 52 + len];
            s.seal(1, &[3; 16], &mut sealed).expect("seal");
            let mut buf = sealed.clone();
            Box::new(move || {
                buf.copy_from_slice(&sealed);
                s.open(black_box(&mut buf)).expect("open");
            })
        }
        Some(("sign", a)) => {
            let algo = match a {
                "gmac" => SigningAlgo::AesGmac,
                "cmac" => SigningAlgo::AesCmac,
                _ => SigningAlgo::HmacSha256,
            };
            let s = Signer::with_backend(algo, &[7; 16], backend).expect("backend");
            let mut msg = vec![0x5au8; len.max(64)];
            Box::new(move || s.sign(black_box(&mut msg)))
        }
        _ => panic!("unknown op {op}"),
    };
    run(); // warm-up
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        run();
        n += 1;
    }
    let el = start.elapsed().as_secs_f64();
    let bps = (n as f64) * (len as f64) / el;
    println!(
        "{op} backend={} len={len} iters={n} seconds={el:.3} bytes_per_sec={bps:.0} ({:.1} MB/s)",
        backend.name(),
        bps / 1e6
    );
}
