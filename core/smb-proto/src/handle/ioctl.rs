//! IOCTL ([MS-SMB2] 3.3.5.15): FSCTL_VALIDATE_NEGOTIATE_INFO (3.3.5.15.12) and clear errors
//! for the controls smbed does not offer.

use smb_wire::ids::dialect;
use smb_wire::info::{self, fsctl, IoctlRequest, IOCTL_IS_FSCTL};
use smb_wire::NtStatus;

use crate::policy::Policy;
use crate::server::{Chain, ConnId, HResult, Reply, Server};
use crate::table::Handle;
use crate::vfs::Vfs;

impl<V: Vfs, P: Policy> Server<'_, V, P> {
    pub(crate) fn ioctl(
        &mut self,
        conn: ConnId,
        msg: &[u8],
        out: &mut [u8],
        th: Handle,
        chain: &mut Chain,
        related: bool,
    ) -> HResult {
        let req = IoctlRequest::parse(msg).map_err(|e| e.status())?;
        if req.flags & IOCTL_IS_FSCTL == 0 {
            return Err(NtStatus::NOT_SUPPORTED);
        }
        if req.max_input_response > self.cfg.max_io || req.max_output_response > self.cfg.max_io {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        match req.ctl_code {
            fsctl::VALIDATE_NEGOTIATE_INFO => {
                let c = self.conns.get(conn.0).ok_or(NtStatus::INTERNAL_ERROR)?;
                if c.dialect == dialect::SMB3_11 {
                    return Err(NtStatus::INVALID_DEVICE_REQUEST);
                }
                let i = req.input;
                if i.len() < 24 || req.max_output_response < 24 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let caps = u32::from_le_bytes([i[0], i[1], i[2], i[3]]);
                let guid = &i[4..20];
                let mode = u16::from_le_bytes([i[20], i[21]]);
                let count = usize::from(u16::from_le_bytes([i[22], i[23]]));
                let dialects = i
                    .get(24..24 + count * 2)
                    .ok_or(NtStatus::INVALID_PARAMETER)?;
                let chosen = self.select_dialect(
                    dialects
                        .chunks_exact(2)
                        .map(|d| u16::from_le_bytes([d[0], d[1]])),
                );
                if caps != c.client_capabilities
                    || guid != c.client_guid
                    || mode != c.client_security_mode
                    || chosen != Some(c.dialect)
                {
                    // [MS-SMB2] 3.3.5.15.12: a mismatch means tampering.
                    return Err(NtStatus::ACCESS_DENIED);
                }
                let off = info::IOCTL_OUTPUT_OFFSET;
                let o = out.get_mut(off..off + 24).ok_or(NtStatus::INTERNAL_ERROR)?;
                o[..4].copy_from_slice(&c.server_capabilities.to_le_bytes());
                o[4..20].copy_from_slice(&self.cfg.server_guid);
                o[20..22].copy_from_slice(&c.server_security_mode.to_le_bytes());
                o[22..24].copy_from_slice(&c.dialect.to_le_bytes());
                let len = info::emit_ioctl_response(out, req.ctl_code, req.file_id, 24);
                Ok(Reply {
                    status: NtStatus::SUCCESS,
                    len,
                })
            }
            fsctl::DFS_GET_REFERRALS | fsctl::DFS_GET_REFERRALS_EX => {
                Err(NtStatus::FS_DRIVER_REQUIRED)
            }
            fsctl::QUERY_NETWORK_INTERFACE_INFO => Err(NtStatus::NOT_SUPPORTED),
            fsctl::CREATE_OR_GET_OBJECT_ID => {
                // FILE_OBJECTID_BUFFER ([MS-FSCC] 2.1.3): the object id is derived from the
                // file id and volume, so it is stable without being stored.
                let oh = self.resolve_open(th, req.file_id, chain, related)?;
                let o = self.opens.get(oh).ok_or(NtStatus::FILE_CLOSED)?;
                let (node, share) = (o.node, o.share);
                if req.max_output_response < 64 {
                    return Err(NtStatus::INVALID_PARAMETER);
                }
                let info = self.vfs.stat(node)?;
                let serial = self.vfs.fs_info(share)?.serial;
                let off = info::IOCTL_OUTPUT_OFFSET;
                let b = out.get_mut(off..off + 64).ok_or(NtStatus::INTERNAL_ERROR)?;
                b.fill(0);
                b[..8].copy_from_slice(&info.file_id.to_le_bytes());
                b[8..12].copy_from_slice(&serial.to_le_bytes());
                b[16..20].copy_from_slice(&serial.to_le_bytes());
                let len = info::emit_ioctl_response(out, req.ctl_code, req.file_id, 64);
                Ok(Reply {
                    status: NtStatus::SUCCESS,
                    len,
                })
            }
            fsctl::PIPE_TRANSCEIVE => {
                let oh = self.resolve_open(th, req.file_id, chain, related)?;
                self.pipe_transceive(
                    oh,
                    req.input,
                    req.max_output_response,
                    req.ctl_code,
                    req.file_id,
                    out,
                )
            }
            fsctl::PIPE_PEEK | fsctl::PIPE_WAIT => {
                self.resolve_open(th, req.file_id, chain, related)?;
                Err(NtStatus::NOT_SUPPORTED)
            }
            _ => {
                // File controls need a valid handle first; then they are not offered.
                self.resolve_open(th, req.file_id, chain, related)?;
                Err(NtStatus::INVALID_DEVICE_REQUEST)
            }
        }
    }
}
