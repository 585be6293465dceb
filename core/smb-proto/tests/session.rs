//! Session setup and signing ([MS-SMB2] 3.3.5.5, 3.3.5.2.4), driven byte by byte through
//! `Server::handle_frame` by the testkit client.

use smb_proto::{MapToGuest, SigningPolicy};
use smb_testkit::client::{class, info_type};
use smb_testkit::ntlm::{self, NtlmClient};
use smb_testkit::{LoginOpts, NegotiateOpts, Req, TestClient, TestConfig, TestServer};
use smb_wire::header::Command;
use smb_wire::ids::dialect;
use smb_wire::negotiate::security_mode;
use smb_wire::NtStatus;

const IS_GUEST: u16 = 0x1;
const IS_NULL: u16 = 0x2;

fn server_with(f: impl FnOnce(&mut TestConfig)) -> TestServer {
    let mut cfg = TestConfig::default();
    f(&mut cfg);
    TestServer::with_config(cfg)
}

/// Every response of a signed session is signed and verifies.
fn assert_signed(m: &smb_testkit::Msg) {
    assert!(m.is_signed(), "{:?} response is not signed", m.command());
    assert_eq!(m.sig_ok, Some(true), "{:?} signature", m.command());
}

#[test]
fn logon_with_correct_password_and_signed_traffic() {
    let srv = TestServer::new();
    let mut c = srv.client();
    let n = c.negotiate();
    n.ok();
    assert_eq!(c.dialect, dialect::SMB3_11);
    let m = c.login("alice", "Secret-1");
    m.ok();
    assert_eq!(m.session_flags() & (IS_GUEST | IS_NULL), 0);
    assert_eq!(m.sig_ok, Some(true), "final 3.1.1 SESSION_SETUP is signed");
    assert_ne!(c.session_id, 0);
    assert_eq!(srv.counts()[1], 1, "one session");

    let t = c.tree_connect("share");
    t.ok();
    assert_signed(&t);
    let f = c.create("hello.txt");
    f.ok();
    assert_signed(&f);
    let fid = f.file_id();
    let w = c.write(fid, 0, b"hello, world");
    w.ok();
    assert_signed(&w);
    assert_eq!(w.write_count(), 12);
    let r = c.read(fid, 7, 5);
    r.ok();
    assert_signed(&r);
    assert_eq!(r.data(), b"world");
    let q = c.query_info(fid, info_type::FILE, class::STANDARD, 24);
    q.ok();
    assert_signed(&q);
    assert_signed(c.close(fid).ok());
    assert_eq!(
        srv.vfs(|v| v.file(srv.share("share"), "hello.txt")),
        Some(b"hello, world".to_vec())
    );
    assert_signed(c.echo().ok());
    assert_signed(c.tree_disconnect().ok());
    // The LOGOFF response's signature is checked in `logoff_response_is_signed`.
    c.check_signatures = false;
    c.logoff().ok();
    assert_eq!(srv.counts()[1..], [0, 0, 0]);
}

#[test]
fn logoff_response_is_signed() {
    let srv = TestServer::new();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    c.check_signatures = false;
    let m = c.logoff();
    m.ok();
    assert_signed(&m);
}

#[test]
fn every_dialect_logs_on_and_signs() {
    for d in [
        dialect::SMB2_02,
        dialect::SMB2_10,
        dialect::SMB3_00,
        dialect::SMB3_02,
        dialect::SMB3_11,
    ] {
        for signing in [vec![1u16], vec![2u16]] {
            let srv = TestServer::new();
            let mut c = srv.client();
            let opts = NegotiateOpts {
                signing,
                ..NegotiateOpts::dialect(d)
            };
            c.negotiate_with(&opts).ok();
            assert_eq!(c.dialect, d);
            c.login("alice", "Secret-1").ok();
            let t = c.tree_connect("share");
            t.ok();
            assert_signed(&t);
            let fid = c.open("x");
            assert_signed(c.write(fid, 0, b"abc").ok());
            assert_signed(c.close(fid).ok());
        }
    }
}

#[test]
fn wrong_password_is_logon_failure() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    let m = c.login("alice", "wrong");
    assert_eq!(m.status(), NtStatus::LOGON_FAILURE);
    assert_eq!(m.status().0, 0xC000_006D);
    assert!(!m.is_signed());
    assert_eq!(srv.counts()[1], 0, "the failed session is gone");
    // The connection stays usable: a correct logon follows.
    c.login("alice", "Secret-1").ok();
}

#[test]
fn unknown_user_is_logon_failure_with_map_to_guest_never() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    c.login("mallory", "Secret-1")
        .expect(NtStatus::LOGON_FAILURE);
    assert_eq!(srv.counts()[1], 0);
}

#[test]
fn disabled_account_is_logon_failure() {
    let srv = server_with(|c| c.policy.users[0].enabled = false);
    let mut c = srv.client();
    c.negotiate().ok();
    c.login("alice", "Secret-1").expect(NtStatus::LOGON_FAILURE);
}

#[test]
fn user_names_match_case_insensitively() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    c.login("ALICE", "Secret-1").ok();
    c.tree_connect("SHARE").ok();
}

#[test]
fn map_to_guest_bad_user_gives_a_guest_session() {
    let srv = server_with(|c| c.map_to_guest = MapToGuest::BadUser);
    let mut c = srv.client();
    c.negotiate().ok();
    let m = c.login("mallory", "whatever");
    m.ok();
    assert_ne!(m.session_flags() & IS_GUEST, 0);
    assert!(c.signer.is_none(), "guests have no signing key");
    c.tree_connect("share").expect(NtStatus::ACCESS_DENIED);
    c.tree_connect("public").ok();

    // A known user with a bad password is still refused under BadUser.
    let mut c = srv.client();
    c.negotiate().ok();
    c.login("alice", "wrong").expect(NtStatus::LOGON_FAILURE);
}

#[test]
fn map_to_guest_bad_password_gives_a_guest_session() {
    let srv = server_with(|c| c.map_to_guest = MapToGuest::BadPassword);
    let mut c = srv.client();
    c.negotiate().ok();
    let m = c.login("alice", "wrong");
    m.ok();
    assert_ne!(m.session_flags() & IS_GUEST, 0);
    c.tree_connect("share").expect(NtStatus::ACCESS_DENIED);
}

#[test]
fn anonymous_session_cannot_connect_a_share_that_is_not_guest_ok() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    let m = c.login_with(&LoginOpts::anonymous());
    m.ok();
    assert_ne!(m.session_flags() & IS_NULL, 0);
    assert!(c.signer.is_none());
    c.tree_connect("share").expect(NtStatus::ACCESS_DENIED);
    c.tree_connect("ro").expect(NtStatus::ACCESS_DENIED);
    assert_eq!(srv.counts()[2], 0, "no tree was made");
    c.tree_connect("public").ok();
    c.tree_connect("IPC$").ok();
}

#[test]
fn unauthenticated_session_cannot_tree_connect() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    // Round 1 only: the session exists but is InProgress.
    let neg = NtlmClient::new("alice", "Secret-1").negotiate();
    let mt = ntlm::mech_type_list(&[ntlm::OID_NTLMSSP]);
    let m = c.send(Req::session_setup(&ntlm::neg_token_init(&mt, Some(&neg)), 1).sid(0));
    m.expect(NtStatus::MORE_PROCESSING_REQUIRED);
    let sid = m.session_id();
    assert_ne!(sid, 0);
    for share in ["share", "public"] {
        let t = c.send(Req::tree_connect(&format!("\\\\SMBED\\{share}")).sid(sid));
        assert!(t.status().is_error(), "{share}: {:?}", t.status());
    }
    assert_eq!(srv.counts()[2], 0, "no tree was made");
    // A made-up session id is not a session either.
    let t = c.send(Req::tree_connect("\\\\SMBED\\public").sid(sid ^ 0x1_0000_0000));
    t.expect(NtStatus::USER_SESSION_DELETED);
    // Nor is session 0.
    let t = c.send(Req::tree_connect("\\\\SMBED\\public").sid(0));
    t.expect(NtStatus::USER_SESSION_DELETED);
}

#[test]
fn logoff_of_an_in_progress_session_is_processed() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    let neg = NtlmClient::new("alice", "Secret-1").negotiate();
    let mt = ntlm::mech_type_list(&[ntlm::OID_NTLMSSP]);
    let m = c.send(Req::session_setup(&ntlm::neg_token_init(&mt, Some(&neg)), 1).sid(0));
    let sid = m.session_id();
    c.send(Req::empty(Command::LOGOFF).sid(sid)).ok();
    assert_eq!(srv.counts()[1], 0);
}

#[test]
fn mandatory_signing_rejects_unsigned_requests_after_logon() {
    let srv = server_with(|c| c.signing = SigningPolicy::Mandatory);
    let mut c = srv.client();
    let n = c.negotiate();
    n.ok();
    assert_ne!(
        c.server_security_mode & security_mode::SIGNING_REQUIRED,
        0,
        "NEGOTIATE announces SIGNING_REQUIRED"
    );
    c.login("alice", "Secret-1").ok();
    c.sign = false;
    let t = c.tree_connect("share");
    t.expect(NtStatus::ACCESS_DENIED);
    assert_eq!(srv.counts()[2], 0);
    c.echo().expect(NtStatus::ACCESS_DENIED);
    c.sign = true;
    let t = c.tree_connect("share");
    t.ok();
    assert_signed(&t);
    // With a tree: unsigned CREATE is refused too and opens nothing.
    c.sign = false;
    c.create("f").expect(NtStatus::ACCESS_DENIED);
    assert_eq!(srv.counts()[3], 0);
    assert!(!srv.vfs(|v| v.exists(srv.share("share"), "f")));
}

#[test]
fn client_required_signing_is_enforced_under_auto() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate_with(&NegotiateOpts {
        security_mode: security_mode::SIGNING_ENABLED | security_mode::SIGNING_REQUIRED,
        ..NegotiateOpts::default()
    })
    .ok();
    let mut opts = LoginOpts::new("alice", "Secret-1");
    opts.security_mode = (security_mode::SIGNING_ENABLED | security_mode::SIGNING_REQUIRED) as u8;
    c.login_with(&opts).ok();
    c.sign = false;
    c.tree_connect("share").expect(NtStatus::ACCESS_DENIED);
}

#[test]
fn unsigned_requests_work_when_signing_is_not_required() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    c.login("alice", "Secret-1").ok();
    c.sign = false;
    let t = c.tree_connect("share");
    t.ok();
    assert!(!t.is_signed(), "unsigned request, unsigned response");
}

#[test]
fn wrong_signatures_are_rejected() {
    let srv = TestServer::new();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let fid = c.open("doc");
    c.write(fid, 0, b"original").ok();

    // 1. One signature bit flipped.
    let mut frame = c.build(&[Req::write(fid, 0, b"EVIL", 0)]);
    frame[50] ^= 0x01;
    let m = c.send_frame(&frame).unwrap().remove(0);
    m.expect(NtStatus::ACCESS_DENIED);

    // 2. The body changed after signing.
    let mut frame = c.build(&[Req::write(fid, 0, b"EVIL", 0)]);
    let n = frame.len();
    frame[n - 1] ^= 0xff;
    c.send_frame(&frame).unwrap()[0].expect(NtStatus::ACCESS_DENIED);

    // 3. SIGNED set with an all-zero signature.
    let mut frame = c.build(&[Req::write(fid, 0, b"EVIL", 0)]);
    frame[48..64].fill(0);
    c.send_frame(&frame).unwrap()[0].expect(NtStatus::ACCESS_DENIED);

    // 4. Signed with another session's key (bob's session on another connection).
    let mut other = TestClient::logged_on(&srv, "bob", "hunter2", "share");
    let mut frame = c.build(&[Req::write(fid, 0, b"EVIL", 0)]);
    frame[48..64].fill(0);
    other.signer.as_ref().unwrap().sign(&mut frame);
    c.send_frame(&frame).unwrap()[0].expect(NtStatus::ACCESS_DENIED);
    other.echo().ok();

    // 5. The header changed after signing (message id kept, tree id altered).
    let mut frame = c.build(&[Req::empty(Command::ECHO)]);
    frame[36] ^= 0x40;
    c.send_frame(&frame).unwrap()[0].expect(NtStatus::ACCESS_DENIED);

    // None of it reached the file; the session still works with good signatures.
    let r = c.read(fid, 0, 8);
    assert_eq!(r.ok().data(), b"original");
    assert_signed(&r);
    c.close(fid).ok();
}

#[test]
fn raw_ntlmssp_and_no_mech_list_mic_logons() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    let mut opts = LoginOpts::new("alice", "Secret-1");
    opts.spnego = false;
    c.login_with(&opts).ok();
    c.tree_connect("share").ok();

    let mut c = srv.client();
    c.negotiate().ok();
    let mut opts = LoginOpts::new("bob", "hunter2");
    opts.mech_list_mic = false;
    opts.ntlm.with_mic = false;
    c.login_with(&opts).ok();
    c.tree_connect("share").ok();
}

#[test]
fn tampered_mech_list_mic_is_refused() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    let mut cl = NtlmClient::new("alice", "Secret-1");
    cl.with_mic = true;
    let mt = ntlm::mech_type_list(&[ntlm::OID_NTLMSSP]);
    let neg = cl.negotiate();
    let m = c.send(Req::session_setup(&ntlm::neg_token_init(&mt, Some(&neg)), 1).sid(0));
    m.expect(NtStatus::MORE_PROCESSING_REQUIRED);
    let sid = m.session_id();
    let chal = ntlm::parse_neg_resp(m.security_buffer())
        .unwrap()
        .token
        .unwrap();
    let done = cl.authenticate(&neg, &chal).unwrap();
    let mut mic = done.security().sign(&mt);
    mic[5] ^= 1;
    let tok = ntlm::neg_token_resp(None, Some(&done.msg), Some(&mic));
    c.send(Req::session_setup(&tok, 1).sid(sid))
        .expect(NtStatus::LOGON_FAILURE);
    assert_eq!(srv.counts()[1], 0);
}

#[test]
fn logoff_ends_the_session() {
    let srv = TestServer::new();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let fid = c.open("f");
    c.check_signatures = false; // see logoff_response_is_signed
    c.logoff().ok();
    assert_eq!(
        srv.counts()[1..],
        [0, 0, 0],
        "session, tree and open are gone"
    );
    assert_eq!(srv.vfs(|v| v.open_nodes()), 0, "the VFS node was closed");
    c.sign = false;
    c.send(Req::empty(Command::ECHO).sid(0)).ok();
    c.echo().expect(NtStatus::USER_SESSION_DELETED);
    c.read(fid, 0, 1).expect(NtStatus::USER_SESSION_DELETED);
}

#[test]
fn a_session_is_bound_to_its_connection() {
    let srv = TestServer::new();
    let mut a = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let mut b = srv.client();
    b.negotiate().ok();
    let m = b.send(Req::tree_connect("\\\\SMBED\\share").sid(a.session_id));
    m.expect(NtStatus::USER_SESSION_DELETED);
    a.echo().ok();
}

#[test]
fn closing_the_connection_closes_everything() {
    let srv = TestServer::new();
    {
        let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
        c.open("a");
        c.open("b");
        assert_eq!(srv.counts(), [1, 1, 1, 2]);
    }
    assert_eq!(srv.counts(), [0, 0, 0, 0]);
    assert_eq!(srv.vfs(|v| v.open_nodes()), 0);
}

#[test]
fn half_open_sessions_of_one_connection_cannot_lock_out_others() {
    let srv = TestServer::new();
    let mut a = srv.client();
    a.negotiate().ok();
    let neg = NtlmClient::new("alice", "Secret-1").negotiate();
    let mt = ntlm::mech_type_list(&[ntlm::OID_NTLMSSP]);
    for _ in 0..srv.config.sessions + 4 {
        let m = a.send(Req::session_setup(&ntlm::neg_token_init(&mt, Some(&neg)), 1).sid(0));
        assert!(m.status().is_error() || m.status() == NtStatus::MORE_PROCESSING_REQUIRED);
    }
    let mut b = srv.client();
    b.negotiate().ok();
    b.login("bob", "hunter2").ok();
}

/// A reconnecting client names its old session in PreviousSessionId: once the new logon of
/// the same user succeeds, the old session is gone (its opens closed); a logon of another
/// user leaves it alone ([MS-SMB2] 3.3.5.5.3; smbtorture smb2.session.reconnect1).
#[test]
fn previous_session_of_the_same_user_is_expired() {
    let srv = TestServer::new();
    let mut old = srv.client();
    old.negotiate().ok();
    old.login("alice", "Secret-1").ok();
    old.tree_connect("share").ok();
    let fid = old.create("kept-open.txt").ok().file_id();
    let old_sid = old.session_id;

    // Another user naming alice's session does not end it.
    let mut other = srv.client();
    other.negotiate().ok();
    let mut opts = LoginOpts::new("bob", "hunter2");
    opts.previous_session_id = old_sid;
    other.login_with(&opts).ok();
    old.write(fid, 0, b"still here").ok();

    // Alice reconnecting does.
    let mut new = srv.client();
    new.negotiate().ok();
    let mut opts = LoginOpts::new("alice", "Secret-1");
    opts.previous_session_id = old_sid;
    new.login_with(&opts).ok();
    assert_eq!(
        old.write(fid, 0, b"gone").status(),
        NtStatus::USER_SESSION_DELETED
    );
    new.tree_connect("share").ok();
    new.create("kept-open.txt").ok();
    // An id that names no session, or the new session itself, changes nothing.
    let mut again = srv.client();
    again.negotiate().ok();
    let mut opts = LoginOpts::new("alice", "Secret-1");
    opts.previous_session_id = 0x7777_0000_0001;
    again.login_with(&opts).ok();
    new.echo().ok();
}

/// A 3.1.1 client that offers only HMAC-SHA256 signing gets it (not an algorithm it did not
/// offer), and the session signs with it (smbtorture smb2.session.signing-hmac-sha-256).
#[test]
fn hmac_sha256_signing_is_chosen_when_it_is_all_the_client_offers() {
    let srv = TestServer::new();
    let mut c = srv.client();
    let mut o = NegotiateOpts::dialect(dialect::SMB3_11);
    o.signing = vec![smb_crypto::SigningAlgo::HmacSha256.id()];
    c.negotiate_with(&o).ok();
    assert_eq!(c.signing_algo, smb_crypto::SigningAlgo::HmacSha256);
    c.login("alice", "Secret-1").ok();
    let t = c.tree_connect("share");
    t.ok();
    assert_signed(&t);
}

#[test]
fn ntlm_state_lives_only_while_an_exchange_runs() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate().ok();
    assert_eq!(c.login("alice", "wrong").status(), NtStatus::LOGON_FAILURE);
    assert_eq!(srv.exchanges_in_progress(), 0, "a failed exchange frees it");
    c.login("alice", "Secret-1").ok();
    assert_eq!(
        srv.exchanges_in_progress(),
        0,
        "a finished exchange frees it"
    );
    // Re-authentication runs a fresh exchange and frees it too.
    c.login("alice", "Secret-1").ok();
    assert_eq!(srv.exchanges_in_progress(), 0);
    // A first leg left hanging holds one until its connection goes.
    let mut d = srv.client();
    d.negotiate().ok();
    let neg = NtlmClient::new("alice", "Secret-1").negotiate();
    let token = ntlm::neg_token_init(&ntlm::mech_type_list(&[ntlm::OID_NTLMSSP]), Some(&neg));
    let m = d.send(Req::session_setup(&token, security_mode::SIGNING_ENABLED as u8).sid(0));
    assert_eq!(m.status(), NtStatus::MORE_PROCESSING_REQUIRED);
    assert_eq!(srv.exchanges_in_progress(), 1);
    srv.close(d.conn);
    assert_eq!(
        srv.exchanges_in_progress(),
        0,
        "closing the connection frees it"
    );
}
