//! The file system the engine serves, injected as a synchronous trait with caller buffers
//! (redb's `StorageBackend` pattern). The engine never names a path on the host: it hands the
//! VFS a share index and a normalized, share-relative path, and the VFS confines every lookup to
//! that share (the platform VFS uses `openat2(RESOLVE_BENEATH)`).
//!
//! Paths given to the VFS are UTF-8, use `/` as the separator, never start with `/`, and contain
//! no empty, `.` or `..` components and no `:` (the engine refuses those first with
//! `STATUS_OBJECT_NAME_INVALID`). The empty path is the share root.

use smb_wire::NtStatus;

/// Index of a share in the server's share list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShareId(pub u16);

/// An open file or directory inside the VFS. The VFS chooses the number; the engine stores it
/// in its open table and returns it on every call until `close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub u32);

/// CREATE disposition ([MS-SMB2] 2.2.13 `CreateDisposition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// If the file exists, replace it (truncate, reset attributes); otherwise create it.
    Supersede,
    /// Open it if it exists; fail with `OBJECT_NAME_NOT_FOUND` otherwise.
    Open,
    /// Create it; fail with `OBJECT_NAME_COLLISION` if it exists.
    Create,
    /// Open it if it exists; create it otherwise.
    OpenIf,
    /// Open and truncate it if it exists; fail otherwise.
    Overwrite,
    /// Open and truncate it if it exists; create it otherwise.
    OverwriteIf,
}

/// What kind of object the client asked for (`FILE_DIRECTORY_FILE` / `FILE_NON_DIRECTORY_FILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Either a file or a directory.
    Any,
    /// Must be a directory (`FILE_DIRECTORY_FILE`); creating makes a directory.
    Directory,
    /// Must not be a directory (`FILE_NON_DIRECTORY_FILE`).
    File,
}

/// Arguments of [`Vfs::open`].
#[derive(Debug, Clone, Copy)]
pub struct OpenArgs {
    pub disposition: Disposition,
    pub want: Want,
    /// The open needs write access to the data (write, append or truncate).
    pub write: bool,
    /// DOS attributes to set when the file is created, superseded or overwritten
    /// (`FILE_ATTRIBUTE_*`, [MS-FSCC] 2.6). `ARCHIVE` is added for files by the VFS.
    pub attributes: u32,
    /// Initial size to allocate when creating, 0 for none.
    pub allocation_size: u64,
    /// How the client says it will read the file (CREATE options `FILE_SEQUENTIAL_ONLY`,
    /// `FILE_RANDOM_ACCESS`), for the host's read-ahead.
    pub access: AccessHint,
}

/// The access pattern a client announced at CREATE ([MS-SMB2] 2.2.13 CreateOptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccessHint {
    /// Nothing announced.
    #[default]
    Normal,
    /// `FILE_SEQUENTIAL_ONLY`: read ahead more.
    Sequential,
    /// `FILE_RANDOM_ACCESS`: do not read ahead.
    Random,
}

/// What `open` did ([MS-SMB2] 2.2.14 `CreateAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateAction {
    Superseded = 0,
    Opened = 1,
    Created = 2,
    Overwritten = 3,
}

/// DOS attribute bits ([MS-FSCC] 2.6).
pub mod attr {
    pub const READONLY: u32 = 0x0001;
    pub const HIDDEN: u32 = 0x0002;
    pub const SYSTEM: u32 = 0x0004;
    pub const DIRECTORY: u32 = 0x0010;
    pub const ARCHIVE: u32 = 0x0020;
    pub const NORMAL: u32 = 0x0080;
    pub const TEMPORARY: u32 = 0x0100;
    pub const SPARSE_FILE: u32 = 0x0200;
    pub const REPARSE_POINT: u32 = 0x0400;
    pub const COMPRESSED: u32 = 0x0800;
    pub const OFFLINE: u32 = 0x1000;
    pub const NOT_CONTENT_INDEXED: u32 = 0x2000;
    pub const ENCRYPTED: u32 = 0x4000;
    /// The bits a client may set with SET_INFO / CREATE; others are ignored.
    pub const SETTABLE: u32 =
        READONLY | HIDDEN | SYSTEM | ARCHIVE | TEMPORARY | OFFLINE | NOT_CONTENT_INDEXED;
}

/// Metadata of a file or directory. Times are Windows FILETIME: 100 ns units since
/// 1601-01-01 UTC ([MS-DTYP] 2.3.3); 0 means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileInfo {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    /// End of file in bytes (0 for directories).
    pub end_of_file: u64,
    /// Bytes allocated on disk.
    pub allocation_size: u64,
    /// DOS attributes; `DIRECTORY` is set for directories, `NORMAL` only when nothing else is.
    pub attributes: u32,
    /// A number unique for the file within the share (the inode number).
    pub file_id: u64,
    /// Hard-link count.
    pub links: u32,
    pub is_directory: bool,
}

/// New times and attributes from FileBasicInformation ([MS-FSCC] 2.4.7). `None` leaves the
/// value unchanged (the wire values 0 and -1 both mean that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BasicInfo {
    pub creation_time: Option<u64>,
    pub last_access_time: Option<u64>,
    pub last_write_time: Option<u64>,
    pub change_time: Option<u64>,
    pub attributes: Option<u32>,
}

/// Size and identity of the volume behind a share ([MS-FSCC] 2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FsInfo {
    pub total_bytes: u64,
    pub free_bytes: u64,
    /// Bytes available to the caller (may be less than `free_bytes`).
    pub avail_bytes: u64,
    /// Allocation unit in bytes.
    pub block_size: u32,
    /// Physical sector size in bytes.
    pub sector_size: u32,
    /// Volume serial number.
    pub serial: u32,
    /// Volume creation time (FILETIME), 0 when unknown.
    pub created: u64,
    /// Longest name component in bytes.
    pub max_name_len: u32,
}

/// One directory entry produced by [`Vfs::read_dir`]. The name borrows the VFS's buffer for
/// the duration of the callback only.
#[derive(Debug, Clone, Copy)]
pub struct DirEntry<'a> {
    pub name: &'a str,
    pub info: FileInfo,
}

/// The file system behind the shares. All methods are synchronous and must not block on
/// another client; they may block on the disk.
pub trait Vfs {
    /// Open or create `path` in `share` as `args` say. Returns the node, what was done, and the
    /// metadata after the open.
    ///
    /// Errors: `OBJECT_NAME_NOT_FOUND` (last component missing), `OBJECT_PATH_NOT_FOUND` (a
    /// parent missing), `OBJECT_NAME_COLLISION`, `FILE_IS_A_DIRECTORY` (`Want::File` on a
    /// directory), `NOT_A_DIRECTORY` (`Want::Directory` on a file), `ACCESS_DENIED` (including
    /// any attempt to leave the share through a symlink), `INSUFFICIENT_RESOURCES` (table full).
    fn open(
        &mut self,
        share: ShareId,
        path: &str,
        args: &OpenArgs,
    ) -> Result<(NodeId, CreateAction, FileInfo), NtStatus>;

    /// Release the node. Never fails; errors from the underlying close are ignored.
    fn close(&mut self, node: NodeId);

    /// Current metadata of the node.
    fn stat(&mut self, node: NodeId) -> Result<FileInfo, NtStatus>;

    /// Metadata of `path` without opening it for the client (used for existence checks).
    fn stat_path(&mut self, share: ShareId, path: &str) -> Result<FileInfo, NtStatus>;

    /// Read up to `out.len()` bytes at `offset`; returns the count, 0 at or past end of file.
    fn read(&mut self, node: NodeId, offset: u64, out: &mut [u8]) -> Result<usize, NtStatus>;

    /// Like [`read`](Self::read), but the host may decline to block: when the data is not
    /// at hand (not in the page cache, a slow disk), it arranges for it to be fetched off the
    /// event loop and returns `Err(NtStatus::PENDING)`. The engine then answers the READ with
    /// an interim STATUS_PENDING ([MS-SMB2] 3.3.4.2) and the host calls
    /// [`Server::io_ready`](crate::Server::io_ready) with `ticket` once the fetch is done
    /// (with `SUCCESS`, or the error that ends the READ); the final response then reads with
    /// [`read`](Self::read), which finds the data at hand.
    /// The default never declines.
    fn try_read(
        &mut self,
        node: NodeId,
        offset: u64,
        out: &mut [u8],
        ticket: u64,
    ) -> Result<usize, NtStatus> {
        let _ = ticket;
        self.read(node, offset, out)
    }

    /// Zero-copy READ ([`Config::zero_copy_reads`](crate::Config)): how many of the `len` bytes
    /// at `offset` (clamped at the end of file) the host can send straight from the file
    /// after the response header, without blocking (the data is in the page cache); `None`
    /// to read into the response buffer as usual. The default is always `None`.
    fn tail_len(&mut self, node: NodeId, offset: u64, len: u32) -> Result<Option<u32>, NtStatus> {
        let _ = (node, offset, len);
        Ok(None)
    }

    /// Write all of `data` at `offset` (extending the file); returns the count written.
    fn write(&mut self, node: NodeId, offset: u64, data: &[u8]) -> Result<usize, NtStatus>;

    /// Flush the node's data to stable storage.
    fn flush(&mut self, node: NodeId) -> Result<(), NtStatus>;

    /// Like [`flush`](Self::flush), but the host may run the flush off the event loop and
    /// return `Err(NtStatus::PENDING)`; it then calls
    /// [`Server::io_ready`](crate::Server::io_ready) with `ticket` and the flush's result.
    /// The default flushes in place.
    fn try_flush(&mut self, node: NodeId, ticket: u64) -> Result<(), NtStatus> {
        let _ = ticket;
        self.flush(node)
    }

    /// Set the end of file (truncate or extend with zeros).
    fn set_len(&mut self, node: NodeId, len: u64) -> Result<(), NtStatus>;

    /// Reserve `size` bytes of storage; may also shrink the file when `size` is below its end.
    fn set_allocation(&mut self, node: NodeId, size: u64) -> Result<(), NtStatus>;

    /// Apply times and DOS attributes.
    fn set_basic(&mut self, node: NodeId, info: &BasicInfo) -> Result<(), NtStatus>;

    /// Rename the node to `new_path` in the same share. With `replace` false an existing target
    /// is `OBJECT_NAME_COLLISION`; with `replace` true an existing file is replaced, and an
    /// existing directory is `ACCESS_DENIED`. A missing target parent is
    /// `OBJECT_PATH_NOT_FOUND`.
    fn rename(&mut self, node: NodeId, new_path: &str, replace: bool) -> Result<(), NtStatus>;

    /// Remove the node's name from the file system (unlink or rmdir). A non-empty directory is
    /// `DIRECTORY_NOT_EMPTY`. The node stays open until `close`.
    fn unlink(&mut self, node: NodeId) -> Result<(), NtStatus>;

    /// Whether the node is a directory with no entries besides `.` and `..`.
    fn is_empty_dir(&mut self, node: NodeId) -> Result<bool, NtStatus>;

    /// Enumerate a directory node. Entries come in a stable order, starting with `.` and `..`
    /// (for the share root, `..` describes the root itself). The VFS keeps a cursor per node:
    /// `restart` rewinds it first. For each entry it calls `f`; `f` returns `true` when it
    /// consumed the entry (the cursor moves past it) and `false` to stop, in which case the
    /// same entry is offered first on the next call. Returns `Ok(true)` when the end of the
    /// directory was reached, `Ok(false)` when `f` stopped early.
    fn read_dir(
        &mut self,
        node: NodeId,
        restart: bool,
        f: &mut dyn FnMut(&DirEntry<'_>) -> bool,
    ) -> Result<bool, NtStatus>;

    /// The node's path relative to its share root (`/`-separated, empty for the root), as
    /// last opened or renamed.
    fn path(&self, node: NodeId) -> &str;

    /// The name of the named stream the node is open on, as stored (its case kept); `None` for
    /// the file's own data.
    fn stream_name(&self, node: NodeId) -> Option<&str> {
        let _ = node;
        None
    }

    /// Volume information for the share.
    fn fs_info(&mut self, share: ShareId) -> Result<FsInfo, NtStatus>;

    /// Case-insensitive lookup ([MS-FSA] 2.1.5.1: names are compared case-insensitively):
    /// writes into `out` the real spelling of `path` when it exists under another case, and
    /// returns its length; `Ok(None)` when no such object exists. Called only after an exact
    /// lookup failed. The default (a case-sensitive file system) finds nothing.
    fn resolve_case(
        &mut self,
        share: ShareId,
        path: &str,
        out: &mut [u8],
    ) -> Result<Option<usize>, NtStatus> {
        let _ = (share, path, out);
        Ok(None)
    }

    /// Opens (or creates, per `args.disposition`) the named data stream `stream` of the existing
    /// file or directory `path` ([MS-FSCC] 2.1.5.4). The node then reads, writes, sizes and
    /// unlinks the stream; its `FileInfo` has the stream's size and the file's times, attributes
    /// and id. `Want` is ignored. Without stream support: `OBJECT_NAME_INVALID`.
    fn open_stream(
        &mut self,
        share: ShareId,
        path: &str,
        stream: &str,
        args: &OpenArgs,
    ) -> Result<(NodeId, CreateAction, FileInfo), NtStatus> {
        let _ = (share, path, stream, args);
        Err(NtStatus::OBJECT_NAME_INVALID)
    }

    /// Calls `f` with the name and size of each data stream of the node's file: first the
    /// unnamed one (name `""`, files only), then each named stream. The default lists the
    /// unnamed stream of a file.
    fn list_streams(&mut self, node: NodeId, f: &mut dyn FnMut(&str, u64)) -> Result<(), NtStatus> {
        let info = self.stat(node)?;
        if !info.is_directory {
            f("", info.end_of_file);
        }
        Ok(())
    }

    /// Copies the node's stored NT security descriptor (self-relative) into `out`; `Ok(0)`
    /// when none is stored (the engine then reports its default). A stored descriptor longer
    /// than `out` is `BUFFER_TOO_SMALL`.
    fn get_security(&mut self, node: NodeId, out: &mut [u8]) -> Result<usize, NtStatus> {
        let _ = (node, out);
        Ok(0)
    }

    /// Like [`Vfs::get_security`] for a path that is not open (access checks before open).
    fn get_security_path(
        &mut self,
        share: ShareId,
        path: &str,
        out: &mut [u8],
    ) -> Result<usize, NtStatus> {
        let _ = (share, path, out);
        Ok(0)
    }

    /// Stores a validated self-relative security descriptor for the node.
    fn set_security(&mut self, node: NodeId, sd: &[u8]) -> Result<(), NtStatus> {
        let _ = (node, sd);
        Err(NtStatus::NOT_SUPPORTED)
    }

    /// Calls `f` with each extended attribute (name, value) of the node.
    fn list_eas(&mut self, node: NodeId, f: &mut dyn FnMut(&str, &[u8])) -> Result<(), NtStatus> {
        let _ = (node, f);
        Ok(())
    }

    /// Sets extended attribute `name` (ASCII, compared case-insensitively) to `value`; an
    /// empty value deletes it.
    fn set_ea(&mut self, node: NodeId, name: &str, value: &[u8]) -> Result<(), NtStatus> {
        let _ = (node, name, value);
        Err(NtStatus::EAS_NOT_SUPPORTED)
    }
}
