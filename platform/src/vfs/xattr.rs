//! Security descriptors and client extended attributes in Linux user xattrs.
//!
//! - The NT security descriptor lives in `user.smbed.ntacl` (self-relative bytes, validated by
//!   the engine before it is stored).
//! - A client EA `NAME` is the xattr `user.NAME`, as Samba stores them, so EAs written by Samba
//!   are visible and vice versa. Names that would reach smbed's own records (`smbed*`) or
//!   Samba's (`DOSATTRIB`, `SAMBA_PAI`) are refused, so a client cannot forge them.

use std::ffi::CStr;

use rustix::fd::BorrowedFd;
use rustix::fs::XattrFlags;
use rustix::io::Errno;
use smb_wire::NtStatus;

use super::errno;

/// Where the security descriptor is kept.
pub const NTACL: &str = "user.smbed.ntacl";
const USER: &str = "user.";
/// Longest EA value accepted (the FILE_FULL_EA_INFORMATION length field is 16 bits).
const MAX_EA_VALUE: usize = 65535;

/// Reads xattr `name` into `out`; `Ok(0)` when absent or unsupported.
pub fn get(fd: BorrowedFd<'_>, name: &str, out: &mut [u8]) -> Result<usize, NtStatus> {
    match rustix::fs::fgetxattr(fd, name, out) {
        Ok(n) => Ok(n),
        Err(Errno::NODATA | Errno::NOTSUP) => Ok(0),
        Err(Errno::RANGE) => Err(NtStatus::BUFFER_TOO_SMALL),
        Err(e) => Err(errno::map(e)),
    }
}

/// Writes xattr `name`.
pub fn set(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> Result<(), NtStatus> {
    rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty()).map_err(|e| match e {
        Errno::NOTSUP => NtStatus::NOT_SUPPORTED,
        Errno::NOSPC | Errno::TOOBIG | Errno::RANGE => NtStatus::INSUFFICIENT_RESOURCES,
        e => errno::map(e),
    })
}

/// Whether a client may use EA `name` (case-insensitive reserved prefixes).
fn reserved(name: &str) -> bool {
    let starts = |p: &str| {
        name.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    starts("smbed")
        || starts("dosstream.")
        || name.eq_ignore_ascii_case("dosattrib")
        || name.eq_ignore_ascii_case("samba_pai")
}

/// Buffers for [`list_eas`] (and `stream::list`), kept by the VFS so a listing allocates only
/// when it meets a longer name list or a larger value than any before (QUERY_INFO
/// FileAllInformation lists the EAs of every file it is asked about, for their size).
#[derive(Debug, Default)]
pub struct EaBufs {
    names: Vec<u8>,
    value: Vec<u8>,
}

impl EaBufs {
    /// Lists `fd`'s extended attribute names into the name buffer (grown as needed) and calls
    /// `f` with each name that is UTF-8, as a C string in place and as `&str`, and the value
    /// buffer (at least 256 bytes) to read its value into. A file system without xattrs has
    /// none. Nothing is allocated once the buffers have grown.
    pub fn for_each_name<F>(&mut self, fd: BorrowedFd<'_>, mut f: F) -> Result<(), NtStatus>
    where
        F: FnMut(&CStr, &str, &mut Vec<u8>) -> Result<(), NtStatus>,
    {
        let (names, value) = (&mut self.names, &mut self.value);
        if names.is_empty() {
            names.resize(1024, 0);
        }
        let n = loop {
            match rustix::fs::flistxattr(fd, &mut names[..]) {
                Ok(n) => break n,
                Err(Errno::RANGE) if names.len() < 1 << 20 => names.resize(names.len() * 4, 0),
                Err(Errno::NOTSUP) => return Ok(()),
                Err(e) => return Err(errno::map(e)),
            }
        };
        if value.is_empty() {
            value.resize(256, 0);
        }
        let mut at = 0;
        while at < n {
            // Each name ends with its NUL, which makes it a C string in place (no copy).
            let Some(len) = names[at..n].iter().position(|b| *b == 0) else {
                break;
            };
            let raw = &names[at..=at + len];
            at += len + 1;
            let Ok(cname) = CStr::from_bytes_with_nul(raw) else {
                continue;
            };
            if let Ok(full) = cname.to_str() {
                f(cname, full, value)?;
            }
        }
        Ok(())
    }
}

/// Reads xattr `name` of `fd` into `value`, growing it fourfold at a time up to `max` bytes;
/// returns the value's length. `RANGE` when the value is longer than `max`.
pub fn read_growing(
    fd: BorrowedFd<'_>,
    name: &CStr,
    value: &mut Vec<u8>,
    max: usize,
) -> Result<usize, Errno> {
    loop {
        match rustix::fs::fgetxattr(fd, name, &mut value[..]) {
            Err(Errno::RANGE) if value.len() < max => {
                value.resize((value.len() * 4).min(max), 0);
            }
            r => return r,
        }
    }
}

/// Calls `f` for each client EA of `fd`.
pub fn list_eas(
    fd: BorrowedFd<'_>,
    bufs: &mut EaBufs,
    f: &mut dyn FnMut(&str, &[u8]),
) -> Result<(), NtStatus> {
    bufs.for_each_name(fd, |cname, full, value| {
        let Some(name) = full.strip_prefix(USER) else {
            return Ok(());
        };
        if name.is_empty()
            || reserved(name)
            || !smb_proto::ea::valid_name(name.as_bytes())
            || name.len() > 255
        {
            return Ok(());
        }
        match read_growing(fd, cname, value, MAX_EA_VALUE) {
            Ok(l) => f(name, &value[..l]),
            Err(Errno::NODATA | Errno::RANGE) => {}
            Err(e) => return Err(errno::map(e)),
        }
        Ok(())
    })
}

/// Sets (or, with an empty value, removes) client EA `name`. An existing EA whose name differs
/// only in case is replaced.
pub fn set_ea(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> Result<(), NtStatus> {
    if reserved(name) || !smb_proto::ea::valid_name(name.as_bytes()) || name.len() > 255 {
        return Err(NtStatus::INVALID_EA_NAME);
    }
    if value.len() > MAX_EA_VALUE {
        return Err(NtStatus::EA_TOO_LARGE);
    }
    // Remove case variants first (EA names are case-insensitive on Windows).
    let mut existing = Vec::new();
    list_eas(fd, &mut EaBufs::default(), &mut |n, _| {
        if n.eq_ignore_ascii_case(name) {
            existing.push(format!("{USER}{n}"));
        }
    })?;
    for e in existing {
        match rustix::fs::fremovexattr(fd, e.as_str()) {
            Ok(()) | Err(Errno::NODATA) => {}
            Err(e) => return Err(errno::map(e)),
        }
    }
    if value.is_empty() {
        return Ok(());
    }
    let full = format!("{USER}{name}");
    rustix::fs::fsetxattr(fd, full.as_str(), value, XattrFlags::empty()).map_err(|e| match e {
        Errno::NOTSUP => NtStatus::EAS_NOT_SUPPORTED,
        Errno::NOSPC | Errno::TOOBIG | Errno::RANGE => NtStatus::EA_TOO_LARGE,
        e => errno::map(e),
    })
}
