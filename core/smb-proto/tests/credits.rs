//! Credits and message ids ([MS-SMB2] 3.3.5.2.3, 3.3.5.2.5): the sequence window, the grant
//! ceiling and multi-credit charges.

use smb_testkit::client::{class, credits_for};
use smb_testkit::{NegotiateOpts, Req, TestClient, TestConfig, TestServer};
use smb_wire::header::Command;
use smb_wire::ids::dialect;
use smb_wire::NtStatus;

fn server(max_credits: u16, max_io: u32) -> TestServer {
    TestServer::with_config(TestConfig {
        max_credits,
        max_io,
        ..TestConfig::default()
    })
}

fn echo() -> Req {
    Req::empty(Command::ECHO)
}

/// After a disconnect the server still serves a new connection.
fn assert_server_alive(srv: &TestServer) {
    let mut c = TestClient::logged_on(srv, "bob", "hunter2", "share");
    let f = c.open("alive");
    c.close(f).ok();
}

#[test]
fn reused_message_id_disconnects() {
    let srv = TestServer::new();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let used = c.next_mid - 1;
    c.echo().ok();
    let d = c.try_send(echo().mid(used)).unwrap_err();
    assert!(c.closed, "{d:?}");
    assert_eq!(
        srv.counts(),
        [0, 0, 0, 0],
        "the driver closed the connection"
    );
    assert_server_alive(&srv);
}

#[test]
fn reused_out_of_order_message_id_disconnects() {
    let srv = TestServer::new();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let n = c.next_mid;
    c.send(echo().mid(n + 3)).ok();
    c.send(echo().mid(n + 1)).ok();
    c.send(echo().mid(n)).ok();
    assert!(c.try_send(echo().mid(n + 3)).is_err(), "n+3 was used");
    assert_server_alive(&srv);
}

#[test]
fn message_ids_out_of_the_window_disconnect() {
    let srv = server(32, 65536);
    for bad in [
        |c: &TestClient| c.next_mid + c.credits as u64,
        |c: &TestClient| c.next_mid + 10_000,
        |_: &TestClient| u64::MAX,
        |_: &TestClient| u64::MAX - 1,
        |_: &TestClient| 1 << 63,
    ] {
        let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
        let mid = bad(&c);
        assert!(
            c.try_send(echo().mid(mid)).is_err(),
            "mid {mid} with window {}..{}",
            c.next_mid,
            c.next_mid + c.credits as u64
        );
    }
    // The last id of the window is fine.
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let last = c.next_mid + c.credits as u64 - 1;
    c.send(echo().mid(last)).ok();
    assert_server_alive(&srv);
}

#[test]
fn message_ids_before_negotiate() {
    let srv = TestServer::new();
    // The first request must use id 0 (one implicit credit).
    let mut c = srv.client();
    let r = c.try_send(NegotiateOpts::default().req().mid(1));
    assert!(r.is_err(), "mid 1 before any grant");
    // Before NEGOTIATE multi-credit is off, so CreditCharge counts as 1 (3.3.5.2.5).
    let mut c = srv.client();
    c.send(NegotiateOpts::default().req().charge(2)).ok();
}

#[test]
fn grants_never_exceed_the_configured_maximum() {
    for max in [1u16, 2, 16, 100] {
        let srv = server(max, 65536);
        let mut c = srv.client();
        c.credit_request = 1000;
        c.negotiate().ok();
        c.login("alice", "Secret-1").ok();
        c.tree_connect("share").ok();
        let f = c.open("f");
        for i in 0..200u64 {
            let m = if i % 3 == 0 {
                c.write(f, i, b"x")
            } else {
                c.echo()
            };
            m.ok();
            assert!(
                c.credits <= i64::from(max) && c.credits >= 1,
                "max {max}: outstanding credits {} after request {i}",
                c.credits
            );
        }
        c.close(f).ok();
    }
}

#[test]
fn a_client_asking_for_nothing_is_never_starved() {
    let srv = server(64, 65536);
    let mut c = srv.client();
    c.credit_request = 0;
    c.negotiate().ok();
    c.login("alice", "Secret-1").ok();
    c.tree_connect("share").ok();
    for _ in 0..50 {
        c.echo().ok();
        assert!(c.credits >= 1);
    }
}

#[test]
fn charge_beyond_the_granted_credits_disconnects() {
    let srv = server(8, 1 << 20);
    let mut c = srv.client();
    c.credit_request = 8;
    c.negotiate().ok();
    c.login("alice", "Secret-1").ok();
    c.tree_connect("share").ok();
    let f = c.open("f");
    assert!(c.credits <= 8);
    // 9 credits' worth: more than the window holds.
    let r = c.try_send(Req::read(f, 0, 9 * 65536, 0).charge(9));
    assert!(r.is_err());
    assert_server_alive(&srv);
}

#[test]
fn multi_credit_requests_need_a_sufficient_charge() {
    let srv = server(128, 256 * 1024);
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let f = c.open("big");
    let data = vec![0x5a; 200 * 1024];
    // WRITE of 200 KiB costs 4 credits.
    assert_eq!(credits_for(data.len()), 4);
    c.send(Req::write(f, 0, &data, 0).charge(1))
        .expect(NtStatus::INVALID_PARAMETER);
    c.send(Req::write(f, 0, &data, 0).charge(3))
        .expect(NtStatus::INVALID_PARAMETER);
    assert_eq!(
        srv.vfs(|v| v.file(srv.share("share"), "big"))
            .unwrap()
            .len(),
        0,
        "nothing was written"
    );
    c.send(Req::write(f, 0, &data, 0).charge(4)).ok();

    // READ of 128 KiB + 1 costs 3.
    let len = 128 * 1024 + 1;
    c.send(Req::read(f, 0, len, 0).charge(1))
        .expect(NtStatus::INVALID_PARAMETER);
    c.send(Req::read(f, 0, len, 0).charge(2))
        .expect(NtStatus::INVALID_PARAMETER);
    let r = c.send(Req::read(f, 0, len, 0).charge(3));
    r.ok();
    assert_eq!(r.data().len(), len as usize);
    assert_eq!(r.credit_charge(), 3, "CreditCharge is echoed");

    // A charge larger than needed is fine.
    c.send(Req::read(f, 0, 10, 0).charge(2)).ok();

    // QUERY_DIRECTORY output buffers count too.
    let d = c
        .create_with(&smb_testkit::Create::new("").options(1).access(0x0012_0089))
        .ok()
        .file_id();
    c.send(Req::query_directory(d, class::NAMES, 1, "*", 200 * 1024).charge(1))
        .expect(NtStatus::INVALID_PARAMETER);
    c.send(Req::query_directory(d, class::NAMES, 1, "*", 200 * 1024).charge(4))
        .ok();
    c.close(d).ok();
    c.close(f).ok();
}

#[test]
fn io_larger_than_max_io_is_invalid_parameter() {
    let srv = server(128, 65536);
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let f = c.open("f");
    c.send(Req::read(f, 0, 65537, 0).charge(2))
        .expect(NtStatus::INVALID_PARAMETER);
    c.send(Req::write(f, 0, &[1; 65537], 0).charge(2))
        .expect(NtStatus::INVALID_PARAMETER);
    c.close(f).ok();
}

#[test]
fn smb2_02_ignores_credit_charge() {
    let srv = TestServer::new();
    let mut c = srv.client();
    c.negotiate_with(&NegotiateOpts::dialect(dialect::SMB2_02))
        .ok();
    c.login("alice", "Secret-1").ok();
    c.tree_connect("share").ok();
    let f = c.open("f");
    // CreditCharge is reserved in 2.0.2: each request uses exactly one id.
    let mid = c.next_mid;
    c.send(Req::write(f, 0, b"abc", 0).charge(5).mid(mid)).ok();
    c.send(echo().mid(mid + 1)).ok();
    c.next_mid = mid + 2;
    c.close(f).ok();
}
