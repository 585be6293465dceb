//! LOCK ([MS-SMB2] 3.3.5.14, [MS-FSA] 2.1.5.11): byte-range locks held per open, checked by
//! READ and WRITE, with blocking requests parked as pending until the range frees up or the
//! client cancels.

use smb_wire::file_ops::{lock_flags, LockRequest};
use smb_wire::NtStatus;

use crate::policy::Policy;
use crate::server::{Chain, HResult, Reply, Server};
use crate::state::{Lock, Waiting};
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
        self.opens.iter().any(|(h, o)| {
            o.share == share
                && o.file_key == key
                && o.locks.iter().any(|l| {
                    // A handle may take a shared lock over its own exclusive one.
                    overlap(l, want)
                        && (l.exclusive || want.exclusive)
                        && (h != me || want.exclusive)
                })
        })
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
        self.opens.iter().any(|(h, x)| {
            x.share == share
                && x.file_key == key
                && x.locks.iter().any(|l| {
                    overlap(l, &range)
                        && if h == me {
                            write && !l.exclusive
                        } else {
                            write || l.exclusive
                        }
                })
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
                let o = self.opens.get_mut(oh).ok_or(NtStatus::FILE_CLOSED)?;
                match o
                    .locks
                    .iter()
                    .position(|l| l.offset == e.offset && l.length == e.length)
                {
                    Some(i) => {
                        o.locks.remove(i);
                    }
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
        let mut taken = 0usize;
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
            let o = self.opens.get_mut(oh).ok_or(NtStatus::FILE_CLOSED)?;
            if o.locks.push(want).is_err() {
                failure = Some(NtStatus::INSUFFICIENT_RESOURCES);
                break;
            }
            taken += 1;
        }
        if let Some(st) = failure {
            // Undo what this request took ([MS-SMB2] 3.3.5.14.2).
            if let Some(o) = self.opens.get_mut(oh) {
                for _ in 0..taken {
                    o.locks.pop();
                }
            }
            if taken > 0 {
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
                let granted = self
                    .opens
                    .get_mut(open)
                    .map(|o| o.locks.push(lock).is_ok())
                    .unwrap_or(false);
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
