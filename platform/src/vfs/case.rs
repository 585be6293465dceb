//! Case-insensitive name lookup, as Windows clients expect (Samba's `case sensitive = no`):
//! when a path does not exist as spelled, each component is matched against the directory's
//! entries with simple Unicode case folding. Directories looked up are cached with their
//! modification time, so a directory of N entries is scanned once, not once per lookup; the
//! VFS updates the cache for the changes it makes itself, so a burst of creates stays O(1)
//! per create.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{Mode, OFlags, RawDir};
use rustix::io::Errno;

use super::dosattr::Meta;
use super::path::Resolver;

/// Directories kept in the cache (least recently used dropped first).
const CACHED_DIRS: usize = 8;

/// Case-folded key of a name.
pub fn fold(name: &str) -> String {
    let mut key = String::new();
    fold_into(name, &mut key);
    key
}

/// [`fold`] into `key` (cleared first; its capacity is reused).
fn fold_into(name: &str, key: &mut String) {
    key.clear();
    key.extend(name.chars().flat_map(char::to_lowercase));
}

#[derive(Debug)]
struct Dir {
    share: usize,
    /// Real share-relative path of the directory.
    path: String,
    /// (dev, ino, mtime) when scanned or last updated by us.
    stamp: (u64, u64, (i64, u32)),
    names: HashMap<String, String>,
    used: u64,
}

/// The per-VFS cache of scanned directories.
///
/// A lookup in a cached directory allocates nothing (its key and result are built in buffers
/// kept here), so a client probing for names that do not exist (Windows asks for
/// `desktop.ini`, Office for its lock files) costs no heap; scanning a directory, and the
/// names of files created through the VFS ([`CaseCache::changed`]), do allocate.
#[derive(Debug, Default)]
pub struct CaseCache {
    dirs: Vec<Dir>,
    clock: u64,
    /// The folded key of the component being looked up.
    key: String,
    /// The real path being built by [`CaseCache::resolve`].
    real: String,
}

fn stamp(m: &Meta) -> (u64, u64, (i64, u32)) {
    (m.dev, m.ino, m.mtime)
}

impl CaseCache {
    /// The real path of `path` in share `share` (root fd `root`), matching each component
    /// case-insensitively; `None` when some component has no match.
    pub fn resolve(
        &mut self,
        share: usize,
        root: BorrowedFd<'_>,
        resolver: &Resolver,
        path: &str,
    ) -> Result<Option<&str>, Errno> {
        let mut real = std::mem::take(&mut self.real);
        real.clear();
        let mut found = true;
        for comp in path.split('/') {
            match self.lookup(share, root, resolver, &mut real, comp) {
                Ok(true) => {}
                Ok(false) => {
                    found = false;
                    break;
                }
                Err(e) => {
                    self.real = real;
                    return Err(e);
                }
            }
        }
        self.real = real;
        Ok(found.then_some(self.real.as_str()))
    }

    /// Looks `comp` up in the directory `real` (a real path) and appends its real name to
    /// `real`; `false` when there is none.
    fn lookup(
        &mut self,
        share: usize,
        root: BorrowedFd<'_>,
        resolver: &Resolver,
        real: &mut String,
        comp: &str,
    ) -> Result<bool, Errno> {
        let dir = real.as_str();
        let fd = match resolver.open(root, dir, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(false),
            Err(e) => return Err(e),
        };
        let meta = Meta::of(fd.as_fd())?;
        self.clock += 1;
        let now = self.clock;
        fold_into(comp, &mut self.key);
        let cached = self
            .dirs
            .iter()
            .position(|d| d.share == share && d.path == dir && d.stamp == stamp(&meta));
        let i = match cached {
            Some(i) => i,
            None => {
                let names = scan(fd.as_fd())?;
                self.dirs.retain(|d| !(d.share == share && d.path == dir));
                if self.dirs.len() >= CACHED_DIRS {
                    if let Some(i) = self
                        .dirs
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, d)| d.used)
                        .map(|(i, _)| i)
                    {
                        self.dirs.swap_remove(i);
                    }
                }
                self.dirs.push(Dir {
                    share,
                    path: dir.to_owned(),
                    stamp: stamp(&meta),
                    names,
                    used: now,
                });
                self.dirs.len() - 1
            }
        };
        let d = &mut self.dirs[i];
        d.used = now;
        let Some(name) = d.names.get(self.key.as_str()) else {
            return Ok(false);
        };
        if !real.is_empty() {
            real.push('/');
        }
        real.push_str(name);
        Ok(true)
    }

    /// Records a change we made in directory `dir`: `added` now exists, `removed` no longer,
    /// and the directory's new stamp is taken from `dir_fd`, keeping the entry valid.
    pub fn changed(
        &mut self,
        share: usize,
        dir: &str,
        dir_fd: BorrowedFd<'_>,
        added: Option<&str>,
        removed: Option<&str>,
    ) {
        let Some(d) = self
            .dirs
            .iter_mut()
            .find(|d| d.share == share && d.path == dir)
        else {
            return;
        };
        if let Some(r) = removed {
            fold_into(r, &mut self.key);
            d.names.remove(self.key.as_str());
        }
        if let Some(a) = added {
            d.names.insert(fold(a), a.to_owned());
        }
        match Meta::of(dir_fd) {
            Ok(m) => d.stamp = stamp(&m),
            Err(_) => d.stamp = (0, 0, (0, 0)),
        }
    }

    /// Forgets every cached directory of a share below (and including) `prefix` (renames).
    pub fn forget(&mut self, share: usize, prefix: &str) {
        self.dirs.retain(|d| {
            !(d.share == share
                && (prefix.is_empty()
                    || d.path == prefix
                    || d.path.starts_with(prefix)
                        && d.path.as_bytes().get(prefix.len()) == Some(&b'/')))
        });
    }
}

/// Every name in a directory, keyed by its folded form (the first spelling wins).
fn scan(fd: BorrowedFd<'_>) -> Result<HashMap<String, String>, Errno> {
    let mut names = HashMap::new();
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 32 * 1024];
    let mut raw = RawDir::new(fd, &mut buf[..]);
    while let Some(entry) = raw.next() {
        let e = match entry {
            Ok(e) => e,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        let Ok(name) = std::str::from_utf8(e.file_name().to_bytes()) else {
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        names.entry(fold(name)).or_insert_with(|| name.to_owned());
    }
    Ok(names)
}
