//! Test helpers built independently of the crate's encoders: PDUs are assembled field by field
//! and responses decoded with a separate little NDR reader, so a test compares the crate
//! against a second reading of the specs rather than against itself.
#![allow(dead_code)]

use smb_rpc::{Pipe, RpcError, ServerInfo, ShareEntry, ShareKind, ShareSource};

/// A syntax id: UUID in little-endian wire form, and version.
pub type Syntax = ([u8; 16], u32);
/// A presentation context: id, interface, transfer syntaxes.
pub type Context<'a> = (u16, Syntax, &'a [Syntax]);

pub const SRVSVC: ([u8; 16], u32) = (
    [
        0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1,
        0x88,
    ],
    3,
);
pub const WKSSVC: ([u8; 16], u32) = (
    [
        0x98, 0xd0, 0xff, 0x6b, 0x12, 0xa1, 0x10, 0x36, 0x98, 0x33, 0x46, 0xc3, 0xf8, 0x7e, 0x34,
        0x5a,
    ],
    1,
);
pub const NDR: ([u8; 16], u32) = (
    [
        0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48,
        0x60,
    ],
    2,
);
pub const NDR64: ([u8; 16], u32) = (
    [
        0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49, 0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc,
        0x36,
    ],
    1,
);
/// Bind time feature negotiation, offering both features.
pub const BTFN: ([u8; 16], u32) = (
    [
        0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45, 3, 0, 0, 0, 0, 0, 0, 0,
    ],
    1,
);

pub struct Share {
    pub name: String,
    pub comment: String,
    pub kind: ShareKind,
    pub path: String,
}

pub struct Shares {
    pub list: Vec<Share>,
    pub privileged: bool,
}

impl Shares {
    pub fn new(list: &[(&str, &str, ShareKind)]) -> Self {
        Self {
            list: list
                .iter()
                .map(|&(n, c, kind)| Share {
                    name: n.into(),
                    comment: c.into(),
                    kind,
                    path: if kind == ShareKind::Disk {
                        format!("C:\\{n}")
                    } else {
                        String::new()
                    },
                })
                .collect(),
            privileged: true,
        }
    }

    /// `n` disk shares with long names and comments, plus IPC$.
    pub fn many(n: usize) -> Self {
        let mut s = Self::new(&[("IPC$", "IPC Service (nas)", ShareKind::Ipc)]);
        for i in 0..n {
            s.list.push(Share {
                name: format!("share{i:04}-\u{e9}t\u{e9}"),
                comment: format!("comment for share number {i} \u{1f4be}"),
                kind: ShareKind::Disk,
                path: format!("C:\\srv\\share{i:04}"),
            });
        }
        s
    }

    pub fn small() -> Self {
        Self::new(&[
            ("IPC$", "IPC Service (nas)", ShareKind::Ipc),
            ("data", "Data", ShareKind::Disk),
        ])
    }
}

impl ShareSource for Shares {
    fn shares(&self, f: &mut dyn FnMut(&ShareEntry<'_>)) {
        for s in &self.list {
            f(&ShareEntry {
                name: &s.name,
                comment: &s.comment,
                kind: s.kind,
                path: &s.path,
                max_uses: u32::MAX,
                current_uses: 1,
                flags: 0x10,
            });
        }
    }
    fn server_info(&self) -> ServerInfo<'_> {
        ServerInfo::new("NAS", "WORKGROUP", "smbed nas")
    }
    fn privileged(&self) -> bool {
        self.privileged
    }
}

pub fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
pub fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// A common header; frag_length is patched by `finish`.
pub fn header(ptype: u8, flags: u8, call_id: u32) -> Vec<u8> {
    let mut v = vec![5, 0, ptype, flags, 0x10, 0, 0, 0, 0, 0, 0, 0];
    le32(&mut v, call_id);
    v
}

pub fn finish(mut v: Vec<u8>) -> Vec<u8> {
    let n = v.len() as u16;
    v[8..10].copy_from_slice(&n.to_le_bytes());
    v
}

/// A bind (ptype 11) or alter_context (14): contexts are (id, interface, transfer syntaxes).
pub fn bind_pdu(
    ptype: u8,
    call_id: u32,
    max_frag: (u16, u16),
    contexts: &[Context<'_>],
) -> Vec<u8> {
    let mut v = header(ptype, 3, call_id);
    le16(&mut v, max_frag.0);
    le16(&mut v, max_frag.1);
    le32(&mut v, 0);
    v.extend_from_slice(&[contexts.len() as u8, 0, 0, 0]);
    for (id, iface, ts) in contexts {
        le16(&mut v, *id);
        v.extend_from_slice(&[ts.len() as u8, 0]);
        v.extend_from_slice(&iface.0);
        le32(&mut v, iface.1);
        for t in *ts {
            v.extend_from_slice(&t.0);
            le32(&mut v, t.1);
        }
    }
    finish(v)
}

pub fn simple_bind(call_id: u32, iface: ([u8; 16], u32)) -> Vec<u8> {
    bind_pdu(11, call_id, (4280, 4280), &[(0, iface, &[NDR])])
}

pub fn request_pdu(call_id: u32, flags: u8, ctx: u16, opnum: u16, stub: &[u8]) -> Vec<u8> {
    let mut v = header(0, flags, call_id);
    le32(&mut v, stub.len() as u32);
    le16(&mut v, ctx);
    le16(&mut v, opnum);
    v.extend_from_slice(stub);
    finish(v)
}

/// `[string] wchar_t*` pointee, padded to 4 with 0xab as impacket does.
pub fn ndr_wstr(v: &mut Vec<u8>, s: &str) {
    let n = s.encode_utf16().count() as u32 + 1;
    le32(v, n);
    le32(v, 0);
    le32(v, n);
    for u in s.encode_utf16() {
        le16(v, u);
    }
    le16(v, 0);
    while !v.len().is_multiple_of(4) {
        v.push(0xab);
    }
}

/// NetrShareEnum request stub: ServerName "\\nas", level, empty container, resume handle.
pub fn share_enum_stub(level: u32, resume: Option<u32>) -> Vec<u8> {
    let mut v = Vec::new();
    le32(&mut v, 0x0002_0000);
    ndr_wstr(&mut v, "\\\\nas");
    le32(&mut v, level);
    le32(&mut v, level);
    le32(&mut v, 0x0002_0004);
    le32(&mut v, 0);
    le32(&mut v, 0);
    le32(&mut v, u32::MAX);
    match resume {
        Some(h) => {
            le32(&mut v, 0x0002_0008);
            le32(&mut v, h);
        }
        None => le32(&mut v, 0),
    }
    v
}

pub fn share_get_info_stub(name: &str, level: u32) -> Vec<u8> {
    let mut v = Vec::new();
    le32(&mut v, 0);
    ndr_wstr(&mut v, name);
    le32(&mut v, level);
    v
}

pub fn level_stub(level: u32) -> Vec<u8> {
    let mut v = Vec::new();
    le32(&mut v, 0x0002_0000);
    ndr_wstr(&mut v, "nas");
    le32(&mut v, level);
    v
}

/// Writes all of `data`, asserting the pipe took it.
pub fn write_all<const N: usize>(p: &mut Pipe<N>, src: &dyn ShareSource, data: &[u8]) {
    assert_eq!(p.write(src, data), Ok(data.len()));
}

/// Reads every queued message with a large buffer.
pub fn drain<const N: usize>(p: &mut Pipe<N>, src: &dyn ShareSource) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match p.read(src, &mut buf) {
            Ok(r) => {
                assert!(!r.more);
                out.push(buf[..r.len].to_vec());
            }
            Err(RpcError::Empty | RpcError::Broken) => return out,
            Err(e) => panic!("{e:?}"),
        }
    }
}

pub fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Checks a sequence of response fragments and returns their stub.
pub fn reassemble(frags: &[Vec<u8>], call_id: u32, max_frag: usize) -> Vec<u8> {
    assert!(!frags.is_empty());
    let mut stub = Vec::new();
    let total: usize = frags.iter().map(|f| f.len() - 24).sum();
    for (i, f) in frags.iter().enumerate() {
        assert_eq!(&f[..2], &[5, 0]);
        assert_eq!(f[2], 2, "not a response: {f:02x?}");
        let flags = f[3];
        assert_eq!(flags & 1 != 0, i == 0, "FIRST flag on fragment {i}");
        assert_eq!(
            flags & 2 != 0,
            i + 1 == frags.len(),
            "LAST flag on fragment {i}"
        );
        assert_eq!(&f[4..8], &[0x10, 0, 0, 0]);
        assert_eq!(u16_at(f, 8) as usize, f.len());
        assert!(f.len() <= max_frag);
        assert_eq!(u16_at(f, 10), 0);
        assert_eq!(u32_at(f, 12), call_id);
        assert_eq!(u32_at(f, 16) as usize, total - stub.len(), "alloc_hint");
        if i + 1 < frags.len() {
            assert_eq!(
                (f.len() - 24) % 8,
                0,
                "non-last fragment stub not a multiple of 8"
            );
        }
        stub.extend_from_slice(&f[24..]);
    }
    stub
}

/// A second, independent NDR reader for response stubs.
pub struct Rd<'a> {
    pub b: &'a [u8],
    pub pos: usize,
}

impl<'a> Rd<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }
    pub fn u32(&mut self) -> u32 {
        self.pos = (self.pos + 3) & !3;
        let v = u32_at(self.b, self.pos);
        self.pos += 4;
        v
    }
    pub fn wstr(&mut self) -> String {
        let max = self.u32();
        assert_eq!(self.u32(), 0, "offset");
        let actual = self.u32();
        assert_eq!(max, actual);
        let units: Vec<u16> = (0..actual as usize)
            .map(|i| u16_at(self.b, self.pos + 2 * i))
            .collect();
        self.pos += 2 * actual as usize;
        assert_eq!(units.last(), Some(&0), "string not NUL-terminated");
        String::from_utf16(&units[..units.len() - 1]).unwrap()
    }
    pub fn done(&self) {
        assert_eq!(self.pos, self.b.len(), "trailing bytes in stub");
    }
}

/// One decoded share from an enumeration.
#[derive(Debug, PartialEq, Eq)]
pub struct Got {
    pub name: String,
    pub kind: Option<u32>,
    pub remark: Option<String>,
    pub path: Option<String>,
}

/// Decodes a NetrShareEnum response stub at level 0, 1 or 2: (entries, total, resume, status).
pub fn decode_share_enum(stub: &[u8], level: u32) -> (Vec<Got>, u32, Option<u32>, u32) {
    let mut r = Rd::new(stub);
    assert_eq!(r.u32(), level);
    assert_eq!(r.u32(), level);
    let mut got = Vec::new();
    if r.u32() != 0 {
        let n = r.u32();
        if r.u32() != 0 {
            assert_eq!(r.u32(), n);
            let mut fixed = Vec::new();
            for _ in 0..n {
                let name = r.u32();
                let (kind, remark, path) = match level {
                    0 => (None, 0, 0),
                    1 => (Some(r.u32()), r.u32(), 0),
                    2 => {
                        let k = r.u32();
                        let rm = r.u32();
                        let _perm = r.u32();
                        assert_eq!(r.u32(), u32::MAX);
                        assert_eq!(r.u32(), 1);
                        let p = r.u32();
                        assert_eq!(r.u32(), 0, "password pointer");
                        (Some(k), rm, p)
                    }
                    _ => unreachable!(),
                };
                fixed.push((name, kind, remark, path));
            }
            for (name, kind, remark, path) in fixed {
                assert_ne!(name, 0);
                let name = r.wstr();
                let remark = (remark != 0).then(|| r.wstr());
                let path = (path != 0).then(|| r.wstr());
                got.push(Got {
                    name,
                    kind,
                    remark,
                    path,
                });
            }
        } else {
            assert_eq!(n, 0);
        }
    }
    let total = r.u32();
    let resume = if r.u32() != 0 { Some(r.u32()) } else { None };
    let status = r.u32();
    r.done();
    (got, total, resume, status)
}

/// Binds `p` to `iface` and returns the bind_ack.
pub fn bind<const N: usize>(
    p: &mut Pipe<N>,
    src: &dyn ShareSource,
    iface: ([u8; 16], u32),
) -> Vec<u8> {
    write_all(p, src, &simple_bind(1, iface));
    let mut out = drain(p, src);
    assert_eq!(out.len(), 1);
    let ack = out.pop().unwrap();
    assert_eq!(ack[2], 12, "bind_ack expected: {ack:02x?}");
    ack
}

/// Sends one request and returns the reassembled response stub (or panics on a fault).
pub fn call<const N: usize>(
    p: &mut Pipe<N>,
    src: &dyn ShareSource,
    call_id: u32,
    opnum: u16,
    stub: &[u8],
) -> Vec<u8> {
    write_all(p, src, &request_pdu(call_id, 3, 0, opnum, stub));
    let frags = drain(p, src);
    reassemble(&frags, call_id, 4280)
}

/// Sends one request and returns the fault status it got.
pub fn fault_of(frags: &[Vec<u8>]) -> (u32, u8) {
    assert_eq!(frags.len(), 1);
    let f = &frags[0];
    assert_eq!(f[2], 3, "fault expected: {f:02x?}");
    assert_eq!(f.len(), 32);
    (u32_at(f, 24), f[3])
}

/// xorshift64*, for reproducible corruption.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
