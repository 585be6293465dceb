//! Share-relative paths for [`super::PosixVfs`]: validation against the engine's normalization
//! contract (`smb_proto::vfs` module docs) and lookups confined to a share root.
//!
//! Confinement uses `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` relative to the share
//! root fd: symlinks inside the share that resolve inside it are followed, anything that would
//! leave it (absolute symlinks, `..` above the root, `/proc` magic links) fails with `EXDEV`
//! or `ELOOP`. On kernels without `openat2` (before 5.6, or blocked by seccomp: `ENOSYS`) the
//! lookup falls back to a component-by-component walk with `O_NOFOLLOW` that refuses every
//! symlink (`ELOOP`), which is conservative but can never escape.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{openat, openat2, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use smb_wire::NtStatus;

/// Longest share-relative path accepted, in bytes (`PATH_MAX` minus the NUL).
pub const MAX_PATH_LEN: usize = 4095;

/// Check `path` against the engine's normalization contract: no leading `/`, no empty, `.` or
/// `..` components, no NUL, `:` or `\`. The empty path (the share root) is valid.
pub fn validate(path: &str) -> Result<(), NtStatus> {
    if path.is_empty() {
        return Ok(());
    }
    if path.len() > MAX_PATH_LEN {
        return Err(NtStatus::NAME_TOO_LONG);
    }
    if path.bytes().any(|b| b == 0 || b == b':' || b == b'\\') {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(NtStatus::OBJECT_NAME_INVALID);
    }
    Ok(())
}

/// Split a valid non-empty path into its parent (possibly empty: the root) and last component.
pub fn split_parent(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((parent, leaf)) => (parent, leaf),
        None => ("", path),
    }
}

/// The last component of a valid path (empty for the root).
pub fn leaf(path: &str) -> &str {
    split_parent(path).1
}

/// Whether `name` can be shown to SMB clients as a directory entry name.
pub fn representable(name: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(name).ok()?;
    if s.is_empty() || s.contains([':', '\\']) {
        return None;
    }
    Some(s)
}

/// Confined path lookup relative to a share root.
#[derive(Debug)]
pub struct Resolver {
    /// `openat2` is usable; cleared on the first `ENOSYS`.
    openat2: Cell<bool>,
    /// The path being looked up as a C string. rustix copies a `&str` path to the stack when
    /// it is shorter than 256 bytes and allocates a `CString` otherwise; paths that deep are
    /// common on a NAS, so they are made C strings here, in a buffer kept for the purpose.
    cpath: RefCell<Vec<u8>>,
}

impl Resolver {
    /// A resolver that tries `openat2` first.
    pub fn new() -> Self {
        Self {
            openat2: Cell::new(true),
            cpath: RefCell::new(Vec::with_capacity(MAX_PATH_LEN + 1)),
        }
    }

    /// Force the `O_NOFOLLOW` walk (tests exercise the fallback with it).
    #[cfg(test)]
    pub fn force_fallback(&self) {
        self.openat2.set(false);
    }

    /// Whether lookups go through `openat2` (symlinks inside the share are followed).
    pub fn follows_symlinks(&self) -> bool {
        self.openat2.get()
    }

    /// Open the valid share-relative `path` (empty: the root itself) beneath `root` with
    /// `flags` (`O_CLOEXEC` is added). Never resolves outside `root`; an attempt is `EXDEV` or
    /// `ELOOP`. Not for `O_CREAT`: creation goes through the parent directory fd.
    pub fn open(
        &self,
        root: BorrowedFd<'_>,
        path: &str,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        let target = if path.is_empty() { "." } else { path };
        if self.openat2.get() {
            let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            // Only a failed borrow (not expected: lookups do not nest) leaves the path to rustix.
            let mut cpath = self.cpath.try_borrow_mut();
            let ctarget = match cpath.as_deref_mut() {
                Ok(buf) => {
                    buf.clear();
                    buf.extend_from_slice(target.as_bytes());
                    buf.push(0);
                    Some(CStr::from_bytes_with_nul(buf).map_err(|_| Errno::INVAL)?)
                }
                Err(_) => None,
            };
            // EAGAIN: a concurrent rename raced with a `..` inside a symlink; retry a few times.
            for _ in 0..16 {
                let r = match ctarget {
                    Some(c) => openat2(root, c, flags | OFlags::CLOEXEC, mode, resolve),
                    None => openat2(root, target, flags | OFlags::CLOEXEC, mode, resolve),
                };
                match r {
                    Err(Errno::AGAIN) | Err(Errno::INTR) => continue,
                    Err(Errno::NOSYS) => {
                        self.openat2.set(false);
                        break;
                    }
                    r => return r,
                }
            }
            if self.openat2.get() {
                return Err(Errno::AGAIN);
            }
        }
        walk(root, path, flags, mode)
    }
}

/// Whether `name` in `dir` is a symlink (not following it).
fn is_symlink(dir: BorrowedFd<'_>, name: &str) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

/// The fallback lookup: one `openat(O_NOFOLLOW)` per component, refusing every symlink.
fn walk(root: BorrowedFd<'_>, path: &str, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    if path.is_empty() {
        return openat(root, ".", flags | OFlags::CLOEXEC, mode);
    }
    let (parent, leaf) = split_parent(path);
    let mut cur: Option<OwnedFd> = None;
    if !parent.is_empty() {
        for comp in parent.split('/') {
            let dir = cur.as_ref().map_or(root, |f| f.as_fd());
            let step = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match openat(dir, comp, step, Mode::empty()) {
                Ok(fd) => cur = Some(fd),
                Err(Errno::NOTDIR | Errno::LOOP) if is_symlink(dir, comp) => {
                    return Err(Errno::LOOP)
                }
                Err(e) => return Err(e),
            }
        }
    }
    let dir = cur.as_ref().map_or(root, |f| f.as_fd());
    let fd = match openat(dir, leaf, flags | OFlags::NOFOLLOW | OFlags::CLOEXEC, mode) {
        Ok(fd) => fd,
        Err(Errno::NOTDIR | Errno::LOOP) if is_symlink(dir, leaf) => return Err(Errno::LOOP),
        Err(e) => return Err(e),
    };
    if flags.contains(OFlags::PATH) {
        // O_PATH | O_NOFOLLOW opens the symlink itself instead of failing.
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            return Err(Errno::LOOP);
        }
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        for ok in [
            "",
            "a",
            "a/b",
            "a b/c.txt",
            "\u{e9}t\u{e9}/x",
            "...",
            ".a/b.",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "/", "/a", "a/", "a//b", ".", "..", "a/..", "../a", "a/./b", "a\0b", "a:b", "a\\b",
        ] {
            assert_eq!(validate(bad), Err(NtStatus::OBJECT_NAME_INVALID), "{bad:?}");
        }
        let long = "a".repeat(MAX_PATH_LEN + 1);
        assert_eq!(validate(&long), Err(NtStatus::NAME_TOO_LONG));
    }

    #[test]
    fn split() {
        assert_eq!(split_parent("a"), ("", "a"));
        assert_eq!(split_parent("a/b/c"), ("a/b", "c"));
        assert_eq!(leaf("x/y"), "y");
        assert_eq!(leaf(""), "");
        assert_eq!(representable(b"ok"), Some("ok"));
        assert_eq!(representable(b"a:b"), None);
        assert_eq!(representable(b"a\\b"), None);
        assert_eq!(representable(b"\xff"), None);
    }
}
