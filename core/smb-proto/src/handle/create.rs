//! CREATE ([MS-SMB2] 3.3.5.9) and CLOSE (3.3.5.10): path checks, access and share modes,
//! delete on close, and the create contexts answered (MxAc, QFid) or ignored as the spec allows.

use smb_wire::create::{self, access, context_name, options, share_access, ResponseRepr};
use smb_wire::file_ops::{CloseRequest, CloseResponseRepr, CLOSE_FLAG_POSTQUERY_ATTRIB};
use smb_wire::{FileId, NtStatus};

use crate::handle::notify;
use crate::handle::oplock::oplock_level;
use crate::path;
use crate::policy::Policy;
use crate::server::{Chain, HResult, Reply, Server};
use crate::state::Open;
use crate::table::Handle;
use crate::vfs::{attr, AccessHint, CreateAction, Disposition, OpenArgs, Vfs, Want};

/// Rights that touch file data, for share-mode checks ([MS-FSA] 2.1.5.1.2).
const DATA_READ: u32 = access::FILE_READ_DATA | access::FILE_EXECUTE;
const DATA_WRITE: u32 = access::FILE_WRITE_DATA | access::FILE_APPEND_DATA;

/// Maps GENERIC_* bits to specific rights ([MS-SMB2] 3.3.5.9, [MS-DTYP] 2.4.3).
pub fn map_generic(mut a: u32) -> u32 {
    if a & access::GENERIC_READ != 0 {
        a |= access::FILE_GENERIC_READ;
    }
    if a & access::GENERIC_WRITE != 0 {
        a |= access::FILE_GENERIC_WRITE;
    }
    if a & access::GENERIC_EXECUTE != 0 {
        a |= access::FILE_GENERIC_EXECUTE;
    }
    if a & access::GENERIC_ALL != 0 {
        a |= access::FILE_ALL_ACCESS;
    }
    a & !(access::GENERIC_READ
        | access::GENERIC_WRITE
        | access::GENERIC_EXECUTE
        | access::GENERIC_ALL)
}

/// Whether a new open (access `a`, sharing `s`) conflicts with an existing one.
fn share_conflict(a: u32, s: u32, ea: u32, es: u32) -> bool {
    let conflict = |acc: u32, share: u32| {
        (acc & DATA_READ != 0 && share & share_access::READ == 0)
            || (acc & DATA_WRITE != 0 && share & share_access::WRITE == 0)
            || (acc & access::DELETE != 0 && share & share_access::DELETE == 0)
    };
    conflict(a, es) || conflict(ea, s)
}

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    pub(crate) fn create(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        sh: Handle,
        th: Handle,
        chain: &mut Chain,
    ) -> HResult {
        let req = create::Request::parse(msg).map_err(|e| e.status())?;
        let tree = *self.trees.get(th).ok_or(NtStatus::NETWORK_NAME_DELETED)?;
        let Some(share) = tree.share else {
            return self.create_pipe(&req, out, sh, th, chain);
        };
        if req.impersonation_level > 3 {
            return Err(NtStatus::BAD_IMPERSONATION_LEVEL);
        }
        if req.create_options & !options::VALID != 0
            || req.create_options & options::DIRECTORY_FILE != 0
                && req.create_options & options::NON_DIRECTORY_FILE != 0
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        // FILE_ATTRIBUTE_VOLUME (0x8), 0x40 (DEVICE), 0x8000 and the high word are invalid in a
        // CREATE ([MS-FSA] 2.1.5.1; smbtorture smb2.create.gentest pins the mask).
        if req.file_attributes & 0xffff_8048 != 0
            || req.file_attributes & attr::TEMPORARY != 0
                && req.create_options & options::DIRECTORY_FILE != 0
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        if req.desired_access & 0x0ce0_fe00 != 0 || req.desired_access == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        let disposition = match req.create_disposition {
            0 => Disposition::Supersede,
            1 => Disposition::Open,
            2 => Disposition::Create,
            3 => Disposition::OpenIf,
            4 => Disposition::Overwrite,
            5 => Disposition::OverwriteIf,
            _ => return Err(NtStatus::INVALID_PARAMETER),
        };
        if req.create_options & options::OPEN_BY_FILE_ID != 0 {
            return Err(NtStatus::NOT_SUPPORTED);
        }
        // Create contexts: validate the chain, note the ones we answer.
        let mut want_mxac = false;
        let mut want_qfid = false;
        let mut alloc_size = 0u64;
        let mut sd_context: Option<&[u8]> = None;
        let mut ea_buf: Option<&[u8]> = None;
        for c in req.contexts() {
            let c = c.map_err(|e| e.status())?;
            if c.name.len() < 4 {
                // Context names are at least four bytes ([MS-SMB2] 2.2.13.2).
                return Err(NtStatus::INVALID_PARAMETER);
            }
            match c.name {
                context_name::QUERY_MAXIMAL_ACCESS => want_mxac = true,
                context_name::QUERY_ON_DISK_ID => want_qfid = true,
                context_name::ALLOCATION_SIZE => {
                    let b = c.data.get(..8).ok_or(NtStatus::INVALID_PARAMETER)?;
                    alloc_size =
                        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                }
                context_name::EA_BUFFER => ea_buf = Some(c.data),
                context_name::SD_BUFFER => sd_context = Some(c.data),
                context_name::DURABLE_HANDLE_RECONNECT
                | context_name::DURABLE_HANDLE_RECONNECT_V2 => {
                    return Err(NtStatus::OBJECT_NAME_NOT_FOUND)
                }
                context_name::TIMEWARP_TOKEN => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
                // Durable handles, leases, SD, app instance: not granted, ignored as allowed.
                _ => {}
            }
        }
        let ea_list = match ea_buf {
            Some(b) => crate::ea::EaList::parse(b)?,
            None => crate::ea::EaList::default(),
        };
        let mut pbuf = [0u8; path::MAX_PATH];
        let (p, stream) = path::normalize_stream(req.name, &mut pbuf)?;
        let want = if req.create_options & options::DIRECTORY_FILE != 0 {
            Want::Directory
        } else if req.create_options & options::NON_DIRECTORY_FILE != 0 {
            Want::File
        } else {
            Want::Any
        };
        if stream.is_some() && want == Want::Directory {
            // A stream is never a directory.
            return Err(NtStatus::NOT_A_DIRECTORY);
        }
        // Share modes, locks and oplocks are per stream: a named stream gets its own key.
        let key_of = |fid: u64| stream.map_or(fid, |n| stream_key(fid, n));
        if p.is_empty() && want == Want::File {
            return Err(NtStatus::FILE_IS_A_DIRECTORY);
        }
        if want == Want::Directory
            && matches!(
                disposition,
                Disposition::Supersede | Disposition::Overwrite | Disposition::OverwriteIf
            )
        {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let mut granted = map_generic(req.desired_access);
        let max_allowed = granted & access::MAXIMUM_ALLOWED != 0;
        granted &= !access::MAXIMUM_ALLOWED;
        if max_allowed {
            granted |= tree.maximal_access;
        }
        let doc = req.create_options & options::DELETE_ON_CLOSE != 0;
        if doc && granted & access::DELETE == 0 {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let writes = !matches!(disposition, Disposition::Open);
        if share.read_only {
            if max_allowed {
                granted &= tree.maximal_access;
            }
            if granted & access::ANY_WRITE != 0 || doc {
                return Err(NtStatus::ACCESS_DENIED);
            }
        }
        if granted & access::ACCESS_SYSTEM_SECURITY != 0 {
            return Err(NtStatus::PRIVILEGE_NOT_HELD);
        }

        // Existing file: share modes, delete pending, read-only attribute.
        let mut rbuf = [0u8; path::MAX_PATH];
        let (p, existing) = match self.vfs.stat_path(share.id, p) {
            Ok(i) => (p, Some(i)),
            Err(e @ (NtStatus::OBJECT_NAME_NOT_FOUND | NtStatus::OBJECT_PATH_NOT_FOUND)) => {
                // Not as spelled: the same name in another case is the same file for
                // Windows clients.
                match self.vfs.resolve_case(share.id, p, &mut rbuf)? {
                    Some(n) => {
                        let real = core::str::from_utf8(&rbuf[..n])
                            .map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
                        (real, Some(self.vfs.stat_path(share.id, real)?))
                    }
                    None if e == NtStatus::OBJECT_NAME_NOT_FOUND => (p, None),
                    None => {
                        // A parent may exist in another case: create under its real spelling.
                        match p.rfind('/') {
                            Some(i) => match self.vfs.resolve_case(share.id, &p[..i], &mut rbuf)? {
                                Some(n) if n + 1 + (p.len() - i - 1) <= rbuf.len() => {
                                    rbuf[n] = b'/';
                                    rbuf[n + 1..n + 1 + p.len() - i - 1]
                                        .copy_from_slice(&p.as_bytes()[i + 1..]);
                                    let real = core::str::from_utf8(&rbuf[..n + p.len() - i])
                                        .map_err(|_| NtStatus::OBJECT_NAME_INVALID)?;
                                    (real, None)
                                }
                                _ => return Err(e),
                            },
                            None => return Err(e),
                        }
                    }
                }
            }
            Err(e) => return Err(e),
        };
        let mut maximal = tree.maximal_access;
        if let Some(info) = existing {
            if matches!(disposition, Disposition::Create) && stream.is_none() {
                return Err(NtStatus::OBJECT_NAME_COLLISION);
            }
            // Another open caching the file: break its oplock first, this CREATE waits
            // ([MS-SMB2] 3.3.5.9, [MS-FSA] 2.1.5.17.2).
            if let Some(holder) = self.oplock_holder(share.id, key_of(info.file_id)) {
                return self.wait_for_break(chain, msg, out, th, holder);
            }
            // The file's own DACL ([MS-DTYP] 2.5.3.2), within the share's limit.
            if let Some(rights) = self.acl_rights(sh, share.id, p)? {
                maximal &= rights;
                let explicit = map_generic(req.desired_access) & !access::MAXIMUM_ALLOWED;
                let mut missing = explicit & !maximal;
                if missing & access::DELETE != 0
                    && self.parent_grants(sh, share.id, p, access::FILE_DELETE_CHILD)?
                {
                    // DELETE may come from the parent's FILE_DELETE_CHILD.
                    missing &= !access::DELETE;
                }
                if missing != 0 {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                if max_allowed {
                    granted = explicit | maximal;
                }
            }
            let _ = info.is_directory;
            if info.is_directory && want == Want::File && stream.is_none() {
                return Err(NtStatus::FILE_IS_A_DIRECTORY);
            }
            if !info.is_directory && want == Want::Directory {
                return Err(NtStatus::NOT_A_DIRECTORY);
            }
            if info.is_directory
                && stream.is_none()
                && matches!(
                    disposition,
                    Disposition::Supersede | Disposition::Overwrite | Disposition::OverwriteIf
                )
            {
                return Err(NtStatus::INVALID_PARAMETER);
            }
            let mut eff = granted;
            if matches!(
                disposition,
                Disposition::Overwrite | Disposition::OverwriteIf | Disposition::Supersede
            ) {
                eff |= access::FILE_WRITE_DATA;
            }
            for (_, o) in self.opens.iter() {
                // A DELETE open of the file also meets the opens of its streams
                // ([MS-FSA] 2.1.5.1.2: deleting the file deletes them).
                let stream_of_me = stream.is_none()
                    && o.base_key == info.file_id
                    && o.file_key != info.file_id
                    && eff & access::DELETE != 0
                    && o.share_access & share_access::DELETE == 0;
                if o.share == share.id && stream_of_me {
                    return Err(NtStatus::SHARING_VIOLATION);
                }
                if o.share == share.id && o.file_key == key_of(info.file_id) {
                    if o.delete_on_close && o.file_key != 0 && self.delete_pending(o) {
                        return Err(NtStatus::DELETE_PENDING);
                    }
                    if share_conflict(eff, req.share_access, o.granted_access, o.share_access) {
                        return Err(NtStatus::SHARING_VIOLATION);
                    }
                }
            }
            if info.attributes & attr::READONLY != 0 && !info.is_directory {
                if granted & DATA_WRITE != 0
                    || matches!(
                        disposition,
                        Disposition::Overwrite | Disposition::OverwriteIf | Disposition::Supersede
                    )
                {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                if doc {
                    return Err(NtStatus::CANNOT_DELETE);
                }
            }
        } else if matches!(disposition, Disposition::Open | Disposition::Overwrite) {
            return Err(if p.contains('/') {
                match self.parent_exists(share.id, p) {
                    true => NtStatus::OBJECT_NAME_NOT_FOUND,
                    false => NtStatus::OBJECT_PATH_NOT_FOUND,
                }
            } else {
                NtStatus::OBJECT_NAME_NOT_FOUND
            });
        }
        if doc && existing.is_none() && req.file_attributes & attr::READONLY != 0 {
            return Err(NtStatus::CANNOT_DELETE);
        }
        if share.read_only && existing.is_none() {
            return Err(NtStatus::ACCESS_DENIED);
        }
        if existing.is_none() {
            // Creating needs FILE_ADD_FILE / FILE_ADD_SUBDIRECTORY on the parent.
            let right = if want == Want::Directory {
                access::FILE_APPEND_DATA
            } else {
                access::FILE_WRITE_DATA
            };
            if !self.parent_grants(sh, share.id, p, right)? {
                return Err(NtStatus::ACCESS_DENIED);
            }
        }
        let mut new_sd = [0u8; crate::sd::MAX_SD];
        let mut new_sd_len = 0;
        let client_sd = match sd_context {
            Some(d) => Some(crate::sd::parse(d)?),
            None => None,
        };
        let _ = writes;
        let args = OpenArgs {
            disposition,
            want,
            write: granted & (DATA_WRITE) != 0
                || matches!(
                    disposition,
                    Disposition::Overwrite | Disposition::OverwriteIf | Disposition::Supersede
                ),
            attributes: req.file_attributes & attr::SETTABLE,
            allocation_size: alloc_size,
            access: if req.create_options & options::SEQUENTIAL_ONLY != 0 {
                AccessHint::Sequential
            } else if req.create_options & options::RANDOM_ACCESS != 0 {
                AccessHint::Random
            } else {
                AccessHint::Normal
            },
        };
        let (node, action, info) = match stream {
            Some(sn) => {
                if existing.is_none() {
                    // A stream of a missing file creates the file first, as Windows does.
                    let base = OpenArgs {
                        disposition: Disposition::OpenIf,
                        want: Want::File,
                        write: true,
                        attributes: args.attributes,
                        allocation_size: 0,
                        access: AccessHint::Normal,
                    };
                    let (n, _, _) = self.vfs.open(share.id, p, &base)?;
                    self.vfs.close(n);
                }
                self.vfs.open_stream(share.id, p, sn, &args)?
            }
            None => self.vfs.open(share.id, p, &args)?,
        };
        if matches!(action, CreateAction::Created) && stream.is_none() {
            // Inherit from the parent's stored descriptor, if it has inheritable ACEs.
            let parent = p.rfind('/').map(|i| &p[..i]).unwrap_or("");
            let mut pbuf = [0u8; crate::sd::MAX_SD];
            if let Ok(n @ 1..) = self.vfs.get_security_path(share.id, parent, &mut pbuf) {
                if let (Ok(pp), Some(s)) = (crate::sd::parse(&pbuf[..n]), self.sessions.get(sh)) {
                    new_sd_len =
                        crate::sd::inherit(&pp, info.is_directory, s.owner_sid(), &mut new_sd);
                }
            }
            if let Some(c) = client_sd {
                // The client's parts replace the inherited (or default) ones; a descriptor
                // without DACL_PRESENT keeps the inherited DACL ([MS-SMB2] 2.2.13.2.2).
                let mut base = [0u8; 128];
                let base_len = if new_sd_len == 0 {
                    let owner = self.sessions.get(sh).map(|s| s.owner_sid()).unwrap_or(&[]);
                    let n = crate::sd::default_sd(access::FILE_ALL_ACCESS, owner, &mut base);
                    new_sd[..n].copy_from_slice(&base[..n]);
                    n
                } else {
                    new_sd_len
                };
                let mut merged = [0u8; crate::sd::MAX_SD];
                let old = crate::sd::parse(&new_sd[..base_len]).unwrap_or_default();
                let info = c.present();
                new_sd_len = crate::sd::merge(&old, &c, info, &mut merged).unwrap_or(0);
                new_sd[..new_sd_len].copy_from_slice(&merged[..new_sd_len]);
            }
        }
        if new_sd_len > 0 && matches!(action, CreateAction::Created) {
            if let Err(e) = self.vfs.set_security(node, &new_sd[..new_sd_len]) {
                let _ = self.vfs.unlink(node);
                self.vfs.close(node);
                return Err(e);
            }
        }
        if matches!(action, CreateAction::Created) {
            for (name, value) in ea_list.iter() {
                if let Err(e) = self.vfs.set_ea(node, name, value) {
                    let _ = self.vfs.unlink(node);
                    self.vfs.close(node);
                    return Err(e);
                }
            }
        }
        if action == CreateAction::Created && !info.is_directory {
            // A newly created file grants what was asked even on a read-only attribute.
        }
        if doc && info.is_directory && !self.vfs.is_empty_dir(node).unwrap_or(true) {
            // Windows allows it; the delete fails silently at close.
        }
        let o = Open {
            file_id: FileId::default(),
            session: sh,
            tree: th,
            node,
            granted_access: granted,
            share_access: req.share_access,
            file_key: key_of(info.file_id),
            base_key: info.file_id,
            share: share.id,
            is_directory: info.is_directory,
            delete_on_close: doc,
            position: 0,
            mode: req.create_options
                & (options::WRITE_THROUGH
                    | options::SEQUENTIAL_ONLY
                    | options::NO_INTERMEDIATE_BUFFERING
                    | options::SYNCHRONOUS_IO_ALERT
                    | options::SYNCHRONOUS_IO_NONALERT
                    | options::DELETE_ON_CLOSE),
            search: None,
            locks: 0,
            oplock: 0,
            breaking: false,
            pipe: None,
        };
        let oplock_granted = match req.requested_oplock_level {
            // Exclusive and batch oplocks go to a sole opener of a file; level II and leases
            // are not granted (no LEASING capability is advertised).
            lvl @ (oplock_level::EXCLUSIVE | oplock_level::BATCH)
                if !info.is_directory
                    && stream.is_none()
                    && !self
                        .opens
                        .iter()
                        .any(|(_, x)| x.share == share.id && x.file_key == info.file_id) =>
            {
                lvl
            }
            _ => 0,
        };
        let mut o = o;
        o.oplock = oplock_granted;
        let Some((_, fid)) = self.insert_open(o, chain) else {
            self.vfs.close(node);
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        };
        match action {
            CreateAction::Created => {
                self.notify_change(share.id, p, notify::action::ADDED, info.is_directory, None)
            }
            CreateAction::Overwritten | CreateAction::Superseded => {
                self.notify_change(share.id, p, notify::action::MODIFIED, false, None)
            }
            CreateAction::Opened => {}
        }

        // Response contexts.
        let base = create::RESPONSE_CONTEXTS_OFFSET;
        let mut end = 0usize;
        let mut prev = None;
        {
            let ctx = &mut out[base..];
            if want_mxac {
                let mut d = [0u8; 8];
                d[4..].copy_from_slice(&maximal.to_le_bytes());
                end = create::emit_context(ctx, prev, 0, context_name::QUERY_MAXIMAL_ACCESS, &d)
                    .ok_or(NtStatus::INTERNAL_ERROR)?;
                prev = Some(0);
            }
            if want_qfid {
                let pos = crate::align8(end);
                ctx[end..pos].fill(0);
                let mut d = [0u8; 32];
                d[..8].copy_from_slice(&info.file_id.to_le_bytes());
                d[8..16].copy_from_slice(&u64::from(share.id.0).to_le_bytes());
                end = create::emit_context(ctx, prev, pos, context_name::QUERY_ON_DISK_ID, &d)
                    .ok_or(NtStatus::INTERNAL_ERROR)?;
            }
        }
        let len = ResponseRepr {
            oplock_level: oplock_granted,
            flags: 0,
            create_action: action as u32,
            creation_time: info.creation_time,
            last_access_time: info.last_access_time,
            last_write_time: info.last_write_time,
            change_time: info.change_time,
            allocation_size: info.allocation_size,
            end_of_file: info.end_of_file,
            file_attributes: info.attributes,
            file_id: fid,
        }
        .emit(out, end);
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len,
        })
    }

    /// Rights the session has on `path` through its stored descriptor; `None` when the file
    /// has none. A damaged stored descriptor grants nothing.
    pub(crate) fn acl_rights(
        &mut self,
        sh: Handle,
        share: crate::vfs::ShareId,
        path: &str,
    ) -> Result<Option<u32>, NtStatus> {
        let mut buf = [0u8; crate::sd::MAX_SD];
        let n = match self.vfs.get_security_path(share, path, &mut buf) {
            Ok(n) => n,
            Err(NtStatus::BUFFER_TOO_SMALL) => return Ok(Some(0)),
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        let s = self
            .sessions
            .get(sh)
            .ok_or(NtStatus::USER_SESSION_DELETED)?;
        Ok(Some(match crate::sd::parse(&buf[..n]) {
            Ok(p) => crate::sd::granted(&p, &s.token()),
            Err(_) => 0,
        }))
    }

    /// Whether the parent directory of `path` grants `right` (true when it stores no DACL).
    fn parent_grants(
        &mut self,
        sh: Handle,
        share: crate::vfs::ShareId,
        path: &str,
        right: u32,
    ) -> Result<bool, NtStatus> {
        let parent = path.rfind('/').map(|i| &path[..i]).unwrap_or("");
        match self.acl_rights(sh, share, parent) {
            Ok(Some(r)) => Ok(r & right != 0),
            Ok(None) => Ok(true),
            Err(NtStatus::OBJECT_NAME_NOT_FOUND | NtStatus::OBJECT_PATH_NOT_FOUND) => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn parent_exists(&mut self, share: crate::vfs::ShareId, p: &str) -> bool {
        match p.rfind('/') {
            Some(i) => self
                .vfs
                .stat_path(share, &p[..i])
                .map(|i| i.is_directory)
                .unwrap_or(false),
            None => true,
        }
    }

    /// A file is delete-pending when an open carries a disposition set through SET_INFO
    /// (opens with FILE_DELETE_ON_CLOSE only mark it at close).
    fn delete_pending(&self, o: &Open) -> bool {
        o.delete_on_close && o.mode & options::DELETE_ON_CLOSE == 0
    }

    /// Resolves a FileId in a request, honouring related compounds.
    /// The resolved id becomes the chain's "current file" for later related requests; an
    /// unresolvable id in an unrelated request clears it.
    pub(crate) fn resolve_open(
        &self,
        th: Handle,
        fid: FileId,
        chain: &mut Chain,
        related: bool,
    ) -> Result<Handle, NtStatus> {
        let r = self.lookup_open(th, fid, chain, related);
        match r {
            Ok(h) => chain.file_id = self.opens.get(h).map(|o| o.file_id),
            Err(_) if !related => chain.file_id = None,
            Err(_) => {}
        }
        r
    }

    fn lookup_open(
        &self,
        th: Handle,
        fid: FileId,
        chain: &Chain,
        related: bool,
    ) -> Result<Handle, NtStatus> {
        let fid = if fid == FileId::RELATED {
            if !related {
                return Err(NtStatus::FILE_CLOSED);
            }
            match chain.file_id {
                Some(f) => f,
                None => return Err(chain.create_error.unwrap_or(NtStatus::FILE_CLOSED)),
            }
        } else {
            fid
        };
        let h = Handle::from_u64(fid.volatile).ok_or(NtStatus::FILE_CLOSED)?;
        let o = self.opens.get(h).ok_or(NtStatus::FILE_CLOSED)?;
        if o.file_id != fid || o.tree != th {
            return Err(NtStatus::FILE_CLOSED);
        }
        Ok(h)
    }

    pub(crate) fn close_cmd(
        &mut self,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = CloseRequest::parse(msg).map_err(|e| e.status())?;
        let oh = self.resolve_open(th, req.file_id, chain, related)?;
        let mut r = CloseResponseRepr::default();
        if req.flags & CLOSE_FLAG_POSTQUERY_ATTRIB != 0 {
            let node = self
                .opens
                .get(oh)
                .map(|o| o.node)
                .ok_or(NtStatus::FILE_CLOSED)?;
            if let Ok(i) = self.vfs.stat(node) {
                r = CloseResponseRepr {
                    flags: CLOSE_FLAG_POSTQUERY_ATTRIB,
                    creation_time: i.creation_time,
                    last_access_time: i.last_access_time,
                    last_write_time: i.last_write_time,
                    change_time: i.change_time,
                    allocation_size: i.allocation_size,
                    end_of_file: i.end_of_file,
                    file_attributes: i.attributes,
                };
            }
        }
        self.close_open(oh);
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: r.emit(out),
        })
    }

    /// Closes an open: applies delete on close when it is the last open of a file marked for
    /// deletion, else hands the mark to a remaining open ([MS-FSA] 2.1.5.4).
    pub(crate) fn close_open(&mut self, oh: Handle) {
        self.finish_pending_of_open(oh);
        let Some(o) = self.opens.remove(oh) else {
            return;
        };
        if let Some(ph) = o.pipe {
            self.pipes.remove(ph);
            return;
        }
        if o.oplock != 0 || o.breaking {
            self.release_break_waiters(oh);
        }
        if let Some(sh) = o.search {
            self.searches.remove(sh);
        }
        if self.drop_locks_of(oh) {
            self.wake_lock_waiters(o.share, o.file_key);
        }
        if o.delete_on_close {
            let other = self
                .opens
                .iter_mut()
                .find(|(_, x)| x.share == o.share && x.file_key == o.file_key && o.file_key != 0);
            match other {
                Some((_, x)) => {
                    x.delete_on_close = true;
                    x.mode &= !options::DELETE_ON_CLOSE;
                }
                None => {
                    if self.vfs.unlink(o.node).is_ok() {
                        let mut pb = [0u8; path::MAX_PATH];
                        let p = copy_path(self.vfs.path(o.node), &mut pb);
                        self.notify_change(
                            o.share,
                            p,
                            notify::action::REMOVED,
                            o.is_directory,
                            None,
                        );
                    }
                }
            }
        }
        self.vfs.close(o.node);
    }
}

/// The share-mode / lock / oplock key of a named stream of the file with id `fid`: the
/// file's id mixed with an FNV-1a hash of the case-folded stream name (top bit set, so it never
/// equals a plain file id of the same share in practice).
pub(crate) fn stream_key(fid: u64, stream: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in stream.chars().flat_map(char::to_lowercase) {
        let mut b = [0u8; 4];
        for &x in c.encode_utf8(&mut b).as_bytes() {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (fid ^ h) | (1 << 63)
}

/// Copies a VFS path into a stack buffer so the VFS can be borrowed again.
pub(crate) fn copy_path<'b>(p: &str, buf: &'b mut [u8; path::MAX_PATH]) -> &'b str {
    let mut n = p.len().min(buf.len());
    while !p.is_char_boundary(n) {
        n -= 1;
    }
    buf[..n].copy_from_slice(&p.as_bytes()[..n]);
    core::str::from_utf8(&buf[..n]).unwrap_or("")
}
