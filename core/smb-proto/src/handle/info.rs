//! QUERY_DIRECTORY ([MS-SMB2] 3.3.5.18), QUERY_INFO (3.3.5.20), SET_INFO (3.3.5.21) with the
//! [MS-FSCC] 2.4 (file) and 2.5 (file system) information classes Windows and Samba clients use.

use smb_wire::create::{access, options};
use smb_wire::emit::{align8, utf16_len, Out};
use smb_wire::info::{
    self, dir_flags, info_type, QueryDirectoryRequest, QueryInfoRequest, SetInfoRequest,
};
use smb_wire::utf16::Utf16Le;
use smb_wire::NtStatus;

use crate::path;
use crate::policy::Policy;
use crate::server::{Chain, ConnId, HResult, Reply, Server};
use crate::state::Search;
use crate::table::Handle;
use crate::vfs::{attr, BasicInfo, FileInfo, Vfs};

/// File information classes ([MS-FSCC] 2.4).
pub mod class {
    pub const DIRECTORY: u8 = 1;
    pub const FULL_DIRECTORY: u8 = 2;
    pub const BOTH_DIRECTORY: u8 = 3;
    pub const BASIC: u8 = 4;
    pub const STANDARD: u8 = 5;
    pub const INTERNAL: u8 = 6;
    pub const EA: u8 = 7;
    pub const ACCESS: u8 = 8;
    pub const NAME: u8 = 9;
    pub const RENAME: u8 = 10;
    pub const LINK: u8 = 11;
    pub const NAMES: u8 = 12;
    pub const DISPOSITION: u8 = 13;
    pub const POSITION: u8 = 14;
    pub const FULL_EA: u8 = 15;
    pub const MODE: u8 = 16;
    pub const ALIGNMENT: u8 = 17;
    pub const ALL: u8 = 18;
    pub const ALLOCATION: u8 = 19;
    pub const END_OF_FILE: u8 = 20;
    pub const ALTERNATE_NAME: u8 = 21;
    pub const STREAM: u8 = 22;
    pub const COMPRESSION: u8 = 28;
    pub const NETWORK_OPEN: u8 = 34;
    pub const ATTRIBUTE_TAG: u8 = 35;
    pub const ID_BOTH_DIRECTORY: u8 = 37;
    pub const ID_FULL_DIRECTORY: u8 = 38;
    pub const NORMALIZED_NAME: u8 = 48;
    pub const DISPOSITION_EX: u8 = 64;
}

/// File system information classes ([MS-FSCC] 2.5).
pub mod fs_class {
    pub const VOLUME: u8 = 1;
    pub const SIZE: u8 = 3;
    pub const DEVICE: u8 = 4;
    pub const ATTRIBUTE: u8 = 5;
    pub const CONTROL: u8 = 6;
    pub const FULL_SIZE: u8 = 7;
    pub const OBJECT_ID: u8 = 8;
    pub const SECTOR_SIZE: u8 = 11;
}

/// Fixed size of a directory entry of `class`, or `None` if unsupported.
fn dir_entry_fixed(class: u8) -> Option<usize> {
    Some(match class {
        class::DIRECTORY => 64,
        class::FULL_DIRECTORY => 68,
        class::BOTH_DIRECTORY => 94,
        class::NAMES => 12,
        class::ID_BOTH_DIRECTORY => 104,
        class::ID_FULL_DIRECTORY => 80,
        _ => return None,
    })
}

/// Writes one directory entry at `o[0..]` (NextEntryOffset left 0). Returns its length.
fn write_dir_entry(o: &mut Out<'_>, class: u8, name: &str, i: &FileInfo) -> usize {
    let fixed = dir_entry_fixed(class).unwrap_or(0);
    o.zero(0..fixed);
    let nlen = o.utf16(fixed, name);
    if class == class::NAMES {
        o.u32(8, nlen as u32);
        return fixed + nlen;
    }
    o.u64(8, i.creation_time);
    o.u64(16, i.last_access_time);
    o.u64(24, i.last_write_time);
    o.u64(32, i.change_time);
    o.u64(40, i.end_of_file);
    o.u64(48, i.allocation_size);
    o.u32(56, i.attributes);
    o.u32(60, nlen as u32);
    match class {
        class::ID_BOTH_DIRECTORY => o.u64(96, i.file_id),
        class::ID_FULL_DIRECTORY => o.u64(72, i.file_id),
        _ => {}
    }
    if matches!(class, class::BOTH_DIRECTORY | class::ID_BOTH_DIRECTORY)
        && name != "."
        && name != ".."
    {
        // The 8.3 name, only when it differs from the long name.
        let mut b = [0u8; 12];
        let short = crate::mangle::short_name(name, &mut b);
        if !short.eq_ignore_ascii_case(name) {
            let l = o.utf16(70, short);
            o.u8(68, l as u8);
        }
    }
    fixed + nlen
}

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    pub(crate) fn query_directory(
        &mut self,
        conn: ConnId,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = QueryDirectoryRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        let fixed = dir_entry_fixed(req.info_class).ok_or(NtStatus::INVALID_INFO_CLASS)?;
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        if !o.is_directory {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if o.granted_access & access::FILE_READ_DATA == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let max = (req.output_buffer_length.min(self.cfg.max_io)) as usize;
        if max == 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        self.check_charge(conn, msg, req.output_buffer_length.min(self.cfg.max_io))?;
        let mut pbuf = [0u8; crate::state::PATTERN_CAP];
        let pat = Utf16Le(req.pattern)
            .to_utf8(&mut pbuf)
            .map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
        if pat.contains('\\') || pat.contains('/') {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let node = o.node;
        // The open's enumeration state, taken from the search table at its first
        // QUERY_DIRECTORY and kept until it closes.
        let sh = match o.search {
            Some(h) if self.searches.get(h).is_some() => h,
            _ => {
                let h = self
                    .searches
                    .insert(Search::default())
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                if let Some(o) = self.opens.get_mut(oh) {
                    o.search = Some(h);
                }
                h
            }
        };
        let s = self.searches.get_mut(sh).ok_or(NtStatus::INTERNAL_ERROR)?;
        let restart = req.flags & (dir_flags::RESTART_SCANS | dir_flags::REOPEN) != 0 || !s.started;
        let single = req.flags & dir_flags::RETURN_SINGLE_ENTRY != 0;
        let first_search = !s.started;
        if restart {
            s.started = true;
            s.finished = false;
            if !pat.is_empty() || first_search {
                s.pattern.clear();
                let p = if pat.is_empty() { "*" } else { pat };
                s.pattern
                    .push_str(p)
                    .map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
            }
        } else if s.finished {
            return Err(NtStatus::NO_MORE_FILES);
        }

        let base = info::OUTPUT_OFFSET;
        let region = out
            .get_mut(base..base + max)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let mut used = 0usize;
        let mut last: Option<usize> = None;
        let mut count = 0usize;
        let mut too_small = false;
        let class = req.info_class;
        let pattern = &self
            .searches
            .get(sh)
            .ok_or(NtStatus::INTERNAL_ERROR)?
            .pattern;
        let ended = self.vfs.read_dir(node, restart, &mut |e| {
            if !path::wildcard_match(pattern, e.name) {
                return true;
            }
            if single && count == 1 {
                return false;
            }
            let pos = align8(used);
            let need = fixed + utf16_len(e.name);
            if pos + need > region.len() {
                if count == 0 {
                    too_small = true;
                }
                return false;
            }
            region[used..pos].fill(0);
            let mut o = Out::new(&mut region[pos..pos + need]);
            write_dir_entry(&mut o, class, e.name, &e.info);
            if let Some(l) = last {
                let off = (pos - l) as u32;
                region[l..l + 4].copy_from_slice(&off.to_le_bytes());
            }
            last = Some(pos);
            used = pos + need;
            count += 1;
            true
        })?;
        if too_small {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        }
        if count == 0 {
            if let Some(s) = self.searches.get_mut(sh) {
                s.finished = ended;
            }
            return Err(if restart && ended {
                if first_search || req.flags & dir_flags::REOPEN != 0 || restart {
                    NtStatus::NO_SUCH_FILE
                } else {
                    NtStatus::NO_MORE_FILES
                }
            } else {
                NtStatus::NO_MORE_FILES
            });
        }
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: info::emit_output_response(out, used),
        })
    }

    pub(crate) fn query_info(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = QueryInfoRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        let (node, granted, position, mode, share, sess) = (
            o.node,
            o.granted_access,
            o.position,
            o.mode,
            o.share,
            o.session,
        );
        let dialect = self
            .sessions
            .get(sess)
            .and_then(|s| self.conns.get(s.conn))
            .map(|c| c.dialect)
            .unwrap_or(0);
        let max = (req.output_buffer_length.min(self.cfg.max_io)) as usize;
        let base = info::OUTPUT_OFFSET;
        let room = out.len().saturating_sub(base).min(max);
        let mut tmp = [0u8; 128];
        let need_attr = |g: u32| {
            if g & access::FILE_READ_ATTRIBUTES == 0 {
                Err(NtStatus::ACCESS_DENIED)
            } else {
                Ok(())
            }
        };
        // (fixed minimum, produced length) written into `region`.
        let region = &mut out[base..base + room];
        let (min, len): (usize, usize) = match req.info_type {
            info_type::FILE => {
                let i = self.vfs.stat(node)?;
                let delete_pending = self
                    .opens
                    .get(oh)
                    .map(|o| o.delete_on_close && o.mode & options::DELETE_ON_CLOSE == 0);
                let delete_pending = delete_pending.unwrap_or(false)
                    || self.opens.iter().any(|(_, x)| {
                        x.share == share
                            && x.file_key == i.file_id
                            && x.delete_on_close
                            && x.mode & options::DELETE_ON_CLOSE == 0
                    });
                let mut ea_size = 0u32;
                if matches!(req.info_class, class::EA | class::ALL) {
                    self.vfs.list_eas(node, &mut |name, value| {
                        ea_size += crate::ea::entry_size(name, value) as u32;
                    })?;
                }
                let mut o = Out::new(&mut tmp);
                match req.info_class {
                    class::BASIC => {
                        need_attr(granted)?;
                        basic(&mut o, 0, &i);
                        copy_fixed(region, &tmp, 40)?
                    }
                    class::STANDARD => {
                        standard(&mut o, 0, &i, delete_pending);
                        copy_fixed(region, &tmp, 24)?
                    }
                    class::INTERNAL => {
                        o.u64(0, i.file_id);
                        copy_fixed(region, &tmp, 8)?
                    }
                    class::EA => {
                        o.u32(0, ea_size);
                        copy_fixed(region, &tmp, 4)?
                    }
                    class::ACCESS => {
                        o.u32(0, granted);
                        copy_fixed(region, &tmp, 4)?
                    }
                    class::POSITION => {
                        o.u64(0, position);
                        copy_fixed(region, &tmp, 8)?
                    }
                    class::MODE => {
                        o.u32(0, mode);
                        copy_fixed(region, &tmp, 4)?
                    }
                    class::ALIGNMENT => {
                        o.u32(0, 0);
                        copy_fixed(region, &tmp, 4)?
                    }
                    class::NETWORK_OPEN => {
                        need_attr(granted)?;
                        o.u64(0, i.creation_time);
                        o.u64(8, i.last_access_time);
                        o.u64(16, i.last_write_time);
                        o.u64(24, i.change_time);
                        o.u64(32, i.allocation_size);
                        o.u64(40, i.end_of_file);
                        o.u32(48, i.attributes);
                        o.u32(52, 0);
                        copy_fixed(region, &tmp, 56)?
                    }
                    class::ATTRIBUTE_TAG => {
                        need_attr(granted)?;
                        o.u32(0, i.attributes);
                        o.u32(4, 0);
                        copy_fixed(region, &tmp, 8)?
                    }
                    class::COMPRESSION => {
                        o.u64(0, i.end_of_file);
                        copy_fixed(region, &tmp, 16)?
                    }
                    class::ALL => {
                        need_attr(granted)?;
                        basic(&mut o, 0, &i);
                        standard(&mut o, 40, &i, delete_pending);
                        o.u64(64, i.file_id);
                        o.u32(72, ea_size);
                        o.u32(76, granted);
                        o.u64(80, position);
                        o.u32(88, mode);
                        o.u32(92, 0);
                        let p = self.vfs.path(node);
                        name_info(region, &tmp[..96], p, 104)?
                    }
                    class::NAME => {
                        let p = self.vfs.path(node);
                        name_info(region, &[], p, 4)?
                    }
                    class::NORMALIZED_NAME => {
                        // [MS-FSCC] 2.4.30: share-relative, no leading backslash; 3.1.1 only.
                        if dialect < smb_wire::ids::dialect::SMB3_11 {
                            return Err(NtStatus::NOT_SUPPORTED);
                        }
                        // A named stream's handle names the stream too ("dir\\file:name").
                        let p = self.vfs.path(node);
                        let mut tmp2 = [0u8; path::MAX_PATH];
                        let mut n = p.len().min(tmp2.len());
                        tmp2[..n].copy_from_slice(&p.as_bytes()[..n]);
                        for b in tmp2[..n].iter_mut() {
                            if *b == b'/' {
                                *b = b'\\';
                            }
                        }
                        if let Some(s) = self.vfs.stream_name(node) {
                            let end = n + 1 + s.len();
                            if end > tmp2.len() {
                                return Err(NtStatus::NAME_TOO_LONG);
                            }
                            tmp2[n] = b':';
                            tmp2[n + 1..end].copy_from_slice(s.as_bytes());
                            n = end;
                        }
                        let p = core::str::from_utf8(&tmp2[..n]).unwrap_or("");
                        name_info_plain_long(region, p)?
                    }
                    class::STREAM => {
                        // FILE_STREAM_INFORMATION ([MS-FSCC] 2.4.43): "::$DATA" for the
                        // file's data, ":name:$DATA" for each named stream, 8-aligned.
                        let mut full = 0usize;
                        let mut written = 0usize;
                        let mut prev: Option<usize> = None;
                        let mut any = false;
                        let room = region.len();
                        if room >= 32 || i.is_directory {
                            self.vfs.list_streams(node, &mut |name, size| {
                                any = true;
                                let nlen = if name.is_empty() {
                                    utf16_len("::$DATA")
                                } else {
                                    utf16_len(name) + utf16_len("::$DATA")
                                };
                                let at = (full + 7) & !7;
                                let need = 24 + nlen;
                                full = at + need;
                                if at + need > room {
                                    return;
                                }
                                if let Some(p) = prev {
                                    region[p..p + 4]
                                        .copy_from_slice(&((at - p) as u32).to_le_bytes());
                                }
                                region[written..at].fill(0);
                                let mut o = Out::new(&mut region[at..at + need]);
                                o.u32(0, 0);
                                o.u32(4, nlen as u32);
                                o.u64(8, size);
                                o.u64(16, (size + 4095) & !4095);
                                if name.is_empty() {
                                    o.utf16(24, "::$DATA");
                                } else {
                                    let k = o.utf16(24, ":");
                                    let k = k + o.utf16(24 + k, name);
                                    o.utf16(24 + k, ":$DATA");
                                }
                                prev = Some(at);
                                written = at + need;
                            })?;
                        }
                        if room < 32 && (any || !i.is_directory) {
                            return Err(NtStatus::INFO_LENGTH_MISMATCH);
                        }
                        (full, written)
                    }
                    class::ALTERNATE_NAME => {
                        let p = self.vfs.path(node);
                        let base = path::file_name(p);
                        if base.is_empty() {
                            return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
                        }
                        let mut sbuf = [0u8; 12];
                        let short = crate::mangle::short_name(base, &mut sbuf);
                        name_info_plain(region, short, 8)?
                    }
                    class::FULL_EA => {
                        if granted & access::FILE_READ_EA == 0 {
                            return Err(NtStatus::ACCESS_DENIED);
                        }
                        let mut pos = 0usize;
                        let mut prev: Option<usize> = None;
                        let mut full = 0usize;
                        let mut count = 0usize;
                        self.vfs.list_eas(node, &mut |name, value| {
                            count += 1;
                            let at = (pos + 3) & !3;
                            full = at + 8 + name.len() + 1 + value.len();
                            if let Some(l) = crate::ea::write_entry(region, at, name, value) {
                                if let Some(p) = prev {
                                    region[p..p + 4]
                                        .copy_from_slice(&((at - p) as u32).to_le_bytes());
                                }
                                prev = Some(at);
                                pos = at + l;
                            }
                        })?;
                        if count == 0 {
                            return Err(NtStatus::NO_EAS_ON_FILE);
                        }
                        if pos < full {
                            return Err(NtStatus::BUFFER_OVERFLOW);
                        }
                        (pos, pos)
                    }
                    _ => return Err(NtStatus::INVALID_INFO_CLASS),
                }
            }
            info_type::FILESYSTEM => {
                let f = self.vfs.fs_info(share)?;
                let mut label_buf = [0u8; 64];
                let label = {
                    let l = self.policy.volume_label(share);
                    let n = l.len().min(label_buf.len());
                    label_buf[..n].copy_from_slice(&l.as_bytes()[..n]);
                    core::str::from_utf8(&label_buf[..n]).unwrap_or("")
                };
                let unit = u64::from(f.block_size.max(512));
                let sectors_per_unit = (f.block_size.max(512) / f.sector_size.max(512)).max(1);
                let mut o = Out::new(&mut tmp);
                match req.info_class {
                    fs_class::VOLUME => {
                        o.u64(0, f.created);
                        o.u32(8, f.serial);
                        o.u32(12, 0);
                        o.u8(16, 0);
                        o.u8(17, 0);
                        copy_var(region, &tmp[..18], label, 24)?
                    }
                    fs_class::SIZE => {
                        o.u64(0, f.total_bytes / unit);
                        o.u64(8, f.avail_bytes / unit);
                        o.u32(16, sectors_per_unit);
                        o.u32(20, f.sector_size.max(512));
                        copy_fixed(region, &tmp, 24)?
                    }
                    fs_class::FULL_SIZE => {
                        o.u64(0, f.total_bytes / unit);
                        o.u64(8, f.avail_bytes / unit);
                        o.u64(16, f.free_bytes / unit);
                        o.u32(24, sectors_per_unit);
                        o.u32(28, f.sector_size.max(512));
                        copy_fixed(region, &tmp, 32)?
                    }
                    fs_class::DEVICE => {
                        o.u32(0, 0x0000_0007); // FILE_DEVICE_DISK
                        o.u32(4, 0x0000_0020); // FILE_DEVICE_IS_MOUNTED
                        copy_fixed(region, &tmp, 8)?
                    }
                    fs_class::ATTRIBUTE => {
                        // FILE_CASE_PRESERVED_NAMES | FILE_UNICODE_ON_DISK |
                        // FILE_CASE_SENSITIVE_SEARCH
                        o.u32(0, 0x0000_0007);
                        o.u32(4, f.max_name_len.min(255));
                        copy_var(region, &tmp[..8], "NTFS", 16)?
                    }
                    fs_class::SECTOR_SIZE => {
                        let s = f.sector_size.max(512);
                        o.u32(0, s);
                        o.u32(4, s);
                        o.u32(8, s);
                        o.u32(12, s);
                        o.u32(16, 0x3); // ALIGNED_DEVICE | PARTITION_ALIGNED_ON_DEVICE
                        o.u32(20, 0);
                        o.u32(24, 0);
                        copy_fixed(region, &tmp, 28)?
                    }
                    fs_class::CONTROL | fs_class::OBJECT_ID => return Err(NtStatus::NOT_SUPPORTED),
                    _ => return Err(NtStatus::INVALID_INFO_CLASS),
                }
            }
            info_type::SECURITY => {
                if granted & access::READ_CONTROL == 0 {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                if req.additional_information & crate::sd::secinfo::SACL != 0
                    && granted & access::ACCESS_SYSTEM_SECURITY == 0
                {
                    return Err(NtStatus::PRIVILEGE_NOT_HELD);
                }
                let mut stored = [0u8; crate::sd::MAX_SD];
                let mut n = self.vfs.get_security(node, &mut stored)?;
                if n == 0 {
                    let ro = self
                        .trees
                        .get(th)
                        .and_then(|t| t.share)
                        .map(|s| s.read_only);
                    let mask = if ro.unwrap_or(true) {
                        0x0012_01bf
                    } else {
                        access::FILE_ALL_ACCESS
                    };
                    let mut d = [0u8; 128];
                    let s = self
                        .sessions
                        .get(sess)
                        .ok_or(NtStatus::USER_SESSION_DELETED)?;
                    n = crate::sd::default_sd(mask, s.owner_sid(), &mut d);
                    stored[..n].copy_from_slice(&d[..n]);
                }
                let parsed =
                    crate::sd::parse(&stored[..n]).map_err(|_| NtStatus::INTERNAL_ERROR)?;
                let mut sd = [0u8; crate::sd::MAX_SD];
                let n = crate::sd::emit(&parsed, req.additional_information, &mut sd)?;
                if region.len() < n {
                    let len =
                        smb_wire::session_setup::emit_error_data(out, &(n as u32).to_le_bytes());
                    return Ok(Reply {
                        status: NtStatus::BUFFER_TOO_SMALL,
                        len,
                    });
                }
                region[..n].copy_from_slice(&sd[..n]);
                (n, n)
            }
            info_type::QUOTA => return Err(NtStatus::NOT_SUPPORTED),
            _ => return Err(NtStatus::INVALID_PARAMETER),
        };
        let status = if len < min {
            NtStatus::BUFFER_OVERFLOW
        } else {
            NtStatus::SUCCESS
        };
        let len = len.min(room);
        Ok(Reply {
            status,
            len: info::emit_output_response(out, len),
        })
    }

    pub(crate) fn set_info(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = SetInfoRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        let (node, granted, is_dir, share, sess) =
            (o.node, o.granted_access, o.is_directory, o.share, o.session);
        let b = req.buffer;
        let need = |n: usize| {
            if b.len() < n {
                Err(NtStatus::INFO_LENGTH_MISMATCH)
            } else {
                Ok(())
            }
        };
        let u64_at = |o: usize| {
            u64::from_le_bytes([
                b[o],
                b[o + 1],
                b[o + 2],
                b[o + 3],
                b[o + 4],
                b[o + 5],
                b[o + 6],
                b[o + 7],
            ])
        };
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let grant = |bits: u32| {
            if granted & bits == 0 {
                Err(NtStatus::ACCESS_DENIED)
            } else {
                Ok(())
            }
        };
        match req.info_type {
            info_type::FILE => match req.info_class {
                class::BASIC => {
                    need(36)?;
                    grant(access::FILE_WRITE_ATTRIBUTES)?;
                    let t = |o: usize| match u64_at(o) {
                        0 | u64::MAX | 0xffff_ffff_ffff_fffe => None,
                        v => Some(v),
                    };
                    let a = u32_at(32);
                    if a & attr::DIRECTORY != 0 && !is_dir || a & attr::TEMPORARY != 0 && is_dir {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    if a & !(attr::SETTABLE | attr::DIRECTORY | attr::NORMAL) != 0 {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    let attributes = match a {
                        0 => None,
                        _ => Some(a & attr::SETTABLE),
                    };
                    let bi = BasicInfo {
                        creation_time: t(0),
                        last_access_time: t(8),
                        last_write_time: t(16),
                        change_time: t(24),
                        attributes,
                    };
                    self.vfs.set_basic(node, &bi)?;
                    self.notify_modified(share, node, is_dir);
                }
                class::RENAME => {
                    need(20)?;
                    grant(access::DELETE)?;
                    let replace = b[0] != 0;
                    if u64_at(8) != 0 {
                        // SMB2 renames are share-relative: RootDirectory must be zero
                        // ([MS-SMB2] 3.3.5.21.1).
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    let nlen = u32_at(16) as usize;
                    let name = b
                        .get(
                            20..20usize
                                .checked_add(nlen)
                                .ok_or(NtStatus::INVALID_PARAMETER)?,
                        )
                        .ok_or(NtStatus::INFO_LENGTH_MISMATCH)?;
                    // Targets may start with a backslash; they are share-relative either way.
                    let mut name = name;
                    while name.len() >= 2 && name[..2] == [b'\\', 0] {
                        name = &name[2..];
                    }
                    if name.len() >= 2 && name[..2] == [b':', 0] {
                        return Err(NtStatus::NOT_SUPPORTED);
                    }
                    let mut pbuf = [0u8; path::MAX_PATH];
                    let target = path::normalize(name, &mut pbuf)?;
                    if target.is_empty() {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    // An open of the target blocks replacing it.
                    if let Ok(ti) = self.vfs.stat_path(share, target) {
                        let me = self.vfs.stat(node)?;
                        if ti.file_id != me.file_id {
                            if !replace {
                                return Err(NtStatus::OBJECT_NAME_COLLISION);
                            }
                            if self
                                .opens
                                .iter()
                                .any(|(_, x)| x.share == share && x.file_key == ti.file_id)
                            {
                                return Err(NtStatus::ACCESS_DENIED);
                            }
                        }
                    }
                    // An open of the parent directory with DELETE access blocks renames in it
                    // (Windows and Samba answer SHARING_VIOLATION).
                    let me_path = self.vfs.path(node);
                    let parent = me_path.rfind('/').map(|i| &me_path[..i]).unwrap_or("");
                    if self.opens.iter().any(|(h, x)| {
                        h != oh
                            && x.share == share
                            && x.is_directory
                            && x.granted_access & access::DELETE != 0
                            && self.vfs.path(x.node) == parent
                    }) {
                        return Err(NtStatus::SHARING_VIOLATION);
                    }
                    if is_dir && self.has_opens_below(oh, share, node) {
                        return Err(NtStatus::ACCESS_DENIED);
                    }
                    let mut ob = [0u8; path::MAX_PATH];
                    let old_path = crate::handle::create::copy_path(self.vfs.path(node), &mut ob);
                    self.vfs.rename(node, target, replace)?;
                    self.notify_change(
                        share,
                        old_path,
                        crate::handle::notify::action::RENAMED_OLD_NAME,
                        is_dir,
                        Some(target),
                    );
                }
                class::DISPOSITION | class::DISPOSITION_EX => {
                    need(1)?;
                    grant(access::DELETE)?;
                    let del = if req.info_class == class::DISPOSITION {
                        b[0] != 0
                    } else {
                        need(4)?;
                        u32_at(0) & 1 != 0
                    };
                    if del {
                        let i = self.vfs.stat(node)?;
                        if i.attributes & attr::READONLY != 0 {
                            return Err(NtStatus::CANNOT_DELETE);
                        }
                        if is_dir && !self.vfs.is_empty_dir(node)? {
                            return Err(NtStatus::DIRECTORY_NOT_EMPTY);
                        }
                    }
                    let o = self.opens.get_mut(oh).ok_or(NtStatus::FILE_CLOSED)?;
                    o.delete_on_close = del;
                    o.mode &= !options::DELETE_ON_CLOSE;
                }
                class::POSITION => {
                    need(8)?;
                    let p = u64_at(0);
                    if p > i64::MAX as u64 {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    if let Some(o) = self.opens.get_mut(oh) {
                        o.position = p;
                    }
                }
                class::MODE => {
                    need(4)?;
                    let m = u32_at(0);
                    let valid = options::WRITE_THROUGH
                        | options::SEQUENTIAL_ONLY
                        | options::SYNCHRONOUS_IO_ALERT
                        | options::SYNCHRONOUS_IO_NONALERT;
                    if m & !valid != 0
                        || m & options::SYNCHRONOUS_IO_ALERT != 0
                            && m & options::SYNCHRONOUS_IO_NONALERT != 0
                    {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    if let Some(o) = self.opens.get_mut(oh) {
                        o.mode = (o.mode & options::DELETE_ON_CLOSE) | m;
                    }
                }
                class::ALLOCATION => {
                    need(8)?;
                    grant(access::FILE_WRITE_DATA)?;
                    if is_dir {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    self.vfs.set_allocation(node, u64_at(0))?;
                }
                class::END_OF_FILE => {
                    need(8)?;
                    grant(access::FILE_WRITE_DATA)?;
                    if is_dir {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    let l = u64_at(0);
                    if l > i64::MAX as u64 {
                        return Err(NtStatus::INVALID_PARAMETER);
                    }
                    self.vfs.set_len(node, l)?;
                    self.notify_modified(share, node, is_dir);
                }
                class::FULL_EA => {
                    grant(access::FILE_WRITE_EA)?;
                    let list = crate::ea::EaList::parse(b)?;
                    for (name, value) in list.iter() {
                        self.vfs.set_ea(node, name, value)?;
                    }
                }
                class::LINK => return Err(NtStatus::NOT_SUPPORTED),
                _ => return Err(NtStatus::INVALID_INFO_CLASS),
            },
            info_type::SECURITY => {
                use crate::sd::secinfo;
                let info = req.additional_information;
                if info & secinfo::SACL != 0 {
                    return Err(NtStatus::PRIVILEGE_NOT_HELD);
                }
                if info & secinfo::DACL != 0 {
                    grant(access::WRITE_DAC)?;
                }
                if info & (secinfo::OWNER | secinfo::GROUP) != 0 {
                    grant(access::WRITE_OWNER)?;
                }
                let new = crate::sd::parse(b)?;
                let mut old_buf = [0u8; crate::sd::MAX_SD];
                let mut n = self.vfs.get_security(node, &mut old_buf)?;
                if n == 0 {
                    let mut d = [0u8; 128];
                    let s = self
                        .sessions
                        .get(sess)
                        .ok_or(NtStatus::USER_SESSION_DELETED)?;
                    n = crate::sd::default_sd(access::FILE_ALL_ACCESS, s.owner_sid(), &mut d);
                    old_buf[..n].copy_from_slice(&d[..n]);
                }
                let old = crate::sd::parse(&old_buf[..n]).unwrap_or_default();
                let mut merged = [0u8; crate::sd::MAX_SD];
                let m = crate::sd::merge(&old, &new, info, &mut merged)?;
                self.vfs.set_security(node, &merged[..m])?;
            }
            info_type::FILESYSTEM | info_type::QUOTA => return Err(NtStatus::NOT_SUPPORTED),
            _ => return Err(NtStatus::INVALID_PARAMETER),
        }
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: info::emit_set_info_response(out),
        })
    }

    fn notify_modified(
        &mut self,
        share: crate::vfs::ShareId,
        node: crate::vfs::NodeId,
        is_dir: bool,
    ) {
        let mut pb = [0u8; path::MAX_PATH];
        let p = crate::handle::create::copy_path(self.vfs.path(node), &mut pb);
        self.notify_change(
            share,
            p,
            crate::handle::notify::action::MODIFIED,
            is_dir,
            None,
        );
    }

    /// Whether any other open lies under the directory `node` (renaming it would orphan them).
    fn has_opens_below(
        &self,
        me: Handle,
        share: crate::vfs::ShareId,
        node: crate::vfs::NodeId,
    ) -> bool {
        let dir = self.vfs.path(node);
        self.opens.iter().any(|(h, o)| {
            h != me && o.share == share && {
                let p = self.vfs.path(o.node);
                p.len() > dir.len() && p.starts_with(dir) && p.as_bytes()[dir.len()] == b'/'
            }
        })
    }
}

fn basic(o: &mut Out<'_>, at: usize, i: &FileInfo) {
    o.u64(at, i.creation_time);
    o.u64(at + 8, i.last_access_time);
    o.u64(at + 16, i.last_write_time);
    o.u64(at + 24, i.change_time);
    o.u32(at + 32, i.attributes);
    o.u32(at + 36, 0);
}

fn standard(o: &mut Out<'_>, at: usize, i: &FileInfo, delete_pending: bool) {
    o.u64(at, i.allocation_size);
    o.u64(at + 8, i.end_of_file);
    o.u32(at + 16, i.links.max(1));
    o.u8(at + 20, u8::from(delete_pending));
    o.u8(at + 21, u8::from(i.is_directory));
    o.u16(at + 22, 0);
}

/// Copies a fixed-size structure; a smaller buffer is INFO_LENGTH_MISMATCH.
fn copy_fixed(region: &mut [u8], src: &[u8], n: usize) -> Result<(usize, usize), NtStatus> {
    if region.len() < n {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    region[..n].copy_from_slice(&src[..n]);
    Ok((n, n))
}

/// Copies `fixed` then a u32 length and a UTF-16 name (FsVolume/FsAttribute layout: the length
/// is the last 4 bytes of `fixed` for those, so the caller includes it). Returns (full length,
/// bytes written) so a short buffer is BUFFER_OVERFLOW.
fn copy_var(
    region: &mut [u8],
    fixed: &[u8],
    name: &str,
    min: usize,
) -> Result<(usize, usize), NtStatus> {
    let nlen = utf16_len(name);
    // FsVolume: LabelLength at 12; FsAttribute: FileSystemNameLength at 8 (after fixed).
    let (len_at, name_at) = if fixed.len() == 18 { (12, 18) } else { (8, 12) };
    let full = name_at + nlen;
    if region.len() < name_at.max(min) {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    let mut tmp = [0u8; 64];
    tmp[..fixed.len()].copy_from_slice(fixed);
    let mut o = Out::new(&mut tmp);
    o.u32(len_at, nlen as u32);
    o.utf16(name_at, name);
    let n = full.min(region.len());
    region[..n].copy_from_slice(&tmp[..n]);
    Ok((full, n))
}

/// A length-prefixed UTF-16 name of any length (FileNormalizedNameInformation).
fn name_info_plain_long(region: &mut [u8], name: &str) -> Result<(usize, usize), NtStatus> {
    if region.len() < 4 {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    let nlen = utf16_len(name);
    region[..4].copy_from_slice(&(nlen as u32).to_le_bytes());
    let mut pos = 4;
    for u in name.encode_utf16() {
        if pos + 2 > region.len() {
            break;
        }
        region[pos..pos + 2].copy_from_slice(&u.to_le_bytes());
        pos += 2;
    }
    Ok((4 + nlen, pos))
}

/// A length-prefixed UTF-16 name (FileAlternateNameInformation).
fn name_info_plain(region: &mut [u8], name: &str, min: usize) -> Result<(usize, usize), NtStatus> {
    if region.len() < min {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    let nlen = utf16_len(name);
    let full = 4 + nlen;
    let mut tmp = [0u8; 64];
    let mut o = Out::new(&mut tmp[..full]);
    o.u32(0, nlen as u32);
    o.utf16(4, name);
    let n = full.min(region.len());
    region[..n].copy_from_slice(&tmp[..n]);
    Ok((full, n))
}

/// FileNameInformation (optionally after `prefix`): `\path` with backslashes.
fn name_info(
    region: &mut [u8],
    prefix: &[u8],
    path: &str,
    min: usize,
) -> Result<(usize, usize), NtStatus> {
    let nlen = 2 + utf16_len(path);
    let full = prefix.len() + 4 + nlen;
    let fixed = prefix.len() + 4;
    if region.len() < min.max(fixed) {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    region[..prefix.len()].copy_from_slice(prefix);
    region[prefix.len()..fixed].copy_from_slice(&(nlen as u32).to_le_bytes());
    let mut pos = fixed;
    for u in core::iter::once(u16::from(b'\\')).chain(path.encode_utf16().map(|u| {
        if u == u16::from(b'/') {
            u16::from(b'\\')
        } else {
            u
        }
    })) {
        if pos + 2 > region.len() {
            break;
        }
        region[pos..pos + 2].copy_from_slice(&u.to_le_bytes());
        pos += 2;
    }
    Ok((full, pos))
}
