//! Mapping of POSIX `errno` values to NTSTATUS codes for [`super::PosixVfs`].
//!
//! [`map`] is the general table. A few errno values mean different things depending on the
//! call that produced them (`ENOTDIR` while walking a path is a missing parent, `EXDEV` from
//! `openat2(RESOLVE_BENEATH)` is an escape attempt while from `rename` it is a cross-device
//! move); the callers handle those before falling back to [`map`].

use rustix::io::Errno;
use smb_wire::NtStatus;

/// Map an errno from any file system call to the closest NTSTATUS.
pub fn map(e: Errno) -> NtStatus {
    match e {
        Errno::NOENT => NtStatus::OBJECT_NAME_NOT_FOUND,
        Errno::NOTDIR => NtStatus::OBJECT_PATH_NOT_FOUND,
        Errno::EXIST => NtStatus::OBJECT_NAME_COLLISION,
        Errno::ACCESS | Errno::PERM => NtStatus::ACCESS_DENIED,
        // EXDEV from openat2(RESOLVE_BENEATH) means the lookup tried to leave the share; ELOOP
        // means a symlink we refuse to follow (O_NOFOLLOW, fallback walk) or a symlink loop.
        Errno::XDEV | Errno::LOOP => NtStatus::ACCESS_DENIED,
        // A read-only fd used for writing, or an fd that is not what the call needs.
        Errno::BADF => NtStatus::ACCESS_DENIED,
        Errno::NOSPC => NtStatus::DISK_FULL,
        Errno::DQUOT => NtStatus::DISK_QUOTA_EXCEEDED,
        Errno::ISDIR => NtStatus::FILE_IS_A_DIRECTORY,
        Errno::NOTEMPTY => NtStatus::DIRECTORY_NOT_EMPTY,
        Errno::NAMETOOLONG => NtStatus::NAME_TOO_LONG,
        Errno::ROFS => NtStatus::MEDIA_WRITE_PROTECTED,
        Errno::MFILE | Errno::NFILE => NtStatus::TOO_MANY_OPENED_FILES,
        Errno::FBIG => NtStatus::FILE_TOO_LARGE,
        Errno::IO => NtStatus::IO_DEVICE_ERROR,
        Errno::NOMEM => NtStatus::NO_MEMORY,
        Errno::BUSY | Errno::TXTBSY => NtStatus::SHARING_VIOLATION,
        Errno::INVAL => NtStatus::INVALID_PARAMETER,
        Errno::NOTSUP | Errno::NOSYS => NtStatus::NOT_SUPPORTED,
        Errno::STALE => NtStatus::FILE_DELETED,
        Errno::NODEV | Errno::NXIO => NtStatus::NO_SUCH_DEVICE,
        _ => NtStatus::INTERNAL_ERROR,
    }
}

/// Map an errno from `renameat`/`renameat2` itself (the parent directories are already open).
pub fn map_rename(e: Errno) -> NtStatus {
    match e {
        // RENAME_NOREPLACE on an existing target, or a directory onto a non-empty directory.
        Errno::EXIST | Errno::NOTEMPTY => NtStatus::OBJECT_NAME_COLLISION,
        // A file onto a directory, or a directory onto a file.
        Errno::ISDIR | Errno::NOTDIR => NtStatus::ACCESS_DENIED,
        // Source and target are on different mounts inside the share.
        Errno::XDEV => NtStatus::NOT_SAME_DEVICE,
        // A directory into its own subtree.
        Errno::INVAL => NtStatus::INVALID_PARAMETER,
        Errno::BUSY => NtStatus::ACCESS_DENIED,
        _ => map(e),
    }
}

/// Map an errno from `unlinkat`/`rmdir`.
pub fn map_unlink(e: Errno) -> NtStatus {
    match e {
        // rmdir(2) may report a non-empty directory as EEXIST.
        Errno::NOTEMPTY | Errno::EXIST => NtStatus::DIRECTORY_NOT_EMPTY,
        Errno::BUSY => NtStatus::ACCESS_DENIED,
        _ => map(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(map(Errno::NOENT), NtStatus::OBJECT_NAME_NOT_FOUND);
        assert_eq!(map(Errno::NOTDIR), NtStatus::OBJECT_PATH_NOT_FOUND);
        assert_eq!(map(Errno::EXIST), NtStatus::OBJECT_NAME_COLLISION);
        assert_eq!(map(Errno::ACCESS), NtStatus::ACCESS_DENIED);
        assert_eq!(map(Errno::PERM), NtStatus::ACCESS_DENIED);
        assert_eq!(map(Errno::XDEV), NtStatus::ACCESS_DENIED);
        assert_eq!(map(Errno::LOOP), NtStatus::ACCESS_DENIED);
        assert_eq!(map(Errno::NOSPC), NtStatus::DISK_FULL);
        assert_eq!(map(Errno::DQUOT), NtStatus::DISK_QUOTA_EXCEEDED);
        assert_eq!(map(Errno::ISDIR), NtStatus::FILE_IS_A_DIRECTORY);
        assert_eq!(map(Errno::NOTEMPTY), NtStatus::DIRECTORY_NOT_EMPTY);
        assert_eq!(map(Errno::NAMETOOLONG), NtStatus::NAME_TOO_LONG);
        assert_eq!(map(Errno::ROFS), NtStatus::MEDIA_WRITE_PROTECTED);
        assert_eq!(map(Errno::MFILE), NtStatus::TOO_MANY_OPENED_FILES);
        assert_eq!(map(Errno::NFILE), NtStatus::TOO_MANY_OPENED_FILES);
        assert_eq!(map(Errno::FBIG), NtStatus::FILE_TOO_LARGE);
        assert_eq!(map(Errno::IO), NtStatus::IO_DEVICE_ERROR);
        assert_eq!(map(Errno::PIPE), NtStatus::INTERNAL_ERROR);
        assert_eq!(map_rename(Errno::EXIST), NtStatus::OBJECT_NAME_COLLISION);
        assert_eq!(map_rename(Errno::XDEV), NtStatus::NOT_SAME_DEVICE);
        assert_eq!(map_unlink(Errno::EXIST), NtStatus::DIRECTORY_NOT_EMPTY);
    }
}
