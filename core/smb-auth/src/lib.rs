//! Authentication for SMB2 SESSION_SETUP: an NTLMSSP server verifying NTLMv2 ([MS-NLMP]) wrapped
//! in a minimal SPNEGO ([RFC 4178], [MS-SPNG]).
//!
//! Everything works on borrowed slices and caller-provided output buffers; no allocation.
//!
//! Typical server flow (one [`ntlmssp::NtlmServer`] per session setup exchange):
//!
//! 1. SMB2 NEGOTIATE response: [`spnego::emit_neg_hint`].
//! 2. SESSION_SETUP round 1: [`spnego::parse`] → [`ntlmssp::NtlmServer::challenge`] →
//!    [`spnego::emit_resp`] with [`spnego::NegState::AcceptIncomplete`].
//! 3. SESSION_SETUP round 2: [`spnego::parse`] → [`ntlmssp::NtlmServer::authenticate`] →
//!    [`ntlmssp::NtlmServer::verify_mech_list_mic`] → [`spnego::emit_resp`] with
//!    [`spnego::NegState::AcceptCompleted`] and [`ntlmssp::NtlmServer::mech_list_mic`].
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod hash;
pub mod ntlmssp;
pub mod spnego;
mod writer;

pub use hash::nt_hash;
pub use ntlmssp::{AuthResult, Credentials, NameBuf, NtlmServer, ServerIdentity};
pub use spnego::{NegState, Token};

use core::fmt;

/// Errors of the SPNEGO and NTLMSSP layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// The peer's token or message is malformed (bad DER, offsets or lengths out of bounds,
    /// wrong signature or message type). The SMB engine maps this to
    /// `STATUS_INVALID_PARAMETER`.
    Malformed,
    /// Authentication failed: unknown user, wrong password, NTLMv1 or LM-only response, bad MIC.
    /// The SMB engine maps this to `STATUS_LOGON_FAILURE` (or to a guest session by policy).
    LogonFailure,
    /// The caller's output buffer is too small for the message.
    BufferTooSmall,
    /// A call was made out of order (e.g. `authenticate` before `challenge`, or twice).
    WrongState,
    /// A well-formed request for something this implementation does not do (a mechanism other
    /// than NTLMSSP, OEM-only NTLM clients, session security without extended session security).
    Unsupported,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Malformed => "malformed authentication token",
            AuthError::LogonFailure => "logon failure",
            AuthError::BufferTooSmall => "output buffer too small",
            AuthError::WrongState => "authentication call out of order",
            AuthError::Unsupported => "unsupported authentication mechanism or option",
        })
    }
}

impl core::error::Error for AuthError {}

#[cfg(test)]
mod tests {
    use super::*;
    use ntlmssp::tests::{unhex, Client, Creds as TestCreds, ID as TEST_ID, NOW};
    use ntlmssp::NtlmServer;
    use spnego::{emit_resp, parse, NegState, Token};
    use std::vec;

    /// A transcript recorded from Samba 4.17's SPNEGO/NTLMSSP client (`ntlm_auth
    /// --helper-protocol=gss-spnego-client`, features SESSION_KEY and SIGN) against this server
    /// (see `tests/samba_interop.rs`, `record_samba_transcript`). Samba accepted the server's
    /// final token and reported the session key below.
    const SAMBA_INIT: &str = "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a
        04284e544c4d53535000010000001582086200000000280000000000000028000000060100000000000f";
    const SAMBA_RESP: &str = "a18201a03082019ca2820184048201804e544c4d535350000300000018001800
        58000000d800d8007000000012001200480100000a000a005a0100000c000c0064010000100010007001
        000015820862060100000000000f6bd43c96ef9137e31fdc0c773167d560000000000000000000000000
        0000000000000000000000009369da8a0f0c105773a574cce95a5f0e010100000000000000c089764
        53cda01779182ce618d21e2000000000200120057004f0052004b00470052004f005500500001000a00
        53004d0042004500440004000a006c006f00630061006c000300160073006d006200650064002e006c00
        6f00630061006c000700080000c08976453cda0106000400020000000800300030000000000000000000
        000000000000222264d97f692767272c5651ba5e5d00e567e416c2e4526ddc7258f68f01e3be0a001000
        000000000000000000000000000000000000000057004f0052004b00470052004f005500500061006c00
        69006300650043004c00490045004e005400150df0c2b7043662926cdd3a46379557a31204100100000
        02f93d532885f0e8f00000000";
    const SAMBA_SERVER_MIC: &str = "0100000061ae235387a611ad00000000";
    const SAMBA_SESSION_KEY: &str = "0b9a7bec956a70b2d0b4ab59edda9243";

    struct Alice;
    impl Credentials for Alice {
        fn nt_hash(&self, user: &str, _domain: &str) -> Option<[u8; 16]> {
            user.eq_ignore_ascii_case("alice")
                .then(|| nt_hash("Secret-1"))
        }
    }

    #[test]
    fn samba_transcript_replay() {
        let id = ServerIdentity {
            netbios_name: "SMBED",
            netbios_domain: "WORKGROUP",
            dns_name: "smbed.local",
            dns_domain: "local",
        };
        let init = unhex(SAMBA_INIT);
        let Ok(Token::Init {
            mech_types,
            ntlm_offered: true,
            ntlm_first: true,
            mech_token: Some(negotiate),
        }) = parse(&init)
        else {
            panic!("init");
        };
        let mut server = NtlmServer::new();
        let mut chal = [0u8; 1024];
        let cl = server
            .challenge(negotiate, &id, [0x5e; 8], NOW, &mut chal)
            .unwrap();
        let mut out = [0u8; 1024];
        emit_resp(
            &mut out,
            NegState::AcceptIncomplete,
            true,
            Some(&chal[..cl]),
            None,
        )
        .unwrap();

        let resp = unhex(SAMBA_RESP);
        let Ok(Token::Resp {
            state: None,
            response_token: Some(auth),
            mech_list_mic: Some(mic),
        }) = parse(&resp)
        else {
            panic!("resp");
        };
        let r = server.authenticate(auth, &Alice).unwrap();
        assert!(r.mic_present && !r.anonymous);
        assert_eq!(r.user.as_str(), "alice");
        assert_eq!(r.domain.as_str(), "WORKGROUP");
        assert_eq!(r.workstation.as_str(), "CLIENT");
        assert_eq!(r.session_key.to_vec(), unhex(SAMBA_SESSION_KEY));
        assert!(server.verify_mech_list_mic(mech_types, mic));
        let ours = server.mech_list_mic(mech_types).unwrap();
        assert_eq!(ours.to_vec(), unhex(SAMBA_SERVER_MIC));

        // The same transcript with the wrong password database fails.
        struct WrongPw;
        impl Credentials for WrongPw {
            fn nt_hash(&self, _: &str, _: &str) -> Option<[u8; 16]> {
                Some(nt_hash("Secret-2"))
            }
        }
        let mut server = NtlmServer::new();
        server
            .challenge(negotiate, &id, [0x5e; 8], NOW, &mut chal)
            .unwrap();
        assert_eq!(
            server.authenticate(auth, &WrongPw),
            Err(AuthError::LogonFailure)
        );
    }

    /// Windows-style negotiation where Kerberos is preferred: the server declines the
    /// optimistic Kerberos token, the client restarts with NTLMSSP in a NegTokenResp, and the
    /// mechListMIC exchange covers the original mechanism list.
    #[test]
    fn spnego_flow_with_ntlm_not_first() {
        let client = Client::new();
        // Client token 1: mechTypes [MS-KRB5, NTLMSSP] + a Kerberos AP-REQ.
        let mech_types = unhex("3017 06092a864882f712010202 060a2b06010401823702020a");
        let mut fields = vec![0xa0, mech_types.len() as u8];
        fields.extend_from_slice(&mech_types);
        fields.extend_from_slice(&[0xa2, 0x04, 0x04, 0x02, 0x6e, 0x00]);
        let mut init = vec![0x60, 0x00, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
        init.extend_from_slice(&[0xa0, fields.len() as u8 + 2, 0x30, fields.len() as u8]);
        init.extend_from_slice(&fields);
        init[1] = init.len() as u8 - 2;
        let Ok(Token::Init {
            mech_types: mt,
            ntlm_offered: true,
            ntlm_first: false,
            ..
        }) = parse(&init)
        else {
            panic!()
        };
        assert_eq!(mt, &mech_types[..]);
        let mut out = [0u8; 1024];
        let n = emit_resp(&mut out, NegState::AcceptIncomplete, true, None, None).unwrap();
        assert_eq!(
            &out[..n],
            &unhex("a1153013a0030a0101a10c060a2b06010401823702020a")[..]
        );

        // Client token 2: NegTokenResp carrying the NTLM NEGOTIATE.
        let neg = client.negotiate();
        let mut tok = [0u8; 256];
        let tn = emit_resp(
            &mut tok,
            NegState::AcceptIncomplete,
            false,
            Some(&neg),
            None,
        )
        .unwrap();
        let Ok(Token::Resp {
            response_token: Some(negotiate),
            ..
        }) = parse(&tok[..tn])
        else {
            panic!()
        };
        let mut server = NtlmServer::new();
        let mut chal = [0u8; 1024];
        let cl = server
            .challenge(negotiate, &TEST_ID, [3; 8], NOW, &mut chal)
            .unwrap();

        // Client token 3: AUTHENTICATE + mechListMIC over the original list.
        let done = client.authenticate(&neg, &chal[..cl]);
        let mut cs = done.security();
        let client_mic = ntlmssp::tests::sign(&mut cs, true, &mech_types);
        let mut tok = [0u8; 1024];
        let tn = emit_resp(
            &mut tok,
            NegState::AcceptIncomplete,
            false,
            Some(&done.msg),
            Some(&client_mic),
        )
        .unwrap();
        let Ok(Token::Resp {
            response_token: Some(auth),
            mech_list_mic: Some(mic),
            ..
        }) = parse(&tok[..tn])
        else {
            panic!()
        };
        let r = server.authenticate(auth, &TestCreds).unwrap();
        assert_eq!(r.session_key, done.exported);
        assert!(server.verify_mech_list_mic(&mech_types, mic));
        let ours = server.mech_list_mic(&mech_types).unwrap();
        assert_eq!(ours, ntlmssp::tests::sign(&mut cs, false, &mech_types));
        let n = emit_resp(
            &mut out,
            NegState::AcceptCompleted,
            false,
            None,
            Some(&ours),
        )
        .unwrap();
        assert!(matches!(
            parse(&out[..n]),
            Ok(Token::Resp {
                state: Some(0),
                response_token: None,
                mech_list_mic: Some(_)
            })
        ));
    }

    #[test]
    fn error_display() {
        use std::string::ToString;
        assert_eq!(AuthError::LogonFailure.to_string(), "logon failure");
        assert_eq!(
            AuthError::Malformed.to_string(),
            "malformed authentication token"
        );
    }
}
