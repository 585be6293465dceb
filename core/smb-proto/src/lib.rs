//! The sans-I/O SMB2/3 server engine ([MS-SMB2] section 3.3).
//!
//! [`Server`] takes one received transport frame at a time and writes the response frame into
//! a caller buffer. Sockets, clocks, randomness and the file system come from the host through
//! [`vfs::Vfs`] and [`policy::Policy`]; all state lives in tables lent at construction, so
//! steady-state request handling allocates nothing (the crate has no `alloc`).
#![no_std]
#![forbid(unsafe_code)]

pub mod blocking;
pub mod credits;
pub mod ea;
pub mod handle;
pub mod mangle;
pub mod path;
pub mod policy;
pub mod sd;
pub mod server;
pub mod state;
pub mod table;
pub mod vfs;

pub use policy::{EncryptPolicy, MapToGuest, Policy, Principal, ShareInfo};
pub use server::{Config, ConnId, Disconnect, FileTail, Server, SigningPolicy, Storage};
pub use table::Slot;

/// Rounds up to a multiple of 8.
pub(crate) const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Tree ids are the tree's table handle packed into 32 bits (16-bit generation, index + 1).
pub(crate) fn tree_id_from_handle(h: table::Handle) -> u32 {
    ((h.generation & 0xffff) << 16) | ((h.index + 1) & 0xffff)
}

pub(crate) fn tree_handle_from_id(id: u32) -> Option<table::Handle> {
    let low = id & 0xffff;
    if low == 0 {
        return None;
    }
    Some(table::Handle {
        index: low - 1,
        generation: id >> 16,
    })
}
