//! LOCK ([MS-SMB2] 3.3.5.14, [MS-FSA] 2.1.5.11): byte-range locks held per open, checked by
//! READ and WRITE, with blocking requests parked as pending until the range frees up or the
//! client cancels.

use smb_wire::file_ops::{lock_flags, LockRequest};
use smb_wire::NtStatus;

use crate::policy::Policy;
use crate::server::{Chain, HResult, Reply, Server};
use crate::state::{HeldLock, Lock, Waiting};
use crate::table::Handle;
use crate::vfs::{ShareId, Vfs};

/// Whether two ranges overlap; a zero-length range overlaps a range that strictly contains its
/// offset (Windows semantics, as Samba's brlock implements them). Computed in u128 so ranges
/// reaching the end of the 64-bit space do not wrap.
pub fn overlap(a: &Lock, b: &Lock) -> bool {
    if a.length != 0 && a.offset == b.offset && a.length == b.length {
        return true;
    }
    let (a0, a1) = (
        u128::from(a.offset),
        u128::from(a.offset) + u128::from(a.length),
    );
    let (b0, b1) = (
        u128::from(b.offset),
        u128::from(b.offset) + u128::from(b.length),
    );
    !(a0 >= b1 || b0 >= a1)
}

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    /// Whether `want` by open `me` conflicts with a lock held on the same file.
    pub(crate) fn lock_conflict(&self, me: Handle, share: ShareId, key: u64, want: &Lock) -> bool {
        self.locks.iter().any(|(_, h)| {
            h.share == share
                && h.file_key == key
                // A handle may take a shared lock over its own exclusive one.
                && overlap(&h.lock, want)
                && (h.lock.exclusive || want.exclusive)
                && (h.open != me || want.exclusive)
        })
    }

    /// Records a lock of open `oh` in the lock table.
    fn add_lock(&mut self, oh: Handle, lock: Lock) -> Result<Handle, NtStatus> {
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        if usize::from(o.locks) >= crate::state::MAX_LOCKS {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        self.lock_seq += 1;
        let held = HeldLock {
            open: oh,
            share: o.share,
            file_key: o.file_key,
            lock,
            seq: self.lock_seq,
        };
        let h = self
            .locks
            .insert(held)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        if let Some(o) = self.opens.get_mut(oh) {
            o.locks += 1;
        }
        Ok(h)
    }

    /// Releases lock `h` (of open `oh`).
    fn remove_lock(&mut self, oh: Handle, h: Handle) {
        if self.locks.remove(h).is_some() {
            if let Some(o) = self.opens.get_mut(oh) {
                o.locks = o.locks.saturating_sub(1);
            }
        }
    }

    /// Releases every lock of open `oh` (closing). Returns whether it held any.
    pub(crate) fn drop_locks_of(&mut self, oh: Handle) -> bool {
        let mut any = false;
        while let Some(h) = self.locks.find(|l| l.open == oh) {
            self.locks.remove(h);
            any = true;
        }
        any
    }

    /// Whether I/O of `len` bytes at `offset` by open `me` hits a lock of another open
    /// (reads: exclusive locks; writes: any lock, including the writer's own shared ones).
    pub(crate) fn io_conflict(&self, me: Handle, offset: u64, len: u64, write: bool) -> bool {
        let Some(o) = self.opens.get(me) else {
            return false;
        };
        let (share, key) = (o.share, o.file_key);
        if len == 0 {
            return false;
        }
        let range = Lock {
            offset,
            length: len,
            exclusive: write,
        };
        self.locks.iter().any(|(_, h)| {
            h.share == share
                && h.file_key == key
                && overlap(&h.lock, &range)
                && if h.open == me {
                    write && !h.lock.exclusive
                } else {
                    write || h.lock.exclusive
                }
        })
    }

    pub(crate) fn lock(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = LockRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        let (share, key) = {
            let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
            (o.share, o.file_key)
        };
        let mut elements: heapless::Vec<smb_wire::file_ops::LockElement, 64> = heapless::Vec::new();
        for e in req.locks() {
            elements
                .push(e)
                .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        }
        // Elements are processed in order ([MS-SMB2] 3.3.5.14.1/.2): the first element decides
        // whether this is an unlock or a lock request; an element of the other kind (or with
        // invalid flags) fails the request at that point. Unlocks done before the failure stay
        // done; locks taken before it are released.
        let unlocking = elements
            .first()
            .map(|e| e.flags & lock_flags::UNLOCK != 0)
            .unwrap_or(false);
        if unlocking {
            let mut result = Ok(());
            for e in &elements {
                if e.flags != lock_flags::UNLOCK {
                    result = Err(NtStatus::INVALID_PARAMETER);
                    break;
                }
                // The oldest lock of this open on exactly this range.
                let held = self
                    .locks
                    .iter()
                    .filter(|(_, l)| {
                        l.open == oh && l.lock.offset == e.offset && l.lock.length == e.length
                    })
                    .min_by_key(|(_, l)| l.seq)
                    .map(|(h, _)| h);
                match held {
                    Some(h) => self.remove_lock(oh, h),
                    None => {
                        result = Err(NtStatus::RANGE_NOT_LOCKED);
                        break;
                    }
                }
            }
            self.wake_lock_waiters(share, key);
            result?;
            return Ok(Reply {
                status: NtStatus::SUCCESS,
                len: smb_wire::session_setup::emit_empty(out),
            });
        }
        let blocking = elements.len() == 1 && elements[0].flags & lock_flags::FAIL_IMMEDIATELY == 0;
        let mut taken: heapless::Vec<Handle, 64> = heapless::Vec::new();
        let mut failure = None;
        for e in &elements {
            let kind = e.flags & !lock_flags::FAIL_IMMEDIATELY;
            if kind != lock_flags::SHARED && kind != lock_flags::EXCLUSIVE {
                failure = Some(NtStatus::INVALID_PARAMETER);
                break;
            }
            if e.length != 0 && e.offset.checked_add(e.length - 1).is_none() {
                failure = Some(NtStatus::INVALID_LOCK_RANGE);
                break;
            }
            let want = Lock {
                offset: e.offset,
                length: e.length,
                exclusive: kind == lock_flags::EXCLUSIVE,
            };
            if self.lock_conflict(oh, share, key, &want) {
                if blocking {
                    let id = self.park(
                        chain,
                        msg,
                        Waiting::Lock {
                            open: oh,
                            lock: want,
                        },
                    )?;
                    chain.async_id = Some(id);
                    return Ok(Reply {
                        status: NtStatus::PENDING,
                        len: smb_wire::session_setup::emit_error(out),
                    });
                }
                failure = Some(NtStatus::LOCK_NOT_GRANTED);
                break;
            }
            match self.add_lock(oh, want) {
                // At most 64 elements, so `taken` has room.
                Ok(h) => {
                    let _ = taken.push(h);
                }
                Err(st) => {
                    failure = Some(st);
                    break;
                }
            }
        }
        if let Some(st) = failure {
            // Undo what this request took ([MS-SMB2] 3.3.5.14.2).
            for &h in &taken {
                self.remove_lock(oh, h);
            }
            if !taken.is_empty() {
                self.wake_lock_waiters(share, key);
            }
            return Err(st);
        }
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: smb_wire::session_setup::emit_empty(out),
        })
    }

    /// Grants waiting locks on a file whose locks changed.
    pub(crate) fn wake_lock_waiters(&mut self, share: ShareId, key: u64) {
        let conns: heapless::Vec<Handle, 64> = self.conns.iter().map(|(h, _)| h).take(64).collect();
        for ch in conns {
            let n = self.conns.get(ch).map(|c| c.pending.len()).unwrap_or(0);
            for i in 0..n {
                let Some((waiting, done)) = self
                    .conns
                    .get(ch)
                    .and_then(|c| c.pending.get(i))
                    .map(|p| (p.waiting, p.done))
                else {
                    continue;
                };
                let Waiting::Lock { open, lock } = waiting else {
                    continue;
                };
                if done.is_some() {
                    continue;
                }
                let Some(o) = self.opens.get(open) else {
                    continue;
                };
                if o.share != share
                    || o.file_key != key
                    || self.lock_conflict(open, share, key, &lock)
                {
                    continue;
                }
                let granted = self.add_lock(open, lock).is_ok();
                if let Some(pp) = self.conns.get_mut(ch).and_then(|c| c.pending.get_mut(i)) {
                    pp.done = Some(if granted {
                        NtStatus::SUCCESS
                    } else {
                        NtStatus::INSUFFICIENT_RESOURCES
                    });
                }
            }
        }
    }
}
