//! [`MemVfs`]: an in-memory [`Vfs`] with the semantics the trait documents, strict about its
//! inputs. Every path the engine hands it is checked against the normalized form of
//! [`smb_proto::vfs`]; a path that could escape the share (or a stale [`NodeId`]) panics, which
//! turns an engine bug into a test failure instead of a silent pass.
//!
//! Steady-state operations (open of an existing file, read, write within the current size,
//! stat, directory listing, close) do not allocate once the handle table and the cursor names
//! have grown to their working size; `tests/alloc.rs` relies on that.

use std::collections::BTreeMap;
use std::ops::Bound;

use smb_proto::vfs::{
    attr, BasicInfo, CreateAction, DirEntry, Disposition, FileInfo, FsInfo, NodeId, OpenArgs,
    ShareId, Vfs, Want,
};
use smb_wire::NtStatus;

use crate::Clock;

/// Allocation unit reported in `allocation_size` and `fs_info`.
pub const BLOCK: u64 = 4096;
/// Most bytes of extended attributes (names and values) a node may hold, like ext4's
/// one-block xattr limit.
pub const EA_SPACE: usize = 4096;

/// Why a path handed to the VFS is not in the normalized form, if it is not.
pub fn path_violation(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return None;
    }
    if path.starts_with('/') {
        return Some("starts with '/'");
    }
    for comp in path.split('/') {
        if comp.is_empty() {
            return Some("empty component");
        }
        if comp == "." || comp == ".." {
            return Some("'.' or '..' component");
        }
        for c in comp.chars() {
            match c {
                ':' => return Some("':' (stream syntax)"),
                '\\' => return Some("backslash"),
                '\0'..='\u{1f}' => return Some("control character"),
                _ => {}
            }
        }
    }
    None
}

/// Panics unless `path` is normalized: the engine must never pass anything else.
#[track_caller]
fn assert_normalized(path: &str) {
    if let Some(why) = path_violation(path) {
        panic!("MemVfs received a non-normalized path {path:?}: {why} (engine bug)");
    }
}

#[derive(Debug)]
enum Kind {
    File(Vec<u8>),
    Dir(BTreeMap<String, u64>),
}

#[derive(Debug)]
struct Inode {
    kind: Kind,
    share: ShareId,
    parent: u64,
    creation_time: u64,
    last_access_time: u64,
    last_write_time: u64,
    change_time: u64,
    /// DOS attributes without DIRECTORY/NORMAL (added when reported).
    attributes: u32,
    /// Reserved bytes (`set_allocation`, create-time allocation size).
    allocation: u64,
    /// 0 once unlinked.
    links: u32,
    /// Open handles referring to it.
    opens: u32,
    /// Stored self-relative security descriptor (empty: none).
    sd: Vec<u8>,
    /// Extended attributes, in insertion order.
    eas: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    Start,
    AfterDot,
    AfterDotDot,
    /// After the child named in `cursor_name`.
    AfterName,
    End,
}

#[derive(Debug)]
struct Handle {
    live: bool,
    ino: u64,
    path: String,
    cursor: Cursor,
    cursor_name: String,
}

/// Counters of VFS calls, for tests that check what the engine did (or did not do).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Calls {
    pub open: u64,
    pub close: u64,
    pub stat: u64,
    pub stat_path: u64,
    pub read: u64,
    pub write: u64,
    pub flush: u64,
    pub set_len: u64,
    pub set_allocation: u64,
    pub set_basic: u64,
    pub rename: u64,
    pub unlink: u64,
    pub read_dir: u64,
    pub fs_info: u64,
}

/// An in-memory file system with one directory tree per share. Names are case-sensitive
/// (like Samba on a POSIX file system with `case sensitive = yes`).
#[derive(Debug)]
pub struct MemVfs {
    /// Index = inode number = `FileInfo::file_id`; 0 is never used.
    inodes: Vec<Option<Inode>>,
    roots: Vec<(ShareId, u64)>,
    handles: Vec<Handle>,
    free_handles: Vec<u32>,
    clock: Clock,
    /// Largest end of file accepted (writes and `set_len` beyond are `DISK_FULL`), so hostile
    /// offsets cannot make the test process allocate gigabytes.
    pub max_file_size: u64,
    /// Reported volume size.
    pub total_bytes: u64,
    /// Calls made so far.
    pub calls: Calls,
    /// The access hint of the last `open` (what CREATE's options said).
    pub last_access: smb_proto::vfs::AccessHint,
    /// Make every `read` allocate (a fault injected to prove the allocation counter of
    /// `tests/alloc.rs` sees allocations made inside `handle_frame`).
    pub alloc_in_read: bool,
    /// Make `try_read` decline (`PENDING`) as a host fetching from a slow disk would; the
    /// tickets it was given are kept in `deferred_reads` for the test to pass to
    /// `Server::io_ready`.
    pub defer_reads: bool,
    /// Tickets of declined reads, oldest first.
    pub deferred_reads: Vec<u64>,
    /// Make `try_flush` decline (`PENDING`), keeping the ticket in `deferred_flushes`.
    pub defer_flushes: bool,
    /// Tickets of declined flushes, oldest first.
    pub deferred_flushes: Vec<u64>,
    /// Offer zero-copy READ tails (`tail_len`) for files.
    pub tail_reads: bool,
    /// Tails offered so far.
    pub tails_offered: u64,
}

impl MemVfs {
    /// An empty VFS without shares; times come from `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            inodes: vec![None],
            roots: Vec::new(),
            handles: Vec::new(),
            free_handles: Vec::new(),
            clock,
            max_file_size: 16 << 20,
            total_bytes: 1 << 30,
            calls: Calls::default(),
            last_access: Default::default(),
            alloc_in_read: false,
            defer_reads: false,
            deferred_reads: Vec::new(),
            defer_flushes: false,
            deferred_flushes: Vec::new(),
            tail_reads: false,
            tails_offered: 0,
        }
    }

    /// Adds an empty root directory for `share`.
    pub fn add_share(&mut self, share: ShareId) {
        assert!(self.root(share).is_none(), "share {share:?} added twice");
        let ino = self.new_inode(share, 0, Kind::Dir(BTreeMap::new()), attr::DIRECTORY);
        if let Some(i) = self.inodes[ino as usize].as_mut() {
            i.parent = ino;
        }
        self.roots.push((share, ino));
    }

    fn now(&self) -> u64 {
        self.clock.get()
    }

    fn root(&self, share: ShareId) -> Option<u64> {
        self.roots
            .iter()
            .find(|(s, _)| *s == share)
            .map(|(_, r)| *r)
    }

    fn new_inode(&mut self, share: ShareId, parent: u64, kind: Kind, attributes: u32) -> u64 {
        let now = self.now();
        let ino = Inode {
            kind,
            share,
            parent,
            creation_time: now,
            last_access_time: now,
            last_write_time: now,
            change_time: now,
            attributes: attributes & (attr::SETTABLE),
            allocation: 0,
            links: 1,
            opens: 0,
            sd: Vec::new(),
            eas: Vec::new(),
        };
        self.inodes.push(Some(ino));
        (self.inodes.len() - 1) as u64
    }

    fn inode(&self, ino: u64) -> &Inode {
        self.inodes
            .get(ino as usize)
            .and_then(Option::as_ref)
            .unwrap_or_else(|| panic!("MemVfs: inode {ino} does not exist (harness bug)"))
    }

    fn inode_mut(&mut self, ino: u64) -> &mut Inode {
        self.inodes
            .get_mut(ino as usize)
            .and_then(Option::as_mut)
            .unwrap_or_else(|| panic!("MemVfs: inode {ino} does not exist (harness bug)"))
    }

    #[track_caller]
    fn handle(&self, node: NodeId) -> &Handle {
        match self.handles.get(node.0 as usize) {
            Some(h) if h.live => h,
            _ => panic!("MemVfs: {node:?} is not open (engine used a stale or invented node)"),
        }
    }

    fn info_of(&self, ino: u64) -> FileInfo {
        info_from(&self.inodes, ino)
    }

    /// Resolves `path` in `share`: `Ok(ino)`, or the Windows status for a missing name.
    fn lookup(&self, share: ShareId, path: &str) -> Result<u64, NtStatus> {
        let root = self.root(share).ok_or(NtStatus::BAD_NETWORK_NAME)?;
        if path.is_empty() {
            return Ok(root);
        }
        let mut cur = root;
        let mut comps = path.split('/').peekable();
        while let Some(c) = comps.next() {
            let last = comps.peek().is_none();
            let Kind::Dir(children) = &self.inode(cur).kind else {
                return Err(NtStatus::OBJECT_PATH_NOT_FOUND);
            };
            match children.get(c) {
                Some(&ino) => cur = ino,
                None if last => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
                None => return Err(NtStatus::OBJECT_PATH_NOT_FOUND),
            }
        }
        Ok(cur)
    }

    /// The parent directory of `path` and the last component.
    fn lookup_parent<'p>(&self, share: ShareId, path: &'p str) -> Result<(u64, &'p str), NtStatus> {
        let (dir, name) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        let parent = self.lookup(share, dir).map_err(|e| match e {
            NtStatus::OBJECT_NAME_NOT_FOUND => NtStatus::OBJECT_PATH_NOT_FOUND,
            e => e,
        })?;
        match self.inode(parent).kind {
            Kind::Dir(_) => Ok((parent, name)),
            Kind::File(_) => Err(NtStatus::OBJECT_PATH_NOT_FOUND),
        }
    }

    fn used_bytes(&self) -> u64 {
        self.inodes
            .iter()
            .flatten()
            .map(|i| match &i.kind {
                Kind::File(d) => (d.len() as u64).max(i.allocation),
                Kind::Dir(_) => 0,
            })
            .sum()
    }

    fn alloc_handle(&mut self, ino: u64, path: &str) -> NodeId {
        let idx = match self.free_handles.pop() {
            Some(i) => i as usize,
            None => {
                self.handles.push(Handle {
                    live: false,
                    ino: 0,
                    path: String::new(),
                    cursor: Cursor::Start,
                    cursor_name: String::new(),
                });
                self.handles.len() - 1
            }
        };
        let h = &mut self.handles[idx];
        h.live = true;
        h.ino = ino;
        h.path.clear();
        h.path.push_str(path);
        h.cursor = Cursor::Start;
        h.cursor_name.clear();
        self.inode_mut(ino).opens += 1;
        NodeId(idx as u32)
    }

    fn truncate(&mut self, ino: u64, attributes: Option<u32>) {
        let now = self.now();
        let i = self.inode_mut(ino);
        if let Kind::File(d) = &mut i.kind {
            d.clear();
        }
        i.allocation = 0;
        if let Some(a) = attributes {
            i.attributes = (a & attr::SETTABLE) | attr::ARCHIVE;
        }
        i.last_write_time = now;
        i.change_time = now;
    }

    /// Detaches `ino` from its parent directory (the name disappears).
    fn detach(&mut self, ino: u64) {
        let parent = self.inode(ino).parent;
        if parent == ino {
            return;
        }
        let now = self.now();
        if let Some(Some(p)) = self.inodes.get_mut(parent as usize) {
            if let Kind::Dir(children) = &mut p.kind {
                children.retain(|_, v| *v != ino);
            }
            p.last_write_time = now;
            p.change_time = now;
        }
        let i = self.inode_mut(ino);
        i.links = 0;
    }

    /// Frees an unlinked inode with no open handles.
    fn maybe_free(&mut self, ino: u64) {
        let i = self.inode(ino);
        if i.links == 0 && i.opens == 0 {
            self.inodes[ino as usize] = None;
        }
    }

    /// Whether `ino` is `anc` or lies below it.
    fn is_within(&self, mut ino: u64, anc: u64) -> bool {
        loop {
            if ino == anc {
                return true;
            }
            let p = self.inode(ino).parent;
            if p == ino {
                return false;
            }
            ino = p;
        }
    }

    // ---- Test helpers (not part of the `Vfs` trait) ----

    /// Creates the directories of `path` (normalized, `/`-separated) as needed.
    pub fn mkdir_p(&mut self, share: ShareId, path: &str) {
        assert_normalized(path);
        let mut cur = self.root(share).expect("unknown share");
        if path.is_empty() {
            return;
        }
        for c in path.split('/') {
            let next = match &self.inode(cur).kind {
                Kind::Dir(ch) => ch.get(c).copied(),
                Kind::File(_) => panic!("mkdir_p: {c} is below a file"),
            };
            cur = match next {
                Some(i) => i,
                None => {
                    let ino = self.new_inode(share, cur, Kind::Dir(BTreeMap::new()), 0);
                    if let Kind::Dir(ch) = &mut self.inode_mut(cur).kind {
                        ch.insert(c.to_owned(), ino);
                    }
                    ino
                }
            };
        }
    }

    /// Creates or replaces the file `path` with `data` (parents are created).
    pub fn put_file(&mut self, share: ShareId, path: &str, data: &[u8]) {
        assert_normalized(path);
        let (dir, name) = match path.rfind('/') {
            Some(i) => (&path[..i], &path[i + 1..]),
            None => ("", path),
        };
        self.mkdir_p(share, dir);
        let parent = self.lookup(share, dir).expect("parent just made");
        let existing = match &self.inode(parent).kind {
            Kind::Dir(ch) => ch.get(name).copied(),
            Kind::File(_) => unreachable!(),
        };
        let ino = match existing {
            Some(i) => i,
            None => {
                let ino = self.new_inode(share, parent, Kind::File(Vec::new()), attr::ARCHIVE);
                if let Kind::Dir(ch) = &mut self.inode_mut(parent).kind {
                    ch.insert(name.to_owned(), ino);
                }
                ino
            }
        };
        match &mut self.inode_mut(ino).kind {
            Kind::File(d) => {
                d.clear();
                d.extend_from_slice(data);
            }
            Kind::Dir(_) => panic!("put_file: {path} is a directory"),
        }
    }

    /// Reserves capacity so that writes up to `len` bytes into an existing file do not
    /// allocate (for allocation-counting tests).
    pub fn reserve(&mut self, share: ShareId, path: &str, len: usize) {
        let ino = self.lookup(share, path).expect("reserve: no such file");
        if let Kind::File(d) = &mut self.inode_mut(ino).kind {
            d.reserve(len.saturating_sub(d.len()));
        }
    }

    /// The content of file `path`, if it exists and is a file.
    pub fn file(&self, share: ShareId, path: &str) -> Option<Vec<u8>> {
        let ino = self.lookup(share, path).ok()?;
        match &self.inode(ino).kind {
            Kind::File(d) => Some(d.clone()),
            Kind::Dir(_) => None,
        }
    }

    /// Metadata of `path`, if it exists.
    pub fn info(&self, share: ShareId, path: &str) -> Option<FileInfo> {
        self.lookup(share, path).ok().map(|i| self.info_of(i))
    }

    /// Whether `path` exists.
    pub fn exists(&self, share: ShareId, path: &str) -> bool {
        self.lookup(share, path).is_ok()
    }

    /// Names in directory `path` (sorted, without `.` and `..`).
    pub fn list(&self, share: ShareId, path: &str) -> Vec<String> {
        let ino = self.lookup(share, path).expect("list: no such directory");
        match &self.inode(ino).kind {
            Kind::Dir(ch) => ch.keys().cloned().collect(),
            Kind::File(_) => panic!("list: {path} is a file"),
        }
    }

    /// Number of nodes currently open.
    pub fn open_nodes(&self) -> usize {
        self.handles.iter().filter(|h| h.live).count()
    }

    /// Paths of the nodes currently open.
    pub fn open_paths(&self) -> Vec<String> {
        self.handles
            .iter()
            .filter(|h| h.live)
            .map(|h| h.path.clone())
            .collect()
    }
}

impl Vfs for MemVfs {
    fn open(
        &mut self,
        share: ShareId,
        path: &str,
        args: &OpenArgs,
    ) -> Result<(NodeId, CreateAction, FileInfo), NtStatus> {
        self.last_access = args.access;
        assert_normalized(path);
        self.calls.open += 1;
        let existing = match self.lookup(share, path) {
            Ok(i) => Some(i),
            Err(NtStatus::OBJECT_NAME_NOT_FOUND) => None,
            Err(e) => return Err(e),
        };
        let action = match existing {
            Some(ino) => {
                let is_dir = matches!(self.inode(ino).kind, Kind::Dir(_));
                if args.disposition == Disposition::Create {
                    return Err(NtStatus::OBJECT_NAME_COLLISION);
                }
                if is_dir && args.want == Want::File {
                    return Err(NtStatus::FILE_IS_A_DIRECTORY);
                }
                if !is_dir && args.want == Want::Directory {
                    return Err(NtStatus::NOT_A_DIRECTORY);
                }
                let truncating = matches!(
                    args.disposition,
                    Disposition::Supersede | Disposition::Overwrite | Disposition::OverwriteIf
                );
                if truncating && is_dir {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                if (args.write || truncating)
                    && !is_dir
                    && self.inode(ino).attributes & attr::READONLY != 0
                {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                match args.disposition {
                    Disposition::Supersede => {
                        self.truncate(ino, Some(args.attributes));
                        CreateAction::Superseded
                    }
                    Disposition::Overwrite | Disposition::OverwriteIf => {
                        self.truncate(ino, Some(args.attributes));
                        CreateAction::Overwritten
                    }
                    _ => CreateAction::Opened,
                }
            }
            None => {
                if matches!(args.disposition, Disposition::Open | Disposition::Overwrite) {
                    return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
                }
                let (parent, name) = self.lookup_parent(share, path)?;
                if name.is_empty() {
                    // The root always exists; an empty name cannot be created.
                    return Err(NtStatus::OBJECT_NAME_INVALID);
                }
                if args.allocation_size > self.max_file_size {
                    return Err(NtStatus::DISK_FULL);
                }
                let (kind, attributes) = if args.want == Want::Directory {
                    (Kind::Dir(BTreeMap::new()), args.attributes)
                } else {
                    (Kind::File(Vec::new()), args.attributes | attr::ARCHIVE)
                };
                let ino = self.new_inode(share, parent, kind, attributes);
                self.inode_mut(ino).allocation = args.allocation_size;
                let now = self.now();
                let p = self.inode_mut(parent);
                if let Kind::Dir(ch) = &mut p.kind {
                    ch.insert(name.to_owned(), ino);
                }
                p.last_write_time = now;
                p.change_time = now;
                CreateAction::Created
            }
        };
        let ino = self.lookup(share, path)?;
        let node = self.alloc_handle(ino, path);
        Ok((node, action, self.info_of(ino)))
    }

    fn close(&mut self, node: NodeId) {
        self.calls.close += 1;
        let ino = self.handle(node).ino;
        let h = &mut self.handles[node.0 as usize];
        h.live = false;
        self.free_handles.push(node.0);
        let i = self.inode_mut(ino);
        i.opens -= 1;
        self.maybe_free(ino);
    }

    fn stat(&mut self, node: NodeId) -> Result<FileInfo, NtStatus> {
        self.calls.stat += 1;
        let ino = self.handle(node).ino;
        Ok(self.info_of(ino))
    }

    fn stat_path(&mut self, share: ShareId, path: &str) -> Result<FileInfo, NtStatus> {
        assert_normalized(path);
        self.calls.stat_path += 1;
        let ino = self.lookup(share, path)?;
        Ok(self.info_of(ino))
    }

    fn try_read(
        &mut self,
        node: NodeId,
        offset: u64,
        out: &mut [u8],
        ticket: u64,
    ) -> Result<usize, NtStatus> {
        if self.defer_reads {
            self.deferred_reads.push(ticket);
            return Err(NtStatus::PENDING);
        }
        self.read(node, offset, out)
    }

    fn tail_len(&mut self, node: NodeId, offset: u64, len: u32) -> Result<Option<u32>, NtStatus> {
        if !self.tail_reads {
            return Ok(None);
        }
        let ino = self.handle(node).ino;
        let Kind::File(d) = &self.inode_mut(ino).kind else {
            return Ok(None);
        };
        let left = (d.len() as u64).saturating_sub(offset);
        self.tails_offered += 1;
        Ok(Some(u32::try_from(left.min(u64::from(len))).unwrap_or(len)))
    }

    fn try_flush(&mut self, node: NodeId, ticket: u64) -> Result<(), NtStatus> {
        if self.defer_flushes {
            self.deferred_flushes.push(ticket);
            return Err(NtStatus::PENDING);
        }
        self.flush(node)
    }

    fn read(&mut self, node: NodeId, offset: u64, out: &mut [u8]) -> Result<usize, NtStatus> {
        self.calls.read += 1;
        if self.alloc_in_read {
            std::hint::black_box(Box::new(offset));
        }
        let ino = self.handle(node).ino;
        let now = self.now();
        let i = self.inode_mut(ino);
        let Kind::File(d) = &i.kind else {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        };
        let n = if offset >= d.len() as u64 {
            0
        } else {
            let off = offset as usize;
            let n = out.len().min(d.len() - off);
            out[..n].copy_from_slice(&d[off..off + n]);
            n
        };
        i.last_access_time = now;
        Ok(n)
    }

    fn write(&mut self, node: NodeId, offset: u64, data: &[u8]) -> Result<usize, NtStatus> {
        self.calls.write += 1;
        let ino = self.handle(node).ino;
        let max = self.max_file_size;
        let now = self.now();
        let i = self.inode_mut(ino);
        let Kind::File(d) = &mut i.kind else {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        };
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        if end > max {
            return Err(NtStatus::DISK_FULL);
        }
        let (off, end) = (offset as usize, end as usize);
        if d.len() < end {
            d.resize(end, 0);
        }
        d[off..end].copy_from_slice(data);
        i.last_write_time = now;
        i.change_time = now;
        i.attributes |= attr::ARCHIVE;
        Ok(data.len())
    }

    fn flush(&mut self, node: NodeId) -> Result<(), NtStatus> {
        self.calls.flush += 1;
        self.handle(node);
        Ok(())
    }

    fn set_len(&mut self, node: NodeId, len: u64) -> Result<(), NtStatus> {
        self.calls.set_len += 1;
        let ino = self.handle(node).ino;
        if len > self.max_file_size {
            return Err(NtStatus::DISK_FULL);
        }
        let now = self.now();
        let i = self.inode_mut(ino);
        let Kind::File(d) = &mut i.kind else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        d.resize(len as usize, 0);
        i.last_write_time = now;
        i.change_time = now;
        Ok(())
    }

    fn set_allocation(&mut self, node: NodeId, size: u64) -> Result<(), NtStatus> {
        self.calls.set_allocation += 1;
        let ino = self.handle(node).ino;
        if size > self.max_file_size {
            return Err(NtStatus::DISK_FULL);
        }
        let i = self.inode_mut(ino);
        let Kind::File(d) = &mut i.kind else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        if (d.len() as u64) > size {
            d.truncate(size as usize);
        }
        i.allocation = size;
        Ok(())
    }

    fn set_basic(&mut self, node: NodeId, info: &BasicInfo) -> Result<(), NtStatus> {
        self.calls.set_basic += 1;
        let ino = self.handle(node).ino;
        let now = self.now();
        let i = self.inode_mut(ino);
        if let Some(t) = info.creation_time {
            i.creation_time = t;
        }
        if let Some(t) = info.last_access_time {
            i.last_access_time = t;
        }
        if let Some(t) = info.last_write_time {
            i.last_write_time = t;
        }
        i.change_time = info.change_time.unwrap_or(now);
        if let Some(a) = info.attributes {
            i.attributes = a & attr::SETTABLE;
        }
        Ok(())
    }

    fn rename(&mut self, node: NodeId, new_path: &str, replace: bool) -> Result<(), NtStatus> {
        assert_normalized(new_path);
        self.calls.rename += 1;
        assert!(!new_path.is_empty(), "MemVfs: rename to the share root");
        let ino = self.handle(node).ino;
        let share = self.inode(ino).share;
        if self.inode(ino).links == 0 {
            return Err(NtStatus::FILE_DELETED);
        }
        if self.inode(ino).parent == ino {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let (parent, name) = self.lookup_parent(share, new_path)?;
        if self.is_within(parent, ino) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let target = match &self.inode(parent).kind {
            Kind::Dir(ch) => ch.get(name).copied(),
            Kind::File(_) => return Err(NtStatus::OBJECT_PATH_NOT_FOUND),
        };
        if let Some(t) = target {
            if t != ino {
                if !replace {
                    return Err(NtStatus::OBJECT_NAME_COLLISION);
                }
                if matches!(self.inode(t).kind, Kind::Dir(_)) {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                self.detach(t);
                self.maybe_free(t);
            }
        }
        let old_path = self.handle(node).path.clone();
        self.detach(ino);
        let now = self.now();
        let p = self.inode_mut(parent);
        if let Kind::Dir(ch) = &mut p.kind {
            ch.insert(name.to_owned(), ino);
        }
        p.last_write_time = now;
        p.change_time = now;
        let i = self.inode_mut(ino);
        i.parent = parent;
        i.links = 1;
        i.change_time = now;
        // Every handle on the node or below it now has the new path.
        for h in self.handles.iter_mut().filter(|h| h.live) {
            if h.path == old_path {
                h.path.clear();
                h.path.push_str(new_path);
            } else if h.path.len() > old_path.len()
                && h.path.starts_with(&old_path)
                && h.path.as_bytes()[old_path.len()] == b'/'
            {
                let rest = h.path[old_path.len()..].to_owned();
                h.path.clear();
                h.path.push_str(new_path);
                h.path.push_str(&rest);
            }
        }
        Ok(())
    }

    fn unlink(&mut self, node: NodeId) -> Result<(), NtStatus> {
        self.calls.unlink += 1;
        let ino = self.handle(node).ino;
        let i = self.inode(ino);
        if i.parent == ino {
            return Err(NtStatus::ACCESS_DENIED);
        }
        if i.links == 0 {
            return Ok(());
        }
        if let Kind::Dir(ch) = &i.kind {
            if !ch.is_empty() {
                return Err(NtStatus::DIRECTORY_NOT_EMPTY);
            }
        }
        self.detach(ino);
        Ok(())
    }

    fn is_empty_dir(&mut self, node: NodeId) -> Result<bool, NtStatus> {
        let ino = self.handle(node).ino;
        Ok(match &self.inode(ino).kind {
            Kind::Dir(ch) => ch.is_empty(),
            Kind::File(_) => false,
        })
    }

    fn read_dir(
        &mut self,
        node: NodeId,
        restart: bool,
        f: &mut dyn FnMut(&DirEntry<'_>) -> bool,
    ) -> Result<bool, NtStatus> {
        self.calls.read_dir += 1;
        let idx = node.0 as usize;
        let ino = self.handle(node).ino;
        if restart {
            self.handles[idx].cursor = Cursor::Start;
        }
        let dir = self.inode(ino);
        if !matches!(dir.kind, Kind::Dir(_)) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let dot = self.info_of(ino);
        let dotdot = if dir.links == 0 {
            dot
        } else {
            self.info_of(dir.parent)
        };
        let Self {
            inodes, handles, ..
        } = self;
        let inodes: &[Option<Inode>] = inodes;
        let Some(Inode {
            kind: Kind::Dir(children),
            ..
        }) = &inodes[ino as usize]
        else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        let h = &mut handles[idx];
        loop {
            match h.cursor {
                Cursor::Start => {
                    if !f(&DirEntry {
                        name: ".",
                        info: dot,
                    }) {
                        return Ok(false);
                    }
                    h.cursor = Cursor::AfterDot;
                }
                Cursor::AfterDot => {
                    if !f(&DirEntry {
                        name: "..",
                        info: dotdot,
                    }) {
                        return Ok(false);
                    }
                    h.cursor = Cursor::AfterDotDot;
                }
                Cursor::AfterDotDot | Cursor::AfterName => {
                    let lower = if h.cursor == Cursor::AfterName {
                        Bound::Excluded(h.cursor_name.as_str())
                    } else {
                        Bound::Unbounded
                    };
                    let next = children.range::<str, _>((lower, Bound::Unbounded)).next();
                    let Some((name, &child)) = next else {
                        h.cursor = Cursor::End;
                        continue;
                    };
                    let info = info_from(inodes, child);
                    if !f(&DirEntry { name, info }) {
                        return Ok(false);
                    }
                    h.cursor_name.clear();
                    h.cursor_name.push_str(name);
                    h.cursor = Cursor::AfterName;
                }
                Cursor::End => return Ok(true),
            }
        }
    }

    fn path(&self, node: NodeId) -> &str {
        &self.handle(node).path
    }

    fn get_security(&mut self, node: NodeId, out: &mut [u8]) -> Result<usize, NtStatus> {
        let ino = self.handle(node).ino;
        copy_sd(&self.inode(ino).sd, out)
    }

    fn get_security_path(
        &mut self,
        share: ShareId,
        path: &str,
        out: &mut [u8],
    ) -> Result<usize, NtStatus> {
        assert_normalized(path);
        let ino = self.lookup(share, path)?;
        copy_sd(&self.inode(ino).sd, out)
    }

    fn set_security(&mut self, node: NodeId, sd: &[u8]) -> Result<(), NtStatus> {
        let ino = self.handle(node).ino;
        let now = self.now();
        let i = self.inode_mut(ino);
        i.sd.clear();
        i.sd.extend_from_slice(sd);
        i.change_time = now;
        Ok(())
    }

    fn list_eas(&mut self, node: NodeId, f: &mut dyn FnMut(&str, &[u8])) -> Result<(), NtStatus> {
        let ino = self.handle(node).ino;
        for (n, v) in &self.inode(ino).eas {
            f(n, v);
        }
        Ok(())
    }

    fn set_ea(&mut self, node: NodeId, name: &str, value: &[u8]) -> Result<(), NtStatus> {
        let ino = self.handle(node).ino;
        let now = self.now();
        let i = self.inode_mut(ino);
        let at = i.eas.iter().position(|(n, _)| n.eq_ignore_ascii_case(name));
        if value.is_empty() {
            if let Some(at) = at {
                i.eas.remove(at);
            }
        } else {
            let others: usize = i
                .eas
                .iter()
                .enumerate()
                .filter(|(k, _)| Some(*k) != at)
                .map(|(_, (n, v))| n.len() + v.len())
                .sum();
            if others + name.len() + value.len() > EA_SPACE {
                return Err(NtStatus::EA_TOO_LARGE);
            }
            match at {
                Some(at) => {
                    i.eas[at].1.clear();
                    i.eas[at].1.extend_from_slice(value);
                }
                None => i.eas.push((name.to_owned(), value.to_vec())),
            }
        }
        i.change_time = now;
        Ok(())
    }

    fn fs_info(&mut self, share: ShareId) -> Result<FsInfo, NtStatus> {
        self.calls.fs_info += 1;
        self.root(share).ok_or(NtStatus::BAD_NETWORK_NAME)?;
        let used = self.used_bytes();
        let free = self.total_bytes.saturating_sub(used);
        Ok(FsInfo {
            total_bytes: self.total_bytes,
            free_bytes: free,
            avail_bytes: free,
            block_size: BLOCK as u32,
            sector_size: 512,
            serial: 0x5eed_0000 | u32::from(share.0),
            created: 0,
            max_name_len: 255,
        })
    }
}

/// Copies a stored security descriptor out (`Ok(0)`: none stored).
fn copy_sd(sd: &[u8], out: &mut [u8]) -> Result<usize, NtStatus> {
    let dst = out.get_mut(..sd.len()).ok_or(NtStatus::BUFFER_TOO_SMALL)?;
    dst.copy_from_slice(sd);
    Ok(sd.len())
}

/// A node's `FileInfo`, from the inode table alone (so `read_dir` can use it under a split
/// borrow).
fn info_from(inodes: &[Option<Inode>], ino: u64) -> FileInfo {
    let i = inodes
        .get(ino as usize)
        .and_then(Option::as_ref)
        .unwrap_or_else(|| panic!("MemVfs: inode {ino} does not exist (harness bug)"));
    let (is_dir, eof) = match &i.kind {
        Kind::File(d) => (false, d.len() as u64),
        Kind::Dir(_) => (true, 0),
    };
    let mut attributes = i.attributes;
    if is_dir {
        attributes |= attr::DIRECTORY;
    }
    if attributes == 0 {
        attributes = attr::NORMAL;
    }
    FileInfo {
        creation_time: i.creation_time,
        last_access_time: i.last_access_time,
        last_write_time: i.last_write_time,
        change_time: i.change_time,
        end_of_file: eof,
        allocation_size: if is_dir {
            0
        } else {
            eof.div_ceil(BLOCK).max(i.allocation.div_ceil(BLOCK)) * BLOCK
        },
        attributes,
        file_id: ino,
        links: i.links,
        is_directory: is_dir,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    const S: ShareId = ShareId(0);

    fn vfs() -> MemVfs {
        let mut v = MemVfs::new(Rc::new(Cell::new(100)));
        v.add_share(S);
        v
    }

    fn args(disposition: Disposition, want: Want) -> OpenArgs {
        OpenArgs {
            disposition,
            want,
            write: true,
            attributes: 0,
            allocation_size: 0,
            access: Default::default(),
        }
    }

    #[test]
    fn dispositions() {
        let mut v = vfs();
        assert_eq!(
            v.open(S, "a", &args(Disposition::Open, Want::Any))
                .unwrap_err(),
            NtStatus::OBJECT_NAME_NOT_FOUND
        );
        assert_eq!(
            v.open(S, "x/a", &args(Disposition::Create, Want::Any))
                .unwrap_err(),
            NtStatus::OBJECT_PATH_NOT_FOUND
        );
        let (n, a, i) = v
            .open(S, "a", &args(Disposition::Create, Want::File))
            .unwrap();
        assert_eq!(a, CreateAction::Created);
        assert_eq!(i.attributes, attr::ARCHIVE);
        assert_eq!(v.write(n, 0, b"hello").unwrap(), 5);
        v.close(n);
        assert_eq!(
            v.open(S, "a", &args(Disposition::Create, Want::Any))
                .unwrap_err(),
            NtStatus::OBJECT_NAME_COLLISION
        );
        let (n, a, i) = v
            .open(S, "a", &args(Disposition::OpenIf, Want::Any))
            .unwrap();
        assert_eq!((a, i.end_of_file), (CreateAction::Opened, 5));
        v.close(n);
        let (n, a, i) = v
            .open(S, "a", &args(Disposition::OverwriteIf, Want::Any))
            .unwrap();
        assert_eq!((a, i.end_of_file), (CreateAction::Overwritten, 0));
        v.close(n);
        let (n, a, _) = v
            .open(S, "a", &args(Disposition::Supersede, Want::Any))
            .unwrap();
        assert_eq!(a, CreateAction::Superseded);
        v.close(n);
        assert_eq!(
            v.open(S, "a", &args(Disposition::Open, Want::Directory))
                .unwrap_err(),
            NtStatus::NOT_A_DIRECTORY
        );
        let (d, a, i) = v
            .open(S, "d", &args(Disposition::Create, Want::Directory))
            .unwrap();
        assert!(i.is_directory && a == CreateAction::Created);
        assert_eq!(
            v.open(S, "d", &args(Disposition::Open, Want::File))
                .unwrap_err(),
            NtStatus::FILE_IS_A_DIRECTORY
        );
        assert_eq!(
            v.open(S, "a/b", &args(Disposition::Create, Want::File))
                .unwrap_err(),
            NtStatus::OBJECT_PATH_NOT_FOUND
        );
        v.close(d);
        assert_eq!(v.open_nodes(), 0);
    }

    #[test]
    fn read_dir_stop_and_resume() {
        let mut v = vfs();
        for n in ["c", "a", "b"] {
            v.put_file(S, &format!("d/{n}"), b"x");
        }
        let (d, _, _) = v
            .open(S, "d", &args(Disposition::Open, Want::Directory))
            .unwrap();
        let mut seen = Vec::new();
        let mut take = 2;
        let end = v
            .read_dir(d, false, &mut |e| {
                if take == 0 {
                    return false;
                }
                take -= 1;
                seen.push(e.name.to_owned());
                true
            })
            .unwrap();
        assert!(!end);
        // A file added before the cursor is not seen twice; resume offers "a" first.
        let end = v
            .read_dir(d, false, &mut |e| {
                seen.push(e.name.to_owned());
                true
            })
            .unwrap();
        assert!(end);
        assert_eq!(seen, [".", "..", "a", "b", "c"]);
        assert!(v.read_dir(d, false, &mut |_| true).unwrap());
        let mut n = 0;
        v.read_dir(d, true, &mut |_| {
            n += 1;
            true
        })
        .unwrap();
        assert_eq!(n, 5);
        v.close(d);
    }

    #[test]
    fn rename_and_unlink() {
        let mut v = vfs();
        v.put_file(S, "a", b"1");
        v.put_file(S, "b", b"2");
        v.mkdir_p(S, "dir/sub");
        let (n, _, _) = v.open(S, "a", &args(Disposition::Open, Want::Any)).unwrap();
        assert_eq!(
            v.rename(n, "b", false).unwrap_err(),
            NtStatus::OBJECT_NAME_COLLISION
        );
        assert_eq!(
            v.rename(n, "dir", true).unwrap_err(),
            NtStatus::ACCESS_DENIED
        );
        assert_eq!(
            v.rename(n, "nope/x", true).unwrap_err(),
            NtStatus::OBJECT_PATH_NOT_FOUND
        );
        v.rename(n, "b", true).unwrap();
        assert_eq!(v.path(n), "b");
        assert_eq!(v.file(S, "b").unwrap(), b"1");
        assert!(!v.exists(S, "a"));
        v.unlink(n).unwrap();
        assert!(!v.exists(S, "b"));
        assert_eq!(v.stat(n).unwrap().links, 0);
        v.close(n);
        let (d, _, _) = v
            .open(S, "dir", &args(Disposition::Open, Want::Any))
            .unwrap();
        assert_eq!(v.unlink(d).unwrap_err(), NtStatus::DIRECTORY_NOT_EMPTY);
        assert_eq!(
            v.rename(d, "dir/sub/x", false).unwrap_err(),
            NtStatus::INVALID_PARAMETER
        );
        v.close(d);
    }

    #[test]
    fn security_descriptors_and_eas() {
        let mut v = vfs();
        let (n, _, _) = v
            .open(S, "f", &args(Disposition::Create, Want::File))
            .unwrap();
        let mut out = [0u8; 8];
        assert_eq!(v.get_security(n, &mut out), Ok(0));
        v.set_security(n, &[1, 0, 4, 0x80, 0, 0, 0, 0, 0, 0])
            .unwrap();
        assert_eq!(v.get_security(n, &mut out), Err(NtStatus::BUFFER_TOO_SMALL));
        let mut out = [0u8; 64];
        assert_eq!(v.get_security_path(S, "f", &mut out), Ok(10));
        v.set_ea(n, "User.A", b"1").unwrap();
        v.set_ea(n, "user.a", b"22").unwrap();
        v.set_ea(n, "b", b"3").unwrap();
        let mut seen = Vec::new();
        v.list_eas(n, &mut |k, val| seen.push((k.to_owned(), val.to_vec())))
            .unwrap();
        assert_eq!(
            seen,
            [
                ("User.A".to_owned(), b"22".to_vec()),
                ("b".to_owned(), b"3".to_vec())
            ]
        );
        v.set_ea(n, "USER.A", b"").unwrap();
        assert_eq!(
            v.set_ea(n, "big", &[0; EA_SPACE]),
            Err(NtStatus::EA_TOO_LARGE)
        );
        v.close(n);
    }

    #[test]
    #[should_panic(expected = "non-normalized")]
    fn refuses_dotdot() {
        let mut v = vfs();
        let _ = v.stat_path(S, "a/../b");
    }

    #[test]
    fn path_rules() {
        for bad in ["/a", "a//b", "a/", ".", "a/..", "a:b", "a\\b", "a\0"] {
            assert!(path_violation(bad).is_some(), "{bad:?}");
        }
        for good in ["", "a", "a/b.txt", "x y/z"] {
            assert!(path_violation(good).is_none(), "{good:?}");
        }
    }
}
