//! Storage abstraction: a directory of named files.
//!
//! The store needs very little from its medium: create, open, list, rename
//! and remove files in one directory, make the directory durable
//! ([`Storage::sync_dir`]), and positional reads/writes plus a data sync on
//! files. Three implementations exist: [`MemStorage`] (here), the power-cut
//! simulator [`crate::sim::CrashStorage`] and, behind the `file` feature, the
//! real `FileStorage` (pwrite / fdatasync / fallocate via rustix).
//!
//! Durability contract the store relies on (and the simulator enforces):
//! - bytes written with [`StorageFile::write_at`] are durable only after a
//!   later [`StorageFile::sync`] on that file returned `Ok`;
//! - directory changes (create, rename, remove) are durable only after a later
//!   [`Storage::sync_dir`] returned `Ok`;
//! - a crash may leave any unsynced sector of a file old, new, zeroed or
//!   garbage, but never damages a sector that was synced and not written since.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// One file of a [`Storage`].
pub trait StorageFile: Send + Sync {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Fill `buf` from `offset`; reading past the end is an `UnexpectedEof` error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Write all of `buf` at `offset`, extending the file if needed.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Truncate or extend (with zeros) to `len`.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserve space so that the file is at least `len` bytes long (new bytes
    /// read as zeros). The default is `set_len` when growing.
    fn allocate(&self, len: u64) -> io::Result<()> {
        if self.len()? < len {
            self.set_len(len)?;
        }
        Ok(())
    }
    /// Make written data (and the file size) durable: `fdatasync`.
    fn sync(&self) -> io::Result<()>;
}

/// A directory of named files.
pub trait Storage: Send + Sync {
    /// Open an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;
    /// Create a file, replacing (truncating) any existing one of that name.
    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;
    /// Names of all files.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Remove a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Atomically rename `from` to `to`, replacing `to`.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Make directory changes durable (fsync of the directory).
    fn sync_dir(&self) -> io::Result<()>;
}

impl<S: Storage + ?Sized> Storage for Box<S> {
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        (**self).open(name)
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        (**self).create(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        (**self).list()
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        (**self).remove(name)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        (**self).rename(from, to)
    }
    fn sync_dir(&self) -> io::Result<()> {
        (**self).sync_dir()
    }
}

impl<S: Storage + ?Sized> Storage for Arc<S> {
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        (**self).open(name)
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        (**self).create(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        (**self).list()
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        (**self).remove(name)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        (**self).rename(from, to)
    }
    fn sync_dir(&self) -> io::Result<()> {
        (**self).sync_dir()
    }
}

fn poisoned<T>(_: PoisonError<T>) -> io::Error {
    io::Error::other("storage lock poisoned")
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{name}: no such file"))
}

type MemFile = Arc<RwLock<Vec<u8>>>;

#[derive(Default)]
struct MemDir {
    files: BTreeMap<String, MemFile>,
}

/// In-memory storage. Cloning gives another handle to the same files, so a
/// test can drop a store and reopen it on the same contents. Nothing is ever
/// lost: syncs are no-ops (optionally delayed to emulate a slow medium).
#[derive(Clone, Default)]
pub struct MemStorage {
    dir: Arc<Mutex<MemDir>>,
    sync_delay: Duration,
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// Empty storage whose file syncs sleep for `delay` (emulates the flush
    /// latency of a real medium, e.g. 5 ms for an SD card).
    pub fn with_sync_delay(delay: Duration) -> MemStorage {
        MemStorage {
            dir: Arc::default(),
            sync_delay: delay,
        }
    }

    /// Copy of a file's contents (tests and tools).
    pub fn read_file(&self, name: &str) -> io::Result<Vec<u8>> {
        let dir = self.dir.lock().map_err(poisoned)?;
        let f = dir.files.get(name).ok_or_else(|| not_found(name))?;
        let data = f.read().map_err(poisoned)?;
        Ok(data.clone())
    }

    /// Replace a file's contents, creating it if needed (tests: corruption).
    pub fn write_file(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let mut dir = self.dir.lock().map_err(poisoned)?;
        dir.files
            .insert(name.to_string(), Arc::new(RwLock::new(data.to_vec())));
        Ok(())
    }
}

struct MemHandle {
    data: MemFile,
    sync_delay: Duration,
}

impl StorageFile for MemHandle {
    fn len(&self) -> io::Result<u64> {
        Ok(self.data.read().map_err(poisoned)?.len() as u64)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let data = self.data.read().map_err(poisoned)?;
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        if end > data.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.copy_from_slice(&data[start..end]);
        Ok(())
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut data = self.data.write().map_err(poisoned)?;
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(io::ErrorKind::InvalidInput)?;
        if end > data.len() {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(buf);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
        self.data.write().map_err(poisoned)?.resize(len, 0);
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        if !self.sync_delay.is_zero() {
            std::thread::sleep(self.sync_delay);
        }
        Ok(())
    }
}

impl Storage for MemStorage {
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let dir = self.dir.lock().map_err(poisoned)?;
        let data = dir.files.get(name).ok_or_else(|| not_found(name))?.clone();
        Ok(Box::new(MemHandle {
            data,
            sync_delay: self.sync_delay,
        }))
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let mut dir = self.dir.lock().map_err(poisoned)?;
        let data: MemFile = Arc::default();
        dir.files.insert(name.to_string(), data.clone());
        Ok(Box::new(MemHandle {
            data,
            sync_delay: self.sync_delay,
        }))
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self
            .dir
            .lock()
            .map_err(poisoned)?
            .files
            .keys()
            .cloned()
            .collect())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let mut dir = self.dir.lock().map_err(poisoned)?;
        dir.files
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| not_found(name))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut dir = self.dir.lock().map_err(poisoned)?;
        let f = dir.files.remove(from).ok_or_else(|| not_found(from))?;
        dir.files.insert(to.to_string(), f);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        Ok(())
    }
}
