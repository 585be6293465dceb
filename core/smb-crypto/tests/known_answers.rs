//! Known-answer tests for smb-crypto.
//!
//! Sources (all values copied as hex; nothing is read at run time):
//! - [ANATOMY] Microsoft Open Specifications blog, "SMB 2 and SMB 3 security in Windows 10: the
//!   anatomy of signing and cryptographic keys" (3.0 and 3.1.1 key sets, CMAC-signed
//!   SESSION_SETUP response).
//! - [ENC311] MS Open Specifications blog, "SMB 3.1.1 Encryption in Windows 10" (GCM and CCM
//!   WRITE request/response transforms).
//! - [ENC30] MS Open Specifications blog, "Encryption in SMB 3.0: A protocol perspective", in
//!   the machine-readable form of emc-isilon/pike `pike/test/test_smb3_encryption_vector.py`.
//! - [PREAUTH] MS Open Specifications blog, "SMB 3.1.1 Pre-authentication integrity in
//!   Windows 10" (SHA-512 chain, via pike).
//! - [SAMBA] Samba `lib/crypto/aes_ccm_128_test.c`, vector #1.
//! - [PYREF] Computed with Python `cryptography` 50 / `hmac` from the constructions in
//!   [MS-SMB2] 3.1.4.1 / 3.1.4.2 / 2.2.41 by `tests/gen_pyref.py`. These are regression
//!   vectors, NOT interoperability vectors: GMAC signing still needs confirming against a
//!   real peer (smbclient / smbtorture, SMB 3.1.1 with signing).
//!
//! Plaintexts of the encrypted vectors were obtained by decrypting the blog transforms with
//! Python `cryptography` (tag verified), also by `tests/gen_pyref.py`.

use smb_crypto::{
    derive_keys, derive_keys_full, kdf, Backend, Cipher, PreauthHash, Sealer, Signer, SigningAlgo,
};

/// Every backend available on this CPU: each known answer is checked on all of them.
fn backends() -> Vec<Backend> {
    let all: Vec<Backend> = Backend::ALL
        .into_iter()
        .filter(|b| b.is_available())
        .collect();
    assert!(all.contains(&Backend::Portable));
    all
}

fn sealers(cipher: Cipher, key: &[u8]) -> Vec<Sealer> {
    backends()
        .into_iter()
        .map(|b| Sealer::with_backend(cipher, key, b).expect("key length"))
        .collect()
}

fn signers(algo: SigningAlgo, key: &[u8; 16]) -> Vec<Signer> {
    backends()
        .into_iter()
        .map(|b| Signer::with_backend(algo, key, b).expect("available"))
        .collect()
}

/// Hex to bytes; whitespace is ignored so values can be wrapped over lines.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex length");
    digits
        .chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).expect("ascii");
            u8::from_str_radix(s, 16).expect("hex digit")
        })
        .collect()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    hex(s).try_into().expect("hex length")
}

fn kdf16(key: &[u8], label: &[u8], context: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    kdf(key, label, context, &mut out);
    out
}

// ---------------------------------------------------------------- [ANATOMY] SMB 3.0 keys ----

const ANATOMY30_SESSION_KEY: &str = "7CD451825D0450D235424E44BA6E78CC";
const ANATOMY30_SIGNING: &str = "0B7E9C5CAC36C0F6EA9AB275298CEDCE";
/// Client EncryptionKey ("ServerIn "): the server decrypts with it.
const ANATOMY30_C2S: &str = "FAD27796665B313EBB578F388632B4F7";
/// Client DecryptionKey ("ServerOut"): the server encrypts with it.
const ANATOMY30_S2C: &str = "B0F0427F7CEB416D1D9DCC0CD4F99447";
const ANATOMY30_APP: &str = "BB23A4575AA26C721AF525AF15A87B4F";

#[test]
fn kdf_smb30_labels() {
    let sk = hex(ANATOMY30_SESSION_KEY);
    assert_eq!(
        kdf16(&sk, b"SMB2AESCMAC\0", b"SmbSign\0"),
        arr(ANATOMY30_SIGNING)
    );
    assert_eq!(
        kdf16(&sk, b"SMB2AESCCM\0", b"ServerIn \0"),
        arr(ANATOMY30_C2S)
    );
    assert_eq!(
        kdf16(&sk, b"SMB2AESCCM\0", b"ServerOut\0"),
        arr(ANATOMY30_S2C)
    );
    assert_eq!(kdf16(&sk, b"SMB2APP\0", b"SmbRpc\0"), arr(ANATOMY30_APP));
}

#[test]
fn derive_keys_smb30_and_302() {
    for dialect in [0x0300, 0x0302] {
        // The preauth hash and cipher are ignored for 3.0.x.
        let k = derive_keys(
            dialect,
            &arr(ANATOMY30_SESSION_KEY),
            &[0x55; 64],
            Some(Cipher::Aes256Gcm),
        );
        assert_eq!(k.signing, arr::<16>(ANATOMY30_SIGNING));
        assert_eq!(k.cipher_key_len, 16);
        assert_eq!(k.decryption_key(), hex(ANATOMY30_C2S));
        assert_eq!(k.encryption_key(), hex(ANATOMY30_S2C));
        assert_eq!(k.decrypt_c2s[16..], [0; 16]);
        assert_eq!(k.encrypt_s2c[16..], [0; 16]);
        assert_eq!(k.application, arr::<16>(ANATOMY30_APP));
    }
}

#[test]
fn derive_keys_smb2x_uses_session_key() {
    let sk = arr::<16>(ANATOMY30_SESSION_KEY);
    for dialect in [0x0202, 0x0210] {
        let k = derive_keys(dialect, &sk, &[0; 64], None);
        assert_eq!(k.signing, sk);
        assert_eq!(k.application, sk);
        assert_eq!(k.cipher_key_len, 0);
        assert!(k.encryption_key().is_empty());
        assert!(k.decryption_key().is_empty());
    }
}

// ------------------------------------------------------------- [ANATOMY] SMB 3.1.1 keys ----

const ANATOMY311_SESSION_KEY: &str = "270E1BA896585EEB7AF3472D3B4C75A7";
const ANATOMY311_PREAUTH: &str = "0DD13628CC3ED218EF9DF9772D436D0887AB9814BFAE63A80AA845F36909DB79
    28622DDDAD522D9751640A459762C5A9D6BB084CBB3CE6BDADEF5D5BCE3C6C01";
const ANATOMY311_SIGNING: &str = "73FE7A9A77BEF0BDE49C650D8CCB5F76";
const ANATOMY311_C2S: &str = "629BCBC54422A0F572B97F45989B6073";
const ANATOMY311_S2C: &str = "E2AF0DCEFAC68DA71A0DFBD0D1350D74";
const ANATOMY311_APP: &str = "6D7AD7954E9EC61E907B4D473DC178FF";

/// Final SESSION_SETUP response (server-to-client, signed with AES-128-CMAC), signature in
/// place (bytes 48..64 = EBE146DA120BA25FC3376A49DFE31BC1).
const ANATOMY311_SS_RESP: &str = "
    FE534D4240000100000000000100800009000000000000000300000000000000FFFE000000000000
    1900000000100000EBE146DA120BA25FC3376A49DFE31BC10900000048001D00A11B3019A0030A01
    00A3120410010000003B453CDC3524164200000000";

#[test]
fn derive_keys_smb311_anatomy() {
    let k = derive_keys(
        0x0311,
        &arr(ANATOMY311_SESSION_KEY),
        &arr(ANATOMY311_PREAUTH),
        Some(Cipher::Aes128Ccm),
    );
    assert_eq!(k.signing, arr::<16>(ANATOMY311_SIGNING));
    assert_eq!(k.decryption_key(), hex(ANATOMY311_C2S));
    assert_eq!(k.encryption_key(), hex(ANATOMY311_S2C));
    assert_eq!(k.application, arr::<16>(ANATOMY311_APP));

    // No cipher negotiated: same signing/application keys, no cipher keys.
    let n = derive_keys(
        0x0311,
        &arr(ANATOMY311_SESSION_KEY),
        &arr(ANATOMY311_PREAUTH),
        None,
    );
    assert_eq!(n.signing, k.signing);
    assert_eq!(n.application, k.application);
    assert_eq!(n.cipher_key_len, 0);
}

/// [PYREF]: SMBC2SCipherKey / SMBS2CCipherKey with L = 256 from the [ANATOMY] 3.1.1 session.
const ANATOMY311_C2S_256: &str = "049C27FD8A340262E32C643DEA2BA507AF7A4C085FD2505AEFFCBDEAE6D6D8AB";
const ANATOMY311_S2C_256: &str = "35952FED051BF2471AF5F7ACC63674B887A54B47AF46959F7CAFF1CE537D7419";

#[test]
fn derive_keys_smb311_aes256() {
    for cipher in [Cipher::Aes256Gcm, Cipher::Aes256Ccm] {
        let k = derive_keys(
            0x0311,
            &arr(ANATOMY311_SESSION_KEY),
            &arr(ANATOMY311_PREAUTH),
            Some(cipher),
        );
        assert_eq!(k.cipher_key_len, 32);
        assert_eq!(k.decrypt_c2s, arr::<32>(ANATOMY311_C2S_256));
        assert_eq!(k.encrypt_s2c, arr::<32>(ANATOMY311_S2C_256));
        // Signing and application keys do not depend on the cipher.
        assert_eq!(k.signing, arr::<16>(ANATOMY311_SIGNING));
        assert_eq!(k.application, arr::<16>(ANATOMY311_APP));
    }
    // A 16-byte full session key gives the same result through derive_keys_full.
    let f = derive_keys_full(
        0x0311,
        &hex(ANATOMY311_SESSION_KEY),
        &arr(ANATOMY311_PREAUTH),
        Some(Cipher::Aes256Gcm),
    );
    assert_eq!(f.encrypt_s2c, arr::<32>(ANATOMY311_S2C_256));
}

#[test]
fn derive_keys_full_long_session_key() {
    // A 32-byte (e.g. Kerberos AES-256) session key: signing uses its first 16 bytes, AES-256
    // cipher keys use all 32.
    let mut full = [0u8; 32];
    full[..16].copy_from_slice(&hex(ANATOMY311_SESSION_KEY));
    full[16..].fill(0xA5);
    let pa = arr::<64>(ANATOMY311_PREAUTH);
    let k = derive_keys_full(0x0311, &full, &pa, Some(Cipher::Aes256Gcm));
    assert_eq!(k.signing, arr::<16>(ANATOMY311_SIGNING));
    let mut exp = [0u8; 32];
    kdf(&full, b"SMBS2CCipherKey\0", &pa, &mut exp);
    assert_eq!(k.encrypt_s2c, exp);
    assert_ne!(k.encrypt_s2c, arr::<32>(ANATOMY311_S2C_256));
    // AES-128 cipher keys use only the 16-byte SessionKey.
    let k = derive_keys_full(0x0311, &full, &pa, Some(Cipher::Aes128Gcm));
    assert_eq!(k.encryption_key(), hex(ANATOMY311_S2C));
}

#[test]
fn cmac_signature_session_setup_response() {
    for signer in signers(SigningAlgo::AesCmac, &arr(ANATOMY311_SIGNING)) {
        let original = hex(ANATOMY311_SS_RESP);

        let mut msg = original.clone();
        assert!(signer.verify(&mut msg));
        assert_eq!(msg, original, "verify must leave the buffer as it was");

        msg[48..64].fill(0xEE);
        signer.sign(&mut msg);
        assert_eq!(msg, original);
        assert_eq!(msg[48..64], hex("EBE146DA120BA25FC3376A49DFE31BC1"));
    }
}

/// [ENC311]: GCM session keys and its signed final SESSION_SETUP response.
const ENCGCM_SESSION_KEY: &str = "419FDDF34C1E001909D362AE7FB6AF79";
const ENCGCM_PREAUTH: &str = "B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDB
    A7DB256BA2EA30E977F11F9B113247578E0E915C6D2A513B8F2FCA5707DC8770";
const ENCGCM_SIGNING: &str = "8765949DFEAEE105CE9118B45BE988F0";
/// Client EncryptionKey (C2S).
const ENCGCM_C2S: &str = "A2F5E80E5D59103034F32E52F698E5EC";
/// Client DecryptionKey (S2C).
const ENCGCM_S2C: &str = "748C50868C90F302962A5C35F5F9A8BF";
const ENCGCM_SS_RESP: &str = "
    FE534D4240000100000000000100800009000000000000000200000000000000FFFE000000000000
    25000000001000006B85A4519A0F3EEA35BA946DD3AFE6B80900000048001D00A11B3019A0030A01
    00A3120410010000003932A87523AB660100000000";

#[test]
fn enc_blog_gcm_keys_and_signature() {
    let k = derive_keys(
        0x0311,
        &arr(ENCGCM_SESSION_KEY),
        &arr(ENCGCM_PREAUTH),
        Some(Cipher::Aes128Gcm),
    );
    assert_eq!(k.signing, arr::<16>(ENCGCM_SIGNING));
    assert_eq!(k.decryption_key(), hex(ENCGCM_C2S));
    assert_eq!(k.encryption_key(), hex(ENCGCM_S2C));

    for signer in signers(SigningAlgo::AesCmac, &k.signing) {
        let original = hex(ENCGCM_SS_RESP);
        let mut msg = original.clone();
        assert!(signer.verify(&mut msg));
        msg[48..64].fill(0);
        signer.sign(&mut msg);
        assert_eq!(msg, original);
    }
}

// ------------------------------------------------------------ [ENC311] GCM transforms ----

const SESSION_ID: u64 = 0x0000_1000_0000_0025;

/// WRITE request (client to server) encrypted with AES-128-GCM.
const GCM_WRITE_REQ: &str = "
    FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C0000000087000000
    0000010025000000001000006ECDD2A7AFC7B47763057A041B8FD4DAFFE990B70C9E09D36C084E02
    D14EF247F8BDE38ACF6256F8B1D3B56F77FBDEB312FEA5E92CBCC1ED8FB2EBBFAA75E49A4A394BB4
    4576545567C24D4C014D47C9FBDFDAFD2C4F9B72F8D256452620A299F48E29E53D6B61D1C13A19E9
    1AF013F00D17E3ABC2FC3D36C8C1B6B93973253852DBD442E46EE8";
const GCM_WRITE_REQ_PLAIN: &str = "
    FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000
    250000000010000000000000000000000000000000000000310070001700000000000000000000000600
    000004000000010000000400000000000000000000007000000000000000
    536D623320656E6372797074696F6E2074657374696E67";

/// WRITE response (server to client) encrypted with AES-128-GCM.
const GCM_WRITE_RESP: &str = "
    FD534D42ACBE1CB7ED343ADF1725EF144D90D4B0E06831DD2E8EB7B4000000000000000050000000
    00000100250000000010000026BBBF949983A6C1C796559D0F2C510CB651D1F7B6AC8DED32A2A0B8
    F2D793A815C6F6B848D69767A215841A42D400AE6DDB5F0B44173A014973321FDD7950DA6179159B
    82E03C9E18A050FF0EA1C967";
const GCM_WRITE_RESP_PLAIN: &str = "
    FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000
    25000000001000000000000000000000000000000000000011000000170000000000000000000000";

/// Opens `wire` with `key`, checks the plaintext, then re-seals it with the nonce from the
/// header and checks that the exact wire bytes come back.
fn open_and_reseal(cipher: Cipher, key: &[u8], wire: &str, plain: &str, session_id: u64) {
    let wire = hex(wire);
    let plain = hex(plain);
    for sealer in sealers(cipher, key) {
        assert_eq!(smb_crypto::transform_session_id(&wire), Some(session_id));
        let mut buf = wire.clone();
        let (sid, range) = sealer.open(&mut buf).expect("known transform opens");
        assert_eq!(sid, session_id);
        assert_eq!(range, 52..wire.len());
        assert_eq!(buf[range], plain[..]);

        let nonce: [u8; 16] = wire[20..36].try_into().expect("16-byte nonce field");
        let mut out = vec![0u8; 52];
        out.extend_from_slice(&plain);
        sealer.seal(session_id, &nonce, &mut out).expect("seal");
        assert_eq!(out, wire);
    }
}

#[test]
fn gcm_write_request_server_decrypts() {
    let k = derive_keys(
        0x0311,
        &arr(ENCGCM_SESSION_KEY),
        &arr(ENCGCM_PREAUTH),
        Some(Cipher::Aes128Gcm),
    );
    open_and_reseal(
        Cipher::Aes128Gcm,
        k.decryption_key(),
        GCM_WRITE_REQ,
        GCM_WRITE_REQ_PLAIN,
        SESSION_ID,
    );
    assert!(hex(GCM_WRITE_REQ_PLAIN).ends_with(b"Smb3 encryption testing"));
}

#[test]
fn gcm_write_response_server_encrypts() {
    let k = derive_keys(
        0x0311,
        &arr(ENCGCM_SESSION_KEY),
        &arr(ENCGCM_PREAUTH),
        Some(Cipher::Aes128Gcm),
    );
    open_and_reseal(
        Cipher::Aes128Gcm,
        k.encryption_key(),
        GCM_WRITE_RESP,
        GCM_WRITE_RESP_PLAIN,
        SESSION_ID,
    );
}

// ------------------------------------------------------------ [ENC311] CCM transforms ----

const ENCCCM_SESSION_KEY: &str = "07B7F69C1E2581662DF6987E88F9E891";
const ENCCCM_PREAUTH: &str = "DECF98A420718718F22090D3580FCC5E484BD310FA1268210C6E86335A8891E7
    67F5BCD99FA5A7859D665AD07A73EA94E1BCDB7CFA69A6962A28A244138340B1";
const ENCCCM_SIGNING: &str = "3DCC82C5795AE27F383242761078C59B";
const ENCCCM_C2S: &str = "DFAAA31AAE40A2485D47AC4DF09FDA1D";
const ENCCCM_S2C: &str = "95C544AEF6072680DA1CE49A68A97FA6";

const CCM_WRITE_REQ: &str = "
    FD534D42E89551D666DAB8993488F5A97103116C9F6F1EAAD7E9F24AACD38F000000000087000000
    00000100210000000010000056A74778199A9D2B6E9C3A376FD88D27680694FED253A313BEB07381
    AE8689F973ACDB8D716E4477803BCE53A92E1B81FA3E965AD9AF2C89C08CE66A344664453B8FC881
    18EDC9814CF58E92AA465E6EFB09958A9FDAD96FBD55B36A710C30D5E7C64AD7B9449F9F17EDD024
    FE8BA79154F340A82740D1D5180C69B0A2DE6A4BA893BD55D3210E";
const CCM_WRITE_REQ_PLAIN: &str = "
    FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000
    2100000000100000000000000000000000000000000000003100700017000000000000000000000005
    00000004000000010000000400000000000000000000007000000000000000
    536D623320656E6372797074696F6E2074657374696E67";

#[test]
fn ccm_write_request_server_decrypts() {
    let k = derive_keys(
        0x0311,
        &arr(ENCCCM_SESSION_KEY),
        &arr(ENCCCM_PREAUTH),
        Some(Cipher::Aes128Ccm),
    );
    assert_eq!(k.signing, arr::<16>(ENCCCM_SIGNING));
    assert_eq!(k.decryption_key(), hex(ENCCCM_C2S));
    assert_eq!(k.encryption_key(), hex(ENCCCM_S2C));
    open_and_reseal(
        Cipher::Aes128Ccm,
        k.decryption_key(),
        CCM_WRITE_REQ,
        CCM_WRITE_REQ_PLAIN,
        0x0000_1000_0000_0021,
    );
}

// ---------------------------------------------------------------- [ENC30] SMB 3.0 CCM ----

const ENC30_SESSION_KEY: &str = "B4546771B515F766A86735532DD6C4F0";
const ENC30_C2S: &str = "261B72350558F2E9DCF613070383EDBF";
const ENC30_S2C: &str = "8FE2B57EC34D2DB5B1A9727F526BBDB5";
/// Windows 3.0 fills all 16 Nonce bytes; only the first 11 are the CCM nonce but all 16 are
/// authenticated as AAD. The Flags field is the 3.0 EncryptionAlgorithm (1 = AES-128-CCM).
const ENC30_WRITE_REQ: &str = "
    FD534D4281A286535415445DAE393921E44FA42E66E69A111892584FB5ED524A
    744DA3EE87000000000001001100001400E4080025C8FEE16605A437832D1CD5
    2DA9F4645333482A175FE5384563F45FCDAFAEF38BC62BA4D5C62897996625A4
    4C29BE5658DE2E6117585779E7B59FFD971278D08580D7FA899E410E910EABF5
    AA1DB43050B33B49182637759AC15D84BFCDF5B6B238993C0F4CF4D6012023F6
    C627297075D84B7803912D0A9639634453595EF3E33FFE4E7AC2AB";
const ENC30_WRITE_REQ_PLAIN: &str = "
    FE534D4240000100000000000900400008000000000000000400000000000000FFFE000001000000
    1100001400E408000000000000000000000000000000000031007000170000000000000000000000
    1501000039000002010000003902000000000000000000007000000000000000
    536D623320656E6372797074696F6E2074657374696E67";

#[test]
fn smb30_ccm_write_request() {
    let k = derive_keys(0x0300, &arr(ENC30_SESSION_KEY), &[0; 64], None);
    assert_eq!(k.decryption_key(), hex(ENC30_C2S));
    assert_eq!(k.encryption_key(), hex(ENC30_S2C));

    let wire = hex(ENC30_WRITE_REQ);
    let plain = hex(ENC30_WRITE_REQ_PLAIN);
    for sealer in sealers(Cipher::Aes128Ccm, k.decryption_key()) {
        let mut buf = wire.clone();
        let (sid, range) = sealer.open(&mut buf).unwrap();
        assert_eq!(sid, 0x0008_E400_1400_0011);
        assert_eq!(buf[range], plain[..]);

        // Re-sealing writes the 5 unused nonce bytes as zero (3.1.1 rule), which changes the AAD
        // and hence the tag, but not the CTR-mode ciphertext.
        let nonce: [u8; 16] = wire[20..36].try_into().unwrap();
        let mut out = vec![0u8; 52];
        out.extend_from_slice(&plain);
        sealer.seal(sid, &nonce, &mut out).unwrap();
        assert_eq!(out[52..], wire[52..]);
        assert_eq!(out[20..31], wire[20..31]);
        assert_eq!(out[31..36], [0; 5]);
        assert_eq!(out[36..52], wire[36..52]);
        let (sid2, range) = sealer.open(&mut out).unwrap();
        assert_eq!((sid2, &out[range]), (sid, &plain[..]));
    }
}

// ---------------------------------------------------------------- [SAMBA] CCM vector #1 ----

#[test]
fn samba_aes_ccm_128_vector1() {
    // The AAD of this vector is a transform header's bytes 20..52: nonce 010000000000000077F7A8
    // (+5 zero bytes), OriginalMessageSize 0xA8, Flags 1, SessionId 0x00009800_2C000041.
    let key = hex("8BF9FBC2B8149484FF11AB1F3A544FF6");
    let plain = hex("
        FE534D4240000100000000000B00811F0000000000000000060000000000000000000000010000004100002C0098000000000000000000000000000000000000
        3900000094010600FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF7800000030000000000000007800000000000000FFFF00000100000000000000
        03005C003100370032002E00330031002E0039002E003100380033005C006E00650074006C006F0067006F006E000000");
    assert_eq!(plain.len(), 0xA8);
    let mut nonce = [0u8; 16];
    nonce[..11].copy_from_slice(&hex("010000000000000077F7A8"));

    for sealer in sealers(Cipher::Aes128Ccm, &key) {
        let mut buf = vec![0u8; 52];
        buf.extend_from_slice(&plain);
        sealer
            .seal(0x0000_9800_2C00_0041, &nonce, &mut buf)
            .unwrap();
        assert_eq!(
            buf[20..52],
            hex("010000000000000077F7A80000000000A8000000000001004100002C00980000")[..]
        );
        assert_eq!(buf[4..20], hex("3C11F652F8EA5600C8607D2E0FEAFD42")[..]);
        let (_, range) = sealer.open(&mut buf).unwrap();
        assert_eq!(buf[range], plain[..]);
    }
}

// --------------------------------------------------------------- [PYREF] AES-256 seals ----

/// GCM_WRITE_REQ_PLAIN sealed with ANATOMY311_S2C_256, session id 0x0000100000000025,
/// nonce 0102..0C (GCM) / 0102..0B (CCM).
const AES256_GCM_SEALED: &str = "
    FD534D4240FD6292E4D1B906CB6EE651F8EF826B0102030405060708090A0B0C0000000087000000
    000001002500000000100000FB791F899321C8ED75BEC833AD8D997FE47DC5570EACD8CDA76A44D1
    957CC78D80F2A939A0B0934CBC0CFC846AE5E4BCEF1893269E2B28F073FE4C17E2320812EF1BF122
    7FFD176A309056B222D845F6D6C8D37762B23CA051DA8DE0B21E1C6DDEE7195D8A2CBDA3D23E552C
    DD59109D538A581CAC0A4976294B435835BC18BC34D1775048D105";
const AES256_CCM_SEALED: &str = "
    FD534D428B5E371CCF83101E8FF92974D713CA3E0102030405060708090A0B000000000087000000
    000001002500000000100000BC26DA1FF4EF65755F7DCA140DB8A707E24DBB31C114C911BB8DBAF2
    50554C3667CB745EC4E675C4E849683B558F0114ED3945A5B83CC295544B8652DF417872DA5D73B2
    E55FBCA136BF3500EC6BDC4CC9D6BDE7111DC807ECBE1D9A5E992DF5C3400E2CF71BC6BF8504B603
    E77CB68C5D6DD95DF1228A576D6CAF03FCF46C6A1CC6844C2F02E9";

#[test]
fn aes256_gcm_and_ccm_known_answers() {
    for (cipher, sealed) in [
        (Cipher::Aes256Gcm, AES256_GCM_SEALED),
        (Cipher::Aes256Ccm, AES256_CCM_SEALED),
    ] {
        let k = derive_keys(
            0x0311,
            &arr(ANATOMY311_SESSION_KEY),
            &arr(ANATOMY311_PREAUTH),
            Some(cipher),
        );
        open_and_reseal(
            cipher,
            k.encryption_key(),
            sealed,
            GCM_WRITE_REQ_PLAIN,
            SESSION_ID,
        );
        // The 128-bit nonce field passed to seal may carry junk after the cipher's nonce
        // length; it is written as zero.
        let mut nonce = [0xFFu8; 16];
        for (i, b) in nonce.iter_mut().take(cipher.nonce_len()).enumerate() {
            *b = u8::try_from(i + 1).unwrap();
        }
        for sealer in sealers(cipher, k.encryption_key()) {
            let mut out = vec![0u8; 52];
            out.extend_from_slice(&hex(GCM_WRITE_REQ_PLAIN));
            sealer.seal(SESSION_ID, &nonce, &mut out).unwrap();
            assert_eq!(out, hex(sealed), "{:?}", sealer.backend());
        }
    }
}

// ------------------------------------------------------------------ [PYREF] signing ----

#[test]
fn gmac_signing_self_vector() {
    for signer in signers(SigningAlgo::AesGmac, &arr(ANATOMY311_SIGNING)) {
        // Server-to-client SESSION_SETUP response, MessageId 3: nonce 030000000000000001000000.
        let mut msg = hex(ANATOMY311_SS_RESP);
        signer.sign(&mut msg);
        assert_eq!(msg[48..64], hex("75D05BAC99FF7FCC52A44C354381D559")[..]);
        let snapshot = msg.clone();
        assert!(signer.verify(&mut msg));
        assert_eq!(msg, snapshot);
        // The CMAC signature of the same message is not a valid GMAC signature.
        assert!(!signer.verify(&mut hex(ANATOMY311_SS_RESP)));
    }
}

#[test]
fn gmac_signing_cancel_self_vector() {
    // Client CANCEL request (Flags = SIGNED, MessageId 7): nonce bit 1 set, bit 0 clear.
    for signer in signers(SigningAlgo::AesGmac, &arr(ANATOMY311_SIGNING)) {
        let mut msg = hex(
            "FE534D4240000000000000000C00000008000000000000000700000000000000
         000000000000000025000000001000000000000000000000000000000000000004000000",
        );
        signer.sign(&mut msg);
        assert_eq!(msg[48..64], hex("A6094C90B119361D2D4D572146BB288F")[..]);
        assert!(signer.verify(&mut msg));
    }
}

#[test]
fn hmac_sha256_signing_self_vector() {
    // SMB 2.x signing: HMAC-SHA256 keyed with the session key, first 16 bytes.
    for signer in signers(SigningAlgo::HmacSha256, &arr(ANATOMY311_SESSION_KEY)) {
        let mut msg = hex(ANATOMY311_SS_RESP);
        signer.sign(&mut msg);
        assert_eq!(msg[48..64], hex("69F4B33F052C75B5F93906A96746A04E")[..]);
        assert!(signer.verify(&mut msg));
    }
}

// ---------------------------------------------------------------------- [PREAUTH] ----

#[test]
fn preauth_hash_after_negotiate_request() {
    let negotiate = hex("
        FE534D4240000100000000000000800000000000000000000100000000000000FFFE000000000000
        00000000000000000000000000000000000000000000000024000500000000003F000000ECD86F32
        6276024F9F7752B89BB33F3A70000000020000000202100200030203110300000100260000000000
        010020000100FA49E6578F1F3A9F4CD3E9CC14A67AA884B3D05844E0E5A118225C15887F32FF0000
        0200060000000000020002000100");
    let expected = arr::<64>(
        "DD94EFC5321BB618A2E208BA8920D2F422992526947A409B5037DE1E0FE8C736
         2B8C47122594CDE0CE26AA9DFC8BCDBDE0621957672623351A7540F1E54A0426",
    );
    let mut h = PreauthHash::new();
    assert_eq!(h.value, [0; 64]);
    h.update(&negotiate);
    assert_eq!(h.value, expected);

    // Feeding the message in pieces gives the same chain.
    let mut p = PreauthHash::default();
    p.update_parts(&[&negotiate[..64], &negotiate[64..100], &negotiate[100..]]);
    assert_eq!(p, h);

    // The chain continues from the previous value: SHA-512(value || msg).
    h.update(b"next");
    p.update_parts(&[b"ne", b"", b"xt"]);
    assert_eq!(p, h);
    assert_ne!(h.value, expected);
}
