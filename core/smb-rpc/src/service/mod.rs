//! The interfaces served on the pipes, and what they ask of the host ([`ShareSource`]).
//!
//! Each interface module parses a request stub into a `Call`, plans a `Reply` (deciding
//! everything the response depends on: which share, how many entries, which status), then
//! encodes the reply. A `Reply` is a few words, and encoding it is deterministic, so the pipe
//! measures it with a counting [`Writer`] and later renders it a window at a time: it never
//! holds a share list of its own.

pub mod srvsvc;
pub mod wkssvc;

use crate::ndr::{NdrError, Writer};
use crate::pipe::PipeKind;

/// Win32 status codes returned by the NetApi-style operations (`NET_API_STATUS`).
pub mod werr {
    /// NERR_Success / ERROR_SUCCESS.
    pub const SUCCESS: u32 = 0;
    /// ERROR_ACCESS_DENIED: an administrative level asked for by an unprivileged caller.
    pub const ACCESS_DENIED: u32 = 5;
    /// ERROR_INVALID_LEVEL.
    pub const INVALID_LEVEL: u32 = 124;
    /// ERROR_MORE_DATA: the enumeration continues at the returned resume handle.
    pub const MORE_DATA: u32 = 234;
    /// NERR_NetNameNotFound: no share by that name.
    pub const NET_NAME_NOT_FOUND: u32 = 2310;
}

/// Server type bits for [`ServerInfo::server_type`] ([MS-SRVS] 2.2.2.7).
pub mod sv_type {
    /// A workstation.
    pub const WORKSTATION: u32 = 0x0000_0001;
    /// A server.
    pub const SERVER: u32 = 0x0000_0002;
    /// A domain member.
    pub const DOMAIN_MEMBER: u32 = 0x0000_0100;
    /// Shares a print queue.
    pub const PRINTQ_SERVER: u32 = 0x0000_0200;
    /// A Unix/Xenix server (Samba sets this).
    pub const SERVER_UNIX: u32 = 0x0000_0800;
    /// A Windows NT class workstation or server.
    pub const NT: u32 = 0x0000_1000;
    /// A server that is not a domain controller.
    pub const SERVER_NT: u32 = 0x0000_8000;
    /// Can run the browser service.
    pub const POTENTIAL_BROWSER: u32 = 0x0001_0000;
    /// What a standalone NAS reports: workstation, server, Unix, NT, non-DC server.
    pub const NAS_DEFAULT: u32 = WORKSTATION | SERVER | SERVER_UNIX | NT | SERVER_NT;
}

/// `PLATFORM_ID_NT`, the only platform id modern clients expect ([MS-SRVS] 2.2.2.6).
pub const PLATFORM_ID_NT: u32 = 500;

/// What kind of resource a share is. The wire type ([`ShareEntry::share_type`]) follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareKind {
    /// A disk share (`STYPE_DISKTREE`, 0).
    Disk,
    /// The IPC$ share. Reported as `STYPE_IPC | STYPE_SPECIAL` (0x80000003) as Windows and
    /// Samba do; smbclient masks the high bits and prints "IPC".
    Ipc,
}

/// One share as the host describes it. Borrowed only for the duration of a callback.
#[derive(Debug, Clone, Copy)]
pub struct ShareEntry<'a> {
    /// The share name, as clients type it (`public`, `IPC$`).
    pub name: &'a str,
    /// `comment` from smb.conf (the remark shown next to the share). For IPC$, Samba uses
    /// `IPC Service (<server string>)`.
    pub comment: &'a str,
    /// Disk or IPC.
    pub kind: ShareKind,
    /// The local path reported at levels 2, 502 and 503 (`shi2_path`). Windows reports a
    /// drive path (`C:\Users\Public`) and Samba maps the Unix path to `C:\srv\share`. Do not
    /// disclose the real Unix path to anyone who asks: pass `""`, or a synthetic
    /// `C:\<name>`. Levels 2/502/503 are administrative (see [`ShareSource::privileged`]).
    pub path: &'a str,
    /// `max connections` (`shi2_max_uses`); `u32::MAX` for unlimited.
    pub max_uses: u32,
    /// Trees currently connected to the share (`shi2_current_uses`); 0 if not tracked.
    pub current_uses: u32,
    /// `SHI1005_FLAGS_*` for levels 501 and 1005: client-side caching policy (0 = manual
    /// caching of documents, Samba's default), DFS, access-based enumeration, encryption.
    pub flags: u32,
}

impl ShareEntry<'_> {
    /// `shi*_type` on the wire.
    pub fn share_type(&self) -> u32 {
        match self.kind {
            ShareKind::Disk => 0,
            ShareKind::Ipc => 0x8000_0003,
        }
    }
}

/// What `NetrServerGetInfo` and `NetrWkstaGetInfo` report.
#[derive(Debug, Clone, Copy)]
pub struct ServerInfo<'a> {
    /// The NetBIOS name (`netbios name`), conventionally upper case.
    pub netbios_name: &'a str,
    /// The workgroup or domain (`workgroup`).
    pub domain: &'a str,
    /// `server string`.
    pub comment: &'a str,
    /// [`PLATFORM_ID_NT`].
    pub platform_id: u32,
    /// Reported OS major version.
    pub version_major: u32,
    /// Reported OS minor version.
    pub version_minor: u32,
    /// [`sv_type`] bits.
    pub server_type: u32,
}

impl<'a> ServerInfo<'a> {
    /// A standalone NAS: platform NT, version 10.0, [`sv_type::NAS_DEFAULT`].
    pub const fn new(netbios_name: &'a str, domain: &'a str, comment: &'a str) -> Self {
        Self {
            netbios_name,
            domain,
            comment,
            platform_id: PLATFORM_ID_NT,
            version_major: 10,
            version_minor: 0,
            server_type: sv_type::NAS_DEFAULT,
        }
    }
}

/// The host's view of its shares and identity, asked on every pipe write.
///
/// The engine implements it over its configuration, usually per session (a wrapper holding
/// the session's principal), so [`ShareSource::privileged`] can depend on who asks.
pub trait ShareSource {
    /// Calls `f` once per share to list, in a stable order: the shares a client may see
    /// (Samba lists `browseable` shares only) and IPC$ ([`ShareKind::Ipc`]). A reply calls
    /// this several times: to measure it at the request's `write`, then once per batch of
    /// fragments at the `read`s that follow. If the answer changes in between (a
    /// configuration reload), the call ends with a fault instead of a corrupt reply; the
    /// client retries.
    fn shares(&self, f: &mut dyn FnMut(&ShareEntry<'_>));

    /// The server's identity.
    fn server_info(&self) -> ServerInfo<'_>;

    /// Whether the caller may use the administrative info levels: share levels 2, 502 and 503
    /// (which carry the path) and server level 102. Windows refuses them to non-administrators
    /// with ERROR_ACCESS_DENIED; Samba answers everyone. Defaults to `true`.
    fn privileged(&self) -> bool {
        true
    }
}

/// Why a call gets a fault instead of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// The interface has no such operation (nca_s_op_rng_error).
    OpRange,
    /// The stub does not decode (rpc_x_bad_stub_data).
    BadStub(NdrError),
    /// Not even the smallest useful response fits in the pipe's buffer.
    TooBig,
}

impl From<NdrError> for Reject {
    fn from(e: NdrError) -> Self {
        Self::BadStub(e)
    }
}

/// A planned response, encoded by [`Reply::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    Srvsvc(srvsvc::Reply),
    Wkssvc(wkssvc::Reply),
}

impl Reply {
    /// Writes the response stub.
    pub(crate) fn encode(&self, src: &dyn ShareSource, w: &mut Writer<'_>) {
        match self {
            Self::Srvsvc(r) => r.encode(src, w),
            Self::Wkssvc(r) => r.encode(src, w),
        }
    }
}

/// Decodes request stub `stub` of operation `opnum` on `kind` and plans the reply.
/// `fits(n)` says whether a response stub of `n` bytes fits the pipe's output buffer.
pub(crate) fn plan(
    kind: PipeKind,
    opnum: u16,
    stub: &[u8],
    little_endian: bool,
    src: &dyn ShareSource,
    fits: &dyn Fn(usize) -> bool,
) -> Result<Reply, Reject> {
    match kind {
        PipeKind::Srvsvc => {
            let call = srvsvc::Call::parse(opnum, stub, little_endian)?;
            srvsvc::plan(&call, src, fits).map(Reply::Srvsvc)
        }
        PipeKind::Wkssvc => {
            let call = wkssvc::Call::parse(opnum, stub, little_endian)?;
            Ok(Reply::Wkssvc(wkssvc::plan(&call, src)))
        }
    }
}
