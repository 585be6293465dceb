//! Whole conversations on a pipe, checked byte for byte or field by field.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use smb_rpc::{Pipe, PipeKind, RpcError};

/// smbclient -L: bind srvsvc, NetrShareEnum level 1. Both answers are compared with bytes
/// written out by hand from [C706] and [MS-SRVS].
#[test]
fn smbclient_share_enum_transcript() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));

    write_all(&mut p, &src, &simple_bind(1, SRVSVC));
    let ack = drain(&mut p, &src);
    #[rustfmt::skip]
    let want_ack: Vec<u8> = [
        &[5u8, 0, 12, 3, 0x10, 0, 0, 0, 68, 0, 0, 0, 1, 0, 0, 0][..], // header, frag_len 68
        &[0xb8, 0x10, 0xb8, 0x10],                                     // max xmit/recv 4280
        &[0xf0, 0x53, 0, 0],                                           // assoc group
        &[13, 0], b"\\PIPE\\srvsvc\0", &[0],                           // sec_addr, pad to 40
        &[1, 0, 0, 0],                                                 // one result
        &[0, 0, 0, 0], &NDR.0, &[2, 0, 0, 0],                          // accepted, NDR v2
    ].concat();
    assert_eq!(ack, [want_ack]);

    write_all(
        &mut p,
        &src,
        &request_pdu(2, 3, 0, 15, &share_enum_stub(1, Some(0))),
    );
    let resp = drain(&mut p, &src);
    let mut stub = Vec::new();
    for x in [1u32, 1, 0x20000, 2, 0x20004, 2] {
        le32(&mut stub, x);
    }
    for x in [0x20008u32, 0x8000_0003, 0x2000c, 0x20010, 0, 0x20014] {
        le32(&mut stub, x);
    }
    for s in ["IPC$", "IPC Service (nas)", "data", "Data"] {
        let n = s.len() as u32 + 1;
        for x in [n, 0, n] {
            le32(&mut stub, x);
        }
        for c in s.bytes() {
            stub.extend_from_slice(&[c, 0]);
        }
        stub.extend_from_slice(&[0, 0]);
        while !stub.len().is_multiple_of(4) {
            stub.push(0); // our padding is zeros
        }
    }
    for x in [2u32, 0x20018, 0, 0] {
        le32(&mut stub, x); // TotalEntries, ResumeHandle ptr + value, WERR_OK
    }
    let mut want = header(2, 3, 2);
    le32(&mut want, stub.len() as u32); // alloc_hint
    want.extend_from_slice(&[0, 0, 0, 0]); // ctx 0, cancel 0, reserved
    want.extend_from_slice(&stub);
    assert_eq!(resp, [finish(want)]);
    assert_eq!(p.read(&src, &mut [0; 8]), Err(RpcError::Empty));
}

#[test]
fn windows_style_bind_with_ndr64_and_feature_negotiation() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    let bind = bind_pdu(
        11,
        2,
        (5840, 5840),
        &[
            (0, SRVSVC, &[NDR]),
            (1, SRVSVC, &[NDR64]),
            (2, SRVSVC, &[BTFN]),
        ],
    );
    write_all(&mut p, &src, &bind);
    let ack = drain(&mut p, &src).pop().unwrap();
    assert_eq!(ack[2], 12);
    assert_eq!((u16_at(&ack, 16), u16_at(&ack, 18)), (4280, 4280));
    assert_eq!(ack[40], 3);
    let r = |i: usize| (u16_at(&ack, 44 + 24 * i), u16_at(&ack, 46 + 24 * i));
    assert_eq!(r(0), (0, 0));
    assert_eq!(&ack[48..68], &[&NDR.0[..], &[2, 0, 0, 0]].concat()[..]);
    assert_eq!(r(1), (2, 2)); // provider rejection, transfer syntaxes not supported
    assert_eq!(&ack[72..92], &[0; 20]);
    assert_eq!(r(2), (3, 2)); // negotiate_ack, KeepConnectionOnOrphan only
    assert_eq!(ack.len(), 44 + 3 * 24);
    // The accepted context works; the rejected one does not.
    let stub = call(&mut p, &src, 3, 15, &share_enum_stub(1, None));
    assert_eq!(decode_share_enum(&stub, 1).0.len(), 2);
    write_all(
        &mut p,
        &src,
        &request_pdu(4, 3, 1, 15, &share_enum_stub(1, None)),
    );
    assert_eq!(fault_of(&drain(&mut p, &src)), (0x1c01_0003, 0x23));
}

#[test]
fn ndr64_only_is_rejected_and_unknown_interface_too() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    let bind = bind_pdu(
        11,
        1,
        (4280, 4280),
        &[(0, SRVSVC, &[NDR64]), (1, WKSSVC, &[NDR])],
    );
    write_all(&mut p, &src, &bind);
    let ack = drain(&mut p, &src).pop().unwrap();
    assert_eq!(ack[2], 12);
    assert_eq!((u16_at(&ack, 44), u16_at(&ack, 46)), (2, 2));
    assert_eq!((u16_at(&ack, 68), u16_at(&ack, 70)), (2, 1)); // abstract syntax not supported
    write_all(
        &mut p,
        &src,
        &request_pdu(2, 3, 0, 15, &share_enum_stub(1, None)),
    );
    assert_eq!(fault_of(&drain(&mut p, &src)).0, 0x1c01_0003);
    // alter_context can add the NDR context afterwards.
    let alter = bind_pdu(14, 3, (4280, 4280), &[(0, SRVSVC, &[NDR64, NDR])]);
    write_all(&mut p, &src, &alter);
    let resp = drain(&mut p, &src).pop().unwrap();
    assert_eq!(resp[2], 15);
    assert_eq!(u16_at(&resp, 24), 0, "alter_context_resp has no sec_addr");
    assert_eq!(resp[28], 1);
    assert_eq!((u16_at(&resp, 32), u16_at(&resp, 34)), (0, 0));
    let stub = call(&mut p, &src, 4, 15, &share_enum_stub(0, None));
    let (got, total, resume, status) = decode_share_enum(&stub, 0);
    assert_eq!((got.len(), total, resume, status), (2, 2, None, 0));
}

#[test]
fn second_bind_is_refused_and_ends_the_association() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    write_all(&mut p, &src, &simple_bind(2, SRVSVC));
    let nak = drain(&mut p, &src);
    assert_eq!(
        nak,
        [vec![
            5, 0, 13, 3, 0x10, 0, 0, 0, 24, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 5, 0, 0, 0, 0
        ]]
    );
    assert!(p.is_broken());
    assert_eq!(
        p.write(&src, &simple_bind(3, SRVSVC)),
        Err(RpcError::Broken)
    );
    assert_eq!(p.read(&src, &mut [0; 8]), Err(RpcError::Broken));
    // A reset slot starts over.
    p.reset(PipeKind::Wkssvc);
    bind(&mut p, &src, WKSSVC);
}

#[test]
fn bind_with_auth_or_bad_version_is_nakked() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    let mut b = simple_bind(1, SRVSVC);
    b.extend_from_slice(&[10, 2, 0, 0, 1, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd]); // NTLMSSP trailer
    let n = b.len() as u16;
    b[8..10].copy_from_slice(&n.to_le_bytes());
    b[10] = 4;
    write_all(&mut p, &src, &b);
    assert_eq!(u16_at(&drain(&mut p, &src)[0], 16), 8);

    p.reset(PipeKind::Srvsvc);
    let mut b = simple_bind(1, SRVSVC);
    b[0] = 4;
    write_all(&mut p, &src, &b);
    let nak = drain(&mut p, &src).pop().unwrap();
    assert_eq!((nak[2], u16_at(&nak, 16)), (13, 4));
}

#[test]
fn requests_before_bind_and_unknown_opnums() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    write_all(
        &mut p,
        &src,
        &request_pdu(1, 3, 0, 15, &share_enum_stub(1, None)),
    );
    assert_eq!(fault_of(&drain(&mut p, &src)), (0x1c01_000b, 0x23));
    assert!(p.is_broken());

    p.reset(PipeKind::Srvsvc);
    bind(&mut p, &src, SRVSVC);
    write_all(&mut p, &src, &request_pdu(2, 3, 0, 31, &[0; 8]));
    assert_eq!(fault_of(&drain(&mut p, &src)), (0x1c01_0002, 0x23));
    // Still usable after a per-call fault.
    write_all(&mut p, &src, &request_pdu(3, 3, 0, 15, &[1, 2, 3]));
    assert_eq!(fault_of(&drain(&mut p, &src)), (0x6f7, 0x03));
    let stub = call(&mut p, &src, 4, 15, &share_enum_stub(1, None));
    assert_eq!(decode_share_enum(&stub, 1).3, 0);
}

#[test]
fn share_enum_levels() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    let stub = call(&mut p, &src, 2, 15, &share_enum_stub(2, None));
    let (got, ..) = decode_share_enum(&stub, 2);
    assert_eq!(
        got,
        [
            Got {
                name: "IPC$".into(),
                kind: Some(0x8000_0003),
                remark: Some("IPC Service (nas)".into()),
                path: Some(String::new())
            },
            Got {
                name: "data".into(),
                kind: Some(0),
                remark: Some("Data".into()),
                path: Some("C:\\data".into())
            },
        ]
    );
    // 501, 502 and 503 round out the container levels; sizes follow the IDL.
    for (level, fixed) in [(501u32, 16usize), (502, 40), (503, 44)] {
        let stub = call(&mut p, &src, 3, 15, &share_enum_stub(level, None));
        assert_eq!(u32_at(&stub, 0), level);
        assert_eq!(u32_at(&stub, 12), 2);
        let strings_at = 24 + 2 * fixed;
        assert_eq!(
            u32_at(&stub, strings_at),
            5,
            "level {level}: first string is IPC$"
        );
        assert_eq!(u32_at(&stub, stub.len() - 4), 0);
    }
    // An undefined level: ERROR_INVALID_LEVEL and no container.
    let stub = call(&mut p, &src, 4, 15, &share_enum_stub(7, Some(0)));
    assert_eq!(
        stub,
        [7, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 124, 0, 0, 0]
    );
    // The discriminant must match the level.
    let mut bad = share_enum_stub(1, None);
    bad[32] = 2;
    write_all(&mut p, &src, &request_pdu(5, 3, 0, 15, &bad));
    assert_eq!(fault_of(&drain(&mut p, &src)).0, 0x6f7);
}

#[test]
fn unprivileged_callers_get_no_paths() {
    let mut src = Shares::small();
    src.privileged = false;
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    let stub = call(&mut p, &src, 2, 15, &share_enum_stub(2, None));
    let (got, _, _, status) = decode_share_enum(&stub, 2);
    assert_eq!((got.len(), status), (0, 5));
    let stub = call(&mut p, &src, 3, 16, &share_get_info_stub("data", 502));
    assert_eq!(stub, [0xf6, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0]);
}

#[test]
fn share_get_info() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    // Level 1, name matched case-insensitively.
    let stub = call(&mut p, &src, 2, 16, &share_get_info_stub("DATA", 1));
    let mut r = Rd::new(&stub);
    assert_eq!(r.u32(), 1);
    assert_ne!(r.u32(), 0);
    assert_ne!(r.u32(), 0);
    assert_eq!(r.u32(), 0);
    assert_ne!(r.u32(), 0);
    assert_eq!(r.wstr(), "data");
    assert_eq!(r.wstr(), "Data");
    assert_eq!(r.u32(), 0);
    r.done();
    // Level 1005: the flags.
    let stub = call(&mut p, &src, 3, 16, &share_get_info_stub("ipc$", 1005));
    assert_eq!(stub, [0xed, 3, 0, 0, 0, 0, 2, 0, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    // Unknown share and unknown level.
    let stub = call(&mut p, &src, 4, 16, &share_get_info_stub("nope", 1));
    assert_eq!(stub, [1, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x09, 0, 0]);
    let stub = call(&mut p, &src, 5, 16, &share_get_info_stub("data", 1501));
    assert_eq!(stub, [0xdd, 5, 0, 0, 0, 0, 0, 0, 124, 0, 0, 0]);
    // Levels 0, 2, 501, 502, 503, 1004, 1006 all answer.
    for level in [0u32, 2, 501, 502, 503, 1004, 1006] {
        let stub = call(&mut p, &src, 6, 16, &share_get_info_stub("data", level));
        assert_eq!(u32_at(&stub, 0), level);
        assert_ne!(u32_at(&stub, 4), 0);
        assert_eq!(u32_at(&stub, stub.len() - 4), 0, "level {level}");
    }
}

#[test]
fn server_and_workstation_info() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    let stub = call(&mut p, &src, 2, 21, &level_stub(101));
    let mut r = Rd::new(&stub);
    assert_eq!(r.u32(), 101);
    assert_ne!(r.u32(), 0);
    assert_eq!(r.u32(), 500);
    assert_ne!(r.u32(), 0);
    assert_eq!((r.u32(), r.u32()), (10, 0));
    assert_eq!(r.u32(), 0x9803);
    assert_ne!(r.u32(), 0);
    assert_eq!(r.wstr(), "NAS");
    assert_eq!(r.wstr(), "smbed nas");
    assert_eq!(r.u32(), 0);
    r.done();
    let stub = call(&mut p, &src, 3, 21, &level_stub(100));
    assert_eq!(stub.len(), 4 + 4 + 4 + 4 + 12 + 8 + 4);
    let stub = call(&mut p, &src, 4, 21, &level_stub(102));
    assert_eq!(u32_at(&stub, stub.len() - 4), 0);
    let stub = call(&mut p, &src, 5, 21, &level_stub(503));
    assert_eq!(stub, [0xf7, 1, 0, 0, 0, 0, 0, 0, 124, 0, 0, 0]);

    let mut w: Box<Pipe> = Box::new(Pipe::new(PipeKind::Wkssvc));
    let ack = bind(&mut w, &src, WKSSVC);
    assert_eq!(&ack[26..39], b"\\PIPE\\wkssvc\0");
    let stub = call(&mut w, &src, 2, 0, &level_stub(100));
    let mut r = Rd::new(&stub);
    assert_eq!(r.u32(), 100);
    assert_ne!(r.u32(), 0);
    assert_eq!(r.u32(), 500);
    assert_ne!(r.u32(), 0);
    assert_ne!(r.u32(), 0);
    assert_eq!((r.u32(), r.u32()), (10, 0));
    assert_eq!(r.wstr(), "NAS");
    assert_eq!(r.wstr(), "WORKGROUP");
    assert_eq!(r.u32(), 0);
    r.done();
    let stub = call(&mut w, &src, 3, 0, &level_stub(102));
    assert_eq!(stub, [102, 0, 0, 0, 0, 0, 0, 0, 124, 0, 0, 0]);
    write_all(&mut w, &src, &request_pdu(4, 3, 0, 15, &level_stub(100)));
    assert_eq!(fault_of(&drain(&mut w, &src)).0, 0x1c01_0002);
    // srvsvc is not served on the wkssvc pipe.
    let mut w2: Box<Pipe> = Box::new(Pipe::new(PipeKind::Wkssvc));
    write_all(&mut w2, &src, &simple_bind(1, SRVSVC));
    let ack = drain(&mut w2, &src).pop().unwrap();
    assert_eq!((u16_at(&ack, 44), u16_at(&ack, 46)), (2, 1));
}

#[test]
fn big_endian_client() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    // A bind and a NetrShareGetInfo with drep 00 00 00 00: every integer big-endian.
    let mut b = vec![5, 0, 11, 3, 0, 0, 0, 0, 0, 72, 0, 0, 0, 0, 0, 1];
    b.extend_from_slice(&[0x10, 0xb8, 0x10, 0xb8, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0]);
    b.extend_from_slice(&[0x4b, 0x32, 0x4f, 0xc8, 0x16, 0x70, 0x01, 0xd3]);
    b.extend_from_slice(&SRVSVC.0[8..]);
    b.extend_from_slice(&[0, 0, 0, 3]);
    b.extend_from_slice(&[0x8a, 0x88, 0x5d, 0x04, 0x1c, 0xeb, 0x11, 0xc9]);
    b.extend_from_slice(&NDR.0[8..]);
    b.extend_from_slice(&[0, 0, 0, 2]);
    assert_eq!(b.len(), 72);
    write_all(&mut p, &src, &b);
    let ack = drain(&mut p, &src).pop().unwrap();
    assert_eq!((ack[2], u16_at(&ack, 44)), (12, 0));
    let mut stub = vec![0, 0, 0, 0];
    stub.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 5]);
    for c in "DaTa\0".bytes() {
        stub.extend_from_slice(&[0, c]);
    }
    stub.extend_from_slice(&[0xab, 0xab, 0, 0, 0, 1]);
    let mut req = vec![5, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    req.extend_from_slice(&[0, 0, 0, stub.len() as u8, 0, 0, 0, 16]);
    req.extend_from_slice(&stub);
    req[9] = req.len() as u8;
    write_all(&mut p, &src, &req);
    let frags = drain(&mut p, &src);
    let stub = reassemble(&frags, 2, 4280);
    let mut r = Rd::new(&stub);
    assert_eq!(r.u32(), 1);
    r.u32();
    r.u32();
    assert_eq!(r.u32(), 0);
    r.u32();
    assert_eq!(r.wstr(), "data");
}

#[test]
fn fragmented_request_is_reassembled() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    let stub = share_get_info_stub("data", 1);
    let (a, rest) = stub.split_at(8);
    let (b, c) = rest.split_at(16);
    // Three fragments, each in its own write, none answered until the last.
    assert_eq!(p.write(&src, &request_pdu(7, 1, 0, 16, a)), Ok(32));
    assert_eq!(p.readable(), 0);
    write_all(&mut p, &src, &request_pdu(7, 0, 0, 16, b));
    assert_eq!(p.readable(), 0);
    write_all(&mut p, &src, &request_pdu(7, 2, 0, 16, c));
    let stub = reassemble(&drain(&mut p, &src), 7, 4280);
    assert_eq!(u32_at(&stub, stub.len() - 4), 0);
    // A middle fragment of another call id breaks the association.
    write_all(&mut p, &src, &request_pdu(8, 1, 0, 16, a));
    write_all(&mut p, &src, &request_pdu(9, 0, 0, 16, b));
    let f = drain(&mut p, &src);
    assert_eq!(fault_of(&f).0, 0x1c01_000b);
    assert_eq!(u32_at(&f[0], 12), 8, "the fault names the call in progress");
    assert!(p.is_broken());
}

#[test]
fn pdus_split_and_joined_across_writes() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    // The bind one byte at a time.
    for b in simple_bind(1, SRVSVC) {
        assert_eq!(p.write(&src, &[b]), Ok(1));
    }
    assert_eq!(drain(&mut p, &src).len(), 1);
    // Two request fragments in one write.
    let stub = share_enum_stub(1, None);
    let (a, b) = stub.split_at(16);
    let mut both = request_pdu(2, 1, 0, 15, a);
    both.extend_from_slice(&request_pdu(2, 2, 0, 15, b));
    write_all(&mut p, &src, &both);
    let stub = reassemble(&drain(&mut p, &src), 2, 4280);
    assert_eq!(decode_share_enum(&stub, 1).0.len(), 2);
    // Two whole requests in one write: the second waits until the first reply is read.
    let r1 = request_pdu(3, 3, 0, 16, &share_get_info_stub("data", 0));
    let r2 = request_pdu(4, 3, 0, 16, &share_get_info_stub("ipc$", 0));
    let joined = [r1.clone(), r2.clone()].concat();
    assert_eq!(p.write(&src, &joined), Ok(r1.len()));
    assert_eq!(p.write(&src, &r2), Err(RpcError::Busy));
    let mut small = [0u8; 8];
    assert_eq!(p.transceive(&src, &r2, &mut small), Err(RpcError::Busy));
    reassemble(&drain(&mut p, &src), 3, 4280);
    write_all(&mut p, &src, &r2);
    reassemble(&drain(&mut p, &src), 4, 4280);
}

#[test]
fn partial_reads_and_peek() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    let req = request_pdu(2, 3, 0, 15, &share_enum_stub(1, None));
    let mut first = [0u8; 24];
    let r = p.transceive(&src, &req, &mut first).unwrap();
    assert_eq!((r.len, r.more), (24, true));
    let frag_len = u16_at(&first, 8) as usize;
    let mut peeked = [0u8; 4096];
    let pk = p.peek(&src, &mut peeked);
    assert_eq!(
        (pk.len, pk.available, pk.messages, pk.message_len),
        (frag_len - 24, frag_len - 24, 1, frag_len - 24)
    );
    let mut got = first.to_vec();
    loop {
        let mut chunk = [0u8; 10];
        let r = p.read(&src, &mut chunk).unwrap();
        got.extend_from_slice(&chunk[..r.len]);
        if !r.more {
            break;
        }
    }
    assert_eq!(got.len(), frag_len);
    assert_eq!(&got[24..], &peeked[..frag_len - 24]);
    decode_share_enum(&reassemble(&[got], 2, 4280), 1);
    assert_eq!(p.read(&src, &mut [0u8; 10]), Err(RpcError::Empty));
    assert_eq!(p.peek(&src, &mut [0u8; 4]).messages, 0);
}

/// A share list that needs many fragments, at the smallest fragment size a client can
/// negotiate and at the usual one, with the smallest and a large output buffer.
#[test]
fn large_share_list_spans_fragments() {
    let src = Shares::many(120);
    for (max, frag) in [(4280u16, 4280usize), (1024, 1432)] {
        check_large_list::<{ smb_rpc::MIN_OUT_CAPACITY }>(&src, max, frag);
        check_large_list::<{ smb_rpc::DEFAULT_OUT_CAPACITY }>(&src, max, frag);
        check_large_list::<65536>(&src, max, frag);
    }
}

fn check_large_list<const N: usize>(src: &Shares, max: u16, frag: usize) {
    {
        let mut p: Box<Pipe<N>> = Box::new(Pipe::new(PipeKind::Srvsvc));
        write_all(
            &mut p,
            src,
            &bind_pdu(11, 1, (max, max), &[(0, SRVSVC, &[NDR])]),
        );
        let ack = drain(&mut p, src).pop().unwrap();
        assert_eq!(u16_at(&ack, 16) as usize, frag);
        write_all(
            &mut p,
            src,
            &request_pdu(2, 3, 0, 15, &share_enum_stub(2, Some(0))),
        );
        let readable = p.readable();
        let mut frags = Vec::new();
        let mut buf = vec![0u8; frag];
        // No new request while the reply is unread, even between batches.
        let next = request_pdu(3, 3, 0, 15, &share_enum_stub(0, None));
        while let Ok(r) = p.read(src, &mut buf) {
            assert!(!r.more);
            frags.push(buf[..r.len].to_vec());
            if p.readable() > 0 {
                assert_eq!(p.write(src, &next), Err(RpcError::Busy));
            }
        }
        assert_eq!(readable, frags.iter().map(Vec::len).sum::<usize>());
        assert!(frags.len() > 3, "{} fragments", frags.len());
        let stub = reassemble(&frags, 2, frag);
        let (got, total, resume, status) = decode_share_enum(&stub, 2);
        assert_eq!((got.len(), total, resume, status), (121, 121, Some(0), 0));
        for (g, s) in got.iter().zip(&src.list) {
            assert_eq!(g.name, s.name);
            assert_eq!(g.remark.as_deref(), Some(&*s.comment));
            assert_eq!(g.path.as_deref(), Some(&*s.path));
        }
    }
}

/// Collects a whole enumeration, following resume handles; returns names and page count.
fn enumerate_all(p: &mut Pipe, src: &Shares, level: u32, pref_max: u32) -> (Vec<String>, u32) {
    let mut names = Vec::new();
    let mut resume = 0;
    let mut pages = 0;
    let total_all = src.list.len();
    loop {
        pages += 1;
        let mut stub = share_enum_stub(level, Some(resume));
        let n = stub.len();
        stub[n - 12..n - 8].copy_from_slice(&pref_max.to_le_bytes());
        let stub = call(p, src, pages + 1, 15, &stub);
        assert!(stub.len() <= smb_rpc::MAX_REPLY_STUB);
        let (got, total, next, status) = decode_share_enum(&stub, level);
        assert_eq!(total as usize, total_all - names.len());
        names.extend(got.into_iter().map(|g| g.name));
        match status {
            234 => resume = next.unwrap(),
            0 => {
                assert_eq!(next, Some(0));
                return (names, pages);
            }
            s => panic!("status {s}"),
        }
    }
}

/// A reply larger than MAX_REPLY_STUB comes back in pages with ERROR_MORE_DATA; so does a
/// list when the client sets PreferedMaximumLength.
#[test]
fn long_lists_are_paged() {
    let src = Shares::many(1500);
    let want: Vec<_> = src.list.iter().map(|s| s.name.clone()).collect();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    let (names, pages) = enumerate_all(&mut p, &src, 2, u32::MAX);
    assert_eq!(pages, 2);
    assert_eq!(names, want);
    // Without a resume handle the client still gets the first page and MORE_DATA.
    let stub = call(&mut p, &src, 99, 15, &share_enum_stub(2, None));
    let (got, _, next, status) = decode_share_enum(&stub, 2);
    assert!(!got.is_empty() && next.is_none() && status == 234);

    let src = Shares::many(100);
    let want: Vec<_> = src.list.iter().map(|s| s.name.clone()).collect();
    let (names, pages) = enumerate_all(&mut p, &src, 1, 1000);
    assert!(pages > 10, "{pages} pages");
    assert_eq!(names, want);
}

#[test]
fn orphaned_and_cancel_are_silent() {
    let src = Shares::small();
    let mut p: Box<Pipe> = Box::new(Pipe::new(PipeKind::Srvsvc));
    bind(&mut p, &src, SRVSVC);
    write_all(&mut p, &src, &request_pdu(5, 1, 0, 15, &[0; 8]));
    write_all(&mut p, &src, &finish(header(19, 3, 5))); // orphaned: drops call 5
    write_all(&mut p, &src, &finish(header(18, 3, 5))); // co_cancel
    assert_eq!(p.readable(), 0);
    // A fresh first fragment is fine now.
    let stub = call(&mut p, &src, 6, 15, &share_enum_stub(0, None));
    assert_eq!(decode_share_enum(&stub, 0).0.len(), 2);
    // Server-to-client PDU types are protocol errors.
    write_all(&mut p, &src, &finish(header(2, 3, 7)));
    assert_eq!(fault_of(&drain(&mut p, &src)).0, 0x1c01_000b);
}
