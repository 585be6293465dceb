//! Command handlers, one module per group of [MS-SMB2] 3.3.5 sections.

pub mod create;
pub mod info;
pub mod io;
pub mod ioctl;
pub mod lock;
pub mod negotiate;
pub mod notify;
pub mod oplock;
pub mod pipe;
pub mod session;
