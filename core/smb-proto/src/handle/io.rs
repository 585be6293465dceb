//! READ ([MS-SMB2] 3.3.5.12), WRITE (3.3.5.13) and FLUSH (3.3.5.11). READ data goes from the
//! VFS straight into the response buffer, or, for a large READ alone in an unsigned,
//! unencrypted frame on a host that supports it, stays in the file and is sent after the
//! response with `sendfile` ([`crate::server::FileTail`]).

use smb_wire::create::access;
use smb_wire::file_ops::{self, FlushRequest, ReadRequest, WriteRequest};
use smb_wire::NtStatus;

use crate::policy::Policy;
use crate::server::{Chain, ConnId, FileTail, HResult, Reply, Server};
use crate::state::Waiting;
use crate::table::Handle;
use crate::vfs::{NodeId, Vfs};

/// Smallest READ worth sending from the file with `sendfile` ([`Vfs::tail_len`]): below it,
/// the size check and the extra syscalls cost more than the copy they save.
pub const TAIL_MIN: u32 = 64 * 1024;

/// Credits a payload of `len` bytes costs ([MS-SMB2] 3.3.5.2.5).
pub fn credits_for(len: u32) -> u16 {
    (1 + len.saturating_sub(1) / 65536) as u16
}

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    /// Checks that the request's CreditCharge covers `len` bytes when multi-credit is in use.
    pub(crate) fn check_charge(&self, conn: ConnId, msg: &[u8], len: u32) -> Result<(), NtStatus> {
        let c = self.conns.get(conn.0).ok_or(NtStatus::INTERNAL_ERROR)?;
        if c.multi_credit {
            let charge = smb_wire::Header::new_unchecked(msg).credit_charge().max(1);
            if credits_for(len) > charge {
                return Err(NtStatus::INVALID_PARAMETER);
            }
        } else if len > 65536 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        Ok(())
    }

    pub(crate) fn read(
        &mut self,
        conn: ConnId,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = ReadRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        if self.opens.get(oh).is_some_and(|o| o.pipe.is_some()) {
            if req.length > self.cfg.max_io {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            return self.pipe_read(oh, req.length, out);
        }
        if req.length > self.cfg.max_io {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.check_charge(conn, msg, req.length)?;
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        if o.is_directory {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        }
        if o.granted_access & (access::FILE_READ_DATA | access::FILE_EXECUTE) == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let node = o.node;
        if self.io_conflict(oh, req.offset, u64::from(req.length), false) {
            return Err(NtStatus::FILE_LOCK_CONFLICT);
        }
        if req.offset > i64::MAX as u64 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let off = file_ops::READ_DATA_OFFSET;
        let want = req.length as usize;
        if chain.tail_ok && req.length >= TAIL_MIN {
            // Zero-copy: the host sends the data straight from the file after the response.
            if let Some(n) = self.vfs.tail_len(node, req.offset, req.length)? {
                if n > 0 && n <= req.length && n >= req.minimum_count {
                    let reply = self.read_done(
                        oh,
                        node,
                        req.offset,
                        req.length,
                        req.minimum_count,
                        n as usize,
                        out,
                    )?;
                    self.tail = Some(FileTail {
                        node,
                        offset: req.offset,
                        len: n,
                    });
                    // The response in `out` stops where the data would start.
                    return Ok(Reply {
                        len: reply.len - n as usize,
                        ..reply
                    });
                }
            }
        }
        let dst = out
            .get_mut(off..off + want)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        // The last request of a chain may go async while the host fetches data that is not
        // at hand ([`Vfs::try_read`]); the others read as before.
        let may_park = self.may_wait(chain);
        let n = if may_park && want > 0 {
            let ticket = self.next_io_ticket;
            match self.vfs.try_read(node, req.offset, dst, ticket) {
                Err(NtStatus::PENDING) => {
                    self.next_io_ticket += 1;
                    let waiting = Waiting::Read {
                        open: oh,
                        offset: req.offset,
                        length: req.length,
                        minimum: req.minimum_count,
                        ticket,
                    };
                    match self.park(chain, msg, waiting) {
                        Ok(id) => {
                            chain.async_id = Some(id);
                            return Ok(Reply {
                                status: NtStatus::PENDING,
                                len: smb_wire::session_setup::emit_error(out),
                            });
                        }
                        // No room to wait: read in place after all.
                        Err(_) => self.vfs.read(node, req.offset, dst)?,
                    }
                }
                r => r?,
            }
        } else {
            self.vfs.read(node, req.offset, dst)?
        };
        self.read_done(oh, node, req.offset, req.length, req.minimum_count, n, out)
    }

    /// Whether the request being handled may go async while the host does its I/O: the last
    /// request of its chain, on a connection with room for another pending request.
    fn may_wait(&self, chain: &Chain) -> bool {
        !chain.in_middle
            && chain.conn.is_some_and(|c| {
                self.conns
                    .get(c)
                    .is_some_and(|c| c.pending.len() < crate::state::MAX_PENDING)
            })
    }

    /// The final response of a READ that waited for [`Server::io_ready`]: the data is at hand
    /// now. `out` is where the response body goes.
    pub(crate) fn finish_async_read(
        &mut self,
        oh: Handle,
        offset: u64,
        length: u32,
        minimum: u32,
        out: &mut [u8],
    ) -> Result<usize, NtStatus> {
        let node = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?.node;
        let off = file_ops::READ_DATA_OFFSET;
        let dst = out
            .get_mut(off..off + length as usize)
            .ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        let n = self.vfs.read(node, offset, dst)?;
        self.read_done(oh, node, offset, length, minimum, n, out)
            .map(|r| r.len)
    }

    /// What follows a read of `n` bytes: end-of-file rules, the open's position, the response.
    #[allow(clippy::too_many_arguments)]
    fn read_done(
        &mut self,
        oh: Handle,
        node: NodeId,
        offset: u64,
        length: u32,
        minimum: u32,
        n: usize,
        out: &mut [u8],
    ) -> HResult {
        let want = length as usize;
        if n < minimum as usize || (n == 0 && want > 0) {
            return Err(NtStatus::END_OF_FILE);
        }
        if n == 0 && want == 0 {
            // A zero-length read at or past EOF is still END_OF_FILE for Windows only past EOF.
            let size = self.vfs.stat(node)?.end_of_file;
            if offset > size {
                return Err(NtStatus::END_OF_FILE);
            }
        }
        if let Some(o) = self.opens.get_mut(oh) {
            o.position = offset + n as u64;
        }
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: file_ops::emit_read_response(out, n),
        })
    }

    pub(crate) fn write(
        &mut self,
        conn: ConnId,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = WriteRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        if self.opens.get(oh).is_some_and(|o| o.pipe.is_some()) {
            return self.pipe_write(oh, req.data, out);
        }
        if req.data.len() > self.cfg.max_io as usize {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.check_charge(conn, msg, req.data.len() as u32)?;
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        if o.is_directory {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        }
        if o.granted_access & (access::FILE_WRITE_DATA | access::FILE_APPEND_DATA) == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let node = o.node;
        let offset = if req.offset == u64::MAX {
            // Append ([MS-SMB2] 3.3.5.13 with FILE_APPEND_DATA).
            self.vfs.stat(node)?.end_of_file
        } else {
            if req.offset > i64::MAX as u64 {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            if o.granted_access & access::FILE_WRITE_DATA == 0 {
                // Append-only opens may only write at the end.
                let size = self.vfs.stat(node)?.end_of_file;
                if req.offset < size {
                    return Err(NtStatus::ACCESS_DENIED);
                }
            }
            req.offset
        };
        if self.io_conflict(oh, offset, req.data.len() as u64, true) {
            return Err(NtStatus::FILE_LOCK_CONFLICT);
        }
        let n = self.vfs.write(node, offset, req.data)?;
        if req.flags & 0x1 != 0 {
            // SMB2_WRITEFLAG_WRITE_THROUGH
            self.vfs.flush(node)?;
        }
        if let Some(o) = self.opens.get_mut(oh) {
            o.position = offset + n as u64;
        }
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: file_ops::emit_write_response(out, n as u32),
        })
    }

    pub(crate) fn flush(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = FlushRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        if o.granted_access & (access::FILE_WRITE_DATA | access::FILE_APPEND_DATA) == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        if !o.is_directory {
            let node = o.node;
            // Like READ: the last request of a chain may wait (interim STATUS_PENDING) while
            // the host syncs off the event loop.
            let may_park = self.may_wait(chain);
            if may_park {
                let ticket = self.next_io_ticket;
                match self.vfs.try_flush(node, ticket) {
                    Err(NtStatus::PENDING) => {
                        self.next_io_ticket += 1;
                        match self.park(chain, msg, Waiting::Flush { open: oh, ticket }) {
                            Ok(id) => {
                                chain.async_id = Some(id);
                                return Ok(Reply {
                                    status: NtStatus::PENDING,
                                    len: smb_wire::session_setup::emit_error(out),
                                });
                            }
                            // No room to wait: the flush runs anyway; sync again here.
                            Err(_) => self.vfs.flush(node)?,
                        }
                    }
                    r => r?,
                }
            } else {
                self.vfs.flush(node)?;
            }
        }
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: smb_wire::session_setup::emit_empty(out),
        })
    }
}
