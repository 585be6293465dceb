//! Real on-disk storage: one directory, files accessed with `pread`/`pwrite`,
//! made durable with `fdatasync`, preallocated with `fallocate`, directory
//! made durable with `fsync` on the directory. All syscalls go through rustix
//! (no `unsafe` here).
//!
//! The directory is locked with `flock(LOCK_EX | LOCK_NB)` for the lifetime of
//! the [`FileStorage`], so two processes cannot open one store; a killed
//! process releases the lock automatically.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FallocateFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::storage::{Storage, StorageFile};

/// A store directory on a real file system.
pub struct FileStorage {
    dir: OwnedFd,
    path: PathBuf,
}

impl FileStorage {
    /// Open (creating if needed) the directory `path` and lock it.
    pub fn open(path: impl AsRef<Path>) -> io::Result<FileStorage> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path)?;
        let dir = rfs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        match rfs::flock(&dir, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(Errno::WOULDBLOCK) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!("{}: store is in use by another process", path.display()),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        Ok(FileStorage { dir, path })
    }

    /// The directory path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn retry<T>(mut f: impl FnMut() -> rustix::io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad file name {name:?}"),
        ));
    }
    Ok(())
}

struct File {
    fd: OwnedFd,
}

impl StorageFile for File {
    fn len(&self) -> io::Result<u64> {
        let st = retry(|| rfs::fstat(&self.fd))?;
        Ok(u64::try_from(st.st_size).unwrap_or(0))
    }

    fn read_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            let n = retry(|| rustix::io::pread(&self.fd, &mut *buf, offset))?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf = &mut buf[n..];
            offset += n as u64;
        }
        Ok(())
    }

    fn write_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            let n = retry(|| rustix::io::pwrite(&self.fd, buf, offset))?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
            offset += n as u64;
        }
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        retry(|| rfs::ftruncate(&self.fd, len))
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        match retry(|| rfs::fallocate(&self.fd, FallocateFlags::empty(), 0, len)) {
            Ok(()) => Ok(()),
            // File systems without fallocate (e.g. some FUSE or vfat builds).
            Err(e) if e.raw_os_error() == Some(Errno::OPNOTSUPP.raw_os_error()) => {
                if self.len()? < len {
                    self.set_len(len)?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn sync(&self) -> io::Result<()> {
        retry(|| rfs::fdatasync(&self.fd))
    }
}

impl Storage for FileStorage {
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        check_name(name)?;
        let fd = retry(|| {
            rfs::openat(
                &self.dir,
                name,
                OFlags::RDWR | OFlags::CLOEXEC,
                Mode::empty(),
            )
        })?;
        Ok(Box::new(File { fd }))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        check_name(name)?;
        let fd = retry(|| {
            rfs::openat(
                &self.dir,
                name,
                OFlags::RDWR | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        })?;
        Ok(Box::new(File { fd }))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                if entry.file_type()?.is_file() {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        retry(|| rfs::unlinkat(&self.dir, name, AtFlags::empty()))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        check_name(from)?;
        check_name(to)?;
        retry(|| rfs::renameat(&self.dir, from, &self.dir, to))
    }

    fn sync_dir(&self) -> io::Result<()> {
        retry(|| rfs::fsync(&self.dir))
    }
}
