//! Named pipes on IPC$ ([MS-SMB2] 3.3.5.9 pipe opens, 3.3.5.12/3.3.5.13 pipe READ/WRITE,
//! 3.3.5.15.4 FSCTL_PIPE_TRANSCEIVE) carrying DCE/RPC to the `srvsvc` and `wkssvc` services of
//! `smb-rpc`: share enumeration for `smbclient -L` and Windows Explorer.

use smb_rpc::{PipeKind, ServerInfo, ShareEntry, ShareKind, ShareSource};
use smb_wire::{create, file_ops, info, FileId, NtStatus};

use crate::policy::Policy;
use crate::server::{Chain, Config, HResult, Reply, Server};
use crate::state::{Identity, Open, PipeSlot};
use crate::table::Handle;
use crate::vfs::{NodeId, ShareId, Vfs};

/// The node id pipe opens carry (they have no VFS node).
pub const PIPE_NODE: NodeId = NodeId(u32::MAX);

/// The shares and server identity RPC answers with.
struct Shares<'a, P: Policy> {
    policy: &'a P,
    cfg: &'a Config<'a>,
    privileged: bool,
}

impl<P: Policy> ShareSource for Shares<'_, P> {
    fn shares(&self, f: &mut dyn FnMut(&ShareEntry<'_>)) {
        self.policy.for_each_share(&mut |name, comment| {
            f(&ShareEntry {
                name,
                comment,
                kind: ShareKind::Disk,
                path: "",
                max_uses: u32::MAX,
                current_uses: 0,
                flags: 0,
            })
        });
        f(&ShareEntry {
            name: "IPC$",
            comment: "IPC Service",
            kind: ShareKind::Ipc,
            path: "",
            max_uses: u32::MAX,
            current_uses: 0,
            flags: 0,
        });
    }

    fn server_info(&self) -> ServerInfo<'_> {
        ServerInfo::new(
            self.cfg.netbios_name,
            self.cfg.netbios_domain,
            self.policy.server_comment(),
        )
    }

    fn privileged(&self) -> bool {
        self.privileged
    }
}

fn rpc_status(e: smb_rpc::RpcError) -> NtStatus {
    NtStatus(e.nt_status())
}

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    /// CREATE of a pipe on IPC$.
    pub(crate) fn create_pipe(
        &mut self,
        req: &create::Request<'_>,
        out: &mut [u8],
        sh: Handle,
        th: Handle,
        chain: &mut Chain,
    ) -> HResult {
        let kind = PipeKind::from_utf16le(req.name).ok_or(NtStatus::OBJECT_NAME_NOT_FOUND)?;
        let ph = self
            .pipes
            .insert(PipeSlot {
                pipe: smb_rpc::Pipe::new(kind),
            })
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        let o = Open {
            file_id: FileId::default(),
            session: sh,
            tree: th,
            node: PIPE_NODE,
            granted_access: crate::handle::create::map_generic(req.desired_access)
                & !create::access::MAXIMUM_ALLOWED,
            share_access: req.share_access,
            file_key: 0,
            base_key: 0,
            share: ShareId(u16::MAX),
            is_directory: false,
            delete_on_close: false,
            position: 0,
            mode: 0,
            search: None,
            locks: 0,
            oplock: 0,
            breaking: false,
            pipe: Some(ph),
        };
        let Some((_, fid)) = self.insert_open(o, chain) else {
            self.pipes.remove(ph);
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        };
        let len = create::ResponseRepr {
            create_action: 1,
            file_attributes: crate::vfs::attr::NORMAL,
            allocation_size: 4096,
            file_id: fid,
            ..create::ResponseRepr::default()
        }
        .emit(out, 0);
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len,
        })
    }

    fn pipe_parts(&mut self, oh: Handle) -> Result<(Handle, bool), NtStatus> {
        let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
        let ph = o.pipe.ok_or(NtStatus::INVALID_DEVICE_REQUEST)?;
        let privileged = self
            .sessions
            .get(o.session)
            .is_some_and(|s| s.identity == Identity::User);
        Ok((ph, privileged))
    }

    /// READ of a pipe: one DCE/RPC fragment; a message that does not fit is STATUS_BUFFER_OVERFLOW
    /// with the data (message-mode pipe semantics).
    pub(crate) fn pipe_read(&mut self, oh: Handle, length: u32, out: &mut [u8]) -> HResult {
        let (ph, privileged) = self.pipe_parts(oh)?;
        let off = file_ops::READ_DATA_OFFSET;
        let dst = out
            .get_mut(off..off + length as usize)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let src = Shares {
            policy: &self.policy,
            cfg: &self.cfg,
            privileged,
        };
        let p = self.pipes.get_mut(ph).ok_or(NtStatus::FILE_CLOSED)?;
        let r = p.pipe.read(&src, dst).map_err(rpc_status)?;
        let status = if r.more {
            NtStatus::BUFFER_OVERFLOW
        } else {
            NtStatus::SUCCESS
        };
        Ok(Reply {
            status,
            len: file_ops::emit_read_response(out, r.len),
        })
    }

    /// WRITE of a pipe: DCE/RPC PDUs from the client.
    pub(crate) fn pipe_write(&mut self, oh: Handle, data: &[u8], out: &mut [u8]) -> HResult {
        let (ph, privileged) = self.pipe_parts(oh)?;
        let src = Shares {
            policy: &self.policy,
            cfg: &self.cfg,
            privileged,
        };
        let p = self.pipes.get_mut(ph).ok_or(NtStatus::FILE_CLOSED)?;
        let n = p.pipe.write(&src, data).map_err(rpc_status)?;
        Ok(Reply {
            status: NtStatus::SUCCESS,
            len: file_ops::emit_write_response(out, n as u32),
        })
    }

    /// FSCTL_PIPE_TRANSCEIVE: write a request and read the reply in one call.
    pub(crate) fn pipe_transceive(
        &mut self,
        oh: Handle,
        input: &[u8],
        max_output: u32,
        ctl: u32,
        fid: FileId,
        out: &mut [u8],
    ) -> HResult {
        let (ph, privileged) = self.pipe_parts(oh)?;
        let off = info::IOCTL_OUTPUT_OFFSET;
        let dst = out
            .get_mut(off..off + max_output as usize)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let src = Shares {
            policy: &self.policy,
            cfg: &self.cfg,
            privileged,
        };
        let p = self.pipes.get_mut(ph).ok_or(NtStatus::FILE_CLOSED)?;
        let r = p.pipe.transceive(&src, input, dst).map_err(rpc_status)?;
        let status = if r.more {
            NtStatus::BUFFER_OVERFLOW
        } else {
            NtStatus::SUCCESS
        };
        Ok(Reply {
            status,
            len: info::emit_ioctl_response(out, ctl, fid, r.len),
        })
    }
}
