//! DCE/RPC over SMB named pipes (\[C706\], [MS-RPCE] ncacn_np), serving the two interfaces a
//! client needs to list a server's shares: srvsvc ([MS-SRVS]: NetrShareEnum,
//! NetrShareGetInfo, NetrServerGetInfo) and wkssvc ([MS-WKST]: NetrWkstaGetInfo).
//! That is what `smbclient -L` and Windows Explorer ask for when they open `\\server`.
//!
//! `no_std`, no allocation; depends only on smb-wire. The SMB engine owns one [`Pipe`] per open pipe
//! handle on IPC$ and feeds it the bytes of WRITE, READ and FSCTL_PIPE_TRANSCEIVE; the host
//! answers questions about shares through [`ShareSource`].
//!
//! ```
//! use smb_rpc::{Pipe, PipeKind, ServerInfo, ShareEntry, ShareKind, ShareSource};
//!
//! struct Nas;
//! impl ShareSource for Nas {
//!     fn shares(&self, f: &mut dyn FnMut(&ShareEntry<'_>)) {
//!         f(&ShareEntry { name: "IPC$", comment: "IPC Service (nas)", kind: ShareKind::Ipc,
//!                         path: "", max_uses: u32::MAX, current_uses: 0, flags: 0 });
//!         f(&ShareEntry { name: "media", comment: "Films", kind: ShareKind::Disk,
//!                         path: "C:\\media", max_uses: u32::MAX, current_uses: 0, flags: 0 });
//!     }
//!     fn server_info(&self) -> ServerInfo<'_> {
//!         ServerInfo::new("NAS", "WORKGROUP", "nas")
//!     }
//! }
//!
//! // CREATE "srvsvc" on IPC$:
//! let kind = PipeKind::from_name("srvsvc").unwrap();
//! let mut pipe: Box<Pipe> = Box::new(Pipe::new(kind));
//! // A client that reads before writing finds the pipe empty:
//! assert_eq!(pipe.read(&Nas, &mut [0; 64]), Err(smb_rpc::RpcError::Empty));
//! ```
//!
//! # Wiring into an SMB2 engine
//!
//! | SMB2 | on a pipe handle of IPC$ |
//! |---|---|
//! | CREATE `srvsvc` / `wkssvc` | [`PipeKind::from_utf16le`]; `None` → STATUS_OBJECT_NAME_NOT_FOUND; else take a pipe slot and [`Pipe::reset`] it |
//! | WRITE | [`Pipe::write`] → SUCCESS with Count, or [`RpcError::nt_status`] |
//! | READ | [`Pipe::read`] → SUCCESS, or STATUS_BUFFER_OVERFLOW (a warning: the READ response still carries the data) when [`ReadOutcome::more`]; errors via [`RpcError::nt_status`] |
//! | IOCTL FSCTL_PIPE_TRANSCEIVE | [`Pipe::transceive`] with the input buffer and MaxOutputResponse bytes of output; statuses as READ |
//! | IOCTL FSCTL_PIPE_PEEK | [`Pipe::peek`] |
//! | QUERY_INFO FilePipeLocalInformation | ReadDataAvailable = [`Pipe::readable`] |
//! | CLOSE | free the slot (nothing to flush) |
//!
//! Every call takes the [`ShareSource`], because replies are rendered lazily as they are read.
//!
//! Layout: [`pdu`] (the PDUs), [`ndr`] (the stub encoding), `pipe` (association, framing,
//! fragmentation: [`Pipe`]), [`service`] (the interfaces and [`ShareSource`]).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod ndr;
pub mod pdu;
mod pipe;
pub mod service;

pub use pipe::{
    Peek, Pipe, PipeKind, ReadOutcome, RpcError, DEFAULT_ASSOC_GROUP_ID, DEFAULT_OUT_CAPACITY,
    MAX_CONTEXTS, MAX_RECV_FRAG, MAX_REPLY_STUB, MAX_REQUEST_STUB, MAX_XMIT_FRAG, MIN_FRAG,
    MIN_OUT_CAPACITY, STATUS_BUFFER_OVERFLOW,
};
pub use service::{sv_type, werr, ServerInfo, ShareEntry, ShareKind, ShareSource, PLATFORM_ID_NT};
