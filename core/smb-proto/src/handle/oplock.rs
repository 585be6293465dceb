//! Oplocks ([MS-SMB2] 3.3.5.9 grant, 3.3.4.6 break notification, 3.3.5.22.1 acknowledgment;
//! [MS-FSA] 2.1.5.17). smbed grants exclusive and batch oplocks to a sole opener. Another
//! CREATE of that file parks (answered STATUS_PENDING) while the holder is told to break to
//! none; the CREATE runs again when the holder acknowledges, closes, or 35 seconds pass.
//! Level II oplocks and leases are not granted.

use smb_wire::header::{flags, Command, Header, HEADER_LEN};
use smb_wire::{transport, FileId, NtStatus};

use crate::policy::Policy;
use crate::server::{Chain, HResult, Reply, Server};
use crate::state::{BreakNotice, Parked, Waiting, MAX_PARKED, PARKED_CAP};
use crate::table::Handle;
use crate::vfs::{ShareId, Vfs};

/// Oplock levels ([MS-SMB2] 2.2.13).
pub mod oplock_level {
    pub const NONE: u8 = 0x00;
    pub const II: u8 = 0x01;
    pub const EXCLUSIVE: u8 = 0x08;
    pub const BATCH: u8 = 0x09;
    pub const LEASE: u8 = 0xFF;
}

/// How long a CREATE waits for a break acknowledgment ([MS-SMB2] 3.3.2.1: 35 s), in FILETIME
/// units.
pub const BREAK_TIMEOUT: u64 = 35 * 10_000_000;

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    /// The open holding an exclusive or batch oplock on a file, if any.
    pub(crate) fn oplock_holder(&self, share: ShareId, key: u64) -> Option<Handle> {
        self.opens
            .iter()
            .find(|(_, o)| o.share == share && o.file_key == key && (o.oplock != 0 || o.breaking))
            .map(|(h, _)| h)
    }

    /// Sends (once) a break to none to `holder` and parks the CREATE in `msg`.
    pub(crate) fn wait_for_break(
        &mut self,
        chain: &mut Chain,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        holder: Handle,
    ) -> HResult {
        let conn = chain.conn.ok_or(NtStatus::INTERNAL_ERROR)?;
        let mut bytes = heapless::Vec::new();
        // The rest of a compound waits with the CREATE: it must fit too.
        if msg.len() + chain.rest_len * usize::from(chain.in_middle) > PARKED_CAP
            || bytes.extend_from_slice(msg).is_err()
        {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        let parked_here = self.parked.iter().filter(|(_, p)| p.conn == conn).count();
        if parked_here >= MAX_PARKED || self.parked.len() >= self.parked.capacity() {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        let (hconn, notice) = {
            let o = self.opens.get_mut(holder).ok_or(NtStatus::INTERNAL_ERROR)?;
            let first = !o.breaking;
            o.breaking = true;
            let s = self.sessions.get(o.session);
            let hconn = s.map(|s| s.conn);
            (
                hconn,
                first.then_some(BreakNotice {
                    file_id: o.file_id,
                    level: oplock_level::NONE,
                    session: o.session,
                }),
            )
        };
        if let (Some(hc), Some(n)) = (hconn, notice) {
            if let Some(c) = self.conns.get_mut(hc) {
                let _ = c.breaks.push(n);
            }
        }
        let deadline = self.now.saturating_add(BREAK_TIMEOUT);
        let id = self.park(chain, msg, Waiting::Break { holder, deadline })?;
        // Room was checked above, and nothing parks in between.
        let _ = self.parked.insert(Parked {
            conn,
            async_id: id,
            tree: th,
            create_len: bytes.len(),
            bytes,
        });
        chain.async_id = Some(id);
        chain.rest_parked = chain.in_middle.then_some(id);
        Ok(Reply {
            status: NtStatus::PENDING,
            len: smb_wire::session_setup::emit_error(out),
        })
    }

    /// Stores the rest of a compound with the CREATE parked as `async_id` (it was checked to
    /// fit when the CREATE parked).
    pub(crate) fn park_rest(&mut self, conn: Handle, async_id: u64, rest: &[u8]) {
        if let Some(p) = self
            .parked_of(conn, async_id)
            .and_then(|h| self.parked.get_mut(h))
        {
            let _ = p.bytes.extend_from_slice(rest);
        }
    }

    /// The CREATE parked as `async_id` by connection `conn`.
    pub(crate) fn parked_of(&self, conn: Handle, async_id: u64) -> Option<Handle> {
        self.parked
            .find(|p| p.conn == conn && p.async_id == async_id)
    }

    /// Lets every CREATE waiting on `holder` run again.
    pub(crate) fn release_break_waiters(&mut self, holder: Handle) {
        for (_, c) in self.conns.iter_mut() {
            for p in c.pending.iter_mut() {
                if let Waiting::Break { holder: h, .. } = p.waiting {
                    if h == holder && p.done.is_none() {
                        p.done = Some(NtStatus::SUCCESS);
                    }
                }
            }
        }
    }

    /// OPLOCK_BREAK acknowledgment ([MS-SMB2] 2.2.24.1, 3.3.5.22.1).
    pub(crate) fn oplock_break(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let b = smb_wire::body::Body::new(msg, 24).map_err(|_| {
            // A 36-byte body is a lease break acknowledgment; no leases are granted.
            NtStatus::INVALID_PARAMETER
        })?;
        let level = b.u8(2);
        let fid = FileId::from_bytes(b.array(8));
        let oh = self.resolve_open(th, fid, chain, related)?;
        let o = self.opens.get_mut(oh).ok_or(NtStatus::FILE_CLOSED)?;
        if !o.breaking || level != oplock_level::NONE && level != oplock_level::II {
            return Err(NtStatus::INVALID_OPLOCK_PROTOCOL);
        }
        // Broken to none: whatever the client asks, it ends with none.
        o.oplock = oplock_level::NONE;
        o.breaking = false;
        self.release_break_waiters(oh);
        let body = &mut out[HEADER_LEN..HEADER_LEN + 24];
        body.fill(0);
        body[..2].copy_from_slice(&24u16.to_le_bytes());
        body[2] = oplock_level::NONE;
        fid.write(&mut body[8..24]);
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: HEADER_LEN + 24,
        })
    }

    /// Expires break waits whose deadline passed: the holder loses its oplock and the waiting
    /// CREATEs run. Call with the current time; see [`Server::poll_timeout`].
    pub fn handle_timeout(&mut self, now: u64) {
        self.now = now;
        let mut expired: heapless::Vec<Handle, 32> = heapless::Vec::new();
        for (_, c) in self.conns.iter() {
            for p in c.pending.iter() {
                if let Waiting::Break { holder, deadline } = p.waiting {
                    if p.done.is_none() && deadline <= now {
                        let _ = expired.push(holder);
                    }
                }
            }
        }
        for h in expired {
            if let Some(o) = self.opens.get_mut(h) {
                o.oplock = oplock_level::NONE;
                o.breaking = false;
            }
            self.release_break_waiters(h);
        }
    }

    /// The earliest FILETIME at which [`Server::handle_timeout`] has work, if any.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.conns
            .iter()
            .flat_map(|(_, c)| c.pending.iter())
            .filter(|p| p.done.is_none())
            .filter_map(|p| match p.waiting {
                Waiting::Break { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }

    /// Writes a queued break notification for `conn` into `tx` (framed); `None` if none.
    pub(crate) fn emit_break(&mut self, conn: Handle, tx: &mut [u8]) -> Option<usize> {
        let c = self.conns.get_mut(conn)?;
        if c.breaks.is_empty() {
            return None;
        }
        let n = c.breaks.remove(0);
        let encrypt = self
            .sessions
            .get(n.session)
            .map(|s| s.encrypt_data && s.encryptor.is_some())
            .unwrap_or(false);
        let off = transport::HEADER_LEN
            + if encrypt {
                smb_crypto::TRANSFORM_HEADER_LEN
            } else {
                0
            };
        let out = tx.get_mut(off..off + HEADER_LEN + 24)?;
        let mut h = Header::new_unchecked(&mut out[..]);
        h.init_response();
        h.set_command(Command::OPLOCK_BREAK);
        h.set_flags(flags::SERVER_TO_REDIR);
        h.set_message_id(u64::MAX);
        let body = &mut out[HEADER_LEN..];
        body.fill(0);
        body[..2].copy_from_slice(&24u16.to_le_bytes());
        body[2] = n.level;
        n.file_id.write(&mut body[8..24]);
        let len = HEADER_LEN + 24;
        if encrypt {
            self.seal_response(n.session, &mut tx[transport::HEADER_LEN..off + len])
                .ok()?;
        }
        transport::emit_header(tx, off - transport::HEADER_LEN + len);
        Some(off + len)
    }

    /// Runs a parked CREATE again (its holder broke or timed out); writes the final async
    /// response. Returns the response length inside `out`.
    ///
    /// `chain` comes back as the CREATE left it; `parked` holds the rest of its compound,
    /// which the caller runs after it (see [`Parked`]).
    pub(crate) fn rerun_parked(
        &mut self,
        conn: Handle,
        async_id: u64,
        chain: &mut Chain,
        parked: &mut Option<Parked>,
        out: &mut [u8],
    ) -> (NtStatus, usize) {
        if self.conns.get(conn).is_none() {
            return (NtStatus::INTERNAL_ERROR, 0);
        }
        let Some(taken) = self
            .parked_of(conn, async_id)
            .and_then(|h| self.parked.remove(h))
        else {
            return (
                NtStatus::INTERNAL_ERROR,
                smb_wire::session_setup::emit_error(out),
            );
        };
        let p = parked.insert(taken);
        let (Some(session), tree) = (chain.session, p.tree) else {
            return (NtStatus::INTERNAL_ERROR, 0);
        };
        chain.conn = Some(conn);
        chain.tree = Some(tree);
        chain.reuse_async_id = Some(async_id);
        let create_len = p.create_len.min(p.bytes.len());
        chain.rest_len = p.bytes.len() - create_len;
        chain.in_middle = chain.rest_len > 0;
        if self.trees.get(tree).is_none() {
            return (
                NtStatus::NETWORK_NAME_DELETED,
                smb_wire::session_setup::emit_error(out),
            );
        }
        let res = self.create(&p.bytes[..create_len], out, session, tree, chain);
        if chain.rest_parked.is_some() {
            // Parked again behind another holder: the rest of the compound waits with it.
            let rest = &p.bytes[create_len..];
            self.park_rest(conn, async_id, rest);
        }
        match res {
            Ok(r) => (r.status, r.len),
            Err(st) => (st, smb_wire::session_setup::emit_error(out)),
        }
    }
}
