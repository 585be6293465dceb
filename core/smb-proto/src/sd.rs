//! NT security descriptors ([MS-DTYP] 2.4.6 self-relative form, 2.4.5 ACL, 2.4.4 ACE, 2.4.2 SID)
//! and the DACL access check ([MS-DTYP] 2.5.3.2). Descriptors are parsed from peer or disk
//! bytes with every offset checked, and rebuilt into caller buffers; nothing allocates.

use smb_wire::create::access;
use smb_wire::NtStatus;

/// Largest descriptor kept per file.
pub const MAX_SD: usize = 4096;

/// Security information flags ([MS-DTYP] 2.4.7).
pub mod secinfo {
    pub const OWNER: u32 = 0x1;
    pub const GROUP: u32 = 0x2;
    pub const DACL: u32 = 0x4;
    pub const SACL: u32 = 0x8;
}

const SE_DACL_PRESENT: u16 = 0x0004;
const SE_SACL_PRESENT: u16 = 0x0010;
const SE_SELF_RELATIVE: u16 = 0x8000;
const SE_DACL_PROTECTED: u16 = 0x1000;
const SE_DACL_AUTO_INHERITED: u16 = 0x0400;
const SE_SACL_PROTECTED: u16 = 0x2000;
const SE_SACL_AUTO_INHERITED: u16 = 0x0800;

const ACE_INHERIT_ONLY: u8 = 0x08;
const ACCESS_ALLOWED: u8 = 0x00;
const ACCESS_DENIED: u8 = 0x01;

/// A SID in wire form (up to 15 sub-authorities), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sid<'a>(pub &'a [u8]);

/// Well-known SIDs in wire form.
pub mod well_known {
    /// S-1-1-0 Everyone.
    pub const WORLD: &[u8] = &[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    /// S-1-5-11 Authenticated Users.
    pub const AUTHENTICATED_USERS: &[u8] = &[1, 1, 0, 0, 0, 0, 0, 5, 11, 0, 0, 0];
    /// S-1-5-32-544 BUILTIN\Administrators.
    pub const ADMINISTRATORS: &[u8] = &[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0];
    /// S-1-5-32-545 BUILTIN\Users.
    pub const USERS: &[u8] = &[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x21, 0x02, 0, 0];
    /// S-1-5-7 Anonymous.
    pub const ANONYMOUS: &[u8] = &[1, 1, 0, 0, 0, 0, 0, 5, 7, 0, 0, 0];
    /// S-1-5-32-546 BUILTIN\Guests.
    pub const GUESTS: &[u8] = &[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x22, 0x02, 0, 0];
}

/// Length of the SID at the start of `b`, checked.
fn sid_len(b: &[u8]) -> Result<usize, NtStatus> {
    if b.len() < 8 || b[0] != 1 || b[1] > 15 {
        return Err(NtStatus::INVALID_SID);
    }
    let n = 8 + 4 * usize::from(b[1]);
    if b.len() < n {
        return Err(NtStatus::INVALID_SID);
    }
    Ok(n)
}

/// A parsed self-relative descriptor: byte ranges of its parts inside the source buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Parsed<'a> {
    pub control: u16,
    pub owner: Option<&'a [u8]>,
    pub group: Option<&'a [u8]>,
    /// The whole DACL (header + ACEs) when present; `None` with DACL_PRESENT is a NULL DACL.
    pub dacl: Option<&'a [u8]>,
    pub sacl: Option<&'a [u8]>,
}

impl Parsed<'_> {
    /// The security-information flags of the parts this descriptor carries.
    pub fn present(&self) -> u32 {
        let mut f = 0;
        if self.owner.is_some() {
            f |= secinfo::OWNER;
        }
        if self.group.is_some() {
            f |= secinfo::GROUP;
        }
        if self.control & SE_DACL_PRESENT != 0 {
            f |= secinfo::DACL;
        }
        if self.control & SE_SACL_PRESENT != 0 {
            f |= secinfo::SACL;
        }
        f
    }
}

/// Checks an ACL at the start of `b` and returns it.
fn acl(b: &[u8]) -> Result<&[u8], NtStatus> {
    if b.len() < 8 || !matches!(b[0], 2 | 4) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let size = usize::from(u16::from_le_bytes([b[2], b[3]]));
    let count = usize::from(u16::from_le_bytes([b[4], b[5]]));
    if size < 8 || size > b.len() {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let mut pos = 8;
    for _ in 0..count {
        let h = b.get(pos..pos + 4).ok_or(NtStatus::INVALID_PARAMETER)?;
        let ace_size = usize::from(u16::from_le_bytes([h[2], h[3]]));
        if ace_size < 8 || pos + ace_size > size {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if matches!(h[0], ACCESS_ALLOWED | ACCESS_DENIED | 0x02 | 0x03) {
            sid_len(&b[pos + 8..pos + ace_size])?;
        }
        pos += ace_size;
    }
    Ok(&b[..size])
}

/// Parses a self-relative descriptor ([MS-DTYP] 2.4.6).
pub fn parse(b: &[u8]) -> Result<Parsed<'_>, NtStatus> {
    if b.len() < 20 || b[0] != 1 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let control = u16::from_le_bytes([b[2], b[3]]);
    if control & SE_SELF_RELATIVE == 0 {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let off = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    let part = |o: usize| -> Result<Option<&[u8]>, NtStatus> {
        if o == 0 {
            return Ok(None);
        }
        if o < 20 || o >= b.len() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        Ok(Some(&b[o..]))
    };
    let owner = match part(off(4))? {
        Some(s) => Some(&s[..sid_len(s)?]),
        None => None,
    };
    let group = match part(off(8))? {
        Some(s) => Some(&s[..sid_len(s)?]),
        None => None,
    };
    let sacl = match part(off(12))? {
        Some(a) if control & SE_SACL_PRESENT != 0 => Some(acl(a)?),
        _ => None,
    };
    let dacl = match part(off(16))? {
        Some(a) if control & SE_DACL_PRESENT != 0 => Some(acl(a)?),
        _ => None,
    };
    Ok(Parsed {
        control,
        owner,
        group,
        dacl,
        sacl,
    })
}

/// Writes a self-relative descriptor holding the parts selected by `info` into `out`;
/// returns its length.
pub fn emit(p: &Parsed<'_>, info: u32, out: &mut [u8]) -> Result<usize, NtStatus> {
    let mut control = SE_SELF_RELATIVE;
    let mut pos = 20;
    let mut put = |out: &mut [u8], bytes: &[u8], at: usize| -> Result<u32, NtStatus> {
        let end = pos + bytes.len();
        if end > out.len() {
            return Err(NtStatus::BUFFER_TOO_SMALL);
        }
        out[pos..end].copy_from_slice(bytes);
        let o = pos as u32;
        out[at..at + 4].copy_from_slice(&o.to_le_bytes());
        pos = end;
        Ok(o)
    };
    if out.len() < 20 {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    }
    out[..20].fill(0);
    out[0] = 1;
    if info & secinfo::OWNER != 0 {
        if let Some(s) = p.owner {
            put(out, s, 4)?;
        }
    }
    if info & secinfo::GROUP != 0 {
        if let Some(s) = p.group {
            put(out, s, 8)?;
        }
    }
    if info & secinfo::SACL != 0 {
        control |= p.control & (SE_SACL_PRESENT | SE_SACL_PROTECTED | SE_SACL_AUTO_INHERITED);
        if let Some(a) = p.sacl {
            put(out, a, 12)?;
        }
    }
    if info & secinfo::DACL != 0 {
        control |= p.control & (SE_DACL_PRESENT | SE_DACL_PROTECTED | SE_DACL_AUTO_INHERITED);
        if let Some(a) = p.dacl {
            put(out, a, 16)?;
        }
    }
    out[2..4].copy_from_slice(&control.to_le_bytes());
    Ok(pos)
}

/// Replaces the parts of `old` selected by `info` with those of `new`, into `out`.
pub fn merge(
    old: &Parsed<'_>,
    new: &Parsed<'_>,
    info: u32,
    out: &mut [u8],
) -> Result<usize, NtStatus> {
    let mut m = *old;
    if info & secinfo::OWNER != 0 {
        m.owner = new.owner.or(old.owner);
    }
    if info & secinfo::GROUP != 0 {
        m.group = new.group.or(old.group);
    }
    let dacl_bits = SE_DACL_PRESENT | SE_DACL_PROTECTED | SE_DACL_AUTO_INHERITED;
    if info & secinfo::DACL != 0 {
        m.dacl = new.dacl;
        // Setting the DACL without DACL_PRESENT stores a NULL DACL (full access), which is
        // reported as present and empty, as Windows does.
        m.control = (m.control & !dacl_bits) | (new.control & dacl_bits) | SE_DACL_PRESENT;
    }
    let sacl_bits = SE_SACL_PRESENT | SE_SACL_PROTECTED | SE_SACL_AUTO_INHERITED;
    if info & secinfo::SACL != 0 {
        m.sacl = new.sacl;
        m.control = (m.control & !sacl_bits) | (new.control & sacl_bits);
    }
    emit(
        &m,
        secinfo::OWNER | secinfo::GROUP | secinfo::DACL | secinfo::SACL,
        out,
    )
}

/// The descriptor of a file that has none stored: owned by `owner` (the asking user: smbed
/// does not record owners of files it did not give a descriptor), group Users, and a DACL
/// granting Everyone `everyone_mask` (access is governed by the share settings).
pub fn default_sd(everyone_mask: u32, owner: &[u8], out: &mut [u8; 128]) -> usize {
    let mut dacl = [0u8; 28];
    dacl[0] = 2;
    dacl[2..4].copy_from_slice(&28u16.to_le_bytes());
    dacl[4..6].copy_from_slice(&1u16.to_le_bytes());
    dacl[8] = ACCESS_ALLOWED;
    dacl[10..12].copy_from_slice(&20u16.to_le_bytes());
    dacl[12..16].copy_from_slice(&everyone_mask.to_le_bytes());
    dacl[16..28].copy_from_slice(well_known::WORLD);
    let p = Parsed {
        control: SE_SELF_RELATIVE | SE_DACL_PRESENT,
        owner: Some(owner),
        group: Some(well_known::USERS),
        dacl: Some(&dacl),
        sacl: None,
    };
    emit(&p, secinfo::OWNER | secinfo::GROUP | secinfo::DACL, out).unwrap_or(0)
}

const OBJECT_INHERIT: u8 = 0x01;
const CONTAINER_INHERIT: u8 = 0x02;
const NO_PROPAGATE: u8 = 0x04;
const INHERITED: u8 = 0x10;
/// S-1-3-0 CREATOR OWNER.
const CREATOR_OWNER: &[u8] = &[1, 1, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0];

/// The descriptor a new file or directory inherits from its parent's DACL
/// ([MS-DTYP] 2.5.3.4, simplified: DACL only, CREATOR OWNER mapped to `owner`). Returns 0 when
/// the parent has no inheritable ACE (the new object then has no stored descriptor).
pub fn inherit(parent: &Parsed<'_>, is_dir: bool, owner: &[u8], out: &mut [u8]) -> usize {
    let Some(pd) = parent.dacl else { return 0 };
    let mut acl = [0u8; MAX_SD];
    let mut pos = 8;
    let mut count = 0u16;
    let n = usize::from(u16::from_le_bytes([pd[4], pd[5]]));
    let mut at = 8;
    for _ in 0..n {
        let Some(h) = pd.get(at..at + 8) else { break };
        let size = usize::from(u16::from_le_bytes([h[2], h[3]]));
        let Some(ace) = pd.get(at..at + size) else {
            break;
        };
        at += size.max(8);
        let flags = ace[1];
        let applies = if is_dir {
            flags & (CONTAINER_INHERIT | OBJECT_INHERIT) != 0
        } else {
            flags & OBJECT_INHERIT != 0
        };
        if !applies || size < 8 {
            continue;
        }
        let new_flags = if !is_dir || flags & NO_PROPAGATE != 0 {
            INHERITED
        } else if flags & CONTAINER_INHERIT == 0 {
            // Object-inherit only: carried to grandchildren, not effective on the directory.
            (flags & (OBJECT_INHERIT | CONTAINER_INHERIT)) | INHERITED | ACE_INHERIT_ONLY
        } else {
            (flags & (OBJECT_INHERIT | CONTAINER_INHERIT)) | INHERITED
        };
        let sid = &ace[8..];
        let Ok(sl) = sid_len(sid) else { continue };
        let trustee: &[u8] = if &sid[..sl] == CREATOR_OWNER {
            owner
        } else {
            &sid[..sl]
        };
        let len = 8 + trustee.len();
        if pos + len > acl.len() {
            break;
        }
        acl[pos] = ace[0];
        acl[pos + 1] = new_flags;
        acl[pos + 2..pos + 4].copy_from_slice(&(len as u16).to_le_bytes());
        acl[pos + 4..pos + 8].copy_from_slice(&ace[4..8]);
        acl[pos + 8..pos + len].copy_from_slice(trustee);
        pos += len;
        count += 1;
    }
    if count == 0 {
        return 0;
    }
    acl[0] = 2;
    acl[2..4].copy_from_slice(&(pos as u16).to_le_bytes());
    acl[4..6].copy_from_slice(&count.to_le_bytes());
    let p = Parsed {
        control: SE_SELF_RELATIVE | SE_DACL_PRESENT | SE_DACL_AUTO_INHERITED,
        owner: Some(owner),
        group: parent.group.or(Some(well_known::USERS)),
        dacl: Some(&acl[..pos]),
        sacl: None,
    };
    emit(&p, secinfo::OWNER | secinfo::GROUP | secinfo::DACL, out).unwrap_or(0)
}

/// Maps GENERIC_* bits in an ACE mask to file rights ([MS-DTYP] 2.4.3).
fn map_generic(a: u32) -> u32 {
    crate::handle::create::map_generic(a)
}

/// The rights `token` is granted by descriptor `p` ([MS-DTYP] 2.5.3.2, simplified: no
/// privileges, no object ACEs). Owners always get READ_CONTROL and WRITE_DAC.
pub fn granted(p: &Parsed<'_>, token: &[&[u8]]) -> u32 {
    let Some(dacl) = p.dacl else {
        // No DACL (or a NULL DACL): everything is allowed.
        return access::FILE_ALL_ACCESS | access::ACCESS_SYSTEM_SECURITY;
    };
    let mut allowed = 0u32;
    let mut denied = 0u32;
    if let Some(o) = p.owner {
        if token.contains(&o) {
            allowed |= access::READ_CONTROL | access::WRITE_DAC;
        }
    }
    let count = usize::from(u16::from_le_bytes([dacl[4], dacl[5]]));
    let mut pos = 8;
    for _ in 0..count {
        let Some(h) = dacl.get(pos..pos + 8) else {
            break;
        };
        let size = usize::from(u16::from_le_bytes([h[2], h[3]]));
        let Some(ace) = dacl.get(pos..pos + size) else {
            break;
        };
        pos += size.max(8);
        if ace[1] & ACE_INHERIT_ONLY != 0 || size < 8 {
            continue;
        }
        let mask = map_generic(u32::from_le_bytes([ace[4], ace[5], ace[6], ace[7]]));
        let sid = &ace[8..];
        let Ok(n) = sid_len(sid) else { continue };
        if !token.contains(&&sid[..n]) {
            continue;
        }
        match ace[0] {
            ACCESS_ALLOWED => allowed |= mask & !denied,
            ACCESS_DENIED => denied |= mask & !allowed,
            _ => {}
        }
    }
    allowed & !denied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roundtrip_and_check() {
        let mut b = [0u8; 128];
        let n = default_sd(access::FILE_ALL_ACCESS, well_known::ADMINISTRATORS, &mut b);
        let p = parse(&b[..n]).unwrap();
        assert_eq!(p.owner, Some(well_known::ADMINISTRATORS));
        assert_eq!(granted(&p, &[well_known::WORLD]), access::FILE_ALL_ACCESS);
        assert_eq!(granted(&p, &[well_known::USERS]), 0);
        let mut out = [0u8; 128];
        let m = emit(&p, secinfo::DACL, &mut out).unwrap();
        let q = parse(&out[..m]).unwrap();
        assert!(q.owner.is_none());
        assert_eq!(q.dacl, p.dacl);
    }

    #[test]
    fn rejects_malformed() {
        let mut b = [0u8; 128];
        let n = default_sd(access::FILE_ALL_ACCESS, well_known::ADMINISTRATORS, &mut b);
        for cut in 0..n {
            let _ = parse(&b[..cut]);
        }
        let mut bad = b;
        bad[16..20].copy_from_slice(&1000u32.to_le_bytes());
        assert!(parse(&bad[..n]).is_err());
        let mut bad = b;
        bad[4..8].copy_from_slice(&(n as u32 - 2).to_le_bytes());
        assert!(parse(&bad[..n]).is_err());
        // ACE size past the ACL
        let mut bad = b;
        let dacl = u32::from_le_bytes([b[16], b[17], b[18], b[19]]) as usize;
        bad[dacl + 10..dacl + 12].copy_from_slice(&200u16.to_le_bytes());
        assert!(parse(&bad[..n]).is_err());
    }

    #[test]
    fn deny_before_allow() {
        // DACL: deny Everyone WRITE_DATA, allow Everyone ALL.
        let mut d = [0u8; 48];
        d[0] = 2;
        d[2..4].copy_from_slice(&48u16.to_le_bytes());
        d[4..6].copy_from_slice(&2u16.to_le_bytes());
        d[8] = ACCESS_DENIED;
        d[10..12].copy_from_slice(&20u16.to_le_bytes());
        d[12..16].copy_from_slice(&access::FILE_WRITE_DATA.to_le_bytes());
        d[16..28].copy_from_slice(well_known::WORLD);
        d[28] = ACCESS_ALLOWED;
        d[30..32].copy_from_slice(&20u16.to_le_bytes());
        d[32..36].copy_from_slice(&access::FILE_ALL_ACCESS.to_le_bytes());
        d[36..48].copy_from_slice(well_known::WORLD);
        let p = Parsed {
            control: SE_SELF_RELATIVE | SE_DACL_PRESENT,
            dacl: Some(&d),
            ..Default::default()
        };
        let g = granted(&p, &[well_known::WORLD]);
        assert_eq!(g & access::FILE_WRITE_DATA, 0);
        assert_ne!(g & access::FILE_READ_DATA, 0);
    }
}
