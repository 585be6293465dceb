//! READs and FLUSHes whose I/O the host does off the event loop ([`Vfs::try_read`],
//! [`Vfs::try_flush`] declining with PENDING): the client gets an interim STATUS_PENDING at
//! once and the final, signed response after `Server::io_ready` ([MS-SMB2] 3.3.4.2), with the
//! I/O's status; a close or a CANCEL meanwhile ends the wait; a READ in the middle of a
//! compound reads in place.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use smb_testkit::client::{Req, TestClient};
use smb_testkit::TestServer;
use smb_wire::{Command, FileId, Header, NtStatus};

fn setup(ts: &TestServer) -> (TestClient, FileId) {
    let mut c = ts.client();
    c.negotiate().ok();
    c.login("alice", "Secret-1").ok();
    c.tree_connect("share").ok();
    let fid = c.create("data.bin").ok().file_id();
    c.write(fid, 0, b"0123456789abcdef").ok();
    ts.vfs(|v| v.defer_reads = true);
    (c, fid)
}

/// The next final async response of `c`, verified with the client's signer.
fn final_response(ts: &TestServer, c: &TestClient) -> Option<Vec<u8>> {
    let mut tx = vec![0u8; 1 << 17];
    let n = ts.with(|s| s.poll_transmit(9, c.conn, &mut tx))?;
    let mut msg = tx[4..n].to_vec();
    let h = Header::new_checked(&msg).unwrap();
    assert!(h.is_async());
    assert!(
        h.is_signed(),
        "the final response of a signed READ is signed"
    );
    assert!(c.signer.as_ref().unwrap().verify(&mut msg));
    Some(msg)
}

#[test]
fn declined_read_goes_async_and_completes_with_the_data() {
    let ts = TestServer::new();
    let (mut c, fid) = setup(&ts);
    let r = c.read(fid, 4, 6);
    assert_eq!(r.status(), NtStatus::PENDING);
    assert!(r.flags() & 0x2 != 0, "interim response is async");
    let ticket = ts.vfs(|v| v.deferred_reads.pop()).unwrap();
    // Nothing to send before the host says the data is there; other requests go on.
    assert!(final_response(&ts, &c).is_none());
    c.echo().ok();
    assert!(ts.with(|s| s.io_ready(ticket, NtStatus::SUCCESS)));
    let msg = final_response(&ts, &c).expect("final READ response");
    let h = Header::new_checked(&msg).unwrap();
    assert_eq!(h.command(), Command::READ);
    assert_eq!(h.status(), NtStatus::SUCCESS);
    // READ response: DataOffset (u8 at 2), DataLength (u32 at 4).
    let body = &msg[64..];
    let data_off = usize::from(body[2]);
    let data_len = u32::from_le_bytes(body[4..8].try_into().unwrap()) as usize;
    assert_eq!(&msg[data_off..data_off + data_len], b"456789");
    // A second io_ready for the same ticket finds nothing.
    assert!(!ts.with(|s| s.io_ready(ticket, NtStatus::SUCCESS)));
    assert!(final_response(&ts, &c).is_none());
}

#[test]
fn close_or_cancel_ends_a_waiting_read() {
    let ts = TestServer::new();
    let (mut c, fid) = setup(&ts);
    assert_eq!(c.read(fid, 0, 4).status(), NtStatus::PENDING);
    let t1 = ts.vfs(|v| v.deferred_reads.pop()).unwrap();
    c.close(fid).ok();
    let msg = final_response(&ts, &c).expect("closed");
    assert_eq!(
        Header::new_checked(&msg).unwrap().status(),
        NtStatus::FILE_CLOSED
    );
    assert!(
        !ts.with(|s| s.io_ready(t1, NtStatus::SUCCESS)),
        "nothing waits any more"
    );

    let fid = c.create("data.bin").ok().file_id();
    let r = c.read(fid, 0, 4);
    assert_eq!(r.status(), NtStatus::PENDING);
    // CANCEL by MessageId ([MS-SMB2] 3.3.5.16); it has no response of its own.
    let mid = Header::new_checked(&r.bytes).unwrap().message_id();
    let frame = c.build(&[Req::empty(Command::CANCEL).mid(mid)]);
    assert!(c.send_frame(&frame).unwrap().is_empty());
    let msg = final_response(&ts, &c).expect("cancelled");
    assert_eq!(
        Header::new_checked(&msg).unwrap().status(),
        NtStatus::CANCELLED
    );
}

#[test]
fn a_read_in_the_middle_of_a_compound_reads_in_place() {
    let ts = TestServer::new();
    let (mut c, fid) = setup(&ts);
    let msgs = c.compound(&[Req::read(fid, 0, 4, 0), Req::read(fid, 4, 4, 0)]);
    assert_eq!(
        msgs[0].status(),
        NtStatus::SUCCESS,
        "in the middle: read in place"
    );
    assert_eq!(msgs[0].data(), b"0123");
    assert_eq!(msgs[1].status(), NtStatus::PENDING, "last: may wait");
    let t = ts.vfs(|v| v.deferred_reads.pop()).unwrap();
    assert!(ts.with(|s| s.io_ready(t, NtStatus::SUCCESS)));
    assert!(final_response(&ts, &c).is_some());
}

#[test]
fn declined_flush_goes_async_and_reports_the_sync_result() {
    let ts = TestServer::new();
    let (mut c, fid) = setup(&ts);
    ts.vfs(|v| v.defer_flushes = true);
    let flush = |c: &mut TestClient| c.send(Req::flush(fid));
    assert_eq!(flush(&mut c).status(), NtStatus::PENDING);
    let t = ts.vfs(|v| v.deferred_flushes.pop()).unwrap();
    assert!(final_response(&ts, &c).is_none());
    assert!(ts.with(|s| s.io_ready(t, NtStatus::SUCCESS)));
    let msg = final_response(&ts, &c).expect("flushed");
    let h = Header::new_checked(&msg).unwrap();
    assert_eq!(
        (h.command(), h.status()),
        (Command::FLUSH, NtStatus::SUCCESS)
    );
    // A failed sync is the FLUSH's status.
    assert_eq!(flush(&mut c).status(), NtStatus::PENDING);
    let t = ts.vfs(|v| v.deferred_flushes.pop()).unwrap();
    assert!(ts.with(|s| s.io_ready(t, NtStatus::DISK_FULL)));
    let msg = final_response(&ts, &c).expect("failed flush");
    assert_eq!(
        Header::new_checked(&msg).unwrap().status(),
        NtStatus::DISK_FULL
    );
}
