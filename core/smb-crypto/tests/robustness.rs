//! Tamper, truncation and garbage-input tests: peer bytes must produce errors, never panics
//! and never unauthenticated plaintext.

use smb_crypto::{
    ct_eq, transform_session_id, Cipher, CryptoError, NonceCounter, Sealer, Signer, SigningAlgo,
    TransformHeader, TRANSFORM_HEADER_LEN,
};

const ALL_CIPHERS: [Cipher; 4] = [
    Cipher::Aes128Ccm,
    Cipher::Aes128Gcm,
    Cipher::Aes256Ccm,
    Cipher::Aes256Gcm,
];
const ALL_SIGNING: [SigningAlgo; 3] = [
    SigningAlgo::HmacSha256,
    SigningAlgo::AesCmac,
    SigningAlgo::AesGmac,
];

/// Deterministic xorshift64 byte stream for test data.
struct Rng(u64);

impl Rng {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.to_le_bytes()[0]
    }
    fn fill(&mut self, buf: &mut [u8]) {
        buf.iter_mut().for_each(|b| *b = self.byte());
    }
}

fn key_for(cipher: Cipher) -> Vec<u8> {
    (0..cipher.key_len()).map(|i| 0x40 ^ (i as u8)).collect()
}

fn sample_plaintext(len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    Rng(0x1234_5678_9ABC_DEF0).fill(&mut p);
    if let Some(id) = p.first_chunk_mut::<4>() {
        *id = *b"\xFESMB";
    }
    p
}

/// A sealed message and its plaintext.
fn sealed(cipher: Cipher, len: usize) -> (Sealer, Vec<u8>, Vec<u8>) {
    let sealer = Sealer::new(cipher, &key_for(cipher)).expect("key length");
    let plain = sample_plaintext(len);
    let mut buf = vec![0u8; TRANSFORM_HEADER_LEN];
    buf.extend_from_slice(&plain);
    let nonce = NonceCounter::new([9, 8, 7, 6])
        .next(cipher)
        .expect("fresh counter");
    sealer
        .seal(0x1122_3344_5566_7788, &nonce, &mut buf)
        .expect("seal");
    (sealer, buf, plain)
}

#[test]
fn roundtrip_all_ciphers_and_sizes() {
    for cipher in ALL_CIPHERS {
        for len in [1, 15, 16, 17, 64, 100, 1000, 4096 + 3] {
            let (sealer, mut buf, plain) = sealed(cipher, len);
            assert_eq!(transform_session_id(&buf), Some(0x1122_3344_5566_7788));
            assert_ne!(
                buf[52..],
                plain[..],
                "{cipher:?}: payload must be encrypted"
            );
            let hdr = TransformHeader::parse(&buf).unwrap();
            assert_eq!(hdr.flags, 1);
            assert_eq!(hdr.original_message_size as usize, len);
            assert!(hdr.nonce[cipher.nonce_len()..].iter().all(|&b| b == 0));
            let (sid, range) = sealer.open(&mut buf).unwrap();
            assert_eq!(sid, 0x1122_3344_5566_7788);
            assert_eq!(buf[range], plain[..]);
        }
    }
}

#[test]
fn every_single_bit_flip_fails_open() {
    for cipher in ALL_CIPHERS {
        let (sealer, good, plain) = sealed(cipher, 80);
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut buf = good.clone();
                buf[byte] ^= 1 << bit;
                let err = sealer.open(&mut buf).unwrap_err();
                let expected = match byte {
                    0..4 => CryptoError::BadProtocolId,
                    36..40 => CryptoError::BadLength,
                    42..44 => CryptoError::BadFlags,
                    // Signature (tag), nonce, reserved, session id, ciphertext.
                    _ => CryptoError::AuthFailed,
                };
                assert_eq!(err, expected, "{cipher:?} byte {byte} bit {bit}");
                assert_ne!(buf[52..], plain[..], "no plaintext after a failed open");
            }
        }
    }
}

#[test]
fn failed_open_leaves_no_plaintext() {
    for cipher in ALL_CIPHERS {
        let (sealer, mut buf, plain) = sealed(cipher, 300);
        buf[200] ^= 0x01; // ciphertext
        assert_eq!(sealer.open(&mut buf), Err(CryptoError::AuthFailed));
        // Not a single plaintext block may survive (CCM decrypts before checking).
        for (c, p) in buf[52..].chunks(16).zip(plain.chunks(16)) {
            assert_ne!(c, p, "{cipher:?}");
        }
    }
}

#[test]
fn wrong_key_or_session_fails() {
    for cipher in ALL_CIPHERS {
        let (_, good, _) = sealed(cipher, 64);
        let mut other_key = key_for(cipher);
        other_key[0] ^= 0x80;
        let other = Sealer::new(cipher, &other_key).unwrap();
        assert_eq!(other.open(&mut good.clone()), Err(CryptoError::AuthFailed));

        // Session id rewritten by an attacker (it is AAD).
        let (sealer, mut buf, _) = sealed(cipher, 64);
        buf[44..52].copy_from_slice(&1u64.to_le_bytes());
        assert_eq!(transform_session_id(&buf), Some(1));
        assert_eq!(sealer.open(&mut buf), Err(CryptoError::AuthFailed));
    }
    // Same key bytes, other mode.
    let (_, good, _) = sealed(Cipher::Aes128Gcm, 64);
    let ccm = Sealer::new(Cipher::Aes128Ccm, &key_for(Cipher::Aes128Ccm)).unwrap();
    assert_eq!(ccm.open(&mut good.clone()), Err(CryptoError::AuthFailed));
}

#[test]
fn truncated_and_extended_transforms_are_rejected() {
    for cipher in ALL_CIPHERS {
        let (sealer, good, _) = sealed(cipher, 40);
        for len in 0..good.len() {
            let mut buf = good[..len].to_vec();
            let err = sealer.open(&mut buf).unwrap_err();
            if len < TRANSFORM_HEADER_LEN {
                assert_eq!(err, CryptoError::TooShort, "len {len}");
                assert_eq!(transform_session_id(&buf), None);
                assert_eq!(buf, good[..len], "header errors leave the buffer alone");
            } else if len == TRANSFORM_HEADER_LEN {
                assert_eq!(err, CryptoError::TooShort);
            } else {
                assert_eq!(err, CryptoError::BadLength, "len {len}");
            }
        }
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(sealer.open(&mut longer), Err(CryptoError::BadLength));
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    let sealers: Vec<Sealer> = ALL_CIPHERS
        .iter()
        .map(|&c| Sealer::new(c, &key_for(c)).unwrap())
        .collect();
    for round in 0..2000usize {
        let len = round % 200;
        let mut buf = vec![0u8; len];
        rng.fill(&mut buf);
        if round % 2 == 1 && len >= TRANSFORM_HEADER_LEN {
            // Make the header plausible so the AEAD path runs on garbage.
            buf[..4].copy_from_slice(b"\xFDSMB");
            let size = u32::try_from(len - TRANSFORM_HEADER_LEN).unwrap();
            buf[36..40].copy_from_slice(&size.to_le_bytes());
            buf[42..44].copy_from_slice(&1u16.to_le_bytes());
        }
        let _ = transform_session_id(&buf);
        let _ = TransformHeader::parse(&buf);
        for s in &sealers {
            let mut b = buf.clone();
            assert!(s.open(&mut b).is_err());
        }
        for algo in ALL_SIGNING {
            let mut b = buf.clone();
            assert!(!Signer::new(algo, &[7; 16]).verify(&mut b));
            assert_eq!(b, buf);
        }
    }
}

#[test]
fn seal_rejects_empty_payload() {
    for cipher in ALL_CIPHERS {
        let sealer = Sealer::new(cipher, &key_for(cipher)).unwrap();
        for len in [0, 10, TRANSFORM_HEADER_LEN] {
            let mut buf = vec![0xAB; len];
            assert_eq!(
                sealer.seal(1, &[0; 16], &mut buf),
                Err(CryptoError::TooShort)
            );
            assert!(buf.iter().all(|&b| b == 0xAB));
        }
    }
}

#[test]
fn bad_key_lengths() {
    for cipher in ALL_CIPHERS {
        for len in [0, 15, 17, 24, 31, 33] {
            assert!(matches!(
                Sealer::new(cipher, &vec![0; len]),
                Err(CryptoError::BadKeyLength)
            ));
        }
        let other = if cipher.key_len() == 16 { 32 } else { 16 };
        assert!(Sealer::new(cipher, &vec![0; other]).is_err());
        assert!(Sealer::new(cipher, &vec![0; cipher.key_len()]).is_ok());
    }
}

fn sample_message(len: usize, server_to_client: bool) -> Vec<u8> {
    let mut m = sample_plaintext(len);
    m[16] = if server_to_client { 0x09 } else { 0x08 };
    m
}

#[test]
fn every_single_bit_flip_fails_verify() {
    for algo in ALL_SIGNING {
        let signer = Signer::new(algo, &[0x3C; 16]);
        let mut good = sample_message(64 + 24, true);
        signer.sign(&mut good);
        assert!(signer.verify(&mut good.clone()));
        for byte in 0..good.len() {
            for bit in 0..8 {
                let mut m = good.clone();
                m[byte] ^= 1 << bit;
                let before = m.clone();
                assert!(!signer.verify(&mut m), "{algo:?} byte {byte} bit {bit}");
                assert_eq!(m, before, "verify must restore the buffer");
            }
        }
        // Wrong key.
        assert!(!Signer::new(algo, &[0x3D; 16]).verify(&mut good.clone()));
    }
}

#[test]
fn gmac_nonce_depends_on_direction_and_cancel() {
    let signer = Signer::new(SigningAlgo::AesGmac, &[0x11; 16]);
    let mut s2c = sample_message(72, true);
    let mut c2s = s2c.clone();
    c2s[16] &= !0x01;
    signer.sign(&mut s2c);
    signer.sign(&mut c2s);
    // Same bytes except the flag bit: a role-swapped signature must not verify.
    let mut swapped = c2s.clone();
    swapped[48..64].copy_from_slice(&s2c[48..64]);
    assert!(!signer.verify(&mut swapped));

    let mut cancel = c2s.clone();
    cancel[12..14].copy_from_slice(&0x000Cu16.to_le_bytes());
    let mut other = cancel.clone();
    other[12..14].copy_from_slice(&0x000Du16.to_le_bytes());
    signer.sign(&mut cancel);
    signer.sign(&mut other);
    assert!(signer.verify(&mut cancel));
    assert_ne!(cancel[48..64], other[48..64]);
}

#[test]
fn short_messages() {
    for algo in ALL_SIGNING {
        let signer = Signer::new(algo, &[1; 16]);
        for len in 0..64 {
            let mut m = vec![0x5A; len];
            signer.sign(&mut m);
            assert!(m.iter().all(|&b| b == 0x5A));
            assert!(!signer.verify(&mut m));
            assert!(m.iter().all(|&b| b == 0x5A));
        }
        // Exactly a header, no body: signable.
        let mut m = sample_message(64, false);
        signer.sign(&mut m);
        assert!(signer.verify(&mut m));
    }
}

#[test]
fn compound_elements_signed_separately() {
    let signer = Signer::new(SigningAlgo::AesCmac, &[0x77; 16]);
    let mut chain = sample_message(64 + 8 + 64 + 16, true);
    let (first, second) = chain.split_at_mut(72);
    second[..4].copy_from_slice(b"\xFESMB");
    signer.sign(first);
    signer.sign(second);
    assert!(signer.verify(&mut chain[..72]));
    assert!(signer.verify(&mut chain[72..]));
    assert!(!signer.verify(&mut chain[..]));
}

#[test]
fn ids_and_lengths() {
    for id in 0..=6u16 {
        match Cipher::from_id(id) {
            Some(c) => assert_eq!(c.id(), id),
            None => assert!(id == 0 || id > 4),
        }
        match SigningAlgo::from_id(id) {
            Some(a) => assert_eq!(a.id(), id),
            None => assert!(id > 2),
        }
    }
    assert_eq!(Cipher::from_id(0xFFFF), None);
    assert_eq!(SigningAlgo::from_id(0xFFFF), None);
    assert_eq!(Cipher::Aes128Ccm.key_len(), 16);
    assert_eq!(Cipher::Aes128Gcm.key_len(), 16);
    assert_eq!(Cipher::Aes256Ccm.key_len(), 32);
    assert_eq!(Cipher::Aes256Gcm.key_len(), 32);
    assert_eq!(Cipher::Aes256Ccm.nonce_len(), 11);
    assert_eq!(Cipher::Aes256Gcm.nonce_len(), 12);
}

#[test]
fn nonce_counter_is_unique() {
    let mut nc = NonceCounter::new([1, 2, 3, 4]);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        assert!(seen.insert(nc.next(Cipher::Aes128Ccm).unwrap()));
    }
}

#[test]
fn error_display_and_ct_eq() {
    assert!(!CryptoError::AuthFailed.to_string().is_empty());
    assert!(ct_eq(&[1, 2, 3], &[1, 2, 3]));
    assert!(!ct_eq(&[1, 2, 3], &[1, 2, 4]));
}
