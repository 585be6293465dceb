//! The server engine: frames in, frames out ([MS-SMB2] 3.3.5). One call handles one
//! transport frame, which may hold a compound chain (3.3.5.2.7); the response chain is
//! written into the caller's buffer. Nothing here blocks on another client, allocates, or
//! keeps a reference into the caller's buffers after returning.

use smb_crypto::Signer;
use smb_wire::header::{self, flags, Command, Header};
use smb_wire::ids::{dialect, FileId};
use smb_wire::{session_setup, transport, NtStatus, HEADER_LEN};

use crate::policy::{EncryptPolicy, MapToGuest, Policy};
use crate::state::{
    Conn, HeldLock, NotifyEvent, Open, Parked, Pending, PipeSlot, Search, Session, SessionState,
    Tree, Waiting,
};
use crate::table::{Full, Handle, Slot, Table};
use crate::vfs::Vfs;
use smb_auth::ntlmssp::NtlmServer;

/// `server signing` ([MS-SMB2] 3.3.1.5 `RequireMessageSigning`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningPolicy {
    /// Never sign, except where the protocol requires it (3.1.1 session setup).
    Disabled,
    /// Sign when the client asks.
    Auto,
    /// Require every request of an authenticated session to be signed.
    Mandatory,
}

/// Engine configuration, fixed for the server's lifetime.
#[derive(Debug, Clone, Copy)]
pub struct Config<'r> {
    pub server_guid: [u8; 16],
    /// FILETIME of server start.
    pub start_time: u64,
    pub min_dialect: u16,
    pub max_dialect: u16,
    pub signing: SigningPolicy,
    /// `server smb encrypt`: applies to whole sessions.
    pub encrypt: EncryptPolicy,
    pub map_to_guest: MapToGuest,
    pub netbios_name: &'r str,
    pub netbios_domain: &'r str,
    pub dns_name: &'r str,
    pub dns_domain: &'r str,
    /// MaxReadSize / MaxWriteSize / MaxTransactSize advertised (bounded by the frame buffers).
    pub max_io: u32,
    /// Most credits a connection may hold.
    pub max_credits: u16,
    /// Let a READ that is alone in its frame, and whose response is neither signed nor
    /// encrypted, leave its data in the file ([`Vfs::tail_len`]): the host sends it after the
    /// response with `sendfile` ([`Server::take_tail`]). Only for hosts that do.
    pub zero_copy_reads: bool,
}

/// File data that follows the response [`Server::handle_frame`] just wrote: the host sends
/// `len` bytes of `node` from `offset` (zeros for any part the file no longer has, so the frame
/// keeps the length its header announced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileTail {
    pub node: crate::vfs::NodeId,
    pub offset: u64,
    pub len: u32,
}

/// Storage the server's tables live in, lent once (smoltcp `SocketSet`).
#[derive(Debug)]
pub struct Storage<'r> {
    pub conns: &'r mut [Slot<Conn>],
    pub sessions: &'r mut [Slot<Session>],
    pub trees: &'r mut [Slot<Tree>],
    pub opens: &'r mut [Slot<Open>],
    /// Named pipes open on IPC$ (a few per client).
    pub pipes: &'r mut [Slot<PipeSlot>],
    /// Byte-range locks, all opens together (an open holds at most
    /// [`MAX_LOCKS`](crate::state::MAX_LOCKS)).
    pub locks: &'r mut [Slot<HeldLock>],
    /// Directory enumerations (one per open that has enumerated, until it closes).
    pub searches: &'r mut [Slot<Search>],
    /// CREATEs waiting for an oplock break (at most [`MAX_PARKED`](crate::state::MAX_PARKED)
    /// per connection).
    pub parked: &'r mut [Slot<Parked>],
    /// Changes that completed a CHANGE_NOTIFY, until its response is sent.
    pub events: &'r mut [Slot<NotifyEvent>],
    /// NTLM exchanges under way (one per session being set up or re-authenticated).
    pub auths: &'r mut [Slot<NtlmServer>],
}

/// A connection handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub(crate) Handle);

/// The connection must be closed (a protocol violation the spec answers with a disconnect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect(pub &'static str);

/// Room a compound element's response needs besides its payload.
const RESPONSE_SLACK: usize = 1024;

/// What one request produced.
pub(crate) struct Reply {
    pub status: NtStatus,
    /// Length of the response message (header included).
    pub len: usize,
}

pub(crate) type HResult = Result<Reply, NtStatus>;

/// Context carried between the elements of one compound chain.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Chain {
    pub session: Option<Handle>,
    pub session_id: u64,
    pub tree: Option<Handle>,
    pub tree_id: u32,
    pub file_id: Option<FileId>,
    /// Status of a failed CREATE earlier in a related chain (Windows fails the rest with it).
    pub create_error: Option<NtStatus>,
    pub related_error: Option<NtStatus>,
    /// The connection the chain arrived on.
    pub conn: Option<Handle>,
    /// The chain arrived encrypted.
    pub encrypted: bool,
    /// Set by a handler that answered STATUS_PENDING: the AsyncId of the interim response.
    pub async_id: Option<u64>,
    /// A request run again from the pending list keeps its AsyncId if it parks again.
    pub reuse_async_id: Option<u64>,
    /// The request being handled is not the last of its compound: it cannot go async
    /// (except a CREATE waiting for an oplock break).
    pub in_middle: bool,
    /// Bytes of the compound after the element being handled.
    pub rest_len: usize,
    /// Set by a CREATE that parked in the middle of a compound (its AsyncId): the rest of the
    /// chain waits with it and is not handled now.
    pub rest_parked: Option<u64>,
    /// The request is alone in its frame.
    pub single: bool,
    /// A READ may leave its data in the file ([`Config::zero_copy_reads`]): alone in its
    /// frame, response neither signed nor encrypted.
    pub tail_ok: bool,
}

/// The SMB2/3 server engine.
pub struct Server<'r, V: Vfs, P: Policy> {
    pub(crate) cfg: Config<'r>,
    pub(crate) vfs: V,
    pub(crate) policy: P,
    pub(crate) conns: Table<'r, Conn>,
    pub(crate) sessions: Table<'r, Session>,
    pub(crate) trees: Table<'r, Tree>,
    pub(crate) opens: Table<'r, Open>,
    pub(crate) pipes: Table<'r, PipeSlot>,
    pub(crate) locks: Table<'r, HeldLock>,
    pub(crate) searches: Table<'r, Search>,
    pub(crate) parked: Table<'r, Parked>,
    pub(crate) events: Table<'r, NotifyEvent>,
    pub(crate) auths: Table<'r, NtlmServer>,
    /// Order of byte-range locks taken ([`HeldLock::seq`]).
    pub(crate) lock_seq: u64,
    /// Current time (FILETIME) of the call being handled.
    pub(crate) now: u64,
    /// A session logged off in the chain being handled, destroyed once the response is signed.
    pub(crate) deferred_logoff: Option<Handle>,
    /// Next ticket for a READ the host fetches asynchronously ([`Vfs::try_read`]).
    pub(crate) next_io_ticket: u64,
    /// File data to send after the response just written ([`Server::take_tail`]).
    pub(crate) tail: Option<FileTail>,
}

impl<'r, V: Vfs, P: Policy> Server<'r, V, P> {
    /// Creates a server over lent storage.
    pub fn new(cfg: Config<'r>, vfs: V, policy: P, storage: Storage<'r>) -> Self {
        Self {
            cfg,
            vfs,
            policy,
            conns: Table::new(storage.conns),
            sessions: Table::new(storage.sessions),
            trees: Table::new(storage.trees),
            opens: Table::new(storage.opens),
            pipes: Table::new(storage.pipes),
            locks: Table::new(storage.locks),
            searches: Table::new(storage.searches),
            parked: Table::new(storage.parked),
            events: Table::new(storage.events),
            auths: Table::new(storage.auths),
            lock_seq: 0,
            now: 0,
            deferred_logoff: None,
            next_io_ticket: 1,
            tail: None,
        }
    }

    /// Registers a new transport connection. `Err(Full)` means the caller should refuse it.
    pub fn accept(&mut self) -> Result<ConnId, Full> {
        self.conns.insert(Conn::default()).map(ConnId)
    }

    /// Forgets a connection: its sessions, trees and opens are closed (files closed, delete on
    /// close applied). Call when the transport closes, or after [`Disconnect`].
    pub fn close(&mut self, conn: ConnId) {
        let mut i = 0;
        while let Some(h) = self.nth_session_of(conn.0, i) {
            if !self.destroy_session(h) {
                i += 1;
            }
        }
        // What the connection's waiting requests kept in the server-wide tables.
        if let Some(c) = self.conns.remove(conn.0) {
            for ev in c.pending.iter().filter_map(|p| p.event) {
                self.events.remove(ev);
            }
        }
        while let Some(h) = self.parked.find(|p| p.conn == conn.0) {
            self.parked.remove(h);
        }
    }

    fn nth_session_of(&self, conn: Handle, n: usize) -> Option<Handle> {
        self.sessions
            .iter()
            .filter(|(_, s)| s.conn == conn)
            .nth(n)
            .map(|(h, _)| h)
    }

    /// The VFS (for the host's housekeeping).
    pub fn vfs_mut(&mut self) -> &mut V {
        &mut self.vfs
    }

    /// The VFS (for the host to send a [`FileTail`]).
    pub fn vfs(&self) -> &V {
        &self.vfs
    }

    /// The file data that must follow the frame [`Server::handle_frame`] just returned, if a
    /// zero-copy READ left it in the file ([`Config::zero_copy_reads`]). The frame's Direct
    /// TCP header already counts it: the host must send exactly `len` bytes after the frame.
    pub fn take_tail(&mut self) -> Option<FileTail> {
        self.tail.take()
    }

    /// Counts of live connections, sessions, trees and opens.
    /// NTLM exchanges under way (sessions between their first and last SESSION_SETUP).
    pub fn exchanges_in_progress(&self) -> usize {
        self.auths.len()
    }

    pub fn counts(&self) -> [usize; 4] {
        [
            self.conns.len(),
            self.sessions.len(),
            self.trees.len(),
            self.opens.len(),
        ]
    }

    /// Handles one complete transport frame: `rx` is the payload after the 4-byte Direct TCP
    /// header (it is modified: signatures are verified in place, encrypted frames decrypted in
    /// place). The framed response (Direct TCP header included) is written to `tx`; returns its
    /// length, 0 when nothing is to be sent (CANCEL). `tx` must hold `max_io` plus 4 KiB.
    /// On `Err(Disconnect)` the caller closes the transport and calls [`Server::close`].
    pub fn handle_frame(
        &mut self,
        now: u64,
        conn: ConnId,
        rx: &mut [u8],
        tx: &mut [u8],
    ) -> Result<usize, Disconnect> {
        self.now = now;
        self.tail = None;
        if self.poll_timeout().is_some_and(|d| d <= now) {
            self.handle_timeout(now);
        }
        if self.conns.get(conn.0).is_none() {
            return Err(Disconnect("unknown connection"));
        }
        if rx.len() < 4 {
            return Err(Disconnect("short frame"));
        }
        if rx[..4] == header::SMB1_PROTOCOL_ID {
            return self.smb1_negotiate(conn, rx, tx);
        }
        if rx[..4] == header::TRANSFORM_PROTOCOL_ID {
            return self.handle_encrypted(conn, rx, tx);
        }
        let n = self.handle_chain(conn, rx, &mut tx[transport::HEADER_LEN..], false);
        self.finish_deferred_logoff();
        let n = match n {
            Ok(n) => n,
            Err(d) => {
                self.tail = None;
                return Err(d);
            }
        };
        if n > 0 {
            // A zero-copy READ's data follows the frame: the frame length counts it.
            let tail = self.tail.map_or(0, |t| t.len as usize);
            transport::emit_header(tx, n + tail);
            Ok(n + transport::HEADER_LEN)
        } else {
            self.tail = None;
            Ok(0)
        }
    }

    /// Decrypts a TRANSFORM_HEADER frame in place and handles the chain inside; the response
    /// is encrypted with the same session ([MS-SMB2] 3.3.5.2.1).
    fn handle_encrypted(
        &mut self,
        conn: ConnId,
        rx: &mut [u8],
        tx: &mut [u8],
    ) -> Result<usize, Disconnect> {
        let sid = smb_crypto::transform_session_id(rx).ok_or(Disconnect("bad transform"))?;
        let sh = self
            .session_handle(conn.0, sid)
            .ok_or(Disconnect("transform: no session"))?;
        let range = {
            let s = self
                .sessions
                .get(sh)
                .ok_or(Disconnect("transform: no session"))?;
            let d = s
                .decryptor
                .as_ref()
                .ok_or(Disconnect("transform: no key"))?;
            let (id, range) = d
                .open(rx)
                .map_err(|_| Disconnect("transform: decrypt failed"))?;
            if id != sid {
                return Err(Disconnect("transform: session mismatch"));
            }
            range
        };
        let plain = &mut rx[range];
        let off = transport::HEADER_LEN + smb_crypto::TRANSFORM_HEADER_LEN;
        let n = self.handle_chain(conn, plain, &mut tx[off..], true);
        // A LOGOFF's response is still sealed with the session it ends; the session goes after.
        let sealed = n.and_then(|n| {
            if n > 0 {
                self.seal_response(sh, &mut tx[transport::HEADER_LEN..off + n])?;
            }
            Ok(n)
        });
        self.finish_deferred_logoff();
        let n = sealed?;
        if n == 0 {
            return Ok(0);
        }
        transport::emit_header(tx, n + smb_crypto::TRANSFORM_HEADER_LEN);
        Ok(off + n)
    }

    /// Destroys the session a LOGOFF in the frame just handled ended: only once its response
    /// has been signed or sealed with the session's keys ([MS-SMB2] 3.3.5.6).
    fn finish_deferred_logoff(&mut self) {
        if let Some(sh) = self.deferred_logoff.take() {
            self.destroy_session(sh);
        }
    }

    /// Encrypts `buf` (transform header space + message chain) with the session's key, under
    /// the session's next nonce (a counter: never reused under one key).
    pub(crate) fn seal_response(&mut self, sh: Handle, buf: &mut [u8]) -> Result<(), Disconnect> {
        let s = self
            .sessions
            .get_mut(sh)
            .ok_or(Disconnect("seal: no session"))?;
        let e = s.encryptor.as_ref().ok_or(Disconnect("seal: no key"))?;
        let nonce = s
            .nonces
            .next(e.cipher())
            .ok_or(Disconnect("seal: nonces exhausted"))?;
        e.seal(s.id, &nonce, buf)
            .map_err(|_| Disconnect("seal failed"))
    }

    /// Finds a session of this connection by id.
    pub(crate) fn session_handle(&self, conn: Handle, id: u64) -> Option<Handle> {
        let h = Handle::from_u64(id)?;
        let s = self.sessions.get(h)?;
        (s.id == id && s.conn == conn).then_some(h)
    }

    /// Handles the (possibly compound) chain in `rx`, writing responses into `out`.
    fn handle_chain(
        &mut self,
        conn: ConnId,
        rx: &mut [u8],
        out: &mut [u8],
        encrypted: bool,
    ) -> Result<usize, Disconnect> {
        let mut chain = Chain {
            conn: Some(conn.0),
            encrypted,
            ..Chain::default()
        };
        self.run_chain(conn, rx, out, &mut chain, 0, None)
    }

    /// Handles the chain elements in `rx`, writing responses into `out` from `out_off` on;
    /// `prev_out` is the offset of a response already in `out` that the first new one follows
    /// (a CREATE finished after an oplock break, whose compound continues). Pads, links and
    /// signs the responses; returns the end of the responses in `out`.
    fn run_chain(
        &mut self,
        conn: ConnId,
        rx: &mut [u8],
        out: &mut [u8],
        chain: &mut Chain,
        mut out_off: usize,
        mut prev_out: Option<usize>,
    ) -> Result<usize, Disconnect> {
        let encrypted = chain.encrypted;
        let mut off = 0usize;
        let mut first = prev_out.is_none();
        loop {
            let (next, msg_len, is_related) = chain_element(&rx[off..])?;
            chain.rest_len = rx.len() - off - msg_len;
            let msg = &mut rx[off..off + msg_len];
            let out_room = out.len().saturating_sub(out_off);
            if out_room < HEADER_LEN + RESPONSE_SLACK {
                return Err(Disconnect("compound response does not fit"));
            }
            let related = is_related && !first;
            chain.in_middle = next != 0;
            chain.single = first && next == 0 && prev_out.is_none();
            chain.rest_parked = None;
            if is_related && first {
                // The first element cannot be related ([MS-SMB2] 3.3.5.2.7.2); it and the
                // related elements after it fail.
                chain.related_error = Some(NtStatus::INVALID_PARAMETER);
            } else if !is_related {
                chain.related_error = None;
            }
            let written =
                self.handle_one(conn, msg, &mut out[out_off..], chain, related, encrypted)?;
            if written > 0 {
                if let Some(p) = prev_out {
                    // `out_off` is already 8-aligned: the previous element ends there.
                    Header::new_unchecked(&mut out[p..]).set_next_command((out_off - p) as u32);
                }
                prev_out = Some(out_off);
                out_off += written;
            }
            if let Some(id) = chain.rest_parked {
                // A CREATE went async waiting for an oplock break: the rest of the chain
                // waits with it (handled when it finishes). It is checked now, so that a
                // malformed chain ends the connection here rather than later.
                let rest = &rx[off + msg_len..];
                check_chain(rest)?;
                self.park_rest(conn.0, id, rest);
                break;
            }
            if next == 0 {
                break;
            }
            // Pad the response to 8 bytes before the next element.
            if written > 0 {
                let aligned = crate::align8(out_off);
                if aligned > out.len() {
                    return Err(Disconnect("compound response does not fit"));
                }
                out[out_off..aligned].fill(0);
                out_off = aligned;
            }
            off += msg_len;
            first = false;
        }
        if !first && !out_off.is_multiple_of(8) {
            // The last response of a compound is padded to 8 bytes too (Windows and Samba).
            let aligned = crate::align8(out_off);
            if aligned > out.len() {
                return Err(Disconnect("compound response does not fit"));
            }
            out[out_off..aligned].fill(0);
            out_off = aligned;
        }
        // Sign each element over its final bytes (padding included).
        self.sign_chain(&mut out[..out_off], chain);
        Ok(out_off)
    }

    /// Signs every response element that should be signed; an element's signature covers its
    /// bytes up to the next element.
    fn sign_chain(&mut self, out: &mut [u8], _chain: &Chain) {
        let mut off = 0;
        while off + HEADER_LEN <= out.len() {
            let (next, sid, signed) = {
                let h = Header::new_unchecked(&out[off..]);
                (h.next_command() as usize, h.session_id(), h.is_signed())
            };
            let end = if next == 0 {
                out.len()
            } else {
                (off + next).min(out.len())
            };
            if signed {
                if let Some(signer) = self.signer_for_id(sid) {
                    signer.sign(&mut out[off..end]);
                }
            }
            if next == 0 {
                break;
            }
            off += next;
        }
    }

    fn signer_for_id(&self, sid: u64) -> Option<&Signer> {
        let h = Handle::from_u64(sid)?;
        let s = self.sessions.get(h)?;
        (s.id == sid).then_some(s.signer.as_ref()).flatten()
    }

    /// Handles one element: checks credits, session, signature and tree, dispatches, and
    /// writes the response header. Returns the response length (0: no response).
    fn handle_one(
        &mut self,
        conn: ConnId,
        msg: &mut [u8],
        out: &mut [u8],
        chain: &mut Chain,
        related: bool,
        encrypted: bool,
    ) -> Result<usize, Disconnect> {
        let h = Header::new_unchecked(&*msg);
        let cmd = h.command();
        let mid = h.message_id();
        let req_flags = h.flags();
        let charge = h.credit_charge();
        let credit_req = h.credits();
        let mut session_id = h.session_id();
        let mut tree_id = h.tree_id();

        if cmd == Command::CANCEL {
            // No response, no credits ([MS-SMB2] 3.3.5.16): mark the target cancelled; its
            // final response goes out through `poll_transmit`.
            let async_id = if h.is_async() {
                Some(h.async_id())
            } else {
                None
            };
            self.cancel(conn.0, mid, async_id, session_id);
            return Ok(0);
        }
        if h.is_async() {
            // Only CANCEL may be async from a client.
            return Err(Disconnect("async request"));
        }

        let multi_credit = self
            .conns
            .get(conn.0)
            .ok_or(Disconnect("no conn"))?
            .multi_credit;
        // Credits: every request but CANCEL consumes its message ids.
        {
            let c = self.conns.get_mut(conn.0).ok_or(Disconnect("no conn"))?;
            let charge = if multi_credit { charge } else { 1 };
            c.credits
                .consume(mid, charge)
                .map_err(|_| Disconnect("invalid message id"))?;
        }

        if related {
            session_id = chain.session_id;
            tree_id = chain.tree_id;
        }

        let status_or = self.pre_dispatch(
            conn, cmd, msg, session_id, tree_id, chain, related, encrypted,
        );
        let mut sign = false;
        let reply: HResult = match status_or {
            Err(st) => {
                // Related elements after one whose session or tree did not resolve fail.
                if matches!(
                    st,
                    NtStatus::USER_SESSION_DELETED | NtStatus::NETWORK_NAME_DELETED
                ) {
                    chain.session = None;
                    chain.tree = None;
                }
                Err(st)
            }
            Ok((sh, th, signed)) => {
                sign = signed;
                chain.session = sh;
                chain.session_id = session_id;
                if cmd != Command::TREE_CONNECT {
                    chain.tree = th;
                    chain.tree_id = tree_id;
                }
                let uses_file = !matches!(
                    cmd,
                    Command::NEGOTIATE
                        | Command::SESSION_SETUP
                        | Command::LOGOFF
                        | Command::TREE_CONNECT
                        | Command::TREE_DISCONNECT
                        | Command::ECHO
                        | Command::CREATE
                );
                if let Some(e) = chain.related_error {
                    // A chain that starts "related" fails as a whole.
                    Err(e)
                } else if let (true, true, Some(e)) = (
                    related,
                    uses_file && chain.file_id.is_none(),
                    chain.create_error,
                ) {
                    // Windows fails the requests after a failed related CREATE with its status.
                    Err(e)
                } else {
                    chain.tail_ok = self.cfg.zero_copy_reads
                        && chain.single
                        && !encrypted
                        && !signed
                        && cmd == Command::READ;
                    self.dispatch(conn, cmd, msg, out, chain, sh, th, related)
                }
            }
        };
        let (status, len) = match reply {
            Ok(r) => (r.status, r.len),
            Err(st) => (st, session_setup::emit_error(out)),
        };
        if status.is_error() {
            // The same event goes to defmt on firmware builds and to the host's log otherwise.
            #[cfg(feature = "defmt")]
            defmt::debug!(
                "smb2 cmd={=u16} mid={=u64} status={=u32:#x}",
                cmd.0,
                mid,
                status.0
            );
            #[cfg(not(feature = "defmt"))]
            self.policy
                .log(3, format_args!("{cmd:?} mid={mid} -> {status:?}"));
        }
        if cmd == Command::CREATE {
            if status.is_error() {
                chain.create_error = Some(status);
                chain.file_id = None;
            } else {
                chain.create_error = None;
            }
        }
        // SESSION_SETUP assigns the session id; others echo it.
        let resp_sid = if cmd == Command::SESSION_SETUP && chain.session_id != 0 {
            chain.session_id
        } else {
            session_id
        };
        let resp_tid = if cmd == Command::TREE_CONNECT {
            chain.tree_id
        } else {
            tree_id
        };
        let granted = {
            let max = self.cfg.max_credits;
            let c = self.conns.get_mut(conn.0).ok_or(Disconnect("no conn"))?;
            c.credits.grant(credit_req, max)
        };
        // Sign when the request was signed or the session requires it, never error responses
        // of a session the client could not yet verify ([MS-SMB2] 3.3.4.1.1).
        let mut sign_resp = sign;
        if cmd == Command::SESSION_SETUP && status == NtStatus::SUCCESS {
            sign_resp = self.final_setup_signed(resp_sid);
        }
        if status == NtStatus::USER_SESSION_DELETED || status == NtStatus::NETWORK_SESSION_EXPIRED {
            sign_resp = false;
        }
        // The body is already in place; the header is written around it.
        let mut hb = Header::new_unchecked(&mut out[..len]);
        hb.init_response();
        hb.set_command(cmd);
        hb.set_status(status);
        hb.set_credit_charge(charge);
        hb.set_credits(granted);
        let mut f = flags::SERVER_TO_REDIR | (req_flags & flags::PRIORITY_MASK);
        if related {
            f |= flags::RELATED_OPERATIONS;
        }
        if sign_resp {
            f |= flags::SIGNED;
        }
        if status == NtStatus::PENDING {
            f |= flags::ASYNC_COMMAND;
        }
        hb.set_flags(f);
        hb.set_message_id(mid);
        hb.set_tree_id(resp_tid);
        if status == NtStatus::PENDING {
            // AsyncId replaces Reserved + TreeId in an async header.
            hb.set_async_id(chain.async_id.take().unwrap_or(0));
        }
        hb.set_session_id(resp_sid);
        if status == NtStatus::SUCCESS && cmd == Command::NEGOTIATE {
            self.preauth_after(conn, &out[..len], 0, true);
        } else if status == NtStatus::MORE_PROCESSING_REQUIRED && cmd == Command::SESSION_SETUP {
            self.preauth_after(conn, &out[..len], resp_sid, false);
        }
        Ok(len)
    }

    /// Whether the final SESSION_SETUP response of session `sid` is signed
    /// ([MS-SMB2] 3.3.5.5.3).
    fn final_setup_signed(&self, sid: u64) -> bool {
        let Some(h) = Handle::from_u64(sid) else {
            return false;
        };
        let Some(s) = self.sessions.get(h) else {
            return false;
        };
        s.signer.is_some()
            && (s.signing_required
                || self
                    .conns
                    .get(s.conn)
                    .map(|c| c.dialect == dialect::SMB3_11)
                    .unwrap_or(false))
    }

    /// Resolves session and tree, verifies the signature. Returns the session and tree
    /// handles and whether the response is to be signed.
    #[allow(clippy::too_many_arguments)]
    fn pre_dispatch(
        &mut self,
        conn: ConnId,
        cmd: Command,
        msg: &mut [u8],
        session_id: u64,
        tree_id: u32,
        chain: &Chain,
        related: bool,
        encrypted: bool,
    ) -> Result<(Option<Handle>, Option<Handle>, bool), NtStatus> {
        let c = self.conns.get(conn.0).ok_or(NtStatus::INTERNAL_ERROR)?;
        if cmd != Command::NEGOTIATE && !c.negotiated() {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if cmd == Command::NEGOTIATE || cmd == Command::ECHO && session_id == 0 {
            return Ok((None, None, false));
        }
        if cmd == Command::SESSION_SETUP && session_id == 0 {
            return Ok((None, None, false));
        }
        let sh = if related {
            chain.session.ok_or(NtStatus::INVALID_PARAMETER)?
        } else {
            self.session_handle(conn.0, session_id)
                .ok_or(NtStatus::USER_SESSION_DELETED)?
        };
        let s = self
            .sessions
            .get(sh)
            .ok_or(NtStatus::USER_SESSION_DELETED)?;
        let valid = matches!(s.state, SessionState::Valid);
        let is_signed = Header::new_unchecked(&*msg).is_signed();
        let mut sign = false;
        if valid {
            if is_signed {
                match s.signer.as_ref() {
                    Some(sig) if sig.verify(msg) => sign = true,
                    _ => return Err(NtStatus::ACCESS_DENIED),
                }
            } else if s.signing_required && !encrypted {
                return Err(NtStatus::ACCESS_DENIED);
            }
            if s.encrypt_data && !encrypted && cmd != Command::SESSION_SETUP {
                return Err(NtStatus::ACCESS_DENIED);
            }
        } else if cmd != Command::SESSION_SETUP && cmd != Command::LOGOFF {
            // LOGOFF ends a half-open session too ([MS-SMB2] 3.3.5.2.9).
            return Err(NtStatus::USER_SESSION_DELETED);
        }
        let needs_tree = !matches!(
            cmd,
            Command::SESSION_SETUP | Command::LOGOFF | Command::TREE_CONNECT | Command::ECHO
        );
        let th = if needs_tree {
            let th = if related {
                chain.tree.ok_or(NtStatus::NETWORK_NAME_DELETED)?
            } else {
                self.tree_handle(sh, tree_id)
                    .ok_or(NtStatus::NETWORK_NAME_DELETED)?
            };
            if self.trees.get(th).is_some_and(|t| t.encrypt) && !encrypted {
                // A share that requires encryption refuses plain requests
                // ([MS-SMB2] 3.3.5.2.11).
                return Err(NtStatus::ACCESS_DENIED);
            }
            Some(th)
        } else {
            None
        };
        Ok((Some(sh), th, sign))
    }

    pub(crate) fn tree_handle(&self, session: Handle, tree_id: u32) -> Option<Handle> {
        let h = crate::tree_handle_from_id(tree_id)?;
        let t = self.trees.get(h)?;
        (t.id == tree_id && t.session == session).then_some(h)
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        conn: ConnId,
        cmd: Command,
        msg: &[u8],
        out: &mut [u8],
        chain: &mut Chain,
        sh: Option<Handle>,
        th: Option<Handle>,
        related: bool,
    ) -> HResult {
        let sh_ = || sh.ok_or(NtStatus::USER_SESSION_DELETED);
        let th_ = || th.ok_or(NtStatus::NETWORK_NAME_DELETED);
        match cmd {
            Command::NEGOTIATE => self.negotiate(conn, msg, out),
            Command::SESSION_SETUP => self.session_setup(conn, msg, out, chain),
            Command::LOGOFF => {
                session_setup::parse_empty(msg).map_err(|e| e.status())?;
                // Trees and opens go now; the session (and its signing key) after the response
                // is signed ([MS-SMB2] 3.3.5.6).
                let sh = sh_()?;
                self.close_trees_of(sh);
                self.deferred_logoff = Some(sh);
                Ok(Reply {
                    status: NtStatus::SUCCESS,
                    len: session_setup::emit_empty(out),
                })
            }
            Command::ECHO => {
                session_setup::parse_empty(msg).map_err(|e| e.status())?;
                Ok(Reply {
                    status: NtStatus::SUCCESS,
                    len: session_setup::emit_empty(out),
                })
            }
            Command::TREE_CONNECT => self.tree_connect(msg, out, sh_()?, chain),
            Command::TREE_DISCONNECT => {
                session_setup::parse_empty(msg).map_err(|e| e.status())?;
                self.destroy_tree(th_()?);
                Ok(Reply {
                    status: NtStatus::SUCCESS,
                    len: session_setup::emit_empty(out),
                })
            }
            Command::CREATE => self.create(msg, out, sh_()?, th_()?, chain),
            Command::CLOSE => self.close_cmd(msg, out, th_()?, chain, related),
            Command::FLUSH => self.flush(msg, out, th_()?, chain, related),
            Command::READ => self.read(conn, msg, out, th_()?, chain, related),
            Command::WRITE => self.write(conn, msg, out, th_()?, chain, related),
            Command::QUERY_DIRECTORY => {
                self.query_directory(conn, msg, out, th_()?, chain, related)
            }
            Command::QUERY_INFO => self.query_info(msg, out, th_()?, chain, related),
            Command::SET_INFO => self.set_info(msg, out, th_()?, chain, related),
            Command::IOCTL => self.ioctl(conn, msg, out, th_()?, chain, related),
            Command::CHANGE_NOTIFY => self.change_notify(msg, out, th_()?, chain, related),
            Command::LOCK => self.lock(msg, out, th_()?, chain, related),
            Command::OPLOCK_BREAK => self.oplock_break(msg, out, th_()?, chain, related),
            _ => Err(NtStatus::INVALID_PARAMETER),
        }
    }

    /// Adds an open to the table; its FileId (persistent = volatile = the table handle) becomes
    /// the chain's current file. `None` when the table is full.
    pub(crate) fn insert_open(&mut self, o: Open, chain: &mut Chain) -> Option<(Handle, FileId)> {
        let oh = self.opens.insert(o).ok()?;
        let v = oh.to_u64();
        let fid = FileId {
            persistent: v,
            volatile: v,
        };
        if let Some(o) = self.opens.get_mut(oh) {
            o.file_id = fid;
        }
        chain.file_id = Some(fid);
        Some((oh, fid))
    }

    /// Parks the request being handled as pending; returns its AsyncId.
    pub(crate) fn park(
        &mut self,
        chain: &Chain,
        msg: &[u8],
        waiting: Waiting,
    ) -> Result<u64, NtStatus> {
        if chain.in_middle && !matches!(waiting, Waiting::Break { .. }) {
            // Only the last request of a compound, or a CREATE waiting for an oplock break,
            // may go async; Samba and Windows fail the others the same way
            // (smb2.compound.interim2).
            return Err(NtStatus::INTERNAL_ERROR);
        }
        let h = Header::new_unchecked(msg);
        let conn = chain.conn.ok_or(NtStatus::INTERNAL_ERROR)?;
        let session = chain.session.ok_or(NtStatus::INTERNAL_ERROR)?;
        let c = self.conns.get_mut(conn).ok_or(NtStatus::INTERNAL_ERROR)?;
        let id = match chain.reuse_async_id {
            Some(id) => id,
            None => {
                c.next_async_id += 1;
                c.next_async_id
            }
        };
        c.pending
            .push(Pending {
                message_id: h.message_id(),
                async_id: id,
                session,
                session_id: chain.session_id,
                tree_id: chain.tree_id,
                command: h.command(),
                signed: h.is_signed(),
                encrypted: chain.encrypted,
                waiting,
                done: None,
                event: None,
            })
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        Ok(id)
    }

    /// CANCEL ([MS-SMB2] 3.3.5.16): by AsyncId for async requests, else by MessageId.
    fn cancel(&mut self, conn: Handle, mid: u64, async_id: Option<u64>, session_id: u64) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        for p in c.pending.iter_mut() {
            let hit = match async_id {
                Some(a) => p.async_id == a,
                None => p.message_id == mid && p.session_id == session_id,
            };
            if hit && p.done.is_none() {
                p.done = Some(NtStatus::CANCELLED);
            }
        }
    }

    /// Finishes every pending request waiting on open `oh` with `status`.
    pub(crate) fn finish_pending_of_open(&mut self, oh: Handle) {
        for (_, c) in self.conns.iter_mut() {
            for p in c.pending.iter_mut() {
                let (open, status) = match p.waiting {
                    Waiting::Lock { open, .. } => (open, NtStatus::RANGE_NOT_LOCKED),
                    Waiting::Notify { open, .. } => (open, NtStatus::NOTIFY_CLEANUP),
                    // The holder is closing: the waiting CREATE runs again.
                    Waiting::Break { holder, .. } => (holder, NtStatus::SUCCESS),
                    Waiting::Read { open, .. } => (open, NtStatus::FILE_CLOSED),
                    // The flush runs on; its result no longer has a request to go to.
                    Waiting::Flush { open, .. } => (open, NtStatus::FILE_CLOSED),
                };
                if open == oh && p.done.is_none() {
                    p.done = Some(status);
                }
            }
        }
    }

    /// The host finished the I/O that [`Vfs::try_read`] or [`Vfs::try_flush`] declined with
    /// `ticket`, with `status` (`SUCCESS` or the error to answer): the request's final
    /// response is ready for [`Server::poll_transmit`] (the driver then wakes the writers of
    /// [`Server::for_each_transmit`]). Returns whether a request was waiting for it (not if
    /// it was cancelled or its open closed meanwhile).
    pub fn io_ready(&mut self, ticket: u64, status: NtStatus) -> bool {
        let mut found = false;
        for (_, c) in self.conns.iter_mut() {
            for p in c.pending.iter_mut() {
                let (Waiting::Read { ticket: t, .. } | Waiting::Flush { ticket: t, .. }) =
                    p.waiting
                else {
                    continue;
                };
                if t == ticket && p.done.is_none() {
                    p.done = Some(status);
                    found = true;
                }
            }
        }
        found
    }

    /// Whether `conn` has a finished async request to send ([`Server::poll_transmit`]).
    pub fn has_transmit(&self, conn: ConnId) -> bool {
        self.conns
            .get(conn.0)
            .map(|c| !c.breaks.is_empty() || c.pending.iter().any(|p| p.done.is_some()))
            .unwrap_or(false)
    }

    /// Calls `f` for every connection with a finished async request. The driver calls this
    /// after each [`Server::handle_frame`] and wakes those connections' writers.
    pub fn for_each_transmit(&self, mut f: impl FnMut(ConnId)) {
        for (h, c) in self.conns.iter() {
            if !c.breaks.is_empty() || c.pending.iter().any(|p| p.done.is_some()) {
                f(ConnId(h));
            }
        }
    }

    /// Writes the next final response of an async request of `conn` (Direct TCP framed) into
    /// `tx`; `None` when there is none. Call until `None` after [`Server::has_transmit`] turns
    /// true. `tx` needs 64 KiB plus headers for change notifications, and the largest READ
    /// (`max_io`) plus headers for a READ that went async ([`Vfs::try_read`]).
    pub fn poll_transmit(&mut self, now: u64, conn: ConnId, tx: &mut [u8]) -> Option<usize> {
        self.now = now;
        if let Some(n) = self.emit_break(conn.0, tx) {
            return Some(n);
        }
        let c = self.conns.get_mut(conn.0)?;
        let i = c.pending.iter().position(|p| p.done.is_some())?;
        let mut p = c.pending.remove(i);
        let event = p.event.take().and_then(|h| self.events.remove(h));
        let status = p.done.unwrap_or(NtStatus::INTERNAL_ERROR);
        let off = transport::HEADER_LEN
            + if p.encrypted {
                smb_crypto::TRANSFORM_HEADER_LEN
            } else {
                0
            };
        let out = tx.get_mut(off..)?;
        let mut status = status;
        // A CREATE that waited for an oplock break in the middle of a compound: the rest of
        // the compound runs after it, with the CREATE's context.
        let mut chain = Chain {
            conn: Some(conn.0),
            session: Some(p.session),
            session_id: p.session_id,
            tree_id: p.tree_id,
            encrypted: p.encrypted,
            ..Chain::default()
        };
        let mut parked = None;
        let len = if status.is_error() || status == NtStatus::CANCELLED {
            if matches!(p.waiting, Waiting::Break { .. }) {
                // Cancelled: the parked CREATE (and any compound rest) leaves with it.
                if let Some(h) = self.parked_of(conn.0, p.async_id) {
                    parked = self.parked.remove(h);
                }
            }
            session_setup::emit_error(out)
        } else {
            match p.waiting {
                Waiting::Lock { .. } | Waiting::Flush { .. } => session_setup::emit_empty(out),
                Waiting::Notify { .. } => self.emit_notify(event.as_ref(), out),
                Waiting::Read {
                    open,
                    offset,
                    length,
                    minimum,
                    ..
                } => match self.finish_async_read(open, offset, length, minimum, out) {
                    Ok(len) => len,
                    Err(st) => {
                        status = st;
                        session_setup::emit_error(out)
                    }
                },
                Waiting::Break { .. } => {
                    let (st, len) =
                        self.rerun_parked(conn.0, p.async_id, &mut chain, &mut parked, out);
                    if st == NtStatus::PENDING {
                        // Parked again behind another holder; the client keeps waiting.
                        return Some(0);
                    }
                    status = st;
                    len
                }
            }
        };
        let mut h = Header::new_unchecked(&mut out[..len]);
        h.init_response();
        h.set_command(p.command);
        h.set_status(status);
        h.set_message_id(p.message_id);
        h.set_async_id(p.async_id);
        h.set_session_id(p.session_id);
        let signer_ok = self
            .sessions
            .get(p.session)
            .map(|s| s.id == p.session_id)
            .unwrap_or(false);
        let sign = p.signed && signer_ok && !p.encrypted;
        let mut fl = flags::SERVER_TO_REDIR | flags::ASYNC_COMMAND;
        if sign {
            fl |= flags::SIGNED;
        }
        h.set_flags(fl);
        let len = match parked {
            Some(mut pk) if pk.bytes.len() > pk.create_len && chain.rest_parked.is_none() => {
                if status.is_error() {
                    // The rest of the compound fails with the CREATE's status, as it would
                    // have had the CREATE not waited ([MS-SMB2] 3.3.5.2.7.2).
                    chain.create_error = Some(status);
                }
                // Pad the CREATE response and run the rest after it; `run_chain` links and
                // signs every element.
                let aligned = crate::align8(len);
                let room = out.len();
                if aligned > room {
                    return Some(0);
                }
                out[len..aligned].fill(0);
                let rest = &mut pk.bytes[pk.create_len..];
                match self.run_chain(conn, rest, out, &mut chain, aligned, Some(0)) {
                    Ok(n) => n,
                    Err(_) => return Some(0),
                }
            }
            _ => {
                if sign {
                    if let Some(signer) =
                        self.sessions.get(p.session).and_then(|s| s.signer.as_ref())
                    {
                        signer.sign(&mut out[..len]);
                    }
                }
                len
            }
        };
        if p.encrypted {
            if !signer_ok {
                return Some(0);
            }
            let start = transport::HEADER_LEN;
            self.seal_response(p.session, &mut tx[start..off + len])
                .ok()?;
            transport::emit_header(tx, off - transport::HEADER_LEN + len);
            return Some(off + len);
        }
        transport::emit_header(tx, len);
        Some(len + transport::HEADER_LEN)
    }

    /// Destroys a session and everything under it. Returns whether it existed.
    pub(crate) fn destroy_session(&mut self, sh: Handle) -> bool {
        // Pending requests of the session finish as their opens close.
        self.close_trees_of(sh);
        self.end_auth(sh);
        self.sessions.remove(sh).is_some()
    }

    /// Frees the NTLM state of `sh`'s authentication exchange, if one is under way.
    pub(crate) fn end_auth(&mut self, sh: Handle) {
        if let Some(a) = self.sessions.get_mut(sh).and_then(|s| s.auth.take()) {
            self.auths.remove(a);
        }
    }

    /// Disconnects every tree of a session (closing their opens).
    pub(crate) fn close_trees_of(&mut self, sh: Handle) {
        while let Some(t) = self.trees.find(|t| t.session == sh) {
            self.destroy_tree(t);
        }
    }

    /// Closes every open of a tree and removes it.
    pub(crate) fn destroy_tree(&mut self, th: Handle) {
        loop {
            let o = self.opens.find(|o| o.tree == th);
            match o {
                Some(o) => self.close_open(o),
                None => break,
            }
        }
        self.trees.remove(th);
    }
}

/// The compound element at the start of `rest`: its NextCommand, its length and whether it
/// is related ([MS-SMB2] 3.3.5.2.7: NextCommand is 8-aligned and inside the frame).
fn chain_element(rest: &[u8]) -> Result<(usize, usize, bool), Disconnect> {
    let h = Header::new_checked(rest).map_err(|_| Disconnect("bad SMB2 header"))?;
    let next = h.next_command() as usize;
    let msg_len = if next == 0 {
        rest.len()
    } else {
        if !next.is_multiple_of(8) || next < HEADER_LEN || next > rest.len() {
            return Err(Disconnect("bad NextCommand"));
        }
        next
    };
    Ok((next, msg_len, h.is_related()))
}

/// Checks every element of the chain `rx` the way [`Server::run_chain`] will.
fn check_chain(rx: &[u8]) -> Result<(), Disconnect> {
    let mut off = 0usize;
    loop {
        let (next, msg_len, _) = chain_element(&rx[off..])?;
        if next == 0 {
            return Ok(());
        }
        off += msg_len;
    }
}
