//! NTLMSSP server ([MS-NLMP] 3.2.5) verifying NTLMv2 responses ([MS-NLMP] 3.3.2).
//!
//! * Messages: NEGOTIATE ([MS-NLMP] 2.2.1.1), CHALLENGE (2.2.1.2), AUTHENTICATE (2.2.1.3),
//!   AV pairs (2.2.2.1), NTLMv2 response and client challenge (2.2.2.7, 2.2.2.8), VERSION
//!   (2.2.2.10).
//! * Keys: `NTOWFv2` (3.3.2), `KXKEY` (3.4.5.1), the MIC (3.1.5.1.2, 3.2.5.1.2).
//! * Session security with extended session security (3.4.4.2 MAC, 3.4.5.2 SIGNKEY,
//!   3.4.5.3 SEALKEY), used only for the SPNEGO `mechListMIC` ([MS-SPNG] 3.1.5.1).
//!
//! NTLMv1, LM-only and OEM (non-Unicode) clients are not supported. Everything is fixed-size: the
//! NEGOTIATE and CHALLENGE messages are kept in inline arrays for the MIC.

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use rc4::{Rc4, StreamCipher};

use crate::writer::Writer;
use crate::AuthError;

type HmacMd5 = Hmac<Md5>;

/// Capacity in bytes of a [`NameBuf`] (UTF-8).
pub const NAME_CAP: usize = 128;
/// Largest NEGOTIATE_MESSAGE accepted (it is kept for the MIC).
pub const MAX_NEGOTIATE_LEN: usize = 512;
/// Largest CHALLENGE_MESSAGE produced (it is kept for the MIC).
pub const MAX_CHALLENGE_LEN: usize = 1024;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
const MSG_NEGOTIATE: u32 = 1;
const MSG_CHALLENGE: u32 = 2;
const MSG_AUTHENTICATE: u32 = 3;

/// NEGOTIATE flags ([MS-NLMP] 2.2.2.5).
pub mod flags {
    /// `NTLMSSP_NEGOTIATE_UNICODE` (A).
    pub const UNICODE: u32 = 0x0000_0001;
    /// `NTLM_NEGOTIATE_OEM` (B).
    pub const OEM: u32 = 0x0000_0002;
    /// `NTLMSSP_REQUEST_TARGET` (C).
    pub const REQUEST_TARGET: u32 = 0x0000_0004;
    /// `NTLMSSP_NEGOTIATE_SIGN` (D).
    pub const SIGN: u32 = 0x0000_0010;
    /// `NTLMSSP_NEGOTIATE_SEAL` (E).
    pub const SEAL: u32 = 0x0000_0020;
    /// `NTLMSSP_NEGOTIATE_LM_KEY` (G).
    pub const LM_KEY: u32 = 0x0000_0080;
    /// `NTLMSSP_NEGOTIATE_NTLM` (H).
    pub const NTLM: u32 = 0x0000_0200;
    /// Anonymous connection (J).
    pub const ANONYMOUS: u32 = 0x0000_0800;
    /// `NTLMSSP_NEGOTIATE_ALWAYS_SIGN` (M).
    pub const ALWAYS_SIGN: u32 = 0x0000_8000;
    /// `NTLMSSP_TARGET_TYPE_DOMAIN` (N).
    pub const TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
    /// `NTLMSSP_TARGET_TYPE_SERVER` (O).
    pub const TARGET_TYPE_SERVER: u32 = 0x0002_0000;
    /// `NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY` (P).
    pub const EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
    /// `NTLMSSP_NEGOTIATE_TARGET_INFO` (S).
    pub const TARGET_INFO: u32 = 0x0080_0000;
    /// `NTLMSSP_NEGOTIATE_VERSION` (T).
    pub const VERSION: u32 = 0x0200_0000;
    /// `NTLMSSP_NEGOTIATE_128` (U).
    pub const N128: u32 = 0x2000_0000;
    /// `NTLMSSP_NEGOTIATE_KEY_EXCH` (V).
    pub const KEY_EXCH: u32 = 0x4000_0000;
    /// `NTLMSSP_NEGOTIATE_56` (W).
    pub const N56: u32 = 0x8000_0000;
}
use flags::*;

/// Flags the server grants only when the client requested them; the AUTHENTICATE flags may
/// withdraw them again.
const NEGOTIABLE: u32 = REQUEST_TARGET
    | SIGN
    | SEAL
    | ALWAYS_SIGN
    | EXTENDED_SESSIONSECURITY
    | VERSION
    | N128
    | N56
    | KEY_EXCH;

// AV pair ids ([MS-NLMP] 2.2.2.1).
const AV_EOL: u16 = 0;
const AV_NB_COMPUTER_NAME: u16 = 1;
const AV_NB_DOMAIN_NAME: u16 = 2;
const AV_DNS_COMPUTER_NAME: u16 = 3;
const AV_DNS_DOMAIN_NAME: u16 = 4;
const AV_FLAGS: u16 = 6;
const AV_TIMESTAMP: u16 = 7;
/// `MsvAvFlags` bit: the AUTHENTICATE_MESSAGE carries a MIC.
const AV_FLAG_MIC_PRESENT: u32 = 0x2;

/// VERSION ([MS-NLMP] 2.2.2.10): 6.1 build 7600, `NTLMSSP_REVISION_W2K3`.
const VERSION_BYTES: [u8; 8] = [6, 1, 0xb0, 0x1d, 0, 0, 0, 0x0f];

/// Offset of the MIC in the AUTHENTICATE_MESSAGE (after the 64-byte header and VERSION).
const MIC_OFFSET: usize = 72;
const MIC_END: usize = MIC_OFFSET + 16;

/// Size of the CHALLENGE_MESSAGE header including VERSION.
const CHALLENGE_HEADER: usize = 56;
/// Fixed part of the NTLMv2 client challenge (`NTLMv2_CLIENT_CHALLENGE` up to `AvPairs`).
const BLOB_HEADER: usize = 28;

/// Source of user passwords (as NT hashes).
pub trait Credentials {
    /// The NT hash ([`crate::nt_hash`]) of `user`'s password, or `None` for an unknown user.
    ///
    /// `user` and `domain` are the names the client sent, as UTF-8; implementations should
    /// match user names case-insensitively (Windows does) and may ignore `domain`.
    fn nt_hash(&self, user: &str, domain: &str) -> Option<[u8; 16]>;
}

/// The server names advertised in the CHALLENGE_MESSAGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerIdentity<'a> {
    /// NetBIOS computer name (`MsvAvNbComputerName`, also the `TargetName`), e.g. `"SMBED"`.
    pub netbios_name: &'a str,
    /// NetBIOS domain or workgroup name (`MsvAvNbDomainName`), e.g. `"WORKGROUP"`.
    pub netbios_domain: &'a str,
    /// DNS computer name (`MsvAvDnsComputerName`); omitted from the message when empty.
    pub dns_name: &'a str,
    /// DNS domain name (`MsvAvDnsDomainName`); omitted from the message when empty.
    pub dns_domain: &'a str,
}

/// A name of at most [`NAME_CAP`] bytes of UTF-8, stored inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NameBuf {
    buf: [u8; NAME_CAP],
    len: usize,
}

impl NameBuf {
    /// Capacity in bytes.
    pub const CAPACITY: usize = NAME_CAP;

    /// The empty name.
    pub const fn new() -> Self {
        NameBuf {
            buf: [0; NAME_CAP],
            len: 0,
        }
    }

    /// A copy of `s`, or `None` if it is longer than [`NAME_CAP`] bytes.
    pub fn try_new(s: &str) -> Option<Self> {
        let mut n = NameBuf::new();
        n.buf.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        n.len = s.len();
        Some(n)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only ever filled with whole UTF-8 sequences.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The name as UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the name is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes UTF-16LE. `Err(Malformed)` for an odd length or unpaired surrogates,
    /// `Err(LogonFailure)` if it does not fit.
    fn from_utf16le(bytes: &[u8]) -> Result<Self, AuthError> {
        if !bytes.len().is_multiple_of(2) {
            return Err(AuthError::Malformed);
        }
        let mut n = NameBuf::new();
        for c in char::decode_utf16(utf16_units(bytes)) {
            let c = c.map_err(|_| AuthError::Malformed)?;
            let end = n
                .len
                .checked_add(c.len_utf8())
                .ok_or(AuthError::LogonFailure)?;
            let dst = n.buf.get_mut(n.len..end).ok_or(AuthError::LogonFailure)?;
            c.encode_utf8(dst);
            n.len = end;
        }
        Ok(n)
    }
}

impl Default for NameBuf {
    fn default() -> Self {
        NameBuf::new()
    }
}

impl fmt::Debug for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for NameBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of a successful [`NtlmServer::authenticate`].
#[derive(Clone, PartialEq, Eq)]
pub struct AuthResult {
    /// Anonymous logon (empty user name and NT response, [MS-NLMP] 3.2.5.1.2). No password was
    /// checked, `session_key` is all zeros and there is no session security (no
    /// `mechListMIC`).
    pub anonymous: bool,
    /// The user name the client sent.
    pub user: NameBuf,
    /// The domain name the client sent.
    pub domain: NameBuf,
    /// The workstation name the client sent (empty if absent, not valid UTF-16 or too long;
    /// informational only).
    pub workstation: NameBuf,
    /// `ExportedSessionKey` ([MS-NLMP] 3.2.5.1.2): the SMB session key.
    pub session_key: [u8; 16],
    /// The AUTHENTICATE_MESSAGE carried a (verified) MIC (`MsvAvFlags` bit 0x2). Windows and
    /// Samba clients that send one (Samba only when signing was requested) also send a SPNEGO
    /// `mechListMIC` and require one back ([MS-SPNG] 3.1.5.1). The engine's rule: if the client
    /// sent a `mechListMIC`, verify it and send the server's; if it sent none, send none
    /// (Samba rejects an unsolicited one).
    pub mic_present: bool,
}

impl fmt::Debug for AuthResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthResult")
            .field("anonymous", &self.anonymous)
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("workstation", &self.workstation)
            .field("mic_present", &self.mic_present)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the NEGOTIATE_MESSAGE.
    Start,
    /// CHALLENGE_MESSAGE sent, waiting for the AUTHENTICATE_MESSAGE.
    Challenged,
    /// Authenticated; session security available if it was established.
    Authenticated,
    /// Failed (or anonymous): no further calls.
    Done,
}

/// NTLM session security state for one exchange ([MS-NLMP] 3.4.4.2 with extended session
/// security).
pub(crate) struct SessionSecurity {
    client_sign_key: [u8; 16],
    server_sign_key: [u8; 16],
    /// `ClientHandle`: RC4 keyed with the client-to-server sealing key.
    client_seal: Rc4,
    /// `ServerHandle`: RC4 keyed with the server-to-client sealing key.
    server_seal: Rc4,
    client_seq: u32,
    server_seq: u32,
    key_exch: bool,
}

impl SessionSecurity {
    /// SIGNKEY / SEALKEY ([MS-NLMP] 3.4.5.2, 3.4.5.3) from the exported session key.
    fn new(exported: &[u8; 16], flags: u32) -> Option<Self> {
        let seal_base: &[u8] = if flags & N128 != 0 {
            exported
        } else if flags & N56 != 0 {
            exported.get(..7)?
        } else {
            exported.get(..5)?
        };
        let client_seal_key = md5_cat(
            seal_base,
            b"session key to client-to-server sealing key magic constant\0",
        );
        let server_seal_key = md5_cat(
            seal_base,
            b"session key to server-to-client sealing key magic constant\0",
        );
        Some(SessionSecurity {
            client_sign_key: md5_cat(
                exported,
                b"session key to client-to-server signing key magic constant\0",
            ),
            server_sign_key: md5_cat(
                exported,
                b"session key to server-to-client signing key magic constant\0",
            ),
            client_seal: Rc4::new_from_slice(&client_seal_key).ok()?,
            server_seal: Rc4::new_from_slice(&server_seal_key).ok()?,
            client_seq: 0,
            server_seq: 0,
            key_exch: flags & KEY_EXCH != 0,
        })
    }
}

/// `MAC(Handle, SigningKey, SeqNum, Message)` with extended session security
/// ([MS-NLMP] 3.4.4.2): `NTLMSSP_MESSAGE_SIGNATURE` = version 1, 8-byte checksum, sequence
/// number.
fn mac(sign_key: &[u8; 16], handle: &mut Rc4, key_exch: bool, seq: u32, msg: &[u8]) -> [u8; 16] {
    let mut h = hmac_md5(sign_key);
    h.update(&seq.to_le_bytes());
    h.update(msg);
    let digest: [u8; 16] = h.finalize().into_bytes().into();
    let mut sig = [0u8; 16];
    sig[0] = 1;
    sig[4..12].copy_from_slice(&digest[..8]);
    if key_exch {
        handle.apply_keystream(&mut sig[4..12]);
    }
    sig[12..].copy_from_slice(&seq.to_le_bytes());
    sig
}

/// Server side of one NTLMSSP exchange: [`challenge`](Self::challenge), then
/// [`authenticate`](Self::authenticate), then optionally the `mechListMIC` functions.
///
/// Fixed size (about 2.4 KiB, no heap); keeps copies of the NEGOTIATE and CHALLENGE messages for
/// the MIC.
pub struct NtlmServer {
    phase: Phase,
    /// Flags sent in the CHALLENGE_MESSAGE; after authentication, the negotiated flags.
    flags: u32,
    server_challenge: [u8; 8],
    negotiate: [u8; MAX_NEGOTIATE_LEN],
    negotiate_len: usize,
    challenge: [u8; MAX_CHALLENGE_LEN],
    challenge_len: usize,
    nb_domain: NameBuf,
    nb_name: NameBuf,
    security: Option<SessionSecurity>,
}

impl Default for NtlmServer {
    fn default() -> Self {
        NtlmServer::new()
    }
}

impl fmt::Debug for NtlmServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NtlmServer")
            .field("phase", &self.phase)
            .field("flags", &format_args!("{:#010x}", self.flags))
            .field("session_security", &self.security.is_some())
            .finish_non_exhaustive()
    }
}

/// Parsed AUTHENTICATE_MESSAGE fields ([MS-NLMP] 2.2.1.3).
struct AuthMsg<'a> {
    lm: &'a [u8],
    nt: &'a [u8],
    domain_raw: &'a [u8],
    user_raw: &'a [u8],
    workstation_raw: &'a [u8],
    session_key: &'a [u8],
    flags: u32,
}

impl<'a> AuthMsg<'a> {
    fn parse(msg: &'a [u8]) -> Result<Self, AuthError> {
        if msg.len() < 64 || msg.get(..8) != Some(SIGNATURE) || u32_at(msg, 8)? != MSG_AUTHENTICATE
        {
            return Err(AuthError::Malformed);
        }
        Ok(AuthMsg {
            lm: field(msg, 12)?,
            nt: field(msg, 20)?,
            domain_raw: field(msg, 28)?,
            user_raw: field(msg, 36)?,
            workstation_raw: field(msg, 44)?,
            session_key: field(msg, 52)?,
            flags: u32_at(msg, 60)?,
        })
    }
}

/// Which domain string to feed into `NTOWFv2`.
#[derive(Clone, Copy)]
enum Dom<'a> {
    /// UTF-16LE bytes as sent by the client.
    Raw(&'a [u8]),
    /// UTF-16LE bytes, upper-cased.
    Upper(&'a [u8]),
    /// A server-side name.
    Str(&'a str),
}

impl NtlmServer {
    /// A server waiting for the NEGOTIATE_MESSAGE.
    pub fn new() -> Self {
        NtlmServer {
            phase: Phase::Start,
            flags: 0,
            server_challenge: [0; 8],
            negotiate: [0; MAX_NEGOTIATE_LEN],
            negotiate_len: 0,
            challenge: [0; MAX_CHALLENGE_LEN],
            challenge_len: 0,
            nb_domain: NameBuf::new(),
            nb_name: NameBuf::new(),
            security: None,
        }
    }

    /// Negotiate flags: those sent in the CHALLENGE_MESSAGE, and after
    /// [`authenticate`](Self::authenticate) those both sides agreed on.
    pub fn negotiated_flags(&self) -> u32 {
        self.flags
    }

    /// Processes the client's NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.1, 3.2.5.1.1) and writes the
    /// CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2) into `out`, returning its length.
    ///
    /// `server_challenge` must be 8 fresh random bytes; `now_filetime` is the current time in
    /// 100 ns units since 1601 (`MsvAvTimestamp`, which makes clients send a MIC).
    ///
    /// Errors: [`AuthError::Malformed`] (bad message, or longer than [`MAX_NEGOTIATE_LEN`]),
    /// [`AuthError::Unsupported`] (client without Unicode), [`AuthError::BufferTooSmall`] (`out`
    /// too small, or server names too long for [`MAX_CHALLENGE_LEN`] / [`NAME_CAP`]),
    /// [`AuthError::WrongState`]. On error the server stays ready for another NEGOTIATE.
    pub fn challenge(
        &mut self,
        negotiate: &[u8],
        id: &ServerIdentity<'_>,
        server_challenge: [u8; 8],
        now_filetime: u64,
        out: &mut [u8],
    ) -> Result<usize, AuthError> {
        if self.phase != Phase::Start {
            return Err(AuthError::WrongState);
        }
        if negotiate.len() < 16
            || negotiate.get(..8) != Some(SIGNATURE)
            || u32_at(negotiate, 8)? != MSG_NEGOTIATE
            || negotiate.len() > MAX_NEGOTIATE_LEN
        {
            return Err(AuthError::Malformed);
        }
        let client_flags = u32_at(negotiate, 12)?;
        if negotiate.len() >= 32 {
            // DomainNameFields, WorkstationFields: unused, but must be in bounds.
            field(negotiate, 16)?;
            field(negotiate, 24)?;
        }
        if client_flags & UNICODE == 0 {
            return Err(AuthError::Unsupported);
        }
        // [MS-NLMP] 3.2.5.1.1: Unicode, NTLM and target info always; the rest only when asked.
        // LM_KEY is never granted (extended session security takes precedence).
        let flags = UNICODE | NTLM | TARGET_INFO | TARGET_TYPE_SERVER | (client_flags & NEGOTIABLE);

        let nb_domain = NameBuf::try_new(id.netbios_domain).ok_or(AuthError::BufferTooSmall)?;
        let nb_name = NameBuf::try_new(id.netbios_name).ok_or(AuthError::BufferTooSmall)?;

        let target_name_len = utf16_len(id.netbios_name)?;
        let av_pairs: [(u16, &str); 4] = [
            (AV_NB_DOMAIN_NAME, id.netbios_domain),
            (AV_NB_COMPUTER_NAME, id.netbios_name),
            (AV_DNS_DOMAIN_NAME, id.dns_domain),
            (AV_DNS_COMPUTER_NAME, id.dns_name),
        ];
        let present = |&&(av, s): &&(u16, &str)| {
            !s.is_empty() || av == AV_NB_DOMAIN_NAME || av == AV_NB_COMPUTER_NAME
        };
        // Timestamp (4 + 8) and EOL (4).
        let mut target_info_len: usize = 16;
        for &(_, s) in av_pairs.iter().filter(present) {
            target_info_len = target_info_len
                .checked_add(4 + usize::from(utf16_len(s)?))
                .ok_or(AuthError::BufferTooSmall)?;
        }
        let target_info_len =
            u16::try_from(target_info_len).map_err(|_| AuthError::BufferTooSmall)?;
        let target_info_offset = CHALLENGE_HEADER + usize::from(target_name_len);

        let mut w = Writer::new(&mut self.challenge);
        w.put(SIGNATURE)?;
        w.u32(MSG_CHALLENGE)?;
        w.u16(target_name_len)?;
        w.u16(target_name_len)?;
        w.u32(CHALLENGE_HEADER as u32)?;
        w.u32(flags)?;
        w.put(&server_challenge)?;
        w.put(&[0; 8])?;
        w.u16(target_info_len)?;
        w.u16(target_info_len)?;
        w.u32(u32::try_from(target_info_offset).map_err(|_| AuthError::BufferTooSmall)?)?;
        w.put(if flags & VERSION != 0 {
            &VERSION_BYTES
        } else {
            &[0; 8]
        })?;
        w.utf16(id.netbios_name)?;
        for &(av, s) in av_pairs.iter().filter(present) {
            w.u16(av)?;
            w.u16(utf16_len(s)?)?;
            w.utf16(s)?;
        }
        w.u16(AV_TIMESTAMP)?;
        w.u16(8)?;
        w.u64(now_filetime)?;
        w.u16(AV_EOL)?;
        w.u16(0)?;
        let len = w.pos();

        let msg = self.challenge.get(..len).ok_or(AuthError::BufferTooSmall)?;
        out.get_mut(..len)
            .ok_or(AuthError::BufferTooSmall)?
            .copy_from_slice(msg);
        self.negotiate
            .get_mut(..negotiate.len())
            .ok_or(AuthError::Malformed)?
            .copy_from_slice(negotiate);
        self.negotiate_len = negotiate.len();
        self.challenge_len = len;
        self.flags = flags;
        self.server_challenge = server_challenge;
        self.nb_domain = nb_domain;
        self.nb_name = nb_name;
        self.phase = Phase::Challenged;
        Ok(len)
    }

    /// Verifies the client's AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3, 3.2.5.1.2).
    ///
    /// Accepts anonymous logons and NTLMv2 responses. For NTLMv2, `NTOWFv2` is tried with the
    /// client's domain, then its upper-case form, the empty domain, and the server's NetBIOS
    /// domain and computer names. If the client declares a MIC (`MsvAvFlags` 0x2) it is
    /// verified over NEGOTIATE ‖ CHALLENGE ‖ AUTHENTICATE.
    ///
    /// Errors: [`AuthError::LogonFailure`] (unknown user, wrong password, NTLMv1 or LM-only
    /// response, wrong MIC), [`AuthError::Malformed`], [`AuthError::WrongState`]. After any
    /// error the exchange is over.
    pub fn authenticate(
        &mut self,
        auth: &[u8],
        creds: &dyn Credentials,
    ) -> Result<AuthResult, AuthError> {
        if self.phase != Phase::Challenged {
            return Err(AuthError::WrongState);
        }
        self.phase = Phase::Done;
        let msg = AuthMsg::parse(auth)?;
        let user = NameBuf::from_utf16le(msg.user_raw)?;
        let domain = NameBuf::from_utf16le(msg.domain_raw)?;
        let workstation = NameBuf::from_utf16le(msg.workstation_raw).unwrap_or_default();
        // Flags the client withdrew in the AUTHENTICATE_MESSAGE are not in effect (a zero
        // flags field, as some old clients send, changes nothing; Samba does the same).
        let flags = if msg.flags == 0 {
            self.flags
        } else {
            self.flags & (msg.flags | !NEGOTIABLE)
        };

        // [MS-NLMP] 3.2.5.1.2: anonymous.
        if user.is_empty() && msg.nt.is_empty() && (msg.lm.is_empty() || msg.lm == [0]) {
            self.flags = flags;
            return Ok(AuthResult {
                anonymous: true,
                user,
                domain,
                workstation,
                session_key: [0; 16],
                mic_present: false,
            });
        }

        // NTLMv1 (24 bytes) or LM-only (empty NT response): refused.
        if msg.nt.is_empty() || msg.nt.len() == 24 {
            return Err(AuthError::LogonFailure);
        }
        let (proof, blob) = msg.nt.split_at_checked(16).ok_or(AuthError::Malformed)?;
        // NTLMv2_CLIENT_CHALLENGE ([MS-NLMP] 2.2.2.7): RespType 1, HiRespType 1, ...
        let av = match blob {
            [1, 1, ..] => blob.get(BLOB_HEADER..).ok_or(AuthError::Malformed)?,
            _ => return Err(AuthError::Malformed),
        };
        let mic_present = av_flags(av)? & AV_FLAG_MIC_PRESENT != 0;
        if mic_present && auth.len() < MIC_END {
            return Err(AuthError::Malformed);
        }
        let key_exch = flags & KEY_EXCH != 0;
        let encrypted_key: [u8; 16] = if key_exch {
            msg.session_key
                .try_into()
                .map_err(|_| AuthError::Malformed)?
        } else {
            [0; 16]
        };

        // An unknown user costs the same work as a wrong password.
        let known = creds.nt_hash(user.as_str(), domain.as_str());
        let nt_hash = known.unwrap_or([0; 16]);
        let candidates = [
            Dom::Raw(msg.domain_raw),
            Dom::Upper(msg.domain_raw),
            Dom::Str(""),
            Dom::Str(self.nb_domain.as_str()),
            Dom::Str(self.nb_name.as_str()),
        ];
        let mut response_key = None;
        for dom in candidates {
            let key = ntowfv2(&nt_hash, msg.user_raw, dom);
            if ct_eq(&nt_proof_str(&key, &self.server_challenge, blob), proof) {
                response_key = Some(key);
                break;
            }
        }
        let (Some(_), Some(response_key)) = (known, response_key) else {
            return Err(AuthError::LogonFailure);
        };

        // [MS-NLMP] 3.3.2: SessionBaseKey; 3.4.5.1: KXKEY = SessionBaseKey for NTLMv2.
        let key_exchange_key = hmac_md5_of(&response_key, proof);
        let session_key = if key_exch {
            let mut k = encrypted_key;
            Rc4::new_from_slice(&key_exchange_key)
                .map_err(|_| AuthError::Unsupported)?
                .apply_keystream(&mut k);
            k
        } else {
            key_exchange_key
        };

        if mic_present {
            let neg = self
                .negotiate
                .get(..self.negotiate_len)
                .ok_or(AuthError::Malformed)?;
            let chal = self
                .challenge
                .get(..self.challenge_len)
                .ok_or(AuthError::Malformed)?;
            let head = auth.get(..MIC_OFFSET).ok_or(AuthError::Malformed)?;
            let tail = auth.get(MIC_END..).ok_or(AuthError::Malformed)?;
            let sent = auth.get(MIC_OFFSET..MIC_END).ok_or(AuthError::Malformed)?;
            let mut h = hmac_md5(&session_key);
            h.update(neg);
            h.update(chal);
            h.update(head);
            h.update(&[0; 16]);
            h.update(tail);
            let expect: [u8; 16] = h.finalize().into_bytes().into();
            if !ct_eq(&expect, sent) {
                return Err(AuthError::LogonFailure);
            }
        }

        self.flags = flags;
        self.security = if flags & EXTENDED_SESSIONSECURITY != 0 {
            SessionSecurity::new(&session_key, flags)
        } else {
            None
        };
        self.phase = Phase::Authenticated;
        Ok(AuthResult {
            anonymous: false,
            user,
            domain,
            workstation,
            session_key,
            mic_present,
        })
    }

    /// Verifies the client's SPNEGO `mechListMIC` ([MS-SPNG] 3.1.5.1): an NTLMSSP signature
    /// ([MS-NLMP] 3.4.4.2) over `mech_types_der` (the DER `MechTypeList` from the client's
    /// `NegTokenInit`) with the client-to-server signing key and sealing handle.
    ///
    /// Each call consumes one client sequence number (the first is 0) and advances the RC4
    /// state. Returns `false` on mismatch, before a successful non-anonymous
    /// [`authenticate`](Self::authenticate), or without extended session security.
    pub fn verify_mech_list_mic(&mut self, mech_types_der: &[u8], mic: &[u8]) -> bool {
        if self.phase != Phase::Authenticated {
            return false;
        }
        let Some(s) = self.security.as_mut() else {
            return false;
        };
        let seq = s.client_seq;
        s.client_seq = seq.wrapping_add(1);
        let expect = mac(
            &s.client_sign_key,
            &mut s.client_seal,
            s.key_exch,
            seq,
            mech_types_der,
        );
        ct_eq(&expect, mic)
    }

    /// The server's SPNEGO `mechListMIC` over `mech_types_der` ([MS-SPNG] 3.1.5.1,
    /// [MS-NLMP] 3.4.4.2) with the server-to-client signing key and sealing handle.
    ///
    /// Each call consumes one server sequence number (the first is 0) and advances the RC4
    /// state. Errors: [`AuthError::WrongState`] before a successful non-anonymous
    /// [`authenticate`](Self::authenticate); [`AuthError::Unsupported`] if extended session
    /// security was not negotiated.
    pub fn mech_list_mic(&mut self, mech_types_der: &[u8]) -> Result<[u8; 16], AuthError> {
        if self.phase != Phase::Authenticated {
            return Err(AuthError::WrongState);
        }
        let s = self.security.as_mut().ok_or(AuthError::Unsupported)?;
        let seq = s.server_seq;
        s.server_seq = seq.wrapping_add(1);
        Ok(mac(
            &s.server_sign_key,
            &mut s.server_seal,
            s.key_exch,
            seq,
            mech_types_der,
        ))
    }
}

/// `NTOWFv2` ([MS-NLMP] 3.3.2): HMAC-MD5(NT hash, UTF16LE(Uppercase(User) ‖ UserDom)).
fn ntowfv2(nt_hash: &[u8; 16], user_utf16: &[u8], dom: Dom<'_>) -> [u8; 16] {
    let mut h = hmac_md5(nt_hash);
    feed_upper(&mut h, user_utf16);
    match dom {
        Dom::Raw(d) => h.update(d),
        Dom::Upper(d) => feed_upper(&mut h, d),
        Dom::Str(s) => {
            for unit in s.encode_utf16() {
                h.update(&unit.to_le_bytes());
            }
        }
    }
    h.finalize().into_bytes().into()
}

/// `NTProofStr` ([MS-NLMP] 3.3.2): HMAC-MD5(ResponseKeyNT, ServerChallenge ‖ temp).
fn nt_proof_str(response_key: &[u8; 16], server_challenge: &[u8; 8], blob: &[u8]) -> [u8; 16] {
    let mut h = hmac_md5(response_key);
    h.update(server_challenge);
    h.update(blob);
    h.finalize().into_bytes().into()
}

/// Feeds UTF-16LE `bytes` upper-cased character by character (like Windows'
/// `RtlUpcaseUnicodeString`, characters without a single-character upper case stay as they
/// are; unpaired surrogates pass through unchanged).
fn feed_upper(h: &mut HmacMd5, bytes: &[u8]) {
    for c in char::decode_utf16(utf16_units(bytes)) {
        match c {
            Ok(c) => {
                let mut up = c.to_uppercase();
                let c = match (up.next(), up.next()) {
                    (Some(u), None) => u,
                    _ => c,
                };
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    h.update(&unit.to_le_bytes());
                }
            }
            Err(e) => h.update(&e.unpaired_surrogate().to_le_bytes()),
        }
    }
}

fn utf16_units(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
}

/// Length of `s` in UTF-16LE bytes, which must fit a u16 field.
fn utf16_len(s: &str) -> Result<u16, AuthError> {
    s.encode_utf16()
        .count()
        .checked_mul(2)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or(AuthError::BufferTooSmall)
}

/// Scans the AV pairs of an NTLMv2 client challenge ([MS-NLMP] 2.2.2.1) up to `MsvAvEOL` and
/// returns the `MsvAvFlags` value (0 if absent).
fn av_flags(mut av: &[u8]) -> Result<u32, AuthError> {
    let mut value = 0;
    loop {
        let id = u16_at(av, 0)?;
        let len = usize::from(u16_at(av, 2)?);
        let end = 4usize.checked_add(len).ok_or(AuthError::Malformed)?;
        let data = av.get(4..end).ok_or(AuthError::Malformed)?;
        match id {
            AV_EOL => return Ok(value),
            AV_FLAGS => value = u32_at(data, 0).map_err(|_| AuthError::Malformed)?,
            _ => {}
        }
        av = av.get(end..).ok_or(AuthError::Malformed)?;
    }
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, AuthError> {
    let end = off.checked_add(2).ok_or(AuthError::Malformed)?;
    let s = b.get(off..end).ok_or(AuthError::Malformed)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, AuthError> {
    let end = off.checked_add(4).ok_or(AuthError::Malformed)?;
    let s = b.get(off..end).ok_or(AuthError::Malformed)?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A message payload field (`Len`, `MaxLen`, `BufferOffset`; [MS-NLMP] 2.2.1.1), bounds-checked.
/// An empty field is empty whatever its offset (clients send arbitrary offsets for those).
fn field(msg: &[u8], at: usize) -> Result<&[u8], AuthError> {
    let len = usize::from(u16_at(msg, at)?);
    if len == 0 {
        return Ok(&[]);
    }
    let off = usize::try_from(u32_at(msg, at + 4)?).map_err(|_| AuthError::Malformed)?;
    let end = off.checked_add(len).ok_or(AuthError::Malformed)?;
    msg.get(off..end).ok_or(AuthError::Malformed)
}

/// HMAC-MD5 keyed with a 16-byte key. HMAC pads short keys with zeros to the block size, so
/// the zero-padded 64-byte key is the same key, and `new` cannot fail.
fn hmac_md5(key: &[u8; 16]) -> HmacMd5 {
    let mut k = [0u8; 64];
    k[..16].copy_from_slice(key);
    <HmacMd5 as KeyInit>::new(&k.into())
}

fn hmac_md5_of(key: &[u8; 16], data: &[u8]) -> [u8; 16] {
    let mut h = hmac_md5(key);
    h.update(data);
    h.finalize().into_bytes().into()
}

fn md5_cat(a: &[u8], b: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    Digest::update(&mut h, a);
    Digest::update(&mut h, b);
    h.finalize().into()
}

/// Constant-time equality (length mismatch returns `false` immediately).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    pub(crate) fn unhex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        s.chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    fn rc4(key: &[u8], data: &mut [u8]) {
        Rc4::new_from_slice(key).unwrap().apply_keystream(data);
    }

    /// The test user database: "User" / "Password", names matched case-insensitively.
    pub(crate) struct Creds;
    impl Credentials for Creds {
        fn nt_hash(&self, user: &str, _domain: &str) -> Option<[u8; 16]> {
            if user.to_lowercase() == "user" {
                Some(crate::nt_hash("Password"))
            } else if user == "Jürgen" || user == "JÜRGEN" {
                Some(crate::nt_hash("Grüße"))
            } else {
                None
            }
        }
    }

    pub(crate) const ID: ServerIdentity<'static> = ServerIdentity {
        netbios_name: "SMBED",
        netbios_domain: "WORKGROUP",
        dns_name: "smbed.example.org",
        dns_domain: "example.org",
    };
    pub(crate) const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    /// 2024-01-01T00:00:00Z as FILETIME.
    pub(crate) const NOW: u64 = 133_485_408_000_000_000;

    /// Flags a Windows 10 client sends in its NEGOTIATE_MESSAGE (0xe2088297).
    pub(crate) const WINDOWS_FLAGS: u32 = N56
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

    /// A test NTLM client building messages the way Windows and Samba do ([MS-NLMP] 3.1.5).
    #[derive(Clone)]
    pub(crate) struct Client<'a> {
        pub user: &'a str,
        pub domain: &'a str,
        /// Domain used in NTOWFv2 (normally `domain`).
        pub ntowf_domain: &'a str,
        pub password: &'a str,
        pub workstation: &'a str,
        pub flags: u32,
        pub with_mic: bool,
        pub client_challenge: [u8; 8],
        pub random_session_key: [u8; 16],
    }

    /// What the client knows after building its AUTHENTICATE_MESSAGE.
    pub(crate) struct ClientDone {
        pub msg: Vec<u8>,
        pub exported: [u8; 16],
        pub flags: u32,
    }

    impl ClientDone {
        /// Client-side session security (sign with client keys, verify with server keys).
        pub(crate) fn security(&self) -> SessionSecurity {
            SessionSecurity::new(&self.exported, self.flags).unwrap()
        }
    }

    impl<'a> Client<'a> {
        pub(crate) fn new() -> Self {
            Client {
                user: "User",
                domain: "Domain",
                ntowf_domain: "Domain",
                password: "Password",
                workstation: "COMPUTER",
                flags: WINDOWS_FLAGS,
                with_mic: true,
                client_challenge: [0xaa; 8],
                random_session_key: [0x55; 16],
            }
        }

        pub(crate) fn negotiate(&self) -> Vec<u8> {
            let mut m = Vec::new();
            m.extend_from_slice(b"NTLMSSP\0");
            m.extend_from_slice(&1u32.to_le_bytes());
            m.extend_from_slice(&self.flags.to_le_bytes());
            for _ in 0..2 {
                m.extend_from_slice(&[0, 0, 0, 0, 40, 0, 0, 0]);
            }
            m.extend_from_slice(&[10, 0, 0x61, 0x4a, 0, 0, 0, 0x0f]);
            m
        }

        pub(crate) fn authenticate(&self, negotiate: &[u8], challenge: &[u8]) -> ClientDone {
            let chal_flags = u32_at(challenge, 20).unwrap();
            let server_challenge: [u8; 8] = challenge[24..32].try_into().unwrap();
            let target_info = field(challenge, 40).unwrap();
            // Walk the server's AV pairs, copying all but EOL.
            let mut pairs = Vec::new();
            let mut timestamp = None;
            let mut av = target_info;
            loop {
                let id = u16_at(av, 0).unwrap();
                let len = usize::from(u16_at(av, 2).unwrap());
                if id == AV_EOL {
                    break;
                }
                if id == AV_TIMESTAMP {
                    timestamp = Some(av[4..12].to_vec());
                }
                pairs.extend_from_slice(&av[..4 + len]);
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

            let nt_hash = crate::nt_hash(self.password);
            let mut key_data = utf16(&self.user.to_uppercase());
            key_data.extend(utf16(self.ntowf_domain));
            let ntowf = hmac_md5_of(&nt_hash, &key_data);
            let mut proof_data = server_challenge.to_vec();
            proof_data.extend_from_slice(&blob);
            let proof = hmac_md5_of(&ntowf, &proof_data);
            let mut nt = proof.to_vec();
            nt.extend_from_slice(&blob);
            let lm = if timestamp.is_some() {
                vec![0; 24]
            } else {
                let mut d = server_challenge.to_vec();
                d.extend_from_slice(&self.client_challenge);
                let mut lm = hmac_md5_of(&ntowf, &d).to_vec();
                lm.extend_from_slice(&self.client_challenge);
                lm
            };
            let base_key = hmac_md5_of(&ntowf, &proof);
            let flags = chal_flags & self.flags;
            let (exported, esk) = if flags & KEY_EXCH != 0 {
                let mut esk = self.random_session_key;
                rc4(&base_key, &mut esk);
                (self.random_session_key, esk.to_vec())
            } else {
                (base_key, Vec::new())
            };
            let msg = build_authenticate(
                flags,
                &[
                    &lm,
                    &nt,
                    &utf16(self.domain),
                    &utf16(self.user),
                    &utf16(self.workstation),
                    &esk,
                ],
            );
            let mut msg = msg;
            if self.with_mic {
                let mut d = negotiate.to_vec();
                d.extend_from_slice(challenge);
                d.extend_from_slice(&msg);
                let mic = hmac_md5_of(&exported, &d);
                msg[MIC_OFFSET..MIC_END].copy_from_slice(&mic);
            }
            ClientDone {
                msg,
                exported,
                flags,
            }
        }
    }

    /// An AUTHENTICATE_MESSAGE with header, VERSION, a zero MIC and the payload fields
    /// (LM, NT, domain, user, workstation, encrypted session key) in that order.
    pub(crate) fn build_authenticate(flags: u32, fields: &[&[u8]; 6]) -> Vec<u8> {
        let mut msg = Vec::new();
        msg.extend_from_slice(b"NTLMSSP\0");
        msg.extend_from_slice(&3u32.to_le_bytes());
        // Payload order like Windows: domain, user, workstation, LM, NT, session key.
        let order = [2usize, 3, 4, 0, 1, 5];
        let mut offsets = [0u32; 6];
        let mut off = MIC_END as u32;
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

    /// Runs NEGOTIATE/CHALLENGE; returns the server, the NEGOTIATE and the CHALLENGE.
    pub(crate) fn start(client: &Client<'_>) -> (NtlmServer, Vec<u8>, Vec<u8>) {
        let mut server = NtlmServer::new();
        let neg = client.negotiate();
        let mut out = [0u8; 1024];
        let n = server
            .challenge(&neg, &ID, SERVER_CHALLENGE, NOW, &mut out)
            .unwrap();
        (server, neg, out[..n].to_vec())
    }

    fn run(client: &Client<'_>) -> (NtlmServer, ClientDone, Result<AuthResult, AuthError>) {
        let (mut server, neg, chal) = start(client);
        let done = client.authenticate(&neg, &chal);
        let r = server.authenticate(&done.msg, &Creds);
        (server, done, r)
    }

    /// Client-side NTLM signature: `client_to_server` signs with the client keys (what a client
    /// sends), otherwise with the server keys (what a client expects from the server).
    pub(crate) fn sign(s: &mut SessionSecurity, client_to_server: bool, msg: &[u8]) -> [u8; 16] {
        if client_to_server {
            let seq = s.client_seq;
            s.client_seq += 1;
            mac(&s.client_sign_key, &mut s.client_seal, s.key_exch, seq, msg)
        } else {
            let seq = s.server_seq;
            s.server_seq += 1;
            mac(&s.server_sign_key, &mut s.server_seal, s.key_exch, seq, msg)
        }
    }

    /// Deterministic xorshift PRNG.
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    // ---- [MS-NLMP] 4.2.4 known-answer tests ----

    /// [MS-NLMP] 4.2.4.1.3 NTLMv2 client challenge (`temp`) with the 4.2.4 AV pairs.
    fn spec_blob() -> Vec<u8> {
        unhex(
            "01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000\
             02000c0044006f006d00610069006e00 01000c0053006500720076006500720000000000\
             00000000",
        )
    }

    #[test]
    fn nlmp_4_2_4_ntlmv2_known_answers() {
        let nt_hash = crate::nt_hash("Password");
        // 4.2.4.1.1 NTOWFv2
        let key = ntowfv2(&nt_hash, &utf16("User"), Dom::Str("Domain"));
        assert_eq!(key.to_vec(), unhex("0c868a403bfd7a93a3001ef22ef02e3f"));
        // Same via the raw UTF-16 domain as the client sends it.
        assert_eq!(
            key,
            ntowfv2(&nt_hash, &utf16("User"), Dom::Raw(&utf16("Domain")))
        );
        // User name case does not matter, domain case does.
        assert_eq!(key, ntowfv2(&nt_hash, &utf16("uSeR"), Dom::Str("Domain")));
        assert_ne!(key, ntowfv2(&nt_hash, &utf16("User"), Dom::Str("DOMAIN")));
        assert_eq!(
            ntowfv2(&nt_hash, &utf16("User"), Dom::Upper(&utf16("Domain"))),
            ntowfv2(&nt_hash, &utf16("User"), Dom::Str("DOMAIN"))
        );
        // 4.2.4.2.2 NTLMv2 response: NTProofStr
        let proof = nt_proof_str(&key, &SERVER_CHALLENGE, &spec_blob());
        assert_eq!(proof.to_vec(), unhex("68cd0ab851e51c96aabc927bebef6a1c"));
        // 4.2.4.1.2 session base key
        let base = hmac_md5_of(&key, &proof);
        assert_eq!(base.to_vec(), unhex("8de40ccadbc14a82f15cb0ad0de95ca3"));
        // 4.2.4.2.3 encrypted session key: RC4(KeyExchangeKey, RandomSessionKey)
        let mut k = [0x55u8; 16];
        rc4(&base, &mut k);
        assert_eq!(k.to_vec(), unhex("c5dad2544fc9799094ce1ce90bc9d03e"));
        // 4.2.4.2.1 LMv2 response
        let mut d = SERVER_CHALLENGE.to_vec();
        d.extend_from_slice(&[0xaa; 8]);
        assert_eq!(
            hmac_md5_of(&key, &d).to_vec(),
            unhex("86c35097ac9cec102554764a57cccc19")
        );
    }

    /// The complete [MS-NLMP] 4.2.4.3 AUTHENTICATE_MESSAGE, verified by the server.
    const SPEC_AUTHENTICATE: &str =
        "4e544c4d535350000300000018001800 6c00000054005400840000000c000c00
        48000000080008005400000010001000 5c00000010001000d8000000358288e2
        0501280a0000000f44006f006d006100 69006e00550073006500720043004f00
        4d005000550054004500520086c35097 ac9cec102554764a57cccc19aaaaaaaa
        aaaaaaaa68cd0ab851e51c96aabc927b ebef6a1c010100000000000000000000
        00000000aaaaaaaaaaaaaaaa00000000 02000c0044006f006d00610069006e00
        01000c00530065007200760065007200 0000000000000000c5dad2544fc97990
        94ce1ce90bc9d03e";

    #[test]
    fn nlmp_4_2_4_3_authenticate_message() {
        let mut client = Client::new();
        client.flags = 0xe288_8235;
        let (mut server, _, chal) = start(&client);
        assert_eq!(u32_at(&chal, 20).unwrap() & KEY_EXCH, KEY_EXCH);
        let r = server
            .authenticate(&unhex(SPEC_AUTHENTICATE), &Creds)
            .unwrap();
        assert!(!r.anonymous && !r.mic_present);
        assert_eq!(r.user.as_str(), "User");
        assert_eq!(r.domain.as_str(), "Domain");
        assert_eq!(r.workstation.as_str(), "COMPUTER");
        assert_eq!(r.session_key, [0x55; 16]);
        // Wrong server challenge: logon failure.
        let mut server = NtlmServer::new();
        let mut out = [0u8; 1024];
        server
            .challenge(&client.negotiate(), &ID, [0; 8], NOW, &mut out)
            .unwrap();
        assert_eq!(
            server.authenticate(&unhex(SPEC_AUTHENTICATE), &Creds),
            Err(AuthError::LogonFailure)
        );
    }

    /// [MS-NLMP] 4.2.4.4 GSS_WrapEx: sealing keys and signatures from ExportedSessionKey 0x55…
    #[test]
    fn nlmp_4_2_4_4_session_security() {
        let f = KEY_EXCH | N128 | N56 | EXTENDED_SESSIONSECURITY | SIGN | SEAL;
        let mut s = SessionSecurity::new(&[0x55; 16], f).unwrap();
        assert_eq!(
            s.client_sign_key.to_vec(),
            unhex("4788dc861b4782f35d43fd98fe1a2d39")
        );
        let plain = utf16("Plaintext");
        let mut sealed = plain.clone();
        s.client_seal.apply_keystream(&mut sealed);
        assert_eq!(sealed, unhex("54e50165bf1936dc996020c1811b0f06fb5f"));
        let sig = mac(&s.client_sign_key, &mut s.client_seal, true, 0, &plain);
        assert_eq!(sig.to_vec(), unhex("010000007fb38ec5c55d497600000000"));
        // The server direction, as published by other implementations for the same inputs.
        let mut sealed = plain.clone();
        s.server_seal.apply_keystream(&mut sealed);
        assert_eq!(sealed, unhex("160871b730ba74e946c453d7465b54278dd0"));
        let sig = mac(&s.server_sign_key, &mut s.server_seal, true, 0, &plain);
        assert_eq!(sig.to_vec(), unhex("01000000b298b847ce7c580700000000"));
        // Client sealing key from the same example.
        let seal_key = md5_cat(
            &[0x55; 16],
            b"session key to client-to-server sealing key magic constant\0",
        );
        assert_eq!(seal_key.to_vec(), unhex("59f600973cc4960a25480a7c196e4c58"));
    }

    // ---- CHALLENGE_MESSAGE ----

    #[test]
    fn challenge_message_layout() {
        let client = Client::new();
        let (_, _, chal) = start(&client);
        assert_eq!(&chal[..8], b"NTLMSSP\0");
        assert_eq!(u32_at(&chal, 8).unwrap(), 2);
        let f = u32_at(&chal, 20).unwrap();
        let want = UNICODE
            | REQUEST_TARGET
            | SIGN
            | SEAL
            | NTLM
            | ALWAYS_SIGN
            | TARGET_TYPE_SERVER
            | EXTENDED_SESSIONSECURITY
            | TARGET_INFO
            | VERSION
            | N128
            | KEY_EXCH
            | N56;
        assert_eq!(f, want, "{f:#x}");
        assert_eq!(&chal[24..32], &SERVER_CHALLENGE);
        assert_eq!(&chal[32..40], &[0; 8]);
        assert_eq!(&chal[48..56], &VERSION_BYTES);
        assert_eq!(field(&chal, 12).unwrap(), utf16("SMBED"));
        assert_eq!(u32_at(&chal, 16).unwrap(), 56);
        let mut expect = Vec::new();
        for (id, s) in [
            (2u16, "WORKGROUP"),
            (1, "SMBED"),
            (4, "example.org"),
            (3, "smbed.example.org"),
        ] {
            expect.extend_from_slice(&id.to_le_bytes());
            expect.extend_from_slice(&(utf16(s).len() as u16).to_le_bytes());
            expect.extend(utf16(s));
        }
        expect.extend_from_slice(&[7, 0, 8, 0]);
        expect.extend_from_slice(&NOW.to_le_bytes());
        expect.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(field(&chal, 40).unwrap(), expect);
        assert_eq!(chal.len(), 56 + 10 + expect.len());
    }

    #[test]
    fn challenge_flags_follow_client() {
        let mut client = Client::new();
        client.flags = UNICODE | NTLM | EXTENDED_SESSIONSECURITY;
        let (_, _, chal) = start(&client);
        let f = u32_at(&chal, 20).unwrap();
        assert_eq!(
            f,
            UNICODE | NTLM | EXTENDED_SESSIONSECURITY | TARGET_INFO | TARGET_TYPE_SERVER
        );
        // No VERSION requested: zero Version field, payload layout unchanged.
        assert_eq!(&chal[48..56], &[0; 8]);
        // Empty DNS names are left out.
        let id = ServerIdentity {
            dns_name: "",
            dns_domain: "",
            ..ID
        };
        let mut server = NtlmServer::new();
        let mut out = [0u8; 512];
        let n = server
            .challenge(&client.negotiate(), &id, [1; 8], 0, &mut out)
            .unwrap();
        let ti = field(&out[..n], 40).unwrap();
        assert_eq!(ti.len(), 4 + 18 + 4 + 10 + 12 + 4);
    }

    #[test]
    fn challenge_errors() {
        let client = Client::new();
        let neg = client.negotiate();
        let mut out = [0u8; 1024];
        // OEM-only client.
        let mut oem = neg.clone();
        oem[12] &= !1;
        let mut s = NtlmServer::new();
        assert_eq!(
            s.challenge(&oem, &ID, SERVER_CHALLENGE, NOW, &mut out),
            Err(AuthError::Unsupported)
        );
        // Wrong message type, bad signature, oversized.
        let mut bad = neg.clone();
        bad[8] = 3;
        assert_eq!(
            s.challenge(&bad, &ID, SERVER_CHALLENGE, NOW, &mut out),
            Err(AuthError::Malformed)
        );
        let mut bad = neg.clone();
        bad[0] = b'X';
        assert_eq!(
            s.challenge(&bad, &ID, SERVER_CHALLENGE, NOW, &mut out),
            Err(AuthError::Malformed)
        );
        let mut big = neg.clone();
        big.resize(MAX_NEGOTIATE_LEN + 1, 0);
        assert_eq!(
            s.challenge(&big, &ID, SERVER_CHALLENGE, NOW, &mut out),
            Err(AuthError::Malformed)
        );
        // Domain field out of bounds.
        let mut bad = neg.clone();
        bad[16] = 8;
        bad[20] = 0xff;
        assert_eq!(
            s.challenge(&bad, &ID, SERVER_CHALLENGE, NOW, &mut out),
            Err(AuthError::Malformed)
        );
        // Every truncation below the 16-byte minimum is malformed; a short but complete
        // (pre-VERSION, 16/32-byte) NEGOTIATE is accepted.
        for len in 0..neg.len() {
            let r = NtlmServer::new().challenge(&neg[..len], &ID, SERVER_CHALLENGE, NOW, &mut out);
            if len < 16 {
                assert_eq!(r, Err(AuthError::Malformed), "len {len}");
            } else {
                assert!(r.is_ok(), "len {len}");
            }
        }
        // Output too small at every size; the server stays usable.
        let n = s
            .challenge(&neg, &ID, SERVER_CHALLENGE, NOW, &mut out)
            .unwrap();
        let mut s = NtlmServer::new();
        for len in 0..n {
            let mut small = vec![0u8; len];
            assert_eq!(
                s.challenge(&neg, &ID, SERVER_CHALLENGE, NOW, &mut small),
                Err(AuthError::BufferTooSmall)
            );
        }
        assert_eq!(
            s.challenge(&neg, &ID, SERVER_CHALLENGE, NOW, &mut out),
            Ok(n)
        );
        // Server names too long for the stored copy.
        let long = "x".repeat(600);
        let id = ServerIdentity {
            dns_name: &long,
            ..ID
        };
        assert_eq!(
            NtlmServer::new().challenge(&neg, &id, SERVER_CHALLENGE, NOW, &mut out),
            Err(AuthError::BufferTooSmall)
        );
    }

    // ---- full exchanges ----

    #[test]
    fn end_to_end_with_mic_and_key_exchange() {
        let client = Client::new();
        let (mut server, done, r) = run(&client);
        let r = r.unwrap();
        assert!(!r.anonymous && r.mic_present);
        assert_eq!(r.user.as_str(), "User");
        assert_eq!(r.domain.as_str(), "Domain");
        assert_eq!(r.workstation.as_str(), "COMPUTER");
        assert_eq!(r.session_key, [0x55; 16]);
        assert_eq!(r.session_key, done.exported);
        assert_eq!(server.negotiated_flags() & KEY_EXCH, KEY_EXCH);

        // mechListMIC both ways, twice (sequence numbers and RC4 state advance in step).
        let mut cs = done.security();
        let mech_types = unhex("300c060a2b06010401823702020a");
        for seq in 0..2 {
            let client_mic = mac(
                &cs.client_sign_key,
                &mut cs.client_seal,
                cs.key_exch,
                seq,
                &mech_types,
            );
            assert!(server.verify_mech_list_mic(&mech_types, &client_mic));
            let server_mic = server.mech_list_mic(&mech_types).unwrap();
            let expect = mac(
                &cs.server_sign_key,
                &mut cs.server_seal,
                cs.key_exch,
                seq,
                &mech_types,
            );
            assert_eq!(server_mic, expect);
            assert_eq!(&server_mic[12..], &seq.to_le_bytes());
        }
        // A forged client MIC fails.
        let mut forged = mac(
            &cs.client_sign_key,
            &mut cs.client_seal,
            cs.key_exch,
            2,
            &mech_types,
        );
        forged[5] ^= 1;
        assert!(!server.verify_mech_list_mic(&mech_types, &forged));
        assert!(!server.verify_mech_list_mic(&mech_types, &[0; 15]));
        // Done: no second authenticate.
        assert_eq!(
            server.authenticate(&done.msg, &Creds),
            Err(AuthError::WrongState)
        );
    }

    #[test]
    fn end_to_end_without_key_exchange_or_mic() {
        let mut client = Client::new();
        client.flags &= !KEY_EXCH;
        client.with_mic = false;
        let (mut server, done, r) = run(&client);
        let r = r.unwrap();
        assert!(!r.mic_present);
        assert_eq!(r.session_key, done.exported);
        assert_ne!(r.session_key, [0x55; 16]);
        let mut cs = done.security();
        assert!(!cs.key_exch);
        let m = b"0\x0c\x06\x0a+\x06\x01\x04\x01\x827\x02\x02\x0a";
        let client_mic = mac(&cs.client_sign_key, &mut cs.client_seal, false, 0, m);
        assert!(server.verify_mech_list_mic(m, &client_mic));
        let server_mic = server.mech_list_mic(m).unwrap();
        assert_eq!(
            server_mic,
            mac(&cs.server_sign_key, &mut cs.server_seal, false, 0, m)
        );
    }

    #[test]
    fn authenticate_flags_zero_or_withdrawn() {
        let client = Client {
            with_mic: false,
            ..Client::new()
        };
        // Zero AUTHENTICATE flags: the CHALLENGE flags stay in effect (KEY_EXCH here).
        let (mut server, neg, chal) = start(&client);
        let mut done = client.authenticate(&neg, &chal);
        done.msg[60..64].copy_from_slice(&[0; 4]);
        let r = server.authenticate(&done.msg, &Creds).unwrap();
        assert_eq!(r.session_key, [0x55; 16]);
        // SEAL withdrawn in AUTHENTICATE: no longer negotiated.
        let (mut server, neg, chal) = start(&client);
        let mut done = client.authenticate(&neg, &chal);
        let f = u32_at(&done.msg, 60).unwrap() & !SEAL;
        done.msg[60..64].copy_from_slice(&f.to_le_bytes());
        server.authenticate(&done.msg, &Creds).unwrap();
        assert_eq!(server.negotiated_flags() & SEAL, 0);
        assert_eq!(server.negotiated_flags() & KEY_EXCH, KEY_EXCH);
    }

    #[test]
    fn end_to_end_56_and_40_bit_sealing_keys() {
        for (drop, len) in [(N128, 7), (N128 | N56, 5)] {
            let mut client = Client::new();
            client.flags &= !drop;
            let (mut server, done, r) = run(&client);
            r.unwrap();
            let mut cs = done.security();
            let m = b"mechtypes";
            let c = mac(&cs.client_sign_key, &mut cs.client_seal, true, 0, m);
            assert!(server.verify_mech_list_mic(m, &c));
            // The weakened sealing key really is derived from the truncated session key.
            let mut expect = SessionSecurity::new(&[0x55; 16], done.flags).unwrap();
            let key = md5_cat(
                &[0x55; 16][..len],
                b"session key to server-to-client sealing key magic constant\0",
            );
            let mut a = [0u8; 8];
            let mut b = [0u8; 8];
            expect.server_seal.apply_keystream(&mut a);
            rc4(&key, &mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn end_to_end_without_extended_session_security() {
        let mut client = Client::new();
        client.flags &= !EXTENDED_SESSIONSECURITY;
        let (mut server, _, r) = run(&client);
        r.unwrap();
        assert_eq!(server.mech_list_mic(b"x"), Err(AuthError::Unsupported));
        assert!(!server.verify_mech_list_mic(b"x", &[0; 16]));
    }

    #[test]
    fn wrong_password_unknown_user_wrong_domain() {
        let mut client = Client::new();
        client.password = "password";
        assert_eq!(run(&client).2, Err(AuthError::LogonFailure));
        let mut client = Client::new();
        client.user = "Nobody";
        assert_eq!(run(&client).2, Err(AuthError::LogonFailure));
        let mut client = Client::new();
        client.ntowf_domain = "Other";
        assert_eq!(run(&client).2, Err(AuthError::LogonFailure));
        // After a failure the exchange is over.
        let (mut server, done, _) = run(&Client {
            password: "x",
            ..Client::new()
        });
        assert_eq!(
            server.authenticate(&done.msg, &Creds),
            Err(AuthError::WrongState)
        );
        assert_eq!(server.mech_list_mic(b"x"), Err(AuthError::WrongState));
    }

    #[test]
    fn user_name_case_and_domain_fallbacks() {
        for (user, sent, ntowf) in [
            ("user", "Domain", "Domain"),
            ("USER", "domain", "DOMAIN"),
            ("User", "Domain", ""),
            ("User", "", ""),
            ("User", "Domain", "WORKGROUP"),
            ("User", "Domain", "SMBED"),
            ("Jürgen", "Domain", "Domain"),
            ("JÜRGEN", "Domain", "Domain"),
        ] {
            let client = Client {
                user,
                domain: sent,
                ntowf_domain: ntowf,
                password: if user.starts_with('J') {
                    "Grüße"
                } else {
                    "Password"
                },
                ..Client::new()
            };
            let r = run(&client).2.unwrap();
            assert_eq!(r.user.as_str(), user);
            assert_eq!(r.domain.as_str(), sent);
        }
    }

    #[test]
    fn wrong_mic_fails() {
        let client = Client::new();
        let (mut server, neg, chal) = start(&client);
        let mut done = client.authenticate(&neg, &chal);
        done.msg[MIC_OFFSET + 3] ^= 0x40;
        assert_eq!(
            server.authenticate(&done.msg, &Creds),
            Err(AuthError::LogonFailure)
        );
        // MIC computed over a different NEGOTIATE (as after a downgrade).
        let (mut server, neg, chal) = start(&client);
        let mut other = neg.clone();
        other[12] ^= 0x10;
        let done = client.authenticate(&other, &chal);
        assert_eq!(
            server.authenticate(&done.msg, &Creds),
            Err(AuthError::LogonFailure)
        );
    }

    #[test]
    fn anonymous() {
        for lm in [&[][..], &[0u8][..]] {
            let (mut server, _, _) = start(&Client::new());
            let msg = build_authenticate(WINDOWS_FLAGS | ANONYMOUS, &[lm, &[], &[], &[], &[], &[]]);
            let r = server.authenticate(&msg, &Creds).unwrap();
            assert!(r.anonymous);
            assert!(r.user.is_empty());
            assert_eq!(r.session_key, [0; 16]);
            assert_eq!(server.mech_list_mic(b"x"), Err(AuthError::WrongState));
            assert!(!server.verify_mech_list_mic(b"x", &[0; 16]));
        }
        // Empty user with an LM response that is not Z(1): not anonymous, and no NT response.
        let (mut server, _, _) = start(&Client::new());
        let msg = build_authenticate(WINDOWS_FLAGS, &[&[0; 24], &[], &[], &[], &[], &[]]);
        assert_eq!(
            server.authenticate(&msg, &Creds),
            Err(AuthError::LogonFailure)
        );
    }

    #[test]
    fn ntlmv1_and_lm_only_rejected() {
        let u = utf16("User");
        let d = utf16("Domain");
        for (lm, nt) in [(&[7u8; 24][..], &[9u8; 24][..]), (&[7u8; 24][..], &[][..])] {
            let (mut server, _, _) = start(&Client::new());
            let msg = build_authenticate(WINDOWS_FLAGS, &[lm, nt, &d, &u, &[], &[0; 16]]);
            assert_eq!(
                server.authenticate(&msg, &Creds),
                Err(AuthError::LogonFailure)
            );
        }
    }

    #[test]
    fn malformed_names_and_blobs() {
        let client = Client::new();
        let (_, neg, chal) = start(&client);
        let good = client.authenticate(&neg, &chal).msg;
        let nt = field(&good, 20).unwrap().to_vec();
        let lm = field(&good, 12).unwrap().to_vec();
        let esk = field(&good, 52).unwrap().to_vec();
        let d = utf16("Domain");
        let u = utf16("User");
        let cases = [
            // Odd-length user name.
            (nt.clone(), b"Use".to_vec(), d.clone(), AuthError::Malformed),
            // Unpaired surrogate.
            (
                nt.clone(),
                vec![0x00, 0xd8],
                d.clone(),
                AuthError::Malformed,
            ),
            // Name too long for a NameBuf.
            (
                nt.clone(),
                utf16(&"u".repeat(NAME_CAP + 1)),
                d.clone(),
                AuthError::LogonFailure,
            ),
            // NT response too short for an NTLMv2 blob.
            (
                nt[..40].to_vec(),
                u.clone(),
                d.clone(),
                AuthError::Malformed,
            ),
            // Wrong RespType.
            (
                {
                    let mut n = nt.clone();
                    n[16] = 2;
                    n
                },
                u.clone(),
                d.clone(),
                AuthError::Malformed,
            ),
            // AV pairs without MsvAvEOL.
            (
                nt[..16 + 28 + 4].to_vec(),
                u.clone(),
                d.clone(),
                AuthError::Malformed,
            ),
        ];
        for (nt, user, dom, err) in cases {
            let (mut server, _, _) = start(&client);
            let msg = build_authenticate(WINDOWS_FLAGS, &[&lm, &nt, &dom, &user, &[], &esk]);
            assert_eq!(server.authenticate(&msg, &Creds), Err(err));
        }
        // KEY_EXCH negotiated but the encrypted session key is not 16 bytes.
        let (mut server, _, _) = start(&client);
        let msg = build_authenticate(WINDOWS_FLAGS, &[&lm, &nt, &d, &u, &[], &esk[..15]]);
        assert_eq!(server.authenticate(&msg, &Creds), Err(AuthError::Malformed));

        assert_eq!(av_flags(&[]), Err(AuthError::Malformed));
        assert_eq!(av_flags(&[0, 0, 0]), Err(AuthError::Malformed));
        assert_eq!(av_flags(&[0, 0, 0, 0]), Ok(0));
        assert_eq!(av_flags(&[6, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0]), Ok(2));
        assert_eq!(
            av_flags(&[6, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0]),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            av_flags(&[9, 0, 0xff, 0xff, 0, 0, 0, 0]),
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn wrong_order() {
        let client = Client::new();
        let mut server = NtlmServer::new();
        assert_eq!(
            server.authenticate(&unhex(SPEC_AUTHENTICATE), &Creds),
            Err(AuthError::WrongState)
        );
        assert_eq!(server.mech_list_mic(b"x"), Err(AuthError::WrongState));
        assert!(!server.verify_mech_list_mic(b"x", &[0; 16]));
        let (mut server, neg, _) = start(&client);
        let mut out = [0u8; 1024];
        assert_eq!(
            server.challenge(&neg, &ID, SERVER_CHALLENGE, NOW, &mut out),
            Err(AuthError::WrongState)
        );
        assert_eq!(server.mech_list_mic(b"x"), Err(AuthError::WrongState));
    }

    #[test]
    fn truncated_authenticate_is_malformed() {
        let client = Client::new();
        let (_, neg, chal) = start(&client);
        let msg = client.authenticate(&neg, &chal).msg;
        for len in 0..msg.len() {
            let (mut server, _, _) = start(&client);
            assert_eq!(
                server.authenticate(&msg[..len], &Creds),
                Err(AuthError::Malformed),
                "len {len}"
            );
        }
    }

    #[test]
    fn bogus_fields_are_malformed() {
        let client = Client::new();
        let (_, neg, chal) = start(&client);
        let msg = client.authenticate(&neg, &chal).msg;
        for at in [12usize, 20, 28, 36, 44, 52] {
            let bogus: [(u16, u32); 4] = [
                (0xffff, u32_at(&msg, at + 4).unwrap()),
                (1, 0xffff_ffff),
                (0xffff, 0xffff_fff0),
                (1, msg.len() as u32),
            ];
            for (len, off) in bogus {
                let mut m = msg.clone();
                m[at..at + 2].copy_from_slice(&len.to_le_bytes());
                m[at + 4..at + 8].copy_from_slice(&off.to_le_bytes());
                let (mut server, _, _) = start(&client);
                assert_eq!(
                    server.authenticate(&m, &Creds),
                    Err(AuthError::Malformed),
                    "field {at} len {len} off {off:#x}"
                );
            }
            // An empty field may point anywhere, but emptying any field breaks the logon.
            let mut m = msg.clone();
            m[at..at + 2].copy_from_slice(&[0, 0]);
            m[at + 4..at + 8].copy_from_slice(&[0xff; 4]);
            let (mut server, _, _) = start(&client);
            assert!(server.authenticate(&m, &Creds).is_err());
        }
    }

    #[test]
    fn random_corruption_never_authenticates_or_panics() {
        let client = Client::new();
        let (_, neg, chal) = start(&client);
        let msg = client.authenticate(&neg, &chal).msg;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Every single-byte change to a MIC-protected message must fail.
        for i in 0..msg.len() {
            let mut m = msg.clone();
            m[i] ^= 1 << rng.below(8);
            let (mut server, _, _) = start(&client);
            assert!(server.authenticate(&m, &Creds).is_err(), "byte {i}");
        }
        // Random multi-byte damage, including to the NEGOTIATE.
        for _ in 0..3000 {
            let mut m = msg.clone();
            let mut n = neg.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
                let j = rng.below(n.len());
                n[j] = rng.next() as u8;
            }
            let mut server = NtlmServer::new();
            let mut out = [0u8; 1024];
            if server
                .challenge(&n, &ID, SERVER_CHALLENGE, NOW, &mut out)
                .is_ok()
            {
                assert!(server.authenticate(&m, &Creds).is_err());
            }
        }
    }

    #[test]
    fn fixed_size() {
        let n = size_of::<NtlmServer>();
        std::println!(
            "NtlmServer: {n} bytes, AuthResult: {}",
            size_of::<AuthResult>()
        );
        assert!(n < 2600, "{n}");
    }

    #[test]
    fn name_buf() {
        let n = NameBuf::try_new("héllo").unwrap();
        assert_eq!(n.as_str(), "héllo");
        assert_eq!(n.len(), 6);
        assert!(NameBuf::try_new(&"x".repeat(NAME_CAP)).is_some());
        assert!(NameBuf::try_new(&"x".repeat(NAME_CAP + 1)).is_none());
        assert_eq!(
            NameBuf::from_utf16le(&utf16("𝄞ok")).unwrap().as_str(),
            "𝄞ok"
        );
        assert_eq!(std::format!("{n:?} {n}"), "\"héllo\" héllo");
        assert!(NameBuf::default().is_empty());
    }
}
