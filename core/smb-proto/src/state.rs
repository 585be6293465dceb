//! Per-connection, per-session, per-tree and per-open state ([MS-SMB2] 3.3.1). Every struct is
//! fixed-size and lives in a slot of a table lent at start-up.

use smb_crypto::{Cipher, NonceCounter, PreauthHash, Sealer, Signer, SigningAlgo};
use smb_wire::FileId;

use crate::credits::Credits;
use crate::policy::ShareInfo;
use crate::table::Handle;
use crate::vfs::NodeId;

/// Longest user or domain name kept for a session.
pub const NAME_CAP: usize = 64;
/// Longest directory search pattern kept for an open, in UTF-8 bytes.
pub const PATTERN_CAP: usize = 512;

/// A connection ([MS-SMB2] 3.3.1.7).
#[derive(Debug, Default)]
pub struct Conn {
    /// The negotiated dialect; 0 before NEGOTIATE, 0x02FF after an SMB1 upgrade.
    pub dialect: u16,
    pub client_guid: [u8; 16],
    pub client_capabilities: u32,
    pub client_security_mode: u16,
    pub server_security_mode: u16,
    pub server_capabilities: u32,
    pub preauth: PreauthHash,
    pub cipher: Option<Cipher>,
    pub signing_algo: Option<SigningAlgo>,
    pub credits: Credits,
    /// The client may charge more than one credit per request (LARGE_MTU).
    pub multi_credit: bool,
    /// Requests answered STATUS_PENDING and waiting (blocking locks, change notify).
    pub pending: heapless::Vec<Pending, MAX_PENDING>,
    /// Next AsyncId to hand out (never 0).
    pub next_async_id: u64,
    /// Oplock break notifications to send to this connection.
    pub breaks: heapless::Vec<BreakNotice, 16>,
}

/// Async requests one connection may have outstanding.
pub const MAX_PENDING: usize = 16;
/// CREATE requests one connection may have waiting for an oplock break (each keeps up to
/// [`PARKED_CAP`] bytes in the server's parked table).
pub const MAX_PARKED: usize = 2;
/// Byte-range locks one open may hold.
pub const MAX_LOCKS: usize = 32;

/// A byte-range lock in the server's lock table: which open holds it, on which file, and
/// when it was taken (an unlock of a range held twice releases the older one first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldLock {
    pub open: Handle,
    pub share: crate::vfs::ShareId,
    pub file_key: u64,
    pub lock: Lock,
    pub seq: u64,
}

/// A byte-range lock held by an open ([MS-FSA] 2.1.5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub offset: u64,
    pub length: u64,
    pub exclusive: bool,
}

/// What a pending request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A blocking byte-range lock on `open`.
    Lock { open: Handle, lock: Lock },
    /// Change notification on the directory `open`.
    Notify {
        open: Handle,
        filter: u32,
        recursive: bool,
        max_output: u32,
    },
    /// A CREATE parked until `holder` acknowledges an oplock break (or closes), or until
    /// `deadline` (FILETIME) passes ([MS-SMB2] 3.3.4.6: 35 s).
    Break { holder: Handle, deadline: u64 },
    /// A READ whose data the host fetches off the event loop ([`crate::Vfs::try_read`]),
    /// finished by [`crate::Server::io_ready`] with `ticket`.
    Read {
        open: Handle,
        offset: u64,
        length: u32,
        minimum: u32,
        ticket: u64,
    },
    /// A FLUSH the host runs off the event loop ([`crate::Vfs::try_flush`]).
    Flush { open: Handle, ticket: u64 },
}

/// Longest CREATE request, with the compound elements after it, kept while it waits for an
/// oplock break.
pub const PARKED_CAP: usize = 4096;

/// A CREATE request waiting for an oplock break, kept to be run again. A CREATE in the middle
/// of a compound keeps the elements after it too: they run once it finishes
/// ([MS-SMB2] 3.3.5.2.7, product behavior note on async CREATE in a compound).
///
/// These live in a server-wide table, not in [`Conn`]: they are rare and 4 KiB each, and a
/// connection slot is written whole when a connection starts.
#[derive(Debug, Clone)]
pub struct Parked {
    pub conn: Handle,
    pub async_id: u64,
    pub tree: Handle,
    /// The CREATE (`..create_len`), then the rest of its compound.
    pub bytes: heapless::Vec<u8, PARKED_CAP>,
    pub create_len: usize,
}

/// An oplock break notification to send ([MS-SMB2] 2.2.23.1).
#[derive(Debug, Clone, Copy)]
pub struct BreakNotice {
    pub file_id: FileId,
    pub level: u8,
    pub session: Handle,
}

/// Longest name a change notification carries, in UTF-8 bytes.
pub const NOTIFY_NAME_CAP: usize = 256;

/// A change recorded for a pending CHANGE_NOTIFY ([MS-FSCC] 2.7.1 FILE_NOTIFY_INFORMATION).
#[derive(Debug, Clone, Default)]
pub struct NotifyEvent {
    pub action: u32,
    /// Path relative to the watched directory, `\`-separated.
    pub name: heapless::String<NOTIFY_NAME_CAP>,
    /// For renames: the new name (action RENAMED_NEW_NAME follows the old one).
    pub new_name: Option<heapless::String<NOTIFY_NAME_CAP>>,
}

/// A request answered with an interim STATUS_PENDING ([MS-SMB2] 3.3.4.2).
#[derive(Debug, Clone)]
pub struct Pending {
    pub message_id: u64,
    pub async_id: u64,
    pub session: Handle,
    pub session_id: u64,
    pub tree_id: u32,
    pub command: smb_wire::Command,
    /// The request was signed: the final response is too.
    pub signed: bool,
    /// The request was encrypted: the final response is too.
    pub encrypted: bool,
    pub waiting: Waiting,
    /// Set when the request finished; the final response is sent by `poll_transmit`.
    pub done: Option<smb_wire::NtStatus>,
    /// The change that completed a CHANGE_NOTIFY: its slot in the server's event table
    /// (~0.5 KiB each, so not kept in every pending entry of every connection).
    pub event: Option<Handle>,
}

impl Conn {
    pub fn negotiated(&self) -> bool {
        self.dialect != 0 && self.dialect != smb_wire::ids::dialect::WILDCARD
    }
}

/// Who a session authenticated as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Identity {
    #[default]
    None,
    User,
    Guest,
    Anonymous,
}

/// Authentication progress of a session ([MS-SMB2] 3.3.1.8 `Session.State`).
#[derive(Debug, Default)]
pub enum SessionState {
    /// Allocated, NTLM exchange under way.
    #[default]
    InProgress,
    /// Authenticated.
    Valid,
}

/// A session ([MS-SMB2] 3.3.1.8).
#[derive(Debug)]
pub struct Session {
    pub id: u64,
    pub conn: Handle,
    pub state: SessionState,
    pub identity: Identity,
    pub user: heapless::String<NAME_CAP>,
    pub domain: heapless::String<NAME_CAP>,
    /// The NTLM exchange under way: its slot in the server's authentication table (2.4 KiB
    /// each, only while a SESSION_SETUP exchange runs).
    pub auth: Option<Handle>,
    /// Session-specific preauth hash (3.1.1).
    pub preauth: PreauthHash,
    pub signer: Option<Signer>,
    pub signing_required: bool,
    pub encrypt_data: bool,
    pub encryptor: Option<Sealer>,
    /// Nonces for `encryptor`: a per-key random prefix and a message counter, so no nonce is
    /// ever used twice under one key ([`smb_crypto::NonceCounter`]).
    pub nonces: NonceCounter,
    pub decryptor: Option<Sealer>,
    pub application_key: [u8; 16],
    pub session_key: [u8; 16],
    pub spnego: crate::handle::session::SpnegoState,
    /// The user's SID (S-1-5-21-domain-RID) in wire form; empty for guests and anonymous.
    pub sid: heapless::Vec<u8, 28>,
}

impl Session {
    /// The SID new objects are owned by and unowned files report as their owner.
    pub fn owner_sid(&self) -> &[u8] {
        if self.sid.is_empty() {
            crate::sd::well_known::ADMINISTRATORS
        } else {
            &self.sid
        }
    }

    /// The SIDs access checks match ACEs against ([MS-DTYP] 2.5.2 token, simplified).
    pub fn token(&self) -> heapless::Vec<&[u8], 4> {
        use crate::sd::well_known as wk;
        let mut t = heapless::Vec::new();
        let _ = t.push(wk::WORLD);
        match self.identity {
            Identity::User => {
                if !self.sid.is_empty() {
                    let _ = t.push(&self.sid[..]);
                }
                let _ = t.push(wk::AUTHENTICATED_USERS);
                let _ = t.push(wk::USERS);
            }
            Identity::Guest => {
                let _ = t.push(wk::GUESTS);
            }
            _ => {
                let _ = t.push(wk::ANONYMOUS);
            }
        }
        t
    }
}

/// A tree connect ([MS-SMB2] 3.3.1.9).
#[derive(Debug, Clone, Copy)]
pub struct Tree {
    pub id: u32,
    pub session: Handle,
    /// `None` is `IPC$`.
    pub share: Option<ShareInfo>,
    pub maximal_access: u32,
    /// Requests on this tree must arrive encrypted.
    pub encrypt: bool,
}

/// Directory enumeration state of an open directory.
#[derive(Debug, Default)]
pub struct Search {
    pub started: bool,
    pub finished: bool,
    pub pattern: heapless::String<PATTERN_CAP>,
}

/// An open ([MS-SMB2] 3.3.1.10).
#[derive(Debug)]
pub struct Open {
    pub file_id: FileId,
    pub session: Handle,
    pub tree: Handle,
    pub node: NodeId,
    pub granted_access: u32,
    pub share_access: u32,
    /// The file's identity (inode) for share-mode and delete-pending checks; for a named
    /// stream, the stream's own key (see `stream_key`).
    pub file_key: u64,
    /// The file's inode, also for stream opens.
    pub base_key: u64,
    pub share: crate::vfs::ShareId,
    pub is_directory: bool,
    /// FILE_DELETE_ON_CLOSE from CREATE, or a disposition set through SET_INFO.
    pub delete_on_close: bool,
    pub position: u64,
    pub mode: u32,
    /// Directory enumeration state, taken from the server's search table at the first
    /// QUERY_DIRECTORY (most opens never enumerate).
    pub search: Option<Handle>,
    /// Byte-range locks this open holds.
    /// Byte-range locks held: how many this open has in the server's lock table.
    pub locks: u8,
    /// Granted oplock level ([MS-SMB2] 2.2.14: 0 none, 8 exclusive, 9 batch).
    pub oplock: u8,
    /// A break notification was sent and the acknowledgment is awaited.
    pub breaking: bool,
    /// For a named pipe on IPC$: its slot in the pipe table.
    pub pipe: Option<Handle>,
}

/// A named pipe's DCE/RPC state.
#[derive(Debug)]
pub struct PipeSlot {
    pub pipe: smb_rpc::Pipe,
}
