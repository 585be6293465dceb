//! Identifier newtypes shared by requests and responses.

use crate::field::{le_u64, put_le_u64};

/// An SMB2 file handle ([MS-SMB2] 2.2.14.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    pub persistent: u64,
    pub volatile: u64,
}

impl FileId {
    /// The all-ones id that means "the file of the previous related request"
    /// ([MS-SMB2] 3.3.5.2.7.2).
    pub const RELATED: Self = Self {
        persistent: u64::MAX,
        volatile: u64::MAX,
    };

    /// Reads 16 bytes.
    pub fn from_bytes(b: [u8; 16]) -> Self {
        Self {
            persistent: le_u64(&b[..8]),
            volatile: le_u64(&b[8..]),
        }
    }

    /// Writes 16 bytes.
    pub fn write(&self, out: &mut [u8]) {
        put_le_u64(&mut out[..8], self.persistent);
        put_le_u64(&mut out[8..16], self.volatile);
    }
}

/// Dialect revisions ([MS-SMB2] 2.2.3).
pub mod dialect {
    pub const SMB2_02: u16 = 0x0202;
    pub const SMB2_10: u16 = 0x0210;
    pub const SMB3_00: u16 = 0x0300;
    pub const SMB3_02: u16 = 0x0302;
    pub const SMB3_11: u16 = 0x0311;
    /// "SMB 2.???": answer to a multi-protocol SMB1 NEGOTIATE.
    pub const WILDCARD: u16 = 0x02ff;

    /// Whether `d` is one of the 3.x dialects.
    pub fn is_smb3(d: u16) -> bool {
        d >= SMB3_00 && d != WILDCARD
    }
}
