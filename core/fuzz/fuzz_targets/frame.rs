//! The engine's `handle_frame` ([MS-SMB2] 2.1, 3.3.5) on arbitrary bytes: the first byte picks
//! the connection's state (fresh, negotiated, or logged on with a tree connected, where the
//! fuzzer can reach every command with unsigned requests), the rest is split into frames at
//! 0xFE 'S' 'M' 'B' markers and handed over one by one, then pending async responses are
//! polled. Any panic, hang or out-of-bounds access is a bug; errors and disconnects are not.
//!
//! One server serves many inputs, a new connection each (the testkit leaks its tables by
//! design, so a server per input would exhaust memory); it is replaced every 2,000 inputs so
//! the files earlier inputs created do not pile up.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use smb_testkit::TestServer;

thread_local! {
    static SERVER: RefCell<(TestServer, u32)> = RefCell::new((TestServer::new(), 0));
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let ts = SERVER.with(|s| {
        let mut s = s.borrow_mut();
        s.1 += 1;
        if s.1 >= 2000 {
            *s = (TestServer::new(), 0);
        }
        s.0.clone()
    });
    let mut c = ts.client();
    if mode % 3 >= 1 {
        c.negotiate();
    }
    if mode % 3 == 2 {
        c.login("alice", "Secret-1");
        c.tree_connect("share");
    }
    let conn = c.conn;
    let mut frames = Vec::new();
    let mut start = 0;
    for i in 1..rest.len().saturating_sub(3) {
        if &rest[i..i + 4] == b"\xfeSMB" {
            frames.push(&rest[start..i]);
            start = i;
        }
    }
    frames.push(&rest[start..]);
    for f in frames {
        if ts.exchange(conn, f).is_err() {
            return;
        }
        let mut tx = vec![0u8; 1 << 17];
        for _ in 0..4 {
            if ts.with(|s| s.poll_transmit(1, conn, &mut tx)).is_none() {
                break;
            }
        }
    }
    ts.close(conn);
});
