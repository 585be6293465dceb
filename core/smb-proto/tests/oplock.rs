//! Oplocks: a sole opener gets the batch oplock it asks for; a second CREATE of the file waits
//! (STATUS_PENDING) while the holder is sent a break to none, and completes after the
//! acknowledgment, on close, or after the break timeout.

use smb_testkit::client::{Create, Req};
use smb_testkit::TestServer;
use smb_wire::{Command, FileId, Header, NtStatus};

const BATCH: u8 = 9;

fn logged_in(ts: &TestServer) -> smb_testkit::client::TestClient {
    let mut c = ts.client();
    c.negotiate();
    c.login("alice", "Secret-1");
    c.tree_connect("share");
    c
}

fn body_u8(frame: &[u8], off: usize) -> u8 {
    frame[4 + 64 + off]
}

fn ack(fid: FileId) -> Req {
    let mut b = vec![0u8; 24];
    b[..2].copy_from_slice(&24u16.to_le_bytes());
    fid.write(&mut b[8..24]);
    Req::new(Command::OPLOCK_BREAK, b)
}

#[test]
fn second_open_breaks_a_batch_oplock_and_waits_for_the_ack() {
    let ts = TestServer::new();
    let mut a = logged_in(&ts);
    let mut c = Create::new("f.txt");
    c.oplock = BATCH;
    let r = a.create_with(&c);
    r.expect(NtStatus::SUCCESS);
    let fid = r.file_id();
    assert_eq!(r.body()[2], BATCH, "sole opener gets the batch oplock");

    let mut b = logged_in(&ts);
    let r2 = b.create_with(&Create::new("f.txt"));
    assert_eq!(
        r2.status(),
        NtStatus::PENDING,
        "the second CREATE waits for the break"
    );

    // The holder's connection has a break notification to none.
    let mut tx = vec![0u8; 1 << 17];
    let n = ts
        .with(|s| s.poll_transmit(1, a.conn, &mut tx))
        .expect("break notice");
    let h = Header::new_checked(&tx[4..n]).unwrap();
    assert_eq!(h.command(), Command::OPLOCK_BREAK);
    assert_eq!(h.message_id(), u64::MAX);
    assert_eq!(body_u8(&tx, 2), 0, "broken to none");
    // Nothing for the waiter yet.
    assert!(ts.with(|s| s.poll_transmit(1, b.conn, &mut tx)).is_none());

    let r3 = a.send(ack(fid));
    r3.expect(NtStatus::SUCCESS);
    let n = ts
        .with(|s| s.poll_transmit(2, b.conn, &mut tx))
        .expect("create completes");
    let h = Header::new_checked(&tx[4..n]).unwrap();
    assert_eq!(h.command(), Command::CREATE);
    assert_eq!(h.status(), NtStatus::SUCCESS);
    assert!(h.is_async());
    assert_eq!(body_u8(&tx, 2), 0, "no oplock for the second opener");
}

#[test]
fn closing_the_holder_releases_the_waiter_and_a_stray_ack_is_refused() {
    let ts = TestServer::new();
    let mut a = logged_in(&ts);
    let mut c = Create::new("g.txt");
    c.oplock = BATCH;
    let fid = a.create_with(&c).file_id();
    // An acknowledgment without a break in progress is a protocol error.
    assert_eq!(a.send(ack(fid)).status(), NtStatus::INVALID_OPLOCK_PROTOCOL);

    let mut b = logged_in(&ts);
    assert_eq!(
        b.create_with(&Create::new("g.txt")).status(),
        NtStatus::PENDING
    );
    let mut tx = vec![0u8; 1 << 17];
    assert!(ts.with(|s| s.poll_transmit(1, a.conn, &mut tx)).is_some());
    a.send(Req::close(fid, 0)).expect(NtStatus::SUCCESS);
    let n = ts
        .with(|s| s.poll_transmit(2, b.conn, &mut tx))
        .expect("create completes");
    let h = Header::new_checked(&tx[4..n]).unwrap();
    assert_eq!(h.status(), NtStatus::SUCCESS);
}

#[test]
fn an_unanswered_break_times_out() {
    let ts = TestServer::new();
    let mut a = logged_in(&ts);
    let mut c = Create::new("h.txt");
    c.oplock = BATCH;
    a.create_with(&c).expect(NtStatus::SUCCESS);
    let mut b = logged_in(&ts);
    assert_eq!(
        b.create_with(&Create::new("h.txt")).status(),
        NtStatus::PENDING
    );
    let deadline = ts.with(|s| s.poll_timeout()).expect("a deadline");
    let mut tx = vec![0u8; 1 << 17];
    assert!(ts
        .with(|s| s.poll_transmit(deadline - 1, b.conn, &mut tx))
        .is_none());
    ts.with(|s| s.handle_timeout(deadline));
    let n = ts
        .with(|s| s.poll_transmit(deadline, b.conn, &mut tx))
        .expect("create completes");
    assert_eq!(
        Header::new_checked(&tx[4..n]).unwrap().status(),
        NtStatus::SUCCESS
    );
}

#[test]
fn a_create_in_a_compound_waits_for_the_break_and_the_rest_runs_after_it() {
    // smbtorture compound.compound-break: CREATE + related QUERY_INFO + CLOSE while another
    // open holds a batch oplock. The CREATE goes async alone; once the holder acknowledges,
    // the CREATE's final response and the rest of the chain (using its handle) follow.
    const REL: FileId = FileId::RELATED;

    let ts = TestServer::new();
    let mut a = logged_in(&ts);
    let mut c = Create::new("pptx");
    c.oplock = BATCH;
    let r = a.create_with(&c);
    let fid = r.file_id();
    let mut b = logged_in(&ts);
    let msgs = b.compound(&[
        Create::new("pptx").req(),
        Req::query_info(REL, 1, 0x16, 0x1000, 0, &[]).related(),
        Req::close(REL, 0).related(),
    ]);
    assert_eq!(
        msgs.len(),
        1,
        "only the interim CREATE response goes out now"
    );
    assert_eq!(msgs[0].status(), NtStatus::PENDING);
    let mut tx = vec![0u8; 1 << 17];
    assert!(ts.with(|s| s.poll_transmit(1, a.conn, &mut tx)).is_some());
    a.send(ack(fid)).expect(NtStatus::SUCCESS);
    let n = ts
        .with(|s| s.poll_transmit(2, b.conn, &mut tx))
        .expect("create completes");
    let rest = smb_testkit::client::split_chain(&tx[4..n]).unwrap();
    assert_eq!(
        rest.iter()
            .map(|m| (m.command(), m.status()))
            .collect::<Vec<_>>(),
        [
            (Command::CREATE, NtStatus::SUCCESS),
            (Command::QUERY_INFO, NtStatus::SUCCESS),
            (Command::CLOSE, NtStatus::SUCCESS),
        ]
    );
    assert!(Header::new_checked(&rest[0].bytes[..]).unwrap().is_async());
    // Only the holder's open is left; the chain closed the one it made.
    assert_eq!(ts.counts()[3], 1);
    // The connection keeps working after the chain (its message ids were consumed in order).
    b.send(Req::empty(Command::ECHO)).expect(NtStatus::SUCCESS);
}

#[test]
fn a_malformed_rest_behind_a_waiting_create_ends_the_connection_at_once() {
    // The rest of a compound kept with a waiting CREATE is checked when the CREATE parks: a
    // bad NextCommand there disconnects now instead of leaving the client waiting.
    let ts = TestServer::new();
    let mut a = logged_in(&ts);
    let mut c = Create::new("held");
    c.oplock = BATCH;
    a.create_with(&c).expect(NtStatus::SUCCESS);
    let mut b = logged_in(&ts);
    let mut frame = b.build(&[
        Create::new("held").req(),
        Req::query_info(FileId::RELATED, 1, 0x16, 0x1000, 0, &[]).related(),
        Req::close(FileId::RELATED, 0).related(),
    ]);
    let second = u32::from_le_bytes(frame[20..24].try_into().unwrap()) as usize;
    frame[second + 20..second + 24].copy_from_slice(&3u32.to_le_bytes());
    assert!(b.send_frame(&frame).is_err(), "disconnected");
}
