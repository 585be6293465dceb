//! The server service, srvsvc ([MS-SRVS]): share enumeration and share and server
//! information, the calls behind `smbclient -L` and Explorer's view of `\\server`.
//!
//! | opnum | operation | levels |
//! |---|---|---|
//! | 15 | NetrShareEnum | 0, 1, 2, 501, 502, 503 |
//! | 16 | NetrShareGetInfo | 0, 1, 2, 501, 502, 503, 1004, 1005, 1006 |
//! | 21 | NetrServerGetInfo | 100, 101, 102 |
//!
//! Other opnums get a fault with nca_s_op_rng_error. Other levels get ERROR_INVALID_LEVEL with
//! a NULL info pointer, which is how every arm of these unions is shaped in the IDL.

use super::{werr, Reject, ServerInfo, ShareEntry, ShareSource};
use crate::ndr::{NdrError, Reader, Utf16, Writer};
use crate::pdu::{SyntaxId, Uuid};

/// srvsvc, 4b324fc8-1670-01d3-1278-5a47bf6ee188 v3.0.
pub const INTERFACE: SyntaxId = SyntaxId::new(
    Uuid::from_fields(
        0x4b32_4fc8,
        0x1670,
        0x01d3,
        [0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88],
    ),
    3,
    0,
);

/// Operation numbers served.
pub mod opnum {
    /// NetrShareEnum ([MS-SRVS] 3.1.4.8).
    pub const NETR_SHARE_ENUM: u16 = 15;
    /// NetrShareGetInfo ([MS-SRVS] 3.1.4.10).
    pub const NETR_SHARE_GET_INFO: u16 = 16;
    /// NetrServerGetInfo ([MS-SRVS] 3.1.4.17).
    pub const NETR_SERVER_GET_INFO: u16 = 21;
}

/// `MAX_PREFERRED_LENGTH`: return everything.
pub const MAX_PREFERRED_LENGTH: u32 = u32::MAX;

/// A decoded request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call<'a> {
    ShareEnum {
        level: u32,
        pref_max: u32,
        resume: Option<u32>,
    },
    ShareGetInfo {
        name: Utf16<'a>,
        level: u32,
    },
    ServerGetInfo {
        level: u32,
    },
}

/// The fields of a SHARE_INFO_* structure, in wire order. Strings are `[string] wchar_t*`;
/// `Passwd` and `SecDesc` are pointers we always send as NULL; `SecDesc` is sized by the
/// `Reserved` before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    Name,
    Type,
    Remark,
    Permissions,
    MaxUses,
    CurrentUses,
    Path,
    Passwd,
    ServerName,
    Flags,
    Reserved,
    SecDesc,
}

const L0: &[F] = &[F::Name];
const L1: &[F] = &[F::Name, F::Type, F::Remark];
const L2: &[F] = &[
    F::Name,
    F::Type,
    F::Remark,
    F::Permissions,
    F::MaxUses,
    F::CurrentUses,
    F::Path,
    F::Passwd,
];
const L501: &[F] = &[F::Name, F::Type, F::Remark, F::Flags];
const L502: &[F] = &[
    F::Name,
    F::Type,
    F::Remark,
    F::Permissions,
    F::MaxUses,
    F::CurrentUses,
    F::Path,
    F::Passwd,
    F::Reserved,
    F::SecDesc,
];
const L503: &[F] = &[
    F::Name,
    F::Type,
    F::Remark,
    F::Permissions,
    F::MaxUses,
    F::CurrentUses,
    F::Path,
    F::Passwd,
    F::ServerName,
    F::Reserved,
    F::SecDesc,
];
const L1004: &[F] = &[F::Remark];
const L1005: &[F] = &[F::Flags];
const L1006: &[F] = &[F::MaxUses];

/// SHARE_ENUM_UNION arms (the container levels).
fn enum_layout(level: u32) -> Option<&'static [F]> {
    Some(match level {
        0 => L0,
        1 => L1,
        2 => L2,
        501 => L501,
        502 => L502,
        503 => L503,
        _ => return None,
    })
}

/// SHARE_INFO arms we answer (1501, the bare security descriptor, is not among them).
fn info_layout(level: u32) -> Option<&'static [F]> {
    match level {
        1004 => Some(L1004),
        1005 => Some(L1005),
        1006 => Some(L1006),
        _ => enum_layout(level),
    }
}

/// Levels that carry the path, which Windows refuses to non-administrators.
fn admin_level(level: u32) -> bool {
    matches!(level, 2 | 502 | 503)
}

impl<'a> Call<'a> {
    /// Decodes the `[in]` parameters of `opnum`.
    pub(crate) fn parse(opnum: u16, stub: &'a [u8], le: bool) -> Result<Self, Reject> {
        let mut r = Reader::new(stub, le);
        match opnum {
            opnum::NETR_SHARE_ENUM => {
                let _server = r.unique_wstr()?;
                let level = r.u32()?;
                let tag = r.u32()?;
                if tag != level {
                    return Err(NdrError::Invalid("union discriminant differs from Level").into());
                }
                let Some(layout) = enum_layout(level) else {
                    // No arm we know: what follows is the client's guess. Answer
                    // ERROR_INVALID_LEVEL without reading further.
                    return Ok(Self::ShareEnum {
                        level,
                        pref_max: 0,
                        resume: None,
                    });
                };
                if r.ptr()? {
                    // SHARE_INFO_n_CONTAINER: clients send an empty one, but a full one is legal.
                    let entries = r.u32()?;
                    if r.ptr()? {
                        let max = r.u32()?;
                        if max != entries {
                            return Err(NdrError::Invalid("array size differs from count").into());
                        }
                        skip_share_array(&mut r, layout, max)?;
                    }
                }
                let pref_max = r.u32()?;
                let resume = if r.ptr()? { Some(r.u32()?) } else { None };
                Ok(Self::ShareEnum {
                    level,
                    pref_max,
                    resume,
                })
            }
            opnum::NETR_SHARE_GET_INFO => {
                let _server = r.unique_wstr()?;
                let name = r.wstr()?;
                let level = r.u32()?;
                Ok(Self::ShareGetInfo { name, level })
            }
            opnum::NETR_SERVER_GET_INFO => {
                let _server = r.unique_wstr()?;
                let level = r.u32()?;
                Ok(Self::ServerGetInfo { level })
            }
            _ => Err(Reject::OpRange),
        }
    }
}

/// Skips a conformant array of `count` SHARE_INFO structures whose conformance was read: the
/// fixed parts, then every non-NULL pointee in order.
fn skip_share_array(r: &mut Reader<'_>, layout: &[F], count: u32) -> Result<(), NdrError> {
    let count = usize::try_from(count).map_err(|_| NdrError::Truncated)?;
    let stride = 4 * layout.len();
    let fixed_len = count.checked_mul(stride).ok_or(NdrError::Truncated)?;
    r.align(4)?;
    let fixed = r.bytes(fixed_len)?;
    let mut scalars = Reader::new(fixed, r.little_endian());
    for _ in 0..count {
        let mut sd_len = 0u32;
        for f in layout {
            let v = scalars.u32()?;
            match f {
                F::Name | F::Remark | F::Path | F::Passwd | F::ServerName if v != 0 => {
                    r.wstr()?;
                }
                F::Reserved => sd_len = v,
                F::SecDesc if v != 0 => {
                    if r.u32()? != sd_len {
                        return Err(NdrError::Invalid("security descriptor size mismatch"));
                    }
                    let n = usize::try_from(sd_len).map_err(|_| NdrError::Truncated)?;
                    r.bytes(n)?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The info union's arm in a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnumArm {
    /// A NULL container pointer (unsupported level, access denied).
    Null,
    /// Entries `start..start + count` of the share list.
    Entries { start: usize, count: usize },
}

/// A planned response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    ShareEnum {
        level: u32,
        arm: EnumArm,
        total: u32,
        resume: Option<u32>,
        status: u32,
    },
    ShareGetInfo {
        level: u32,
        index: Option<usize>,
        status: u32,
    },
    ServerGetInfo {
        level: u32,
        ok: bool,
        status: u32,
    },
}

fn count_shares(src: &dyn ShareSource) -> usize {
    let mut n = 0usize;
    src.shares(&mut |_| n += 1);
    n
}

fn sat_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Decides the reply to `call`. For share enumeration this picks how many entries to return:
/// all of them when they fit, else as many as fit with ERROR_MORE_DATA and a resume handle.
pub(crate) fn plan(
    call: &Call<'_>,
    src: &dyn ShareSource,
    fits: &dyn Fn(usize) -> bool,
) -> Result<Reply, Reject> {
    match *call {
        Call::ShareEnum {
            level,
            pref_max,
            resume,
        } => plan_share_enum(level, pref_max, resume, src, fits),
        Call::ShareGetInfo { name, level } => {
            let (index, status) = if info_layout(level).is_none() {
                (None, werr::INVALID_LEVEL)
            } else if admin_level(level) && !src.privileged() {
                (None, werr::ACCESS_DENIED)
            } else {
                let mut i = 0usize;
                let mut found = None;
                src.shares(&mut |e| {
                    if found.is_none() && name.eq_ignore_case(e.name) {
                        found = Some(i);
                    }
                    i += 1;
                });
                match found {
                    Some(i) => (Some(i), werr::SUCCESS),
                    None => (None, werr::NET_NAME_NOT_FOUND),
                }
            };
            Ok(Reply::ShareGetInfo {
                level,
                index,
                status,
            })
        }
        Call::ServerGetInfo { level } => {
            let (ok, status) = match level {
                100 | 101 => (true, werr::SUCCESS),
                102 if src.privileged() => (true, werr::SUCCESS),
                102 => (false, werr::ACCESS_DENIED),
                _ => (false, werr::INVALID_LEVEL),
            };
            Ok(Reply::ServerGetInfo { level, ok, status })
        }
    }
}

fn plan_share_enum(
    level: u32,
    pref_max: u32,
    resume: Option<u32>,
    src: &dyn ShareSource,
    fits: &dyn Fn(usize) -> bool,
) -> Result<Reply, Reject> {
    let refuse = |status| Reply::ShareEnum {
        level,
        arm: EnumArm::Null,
        total: 0,
        resume: resume.map(|_| 0),
        status,
    };
    if enum_layout(level).is_none() {
        return Ok(refuse(werr::INVALID_LEVEL));
    }
    if admin_level(level) && !src.privileged() {
        return Ok(refuse(werr::ACCESS_DENIED));
    }
    let total = count_shares(src);
    let start = resume
        .map_or(0, |r| usize::try_from(r).unwrap_or(usize::MAX))
        .min(total);
    let remaining = total - start;
    let reply = |count: usize, status: u32| Reply::ShareEnum {
        level,
        arm: EnumArm::Entries { start, count },
        total: sat_u32(remaining),
        resume: resume.map(|_| {
            if status == werr::MORE_DATA {
                sat_u32(start + count)
            } else {
                0
            }
        }),
        status,
    };
    let size = |count: usize| {
        let mut w = Writer::counting();
        reply(count, werr::SUCCESS).encode(src, &mut w);
        w.len()
    };
    let base = size(0);
    let ok = |count: usize| {
        let s = size(count);
        fits(s) && (pref_max == MAX_PREFERRED_LENGTH || count <= 1 || s - base <= pref_max as usize)
    };
    if ok(remaining) {
        return Ok(reply(remaining, werr::SUCCESS));
    }
    // The largest count that fits: ok(lo) holds or lo == 0, ok(hi) fails.
    let (mut lo, mut hi) = (0usize, remaining);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if lo == 0 {
        // Not even one entry fits: a MORE_DATA reply with nothing in it would loop forever.
        return Err(Reject::TooBig);
    }
    Ok(reply(lo, werr::MORE_DATA))
}

/// Writes the fixed part of one SHARE_INFO structure.
fn encode_fixed(w: &mut Writer<'_>, layout: &[F], e: &ShareEntry<'_>) {
    for f in layout {
        match f {
            F::Name | F::Remark | F::Path | F::ServerName => w.ptr(true),
            F::Passwd | F::SecDesc => w.ptr(false),
            F::Type => w.u32(e.share_type()),
            F::Permissions | F::Reserved => w.u32(0),
            F::MaxUses => w.u32(e.max_uses),
            F::CurrentUses => w.u32(e.current_uses),
            F::Flags => w.u32(e.flags),
        }
    }
}

/// Writes the deferred pointees of one SHARE_INFO structure.
fn encode_deferred(w: &mut Writer<'_>, layout: &[F], e: &ShareEntry<'_>) {
    for f in layout {
        match f {
            F::Name => w.wstr(e.name),
            F::Remark => w.wstr(e.comment),
            F::Path => w.wstr(e.path),
            // shi503_servername: "*" is the default (unscoped) server name.
            F::ServerName => w.wstr("*"),
            _ => {}
        }
    }
}

fn for_range(
    src: &dyn ShareSource,
    start: usize,
    count: usize,
    f: &mut dyn FnMut(&ShareEntry<'_>),
) {
    let mut i = 0usize;
    src.shares(&mut |e| {
        if i >= start && i - start < count {
            f(e);
        }
        i += 1;
    });
}

fn encode_server_info(w: &mut Writer<'_>, level: u32, s: &ServerInfo<'_>) {
    // SERVER_INFO_100 / 101 / 102 ([MS-SRVS] 2.2.4.40-42).
    w.u32(s.platform_id);
    w.ptr(true);
    if level >= 101 {
        w.u32(s.version_major);
        w.u32(s.version_minor);
        w.u32(s.server_type);
        w.ptr(true);
    }
    if level == 102 {
        w.u32(u32::MAX); // sv102_users: unlimited
        w.u32(15); // sv102_disc: autodisconnect minutes
        w.u32(0); // sv102_hidden
        w.u32(240); // sv102_announce
        w.u32(3000); // sv102_anndelta
        w.u32(0); // sv102_licenses
        w.ptr(true);
    }
    w.wstr(s.netbios_name);
    if level >= 101 {
        w.wstr(s.comment);
    }
    if level == 102 {
        w.wstr("C:\\"); // sv102_userpath
    }
}

impl Reply {
    /// Writes the `[out]` parameters and the return value.
    pub(crate) fn encode(&self, src: &dyn ShareSource, w: &mut Writer<'_>) {
        match *self {
            Self::ShareEnum {
                level,
                arm,
                total,
                resume,
                status,
            } => {
                // SHARE_ENUM_STRUCT: Level, then the union's discriminant and arm.
                w.u32(level);
                w.u32(level);
                match (arm, enum_layout(level)) {
                    (EnumArm::Entries { start, count }, Some(layout)) => {
                        w.ptr(true);
                        w.u32(sat_u32(count)); // EntriesRead
                        w.ptr(count > 0);
                        if count > 0 {
                            w.u32(sat_u32(count)); // conformance
                            for_range(src, start, count, &mut |e| encode_fixed(w, layout, e));
                            for_range(src, start, count, &mut |e| encode_deferred(w, layout, e));
                        }
                    }
                    _ => w.ptr(false),
                }
                w.u32(total);
                match resume {
                    Some(h) => {
                        w.ptr(true);
                        w.u32(h);
                    }
                    None => w.ptr(false),
                }
                w.u32(status);
            }
            Self::ShareGetInfo {
                level,
                index,
                status,
            } => {
                w.u32(level);
                match (index, info_layout(level)) {
                    (Some(index), Some(layout)) => {
                        w.ptr(true);
                        for_range(src, index, 1, &mut |e| {
                            encode_fixed(w, layout, e);
                            encode_deferred(w, layout, e);
                        });
                    }
                    _ => w.ptr(false),
                }
                w.u32(status);
            }
            Self::ServerGetInfo { level, ok, status } => {
                w.u32(level);
                if ok {
                    w.ptr(true);
                    encode_server_info(w, level, &src.server_info());
                } else {
                    w.ptr(false);
                }
                w.u32(status);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ShareKind;
    use std::vec::Vec;

    struct Two;
    impl ShareSource for Two {
        fn shares(&self, f: &mut dyn FnMut(&ShareEntry<'_>)) {
            for (name, kind) in [("IPC$", ShareKind::Ipc), ("data", ShareKind::Disk)] {
                f(&ShareEntry {
                    name,
                    comment: "c",
                    kind,
                    path: "",
                    max_uses: u32::MAX,
                    current_uses: 0,
                    flags: 0,
                });
            }
        }
        fn server_info(&self) -> ServerInfo<'_> {
            ServerInfo::new("NAS", "WORKGROUP", "box")
        }
        fn privileged(&self) -> bool {
            false
        }
    }

    fn wstr(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        let n = s.encode_utf16().count() as u32 + 1;
        for x in [n, 0, n] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v.extend_from_slice(&[0, 0]);
        while !v.len().is_multiple_of(4) {
            v.push(0xab);
        }
        v
    }

    #[test]
    fn parse_share_enum_with_full_container() {
        // Level 1 with a container holding one entry: netname "x", type 0, remark NULL.
        let mut s = Vec::new();
        s.extend_from_slice(&0u32.to_le_bytes()); // ServerName NULL
        s.extend_from_slice(&1u32.to_le_bytes());
        s.extend_from_slice(&1u32.to_le_bytes());
        s.extend_from_slice(&0x20000u32.to_le_bytes()); // container
        s.extend_from_slice(&1u32.to_le_bytes()); // EntriesRead
        s.extend_from_slice(&0x20004u32.to_le_bytes()); // Buffer
        s.extend_from_slice(&1u32.to_le_bytes()); // conformance
        s.extend_from_slice(&0x20008u32.to_le_bytes()); // netname
        s.extend_from_slice(&0u32.to_le_bytes()); // type
        s.extend_from_slice(&0u32.to_le_bytes()); // remark NULL
        s.extend_from_slice(&wstr("x"));
        s.extend_from_slice(&0x1000u32.to_le_bytes()); // PreferedMaximumLength
        s.extend_from_slice(&0x20010u32.to_le_bytes()); // ResumeHandle
        s.extend_from_slice(&3u32.to_le_bytes());
        let c = Call::parse(opnum::NETR_SHARE_ENUM, &s, true).unwrap();
        assert!(matches!(
            c,
            Call::ShareEnum {
                level: 1,
                pref_max: 0x1000,
                resume: Some(3)
            }
        ));
        // Conformance that disagrees with EntriesRead.
        s[24] = 2;
        assert!(matches!(
            Call::parse(opnum::NETR_SHARE_ENUM, &s, true),
            Err(Reject::BadStub(NdrError::Invalid(_)))
        ));
        // Every truncation fails cleanly.
        s[24] = 1;
        for n in 0..s.len() {
            assert!(
                Call::parse(opnum::NETR_SHARE_ENUM, &s[..n], true).is_err(),
                "len {n}"
            );
        }
    }

    #[test]
    fn unknown_opnum_is_op_range() {
        assert!(matches!(Call::parse(14, &[], true), Err(Reject::OpRange)));
    }

    #[test]
    fn admin_levels_refused_when_unprivileged() {
        let fits = |_: usize| true;
        let c = Call::ShareEnum {
            level: 502,
            pref_max: u32::MAX,
            resume: None,
        };
        let r = plan(&c, &Two, &fits).unwrap();
        assert!(matches!(
            r,
            Reply::ShareEnum {
                arm: EnumArm::Null,
                status: werr::ACCESS_DENIED,
                ..
            }
        ));
        let c = Call::ServerGetInfo { level: 102 };
        let r = plan(&c, &Two, &fits).unwrap();
        assert_eq!(
            r,
            Reply::ServerGetInfo {
                level: 102,
                ok: false,
                status: werr::ACCESS_DENIED
            }
        );
        let c = Call::ShareEnum {
            level: 1,
            pref_max: u32::MAX,
            resume: None,
        };
        let r = plan(&c, &Two, &fits).unwrap();
        assert!(matches!(
            r,
            Reply::ShareEnum {
                status: werr::SUCCESS,
                total: 2,
                ..
            }
        ));
    }

    #[test]
    fn preferred_maximum_length_pages() {
        let fits = |_: usize| true;
        let c = Call::ShareEnum {
            level: 0,
            pref_max: 1,
            resume: Some(0),
        };
        let r = plan(&c, &Two, &fits).unwrap();
        assert_eq!(
            r,
            Reply::ShareEnum {
                level: 0,
                arm: EnumArm::Entries { start: 0, count: 1 },
                total: 2,
                resume: Some(1),
                status: werr::MORE_DATA
            }
        );
        let c = Call::ShareEnum {
            level: 0,
            pref_max: 1,
            resume: Some(1),
        };
        let r = plan(&c, &Two, &fits).unwrap();
        assert_eq!(
            r,
            Reply::ShareEnum {
                level: 0,
                arm: EnumArm::Entries { start: 1, count: 1 },
                total: 1,
                resume: Some(0),
                status: werr::SUCCESS
            }
        );
    }

    #[test]
    fn nothing_fits_is_too_big() {
        let fits = |n: usize| n < 40;
        let c = Call::ShareEnum {
            level: 1,
            pref_max: u32::MAX,
            resume: None,
        };
        assert_eq!(plan(&c, &Two, &fits), Err(Reject::TooBig));
    }
}
