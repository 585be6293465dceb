//! Named data streams ([MS-FSCC] 2.1.5.4) kept in user xattrs, one per stream, named
//! `user.DosStream.NAME:$DATA` like Samba's `streams_xattr`. A stream is read and rewritten as
//! a whole, so it suits what clients keep there (macOS `AFP_AfpInfo`, Windows
//! `Zone.Identifier`); its size is bounded by the file system's xattr limit (ext4 without
//! `ea_inode`: the xattrs of a file share one 4 KiB block), and a larger write is DISK_FULL.

use rustix::fd::BorrowedFd;
use rustix::fs::XattrFlags;
use rustix::io::Errno;
use smb_wire::NtStatus;

use super::errno;

const PREFIX: &str = "user.DosStream.";
const SUFFIX: &str = ":$DATA";
/// Largest stream accepted (the xattr value limit on Linux).
pub const MAX_STREAM: usize = 65536;

/// The xattr name of stream `name`.
pub fn xname(name: &str) -> String {
    format!("{PREFIX}{name}{SUFFIX}")
}

/// The stream name an xattr name (from [`xname`]) holds.
pub fn name_of(xattr: &str) -> Option<&str> {
    xattr.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)
}

/// The xattr name of the stream `name` names: an existing stream whose name matches
/// case-insensitively (Windows semantics), else `name` as spelled.
pub fn resolve(fd: BorrowedFd<'_>, name: &str) -> Result<String, NtStatus> {
    let exact = xname(name);
    if size(fd, &exact)?.is_some() {
        return Ok(exact);
    }
    let mut found = None;
    list(fd, &mut super::xattr::EaBufs::default(), &mut |n, _| {
        if found.is_none() && smb_proto::path::eq_ignore_case(n, name) {
            found = Some(xname(n));
        }
    })?;
    Ok(found.unwrap_or(exact))
}

fn map(e: Errno) -> NtStatus {
    match e {
        Errno::NOSPC | Errno::TOOBIG | Errno::RANGE => NtStatus::DISK_FULL,
        Errno::NOTSUP => NtStatus::OBJECT_NAME_INVALID,
        e => errno::map(e),
    }
}

/// The stream's size, `None` when it does not exist. (The value is read: a zero-length buffer
/// does not reliably report the size through every libc/rustix backend.)
pub fn size(fd: BorrowedFd<'_>, xn: &str) -> Result<Option<u64>, NtStatus> {
    match read_all(fd, xn) {
        Ok(v) => Ok(Some(v.len() as u64)),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The whole stream.
pub fn read_all(fd: BorrowedFd<'_>, xn: &str) -> Result<Vec<u8>, NtStatus> {
    let mut buf = vec![0u8; MAX_STREAM];
    match rustix::fs::fgetxattr(fd, xn, &mut buf[..]) {
        Ok(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        Err(Errno::NODATA) => Err(NtStatus::OBJECT_NAME_NOT_FOUND),
        Err(e) => Err(map(e)),
    }
}

/// Replaces the stream's content.
pub fn set(fd: BorrowedFd<'_>, xn: &str, data: &[u8]) -> Result<(), NtStatus> {
    if data.len() > MAX_STREAM {
        return Err(NtStatus::DISK_FULL);
    }
    rustix::fs::fsetxattr(fd, xn, data, XattrFlags::empty()).map_err(map)
}

/// Reads at `offset`.
pub fn read(fd: BorrowedFd<'_>, xn: &str, offset: u64, out: &mut [u8]) -> Result<usize, NtStatus> {
    let all = read_all(fd, xn)?;
    let Ok(start) = usize::try_from(offset) else {
        return Ok(0);
    };
    if start >= all.len() {
        return Ok(0);
    }
    let n = out.len().min(all.len() - start);
    out[..n].copy_from_slice(&all[start..start + n]);
    Ok(n)
}

/// Writes at `offset`, extending with zeros as needed.
pub fn write(fd: BorrowedFd<'_>, xn: &str, offset: u64, data: &[u8]) -> Result<usize, NtStatus> {
    let mut all = read_all(fd, xn)?;
    let start = usize::try_from(offset).map_err(|_| NtStatus::DISK_FULL)?;
    let end = start.checked_add(data.len()).ok_or(NtStatus::DISK_FULL)?;
    if end > MAX_STREAM {
        return Err(NtStatus::DISK_FULL);
    }
    if all.len() < end {
        all.resize(end, 0);
    }
    all[start..end].copy_from_slice(data);
    set(fd, xn, &all)?;
    Ok(data.len())
}

/// Truncates or extends the stream.
pub fn set_len(fd: BorrowedFd<'_>, xn: &str, len: u64) -> Result<(), NtStatus> {
    let len = usize::try_from(len).map_err(|_| NtStatus::DISK_FULL)?;
    if len > MAX_STREAM {
        return Err(NtStatus::DISK_FULL);
    }
    let mut all = read_all(fd, xn)?;
    all.resize(len, 0);
    set(fd, xn, &all)
}

/// Deletes the stream.
pub fn remove(fd: BorrowedFd<'_>, xn: &str) -> Result<(), NtStatus> {
    match rustix::fs::fremovexattr(fd, xn) {
        Ok(()) | Err(Errno::NODATA) => Ok(()),
        Err(e) => Err(map(e)),
    }
}

/// Calls `f` with each stream's name and size. The names and values are read into `bufs`
/// (kept by the VFS: QUERY_INFO FileStreamInformation, which Windows and macOS clients send
/// for most files they look at, allocates nothing once they have grown).
pub fn list(
    fd: BorrowedFd<'_>,
    bufs: &mut super::xattr::EaBufs,
    f: &mut dyn FnMut(&str, u64),
) -> Result<(), NtStatus> {
    bufs.for_each_name(fd, |cname, full, value| {
        let Some(name) = full
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_suffix(SUFFIX))
        else {
            return Ok(());
        };
        if name.is_empty() {
            return Ok(());
        }
        // The size is the value's length (read whole: see `size`).
        match super::xattr::read_growing(fd, cname, value, MAX_STREAM) {
            Ok(sz) => f(name, sz as u64),
            Err(Errno::NODATA) => {}
            Err(e) => return Err(map(e)),
        }
        Ok(())
    })
}
