//! DOS attributes, creation times and [`FileInfo`] for [`super::PosixVfs`].
//!
//! POSIX has no DOS attributes and not every file system records a birth time, so both are
//! kept in the extended attribute `user.smbed`: a postcard-encoded, versioned [`DosRecord`].
//! A missing, unreadable or garbage record is treated as absent, and file systems without
//! user xattrs work without it (attributes are then derived from the mode: `ARCHIVE` for
//! files, `READONLY` when the owner has no write permission).
//!
//! Times are converted between `struct timespec` (Unix epoch) and Windows FILETIME (100 ns
//! units since 1601-01-01 UTC).

use rustix::fd::BorrowedFd;
use rustix::fs::{AtFlags, FileType, Statx, StatxFlags, XattrFlags};
use rustix::io::Errno;
use rustix::time::Timespec;
use serde::{Deserialize, Serialize};
use smb_proto::vfs::{attr, FileInfo};

/// Name of the extended attribute holding the [`DosRecord`].
pub const XATTR_NAME: &str = "user.smbed";

/// Current [`DosRecord::version`].
pub const RECORD_VERSION: u8 = 2;

/// FILETIME of the Unix epoch (1970-01-01 UTC).
pub const UNIX_EPOCH_FILETIME: u64 = 116_444_736_000_000_000;

/// What `user.smbed` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DosRecord {
    /// Always [`RECORD_VERSION`]; other versions are ignored.
    pub version: u8,
    /// DOS attributes, restricted to [`attr::SETTABLE`].
    pub attributes: u32,
    /// Creation time set by a client (FILETIME), overriding the file system's birth time.
    pub creation_time: Option<u64>,
    /// Change time set by a client (FILETIME); Linux cannot set ctime, so it is kept here.
    pub change_time: Option<u64>,
}

impl DosRecord {
    /// A record holding `attributes` and no creation time.
    pub fn new(attributes: u32) -> Self {
        Self {
            version: RECORD_VERSION,
            attributes: attributes & attr::SETTABLE,
            creation_time: None,
            change_time: None,
        }
    }

    /// Decode a record; `None` for anything that is not a current-version record.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let rec: Self = postcard::from_bytes(bytes).ok()?;
        (rec.version == RECORD_VERSION).then_some(Self {
            attributes: rec.attributes & attr::SETTABLE,
            ..rec
        })
    }
}

/// Read the record of the open file `fd`. `Ok(None)` when absent, garbage, unreadable or not
/// supported by the file system; `Err` only for errors of the fd itself (`EBADF` for `O_PATH`
/// fds on kernels that refuse xattr calls on them), so the caller can retry with a real fd.
pub fn read_record(fd: BorrowedFd<'_>) -> Result<Option<DosRecord>, Errno> {
    let mut buf = [0u8; 64];
    match rustix::fs::fgetxattr(fd, XATTR_NAME, &mut buf[..]) {
        Ok(n) => Ok(buf.get(..n).and_then(DosRecord::decode)),
        Err(Errno::BADF) => Err(Errno::BADF),
        Err(_) => Ok(None),
    }
}

/// Store `rec` on the open file `fd`. `Ok(false)` when the file system has no user xattrs.
pub fn write_record(fd: BorrowedFd<'_>, rec: &DosRecord) -> Result<bool, Errno> {
    let mut buf = [0u8; 32];
    let bytes = postcard::to_slice(rec, &mut buf).map_err(|_| Errno::INVAL)?;
    match rustix::fs::fsetxattr(fd, XATTR_NAME, bytes, XattrFlags::empty()) {
        Ok(()) => Ok(true),
        Err(Errno::NOTSUP) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the file system under `fd` (a directory) supports user xattrs.
pub fn xattrs_supported(fd: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 64];
    !matches!(
        rustix::fs::fgetxattr(fd, XATTR_NAME, &mut buf[..]),
        Err(Errno::NOTSUP)
    )
}

/// Convert a Unix time to FILETIME (0 before 1601).
pub fn filetime(sec: i64, nsec: u32) -> u64 {
    let t = i128::from(sec) * 10_000_000 + i128::from(UNIX_EPOCH_FILETIME) + i128::from(nsec / 100);
    u64::try_from(t.max(0)).unwrap_or(u64::MAX)
}

/// Convert a FILETIME to a Unix `timespec`.
pub fn timespec(ft: u64) -> Timespec {
    let rel = i128::from(ft) - i128::from(UNIX_EPOCH_FILETIME);
    let sec = rel.div_euclid(10_000_000);
    let sub = rel.rem_euclid(10_000_000);
    Timespec {
        tv_sec: i64::try_from(sec).unwrap_or(i64::MAX),
        tv_nsec: i64::try_from(sub * 100).unwrap_or(0),
    }
}

/// The metadata of an inode we use, from `statx` (or `fstatat` on kernels without it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Meta {
    pub mode: u32,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u32,
    pub size: u64,
    pub blocks: u64,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub btime: Option<(i64, u32)>,
}

impl Meta {
    fn from_statx(s: &Statx) -> Self {
        let ts = |t: &rustix::fs::StatxTimestamp| (t.tv_sec, t.tv_nsec);
        Self {
            mode: u32::from(s.stx_mode),
            dev: (u64::from(s.stx_dev_major) << 32) | u64::from(s.stx_dev_minor),
            ino: s.stx_ino,
            nlink: s.stx_nlink,
            size: s.stx_size,
            blocks: s.stx_blocks,
            atime: ts(&s.stx_atime),
            mtime: ts(&s.stx_mtime),
            ctime: ts(&s.stx_ctime),
            btime: (s.stx_mask & StatxFlags::BTIME.bits() != 0).then(|| ts(&s.stx_btime)),
        }
    }

    // Field types of `struct stat` differ between architectures.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn from_stat(s: &rustix::fs::Stat) -> Self {
        let ns = |n| u32::try_from(n).unwrap_or(0);
        Self {
            mode: s.st_mode as u32,
            dev: s.st_dev as u64,
            ino: s.st_ino as u64,
            nlink: u32::try_from(s.st_nlink).unwrap_or(u32::MAX),
            size: u64::try_from(s.st_size).unwrap_or(0),
            blocks: u64::try_from(s.st_blocks).unwrap_or(0),
            atime: (s.st_atime as i64, ns(s.st_atime_nsec as u64)),
            mtime: (s.st_mtime as i64, ns(s.st_mtime_nsec as u64)),
            ctime: (s.st_ctime as i64, ns(s.st_ctime_nsec as u64)),
            btime: None,
        }
    }

    /// Metadata of `name` in `dir` (`""` with `AT_EMPTY_PATH` in `flags`: `dir` itself).
    pub fn at(dir: BorrowedFd<'_>, name: &str, flags: AtFlags) -> Result<Self, Errno> {
        let mask = StatxFlags::BASIC_STATS | StatxFlags::BTIME;
        match rustix::fs::statx(dir, name, flags, mask) {
            Ok(s) => Ok(Self::from_statx(&s)),
            Err(Errno::NOSYS) => rustix::fs::statat(dir, name, flags).map(|s| Self::from_stat(&s)),
            Err(e) => Err(e),
        }
    }

    /// Metadata of the open fd (which may be an `O_PATH` fd).
    pub fn of(fd: BorrowedFd<'_>) -> Result<Self, Errno> {
        Self::at(fd, "", AtFlags::EMPTY_PATH)
    }

    pub fn file_type(&self) -> FileType {
        FileType::from_raw_mode(self.mode)
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Directory
    }

    /// A regular file or a directory: the only kinds the VFS opens or lists.
    pub fn is_servable(&self) -> bool {
        matches!(
            self.file_type(),
            FileType::RegularFile | FileType::Directory
        )
    }

    /// Same inode as `other`.
    pub fn same_inode(&self, other: &Self) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// Whether the owner has no write permission.
    pub fn owner_readonly(&self) -> bool {
        self.mode & 0o200 == 0
    }
}

/// DOS attributes of an object with metadata `meta`, stored record `rec` and last path
/// component `name` (`""` for the share root; `.` and `..` are never hidden).
pub fn attributes(meta: &Meta, rec: Option<&DosRecord>, name: &str) -> u32 {
    let dir = meta.is_dir();
    let mut a = match rec {
        Some(r) => r.attributes & attr::SETTABLE,
        None if dir => 0,
        None if meta.owner_readonly() => attr::ARCHIVE | attr::READONLY,
        None => attr::ARCHIVE,
    };
    if dir {
        a |= attr::DIRECTORY;
    }
    // Samba's default `hide dot files = yes`.
    if name.starts_with('.') && name != "." && name != ".." {
        a |= attr::HIDDEN;
    }
    if a == 0 {
        a = attr::NORMAL;
    }
    a
}

/// Build the [`FileInfo`] the engine sees.
pub fn file_info(meta: &Meta, rec: Option<&DosRecord>, name: &str) -> FileInfo {
    let dir = meta.is_dir();
    let ft = |t: (i64, u32)| filetime(t.0, t.1);
    let creation_time = match (rec.and_then(|r| r.creation_time), meta.btime) {
        (Some(t), _) => t,
        (None, Some(b)) => ft(b),
        (None, None) => ft(meta.mtime).min(ft(meta.ctime)),
    };
    FileInfo {
        creation_time,
        last_access_time: ft(meta.atime),
        last_write_time: ft(meta.mtime),
        // Linux cannot set ctime: a change time set by a client is kept in the record;
        // otherwise, like Samba, the write time is reported.
        change_time: rec.and_then(|r| r.change_time).unwrap_or(ft(meta.mtime)),
        end_of_file: if dir { 0 } else { meta.size },
        allocation_size: if dir {
            0
        } else {
            meta.blocks.saturating_mul(512)
        },
        attributes: attributes(meta, rec, name),
        file_id: meta.ino,
        links: meta.nlink,
        is_directory: dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_conversion() {
        assert_eq!(filetime(0, 0), UNIX_EPOCH_FILETIME);
        assert_eq!(filetime(1, 999), UNIX_EPOCH_FILETIME + 10_000_000 + 9);
        assert_eq!(filetime(-11_644_473_601, 0), 0);
        let ts = timespec(UNIX_EPOCH_FILETIME + 12_345_678);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (1, 234_567_800));
        let ts = timespec(UNIX_EPOCH_FILETIME - 1);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (-1, 999_999_900));
        let ft = 133_000_000_001_234_567;
        let ts = timespec(ft);
        assert_eq!(filetime(ts.tv_sec, u32::try_from(ts.tv_nsec).unwrap()), ft);
    }

    #[test]
    fn record_roundtrip_and_garbage() {
        let rec = DosRecord {
            creation_time: Some(42),
            ..DosRecord::new(attr::HIDDEN | attr::READONLY | attr::DIRECTORY)
        };
        assert_eq!(rec.attributes, attr::HIDDEN | attr::READONLY);
        let mut buf = [0u8; 32];
        let bytes = postcard::to_slice(&rec, &mut buf).unwrap();
        assert_eq!(DosRecord::decode(bytes), Some(rec));
        assert_eq!(DosRecord::decode(b""), None);
        assert_eq!(DosRecord::decode(b"\x02\x01\x00"), None);
        assert_eq!(DosRecord::decode(b"\x01\xff\xff\xff\xff\xff\xff"), None);
    }

    #[test]
    fn derived_attributes() {
        let file = Meta {
            mode: 0o100644,
            ..Meta::default()
        };
        let ro = Meta {
            mode: 0o100444,
            ..Meta::default()
        };
        let dir = Meta {
            mode: 0o040755,
            ..Meta::default()
        };
        assert_eq!(attributes(&file, None, "a"), attr::ARCHIVE);
        assert_eq!(attributes(&ro, None, "a"), attr::ARCHIVE | attr::READONLY);
        assert_eq!(attributes(&dir, None, "d"), attr::DIRECTORY);
        assert_eq!(attributes(&dir, None, ".d"), attr::DIRECTORY | attr::HIDDEN);
        assert_eq!(attributes(&dir, None, ".."), attr::DIRECTORY);
        let none = DosRecord::new(0);
        assert_eq!(attributes(&file, Some(&none), "a"), attr::NORMAL);
        assert_eq!(attributes(&file, Some(&none), ".a"), attr::HIDDEN);
    }
}
