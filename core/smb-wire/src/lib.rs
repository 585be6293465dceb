//! SMB2/3 wire format ([MS-SMB2] section 2): zero-copy views over received bytes and
//! validated representations that emit into caller-sized buffers.
//!
//! Nothing here allocates, and no accessor panics on peer bytes once the view's `check_len`
//! (or the `parse` of a `Repr`) has succeeded.
#![no_std]
#![forbid(unsafe_code)]

#[macro_use]
pub mod macros;
pub mod field;
pub mod status;

pub use status::NtStatus;
pub mod body;
pub mod create;
pub mod emit;
pub mod error;
pub mod file_ops;
pub mod header;
pub mod ids;
pub mod info;
pub mod negotiate;
pub mod session_setup;
pub mod transport;
pub mod tree_connect;
pub mod utf16;

pub use error::Error;
pub use header::{Command, Header, HEADER_LEN};
pub use ids::FileId;
