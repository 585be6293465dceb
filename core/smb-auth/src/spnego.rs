//! Minimal SPNEGO ([RFC 4178] 4.2, [MS-SPNG] 2.2) in DER ([X.690] 10) for SMB2 session setup.
//!
//! Only what an NTLMSSP-only SMB server needs:
//!
//! * [`emit_neg_hint`]: the `NegTokenInit2` ([MS-SPNG] 2.2.1) carried by the SMB2 NEGOTIATE
//!   response, wrapped in a GSS-API `InitialContextToken` ([RFC 2743] 3.1).
//! * [`parse`]: the client's `NegTokenInit` ([RFC 4178] 4.2.1), `NegTokenResp` ([RFC 4178] 4.2.2)
//!   or a raw NTLMSSP message sent without SPNEGO.
//! * [`emit_resp`]: the server's `NegTokenResp`.
//!
//! The parser is iterative with a fixed structure (no recursion, so nesting depth is bounded by
//! construction), accepts short and long (up to 4 length octets) definite lengths, rejects the
//! indefinite form and high tag numbers, and checks every length against the enclosing element.
//! Bytes following the outermost element are ignored.

use crate::writer::Writer;
use crate::AuthError;

/// DER contents of the SPNEGO OID 1.3.6.1.5.5.2.
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// DER contents of the NTLMSSP OID 1.3.6.1.4.1.311.2.2.10.
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// The `hintName` Windows and Samba put in `negHints` ([MS-SPNG] 3.2.5.2).
pub const HINT_NAME: &[u8] = b"not_defined_in_RFC4178@please_ignore";

/// Signature that starts every NTLMSSP message ([MS-NLMP] 2.2.1).
const NTLMSSP_SIGNATURE: &[u8] = b"NTLMSSP\0";

// Universal tags.
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_ENUMERATED: u8 = 0x0a;
const TAG_GENERAL_STRING: u8 = 0x1b;
const TAG_SEQUENCE: u8 = 0x30;
/// `[APPLICATION 0]` constructed: GSS-API InitialContextToken.
const TAG_GSS_API: u8 = 0x60;
/// `[n]` context-specific constructed.
const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// `negState` of a `NegTokenResp` ([RFC 4178] 4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NegState {
    /// `accept-completed` (0): authentication succeeded.
    AcceptCompleted = 0,
    /// `accept-incomplete` (1): more tokens are needed.
    AcceptIncomplete = 1,
    /// `reject` (2): authentication failed.
    Reject = 2,
    /// `request-mic` (3): the acceptor asks the initiator for a `mechListMIC`.
    RequestMic = 3,
}

/// A parsed client token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// A `NegTokenInit` (normally wrapped in the GSS-API `[APPLICATION 0]` header).
    Init {
        /// The complete DER encoding (tag, length, contents) of the `MechTypeList`
        /// SEQUENCE; the `mechListMIC` is computed over exactly these bytes.
        mech_types: &'a [u8],
        /// NTLMSSP is among the offered mechanisms.
        ntlm_offered: bool,
        /// NTLMSSP is the first (most preferred) offered mechanism, so `mech_token`, if any,
        /// is an NTLMSSP message. When NTLMSSP is offered but not first, the server answers
        /// `AcceptIncomplete` with `supportedMech` NTLMSSP and no response token, and the
        /// `mechListMIC` exchange becomes mandatory ([RFC 4178] 5).
        ntlm_first: bool,
        /// The optimistic `mechToken` for the first offered mechanism.
        mech_token: Option<&'a [u8]>,
    },
    /// A `NegTokenResp` (`[1]`).
    Resp {
        /// The raw `negState` value, if present (see [`NegState`]).
        state: Option<u8>,
        /// The `responseToken` (an NTLMSSP message), if present.
        response_token: Option<&'a [u8]>,
        /// The `mechListMIC`, if present.
        mech_list_mic: Option<&'a [u8]>,
    },
    /// A bare NTLMSSP message (starts with `"NTLMSSP\0"`), sent by some clients without SPNEGO.
    RawNtlmssp(&'a [u8]),
}

/// One DER element.
struct Tlv<'a> {
    tag: u8,
    /// Contents octets.
    value: &'a [u8],
    /// Tag, length and contents octets.
    whole: &'a [u8],
}

/// Sequential DER reader over the contents of one constructed element.
struct Der<'a> {
    buf: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Der { buf }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads the next element ([X.690] 8.1.2, 8.1.3).
    fn read(&mut self) -> Result<Tlv<'a>, AuthError> {
        let (&tag, rest) = self.buf.split_first().ok_or(AuthError::Malformed)?;
        if tag & 0x1f == 0x1f {
            // High tag numbers never occur in SPNEGO.
            return Err(AuthError::Malformed);
        }
        let (&first, mut rest) = rest.split_first().ok_or(AuthError::Malformed)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            // 0x80 is the indefinite form (BER only); more than 4 octets is absurd here.
            if n == 0 || n > 4 {
                return Err(AuthError::Malformed);
            }
            let (octets, after) = rest.split_at_checked(n).ok_or(AuthError::Malformed)?;
            rest = after;
            let mut len: u32 = 0;
            for &b in octets {
                len = (len << 8) | u32::from(b);
            }
            usize::try_from(len).map_err(|_| AuthError::Malformed)?
        };
        let (value, after) = rest.split_at_checked(len).ok_or(AuthError::Malformed)?;
        let whole_len = self.buf.len() - after.len();
        let whole = self.buf.get(..whole_len).ok_or(AuthError::Malformed)?;
        self.buf = after;
        Ok(Tlv { tag, value, whole })
    }

    /// Reads the next element and checks its tag.
    fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, AuthError> {
        let tlv = self.read()?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(AuthError::Malformed)
        }
    }

    /// Reads the single element a context-specific wrapper must contain.
    fn only(buf: &'a [u8], tag: u8) -> Result<Tlv<'a>, AuthError> {
        let mut d = Der::new(buf);
        let tlv = d.expect(tag)?;
        if d.is_empty() {
            Ok(tlv)
        } else {
            Err(AuthError::Malformed)
        }
    }
}

/// Iterates the `[n]` fields of a SEQUENCE, enforcing strictly increasing tag numbers
/// (DER field order, no duplicates) up to `max_field`.
fn for_each_field<'a>(
    seq: &'a [u8],
    max_field: u8,
    mut f: impl FnMut(u8, &'a [u8]) -> Result<(), AuthError>,
) -> Result<(), AuthError> {
    let mut d = Der::new(seq);
    let mut next_min = 0u8;
    while !d.is_empty() {
        let tlv = d.read()?;
        if tlv.tag & 0xe0 != 0xa0 {
            return Err(AuthError::Malformed);
        }
        let n = tlv.tag & 0x1f;
        if n < next_min || n > max_field {
            return Err(AuthError::Malformed);
        }
        next_min = n + 1;
        f(n, tlv.value)?;
    }
    Ok(())
}

/// Parses a client SPNEGO token (or a raw NTLMSSP message).
///
/// Accepts the GSS-API-wrapped `NegTokenInit` (`60 .. 06 <spnego> a0 ..`), a bare
/// `NegTokenInit` (`a0 ..`), a bare `NegTokenResp` (`a1 ..`) and raw NTLMSSP.
/// Errors: [`AuthError::Malformed`] for bad DER or structure, [`AuthError::Unsupported`] for a
/// GSS-API token of another mechanism (e.g. raw Kerberos).
pub fn parse(token: &[u8]) -> Result<Token<'_>, AuthError> {
    if token.starts_with(NTLMSSP_SIGNATURE) {
        return Ok(Token::RawNtlmssp(token));
    }
    let outer = Der::new(token).read()?;
    match outer.tag {
        TAG_GSS_API => {
            let mut d = Der::new(outer.value);
            let oid = d.expect(TAG_OID)?;
            if oid.value != OID_SPNEGO {
                return Err(AuthError::Unsupported);
            }
            let inner = d.expect(ctx(0))?;
            if !d.is_empty() {
                return Err(AuthError::Malformed);
            }
            parse_init(inner.value)
        }
        t if t == ctx(0) => parse_init(outer.value),
        t if t == ctx(1) => parse_resp(outer.value),
        _ => Err(AuthError::Malformed),
    }
}

/// `NegTokenInit` / `NegTokenInit2` contents (the SEQUENCE inside `[0]`).
fn parse_init(content: &[u8]) -> Result<Token<'_>, AuthError> {
    let seq = Der::only(content, TAG_SEQUENCE)?;
    let mut mech_types = None;
    let mut ntlm_offered = false;
    let mut ntlm_first = false;
    let mut mech_token = None;
    // [0] mechTypes, [1] reqFlags, [2] mechToken, [3] mechListMIC or negHints (Init2),
    // [4] mechListMIC (Init2).
    for_each_field(seq.value, 4, |n, value| {
        match n {
            0 => {
                let list = Der::only(value, TAG_SEQUENCE)?;
                let mut d = Der::new(list.value);
                let mut first = true;
                while !d.is_empty() {
                    let oid = d.expect(TAG_OID)?;
                    if oid.value.is_empty() {
                        return Err(AuthError::Malformed);
                    }
                    if oid.value == OID_NTLMSSP {
                        ntlm_offered = true;
                        ntlm_first |= first;
                    }
                    first = false;
                }
                mech_types = Some(list.whole);
            }
            2 => mech_token = Some(Der::only(value, TAG_OCTET_STRING)?.value),
            _ => {}
        }
        Ok(())
    })?;
    Ok(Token::Init {
        mech_types: mech_types.ok_or(AuthError::Malformed)?,
        ntlm_offered,
        ntlm_first,
        mech_token,
    })
}

/// `NegTokenResp` contents (the SEQUENCE inside `[1]`).
fn parse_resp(content: &[u8]) -> Result<Token<'_>, AuthError> {
    let seq = Der::only(content, TAG_SEQUENCE)?;
    let mut state = None;
    let mut response_token = None;
    let mut mech_list_mic = None;
    for_each_field(seq.value, 3, |n, value| {
        match n {
            0 => match Der::only(value, TAG_ENUMERATED)?.value {
                &[s] => state = Some(s),
                _ => return Err(AuthError::Malformed),
            },
            1 => {
                if Der::only(value, TAG_OID)?.value.is_empty() {
                    return Err(AuthError::Malformed);
                }
            }
            2 => response_token = Some(Der::only(value, TAG_OCTET_STRING)?.value),
            _ => mech_list_mic = Some(Der::only(value, TAG_OCTET_STRING)?.value),
        }
        Ok(())
    })?;
    Ok(Token::Resp {
        state,
        response_token,
        mech_list_mic,
    })
}

/// Size of a DER element (tag, length, contents) with `content` contents octets.
fn tlv_len(content: usize) -> Result<usize, AuthError> {
    let len_octets = if content < 0x80 {
        1
    } else {
        let mut n = 1;
        let mut v = content;
        while v != 0 {
            n += 1;
            v >>= 8;
        }
        n
    };
    content
        .checked_add(1 + len_octets)
        .ok_or(AuthError::BufferTooSmall)
}

/// Writes a tag and a minimal DER length ([X.690] 10.1).
fn put_header(w: &mut Writer<'_>, tag: u8, len: usize) -> Result<(), AuthError> {
    w.u8(tag)?;
    if len < 0x80 {
        // Fits in 7 bits.
        return w.u8(len as u8);
    }
    let mut n = 0u32;
    let mut v = len;
    while v != 0 {
        n += 1;
        v >>= 8;
    }
    w.u8(0x80 | n as u8)?;
    for i in (0..n).rev() {
        w.u8(((len >> (8 * i)) & 0xff) as u8)?;
    }
    Ok(())
}

/// Writes a complete element with primitive contents.
fn put_tlv(w: &mut Writer<'_>, tag: u8, value: &[u8]) -> Result<(), AuthError> {
    put_header(w, tag, value.len())?;
    w.put(value)
}

/// Emits the SPNEGO `NegTokenInit2` for the SMB2 NEGOTIATE response security buffer
/// ([MS-SMB2] 3.3.5.4, [MS-SPNG] 2.2.1): GSS-API header with the SPNEGO OID, `mechTypes` =
/// \[NTLMSSP\], `negHints.hintName` = `"not_defined_in_RFC4178@please_ignore"`.
///
/// Returns the number of bytes written to `out` (74), or [`AuthError::BufferTooSmall`].
pub fn emit_neg_hint(out: &mut [u8]) -> Result<usize, AuthError> {
    let oid_ntlm = tlv_len(OID_NTLMSSP.len())?;
    let mech_list = tlv_len(oid_ntlm)?;
    let mech_types = tlv_len(mech_list)?;
    let hint_str = tlv_len(HINT_NAME.len())?;
    let hint_name = tlv_len(hint_str)?;
    let hints_seq = tlv_len(hint_name)?;
    let neg_hints = tlv_len(hints_seq)?;
    let init_seq_content = mech_types
        .checked_add(neg_hints)
        .ok_or(AuthError::BufferTooSmall)?;
    let init_seq = tlv_len(init_seq_content)?;
    let choice = tlv_len(init_seq)?;
    let oid_spnego = tlv_len(OID_SPNEGO.len())?;
    let gss_content = oid_spnego
        .checked_add(choice)
        .ok_or(AuthError::BufferTooSmall)?;

    let mut w = Writer::new(out);
    put_header(&mut w, TAG_GSS_API, gss_content)?;
    put_tlv(&mut w, TAG_OID, OID_SPNEGO)?;
    put_header(&mut w, ctx(0), init_seq)?;
    put_header(&mut w, TAG_SEQUENCE, init_seq_content)?;
    put_header(&mut w, ctx(0), mech_list)?;
    put_header(&mut w, TAG_SEQUENCE, oid_ntlm)?;
    put_tlv(&mut w, TAG_OID, OID_NTLMSSP)?;
    put_header(&mut w, ctx(3), hints_seq)?;
    put_header(&mut w, TAG_SEQUENCE, hint_name)?;
    put_header(&mut w, ctx(0), hint_str)?;
    put_tlv(&mut w, TAG_GENERAL_STRING, HINT_NAME)?;
    Ok(w.pos())
}

/// Emits a `NegTokenResp` ([RFC 4178] 4.2.2): `[1] SEQUENCE { [0] negState, [1] supportedMech
/// (NTLMSSP, if `supported_mech_ntlm`), [2] responseToken, [3] mechListMIC }`, omitting absent
/// optional fields.
///
/// Returns the number of bytes written to `out`, or [`AuthError::BufferTooSmall`].
pub fn emit_resp(
    out: &mut [u8],
    state: NegState,
    supported_mech_ntlm: bool,
    response_token: Option<&[u8]>,
    mech_list_mic: Option<&[u8]>,
) -> Result<usize, AuthError> {
    // Sizes of the optional [n] fields, each wrapping one primitive element.
    let wrapped = |inner_len: usize| tlv_len(tlv_len(inner_len)?);
    let state_len = wrapped(1)?;
    let mech_len = if supported_mech_ntlm {
        wrapped(OID_NTLMSSP.len())?
    } else {
        0
    };
    let token_len = response_token.map_or(Ok(0), |t| wrapped(t.len()))?;
    let mic_len = mech_list_mic.map_or(Ok(0), |m| wrapped(m.len()))?;
    let seq_content = [mech_len, token_len, mic_len]
        .iter()
        .try_fold(state_len, |acc, &x| acc.checked_add(x))
        .ok_or(AuthError::BufferTooSmall)?;
    let seq = tlv_len(seq_content)?;

    let mut w = Writer::new(out);
    put_header(&mut w, ctx(1), seq)?;
    put_header(&mut w, TAG_SEQUENCE, seq_content)?;
    put_header(&mut w, ctx(0), 3)?;
    put_tlv(&mut w, TAG_ENUMERATED, &[state as u8])?;
    if supported_mech_ntlm {
        put_header(&mut w, ctx(1), tlv_len(OID_NTLMSSP.len())?)?;
        put_tlv(&mut w, TAG_OID, OID_NTLMSSP)?;
    }
    if let Some(t) = response_token {
        put_header(&mut w, ctx(2), tlv_len(t.len())?)?;
        put_tlv(&mut w, TAG_OCTET_STRING, t)?;
    }
    if let Some(m) = mech_list_mic {
        put_header(&mut w, ctx(3), tlv_len(m.len())?)?;
        put_tlv(&mut w, TAG_OCTET_STRING, m)?;
    }
    Ok(w.pos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntlmssp::tests::{unhex, Rng};
    use std::vec;
    use std::vec::Vec;

    /// DER element with a minimal length (test-side encoder, independent of `put_header`).
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        let n = content.len();
        if n < 0x80 {
            v.push(n as u8);
        } else if n < 0x100 {
            v.extend_from_slice(&[0x81, n as u8]);
        } else if n < 0x10000 {
            v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
        } else {
            v.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        }
        v.extend_from_slice(content);
        v
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
    const OID_MS_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
    const OID_NEGOEX: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e];

    fn mech_list(oids: &[&[u8]]) -> Vec<u8> {
        let items: Vec<u8> = oids.iter().flat_map(|o| tlv(TAG_OID, o)).collect();
        tlv(TAG_SEQUENCE, &items)
    }

    /// A client's first token: GSS-API header + NegTokenInit (as Windows and Samba send it).
    fn init_token(oids: &[&[u8]], mech_token: Option<&[u8]>) -> Vec<u8> {
        let mut fields = tlv(ctx(0), &mech_list(oids));
        if let Some(t) = mech_token {
            fields.extend(tlv(ctx(2), &tlv(TAG_OCTET_STRING, t)));
        }
        let init = tlv(ctx(0), &tlv(TAG_SEQUENCE, &fields));
        tlv(TAG_GSS_API, &cat(&[&tlv(TAG_OID, OID_SPNEGO), &init]))
    }

    /// A client's second token: NegTokenResp with responseToken and mechListMIC.
    fn resp_token(state: Option<u8>, token: Option<&[u8]>, mic: Option<&[u8]>) -> Vec<u8> {
        let mut fields = Vec::new();
        if let Some(s) = state {
            fields.extend(tlv(ctx(0), &tlv(TAG_ENUMERATED, &[s])));
        }
        if let Some(t) = token {
            fields.extend(tlv(ctx(2), &tlv(TAG_OCTET_STRING, t)));
        }
        if let Some(m) = mic {
            fields.extend(tlv(ctx(3), &tlv(TAG_OCTET_STRING, m)));
        }
        tlv(ctx(1), &tlv(TAG_SEQUENCE, &fields))
    }

    /// Samba 4.17 `ntlm_auth --helper-protocol=gss-spnego-client` first token.
    const SAMBA_INIT: &str = "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a0428
        4e544c4d53535000010000000582086200000000280000000000000028000000060100000000000f";
    const NTLM_NEGOTIATE: &str =
        "4e544c4d53535000010000000582086200000000280000000000000028000000060100000000000f";

    #[test]
    fn neg_hint_matches_windows_and_samba() {
        let mut out = [0u8; 128];
        let n = emit_neg_hint(&mut out).unwrap();
        let mut expect = unhex(
            "60480606 2b0601050502 a03e 303c a00e 300c 060a 2b06010401823702020a
             a32a 3028 a026 1b24",
        );
        expect.extend_from_slice(HINT_NAME);
        assert_eq!(&out[..n], &expect[..]);
        assert_eq!(n, 74);
        // It parses as a NegTokenInit offering only NTLMSSP.
        match parse(&out[..n]).unwrap() {
            Token::Init {
                mech_types,
                ntlm_offered: true,
                ntlm_first: true,
                mech_token: None,
            } => assert_eq!(mech_types, &mech_list(&[OID_NTLMSSP])[..]),
            t => panic!("{t:?}"),
        }
        for len in 0..n {
            assert_eq!(
                emit_neg_hint(&mut out[..len]),
                Err(AuthError::BufferTooSmall)
            );
        }
    }

    #[test]
    fn parse_samba_init() {
        let tok = unhex(SAMBA_INIT);
        assert_eq!(
            tok,
            init_token(&[OID_NTLMSSP], Some(&unhex(NTLM_NEGOTIATE)))
        );
        match parse(&tok).unwrap() {
            Token::Init {
                mech_types,
                ntlm_offered,
                ntlm_first,
                mech_token,
            } => {
                assert_eq!(mech_types, &unhex("300c060a2b06010401823702020a")[..]);
                assert!(ntlm_offered && ntlm_first);
                assert_eq!(mech_token, Some(&unhex(NTLM_NEGOTIATE)[..]));
            }
            t => panic!("{t:?}"),
        }
        // Bytes after the token are ignored.
        let mut padded = tok.clone();
        padded.extend_from_slice(&[0; 3]);
        assert_eq!(parse(&padded), parse(&tok));
        // A bare NegTokenInit without the GSS-API header is accepted too.
        let bare = &tok[10..];
        assert_eq!(bare[0], 0xa0);
        assert_eq!(parse(bare), parse(&tok));
    }

    #[test]
    fn parse_windows_init_with_kerberos_first() {
        let krb_ap_req = [0x60u8, 0x03, 0x06, 0x01, 0x00];
        let tok = init_token(
            &[OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLMSSP],
            Some(&krb_ap_req),
        );
        match parse(&tok).unwrap() {
            Token::Init {
                mech_types,
                ntlm_offered,
                ntlm_first,
                mech_token,
            } => {
                assert_eq!(
                    mech_types,
                    &mech_list(&[OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLMSSP])[..]
                );
                assert!(ntlm_offered && !ntlm_first);
                assert_eq!(mech_token, Some(&krb_ap_req[..]));
            }
            t => panic!("{t:?}"),
        }
        // Kerberos only.
        match parse(&init_token(&[OID_KRB5], None)).unwrap() {
            Token::Init {
                ntlm_offered: false,
                ntlm_first: false,
                mech_token: None,
                ..
            } => {}
            t => panic!("{t:?}"),
        }
        // reqFlags [1] and mechListMIC [3] are skipped.
        let fields = cat(&[
            &tlv(ctx(0), &mech_list(&[OID_NTLMSSP])),
            &tlv(ctx(1), &[0x03, 0x02, 0x00, 0x06]),
            &tlv(ctx(2), &tlv(TAG_OCTET_STRING, b"NTLMSSP\0")),
            &tlv(ctx(3), &tlv(TAG_OCTET_STRING, &[1; 16])),
        ]);
        let tok = tlv(ctx(0), &tlv(TAG_SEQUENCE, &fields));
        assert!(matches!(
            parse(&tok),
            Ok(Token::Init {
                mech_token: Some(b"NTLMSSP\0"),
                ..
            })
        ));
    }

    #[test]
    fn parse_resp_tokens() {
        let auth = [0x4eu8; 300];
        let mic = [0x01u8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0];
        // Samba: responseToken + mechListMIC; Windows also sends negState accept-incomplete.
        for state in [None, Some(1)] {
            let tok = resp_token(state, Some(&auth), Some(&mic));
            assert_eq!(
                parse(&tok),
                Ok(Token::Resp {
                    state,
                    response_token: Some(&auth[..]),
                    mech_list_mic: Some(&mic[..]),
                })
            );
        }
        assert_eq!(
            parse(&resp_token(None, None, None)),
            Ok(Token::Resp {
                state: None,
                response_token: None,
                mech_list_mic: None
            })
        );
        // supportedMech is accepted and ignored.
        let fields = cat(&[
            &tlv(ctx(0), &tlv(TAG_ENUMERATED, &[0])),
            &tlv(ctx(1), &tlv(TAG_OID, OID_NTLMSSP)),
        ]);
        assert_eq!(
            parse(&tlv(ctx(1), &tlv(TAG_SEQUENCE, &fields))),
            Ok(Token::Resp {
                state: Some(0),
                response_token: None,
                mech_list_mic: None
            })
        );
    }

    #[test]
    fn parse_raw_ntlmssp() {
        let m = unhex(NTLM_NEGOTIATE);
        assert_eq!(parse(&m), Ok(Token::RawNtlmssp(&m[..])));
    }

    #[test]
    fn emit_resp_round_trip() {
        let states = [
            NegState::AcceptCompleted,
            NegState::AcceptIncomplete,
            NegState::Reject,
            NegState::RequestMic,
        ];
        let big = vec![0x5a; 70_000];
        let tokens: [Option<&[u8]>; 5] = [
            None,
            Some(&[]),
            Some(&[7; 100]),
            Some(&[8; 300]),
            Some(&big),
        ];
        let mut out = vec![0u8; 80_000];
        for state in states {
            for mech in [false, true] {
                for tok in tokens {
                    for mic in [None, Some(&[9u8; 16][..])] {
                        let n = emit_resp(&mut out, state, mech, tok, mic).unwrap();
                        // Same bytes as the independent test encoder.
                        let mut fields = tlv(ctx(0), &tlv(TAG_ENUMERATED, &[state as u8]));
                        if mech {
                            fields.extend(tlv(ctx(1), &tlv(TAG_OID, OID_NTLMSSP)));
                        }
                        if let Some(t) = tok {
                            fields.extend(tlv(ctx(2), &tlv(TAG_OCTET_STRING, t)));
                        }
                        if let Some(m) = mic {
                            fields.extend(tlv(ctx(3), &tlv(TAG_OCTET_STRING, m)));
                        }
                        assert_eq!(&out[..n], &tlv(ctx(1), &tlv(TAG_SEQUENCE, &fields))[..]);
                        assert_eq!(
                            parse(&out[..n]),
                            Ok(Token::Resp {
                                state: Some(state as u8),
                                response_token: tok,
                                mech_list_mic: mic,
                            })
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn emit_resp_known_bytes_and_small_buffers() {
        // The accept-completed response Windows sends with a mechListMIC.
        let mic = unhex("010000007fb38ec5c55d497600000000");
        let mut out = [0u8; 64];
        let n = emit_resp(&mut out, NegState::AcceptCompleted, false, None, Some(&mic)).unwrap();
        assert_eq!(
            &out[..n],
            &unhex("a11b3019a0030a0100a3120410010000007fb38ec5c55d497600000000")[..]
        );
        let mut big = [0u8; 512];
        let n = emit_resp(
            &mut big,
            NegState::AcceptIncomplete,
            true,
            Some(&[1; 200]),
            None,
        )
        .unwrap();
        assert_eq!(&big[..8], &unhex("a181e43081e1a003")[..]);
        for len in 0..n {
            assert_eq!(
                emit_resp(
                    &mut big[..len],
                    NegState::AcceptIncomplete,
                    true,
                    Some(&[1; 200]),
                    None
                ),
                Err(AuthError::BufferTooSmall)
            );
        }
    }

    #[test]
    fn truncation_at_every_byte_is_malformed() {
        let tokens = [
            unhex(SAMBA_INIT),
            init_token(&[OID_MS_KRB5, OID_NTLMSSP], Some(&[3; 200])),
            resp_token(Some(1), Some(&[4; 300]), Some(&[5; 16])),
            {
                let mut out = [0u8; 128];
                let n = emit_neg_hint(&mut out).unwrap();
                out[..n].to_vec()
            },
        ];
        for tok in &tokens {
            assert!(parse(tok).is_ok());
            for len in 0..tok.len() {
                assert_eq!(parse(&tok[..len]), Err(AuthError::Malformed), "len {len}");
            }
        }
    }

    #[test]
    fn bad_der_is_rejected() {
        let malformed: &[&[u8]] = &[
            &[],
            &[0xa1],
            &[0xa1, 0x00],
            &[0x30, 0x00],
            // Indefinite length.
            &[0xa1, 0x80, 0x30, 0x00, 0x00, 0x00],
            &[0xa1, 0x04, 0x30, 0x80, 0x00, 0x00],
            // Five length octets; huge lengths.
            &[0xa1, 0x85, 0, 0, 0, 0, 2, 0x30, 0x00],
            &[0xa1, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00],
            &[0xa1, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30, 0x00],
            &[0xa1, 0x02, 0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0xa1, 0x83, 0x00, 0x00],
            // High tag number.
            &[0xbf, 0x01, 0x00],
            &[0xa1, 0x04, 0x30, 0x02, 0xbf, 0x00],
            // Trailing garbage inside the SEQUENCE wrapper.
            &[0xa1, 0x03, 0x30, 0x00, 0x00],
            // Non-context element inside the SEQUENCE.
            &[0xa1, 0x04, 0x30, 0x02, 0x04, 0x00],
            // Unknown NegTokenResp field [4].
            &[0xa1, 0x06, 0x30, 0x04, 0xa4, 0x02, 0x04, 0x00],
            // negState of length 2 / wrong type.
            &[0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x0a, 0x01],
            &[0xa1, 0x08, 0x30, 0x06, 0xa0, 0x04, 0x0a, 0x02, 0x00, 0x01],
            &[0xa1, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x02, 0x01, 0x00],
            // responseToken not an OCTET STRING; two elements in a wrapper.
            &[0xa1, 0x06, 0x30, 0x04, 0xa2, 0x02, 0x03, 0x00],
            &[0xa1, 0x08, 0x30, 0x06, 0xa2, 0x04, 0x04, 0x00, 0x04, 0x00],
            // Fields out of order / duplicated.
            &[
                0xa1, 0x0a, 0x30, 0x08, 0xa2, 0x02, 0x04, 0x00, 0xa0, 0x02, 0x0a, 0x00,
            ],
            &[
                0xa1, 0x0a, 0x30, 0x08, 0xa2, 0x02, 0x04, 0x00, 0xa2, 0x02, 0x04, 0x00,
            ],
            // NegTokenInit without mechTypes; mechTypes with a non-OID / empty OID.
            &[0xa0, 0x06, 0x30, 0x04, 0xa2, 0x02, 0x04, 0x00],
            &[0xa0, 0x07, 0x30, 0x05, 0xa0, 0x03, 0x30, 0x00, 0x00],
            &[0xa0, 0x08, 0x30, 0x06, 0xa0, 0x04, 0x30, 0x02, 0x04, 0x00],
            &[0xa0, 0x08, 0x30, 0x06, 0xa0, 0x04, 0x30, 0x02, 0x06, 0x00],
            // GSS-API header around a NegTokenResp, or without the OID.
            &[
                0x60, 0x0c, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02, 0xa1, 0x02, 0x30, 0x00,
            ],
            &[0x60, 0x04, 0xa0, 0x02, 0x30, 0x00],
            // Something else entirely.
            &[0x04, 0x02, 0x00, 0x00],
            b"NTLMSSP",
        ];
        for (i, t) in malformed.iter().enumerate() {
            assert_eq!(parse(t), Err(AuthError::Malformed), "case {i}: {t:02x?}");
        }
        // An empty mech list is well-formed, just useless.
        assert!(matches!(
            parse(&[0xa0, 0x06, 0x30, 0x04, 0xa0, 0x02, 0x30, 0x00]),
            Ok(Token::Init {
                ntlm_offered: false,
                ..
            })
        ));
        // A raw Kerberos GSS-API token is another mechanism.
        let krb = tlv(TAG_GSS_API, &cat(&[&tlv(TAG_OID, OID_KRB5), &[0x01, 0x00]]));
        assert_eq!(parse(&krb), Err(AuthError::Unsupported));
    }

    #[test]
    fn deep_nesting_is_rejected_without_recursion() {
        for tag in [ctx(0), ctx(1), TAG_SEQUENCE, TAG_GSS_API] {
            let mut tok = vec![TAG_OCTET_STRING, 0];
            for _ in 0..10_000 {
                tok = tlv(tag, &tok);
            }
            assert_eq!(parse(&tok), Err(AuthError::Malformed));
        }
        // Deeply nested junk inside a skipped field is skipped, not descended into.
        let mut junk = vec![0x05, 0x00];
        for _ in 0..1_000 {
            junk = tlv(TAG_SEQUENCE, &junk);
        }
        let fields = cat(&[
            &tlv(ctx(0), &mech_list(&[OID_NTLMSSP])),
            &tlv(ctx(1), &junk),
        ]);
        let tok = tlv(ctx(0), &tlv(TAG_SEQUENCE, &fields));
        assert!(parse(&tok).is_ok());
    }

    #[test]
    fn random_corruption_never_panics() {
        let tokens = [
            unhex(SAMBA_INIT),
            init_token(
                &[OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLMSSP],
                Some(&[3; 130]),
            ),
            resp_token(Some(1), Some(&[4; 300]), Some(&[5; 16])),
        ];
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for tok in &tokens {
            for _ in 0..20_000 {
                let mut t = tok.clone();
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(t.len());
                    t[i] = rng.next() as u8;
                }
                let len = if rng.below(4) == 0 {
                    rng.below(t.len() + 1)
                } else {
                    t.len()
                };
                let _ = parse(&t[..len]);
            }
        }
    }
}
