//! CHANGE_NOTIFY ([MS-SMB2] 3.3.5.19, [MS-FSA] 2.1.5.10): a request waits on a directory until
//! a change made through this server touches it, then completes with one FILE_NOTIFY_INFORMATION
//! record ([MS-FSCC] 2.7.1). Changes made by other programs on the host are not seen (no
//! inotify yet), and changes between two requests are not buffered.

use smb_wire::create::access;
use smb_wire::emit::{utf16_len, Out};
use smb_wire::info::{self, ChangeNotifyRequest};
use smb_wire::NtStatus;

use crate::policy::Policy;
use crate::server::{Chain, HResult, Reply, Server};
use crate::state::{NotifyEvent, Waiting};
use crate::table::Handle;
use crate::vfs::{ShareId, Vfs};

/// FILE_ACTION_* values ([MS-FSCC] 2.7.1).
pub mod action {
    pub const ADDED: u32 = 1;
    pub const REMOVED: u32 = 2;
    pub const MODIFIED: u32 = 3;
    pub const RENAMED_OLD_NAME: u32 = 4;
    pub const RENAMED_NEW_NAME: u32 = 5;
}

/// FILE_NOTIFY_CHANGE_* filter bits ([MS-SMB2] 2.2.35).
pub mod filter {
    pub const FILE_NAME: u32 = 0x001;
    pub const DIR_NAME: u32 = 0x002;
    pub const ATTRIBUTES: u32 = 0x004;
    pub const SIZE: u32 = 0x008;
    pub const LAST_WRITE: u32 = 0x010;
    pub const SECURITY: u32 = 0x100;
}

const WATCH_TREE: u16 = 0x0001;

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    pub(crate) fn change_notify(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = ChangeNotifyRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        if !o.is_directory {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if o.granted_access & access::FILE_READ_DATA == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        if req.output_buffer_length > self.cfg.max_io.min(65536) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let waiting = Waiting::Notify {
            open: oh,
            filter: req.completion_filter,
            recursive: req.flags & WATCH_TREE != 0,
            max_output: req.output_buffer_length,
        };
        let id = self.park(chain, msg, waiting)?;
        chain.async_id = Some(id);
        Ok(Reply {
            status: NtStatus::PENDING,
            len: smb_wire::session_setup::emit_error(out),
        })
    }

    /// Reports a change of `path` in `share` to waiting CHANGE_NOTIFY requests.
    pub(crate) fn notify_change(
        &mut self,
        share: ShareId,
        path: &str,
        act: u32,
        is_dir: bool,
        new_path: Option<&str>,
    ) {
        let name_bit = if is_dir {
            filter::DIR_NAME
        } else {
            filter::FILE_NAME
        };
        let wanted = match act {
            action::MODIFIED => {
                filter::ATTRIBUTES | filter::SIZE | filter::LAST_WRITE | filter::SECURITY
            }
            _ => name_bit,
        };
        for (_, c) in self.conns.iter_mut() {
            for p in c.pending.iter_mut() {
                let Waiting::Notify {
                    open,
                    filter: f,
                    recursive,
                    max_output,
                } = p.waiting
                else {
                    continue;
                };
                if p.done.is_some() || f & wanted == 0 {
                    continue;
                }
                let Some(o) = self.opens.get(open) else {
                    continue;
                };
                if o.share != share {
                    continue;
                }
                let dir = self.vfs.path(o.node);
                let Some(rel) = relative(dir, path) else {
                    continue;
                };
                if !recursive && rel.contains('/') {
                    continue;
                }
                let mut ev = NotifyEvent {
                    action: act,
                    ..NotifyEvent::default()
                };
                let ok_name = push_name(&mut ev.name, rel);
                if let Some(np) = new_path {
                    let mut n = heapless::String::new();
                    match relative(dir, np) {
                        Some(r) if push_name(&mut n, r) => ev.new_name = Some(n),
                        _ => {}
                    }
                }
                let size = record_len(&ev.name) + ev.new_name.as_ref().map(record_len).unwrap_or(0);
                if !ok_name || size > max_output as usize {
                    // Too much to report: the client must re-enumerate ([MS-FSA] 2.1.5.10).
                    p.done = Some(NtStatus::NOTIFY_ENUM_DIR);
                } else if let Ok(h) = self.events.insert(ev) {
                    p.event = Some(h);
                    p.done = Some(NtStatus::SUCCESS);
                } else {
                    // No room to keep the change: the client re-enumerates instead.
                    p.done = Some(NtStatus::NOTIFY_ENUM_DIR);
                }
            }
        }
    }

    /// Writes the CHANGE_NOTIFY response body for a completed request; returns the message
    /// length.
    pub(crate) fn emit_notify(&self, event: Option<&NotifyEvent>, out: &mut [u8]) -> usize {
        let base = info::OUTPUT_OFFSET;
        let Some(ev) = event else {
            return info::emit_output_response(out, 0);
        };
        let mut pos = 0usize;
        let region = &mut out[base..];
        let first = write_record(region, 0, ev.action, &ev.name);
        pos += first;
        if let Some(n) = ev.new_name.as_ref() {
            let at = (pos + 3) & !3;
            region[..4].copy_from_slice(&(at as u32).to_le_bytes());
            region[pos..at].fill(0);
            pos = at + write_record(region, at, action::RENAMED_NEW_NAME, n);
        }
        info::emit_output_response(out, pos)
    }
}

/// `path` relative to directory `dir` (both share-relative), if it lies below it.
fn relative<'a>(dir: &str, path: &'a str) -> Option<&'a str> {
    if dir.is_empty() {
        return (!path.is_empty()).then_some(path);
    }
    let rest = path.strip_prefix(dir)?;
    rest.strip_prefix('/').filter(|r| !r.is_empty())
}

fn push_name(dst: &mut heapless::String<{ crate::state::NOTIFY_NAME_CAP }>, rel: &str) -> bool {
    for ch in rel.chars() {
        let c = if ch == '/' { '\\' } else { ch };
        if dst.push(c).is_err() {
            return false;
        }
    }
    true
}

fn record_len(name: &heapless::String<{ crate::state::NOTIFY_NAME_CAP }>) -> usize {
    (12 + utf16_len(name) + 3) & !3
}

/// Writes one FILE_NOTIFY_INFORMATION at `at`; returns its unpadded length.
fn write_record(region: &mut [u8], at: usize, act: u32, name: &str) -> usize {
    let nlen = utf16_len(name);
    let mut o = Out::new(&mut region[at..at + 12 + nlen]);
    o.u32(0, 0);
    o.u32(4, act);
    o.u32(8, nlen as u32);
    o.utf16(12, name);
    12 + nlen
}
