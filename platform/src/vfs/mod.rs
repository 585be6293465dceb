//! [`PosixVfs`]: the engine's [`smb_proto::vfs::Vfs`] over POSIX directories, with rustix.
//!
//! Each share is a host directory opened once at start; every lookup is relative to that fd
//! and confined to it with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` (`path.rs`), so a
//! symlink can never lead a client out of its share (`ACCESS_DENIED`). Open nodes live in a
//! slab of up to `max_opens` slots reserved at construction and filled as opens need them, so
//! only slots ever used are resident (`NodeId` = slot index); each
//! slot holds the node's fd and its share-relative path in a reused buffer. DOS attributes and
//! client-set creation times persist in the `user.smbed` xattr (`dosattr.rs`); errno values map
//! to NTSTATUS in `errno.rs`; directory enumeration is in `dir.rs`.
//!
//! Semantics beyond the trait's contract:
//! - `open` on an existing directory with `Supersede`/`Overwrite`/`OverwriteIf` is
//!   `FILE_IS_A_DIRECTORY`; `Want::Directory` with one of those dispositions is
//!   `INVALID_PARAMETER` whether or not the name exists ([MS-FSA] 2.1.5.1). `Create` on any
//!   existing name is `OBJECT_NAME_COLLISION`. FIFOs, sockets and devices are never opened:
//!   `ACCESS_DENIED`. Opening a file whose attributes include `READONLY` for writing (or to
//!   overwrite it) is `ACCESS_DENIED`, even when the server runs as root.
//! - On a read-only share, opens that write, create, overwrite or supersede, and `write`,
//!   `set_len`, `set_allocation`, `set_basic`, `rename` and `unlink` are `ACCESS_DENIED`.
//! - A client-set creation time (stored in the xattr) takes precedence over the file system's
//!   birth time, which takes precedence over `min(mtime, ctime)`.
//! - Names starting with `.` are reported `HIDDEN` (Samba's `hide dot files = yes`).
//! - `rename` and `unlink` act on the node's stored path after checking that the name still
//!   refers to the node's inode (otherwise `OBJECT_NAME_NOT_FOUND`), so a stale path never
//!   removes or moves another file. Renaming an open directory through this VFS updates the
//!   stored paths of the open nodes below it ([`Vfs::path`] reports them).
//! - Every open node holds one fd (plus one per share root): the process's `RLIMIT_NOFILE`
//!   must exceed `max_opens` plus the share count plus a few transient fds.
//!
//! Known limitations:
//! - Paths of open nodes go stale when their names are changed by something other than this
//!   VFS (a local process); those nodes keep working for I/O, but `rename`/`unlink` on them
//!   fail with `OBJECT_NAME_NOT_FOUND` (never touching another file), and the `..` entry of
//!   their listings describes whatever the stale parent path names now (the directory itself
//!   when nothing).
//! - Enumeration resumes by seek cookie: on file systems whose cookies are positions (tmpfs
//!   before Linux 6.6) a resume costs a walk to the position, and entries removed between
//!   calls can shift others past the cursor, as with `telldir`/`seekdir`.
//! - Without `openat2` every symlink is refused (`ACCESS_DENIED`) and skipped in listings.
//! - Directory entries whose names are not UTF-8 or contain `:` or `\` are not listed, and
//!   cannot be opened (the engine cannot name them).
//! - Without user xattrs on the file system, only `READONLY` persists (as the owner write
//!   bit), and client-set creation times are dropped.
//! - `change_time` cannot be set on Linux; a client-set change time is kept in the record.
//! - Nodes open files `O_RDONLY` unless the open asked for write access, so a file without
//!   read permission for the server's user cannot be opened even for metadata.

mod case;
mod dir;
mod dosattr;
mod errno;
mod path;
mod stream;
#[cfg(test)]
mod tests;
mod xattr;

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::path::PathBuf;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    AtFlags, FallocateFlags, FileType, Mode, OFlags, RenameFlags, Timestamps, UTIME_OMIT,
};
use rustix::io::Errno;
use rustix::time::Timespec;
use smb_proto::vfs::{
    attr, AccessHint, BasicInfo, CreateAction, DirEntry, Disposition, FileInfo, FsInfo, NodeId,
    OpenArgs, ShareId, Vfs, Want,
};
use smb_wire::NtStatus;

use dosattr::{file_info, read_record, write_record, DosRecord, Meta};
use path::{leaf, split_parent, validate, Resolver};

/// A share to serve: a host directory and whether clients may change it. The position in the
/// slice given to [`PosixVfs::new`] is the [`ShareId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRoot {
    pub path: PathBuf,
    pub read_only: bool,
}

/// Flags to reopen an object found with an `O_PATH` probe for reading metadata or data:
/// `O_NONBLOCK` so that an object swapped for a FIFO in the meantime cannot block us.
const REOPEN_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::NONBLOCK).union(OFlags::NOCTTY);

/// Capacity a slot's path buffer gets when the slot is first used (it grows, and stays grown,
/// for longer paths). Slots are reused most recently freed first, so only as many buffers
/// exist as opens were ever live at once, not one per slot of the board's table.
const SLOT_PATH_CAPACITY: usize = 256;

/// How often `open` retries when a concurrent change of the file system races with it.
const OPEN_ATTEMPTS: usize = 4;

/// An open share.
#[derive(Debug)]
struct Share {
    root: OwnedFd,
    read_only: bool,
    /// The root's file system supports user xattrs.
    xattr: bool,
}

/// A slot of the node table.
#[derive(Debug)]
struct Node {
    /// `None`: the slot is free.
    fd: Option<OwnedFd>,
    share: usize,
    is_dir: bool,
    /// The fd was opened for writing.
    writable: bool,
    /// `unlink` removed the name.
    unlinked: bool,
    /// Share-relative path, updated by `rename`.
    path: String,
    cursor: dir::Cursor,
    /// For a named-stream node: the stream's xattr name (the fd is the file's).
    stream: Option<String>,
}

/// What the file system part of `open` produced.
struct Opened {
    fd: OwnedFd,
    action: CreateAction,
    meta: Meta,
    rec: Option<DosRecord>,
    writable: bool,
}

/// The share-scoped helpers, borrowing the parts of [`PosixVfs`] they need.
struct Ctx<'a> {
    root: BorrowedFd<'a>,
    xattr: bool,
    resolver: &'a Resolver,
    /// `fgetxattr` works on `O_PATH` fds (Linux 6.12+); cleared on the first `EBADF`.
    opath_xattr: &'a Cell<bool>,
}

impl Ctx<'_> {
    /// The stored record of a node fd (a real open, not `O_PATH`).
    fn record(&self, fd: BorrowedFd<'_>) -> Option<DosRecord> {
        if !self.xattr {
            return None;
        }
        read_record(fd).ok().flatten()
    }

    /// The stored record of the object behind the `O_PATH` fd `fd`; `reopen` opens it for
    /// real on kernels that refuse xattr calls on `O_PATH` fds.
    fn record_opath(
        &self,
        fd: BorrowedFd<'_>,
        reopen: impl FnOnce() -> Result<OwnedFd, Errno>,
    ) -> Option<DosRecord> {
        if !self.xattr {
            return None;
        }
        if self.opath_xattr.get() {
            match read_record(fd) {
                Ok(rec) => return rec,
                Err(_) => self.opath_xattr.set(false),
            }
        }
        let real = reopen().ok()?;
        read_record(real.as_fd()).ok().flatten()
    }

    /// The stored record of an object not opened yet: through an `O_PATH` fd from `opath`
    /// where the kernel allows xattr calls on those, else through a real open from `real`.
    fn record_by(
        &self,
        opath: impl FnOnce() -> Result<OwnedFd, Errno>,
        real: impl FnOnce() -> Result<OwnedFd, Errno>,
    ) -> Option<DosRecord> {
        if !self.xattr {
            return None;
        }
        if self.opath_xattr.get() {
            let fd = opath().ok()?;
            return self.record_opath(fd.as_fd(), real);
        }
        let fd = real().ok()?;
        read_record(fd.as_fd()).ok().flatten()
    }

    /// Open `path` for a lookup that may fail with a missing name.
    fn probe(&self, path: &str, flags: OFlags) -> Result<OwnedFd, NtStatus> {
        self.resolver
            .open(self.root, path, flags, Mode::empty())
            .map_err(|e| self.lookup_error(path, e))
    }

    /// Translate a failed lookup of `path`: a missing name is `OBJECT_NAME_NOT_FOUND` when its
    /// parent exists and `OBJECT_PATH_NOT_FOUND` otherwise.
    fn lookup_error(&self, path: &str, e: Errno) -> NtStatus {
        match e {
            Errno::NOENT => {
                let parent = split_parent(path).0;
                match self.open_parent(parent) {
                    Ok(_) => NtStatus::OBJECT_NAME_NOT_FOUND,
                    Err(s) => s,
                }
            }
            Errno::NOTDIR => NtStatus::OBJECT_PATH_NOT_FOUND,
            e => errno::map(e),
        }
    }

    /// Open the directory `parent` (`""`: the root) as an `O_PATH` fd for `*at` calls.
    fn open_parent(&self, parent: &str) -> Result<OwnedFd, NtStatus> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        self.resolver
            .open(self.root, parent, flags, Mode::empty())
            .map_err(|e| match e {
                Errno::NOENT | Errno::NOTDIR => NtStatus::OBJECT_PATH_NOT_FOUND,
                e => errno::map(e),
            })
    }

    /// Metadata of `path` for `stat_path` and `..`.
    fn info_path(&self, path: &str, name: &str) -> Result<FileInfo, NtStatus> {
        let fd = self.probe(path, OFlags::PATH)?;
        let meta = Meta::of(fd.as_fd()).map_err(errno::map)?;
        let rec = if meta.is_servable() {
            self.record_opath(fd.as_fd(), || {
                let flags = if meta.is_dir() {
                    REOPEN_FLAGS | OFlags::DIRECTORY
                } else {
                    REOPEN_FLAGS
                };
                self.resolver.open(self.root, path, flags, Mode::empty())
            })
        } else {
            None
        };
        Ok(file_info(&meta, rec.as_ref(), name))
    }

    /// Store `rec` on `fd` (metadata `meta`); without xattr support, map `READONLY` to the
    /// owner write bit of files instead.
    fn store(&self, fd: BorrowedFd<'_>, meta: &Meta, rec: &DosRecord) -> Result<(), Errno> {
        if self.xattr && write_record(fd, rec)? {
            return Ok(());
        }
        if meta.is_dir() {
            return Ok(());
        }
        let perm = meta.mode & 0o7777;
        let new = if rec.attributes & attr::READONLY != 0 {
            perm & !0o222
        } else {
            perm | 0o200
        };
        if new != perm {
            rustix::fs::fchmod(fd, Mode::from_raw_mode(new))?;
        }
        Ok(())
    }

    /// The file system part of [`Vfs::open`] (the path is valid, a slot is free, and the
    /// read-only share checks are done).
    fn open(&self, path: &str, args: &OpenArgs, read_only: bool) -> Result<Opened, NtStatus> {
        for _ in 0..OPEN_ATTEMPTS {
            match self
                .resolver
                .open(self.root, path, OFlags::PATH, Mode::empty())
            {
                Ok(probe) => {
                    if let Some(o) = self.open_existing(path, probe.as_fd(), args)? {
                        return Ok(o);
                    }
                }
                Err(Errno::NOENT) if !path.is_empty() => {
                    let (parent, name) = split_parent(path);
                    let pfd = self.open_parent(parent)?;
                    if matches!(args.disposition, Disposition::Open | Disposition::Overwrite) {
                        return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
                    }
                    if read_only {
                        return Err(NtStatus::ACCESS_DENIED);
                    }
                    match self.create(pfd.as_fd(), name, args) {
                        Ok(o) => return Ok(o),
                        Err(Errno::EXIST) => {
                            if args.disposition == Disposition::Create {
                                return Err(NtStatus::OBJECT_NAME_COLLISION);
                            }
                            // A dangling symlink (inside the share) is never replaced.
                            let m = Meta::at(pfd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW);
                            if m.is_ok_and(|m| m.file_type() == FileType::Symlink) {
                                return Err(NtStatus::ACCESS_DENIED);
                            }
                            // Someone created it meanwhile: open it.
                        }
                        Err(e) => return Err(errno::map(e)),
                    }
                }
                Err(e) => return Err(self.lookup_error(path, e)),
            }
        }
        Err(NtStatus::ACCESS_DENIED)
    }

    /// Open an existing object found as `probe`; `Ok(None)` when it changed under us.
    fn open_existing(
        &self,
        path: &str,
        probe: BorrowedFd<'_>,
        args: &OpenArgs,
    ) -> Result<Option<Opened>, NtStatus> {
        let found = Meta::of(probe).map_err(errno::map)?;
        if args.disposition == Disposition::Create {
            return Err(NtStatus::OBJECT_NAME_COLLISION);
        }
        if !found.is_servable() {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let overwrite = match args.disposition {
            Disposition::Supersede => Some(CreateAction::Superseded),
            Disposition::Overwrite | Disposition::OverwriteIf => Some(CreateAction::Overwritten),
            _ => None,
        };
        let reopen = |flags: OFlags| -> Result<Option<(OwnedFd, Meta)>, NtStatus> {
            let fd = match self.resolver.open(self.root, path, flags, Mode::empty()) {
                Ok(fd) => fd,
                // Removed since the probe: start over (it may have to be created now).
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => return Err(self.lookup_error(path, e)),
            };
            let meta = Meta::of(fd.as_fd()).map_err(errno::map)?;
            if !meta.same_inode(&found) || meta.file_type() != found.file_type() {
                return Ok(None);
            }
            Ok(Some((fd, meta)))
        };

        if found.is_dir() {
            if args.want == Want::File || overwrite.is_some() {
                return Err(NtStatus::FILE_IS_A_DIRECTORY);
            }
            let Some((fd, meta)) = reopen(REOPEN_FLAGS | OFlags::DIRECTORY)? else {
                return Ok(None);
            };
            let rec = self.record(fd.as_fd());
            return Ok(Some(Opened {
                fd,
                action: CreateAction::Opened,
                meta,
                rec,
                writable: false,
            }));
        }

        if args.want == Want::Directory {
            return Err(NtStatus::NOT_A_DIRECTORY);
        }
        let writable = args.write || overwrite.is_some();
        let mode = if writable {
            OFlags::RDWR
        } else {
            OFlags::RDONLY
        };
        let Some((fd, mut meta)) = reopen(mode | OFlags::NONBLOCK | OFlags::NOCTTY)? else {
            return Ok(None);
        };
        rustix::fs::fcntl_setfl(&fd, OFlags::empty()).map_err(errno::map)?;
        let mut rec = self.record(fd.as_fd());
        if writable && dosattr::attributes(&meta, rec.as_ref(), "") & attr::READONLY != 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let mut action = CreateAction::Opened;
        if let Some(a) = overwrite {
            rustix::fs::ftruncate(&fd, 0).map_err(errno::map)?;
            let new = DosRecord {
                creation_time: rec.and_then(|r| r.creation_time),
                ..DosRecord::new(args.attributes | attr::ARCHIVE)
            };
            self.store(fd.as_fd(), &meta, &new).map_err(errno::map)?;
            allocate(fd.as_fd(), args.allocation_size).map_err(errno::map)?;
            meta = Meta::of(fd.as_fd()).map_err(errno::map)?;
            rec = self.record(fd.as_fd());
            action = a;
        }
        Ok(Some(Opened {
            fd,
            action,
            meta,
            rec,
            writable,
        }))
    }

    /// Create `name` in the directory `parent` as `args` say. `EEXIST` when it exists.
    fn create(&self, parent: BorrowedFd<'_>, name: &str, args: &OpenArgs) -> Result<Opened, Errno> {
        if args.want == Want::Directory {
            rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o777))?;
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(parent, name, flags, Mode::empty())?;
            let meta = Meta::of(fd.as_fd())?;
            let rec = DosRecord::new(args.attributes);
            if rec.attributes != 0 {
                // Best effort: the directory exists now; a failure only loses attributes.
                let _ = self.store(fd.as_fd(), &meta, &rec);
            }
            let rec = self.record(fd.as_fd());
            return Ok(Opened {
                fd,
                action: CreateAction::Created,
                meta,
                rec,
                writable: false,
            });
        }

        let writable = args.write || args.allocation_size > 0;
        let mode = if writable {
            OFlags::RDWR
        } else {
            OFlags::RDONLY
        };
        let flags = mode
            | OFlags::CREATE
            | OFlags::EXCL
            | OFlags::NOFOLLOW
            | OFlags::NOCTTY
            | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o666))?;
        let mut meta = Meta::of(fd.as_fd())?;
        let rec = DosRecord::new(args.attributes | attr::ARCHIVE);
        if rec.attributes != attr::ARCHIVE {
            let _ = self.store(fd.as_fd(), &meta, &rec);
        }
        if let Err(e) = allocate(fd.as_fd(), args.allocation_size) {
            let _ = rustix::fs::unlinkat(parent, name, AtFlags::empty());
            return Err(e);
        }
        if args.allocation_size > 0 || rec.attributes != attr::ARCHIVE {
            meta = Meta::of(fd.as_fd())?;
        }
        let rec = self.record(fd.as_fd());
        Ok(Opened {
            fd,
            action: CreateAction::Created,
            meta,
            rec,
            writable,
        })
    }

    /// Check that `name` in `dir` still names the node `fd`. Returns whether the name is a
    /// symlink (the node was opened through it; the name is the link).
    fn check_identity(
        &self,
        dir: BorrowedFd<'_>,
        name: &str,
        fd: BorrowedFd<'_>,
    ) -> Result<bool, NtStatus> {
        let at = Meta::at(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno::map)?;
        if at.file_type() == FileType::Symlink {
            return Ok(true);
        }
        let me = Meta::of(fd).map_err(errno::map)?;
        if !at.same_inode(&me) {
            return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
        }
        Ok(false)
    }
}

/// Reserve `size` bytes for `fd` without changing its size; file systems without
/// `fallocate` are ignored.
fn allocate(fd: BorrowedFd<'_>, size: u64) -> Result<(), Errno> {
    if size == 0 {
        return Ok(());
    }
    match rustix::fs::fallocate(fd, FallocateFlags::KEEP_SIZE, 0, size) {
        Ok(()) | Err(Errno::NOTSUP) | Err(Errno::NOSYS) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The [`Vfs`] over POSIX directories (see the module docs).
#[derive(Debug)]
pub struct PosixVfs {
    shares: Vec<Share>,
    /// Node slots, grown one at a time up to `max_opens` within capacity reserved at
    /// construction (never reallocated; untouched capacity is not resident).
    nodes: Vec<Node>,
    max_opens: usize,
    /// Free slot indices below `nodes.len()`; the most recently closed slot is reused first.
    free: Vec<u32>,
    resolver: Resolver,
    opath_xattr: Cell<bool>,
    /// `getdents64` buffer shared by all enumerations.
    dirbuf: Vec<MaybeUninit<u8>>,
    /// Scratch path buffer (symlink resolution in listings, rename bookkeeping).
    scratch: String,
    /// Directories scanned for case-insensitive lookups.
    case: case::CaseCache,
    /// Reused by `list_eas` and `list_streams` (grown at first use).
    eabufs: xattr::EaBufs,
    /// Threads that fetch uncached file data off the event loop (`try_read`); `None`: reads
    /// block the caller.
    io: Option<crate::iopool::IoPool>,
}

impl PosixVfs {
    /// Open the share roots (index = [`ShareId`]) and allocate a table of `max_opens` nodes.
    /// Fails when a root cannot be opened as a directory.
    pub fn new(shares: &[ShareRoot], max_opens: usize) -> std::io::Result<Self> {
        if shares.len() > usize::from(u16::MAX) + 1 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "too many shares",
            ));
        }
        let max_opens = max_opens.min(u32::MAX as usize);
        let mut opened = Vec::with_capacity(shares.len());
        for s in shares {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let root = rustix::fs::open(&s.path, flags, Mode::empty())?;
            let xattr = dosattr::xattrs_supported(root.as_fd());
            opened.push(Share {
                root,
                read_only: s.read_only,
                xattr,
            });
        }
        Ok(Self {
            shares: opened,
            nodes: Vec::with_capacity(max_opens),
            max_opens,
            free: Vec::with_capacity(max_opens),
            resolver: Resolver::new(),
            opath_xattr: Cell::new(true),
            dirbuf: vec![MaybeUninit::uninit(); dir::DIR_BUF_LEN],
            scratch: String::with_capacity(path::MAX_PATH_LEN + 1),
            case: case::CaseCache::default(),
            eabufs: xattr::EaBufs::default(),
            io: None,
        })
    }

    /// Lets `try_read` hand reads of uncached data to `pool` instead of blocking.
    pub fn set_io_pool(&mut self, pool: crate::iopool::IoPool) {
        self.io = Some(pool);
    }

    /// The descriptor of an open file node, for the driver to `sendfile` a zero-copy READ
    /// tail from ([`smb_proto::FileTail`]).
    pub fn file_fd(&self, node: NodeId) -> Option<BorrowedFd<'_>> {
        let (n, fd) = self.node(node).ok()?;
        (n.stream.is_none() && !n.is_dir).then_some(fd)
    }

    /// Keeps the case-lookup cache in step with a name we created (`added`) or removed.
    fn case_changed(&mut self, si: usize, path: &str, added: bool) {
        let (parent, name) = split_parent(path);
        let Ok(pfd) = self.ctx(si).open_parent(parent) else {
            self.case.forget(si, parent);
            return;
        };
        let (a, r) = if added {
            (Some(name), None)
        } else {
            (None, Some(name))
        };
        self.case.changed(si, parent, pfd.as_fd(), a, r);
    }

    fn share_index(&self, share: ShareId) -> Result<usize, NtStatus> {
        let i = usize::from(share.0);
        if i < self.shares.len() {
            Ok(i)
        } else {
            Err(NtStatus::BAD_NETWORK_NAME)
        }
    }

    fn ctx(&self, share: usize) -> Ctx<'_> {
        ctx(&self.shares[share], &self.resolver, &self.opath_xattr)
    }

    /// The slot of an open node.
    fn node(&self, node: NodeId) -> Result<(&Node, BorrowedFd<'_>), NtStatus> {
        let n = usize::try_from(node.0)
            .ok()
            .and_then(|i| self.nodes.get(i))
            .ok_or(NtStatus::INVALID_HANDLE)?;
        let fd = n.fd.as_ref().ok_or(NtStatus::INVALID_HANDLE)?;
        Ok((n, fd.as_fd()))
    }

    /// An open node, whether its share keeps xattrs, and the xattr buffers, borrowed together.
    fn node_with_eabufs(
        &mut self,
        node: NodeId,
    ) -> Result<(&Node, bool, &mut xattr::EaBufs), NtStatus> {
        let i = self.node_index(node)?;
        let n = &self.nodes[i];
        Ok((n, self.shares[n.share].xattr, &mut self.eabufs))
    }

    fn node_index(&self, node: NodeId) -> Result<usize, NtStatus> {
        self.node(node)?;
        usize::try_from(node.0).map_err(|_| NtStatus::INVALID_HANDLE)
    }

    /// Update the stored paths after the node `moved` (in `share`) went from the path in
    /// `self.scratch` to `new_path`: the node itself and, for a directory, open nodes below.
    fn repath(&mut self, moved: usize, share: usize, new_path: &str) {
        let old = &self.scratch;
        let is_dir = self.nodes[moved].is_dir;
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if n.fd.is_none() || n.share != share {
                continue;
            }
            if i == moved {
                n.path.clear();
                n.path.push_str(new_path);
            } else if is_dir
                && n.path.len() > old.len()
                && n.path.starts_with(old.as_str())
                && n.path.as_bytes()[old.len()] == b'/'
            {
                n.path.replace_range(..old.len(), new_path);
            }
        }
    }

    /// Use the `O_NOFOLLOW` walk instead of `openat2` (tests of the fallback).
    #[cfg(test)]
    fn force_fallback(&self) {
        self.resolver.force_fallback();
    }
}

fn ctx<'a>(share: &'a Share, resolver: &'a Resolver, opath_xattr: &'a Cell<bool>) -> Ctx<'a> {
    Ctx {
        root: share.root.as_fd(),
        xattr: share.xattr,
        resolver,
        opath_xattr,
    }
}

/// `preadv2(RWF_NOWAIT)`: reads only what the page cache holds (`AGAIN` when the first byte
/// is not there), retrying on `EINTR`.
fn read_cached(fd: BorrowedFd<'_>, out: &mut [u8], offset: u64) -> Result<usize, Errno> {
    loop {
        let mut bufs = [std::io::IoSliceMut::new(&mut *out)];
        match rustix::io::preadv2(fd, &mut bufs, offset, rustix::io::ReadWriteFlags::NOWAIT) {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

pub(crate) fn io_err(e: Errno) -> NtStatus {
    errno::map(e)
}

impl Vfs for PosixVfs {
    fn open(
        &mut self,
        share: ShareId,
        path: &str,
        args: &OpenArgs,
    ) -> Result<(NodeId, CreateAction, FileInfo), NtStatus> {
        validate(path)?;
        let si = self.share_index(share)?;
        let slot = match self.free.last() {
            Some(&s) => s,
            None if self.nodes.len() < self.max_opens => self.nodes.len() as u32,
            None => return Err(NtStatus::INSUFFICIENT_RESOURCES),
        };
        let overwriting = matches!(
            args.disposition,
            Disposition::Supersede | Disposition::Overwrite | Disposition::OverwriteIf
        );
        if args.want == Want::Directory && overwriting {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let read_only = self.shares[si].read_only;
        if read_only && (args.write || overwriting || args.disposition == Disposition::Create) {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let o = self.ctx(si).open(path, args, read_only)?;
        if o.action == CreateAction::Created {
            self.case_changed(si, path, true);
        }
        let info = file_info(&o.meta, o.rec.as_ref(), leaf(path));
        // The client's announced access pattern tunes the kernel's read-ahead for this file
        // (a hint: failure changes nothing).
        if !info.is_directory {
            let advice = match args.access {
                AccessHint::Sequential => Some(rustix::fs::Advice::Sequential),
                AccessHint::Random => Some(rustix::fs::Advice::Random),
                AccessHint::Normal => None,
            };
            if let Some(a) = advice {
                let _ = rustix::fs::fadvise(&o.fd, 0, None, a);
            }
        }
        if self.free.pop().is_none() {
            // Within the capacity reserved in `new`: no reallocation.
            self.nodes.push(Node {
                fd: None,
                share: 0,
                is_dir: false,
                writable: false,
                unlinked: false,
                path: String::new(),
                cursor: dir::Cursor::default(),
                stream: None,
            });
        }
        let n = &mut self.nodes[slot as usize];
        n.fd = Some(o.fd);
        n.share = si;
        n.is_dir = info.is_directory;
        n.writable = o.writable;
        n.unlinked = false;
        n.path.clear();
        if n.path.capacity() == 0 {
            n.path.reserve(SLOT_PATH_CAPACITY.max(path.len()));
        }
        n.path.push_str(path);
        n.cursor.rewind();
        Ok((NodeId(slot), o.action, info))
    }

    fn close(&mut self, node: NodeId) {
        let Ok(i) = self.node_index(node) else {
            return;
        };
        let n = &mut self.nodes[i];
        n.fd = None;
        n.path.clear();
        n.stream = None;
        self.free.push(node.0);
    }

    fn stat(&mut self, node: NodeId) -> Result<FileInfo, NtStatus> {
        let (n, fd) = self.node(node)?;
        let meta = Meta::of(fd).map_err(io_err)?;
        let rec = self.ctx(n.share).record(fd);
        let mut info = file_info(&meta, rec.as_ref(), leaf(&n.path));
        if let Some(xn) = &n.stream {
            let size = stream::size(fd, xn)?.unwrap_or(0);
            info.end_of_file = size;
            info.allocation_size = (size + 4095) & !4095;
            info.is_directory = false;
            info.attributes &= !attr::DIRECTORY;
        }
        Ok(info)
    }

    fn stat_path(&mut self, share: ShareId, path: &str) -> Result<FileInfo, NtStatus> {
        validate(path)?;
        let si = self.share_index(share)?;
        self.ctx(si).info_path(path, leaf(path))
    }

    fn read(&mut self, node: NodeId, offset: u64, out: &mut [u8]) -> Result<usize, NtStatus> {
        let (n, fd) = self.node(node)?;
        if let Some(xn) = &n.stream {
            return stream::read(fd, xn, offset, out);
        }
        if n.is_dir {
            return Err(NtStatus::FILE_IS_A_DIRECTORY);
        }
        let mut done = 0;
        while done < out.len() {
            let at = offset.saturating_add(done as u64);
            match rustix::io::pread(fd, &mut out[done..], at) {
                Ok(0) => break,
                Ok(k) => done += k,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(done)
    }

    /// Reads from the page cache only (`RWF_NOWAIT`); data not there is fetched by the I/O
    /// threads (`iopool.rs`) and the read declines with `PENDING`. Streams, directories, file
    /// systems without `RWF_NOWAIT` and a VFS without a pool read as [`read`](Self::read).
    fn try_read(
        &mut self,
        node: NodeId,
        offset: u64,
        out: &mut [u8],
        ticket: u64,
    ) -> Result<usize, NtStatus> {
        let Some(pool) = &self.io else {
            return self.read(node, offset, out);
        };
        let (n, fd) = self.node(node)?;
        if n.stream.is_some() || n.is_dir || out.is_empty() {
            return self.read(node, offset, out);
        }
        let delay = pool.slow_delay(&n.path);
        if delay.is_none() {
            let len = out.len();
            match read_cached(fd, out, offset) {
                Ok(k) if k == len => return Ok(k),
                // Short: the end of the file, or only part of the range is cached.
                Ok(k) => {
                    let size = rustix::fs::fstat(fd).map_err(io_err)?.st_size;
                    if offset.saturating_add(k as u64) >= u64::try_from(size).unwrap_or(0) {
                        return Ok(k);
                    }
                }
                Err(Errno::AGAIN) => {}
                // No RWF_NOWAIT here (old kernel, some file systems): block as before.
                Err(Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => {
                    return self.read(node, offset, out)
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        match pool.fetch(fd, offset, out.len(), ticket, delay.unwrap_or_default()) {
            Ok(()) => Err(NtStatus::PENDING),
            // The pool cannot take it (no fd left to duplicate): block rather than fail.
            Err(_) => self.read(node, offset, out),
        }
    }

    fn write(&mut self, node: NodeId, offset: u64, data: &[u8]) -> Result<usize, NtStatus> {
        let (n, fd) = self.node(node)?;
        if let Some(xn) = &n.stream {
            if !n.writable || self.shares[n.share].read_only {
                return Err(NtStatus::ACCESS_DENIED);
            }
            return stream::write(fd, xn, offset, data);
        }
        if n.is_dir {
            return Err(NtStatus::FILE_IS_A_DIRECTORY);
        }
        if !n.writable || self.shares[n.share].read_only {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let mut done = 0;
        while done < data.len() {
            let at = offset.saturating_add(done as u64);
            match rustix::io::pwrite(fd, &data[done..], at) {
                Ok(0) => return Err(NtStatus::DISK_FULL),
                Ok(k) => done += k,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(done)
    }

    fn flush(&mut self, node: NodeId) -> Result<(), NtStatus> {
        let (n, fd) = self.node(node)?;
        let r = if n.is_dir {
            rustix::fs::fsync(fd)
        } else {
            rustix::fs::fdatasync(fd)
        };
        r.map_err(io_err)
    }

    /// A zero-copy READ tail when the range is in the page cache (its first and last byte
    /// read with `RWF_NOWAIT`; uncached data goes the `try_read` way, through the I/O
    /// threads, so `sendfile` never waits for the disk on the event loop).
    fn tail_len(&mut self, node: NodeId, offset: u64, len: u32) -> Result<Option<u32>, NtStatus> {
        let (n, fd) = self.node(node)?;
        if n.stream.is_some() || n.is_dir || len == 0 {
            return Ok(None);
        }
        if let Some(pool) = &self.io {
            if pool.slow_delay(&n.path).is_some() {
                return Ok(None);
            }
        }
        let size = u64::try_from(rustix::fs::fstat(fd).map_err(io_err)?.st_size).unwrap_or(0);
        if offset >= size {
            return Ok(None);
        }
        let count = u64::from(len).min(size - offset);
        let mut byte = [0u8; 1];
        for at in [offset, offset + count - 1] {
            if read_cached(fd, &mut byte, at) != Ok(1) {
                return Ok(None);
            }
        }
        Ok(Some(count as u32))
    }

    /// Syncs on an I/O thread (`iopool.rs`) when there is a pool: a flush to a slow disk can
    /// take seconds.
    fn try_flush(&mut self, node: NodeId, ticket: u64) -> Result<(), NtStatus> {
        let Some(pool) = &self.io else {
            return self.flush(node);
        };
        let (n, fd) = self.node(node)?;
        match pool.sync(fd, n.is_dir, ticket) {
            Ok(()) => Err(NtStatus::PENDING),
            Err(_) => self.flush(node),
        }
    }

    fn set_len(&mut self, node: NodeId, len: u64) -> Result<(), NtStatus> {
        let (n, fd) = self.node(node)?;
        if let Some(xn) = &n.stream {
            if !n.writable || self.shares[n.share].read_only {
                return Err(NtStatus::ACCESS_DENIED);
            }
            return stream::set_len(fd, xn, len);
        }
        if n.is_dir {
            return Err(NtStatus::FILE_IS_A_DIRECTORY);
        }
        if !n.writable || self.shares[n.share].read_only {
            return Err(NtStatus::ACCESS_DENIED);
        }
        rustix::fs::ftruncate(fd, len).map_err(io_err)
    }

    fn set_allocation(&mut self, node: NodeId, size: u64) -> Result<(), NtStatus> {
        let (n, fd) = self.node(node)?;
        if n.stream.is_some() {
            // Streams have no separate allocation; only shrinking below the size matters.
            let cur = self.stat(node)?.end_of_file;
            return if size < cur {
                self.set_len(node, size)
            } else {
                Ok(())
            };
        }
        if n.is_dir {
            return Err(NtStatus::FILE_IS_A_DIRECTORY);
        }
        if !n.writable || self.shares[n.share].read_only {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let meta = Meta::of(fd).map_err(io_err)?;
        if size < meta.size {
            rustix::fs::ftruncate(fd, size).map_err(io_err)
        } else {
            allocate(fd, size).map_err(io_err)
        }
    }

    fn set_basic(&mut self, node: NodeId, info: &BasicInfo) -> Result<(), NtStatus> {
        let (n, fd) = self.node(node)?;
        if self.shares[n.share].read_only {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let ctx = self.ctx(n.share);
        if info.attributes.is_some() || info.creation_time.is_some() || info.change_time.is_some() {
            let meta = Meta::of(fd).map_err(io_err)?;
            let mut rec = ctx.record(fd).unwrap_or_else(|| {
                DosRecord::new(dosattr::attributes(&meta, None, "") & attr::SETTABLE)
            });
            if let Some(a) = info.attributes {
                rec.attributes = a & attr::SETTABLE;
            }
            if let Some(t) = info.creation_time {
                rec.creation_time = Some(t);
            }
            if let Some(t) = info.change_time {
                rec.change_time = Some(t);
            }
            ctx.store(fd, &meta, &rec).map_err(io_err)?;
        }
        if info.last_access_time.is_some() || info.last_write_time.is_some() {
            let omit = Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            };
            let times = Timestamps {
                last_access: info.last_access_time.map_or(omit, dosattr::timespec),
                last_modification: info.last_write_time.map_or(omit, dosattr::timespec),
            };
            rustix::fs::futimens(fd, &times).map_err(io_err)?;
        }
        Ok(())
    }

    fn rename(&mut self, node: NodeId, new_path: &str, replace: bool) -> Result<(), NtStatus> {
        validate(new_path)?;
        let i = self.node_index(node)?;
        let (n, fd) = self.node(node)?;
        let si = n.share;
        if self.shares[si].read_only || n.path.is_empty() || new_path.is_empty() {
            return Err(NtStatus::ACCESS_DENIED);
        }
        if n.unlinked {
            return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
        }
        if n.path == new_path {
            return Ok(());
        }
        let ctx = self.ctx(si);
        let (old_parent, old_name) = split_parent(&n.path);
        let (new_parent, new_name) = split_parent(new_path);
        let opfd = ctx.open_parent(old_parent)?;
        ctx.check_identity(opfd.as_fd(), old_name, fd)?;
        let npfd = ctx.open_parent(new_parent)?;
        let exists = |npfd: BorrowedFd<'_>| Meta::at(npfd, new_name, AtFlags::SYMLINK_NOFOLLOW);
        if replace {
            if exists(npfd.as_fd()).is_ok_and(|m| m.is_dir()) {
                return Err(NtStatus::ACCESS_DENIED);
            }
            rustix::fs::renameat(&opfd, old_name, &npfd, new_name).map_err(errno::map_rename)?;
        } else {
            match rustix::fs::renameat_with(
                &opfd,
                old_name,
                &npfd,
                new_name,
                RenameFlags::NOREPLACE,
            ) {
                Ok(()) => {}
                // The file system does not support RENAME_NOREPLACE: check, then rename.
                Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
                    if exists(npfd.as_fd()).is_ok() {
                        return Err(NtStatus::OBJECT_NAME_COLLISION);
                    }
                    rustix::fs::renameat(&opfd, old_name, &npfd, new_name)
                        .map_err(errno::map_rename)?;
                }
                Err(e) => return Err(errno::map_rename(e)),
            }
        }
        let mut old = std::mem::take(&mut self.scratch);
        old.clear();
        old.push_str(&self.nodes[i].path);
        // The case-lookup cache: both parents changed; a renamed directory's own entries move.
        self.case.forget(si, &old);
        self.case_changed(si, &old, false);
        self.case_changed(si, new_path, true);
        self.scratch = old;
        self.repath(i, si, new_path);
        Ok(())
    }

    fn unlink(&mut self, node: NodeId) -> Result<(), NtStatus> {
        let i = self.node_index(node)?;
        let (n, fd) = self.node(node)?;
        if let Some(xn) = &n.stream {
            if self.shares[n.share].read_only {
                return Err(NtStatus::ACCESS_DENIED);
            }
            return stream::remove(fd, xn);
        }
        if self.shares[n.share].read_only || n.path.is_empty() {
            return Err(NtStatus::ACCESS_DENIED);
        }
        if n.unlinked {
            return Ok(());
        }
        let ctx = self.ctx(n.share);
        let (parent, name) = split_parent(&n.path);
        let pfd = ctx.open_parent(parent)?;
        let link = ctx.check_identity(pfd.as_fd(), name, fd)?;
        let flags = if n.is_dir && !link {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rustix::fs::unlinkat(&pfd, name, flags).map_err(errno::map_unlink)?;
        self.nodes[i].unlinked = true;
        // The path, copied to the scratch buffer (no allocation) for the case cache's update.
        let mut path = std::mem::take(&mut self.scratch);
        path.clear();
        path.push_str(&self.nodes[i].path);
        let si = self.nodes[i].share;
        self.case_changed(si, &path, false);
        self.scratch = path;
        Ok(())
    }

    fn is_empty_dir(&mut self, node: NodeId) -> Result<bool, NtStatus> {
        let (n, fd) = self.node(node)?;
        if !n.is_dir {
            return Ok(false);
        }
        dir::is_empty(fd).map_err(io_err)
    }

    fn read_dir(
        &mut self,
        node: NodeId,
        restart: bool,
        f: &mut dyn FnMut(&DirEntry<'_>) -> bool,
    ) -> Result<bool, NtStatus> {
        let i = self.node_index(node)?;
        let Self {
            shares,
            nodes,
            resolver,
            opath_xattr,
            dirbuf,
            scratch,
            ..
        } = self;
        let n = &mut nodes[i];
        if !n.is_dir {
            return Err(NtStatus::NOT_A_DIRECTORY);
        }
        let Some(fd) = n.fd.as_ref() else {
            return Err(NtStatus::INVALID_HANDLE);
        };
        let fd = fd.as_fd();
        let ctx = ctx(&shares[n.share], resolver, opath_xattr);
        if restart {
            n.cursor.rewind();
        }
        let path = n.path.as_str();
        let unlinked = n.unlinked;
        let mut dots = || {
            let meta = Meta::of(fd)?;
            let dot = file_info(&meta, ctx.record(fd).as_ref(), ".");
            let dotdot = if path.is_empty() || unlinked {
                dot
            } else {
                ctx.info_path(split_parent(path).0, "..").unwrap_or(dot)
            };
            Ok((dot, dotdot))
        };
        dir::read(&ctx, fd, path, &mut n.cursor, &mut dots, dirbuf, scratch, f).map_err(io_err)
    }

    /// The stored path; `""` for a node that is not open.
    fn path(&self, node: NodeId) -> &str {
        self.node(node).map_or("", |(n, _)| n.path.as_str())
    }

    fn stream_name(&self, node: NodeId) -> Option<&str> {
        let (n, _) = self.node(node).ok()?;
        n.stream.as_deref().and_then(stream::name_of)
    }

    fn fs_info(&mut self, share: ShareId) -> Result<FsInfo, NtStatus> {
        let si = self.share_index(share)?;
        let root = self.shares[si].root.as_fd();
        let vfs = rustix::fs::fstatvfs(root).map_err(io_err)?;
        let meta = Meta::of(root).map_err(io_err)?;
        let rec = self.ctx(si).record(root);
        let created = file_info(&meta, rec.as_ref(), "").creation_time;
        let frsize = if vfs.f_frsize == 0 {
            vfs.f_bsize
        } else {
            vfs.f_frsize
        };
        let mut serial = (vfs.f_fsid & 0xffff_ffff) as u32;
        if serial == 0 {
            let h = meta.ino ^ meta.dev.rotate_left(32);
            serial = (h ^ (h >> 32)) as u32;
        }
        Ok(FsInfo {
            total_bytes: vfs.f_blocks.saturating_mul(frsize),
            free_bytes: vfs.f_bfree.saturating_mul(frsize),
            avail_bytes: vfs.f_bavail.saturating_mul(frsize),
            block_size: u32::try_from(frsize).unwrap_or(u32::MAX),
            sector_size: 512,
            serial,
            created,
            max_name_len: u32::try_from(vfs.f_namemax).unwrap_or(255),
        })
    }

    fn open_stream(
        &mut self,
        share: ShareId,
        path: &str,
        name: &str,
        args: &OpenArgs,
    ) -> Result<(NodeId, CreateAction, FileInfo), NtStatus> {
        let si = self.share_index(share)?;
        if !self.shares[si].xattr {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        let creating = !matches!(args.disposition, Disposition::Open);
        if self.shares[si].read_only && (args.write || creating) {
            return Err(NtStatus::ACCESS_DENIED);
        }
        // The file itself, opened read-only: xattrs are written through any fd the owner holds.
        let base = OpenArgs {
            disposition: Disposition::Open,
            want: Want::Any,
            write: false,
            attributes: 0,
            allocation_size: 0,
            access: AccessHint::Normal,
        };
        let (node, _, _) = self.open(share, path, &base)?;
        let r = (|| {
            let (_, fd) = self.node(node)?;
            // Stream names compare case-insensitively, as on Windows; they keep the case they
            // were created with.
            let xn = stream::resolve(fd, name)?;
            let exists = stream::size(fd, &xn)?;
            let action = match (args.disposition, exists) {
                (Disposition::Open | Disposition::Overwrite, None) => {
                    return Err(NtStatus::OBJECT_NAME_NOT_FOUND)
                }
                (Disposition::Create, Some(_)) => return Err(NtStatus::OBJECT_NAME_COLLISION),
                (Disposition::Open | Disposition::OpenIf, Some(_)) => CreateAction::Opened,
                (_, None) => CreateAction::Created,
                (Disposition::Supersede, Some(_)) => CreateAction::Superseded,
                (_, Some(_)) => CreateAction::Overwritten,
            };
            if action != CreateAction::Opened {
                stream::set(fd, &xn, b"")?;
            }
            Ok((action, xn))
        })();
        let (action, xn) = match r {
            Ok(a) => a,
            Err(e) => {
                self.close(node);
                return Err(e);
            }
        };
        let i = self.node_index(node)?;
        let n = &mut self.nodes[i];
        n.stream = Some(xn);
        n.is_dir = false;
        n.writable = args.write;
        let info = self.stat(node)?;
        Ok((node, action, info))
    }

    fn list_streams(&mut self, node: NodeId, f: &mut dyn FnMut(&str, u64)) -> Result<(), NtStatus> {
        let (n, xattr, eabufs) = self.node_with_eabufs(node)?;
        let fd = n.fd.as_ref().ok_or(NtStatus::INVALID_HANDLE)?.as_fd();
        let meta = Meta::of(fd).map_err(io_err)?;
        if !meta.is_dir() {
            f("", meta.size);
        }
        if xattr {
            stream::list(fd, eabufs, f)?;
        }
        Ok(())
    }

    fn resolve_case(
        &mut self,
        share: ShareId,
        path: &str,
        out: &mut [u8],
    ) -> Result<Option<usize>, NtStatus> {
        validate(path)?;
        if path.is_empty() {
            return Ok(None);
        }
        let si = self.share_index(share)?;
        let root = self.shares[si].root.as_fd();
        let real = self
            .case
            .resolve(si, root, &self.resolver, path)
            .map_err(errno::map)?;
        match real {
            Some(r) if r.len() <= out.len() => {
                out[..r.len()].copy_from_slice(r.as_bytes());
                Ok(Some(r.len()))
            }
            Some(_) => Err(NtStatus::NAME_TOO_LONG),
            None => Ok(None),
        }
    }

    fn get_security(&mut self, node: NodeId, out: &mut [u8]) -> Result<usize, NtStatus> {
        let (_, fd) = self.node(node)?;
        xattr::get(fd, xattr::NTACL, out)
    }

    fn get_security_path(
        &mut self,
        share: ShareId,
        path: &str,
        out: &mut [u8],
    ) -> Result<usize, NtStatus> {
        validate(path)?;
        let si = self.share_index(share)?;
        let ctx = self.ctx(si);
        if !ctx.xattr {
            return Ok(0);
        }
        let probe = ctx.probe(path, OFlags::PATH)?;
        let meta = Meta::of(probe.as_fd()).map_err(errno::map)?;
        if !meta.is_servable() {
            return Ok(0);
        }
        let flags = if meta.is_dir() {
            REOPEN_FLAGS | OFlags::DIRECTORY
        } else {
            REOPEN_FLAGS
        };
        let fd = ctx
            .resolver
            .open(ctx.root, path, flags, Mode::empty())
            .map_err(errno::map)?;
        xattr::get(fd.as_fd(), xattr::NTACL, out)
    }

    fn set_security(&mut self, node: NodeId, sd: &[u8]) -> Result<(), NtStatus> {
        let (n, fd) = self.node(node)?;
        if self.shares[n.share].read_only {
            return Err(NtStatus::ACCESS_DENIED);
        }
        if !self.shares[n.share].xattr {
            return Err(NtStatus::NOT_SUPPORTED);
        }
        xattr::set(fd, xattr::NTACL, sd)
    }

    fn list_eas(&mut self, node: NodeId, f: &mut dyn FnMut(&str, &[u8])) -> Result<(), NtStatus> {
        let (n, xattr, eabufs) = self.node_with_eabufs(node)?;
        if !xattr {
            return Ok(());
        }
        let fd = n.fd.as_ref().ok_or(NtStatus::INVALID_HANDLE)?;
        xattr::list_eas(fd.as_fd(), eabufs, f)
    }

    fn set_ea(&mut self, node: NodeId, name: &str, value: &[u8]) -> Result<(), NtStatus> {
        let (n, fd) = self.node(node)?;
        if self.shares[n.share].read_only {
            return Err(NtStatus::ACCESS_DENIED);
        }
        if !self.shares[n.share].xattr {
            return Err(NtStatus::EAS_NOT_SUPPORTED);
        }
        xattr::set_ea(fd, name, value)
    }
}
