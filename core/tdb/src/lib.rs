//! `tdb`: smbed's compact, crash-safe key-value store with group commit.
//!
//! smbed keeps volatile state in memory and puts what must survive a restart
//! or a power cut here: accounts and secrets, share ACLs, persistent-handle
//! state. The target media are SD cards and USB disks on home NAS boards that
//! lose power without warning, so the design optimises for few flushes and
//! few bytes per durable commit, and for recovery that never loses an
//! acknowledged write.
//!
//! # Design in one paragraph
//!
//! The store is an append-only log of fixed-size, preallocated segment files
//! (`seg-<generation>.log`) in one directory ([`Storage`]). Every record is
//! framed with a length, a CRC32, a strictly increasing sequence number and
//! the segment generation; values are encoded with postcard. Each flush is
//! padded to the block (sector/page) size so that a torn write can only hit
//! records of that flush. An in-memory index of every live key and value is
//! rebuilt at open; compaction writes a snapshot of the live data to new
//! segments and deletes the old ones. Concurrent writers share one
//! `fdatasync` (group commit) with a batching window that adapts to the
//! measured flush latency. The byte layout and the protocols are documented
//! in `FORMAT.md` next to this crate's `Cargo.toml`.
//!
//! # Example
//!
//! ```
//! use tdb::{Durability, MemStorage, Options, Store};
//!
//! let store = Store::open(MemStorage::new(), Options::default())?;
//! let users = store.table("users")?;
//! store.put(users, b"alice", b"secret", Durability::Immediate)?;
//! assert_eq!(store.get(users, b"alice")?.as_deref(), Some(&b"secret"[..]));
//!
//! let mut batch = store.batch();
//! batch.put(users, b"bob", b"x");
//! batch.delete(users, b"alice");
//! batch.commit(Durability::Immediate)?; // all or nothing
//! let keys: Vec<Vec<u8>> = store.iter(users)?.map(|(k, _)| k).collect();
//! assert_eq!(keys, vec![b"bob".to_vec()]);
//! # Ok::<(), tdb::Error>(())
//! ```
//!
//! # Storage backends
//!
//! - [`MemStorage`]: in memory, for tests and tools.
//! - [`sim::CrashStorage`]: simulates power cuts (keeps only synced data,
//!   garbles unsynced sectors) and I/O errors.
//! - `FileStorage` (feature `file`): a real directory, via rustix.

mod format;
mod index;
mod recovery;
mod storage;
mod store;

#[cfg(feature = "file")]
mod file;
pub mod sim;

use std::fmt;
use std::io;
use std::time::Duration;

pub use format::{MAX_KEY_LEN, MAX_TABLE_NAME_LEN};
pub use recovery::{Report, SegmentReport, SegmentStatus};
pub use storage::{MemStorage, Storage, StorageFile};
pub use store::{Batch, Iter, Stats, Store, Table};

#[cfg(feature = "file")]
pub use file::FileStorage;

/// Errors returned by the store.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The medium returned an error.
    Io(io::Error),
    /// The on-disk data is damaged in a way recovery must not paper over
    /// (e.g. a bad record in a sealed segment). Nothing was modified.
    Corrupt(String),
    /// An earlier flush failed, so data may not be on disk: the store refuses
    /// further writes until it is reopened. Reads still work.
    Failed(String),
    /// The store does not exist and `Options::create_if_missing` is false.
    NotFound,
    /// The table handle does not name an existing table (e.g. it was dropped).
    NoSuchTable,
    /// A key, value, table name or batch exceeds the limits (see FORMAT.md).
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// Invalid `Options`.
    InvalidOptions(String),
    /// A value could not be encoded or decoded with postcard.
    Codec(postcard::Error),
    /// A lock was poisoned by a panicking thread.
    Poisoned,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Corrupt(m) => write!(f, "store is corrupt: {m}"),
            Error::Failed(m) => write!(
                f,
                "store refuses writes after an I/O failure ({m}); reopen it"
            ),
            Error::NotFound => f.write_str("store not found"),
            Error::NoSuchTable => f.write_str("no such table"),
            Error::TooLarge { what, size, max } => write!(f, "{what} too large: {size} > {max}"),
            Error::InvalidOptions(m) => write!(f, "invalid options: {m}"),
            Error::Codec(e) => write!(f, "encoding error: {e}"),
            Error::Poisoned => f.write_str("lock poisoned by a panicked thread"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Codec(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<postcard::Error> for Error {
    fn from(e: postcard::Error) -> Self {
        Error::Codec(e)
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// When a write returns.
///
/// Either way, a write is visible to readers as soon as it is queued (in log
/// order), possibly a flush before it is durable; durability only decides
/// when the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Return only after the write is on disk (`fdatasync` returned).
    Immediate,
    /// Return at once; the write reaches disk within
    /// `Options::lazy_flush_interval` (or at the next `Immediate` write,
    /// `flush`, `compact` or `close`). A power cut may lose it, but never
    /// tears it and never loses it while keeping a later write.
    Lazy,
}

/// Store options. Construct with `Options::default()` and adjust fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Size of each segment file (preallocated). Default 4 MiB (an SD card
    /// erase block). Must be a multiple of `block_size`, at least 4 blocks.
    pub segment_size: u64,
    /// Flush padding unit: every flush starts and ends on a multiple of it,
    /// so it must be at least the medium's sector/page size. Default 4096.
    pub block_size: u32,
    /// Zero-fill new segments before use, so that later writes are pure
    /// overwrites (no extent conversion or size change in the journal).
    /// Default true.
    pub zero_fill: bool,
    /// Retired segments kept for reuse. Compaction renames the segments of
    /// the old chain to `seg-<gen>.spare` (up to this many, the rest are
    /// deleted) and a new segment is then made from a spare by rewriting its
    /// header block: no allocation and no zero fill, which on flash saves
    /// writing a whole segment of zeros per segment of log. Stale records in
    /// a reused file carry an older generation and are never replayed
    /// (FORMAT.md sections 2, 5 and 7). Costs up to this many segments of
    /// disk space. Default 4; 0 deletes retired segments.
    pub spare_segments: usize,
    /// Upper bound for writing `Durability::Lazy` data to disk. `None` runs no
    /// background thread: lazy writes are then flushed only by the next
    /// `Immediate` write, `flush()`, `compact()`, `close()` or drop.
    /// Default 1 s.
    pub lazy_flush_interval: Option<Duration>,
    /// Upper bound of the adaptive group-commit window. The leader waits for
    /// more writers only when the previous group had several, and at most
    /// half the measured flush latency, capped by this. Default 2 ms;
    /// `Duration::ZERO` disables waiting (natural batching only).
    pub max_commit_delay: Duration,
    /// Compact automatically when the log holds more than twice the live
    /// data (plus one segment). Default true.
    pub auto_compact: bool,
    /// Create the store if the storage holds no segments. Default true.
    pub create_if_missing: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: 4 << 20,
            block_size: 4096,
            zero_fill: true,
            spare_segments: 4,
            lazy_flush_interval: Some(Duration::from_secs(1)),
            max_commit_delay: Duration::from_millis(2),
            auto_compact: true,
            create_if_missing: true,
        }
    }
}

/// Check a store without modifying it: which segments form the live chain,
/// whether recovery would succeed, what it would discard.
pub fn check<S: Storage + ?Sized>(storage: &S) -> Result<Report> {
    let mut report = Report::default();
    let dynref: &dyn Storage = &DynRef(storage);
    match recovery::recover(dynref, &mut report) {
        Ok(_) | Err(Error::Corrupt(_)) => Ok(report),
        Err(e) => Err(e),
    }
}

/// Write a human-readable listing of every segment and record to `out`.
pub fn dump<S: Storage + ?Sized>(storage: &S, out: &mut dyn io::Write) -> Result<()> {
    recovery::dump(&DynRef(storage), out)
}

/// Adapter turning `&S` (possibly unsized) into a `dyn Storage`.
struct DynRef<'a, S: ?Sized>(&'a S);

impl<S: Storage + ?Sized> Storage for DynRef<'_, S> {
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        self.0.open(name)
    }
    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        self.0.create(name)
    }
    fn list(&self) -> io::Result<Vec<String>> {
        self.0.list()
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.0.remove(name)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.0.rename(from, to)
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.0.sync_dir()
    }
}
