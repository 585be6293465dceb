//! `server smb encrypt` and per-share `smb encrypt` ([MS-SMB2] 3.3.5.5.3, 3.3.5.7,
//! 3.3.5.2.11): encrypting clients get ENCRYPT_DATA and their plain requests are refused;
//! clients that cannot encrypt are refused only where encryption is required.

use smb_proto::EncryptPolicy;
use smb_testkit::client::{LoginOpts, NegotiateOpts, Req};
use smb_testkit::{TestConfig, TestServer};
use smb_wire::ids::dialect;
use smb_wire::session_setup::session_flags;
use smb_wire::tree_connect::share_flags;
use smb_wire::{Command, NtStatus};

fn server(encrypt: EncryptPolicy) -> TestServer {
    TestServer::with_config(TestConfig {
        encrypt,
        ..TestConfig::default()
    })
}

#[test]
fn required_encrypts_capable_sessions_and_refuses_plain_requests() {
    let ts = server(EncryptPolicy::Required);
    let mut c = ts.client();
    c.negotiate();
    let m = c.login_with(&LoginOpts::new("alice", "Secret-1"));
    m.expect(NtStatus::SUCCESS);
    assert_ne!(m.session_flags() & session_flags::ENCRYPT_DATA, 0);
    // The testkit client sends plain (signed) requests: the server must refuse them.
    let r = c.send(Req::empty(Command::ECHO));
    assert_eq!(r.status(), NtStatus::ACCESS_DENIED);
}

#[test]
fn required_refuses_a_client_that_cannot_encrypt() {
    let ts = server(EncryptPolicy::Required);
    let mut c = ts.client();
    c.negotiate_with(&NegotiateOpts::dialect(dialect::SMB2_10));
    let m = c
        .try_login_with(&LoginOpts::new("alice", "Secret-1"))
        .unwrap();
    assert_eq!(m.status(), NtStatus::ACCESS_DENIED);
}

#[test]
fn desired_lets_a_client_that_cannot_encrypt_in() {
    let ts = server(EncryptPolicy::Desired);
    let mut c = ts.client();
    c.negotiate_with(&NegotiateOpts::dialect(dialect::SMB2_10));
    let m = c.login_with(&LoginOpts::new("alice", "Secret-1"));
    m.expect(NtStatus::SUCCESS);
    assert_eq!(m.session_flags() & session_flags::ENCRYPT_DATA, 0);
    c.tree_connect("share").expect(NtStatus::SUCCESS);
}

#[test]
fn a_share_that_requires_encryption() {
    let mut cfg = TestConfig::default();
    for s in cfg.policy.shares.iter_mut() {
        s.info.encrypt = EncryptPolicy::Required;
    }
    let ts = TestServer::with_config(cfg);
    // A 2.1 client cannot connect it.
    let mut old = ts.client();
    old.negotiate_with(&NegotiateOpts::dialect(dialect::SMB2_10));
    old.login("alice", "Secret-1");
    assert_eq!(
        old.try_send(Req::tree_connect("\\\\smbed\\share"))
            .unwrap()
            .status(),
        NtStatus::ACCESS_DENIED
    );
    // A 3.1.1 client connects, is told to encrypt, and its plain requests are refused.
    let mut c = ts.client();
    c.negotiate();
    c.login("alice", "Secret-1");
    let t = c.tree_connect("share");
    t.expect(NtStatus::SUCCESS);
    assert_ne!(
        u32::from_le_bytes([t.body()[4], t.body()[5], t.body()[6], t.body()[7]])
            & share_flags::ENCRYPT_DATA,
        0
    );
    let r = c.send(Req::flush(smb_wire::FileId {
        persistent: 1,
        volatile: 1,
    }));
    assert_eq!(r.status(), NtStatus::ACCESS_DENIED);
}
