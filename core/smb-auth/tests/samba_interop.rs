//! Interoperability with Samba's NTLMSSP/SPNEGO client (`ntlm_auth --helper-protocol=
//! gss-spnego-client`), driven through the public API exactly like the SMB engine does.
//! Skipped (passes vacuously) when `ntlm_auth` is not installed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use smb_auth::spnego::{self, NegState, Token};
use smb_auth::{AuthError, Credentials, NtlmServer, ServerIdentity};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8]) -> String {
    let mut s = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn b64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = B64.iter().position(|&x| x == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    fn spawn(user: &str, password: &str, domain: &str) -> Option<Helper> {
        let mut child = Command::new("ntlm_auth")
            .args([
                "--helper-protocol=gss-spnego-client",
                &format!("--username={user}"),
                &format!("--password={password}"),
                &format!("--domain={domain}"),
                "--workstation=CLIENT",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let stdout = BufReader::new(child.stdout.take()?);
        Some(Helper {
            child,
            stdin,
            stdout,
        })
    }

    /// Sends one request line, returns (code, payload).
    fn call(&mut self, line: &str) -> (String, String) {
        writeln!(self.stdin, "{line}").expect("write to ntlm_auth");
        self.stdin.flush().expect("flush ntlm_auth");
        let mut resp = String::new();
        self.stdout
            .read_line(&mut resp)
            .expect("read from ntlm_auth");
        let resp = resp.trim_end();
        let (code, rest) = resp.split_once(' ').unwrap_or((resp, ""));
        (code.to_string(), rest.to_string())
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Creds;
impl Credentials for Creds {
    fn nt_hash(&self, user: &str, _domain: &str) -> Option<[u8; 16]> {
        user.eq_ignore_ascii_case("alice")
            .then(|| smb_auth::nt_hash("Secret-1"))
    }
}

const ID: ServerIdentity<'static> = ServerIdentity {
    netbios_name: "SMBED",
    netbios_domain: "WORKGROUP",
    dns_name: "smbed.local",
    dns_domain: "local",
};

fn available() -> bool {
    Command::new("ntlm_auth")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a full SPNEGO/NTLMSSP exchange against Samba's client, the way the SMB engine does.
fn exchange(user: &str, password: &str) -> Result<(), AuthError> {
    let mut h = Helper::spawn(user, password, "WORKGROUP").expect("spawn ntlm_auth");
    let (code, _) = h.call("SF NTLMSSP_FEATURE_SESSION_KEY NTLMSSP_FEATURE_SIGN");
    assert_eq!(code, "OK");

    // SMB2 NEGOTIATE response hint: Samba's client does not need it, but it must parse.
    let mut hint = [0u8; 128];
    let n = spnego::emit_neg_hint(&mut hint)?;
    assert!(matches!(spnego::parse(&hint[..n])?, Token::Init { .. }));

    // Round 1.
    let (code, tok) = h.call("YR");
    assert_eq!(code, "YR");
    let tok = b64_decode(&tok);
    let Token::Init {
        mech_types,
        ntlm_offered: true,
        ntlm_first: true,
        mech_token: Some(negotiate),
    } = spnego::parse(&tok)?
    else {
        panic!("unexpected first token");
    };
    let mut server = NtlmServer::new();
    let mut chal = [0u8; 1024];
    let chal_len = server.challenge(
        negotiate,
        &ID,
        [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88],
        133_485_408_000_000_000,
        &mut chal,
    )?;
    let mut out = [0u8; 2048];
    let n = spnego::emit_resp(
        &mut out,
        NegState::AcceptIncomplete,
        true,
        Some(&chal[..chal_len]),
        None,
    )?;

    // Round 2.
    let (code, tok) = h.call(&format!("TT {}", b64_encode(&out[..n])));
    assert_eq!(code, "KK", "client refused our challenge");
    let tok = b64_decode(&tok);
    let Token::Resp {
        response_token: Some(auth),
        mech_list_mic,
        ..
    } = spnego::parse(&tok)?
    else {
        panic!("unexpected second token");
    };
    let result = server.authenticate(auth, &Creds)?;
    assert!(!result.anonymous);
    assert!(result.user.as_str().eq_ignore_ascii_case("alice"));
    assert_eq!(result.domain.as_str(), "WORKGROUP");
    assert_eq!(result.workstation.as_str(), "CLIENT");
    // Samba sends a MIC (our CHALLENGE carries MsvAvTimestamp) and a mechListMIC.
    assert!(result.mic_present);
    let client_mic = mech_list_mic.expect("Samba sends a mechListMIC");
    if !server.verify_mech_list_mic(mech_types, client_mic) {
        return Err(AuthError::LogonFailure);
    }
    let our_mic = server.mech_list_mic(mech_types)?;
    let n = spnego::emit_resp(
        &mut out,
        NegState::AcceptCompleted,
        false,
        None,
        Some(&our_mic),
    )?;

    // The client verifies our mechListMIC and completes.
    let (code, _) = h.call(&format!("TT {}", b64_encode(&out[..n])));
    assert_eq!(
        code, "AF",
        "client rejected our accept-completed/mechListMIC"
    );
    let (code, key) = h.call("GK");
    assert_eq!(code, "GK");
    assert_eq!(b64_decode(&key), result.session_key, "session keys differ");
    Ok(())
}

#[test]
fn samba_client_full_exchange() {
    if !available() {
        eprintln!("ntlm_auth not installed; skipping");
        return;
    }
    exchange("alice", "Secret-1").unwrap();
    exchange("ALICE", "Secret-1").unwrap();
    assert_eq!(exchange("alice", "wrong"), Err(AuthError::LogonFailure));
    assert_eq!(exchange("bob", "Secret-1"), Err(AuthError::LogonFailure));
}

#[test]
fn samba_client_corrupted_mech_list_mic() {
    if !available() {
        return;
    }
    // A tampered server mechListMIC must make Samba's client fail (sanity check that the
    // client really verifies it).
    let mut h = Helper::spawn("alice", "Secret-1", "WORKGROUP").unwrap();
    h.call("SF NTLMSSP_FEATURE_SESSION_KEY NTLMSSP_FEATURE_SIGN");
    let (_, tok) = h.call("YR");
    let tok = b64_decode(&tok);
    let Ok(Token::Init {
        mech_types,
        mech_token: Some(negotiate),
        ..
    }) = spnego::parse(&tok)
    else {
        panic!()
    };
    let mut server = NtlmServer::new();
    let mut chal = [0u8; 1024];
    let cl = server
        .challenge(negotiate, &ID, [9; 8], 133_485_408_000_000_000, &mut chal)
        .unwrap();
    let mut out = [0u8; 2048];
    let n = spnego::emit_resp(
        &mut out,
        NegState::AcceptIncomplete,
        true,
        Some(&chal[..cl]),
        None,
    )
    .unwrap();
    let (_, tok) = h.call(&format!("TT {}", b64_encode(&out[..n])));
    let tok = b64_decode(&tok);
    let Ok(Token::Resp {
        response_token: Some(auth),
        mech_list_mic: Some(mic),
        ..
    }) = spnego::parse(&tok)
    else {
        panic!()
    };
    server.authenticate(auth, &Creds).unwrap();
    assert!(server.verify_mech_list_mic(mech_types, mic));
    let mut our = server.mech_list_mic(mech_types).unwrap();
    our[6] ^= 1;
    let n =
        spnego::emit_resp(&mut out, NegState::AcceptCompleted, false, None, Some(&our)).unwrap();
    let (code, _) = h.call(&format!("TT {}", b64_encode(&out[..n])));
    assert_ne!(code, "AF");
}

#[test]
fn samba_client_without_signing() {
    if !available() {
        return;
    }
    // Without the SIGN feature Samba sends neither an NTLM MIC nor a mechListMIC, and expects
    // none back: the server answers with a bare accept-completed.
    let mut h = Helper::spawn("alice", "Secret-1", "WORKGROUP").unwrap();
    let (_, tok) = h.call("YR");
    let tok = b64_decode(&tok);
    let Ok(Token::Init {
        mech_token: Some(negotiate),
        ..
    }) = spnego::parse(&tok)
    else {
        panic!()
    };
    let mut server = NtlmServer::new();
    let mut chal = [0u8; 1024];
    let cl = server
        .challenge(negotiate, &ID, [7; 8], 133_485_408_000_000_000, &mut chal)
        .unwrap();
    let mut out = [0u8; 2048];
    let n = spnego::emit_resp(
        &mut out,
        NegState::AcceptIncomplete,
        true,
        Some(&chal[..cl]),
        None,
    )
    .unwrap();
    let (_, tok) = h.call(&format!("TT {}", b64_encode(&out[..n])));
    let tok = b64_decode(&tok);
    let Ok(Token::Resp {
        response_token: Some(auth),
        mech_list_mic: None,
        ..
    }) = spnego::parse(&tok)
    else {
        panic!()
    };
    let r = server.authenticate(auth, &Creds).unwrap();
    assert!(!r.mic_present);
    let n = spnego::emit_resp(&mut out, NegState::AcceptCompleted, false, None, None).unwrap();
    let (code, _) = h.call(&format!("TT {}", b64_encode(&out[..n])));
    assert_eq!(code, "AF");
    let (_, key) = h.call("GK");
    assert_eq!(b64_decode(&key), r.session_key);
}

#[test]
fn samba_client_raw_ntlmssp() {
    if !available() {
        return;
    }
    // `ntlmssp-client-1` speaks NTLMSSP without SPNEGO, like clients that skip SPNEGO.
    let mut child = Command::new("ntlm_auth")
        .args([
            "--helper-protocol=ntlmssp-client-1",
            "--username=alice",
            "--password=Secret-1",
            "--domain=WORKGROUP",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut h = Helper {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        child,
    };
    h.call("SF NTLMSSP_FEATURE_SESSION_KEY NTLMSSP_FEATURE_SIGN");
    let (code, tok) = h.call("YR");
    assert_eq!(code, "YR");
    let tok = b64_decode(&tok);
    let Ok(Token::RawNtlmssp(negotiate)) = spnego::parse(&tok) else {
        panic!()
    };
    let mut server = NtlmServer::new();
    let mut chal = [0u8; 1024];
    let cl = server
        .challenge(negotiate, &ID, [5; 8], 133_485_408_000_000_000, &mut chal)
        .unwrap();
    let (code, tok) = h.call(&format!("TT {}", b64_encode(&chal[..cl])));
    // The client is done after sending AUTHENTICATE: "AF <message>" (older Samba: "KK").
    assert!(code == "AF" || code == "KK", "{code}");
    let tok = b64_decode(&tok);
    let Ok(Token::RawNtlmssp(auth)) = spnego::parse(&tok) else {
        panic!()
    };
    let r = server.authenticate(auth, &Creds).unwrap();
    assert!(r.mic_present);
    let (code, key) = h.call("GK");
    assert_eq!(code, "GK");
    assert_eq!(b64_decode(&key), r.session_key);
}

/// Prints a Samba transcript for the replay test in `src/lib.rs`
/// (`cargo test -p smb-auth --test samba_interop -- --ignored --nocapture`).
#[test]
#[ignore]
fn record_samba_transcript() {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut h = Helper::spawn("alice", "Secret-1", "WORKGROUP").unwrap();
    h.call("SF NTLMSSP_FEATURE_SESSION_KEY NTLMSSP_FEATURE_SIGN");
    let (_, init) = h.call("YR");
    let init = b64_decode(&init);
    let Ok(Token::Init {
        mech_types,
        mech_token: Some(negotiate),
        ..
    }) = spnego::parse(&init)
    else {
        panic!()
    };
    let mut server = NtlmServer::new();
    let mut chal = [0u8; 1024];
    let cl = server
        .challenge(
            negotiate,
            &ID,
            [0x5e; 8],
            133_485_408_000_000_000,
            &mut chal,
        )
        .unwrap();
    let mut out = [0u8; 2048];
    let n = spnego::emit_resp(
        &mut out,
        NegState::AcceptIncomplete,
        true,
        Some(&chal[..cl]),
        None,
    )
    .unwrap();
    let (_, resp) = h.call(&format!("TT {}", b64_encode(&out[..n])));
    let resp = b64_decode(&resp);
    let Ok(Token::Resp {
        response_token: Some(auth),
        mech_list_mic: Some(mic),
        ..
    }) = spnego::parse(&resp)
    else {
        panic!()
    };
    let r = server.authenticate(auth, &Creds).unwrap();
    assert!(server.verify_mech_list_mic(mech_types, mic));
    let ours = server.mech_list_mic(mech_types).unwrap();
    let n2 = spnego::emit_resp(
        &mut out[n..],
        NegState::AcceptCompleted,
        false,
        None,
        Some(&ours),
    )
    .unwrap();
    let (code, _) = h.call(&format!("TT {}", b64_encode(&out[n..n + n2])));
    assert_eq!(code, "AF");
    let (_, key) = h.call("GK");
    assert_eq!(b64_decode(&key), r.session_key);
    println!("INIT {}", hex(&init));
    println!("RESP {}", hex(&resp));
    println!("SERVER_MIC {}", hex(&ours));
    println!("SESSION_KEY {}", hex(&r.session_key));
}
