//! Peer bytes never panic us: every truncation of every PDU we understand, and a seeded
//! corruption loop, must end in a well-formed answer (response, fault, bind_ack, bind_nak) or
//! silence, never a panic, and the pipe must keep its invariants.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use smb_rpc::{Pipe, PipeKind, RpcError, ServerInfo, ShareEntry, ShareKind, ShareSource};

/// Checks that `msg` is one well-formed PDU of a kind a server sends.
fn check_message(msg: &[u8]) {
    assert!(msg.len() >= 16, "short message {msg:02x?}");
    assert_eq!(&msg[..2], &[5, 0], "{msg:02x?}");
    assert_eq!(&msg[4..8], &[0x10, 0, 0, 0]);
    assert_eq!(u16_at(msg, 8) as usize, msg.len());
    assert_eq!(u16_at(msg, 10), 0);
    match msg[2] {
        2 => {
            assert!(msg.len() >= 24 && msg.len() <= 4280);
            assert!(u32_at(msg, 16) as usize >= msg.len() - 24);
        }
        3 => assert_eq!(msg.len(), 32),
        12 | 15 => {
            let results = (26 + u16_at(msg, 24) as usize).next_multiple_of(4);
            assert_eq!(msg[results] as usize * 24 + results + 4, msg.len());
        }
        13 => assert_eq!(msg.len(), 24),
        t => panic!("we sent ptype {t}"),
    }
}

/// Reads everything with reads of `chunk` bytes, checking each reassembled message.
fn drain_checked<const N: usize>(p: &mut Pipe<N>, src: &dyn ShareSource, chunk: usize) -> usize {
    let mut buf = vec![0u8; chunk];
    let mut msg = Vec::new();
    let mut n = 0;
    loop {
        match p.read(src, &mut buf) {
            Ok(r) => {
                msg.extend_from_slice(&buf[..r.len]);
                if !r.more {
                    check_message(&msg);
                    msg.clear();
                    n += 1;
                }
                assert!(r.len > 0 || chunk == 0);
                if chunk == 0 {
                    // Zero-length reads make no progress; finish with a real buffer.
                    return n + drain_checked(p, src, 4096);
                }
            }
            Err(RpcError::Empty | RpcError::Broken) => {
                assert!(msg.is_empty());
                assert_eq!(p.readable(), 0);
                return n;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// Every PDU of a realistic conversation, bind first.
fn corpus() -> Vec<Vec<u8>> {
    let mut v = vec![
        bind_pdu(
            11,
            1,
            (4280, 4280),
            &[
                (0, SRVSVC, &[NDR]),
                (1, SRVSVC, &[NDR64]),
                (2, SRVSVC, &[BTFN]),
            ],
        ),
        request_pdu(2, 3, 0, 15, &share_enum_stub(1, Some(0))),
        request_pdu(3, 3, 0, 15, &share_enum_stub(502, None)),
        request_pdu(4, 3, 0, 16, &share_get_info_stub("data", 2)),
        request_pdu(5, 3, 0, 21, &level_stub(102)),
        bind_pdu(14, 6, (4280, 4280), &[(3, SRVSVC, &[NDR])]),
    ];
    let stub = share_enum_stub(2, Some(0));
    v.push(request_pdu(7, 1, 0, 15, &stub[..16]));
    v.push(request_pdu(7, 0, 0, 15, &stub[16..24]));
    v.push(request_pdu(7, 2, 0, 15, &stub[24..]));
    v
}

fn bound_pipe(src: &Shares) -> Box<Pipe> {
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, src, SRVSVC);
    p
}

#[test]
fn every_truncation_is_answered_cleanly() {
    let src = Shares::small();
    for (i, pdu) in corpus().iter().enumerate() {
        for k in 0..pdu.len() {
            // Truncated with frag_length patched to match: a complete but short PDU.
            let mut cut = pdu[..k].to_vec();
            if k >= 10 {
                cut[8..10].copy_from_slice(&(k as u16).to_le_bytes());
            }
            for bound in [false, true] {
                let mut p = if bound && i != 0 {
                    bound_pipe(&src)
                } else {
                    Box::new(Pipe::new(PipeKind::Srvsvc))
                };
                let r = p.write(&src, &cut);
                assert!(
                    matches!(r, Ok(n) if n == cut.len()),
                    "pdu {i} cut {k}: {r:?}"
                );
                drain_checked(&mut p, &src, 4096);
                // Whatever state it is in, a later write is taken or refused, never a panic.
                let _ = p.write(&src, pdu);
                drain_checked(&mut p, &src, 100);
            }
            // Truncated without patching: the pipe just waits for the rest.
            let mut p = bound_pipe(&src);
            assert_eq!(p.write(&src, &pdu[..k]), Ok(k));
            if k >= 16 || k == 0 {
                // (A complete bad header is answered at once; a good one waits.)
                drain_checked(&mut p, &src, 4096);
            } else {
                assert_eq!(p.readable(), 0);
            }
        }
    }
}

fn wkssvc_corpus() -> Vec<Vec<u8>> {
    vec![
        bind_pdu(
            11,
            1,
            (2048, 4280),
            &[(0, WKSSVC, &[NDR64, NDR]), (1, WKSSVC, &[BTFN])],
        ),
        request_pdu(2, 3, 0, 0, &level_stub(100)),
        request_pdu(3, 3, 0, 0, &level_stub(102)),
        request_pdu(4, 3, 1, 0, &level_stub(100)),
    ]
}

#[test]
fn seeded_corruption_never_panics() {
    let small = Shares::small();
    let many = Shares::many(60);
    let corpora = [corpus(), wkssvc_corpus()];
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut answered = 0usize;
    for round in 0..20_000 {
        let (kind, corpus) = if round % 4 == 3 {
            (PipeKind::Wkssvc, &corpora[1])
        } else {
            (PipeKind::Srvsvc, &corpora[0])
        };
        let src = if round % 2 == 0 { &small } else { &many };
        let mut p: Box<Pipe<{ smb_rpc::MIN_OUT_CAPACITY }>> = Box::new(Pipe::new(kind));
        // A conversation: the bind and some requests, each possibly mutated.
        let mut stream = Vec::new();
        let n = 1 + rng.below(corpus.len());
        for pdu in corpus.iter().take(n) {
            let mut pdu = pdu.clone();
            match rng.below(8) {
                0 => {
                    let at = rng.below(pdu.len());
                    pdu[at] ^= 1 << rng.below(8);
                }
                1 => {
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(pdu.len());
                        pdu[at] = rng.next() as u8;
                    }
                }
                2 => {
                    // A lying length field somewhere in the stub or header.
                    let at = rng.below(pdu.len().saturating_sub(3).max(1));
                    let v = [0xff, 0xff, 0xff, 0x7f];
                    let end = (at + 4).min(pdu.len());
                    pdu[at..end].copy_from_slice(&v[..end - at]);
                }
                3 => {
                    let keep = rng.below(pdu.len() + 1);
                    pdu.truncate(keep);
                }
                4 => {
                    for _ in 0..rng.below(64) {
                        pdu.push(rng.next() as u8);
                    }
                    let n = pdu.len() as u16;
                    pdu[8..10].copy_from_slice(&n.to_le_bytes());
                }
                5 => {
                    // frag_length set at random.
                    let n = rng.next() as u16;
                    pdu[8..10].copy_from_slice(&n.to_le_bytes());
                }
                _ => {}
            }
            stream.extend_from_slice(&pdu);
        }
        // Random garbage tail now and then.
        if rng.below(4) == 0 {
            for _ in 0..rng.below(100) {
                stream.push(rng.next() as u8);
            }
        }
        // Feed in random chunks, draining with random read sizes; a Busy write is retried
        // after draining, as an engine would.
        let mut pos = 0;
        let mut stalls = 0;
        while pos < stream.len() {
            let chunk = 1 + rng.below(300);
            let end = (pos + chunk).min(stream.len());
            match p.write(src, &stream[pos..end]) {
                Ok(n) => {
                    assert!(n <= end - pos);
                    pos += n;
                    if n == 0 {
                        stalls += 1;
                    }
                }
                Err(RpcError::Busy) => stalls += 1,
                Err(RpcError::Broken) => break,
                Err(e) => panic!("{e:?}"),
            }
            answered += drain_checked(&mut p, src, rng.below(5000));
            assert!(stalls < 10_000);
        }
        answered += drain_checked(&mut p, src, 4280);
    }
    assert!(answered > 20_000, "only {answered} answers");
}

/// A share whose entry alone is larger than the largest reply.
struct Huge {
    comment: String,
}

impl ShareSource for Huge {
    fn shares(&self, f: &mut dyn FnMut(&ShareEntry<'_>)) {
        f(&ShareEntry {
            name: "big",
            comment: &self.comment,
            kind: ShareKind::Disk,
            path: "",
            max_uses: 0,
            current_uses: 0,
            flags: 0,
        });
    }
    fn server_info(&self) -> ServerInfo<'_> {
        ServerInfo::new("N", "W", &self.comment)
    }
}

#[test]
fn replies_too_big_for_the_buffer_fault() {
    let src = Huge {
        comment: "x".repeat(smb_rpc::MAX_REPLY_STUB / 2),
    };
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    for (opnum, stub) in [
        (15, share_enum_stub(1, None)),
        (16, share_get_info_stub("big", 1)),
        (21, level_stub(101)),
    ] {
        write_all(&mut p, &src, &request_pdu(2, 3, 0, opnum, &stub));
        assert_eq!(
            fault_of(&drain(&mut p, &src)).0,
            0x1c01_0013,
            "opnum {opnum}"
        );
    }
}

/// A host whose answers change between the measuring and the writing of a reply.
struct Fickle {
    calls: std::cell::Cell<u32>,
}

impl ShareSource for Fickle {
    fn shares(&self, f: &mut dyn FnMut(&ShareEntry<'_>)) {
        let n = self.calls.get();
        self.calls.set(n + 1);
        for _ in 0..=n % 3 {
            f(&ShareEntry {
                name: "s",
                comment: "",
                kind: ShareKind::Disk,
                path: "",
                max_uses: 0,
                current_uses: 0,
                flags: 0,
            });
        }
    }
    fn server_info(&self) -> ServerInfo<'_> {
        ServerInfo::new("N", "W", "")
    }
}

#[test]
fn inconsistent_host_gets_a_fault_not_garbage() {
    let src = Fickle {
        calls: std::cell::Cell::new(0),
    };
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    for call_id in 2..20 {
        write_all(
            &mut p,
            &src,
            &request_pdu(call_id, 3, 0, 15, &share_enum_stub(1, None)),
        );
        let msgs = drain(&mut p, &src);
        for m in &msgs {
            check_message(m);
        }
    }
}
