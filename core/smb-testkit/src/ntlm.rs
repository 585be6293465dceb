//! A compact NTLMv2 client ([MS-NLMP] 3.1.5) and the SPNEGO wrapping ([RFC 4178]) a Windows or
//! Samba client sends, written independently of the server code in `smb-auth` so the two check
//! each other.

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use rc4::{Rc4, StreamCipher};

type HmacMd5 = Hmac<Md5>;

/// NTLMSSP negotiate flags ([MS-NLMP] 2.2.2.5).
pub mod flags {
    pub const UNICODE: u32 = 0x0000_0001;
    pub const OEM: u32 = 0x0000_0002;
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    pub const SIGN: u32 = 0x0000_0010;
    pub const SEAL: u32 = 0x0000_0020;
    pub const LM_KEY: u32 = 0x0000_0080;
    pub const NTLM: u32 = 0x0000_0200;
    pub const ANONYMOUS: u32 = 0x0000_0800;
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    pub const TARGET_INFO: u32 = 0x0080_0000;
    pub const VERSION: u32 = 0x0200_0000;
    pub const N128: u32 = 0x2000_0000;
    pub const KEY_EXCH: u32 = 0x4000_0000;
    pub const N56: u32 = 0x8000_0000;
    /// What a Windows 10 client sends (0xe2088297).
    pub const WINDOWS: u32 = N56
        | KEY_EXCH
        | N128
        | VERSION
        | EXTENDED_SESSIONSECURITY
        | ALWAYS_SIGN
        | NTLM
        | LM_KEY
        | SEAL
        | SIGN
        | REQUEST_TARGET
        | OEM
        | UNICODE;
}

/// DER of the SPNEGO OID 1.3.6.1.5.5.2 (contents only).
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// DER of the NTLMSSP OID 1.3.6.1.4.1.311.2.2.10 (contents only).
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// DER of the Kerberos OID 1.2.840.113554.1.2.2 (contents only).
pub const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];

const MIC_OFFSET: usize = 72;
const AUTH_HEADER: usize = 88;

/// An NTLMv2 client.
#[derive(Debug, Clone)]
pub struct NtlmClient {
    pub user: String,
    pub domain: String,
    pub password: String,
    pub workstation: String,
    pub flags: u32,
    /// Send `MsvAvFlags` with the MIC bit and a MIC in the AUTHENTICATE_MESSAGE.
    pub with_mic: bool,
    /// An anonymous logon (empty user, empty NT response, LM = one zero byte).
    pub anonymous: bool,
    pub client_challenge: [u8; 8],
    pub random_session_key: [u8; 16],
}

/// The result of building the AUTHENTICATE_MESSAGE.
#[derive(Debug, Clone)]
pub struct NtlmDone {
    pub msg: Vec<u8>,
    /// `ExportedSessionKey`: the SMB session key (zero for anonymous).
    pub session_key: [u8; 16],
    pub flags: u32,
}

impl NtlmClient {
    /// A Windows-like client for `user` / `password` in domain `WORKGROUP`.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            user: user.to_owned(),
            domain: "WORKGROUP".to_owned(),
            password: password.to_owned(),
            workstation: "TESTCLIENT".to_owned(),
            flags: flags::WINDOWS,
            with_mic: true,
            anonymous: false,
            client_challenge: [0xc1; 8],
            random_session_key: [0x5e; 16],
        }
    }

    /// An anonymous (null session) client.
    pub fn anonymous() -> Self {
        let mut c = Self::new("", "");
        c.anonymous = true;
        c.with_mic = false;
        c.flags |= flags::ANONYMOUS;
        c
    }

    /// The NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.1) with empty domain/workstation and a VERSION.
    pub fn negotiate(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(40);
        m.extend_from_slice(b"NTLMSSP\0");
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&self.flags.to_le_bytes());
        for _ in 0..2 {
            m.extend_from_slice(&[0, 0, 0, 0, 40, 0, 0, 0]);
        }
        m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 0x0f]);
        m
    }

    /// Builds the AUTHENTICATE_MESSAGE answering `challenge` (the server's CHALLENGE_MESSAGE).
    pub fn authenticate(&self, negotiate: &[u8], challenge: &[u8]) -> Result<NtlmDone, String> {
        if challenge.len() < 48 || &challenge[..8] != b"NTLMSSP\0" || le32(challenge, 8) != 2 {
            return Err("not a CHALLENGE_MESSAGE".into());
        }
        let chal_flags = le32(challenge, 20);
        let server_challenge: [u8; 8] = challenge[24..32].try_into().map_err(|_| "short")?;
        let ti_len = usize::from(le16(challenge, 40));
        let ti_off = le32(challenge, 44) as usize;
        let target_info = challenge
            .get(ti_off..ti_off + ti_len)
            .ok_or("target info out of bounds")?;
        let flags = chal_flags & self.flags;

        if self.anonymous {
            let msg = build_authenticate(
                flags | flags::ANONYMOUS,
                &[&[0u8][..], &[], &[], &[], &utf16(&self.workstation), &[]],
            );
            return Ok(NtlmDone {
                msg,
                session_key: [0; 16],
                flags,
            });
        }

        // Copy the server's AV pairs (all but EOL), add MsvAvFlags, then EOL.
        let mut pairs = Vec::new();
        let mut timestamp = None;
        let mut av = target_info;
        loop {
            if av.len() < 4 {
                return Err("AV pairs without EOL".into());
            }
            let id = le16(av, 0);
            let len = usize::from(le16(av, 2));
            if id == 0 {
                break;
            }
            let pair = av.get(..4 + len).ok_or("AV pair out of bounds")?;
            if id == 7 && len == 8 {
                timestamp = Some(pair[4..12].to_vec());
            }
            pairs.extend_from_slice(pair);
            av = &av[4 + len..];
        }
        if self.with_mic {
            pairs.extend_from_slice(&[6, 0, 4, 0, 2, 0, 0, 0]);
        }
        pairs.extend_from_slice(&[0, 0, 0, 0]);

        let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
        blob.extend_from_slice(timestamp.as_deref().unwrap_or(&[0; 8]));
        blob.extend_from_slice(&self.client_challenge);
        blob.extend_from_slice(&[0; 4]);
        blob.extend_from_slice(&pairs);
        blob.extend_from_slice(&[0; 4]);

        let nt_hash = smb_auth::nt_hash(&self.password);
        let mut who = utf16(&self.user.to_uppercase());
        who.extend(utf16(&self.domain));
        let ntowf = hmac_md5(&nt_hash, &[&who]);
        let proof = hmac_md5(&ntowf, &[&server_challenge, &blob]);
        let mut nt = proof.to_vec();
        nt.extend_from_slice(&blob);
        let lm = if timestamp.is_some() {
            vec![0; 24]
        } else {
            let mut lm = hmac_md5(&ntowf, &[&server_challenge, &self.client_challenge]).to_vec();
            lm.extend_from_slice(&self.client_challenge);
            lm
        };
        let base_key = hmac_md5(&ntowf, &[&proof]);
        let (session_key, esk) = if flags & flags::KEY_EXCH != 0 {
            let mut esk = self.random_session_key;
            rc4(&base_key, &mut esk);
            (self.random_session_key, esk.to_vec())
        } else {
            (base_key, Vec::new())
        };
        let mut msg = build_authenticate(
            flags,
            &[
                &lm,
                &nt,
                &utf16(&self.domain),
                &utf16(&self.user),
                &utf16(&self.workstation),
                &esk,
            ],
        );
        if self.with_mic {
            let mic = hmac_md5(&session_key, &[negotiate, challenge, &msg]);
            msg[MIC_OFFSET..MIC_OFFSET + 16].copy_from_slice(&mic);
        }
        Ok(NtlmDone {
            msg,
            session_key,
            flags,
        })
    }
}

impl NtlmDone {
    /// Session security for the SPNEGO mechListMIC ([MS-NLMP] 3.4.4.2).
    pub fn security(&self) -> NtlmSecurity {
        NtlmSecurity::new(&self.session_key, self.flags)
    }
}

/// NTLM session security from the client's side.
pub struct NtlmSecurity {
    client_sign: [u8; 16],
    server_sign: [u8; 16],
    client_seal: Rc4,
    server_seal: Rc4,
    client_seq: u32,
    server_seq: u32,
    key_exch: bool,
}

impl core::fmt::Debug for NtlmSecurity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NtlmSecurity").finish_non_exhaustive()
    }
}

impl NtlmSecurity {
    fn new(key: &[u8; 16], flags: u32) -> Self {
        let seal_base: &[u8] = if flags & flags::N128 != 0 {
            key
        } else if flags & flags::N56 != 0 {
            &key[..7]
        } else {
            &key[..5]
        };
        let md5 = |a: &[u8], b: &[u8]| -> [u8; 16] {
            let mut h = Md5::new();
            Digest::update(&mut h, a);
            Digest::update(&mut h, b);
            h.finalize().into()
        };
        let cs = md5(
            seal_base,
            b"session key to client-to-server sealing key magic constant\0",
        );
        let ss = md5(
            seal_base,
            b"session key to server-to-client sealing key magic constant\0",
        );
        Self {
            client_sign: md5(
                key,
                b"session key to client-to-server signing key magic constant\0",
            ),
            server_sign: md5(
                key,
                b"session key to server-to-client signing key magic constant\0",
            ),
            client_seal: Rc4::new_from_slice(&cs).expect("16-byte key"),
            server_seal: Rc4::new_from_slice(&ss).expect("16-byte key"),
            client_seq: 0,
            server_seq: 0,
            key_exch: flags & flags::KEY_EXCH != 0,
        }
    }

    /// The client's signature over `msg` (consumes a client sequence number).
    pub fn sign(&mut self, msg: &[u8]) -> [u8; 16] {
        let seq = self.client_seq;
        self.client_seq += 1;
        mac(
            &self.client_sign,
            &mut self.client_seal,
            self.key_exch,
            seq,
            msg,
        )
    }

    /// Checks the server's signature over `msg` (consumes a server sequence number).
    pub fn verify_server(&mut self, msg: &[u8], sig: &[u8]) -> bool {
        let seq = self.server_seq;
        self.server_seq += 1;
        mac(
            &self.server_sign,
            &mut self.server_seal,
            self.key_exch,
            seq,
            msg,
        ) == sig
    }
}

fn mac(key: &[u8; 16], seal: &mut Rc4, key_exch: bool, seq: u32, msg: &[u8]) -> [u8; 16] {
    let d = hmac_md5(key, &[&seq.to_le_bytes(), msg]);
    let mut sig = [0u8; 16];
    sig[0] = 1;
    sig[4..12].copy_from_slice(&d[..8]);
    if key_exch {
        seal.apply_keystream(&mut sig[4..12]);
    }
    sig[12..].copy_from_slice(&seq.to_le_bytes());
    sig
}

/// An AUTHENTICATE_MESSAGE: header, VERSION, zero MIC, then the payload fields (LM, NT,
/// domain, user, workstation, encrypted session key) laid out in Windows' order.
pub fn build_authenticate(flags: u32, fields: &[&[u8]; 6]) -> Vec<u8> {
    let mut msg = Vec::new();
    msg.extend_from_slice(b"NTLMSSP\0");
    msg.extend_from_slice(&3u32.to_le_bytes());
    let order = [2usize, 3, 4, 0, 1, 5];
    let mut offsets = [0u32; 6];
    let mut off = AUTH_HEADER as u32;
    for &i in &order {
        offsets[i] = off;
        off += fields[i].len() as u32;
    }
    for i in 0..6 {
        let len = fields[i].len() as u16;
        msg.extend_from_slice(&len.to_le_bytes());
        msg.extend_from_slice(&len.to_le_bytes());
        msg.extend_from_slice(&offsets[i].to_le_bytes());
    }
    msg.extend_from_slice(&flags.to_le_bytes());
    msg.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 0x0f]);
    msg.extend_from_slice(&[0; 16]);
    for &i in &order {
        msg.extend_from_slice(fields[i]);
    }
    msg
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut h = <HmacMd5 as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        h.update(p);
    }
    h.finalize().into_bytes().into()
}

fn rc4(key: &[u8], data: &mut [u8]) {
    Rc4::new_from_slice(key)
        .expect("RC4 key length")
        .apply_keystream(data);
}

/// UTF-16LE bytes of `s`.
pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

// ---- DER / SPNEGO ----

/// A DER element: tag, minimal definite length, contents.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        // Big-endian length octets, minimal.
        let octets = (usize::BITS - n.leading_zeros()).div_ceil(8) as usize;
        v.push(0x80 | octets as u8);
        for i in (0..octets).rev() {
            v.push((n >> (8 * i)) as u8);
        }
    }
    v.extend_from_slice(content);
    v
}

/// The DER `MechTypeList` SEQUENCE for `oids`.
pub fn mech_type_list(oids: &[&[u8]]) -> Vec<u8> {
    let inner: Vec<u8> = oids.iter().flat_map(|o| tlv(0x06, o)).collect();
    tlv(0x30, &inner)
}

/// A GSS-API wrapped `NegTokenInit` offering `mech_types` (a [`mech_type_list`]) with an
/// optional optimistic `mechToken`.
pub fn neg_token_init(mech_types: &[u8], mech_token: Option<&[u8]>) -> Vec<u8> {
    let mut fields = tlv(0xa0, mech_types);
    if let Some(t) = mech_token {
        fields.extend(tlv(0xa2, &tlv(0x04, t)));
    }
    let init = tlv(0xa0, &tlv(0x30, &fields));
    let mut gss = tlv(0x06, OID_SPNEGO);
    gss.extend(init);
    tlv(0x60, &gss)
}

/// A `NegTokenResp` with the given optional fields.
pub fn neg_token_resp(state: Option<u8>, token: Option<&[u8]>, mic: Option<&[u8]>) -> Vec<u8> {
    let mut fields = Vec::new();
    if let Some(s) = state {
        fields.extend(tlv(0xa0, &tlv(0x0a, &[s])));
    }
    if let Some(t) = token {
        fields.extend(tlv(0xa2, &tlv(0x04, t)));
    }
    if let Some(m) = mic {
        fields.extend(tlv(0xa3, &tlv(0x04, m)));
    }
    tlv(0xa1, &tlv(0x30, &fields))
}

/// Reads one DER element at the start of `b`: (tag, contents, rest).
pub fn read_tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = b.split_first().ok_or("empty DER")?;
    let (&first, mut rest) = rest.split_first().ok_or("no DER length")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err("bad DER length".into());
        }
        let mut l = 0usize;
        for &x in &rest[..n] {
            l = (l << 8) | usize::from(x);
        }
        rest = &rest[n..];
        l
    };
    if rest.len() < len {
        return Err(format!("DER length {len} beyond {} bytes", rest.len()));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// The server's `NegTokenResp`, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegResp {
    pub state: Option<u8>,
    pub supported_mech: Option<Vec<u8>>,
    pub token: Option<Vec<u8>>,
    pub mic: Option<Vec<u8>>,
}

/// Decodes a server `NegTokenResp` (`a1 30 ...`).
pub fn parse_neg_resp(b: &[u8]) -> Result<NegResp, String> {
    let (tag, content, _) = read_tlv(b)?;
    if tag != 0xa1 {
        return Err(format!("NegTokenResp tag {tag:#x}"));
    }
    let (tag, mut seq, _) = read_tlv(content)?;
    if tag != 0x30 {
        return Err("NegTokenResp without SEQUENCE".into());
    }
    let mut r = NegResp::default();
    while !seq.is_empty() {
        let (tag, field, rest) = read_tlv(seq)?;
        seq = rest;
        let (itag, inner, _) = read_tlv(field)?;
        match (tag, itag) {
            (0xa0, 0x0a) if inner.len() == 1 => r.state = Some(inner[0]),
            (0xa1, 0x06) => r.supported_mech = Some(inner.to_vec()),
            (0xa2, 0x04) => r.token = Some(inner.to_vec()),
            (0xa3, 0x04) => r.mic = Some(inner.to_vec()),
            _ => return Err(format!("unexpected NegTokenResp field {tag:#x}/{itag:#x}")),
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smb_auth::ntlmssp::{Credentials, NtlmServer, ServerIdentity};

    struct Creds;
    impl Credentials for Creds {
        fn nt_hash(&self, user: &str, _: &str) -> Option<[u8; 16]> {
            user.eq_ignore_ascii_case("alice")
                .then(|| smb_auth::nt_hash("pw"))
        }
    }

    #[test]
    fn client_authenticates_against_smb_auth() {
        let id = ServerIdentity {
            netbios_name: "SRV",
            netbios_domain: "WORKGROUP",
            dns_name: "srv.test",
            dns_domain: "test",
        };
        for (user, pw, ok) in [
            ("alice", "pw", true),
            ("ALICE", "pw", true),
            ("alice", "x", false),
        ] {
            let c = NtlmClient::new(user, pw);
            let neg = c.negotiate();
            let mut s = NtlmServer::new();
            let mut out = [0u8; 1024];
            let n = s.challenge(&neg, &id, [7; 8], 1, &mut out).unwrap();
            let done = c.authenticate(&neg, &out[..n]).unwrap();
            let r = s.authenticate(&done.msg, &Creds);
            assert_eq!(r.is_ok(), ok, "{user}/{pw}");
            if let Ok(r) = r {
                assert_eq!(r.session_key, done.session_key);
                let mt = mech_type_list(&[OID_NTLMSSP]);
                let mut sec = done.security();
                let mic = sec.sign(&mt);
                assert!(s.verify_mech_list_mic(&mt, &mic));
                let smic = s.mech_list_mic(&mt).unwrap();
                assert!(sec.verify_server(&mt, &smic));
            }
        }
    }

    #[test]
    fn der_roundtrip() {
        let t = neg_token_resp(Some(1), Some(b"tok"), Some(&[9; 16]));
        let r = parse_neg_resp(&t).unwrap();
        assert_eq!(r.state, Some(1));
        assert_eq!(r.token.as_deref(), Some(&b"tok"[..]));
        let long = tlv(0x04, &[0; 300]);
        assert_eq!(&long[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(read_tlv(&long).unwrap().1.len(), 300);
    }
}
