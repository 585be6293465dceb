//! Directory enumeration for [`super::PosixVfs`]: the per-node cursor behind
//! [`smb_proto::vfs::Vfs::read_dir`] and the emptiness check behind `is_empty_dir`.
//!
//! The cursor is the kernel's seek cookie (`d_off`) of the next entry not yet consumed by the
//! engine's callback, plus how many of the synthesized `.` and `..` entries were consumed.
//! Each call seeks the directory fd to the cookie and reads with `getdents64` into a buffer
//! shared by all nodes, so an entry the callback refused is read again first on the next
//! call, the order is the kernel's (stable between calls), and a call costs one `lseek` plus
//! one `getdents64` per buffer: listing a directory is linear in its size.
//!
//! Entries are skipped (never offered) when their name is not valid UTF-8 or contains `:` or
//! `\` (not representable to SMB clients), when they are not regular files or directories
//! (FIFOs, sockets, devices), and when they are symlinks that dangle or resolve outside the
//! share (or any symlink when the `openat2` fallback is active). Symlinks resolving inside the
//! share are listed with their target's metadata.

use std::mem::MaybeUninit;

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{openat, AtFlags, FileType, Mode, OFlags, RawDir, SeekFrom};
use rustix::io::Errno;
use smb_proto::vfs::{DirEntry, FileInfo};

use super::dosattr::{file_info, Meta};
use super::path::{representable, MAX_PATH_LEN};
use super::Ctx;

/// Size of the shared `getdents64` buffer.
pub const DIR_BUF_LEN: usize = 16 * 1024;

/// Where a node's enumeration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    /// How many of `.` and `..` were consumed (0..=2).
    dots: u8,
    /// Seek cookie of the first kernel entry not yet consumed (0: the start).
    cookie: u64,
}

impl Cursor {
    /// Back to the first entry.
    pub fn rewind(&mut self) {
        *self = Self::default();
    }
}

/// Enumerate the directory `fd` (at share-relative `dir_path`) from `cursor`, offering each
/// entry to `f` per the [`smb_proto::vfs::Vfs::read_dir`] protocol. `dots` computes the infos
/// of `.` and `..`, only when they are offered. Returns `Ok(true)` at the end, `Ok(false)`
/// when `f` stopped.
#[allow(clippy::too_many_arguments)]
pub fn read(
    ctx: &Ctx<'_>,
    fd: BorrowedFd<'_>,
    dir_path: &str,
    cursor: &mut Cursor,
    dots: &mut dyn FnMut() -> Result<(FileInfo, FileInfo), Errno>,
    buf: &mut [MaybeUninit<u8>],
    scratch: &mut String,
    f: &mut dyn FnMut(&DirEntry<'_>) -> bool,
) -> Result<bool, Errno> {
    if cursor.dots < 2 {
        let (dot, dotdot) = dots()?;
        if cursor.dots == 0 {
            if !f(&DirEntry {
                name: ".",
                info: dot,
            }) {
                return Ok(false);
            }
            cursor.dots = 1;
        }
        if !f(&DirEntry {
            name: "..",
            info: dotdot,
        }) {
            return Ok(false);
        }
        cursor.dots = 2;
    }

    rustix::fs::seek(fd, SeekFrom::Start(cursor.cookie))?;
    let mut raw = RawDir::new(fd, buf);
    while let Some(entry) = raw.next() {
        let entry = match entry {
            Ok(e) => e,
            Err(Errno::INTR) => continue,
            // getdents on a removed directory.
            Err(Errno::NOENT) => break,
            Err(e) => return Err(e),
        };
        let next = entry.next_entry_cookie();
        let bytes = entry.file_name().to_bytes();
        if bytes == b"." || bytes == b".." {
            cursor.cookie = next;
            continue;
        }
        let Some(name) = representable(bytes) else {
            cursor.cookie = next;
            continue;
        };
        let Some(info) = entry_info(ctx, fd, dir_path, name, scratch) else {
            cursor.cookie = next;
            continue;
        };
        if !f(&DirEntry { name, info }) {
            return Ok(false);
        }
        cursor.cookie = next;
    }
    Ok(true)
}

/// Metadata of the entry `name` of directory `dir` (at `dir_path`); `None` to skip it.
fn entry_info(
    ctx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    dir_path: &str,
    name: &str,
    scratch: &mut String,
) -> Option<FileInfo> {
    let meta = Meta::at(dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    if meta.file_type() == FileType::Symlink {
        if !ctx.resolver.follows_symlinks() {
            return None;
        }
        scratch.clear();
        if !dir_path.is_empty() {
            scratch.push_str(dir_path);
            scratch.push('/');
        }
        scratch.push_str(name);
        if scratch.len() > MAX_PATH_LEN {
            return None;
        }
        let target = ctx
            .resolver
            .open(ctx.root, scratch, OFlags::PATH, Mode::empty())
            .ok()?;
        let meta = Meta::of(target.as_fd()).ok()?;
        if !meta.is_servable() {
            return None;
        }
        let rec = ctx.record_opath(target.as_fd(), || {
            ctx.resolver
                .open(ctx.root, scratch, super::REOPEN_FLAGS, Mode::empty())
        });
        return Some(file_info(&meta, rec.as_ref(), name));
    }
    if !meta.is_servable() {
        return None;
    }
    let rec = ctx.record_by(
        || {
            let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            openat(dir, name, flags, Mode::empty())
        },
        || {
            let flags = super::REOPEN_FLAGS | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            openat(dir, name, flags, Mode::empty())
        },
    );
    Some(file_info(&meta, rec.as_ref(), name))
}

/// Whether the directory `fd` has no entries besides `.` and `..`, read with a fresh stream
/// so the node's cursor is not disturbed.
pub fn is_empty(fd: BorrowedFd<'_>) -> Result<bool, Errno> {
    let dir = openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // Enough for one maximal entry (19-byte header + 256-byte name), aligned by RawDir.
    let mut buf = [MaybeUninit::<u8>::uninit(); 1024];
    let mut raw = RawDir::new(dir.as_fd(), &mut buf);
    while let Some(entry) = raw.next() {
        match entry {
            Ok(e) => {
                let name = e.file_name().to_bytes();
                if name != b"." && name != b".." {
                    return Ok(false);
                }
            }
            Err(Errno::INTR) => continue,
            Err(Errno::NOENT) => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
