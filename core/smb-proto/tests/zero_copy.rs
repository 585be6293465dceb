//! Zero-copy READs (`Config::zero_copy_reads`): a large READ alone in an unsigned,
//! unencrypted frame leaves its data in the file; the frame's length counts the data and
//! `Server::take_tail` tells the host what to send after it. Signed, encrypted, compound and
//! small READs carry their data as usual. The testkit's exchange sends tails the way the
//! host's sendfile does, so the client sees ordinary responses.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use smb_testkit::client::{Req, TestClient};
use smb_testkit::{TestConfig, TestServer};
use smb_wire::{FileId, NtStatus};

fn setup(size: usize) -> (TestServer, TestClient, FileId, Vec<u8>) {
    let ts = TestServer::with_config(TestConfig {
        zero_copy_reads: true,
        // Room for a compound of two 64 KiB READs.
        tx_len: Some(1 << 18),
        ..TestConfig::default()
    });
    ts.vfs(|v| v.tail_reads = true);
    let mut c = ts.client();
    c.negotiate().ok();
    c.login("alice", "Secret-1").ok();
    c.tree_connect("share").ok();
    let fid = c.create("big.bin").ok().file_id();
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
    for (i, chunk) in data.chunks(60_000).enumerate() {
        c.write(fid, (i * 60_000) as u64, chunk).ok();
    }
    (ts, c, fid, data)
}

fn tails(ts: &TestServer) -> u64 {
    ts.vfs(|v| v.tails_offered)
}

#[test]
fn unsigned_large_read_is_sent_from_the_file() {
    let (ts, mut c, fid, data) = setup(70_000);
    let before = tails(&ts);
    let r = c.send(Req::read(fid, 0, 65536, 0).signed(false));
    r.ok();
    assert!(r.data() == &data[..65536], "data differs");
    assert_eq!(tails(&ts), before + 1, "data left in the file");
    // Up to the end of file: the tail is clamped, DataLength says so.
    let r = c.send(Req::read(fid, 65536, 65536, 0).signed(false));
    r.ok();
    assert!(r.data() == &data[65536..], "data differs");
    // Past the end: END_OF_FILE, no tail.
    let r = c.send(Req::read(fid, 70_000, 65536, 0).signed(false));
    assert_eq!(r.status(), NtStatus::END_OF_FILE);
    // MinimumCount above what is left: END_OF_FILE too.
    let r = c.send(Req::read(fid, 65536, 65536, 5000).signed(false));
    assert_eq!(r.status(), NtStatus::END_OF_FILE);
}

#[test]
fn the_frame_length_counts_the_tail_and_take_tail_names_it() {
    let (ts, mut c, fid, _) = setup(70_000);
    let mut rx = c.build(&[Req::read(fid, 100, 65536, 0).signed(false)]);
    let mut tx = vec![0u8; 1 << 17];
    let n = ts.exchange_into(c.conn, &mut rx, &mut tx).unwrap();
    let frame_len = (usize::from(tx[1]) << 16) | (usize::from(tx[2]) << 8) | usize::from(tx[3]);
    let tail = ts.with(|s| s.take_tail()).expect("a tail");
    assert_eq!((tail.offset, tail.len), (100, 65536));
    assert_eq!(frame_len, n - 4 + 65536);
    assert_eq!(n - 4, 64 + 16, "header and READ response body only");
    assert_eq!(ts.with(|s| s.take_tail()), None, "taken once");
}

#[test]
fn signed_small_and_compound_reads_carry_their_data() {
    let (ts, mut c, fid, data) = setup(200_000);
    let before = tails(&ts);
    let r = c.send(Req::read(fid, 0, 65536, 0));
    assert!(r.is_signed());
    assert!(r.data() == &data[..65536], "data differs");
    let r = c.send(Req::read(fid, 0, 4096, 0).signed(false));
    assert!(r.data() == &data[..4096], "data differs");
    let msgs = c.compound(&[
        Req::read(fid, 0, 65536, 0).signed(false),
        Req::read(fid, 65536, 65536, 0).signed(false),
    ]);
    assert!(msgs[0].data() == &data[..65536], "data differs");
    assert!(msgs[1].data() == &data[65536..131_072], "data differs");
    assert_eq!(tails(&ts), before, "no tail for any of them");
}
