//! Hostile input: truncated and corrupted requests of every command, broken compound chains,
//! garbage SPNEGO/NTLMSSP, random corruption of whole sessions, and path tricks.
//!
//! The rules checked everywhere:
//! - the engine never panics (MemVfs panics too when handed a non-normalized path or a stale
//!   node, so such engine bugs fail here);
//! - every answer is either `Ok` with a well-formed response chain or `Err(Disconnect)`, and a
//!   request that cannot be valid gets an error status or a disconnect, never SUCCESS;
//! - after a disconnect (the driver then calls `Server::close`) the server still serves a fresh
//!   connection, and nothing leaks: once every client is gone all tables and VFS nodes are
//!   empty.

use smb_testkit::client::{class, info_type, rename_info, split_chain, utf16};
use smb_testkit::ntlm::{self, NtlmClient};
use smb_testkit::{Create, LoginOpts, Msg, Req, Rng, TestClient, TestConfig, TestServer};
use smb_wire::create::{access, context_name, options};
use smb_wire::header::Command;
use smb_wire::{FileId, NtStatus, HEADER_LEN};

fn server() -> TestServer {
    TestServer::with_config(TestConfig {
        max_credits: 512,
        ..TestConfig::default()
    })
}

/// The share root's names, for "nothing was created" checks.
fn root_names(srv: &TestServer) -> Vec<String> {
    srv.vfs(|v| v.list(srv.share("share"), ""))
}

/// A logged-on, unsigned client with an open file `f` (100 bytes) and an open directory `d`.
struct Env {
    c: TestClient,
    f: FileId,
    d: FileId,
}

fn env(srv: &TestServer) -> Env {
    let mut c = TestClient::logged_on(srv, "alice", "Secret-1", "share");
    c.sign = false;
    c.lenient = true;
    let f = c.open("f");
    c.write(f, 0, &[0x42; 100]).ok();
    let d = c
        .create_with(&Create::new("d").options(options::DIRECTORY_FILE))
        .ok()
        .file_id();
    Env { c, f, d }
}

/// What one frame produced.
enum Outcome {
    Responses(Vec<Msg>),
    Disconnected,
}

impl Outcome {
    fn failed(&self) -> bool {
        match self {
            Outcome::Disconnected => true,
            Outcome::Responses(m) => m.iter().all(|m| m.status() != NtStatus::SUCCESS),
        }
    }
}

thread_local! {
    /// Panics caught by [`attempt`]: (message, frame) of the first frame per distinct message.
    static PANICS: std::cell::RefCell<Vec<(String, Vec<u8>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Fails the test listing every distinct panic [`attempt`] caught, with a reproducer.
fn report_panics(what: &str) {
    let panics = PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()));
    if panics.is_empty() {
        return;
    }
    let mut msg = format!(
        "{what}: the engine panicked on {} kind(s) of input:\n",
        panics.len()
    );
    for (m, frame) in &panics {
        let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
        msg.push_str(&format!("- {m}\n  frame: {hex}\n"));
    }
    panic!("{msg}");
}

/// Sends `frame`; cleans up what a (surprisingly) successful request created so the tables
/// do not fill, and marks the environment for rebuilding when its state may have changed.
/// A panic (engine or MemVfs assertion) is recorded and the run goes on, so one run reports
/// every distinct failure; [`report_panics`] fails the test at the end.
fn attempt(e: &mut Env, frame: &[u8], dirty: &mut bool) -> Outcome {
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.c.send_frame(frame)));
    let sent = match sent {
        Ok(r) => r,
        Err(p) => {
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let key: String = m.chars().take(40).collect();
            PANICS.with(|ps| {
                let mut ps = ps.borrow_mut();
                if !ps.iter().any(|(k, _)| k.starts_with(&key)) {
                    ps.push((m, frame.to_vec()));
                }
            });
            e.c.closed = true;
            *dirty = true;
            return Outcome::Disconnected;
        }
    };
    match sent {
        Err(_) => {
            *dirty = true;
            Outcome::Disconnected
        }
        Ok(msgs) => {
            for m in &msgs {
                if m.status() != NtStatus::SUCCESS {
                    continue;
                }
                match m.command() {
                    Command::CREATE => {
                        let fid = m.file_id();
                        let sid = m.session_id();
                        let tid = m.tree_id();
                        let _ = e.c.try_send(Req::close(fid, 0).sid(sid).tid(tid));
                    }
                    Command::TREE_CONNECT => {
                        let tid = m.tree_id();
                        let _ = e.c.try_send(Req::empty(Command::TREE_DISCONNECT).tid(tid));
                    }
                    Command::LOGOFF
                    | Command::TREE_DISCONNECT
                    | Command::CLOSE
                    | Command::SET_INFO
                    | Command::SESSION_SETUP => *dirty = true,
                    _ => {}
                }
            }
            if e.c.closed {
                *dirty = true;
            }
            Outcome::Responses(msgs)
        }
    }
}

/// A field of a request body to corrupt (offsets from the body start).
#[derive(Clone, Copy, Debug)]
enum Field {
    /// An offset/length pair; `(offset_at, offset_width, length_at, length_width)`.
    Pair(usize, usize, usize, usize),
    /// Any other number.
    Val(usize, usize),
}

struct Case {
    name: &'static str,
    build: fn(&Env) -> Req,
    fields: &'static [Field],
    /// Trailing bytes the request may lose and stay valid (the buffer byte of an empty
    /// variable part).
    pad: usize,
}

fn rename_req(e: &Env) -> Req {
    Req::set_info(
        e.f,
        info_type::FILE,
        class::RENAME,
        &rename_info(&utf16("renamed"), true),
        0,
    )
}

fn create_with_contexts(_: &Env) -> Req {
    let mut alloc = [0u8; 8];
    alloc[0] = 0x10;
    Create::new("m.txt")
        .context(context_name::QUERY_MAXIMAL_ACCESS, &[])
        .context(context_name::QUERY_ON_DISK_ID, &[])
        .context(context_name::ALLOCATION_SIZE, &alloc)
        .req()
}

const CASES: &[Case] = &[
    Case {
        name: "ECHO",
        build: |_| Req::empty(Command::ECHO),
        fields: &[],
        pad: 0,
    },
    Case {
        name: "TREE_CONNECT",
        build: |_| Req::tree_connect("\\\\SMBED\\public"),
        fields: &[Field::Pair(4, 2, 6, 2)],
        pad: 0,
    },
    Case {
        name: "CREATE",
        build: create_with_contexts,
        fields: &[Field::Pair(44, 2, 46, 2), Field::Pair(48, 4, 52, 4)],
        pad: 0,
    },
    Case {
        name: "CREATE dir",
        build: |_| Create::new("newdir").options(options::DIRECTORY_FILE).req(),
        fields: &[
            Field::Pair(44, 2, 46, 2),
            Field::Val(40, 4),
            Field::Val(36, 4),
        ],
        pad: 0,
    },
    Case {
        name: "FLUSH",
        build: |e| Req::flush(e.f),
        fields: &[Field::Val(8, 8), Field::Val(16, 8)],
        pad: 0,
    },
    Case {
        name: "READ",
        build: |e| Req::read(e.f, 10, 20, 0),
        fields: &[
            Field::Val(4, 4),
            Field::Val(8, 8),
            Field::Val(32, 4),
            Field::Val(44, 2),
            Field::Val(46, 2),
            Field::Val(2, 1),
        ],
        pad: 1,
    },
    Case {
        name: "WRITE",
        build: |e| Req::write(e.f, 5, b"hostile", 0),
        fields: &[
            Field::Pair(2, 2, 4, 4),
            Field::Val(8, 8),
            Field::Val(40, 2),
            Field::Val(42, 2),
        ],
        pad: 0,
    },
    Case {
        name: "LOCK",
        build: |e| Req::lock(e.f, &[(0, 10, 2)]),
        fields: &[Field::Val(2, 2)],
        pad: 0,
    },
    Case {
        name: "IOCTL",
        build: |e| Req::ioctl(e.f, 0x0009_00C0, &[1, 2, 3, 4], 64, 1),
        fields: &[
            Field::Pair(24, 4, 28, 4),
            Field::Val(36, 4),
            Field::Val(40, 4),
            Field::Val(32, 4),
            Field::Val(44, 4),
        ],
        pad: 0,
    },
    Case {
        name: "IOCTL validate negotiate",
        build: |_| {
            let mut input = vec![0u8; 24];
            input[22] = 1;
            input.extend_from_slice(&0x0311u16.to_le_bytes());
            Req::ioctl(FileId::RELATED, 0x0014_0204, &input, 24, 1)
        },
        fields: &[Field::Pair(24, 4, 28, 4), Field::Val(44, 4)],
        pad: 0,
    },
    Case {
        name: "QUERY_DIRECTORY",
        build: |e| Req::query_directory(e.d, class::ID_BOTH_DIRECTORY, 1, "*", 4096),
        fields: &[
            Field::Pair(24, 2, 26, 2),
            Field::Val(28, 4),
            Field::Val(2, 1),
        ],
        pad: 0,
    },
    Case {
        name: "CHANGE_NOTIFY",
        build: |e| Req::change_notify(e.d, 4096, 0x17),
        fields: &[Field::Val(4, 4)],
        pad: 0,
    },
    Case {
        name: "QUERY_INFO file",
        build: |e| Req::query_info(e.f, info_type::FILE, class::ALL, 4096, 0, &[]),
        fields: &[Field::Pair(8, 2, 12, 4), Field::Val(4, 4), Field::Val(3, 1)],
        pad: 1,
    },
    Case {
        name: "QUERY_INFO fs",
        build: |e| Req::query_info(e.f, info_type::FILESYSTEM, class::FS_FULL_SIZE, 64, 0, &[]),
        fields: &[Field::Val(4, 4), Field::Val(3, 1)],
        pad: 1,
    },
    Case {
        name: "QUERY_INFO security",
        build: |e| Req::query_info(e.f, info_type::SECURITY, 0, 4096, 7, &[]),
        fields: &[Field::Val(4, 4), Field::Val(16, 4)],
        pad: 1,
    },
    Case {
        name: "QUERY_INFO with input",
        build: |e| Req::query_info(e.f, info_type::FILE, 15, 4096, 0, &[0; 12]),
        fields: &[Field::Pair(8, 2, 12, 4)],
        pad: 0,
    },
    Case {
        name: "SET_INFO end of file",
        build: |e| {
            Req::set_info(
                e.f,
                info_type::FILE,
                class::END_OF_FILE,
                &50u64.to_le_bytes(),
                0,
            )
        },
        fields: &[Field::Pair(8, 2, 4, 4), Field::Val(3, 1)],
        pad: 0,
    },
    Case {
        name: "SET_INFO basic",
        build: |e| Req::set_info(e.f, info_type::FILE, class::BASIC, &[0; 40], 0),
        fields: &[Field::Pair(8, 2, 4, 4)],
        pad: 0,
    },
    Case {
        name: "SET_INFO rename",
        build: rename_req,
        fields: &[Field::Pair(8, 2, 4, 4), Field::Val(32 + 16, 4)],
        pad: 0,
    },
    Case {
        name: "SET_INFO security",
        build: |e| {
            Req::set_info(
                e.f,
                info_type::SECURITY,
                0,
                &[
                    1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
                4,
            )
        },
        fields: &[Field::Pair(8, 2, 4, 4)],
        pad: 0,
    },
    Case {
        name: "CLOSE",
        build: |e| Req::close(e.f, 1),
        fields: &[Field::Val(8, 8), Field::Val(16, 8), Field::Val(2, 2)],
        pad: 0,
    },
    Case {
        name: "OPLOCK_BREAK",
        build: |e| {
            let mut b = vec![0u8; 24];
            b[0] = 24;
            e.f.write(&mut b[8..24]);
            Req::new(Command::OPLOCK_BREAK, b)
        },
        fields: &[],
        pad: 0,
    },
    Case {
        name: "TREE_DISCONNECT",
        build: |_| Req::empty(Command::TREE_DISCONNECT),
        fields: &[],
        pad: 0,
    },
    Case {
        name: "LOGOFF",
        build: |_| Req::empty(Command::LOGOFF),
        fields: &[],
        pad: 0,
    },
    Case {
        name: "CANCEL",
        build: |_| Req::empty(Command::CANCEL),
        fields: &[],
        pad: 0,
    },
];

fn get(b: &[u8], at: usize, w: usize) -> u64 {
    let mut v = 0u64;
    for i in (0..w).rev() {
        v = (v << 8) | u64::from(b[at + i]);
    }
    v
}

fn put(b: &mut [u8], at: usize, w: usize, v: u64) {
    for i in 0..w {
        b[at + i] = (v >> (8 * i)) as u8;
    }
}

/// Values that break offsets and lengths: around the header, the end, and the type limits.
fn nasty(len: usize) -> Vec<u64> {
    let l = len as u64;
    vec![
        0,
        1,
        2,
        7,
        63,
        64,
        65,
        l - 1,
        l,
        l + 1,
        l + 8,
        0x7f,
        0x80,
        0xff,
        0x7fff,
        0x8000,
        0xfffe,
        0xffff,
        0x1_0000,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_fffe,
        0xffff_ffff,
        1 << 32,
        i64::MAX as u64,
        u64::MAX - 1,
        u64::MAX,
    ]
}

/// Runs every mutation of one case.
fn run_case(srv: &TestServer, case: &Case, e: &mut Option<Env>) {
    let mut cur = e.take().unwrap_or_else(|| env(srv));
    let mut dirty = false;
    let renew = |cur: &mut Env, dirty: &mut bool| {
        if *dirty {
            *cur = env(srv);
            *dirty = false;
        }
    };

    // The valid request itself.
    let frame = cur.c.build(&[(case.build)(&cur)]);
    let _ = attempt(&mut cur, &frame, &mut dirty);
    renew(&mut cur, &mut dirty);

    // Truncated at every length. Below a header nothing can be parsed: those go on a bare
    // connection so the environment survives.
    let full = cur.c.build(&[(case.build)(&cur)]);
    cur.c.next_mid -= 1;
    for cut in 0..HEADER_LEN.min(full.len()) {
        let conn = srv.accept();
        let r = srv.exchange(conn, &full[..cut]);
        assert!(r.is_err(), "{}: {cut}-byte frame answered", case.name);
        srv.close(conn);
    }
    let required = full.len() - case.pad;
    for cut in HEADER_LEN..full.len() {
        let frame = cur.c.build(&[(case.build)(&cur)]);
        let out = attempt(&mut cur, &frame[..cut], &mut dirty);
        if cut < required {
            assert!(
                out.failed() || case.name == "CANCEL",
                "{}: request cut to {cut} of {} bytes succeeded",
                case.name,
                full.len()
            );
        }
        renew(&mut cur, &mut dirty);
    }

    // StructureSize wrong.
    let ss = get(&full, HEADER_LEN, 2);
    for bad in [0, 1, ss.wrapping_sub(1), ss + 1, ss ^ 1, 0xffff] {
        if bad == ss {
            continue;
        }
        let mut frame = cur.c.build(&[(case.build)(&cur)]);
        put(&mut frame, HEADER_LEN, 2, bad);
        let out = attempt(&mut cur, &frame, &mut dirty);
        let quiet = matches!(&out, Outcome::Responses(m) if m.is_empty());
        assert!(
            out.failed() || (quiet && case.name == "CANCEL"),
            "{}: StructureSize {bad} accepted",
            case.name
        );
        renew(&mut cur, &mut dirty);
    }

    // Offsets and lengths.
    for &field in case.fields {
        let (targets, pair): (Vec<(usize, usize)>, Option<_>) = match field {
            Field::Pair(o, ow, l, lw) => (vec![(o, ow), (l, lw)], Some((o, ow, l, lw))),
            Field::Val(a, w) => (vec![(a, w)], None),
        };
        for (at, w) in targets {
            for v in nasty(full.len()) {
                let v = if w == 8 {
                    v
                } else {
                    v & ((1u64 << (8 * w)) - 1)
                };
                let mut frame = cur.c.build(&[(case.build)(&cur)]);
                put(&mut frame, HEADER_LEN + at, w, v);
                let invalid = pair.is_some_and(|(o, ow, l, lw)| {
                    let off = get(&frame, HEADER_LEN + o, ow);
                    let len = get(&frame, HEADER_LEN + l, lw);
                    len > 0
                        && (off < HEADER_LEN as u64 || off.saturating_add(len) > frame.len() as u64)
                });
                let out = attempt(&mut cur, &frame, &mut dirty);
                if invalid {
                    assert!(
                        out.failed(),
                        "{}: field at {at} = {v:#x} points outside the message yet succeeded",
                        case.name
                    );
                }
                renew(&mut cur, &mut dirty);
            }
        }
    }

    // Random corruption of the body (fixed seed per case).
    let mut rng = Rng::new(case.name.len() as u64 * 7919 + full.len() as u64);
    for _ in 0..200 {
        let mut frame = cur.c.build(&[(case.build)(&cur)]);
        for _ in 0..1 + rng.below(4) {
            let i = HEADER_LEN + rng.below(frame.len() - HEADER_LEN);
            frame[i] = rng.next_u64() as u8;
        }
        let _ = attempt(&mut cur, &frame, &mut dirty);
        renew(&mut cur, &mut dirty);
    }
    *e = Some(cur);
}

/// Runs every mutation of the case named `name` on a fresh server, then checks that nothing
/// leaked.
fn run_named(name: &str) {
    let case = CASES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let srv = server();
    let mut e = None;
    run_case(&srv, case, &mut e);
    drop(e);
    report_panics(name);
    assert_eq!(
        srv.counts(),
        [0, 0, 0, 0],
        "{name}: everything was released"
    );
    assert_eq!(srv.vfs(|v| v.open_nodes()), 0, "{name}: no VFS node leaked");
}

macro_rules! case_tests {
    ($($(#[$m:meta])* $f:ident => $name:literal;)*) => {
        $(
            #[test]
            $(#[$m])*
            fn $f() {
                run_named($name);
            }
        )*

        #[test]
        fn every_case_has_a_test() {
            let names = [$($name),*];
            for c in CASES {
                assert!(names.contains(&c.name), "case {} has no test", c.name);
            }
        }
    };
}

case_tests! {
    echo_truncated_and_corrupted => "ECHO";
    tree_connect_truncated_and_corrupted => "TREE_CONNECT";
    create_truncated_and_corrupted => "CREATE";
    create_dir_truncated_and_corrupted => "CREATE dir";
    flush_truncated_and_corrupted => "FLUSH";
    read_truncated_and_corrupted => "READ";
    write_truncated_and_corrupted => "WRITE";
    lock_truncated_and_corrupted => "LOCK";
    ioctl_truncated_and_corrupted => "IOCTL";
    ioctl_validate_negotiate_truncated_and_corrupted => "IOCTL validate negotiate";
    query_directory_truncated_and_corrupted => "QUERY_DIRECTORY";
    change_notify_truncated_and_corrupted => "CHANGE_NOTIFY";
    query_info_file_truncated_and_corrupted => "QUERY_INFO file";
    query_info_fs_truncated_and_corrupted => "QUERY_INFO fs";
    query_info_security_truncated_and_corrupted => "QUERY_INFO security";
    query_info_input_truncated_and_corrupted => "QUERY_INFO with input";
    set_info_eof_truncated_and_corrupted => "SET_INFO end of file";
    set_info_basic_truncated_and_corrupted => "SET_INFO basic";
    set_info_rename_truncated_and_corrupted => "SET_INFO rename";
    set_info_security_truncated_and_corrupted => "SET_INFO security";
    close_truncated_and_corrupted => "CLOSE";
    oplock_break_truncated_and_corrupted => "OPLOCK_BREAK";
    tree_disconnect_truncated_and_corrupted => "TREE_DISCONNECT";
    logoff_truncated_and_corrupted => "LOGOFF";
    cancel_truncated_and_corrupted => "CANCEL";
}

#[test]
fn header_corruption() {
    let srv = server();
    let mut e = env(&srv);
    let mut dirty = false;
    let good = |e: &mut Env| e.c.build(&[Req::empty(Command::ECHO)]);
    // Bad protocol ids and header StructureSize: disconnect.
    for (at, v) in [(0, 0xfe), (1, b'X'), (4, 63), (4, 0), (5, 1)] {
        let mut frame = good(&mut e);
        frame[at] = if at == 0 { 0xfc } else { v };
        assert!(matches!(
            attempt(&mut e, &frame, &mut dirty),
            Outcome::Disconnected
        ));
        e = env(&srv);
    }
    // ASYNC flag on a request other than CANCEL.
    let mut frame = good(&mut e);
    frame[16] |= 0x02;
    assert!(attempt(&mut e, &frame, &mut dirty).failed());
    e = env(&srv);
    // Unknown commands.
    for cmd in [0x13u16, 0x14, 0x100, 0xfffe, 0xffff] {
        let frame = e.c.build(&[Req::new(Command(cmd), vec![4, 0, 0, 0])]);
        let out = attempt(&mut e, &frame, &mut dirty);
        assert!(out.failed(), "command {cmd:#x}");
        if dirty {
            e = env(&srv);
            dirty = false;
        }
    }
    // A SMB1 frame after NEGOTIATE, a transform header without a key, garbage protocol.
    for lead in [
        &[0xff, b'S', b'M', b'B'][..],
        &[0xfd, b'S', b'M', b'B'][..],
        &[0xfe, b'S', b'M', b'C'][..],
    ] {
        let mut frame = vec![0u8; 120];
        frame[..4].copy_from_slice(lead);
        frame[4] = 64;
        let conn = srv.accept();
        let _ = srv.exchange(conn, &frame);
        srv.close(conn);
        assert!(e.c.send_frame(&frame).is_err());
        e = env(&srv);
    }
    // Requests before NEGOTIATE get an error (or a disconnect), never a session.
    let mut c = srv.client();
    c.lenient = true;
    let m = c.try_login_with(&LoginOpts::new("alice", "Secret-1"));
    assert!(m.map(|m| m.status() != NtStatus::SUCCESS).unwrap_or(true));
    drop(c);
    // A second NEGOTIATE on a negotiated connection.
    let frame = e.c.build(&[smb_testkit::NegotiateOpts::default().req()]);
    assert!(attempt(&mut e, &frame, &mut dirty).failed());
    drop(e);
    assert_eq!(srv.counts(), [0, 0, 0, 0]);
}

#[test]
fn negotiate_truncated_and_corrupted() {
    let srv = server();
    let full = srv
        .client()
        .build(&[smb_testkit::NegotiateOpts::default().req()]);
    let neg = |frame: &[u8]| -> Result<Vec<Msg>, smb_proto::Disconnect> {
        let mut c = srv.client();
        c.lenient = true;
        let r = c.send_frame(frame);
        if r.is_ok() {
            // The connection works afterwards (or refuses cleanly).
            let _ = c.try_login_with(&LoginOpts::new("alice", "Secret-1"));
        }
        r
    };
    neg(&full).unwrap()[0].status();
    // Every truncation: the dialect list and contexts make all of it required.
    for cut in 0..full.len() {
        let r = neg(&full[..cut]);
        assert!(
            r.map(|m| m.iter().all(|m| m.status() != NtStatus::SUCCESS))
                .unwrap_or(true),
            "NEGOTIATE cut to {cut} of {} succeeded",
            full.len()
        );
    }
    // Field corruption: DialectCount, context offset and count, context lengths.
    let ctx_off = get(&full, HEADER_LEN + 28, 4) as usize;
    let targets = [
        (HEADER_LEN + 2, 2),
        (HEADER_LEN + 28, 4),
        (HEADER_LEN + 32, 2),
        (ctx_off + 2, 2),
        (ctx_off + 8, 2),
        (ctx_off + 10, 2),
        (HEADER_LEN, 2),
    ];
    for (at, w) in targets {
        for v in nasty(full.len()) {
            let v = v & ((1u64 << (8 * w)) - 1);
            let mut f = full.clone();
            put(&mut f, at, w, v);
            let _ = neg(&f);
        }
    }
    let mut rng = Rng::new(0x004e_4547);
    for _ in 0..500 {
        let mut f = full.clone();
        for _ in 0..1 + rng.below(4) {
            let i = HEADER_LEN + rng.below(f.len() - HEADER_LEN);
            f[i] = rng.next_u64() as u8;
        }
        let _ = neg(&f);
    }
    // SMB1 multi-protocol negotiate: truncated and mangled.
    let mut smb1 = vec![0xff, b'S', b'M', b'B', 0x72];
    smb1.resize(32, 0);
    smb1.extend_from_slice(&[0, 0, 0]);
    smb1.extend_from_slice(b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0");
    for cut in 0..=smb1.len() {
        let conn = srv.accept();
        let _ = srv.exchange(conn, &smb1[..cut]);
        srv.close(conn);
    }
    assert_eq!(srv.counts(), [0, 0, 0, 0]);
}

/// A fresh negotiated client (lenient).
fn negotiated(srv: &TestServer) -> TestClient {
    let mut c = srv.client();
    c.lenient = true;
    c.negotiate().ok();
    c
}

/// Sends a SESSION_SETUP carrying `token` (on `c`, or a fresh connection after a disconnect)
/// and checks it did not produce an authenticated user session.
fn setup_token(srv: &TestServer, c: &mut TestClient, token: &[u8], sid: u64, what: &str) {
    if c.closed {
        *c = negotiated(srv);
    }
    let req = Req::session_setup(token, 1).sid(sid);
    match c.try_send(req) {
        Err(_) => *c = negotiated(srv),
        Ok(m) => {
            if m.status() == NtStatus::MORE_PROCESSING_REQUIRED {
                // A half-built session: drop the connection to clean it up.
                *c = negotiated(srv);
            } else if m.status() == NtStatus::SUCCESS {
                assert_ne!(
                    m.session_flags() & 0x3,
                    0,
                    "{what}: garbage token authenticated a user session"
                );
                // Anonymous/guest: drop it.
                let _ = c.try_send(Req::empty(Command::LOGOFF).sid(m.session_id()));
            }
        }
    }
}

#[test]
fn garbage_spnego_and_ntlmssp_in_the_first_round() {
    let srv = server();
    let mut c = negotiated(&srv);
    let mut rng = Rng::new(0x5350_4e45_474f);
    // Random bytes of many lengths, also behind a valid GSS-API/NTLMSSP prefix.
    for len in (0..64).chain([100, 255, 256, 511, 512, 1000, 4000, 8000]) {
        for prefix in [
            &b""[..],
            &[0x60][..],
            &[0xa0][..],
            &[0xa1][..],
            &b"NTLMSSP\0"[..],
        ] {
            let mut t = prefix.to_vec();
            t.extend(rng.bytes(len));
            setup_token(&srv, &mut c, &t, 0, "random");
        }
    }
    // A valid NegTokenInit truncated at every length, and with lengths made huge.
    let neg = NtlmClient::new("alice", "Secret-1").negotiate();
    let mt = ntlm::mech_type_list(&[ntlm::OID_NTLMSSP]);
    let init = ntlm::neg_token_init(&mt, Some(&neg));
    for cut in 0..init.len() {
        setup_token(&srv, &mut c, &init[..cut], 0, "truncated DER");
    }
    for i in 0..init.len() {
        for v in [
            0x80u8, 0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0x8f, 0xff, 0x7f, 0x00,
        ] {
            let mut t = init.clone();
            t[i] = v;
            setup_token(&srv, &mut c, &t, 0, "byte replaced");
        }
        // Long-form lengths with all-ones octets inserted.
        let mut t = init[..i].to_vec();
        t.extend_from_slice(&[0x84, 0xff, 0xff, 0xff, 0xff]);
        t.extend_from_slice(&init[i..]);
        setup_token(&srv, &mut c, &t, 0, "huge DER length");
    }
    // Deep nesting and a mechTypes list far beyond what is kept.
    let mut deep = vec![0x04, 0x00];
    for _ in 0..200 {
        deep = ntlm::tlv(0x30, &deep);
    }
    setup_token(&srv, &mut c, &ntlm::tlv(0x60, &deep), 0, "deep nesting");
    let many: Vec<&[u8]> = std::iter::repeat_n(ntlm::OID_NTLMSSP, 200).collect();
    let big = ntlm::neg_token_init(&ntlm::mech_type_list(&many), Some(&neg));
    setup_token(&srv, &mut c, &big, 0, "200 mechs");
    let kerberos_first = ntlm::neg_token_init(
        &ntlm::mech_type_list(&[ntlm::OID_KRB5, ntlm::OID_NTLMSSP]),
        Some(b"not kerberos"),
    );
    setup_token(&srv, &mut c, &kerberos_first, 0, "kerberos first");
    // NTLM NEGOTIATE messages with bad fields inside valid SPNEGO.
    for i in 8..neg.len() {
        for v in [0x00u8, 0xff, 0x7f, 0x80] {
            let mut n = neg.clone();
            n[i] = v;
            let t = ntlm::neg_token_init(&mt, Some(&n));
            setup_token(&srv, &mut c, &t, 0, "NTLM NEGOTIATE field");
        }
    }
    let mut long = neg.clone();
    long.resize(5000, 0x41);
    setup_token(
        &srv,
        &mut c,
        &ntlm::neg_token_init(&mt, Some(&long)),
        0,
        "long NEGOTIATE",
    );
    drop(c);
    assert_eq!(srv.counts(), [0, 0, 0, 0]);
}

#[test]
fn garbage_ntlmssp_authenticate_in_the_second_round() {
    let srv = server();
    let cl = NtlmClient::new("alice", "Secret-1");
    let mt = ntlm::mech_type_list(&[ntlm::OID_NTLMSSP]);
    let neg = cl.negotiate();
    let init = ntlm::neg_token_init(&mt, Some(&neg));
    // Runs round 1 and returns the session id and the challenge.
    let round1 = |c: &mut TestClient| -> (u64, Vec<u8>) {
        if c.closed {
            *c = negotiated(&srv);
        }
        let m = c.send(Req::session_setup(&init, 1).sid(0));
        m.expect(NtStatus::MORE_PROCESSING_REQUIRED);
        let chal = ntlm::parse_neg_resp(m.security_buffer())
            .unwrap()
            .token
            .unwrap();
        (m.session_id(), chal)
    };
    #[derive(Clone, Copy, Debug)]
    enum V {
        Cut(usize),
        Put(usize, usize, u64),
        Flip(u64),
        Random(u64),
    }
    let mut c = negotiated(&srv);
    let (_, chal) = round1(&mut c);
    let good_len = cl.authenticate(&neg, &chal).unwrap().msg.len();
    let mut specs: Vec<V> = (0..good_len).map(V::Cut).collect();
    // Each security buffer field (len, maxlen, offset) and the flags made hostile.
    for field in [12usize, 20, 28, 36, 44, 52] {
        for (at, w) in [(field, 2), (field + 2, 2), (field + 4, 4)] {
            for v in [
                0u64,
                1,
                15,
                16,
                24,
                0x7fff,
                0xffff,
                0xffff_ffff,
                good_len as u64,
            ] {
                specs.push(V::Put(at, w, v & ((1u64 << (8 * w)) - 1)));
            }
        }
    }
    for v in [0u64, 0xffff_ffff, 0x0000_0800, 0x6208_8215] {
        specs.push(V::Put(60, 4, v));
    }
    for seed in 0..300 {
        specs.push(V::Flip(seed));
        specs.push(V::Random(seed));
    }
    for spec in specs {
        for raw in [false, true] {
            // A fresh exchange: the AUTHENTICATE answers this session's challenge, then is
            // broken.
            let (sid, chal) = round1(&mut c);
            let orig = cl.authenticate(&neg, &chal).unwrap().msg;
            let mut m = orig.clone();
            match spec {
                V::Cut(n) => m.truncate(n),
                V::Put(at, w, v) => put(&mut m, at, w, v),
                V::Flip(seed) => {
                    let mut rng = Rng::new(seed + 1);
                    for _ in 0..1 + rng.below(6) {
                        let i = rng.below(m.len());
                        m[i] = rng.next_u64() as u8;
                    }
                }
                V::Random(seed) => {
                    let mut rng = Rng::new(seed + 1000);
                    let n = rng.below(700);
                    m = rng.bytes(n);
                }
            }
            if m == orig {
                // A no-op mutation (the field already had that value): skip.
                let t = ntlm::neg_token_resp(None, Some(&m), None);
                if let Ok(r) = c.try_send(Req::session_setup(&t, 1).sid(sid)) {
                    if r.status() == NtStatus::SUCCESS {
                        let _ = c.try_send(Req::empty(Command::LOGOFF).sid(sid));
                    }
                }
                continue;
            }
            let t = if raw {
                m
            } else {
                ntlm::neg_token_resp(None, Some(&m), None)
            };
            setup_token(
                &srv,
                &mut c,
                &t,
                sid,
                &format!("AUTHENTICATE {spec:?} raw {raw}"),
            );
        }
    }
    let good = cl.authenticate(&neg, &chal).unwrap().msg;
    // A second-round token for a session that never ran round 1, or a made-up id.
    setup_token(
        &srv,
        &mut c,
        &ntlm::neg_token_resp(None, Some(&good), None),
        0x1234,
        "made-up sid",
    );
    drop(c);
    assert_eq!(
        srv.counts(),
        [0, 0, 0, 0],
        "no half-built session left behind"
    );
}

fn echo_frame(c: &mut TestClient) -> Vec<u8> {
    c.build(&[Req::empty(Command::ECHO)])
}

/// A compound frame of `n` ECHOs with NextCommand set normally.
fn echos(c: &mut TestClient, n: usize) -> Vec<u8> {
    let reqs: Vec<Req> = (0..n).map(|_| Req::empty(Command::ECHO)).collect();
    c.build(&reqs)
}

#[test]
fn bad_next_command() {
    let srv = server();
    let mut e = env(&srv);
    let mut dirty = false;
    let expect_disconnect = |e: &mut Env, frame: &[u8], what: &str| {
        let mut d = false;
        let out = attempt(e, frame, &mut d);
        assert!(
            matches!(out, Outcome::Disconnected),
            "{what}: not disconnected"
        );
        *e = env(&srv);
    };
    let len = echos(&mut e.c, 2).len();
    for (next, what) in [
        (1u32, "into the header"),
        (8, "into the header"),
        (56, "into the header"),
        (65, "unaligned"),
        (71, "unaligned"),
        (73, "unaligned"),
        (len as u32 + 8, "past the end"),
        (4096, "past the end"),
        (0x7fff_fff8, "huge"),
        (0xffff_fff8, "backwards (-8)"),
        (u32::MAX, "all ones"),
    ] {
        let mut frame = echos(&mut e.c, 2);
        put(&mut frame, 20, 4, u64::from(next));
        expect_disconnect(&mut e, &frame, what);
        // On the last element, the one whose NextCommand should be 0.
        let mut frame = echos(&mut e.c, 2);
        put(&mut frame, 72 + 20, 4, u64::from(next));
        let mut d = false;
        let _ = attempt(&mut e, &frame, &mut d);
        if d {
            e = env(&srv);
        }
    }
    // NextCommand 64: an element that is only a header (the next "element" is the body of the
    // previous one, read as a header).
    let mut frame = echo_frame(&mut e.c);
    frame.extend_from_slice(&frame.clone());
    put(&mut frame, 20, 4, 64);
    let _ = attempt(&mut e, &frame, &mut dirty);
    if dirty {
        e = env(&srv);
        dirty = false;
    }
    // A chain of header-only elements pointing to each other, each exactly 64 bytes.
    let mut frame = Vec::new();
    for i in 0..20u64 {
        let mut h = echo_frame(&mut e.c)[..64].to_vec();
        put(&mut h, 20, 4, if i == 19 { 0 } else { 64 });
        frame.extend_from_slice(&h);
    }
    let _ = attempt(&mut e, &frame, &mut dirty);
    if dirty {
        e = env(&srv);
        dirty = false;
    }
    // More elements than credits: a disconnect, not a hang or a panic.
    let frame = echos(&mut e.c, 2000);
    let _ = attempt(&mut e, &frame, &mut dirty);
    e = env(&srv);
    dirty = false;
    // A valid chain whose responses cannot fit the response buffer (64 KiB reads).
    let f = e.f;
    e.c.write(f, 0, &vec![7u8; 65536]).ok();
    let frame = e.c.build(&[
        Req::read(f, 0, 65536, 0),
        Req::read(f, 0, 65536, 0),
        Req::read(f, 0, 65536, 0),
    ]);
    let out = attempt(&mut e, &frame, &mut dirty);
    if let Outcome::Responses(m) = &out {
        assert_eq!(m[0].status(), NtStatus::SUCCESS);
    }
    drop(e);
    assert_eq!(srv.counts(), [0, 0, 0, 0]);
}

#[test]
fn related_first_and_mixed_related_chains() {
    let srv = server();
    let mut e = env(&srv);
    let rel = FileId::RELATED;
    let chains: Vec<Vec<Req>> = vec![
        vec![Req::read(rel, 0, 1, 0).related()],
        vec![Req::close(rel, 0).related(), Req::close(rel, 0).related()],
        vec![
            Req::empty(Command::ECHO).related(),
            Create::new("x").req().related(),
        ],
        vec![
            Req::read(e.f, 0, 1, 0),
            Req::write(rel, 0, b"z", 0).related(),
        ],
        vec![
            Req::empty(Command::TREE_DISCONNECT),
            Req::read(rel, 0, 1, 0).related(),
        ],
        vec![
            Req::empty(Command::LOGOFF),
            Create::new("y").req().related(),
        ],
        vec![
            Req::tree_connect("\\\\SMBED\\public"),
            Create::new("z").req().related(),
            Req::close(rel, 0).related(),
        ],
        vec![
            Req::empty(Command::ECHO),
            Req::session_setup(b"garbage", 1).related(),
        ],
    ];
    for chain in chains {
        let mut dirty = false;
        let frame = e.c.build(&chain);
        let _ = attempt(&mut e, &frame, &mut dirty);
        e = env(&srv);
    }
    drop(e);
    assert_eq!(srv.counts(), [0, 0, 0, 0]);
    assert_eq!(srv.vfs(|v| v.open_nodes()), 0);
}

/// Client names that must never reach the VFS.
const HOSTILE_NAMES: &[&str] = &[
    "..",
    "..\\etc\\passwd",
    "a\\..\\..\\b",
    "a\\..",
    "a\\.",
    ".",
    ".\\a",
    "\\etc\\passwd",
    "\\",
    "\\\\server\\share\\x",
    "/etc/passwd",
    "a//b",
    "/a",
    "a/../b",
    "C:\\x",
    "C:",
    // Named streams ("file:stream") are served (the VFS opens them by name); a stream of the
    // wrong type, or a stream syntax with nothing before it, is refused before the VFS.
    "file::$INDEX_ALLOCATION",
    "file:s:$INDEX_ALLOCATION",
    "file:a:b:c",
    ":",
    "a:",
    "a\u{0}b",
    "\u{0}",
    "a\\\u{0}",
    "a\u{1}",
    "a\\\\b",
    "a\\\\",
    "a*",
    "a?",
    "a<b",
    "a>b",
    "a|b",
    "a\"b",
];

#[test]
fn hostile_create_names_never_reach_the_vfs() {
    let srv = server();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    srv.vfs(|v| v.put_file(srv.share("share"), "a", b"victim"));
    let before = root_names(&srv);
    for name in HOSTILE_NAMES {
        for (disp, opts) in [(3, 0), (2, options::DIRECTORY_FILE), (1, 0), (5, 0)] {
            let calls = srv.vfs(|v| (v.calls.open, v.calls.stat_path));
            let m = c.create_with(
                &Create::new(name)
                    .disposition(disp)
                    .options(opts)
                    .access(access::GENERIC_ALL),
            );
            assert!(m.status().is_error(), "CREATE {name:?} -> {:?}", m.status());
            let after = srv.vfs(|v| (v.calls.open, v.calls.stat_path));
            assert_eq!(calls, after, "CREATE {name:?} reached the VFS");
        }
    }
    // Raw UTF-16 oddities: unpaired surrogates, odd length, a NUL terminator.
    for raw in [
        vec![0x00, 0xd8],
        vec![0x00, 0xdc, b'a', 0],
        vec![b'a', 0, b'b'],
        vec![b'a', 0, 0, 0],
        vec![b'.', 0, b'.', 0, 0, 0],
    ] {
        let mut cr = Create::new("");
        cr.name = raw.clone();
        let m = c.create_with(&cr);
        assert!(
            m.status().is_error(),
            "CREATE {raw:02x?} -> {:?}",
            m.status()
        );
    }
    // Names that are fine for the VFS after normalization still work.
    for (name, path) in [
        ("ok.txt::$DATA", "ok.txt"),
        ("dir\\", "dir"),
        ("x y", "x y"),
    ] {
        let opts = if name.ends_with('\\') {
            options::DIRECTORY_FILE
        } else {
            0
        };
        let m = c.create_with(&Create::new(name).options(opts));
        m.ok();
        c.close(m.file_id()).ok();
        assert!(srv.vfs(|v| v.exists(srv.share("share"), path)), "{path}");
    }
    let mut after = root_names(&srv);
    after.retain(|n| !["ok.txt", "dir", "x y"].contains(&n.as_str()));
    assert_eq!(before, after, "no hostile name created anything");
    assert_eq!(
        srv.vfs(|v| v.file(srv.share("share"), "a")),
        Some(b"victim".to_vec())
    );
}

#[test]
fn non_ascii_names_work() {
    let srv = server();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    for name in [
        "ファイル",
        "»enamed",
        "日本語.txt",
        "Grüße.txt",
        "😀😀",
        "ファイル::$DATA",
    ] {
        let m = c.create(name);
        m.ok();
        c.close(m.file_id()).ok();
    }
    let f = c.open("plain");
    c.rename(f, "»renamed", false).ok();
    c.rename(f, "ファイル2", false).ok();
    c.close(f).ok();
    assert!(srv.vfs(|v| v.exists(srv.share("share"), "ファイル2")));
}

#[test]
fn hostile_rename_targets_never_reach_the_vfs() {
    let srv = server();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let f = c.open("victim");
    let before = root_names(&srv);
    let mut targets: Vec<String> = HOSTILE_NAMES
        .iter()
        .filter(|n| !n.starts_with('\\') || n.len() > 1)
        .map(|n| n.to_string())
        .collect();
    targets.extend(
        [
            "\\..\\x",
            "\\\\..",
            "\\a\\..\\..\\x",
            ":stream",
            "::$DATA",
            "",
        ]
        .map(String::from),
    );
    for t in &targets {
        for replace in [false, true] {
            let renames = srv.vfs(|v| v.calls.rename);
            let m = c.rename(f, t, replace);
            assert!(m.status().is_error(), "rename to {t:?} -> {:?}", m.status());
            // Leading backslashes are stripped (targets are share-relative), so "\\etc\\passwd"
            // may legitimately reach the VFS as "etc/passwd"; anything else must not.
            if !t.starts_with('\\') {
                assert_eq!(
                    renames,
                    srv.vfs(|v| v.calls.rename),
                    "rename to {t:?} reached the VFS"
                );
            }
        }
    }
    // Hostile name lengths in the rename buffer.
    for nlen in [u32::MAX, 0x7fff_ffff, 3, 1000, 0] {
        let mut b = rename_info(&utf16("ok"), false);
        put(&mut b, 16, 4, u64::from(nlen));
        let m = c.set_info(f, info_type::FILE, class::RENAME, &b);
        assert!(
            m.status().is_error(),
            "name length {nlen} -> {:?}",
            m.status()
        );
    }
    // A buffer too short for its header.
    for len in 0..20 {
        let b = rename_info(&utf16("ok"), false);
        let m = c.set_info(f, info_type::FILE, class::RENAME, &b[..len]);
        assert!(m.status().is_error(), "{len}-byte rename buffer");
    }
    // A leading backslash is share-relative: it works.
    c.rename(f, "\\moved", false).ok();
    assert_eq!(srv.vfs(|v| v.open_paths()), ["moved"]);
    c.close(f).ok();
    let mut after = root_names(&srv);
    after.retain(|n| n != "moved");
    let mut before = before;
    before.retain(|n| n != "victim");
    assert_eq!(before, after);
}

#[test]
fn rename_with_a_root_directory_is_invalid() {
    let srv = server();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let f = c.open("victim");
    for root in [1u64, u64::MAX] {
        let mut b = rename_info(&utf16("ok"), false);
        put(&mut b, 8, 8, root);
        c.set_info(f, info_type::FILE, class::RENAME, &b)
            .expect(NtStatus::INVALID_PARAMETER);
    }
    c.close(f).ok();
}

#[test]
fn hostile_tree_connect_paths_and_search_patterns() {
    let srv = server();
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    for p in [
        "\\\\SMBED\\..",
        "\\\\SMBED\\share\\..",
        "\\\\SMBED\\share\\x",
        "\\\\SMBED\\",
        "\\\\SMBED",
        "\\\\",
        "",
        "share",
        "\\\\SMBED\\sh\u{0}are",
        "\\\\SMBED\\nosuch",
        &format!("\\\\SMBED\\{}", "x".repeat(300)),
        &format!("\\\\{}\\share", "y".repeat(600)),
    ] {
        let m = c.send(Req::tree_connect(p));
        assert!(
            m.status().is_error(),
            "TREE_CONNECT {p:?} -> {:?}",
            m.status()
        );
    }
    let d = c
        .create_with(&Create::new("").options(options::DIRECTORY_FILE))
        .ok()
        .file_id();
    for pat in ["..\\*", "\\*", "a\\b", "../*", "/", &"*".repeat(2000)] {
        let m = c.send(Req::query_directory(d, class::NAMES, 1, pat, 4096));
        assert_ne!(m.status(), NtStatus::SUCCESS, "pattern {pat:?}");
    }
    c.close(d).ok();
}

/// One step of the fuzzed session script.
fn script_step(c: &mut TestClient, step: usize, fid: &mut FileId, dir: &mut FileId) -> bool {
    let msgs = match step {
        0 => {
            return c
                .try_negotiate_with(&smb_testkit::NegotiateOpts::default())
                .is_ok()
        }
        1 => {
            return c
                .try_login_with(&LoginOpts::new("alice", "Secret-1"))
                .is_ok()
        }
        2 => {
            let frame = c.build(&[Req::tree_connect("\\\\SMBED\\share")]);
            c.send_frame(&frame).map(|m| {
                if let Some(m) = m.first().filter(|m| m.status() == NtStatus::SUCCESS) {
                    c.tree_id = m.tree_id();
                }
            })
        }
        3 => {
            let frame = c.build(&[Create::new("fuzz.txt").req()]);
            c.send_frame(&frame).map(|m| {
                if let Some(m) = m.first().filter(|m| m.status() == NtStatus::SUCCESS) {
                    *fid = m.file_id();
                }
            })
        }
        4 => {
            let frame = c.build(&[Req::write(*fid, 0, b"fuzzing the engine", 0)]);
            c.send_frame(&frame).map(drop)
        }
        5 => {
            let frame = c.build(&[Req::read(*fid, 0, 18, 0)]);
            c.send_frame(&frame).map(drop)
        }
        6 => {
            let frame = c.build(&[Req::query_info(
                *fid,
                info_type::FILE,
                class::ALL,
                4096,
                0,
                &[],
            )]);
            c.send_frame(&frame).map(drop)
        }
        7 => {
            let frame = c.build(&[Create::new("").options(options::DIRECTORY_FILE).req()]);
            c.send_frame(&frame).map(|m| {
                if let Some(m) = m.first().filter(|m| m.status() == NtStatus::SUCCESS) {
                    *dir = m.file_id();
                }
            })
        }
        8 => {
            let frame = c.build(&[Req::query_directory(
                *dir,
                class::ID_BOTH_DIRECTORY,
                1,
                "*",
                4096,
            )]);
            c.send_frame(&frame).map(drop)
        }
        9 => {
            let frame = c.build(&[Req::set_info(
                *fid,
                info_type::FILE,
                class::END_OF_FILE,
                &7u64.to_le_bytes(),
                0,
            )]);
            c.send_frame(&frame).map(drop)
        }
        10 => {
            let frame = c.build(&[
                Create::new("chain.txt").req(),
                Req::write(FileId::RELATED, 0, b"x", 0).related(),
                Req::close(FileId::RELATED, 0).related(),
            ]);
            c.send_frame(&frame).map(drop)
        }
        11 => {
            let frame = c.build(&[Req::close(*dir, 0), Req::close(*fid, 0)]);
            c.send_frame(&frame).map(drop)
        }
        12 => {
            let frame = c.build(&[Req::empty(Command::TREE_DISCONNECT)]);
            c.send_frame(&frame).map(drop)
        }
        _ => {
            let frame = c.build(&[Req::empty(Command::LOGOFF)]);
            c.send_frame(&frame).map(drop)
        }
    };
    msgs.is_ok()
}

const STEPS: usize = 14;

fn fuzz_iterations() -> usize {
    std::env::var("SMB_TESTKIT_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

#[test]
fn random_corruption_of_whole_sessions() {
    use std::cell::RefCell;
    use std::rc::Rc;

    let srv = server();
    let iters = fuzz_iterations();
    let mut panics: Vec<(String, String)> = Vec::new();
    for it in 0..iters {
        let seed = 0x5eed_0000 + it as u64;
        let rng = Rc::new(RefCell::new(Rng::new(seed)));
        // Which frames get corrupted: each with probability 1/4, flipping 1..4 bytes; in
        // every other iteration the client re-signs after corrupting (an attacker who holds
        // the session key), otherwise traffic is unsigned so corruption reaches the parsers.
        let resign = it % 2 == 1;
        let mut c = srv.client();
        c.lenient = true;
        c.sign = resign;
        let r = rng.clone();
        c.tamper = Some(Box::new(move |frame: &mut Vec<u8>| {
            let mut r = r.borrow_mut();
            if r.below(4) != 0 || frame.is_empty() {
                return;
            }
            for _ in 0..1 + r.below(4) {
                let i = r.below(frame.len());
                let bit = 1u8 << r.below(8);
                if r.below(3) == 0 {
                    frame[i] = r.next_u64() as u8;
                } else {
                    frame[i] ^= bit;
                }
            }
        }));
        let mut fid = FileId::default();
        let mut dir = FileId::default();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for step in 0..STEPS {
                if !script_step(&mut c, step, &mut fid, &mut dir) {
                    break;
                }
            }
        }));
        if let Err(p) = result {
            // Record it and go on: one run lists every distinct crash.
            let m = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let key: String = m.chars().take(40).collect();
            if !panics
                .iter()
                .any(|(k, _): &(String, String)| k.starts_with(&key))
            {
                panics.push((
                    m,
                    format!("iteration {it}, seed {seed:#x}, resign {resign}"),
                ));
            }
            // Dropping the client closes its connection in the engine.
            drop(c);
            continue;
        }
        drop(c);
        assert_eq!(
            srv.counts(),
            [0, 0, 0, 0],
            "iteration {it}: state left behind after the connection closed"
        );
    }
    if !panics.is_empty() {
        let list: Vec<String> = panics.iter().map(|(m, w)| format!("- {m} ({w})")).collect();
        panic!(
            "the engine panicked on {} kind(s) of corrupted session:\n{}",
            panics.len(),
            list.join("\n")
        );
    }
    // Still serving.
    let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
    let f = c.open("after-fuzz");
    c.close(f).ok();
    assert_eq!(srv.vfs(|v| v.open_nodes()), 0);
}

#[test]
fn response_chains_are_always_well_formed() {
    // split_chain is applied to every response by the client; this checks it rejects what it
    // should, so a malformed engine response could not slip through.
    assert!(split_chain(&[0u8; 10]).is_err());
    let mut two = vec![0u8; 144];
    for at in [0, 72] {
        two[at..at + 4].copy_from_slice(&[0xfe, b'S', b'M', b'B']);
        two[at + 4] = 64;
    }
    two[20] = 72;
    assert_eq!(split_chain(&two).unwrap().len(), 2);
    two[20] = 70;
    assert!(split_chain(&two).is_err());
}
