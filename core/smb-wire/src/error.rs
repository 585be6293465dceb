//! Wire parsing errors.

use crate::NtStatus;

/// Why a received message could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The buffer is shorter than a fixed part or an offset/length pair points past its end.
    Truncated,
    /// A field holds a value the spec forbids (StructureSize, an offset inside the fixed part).
    Malformed,
}

impl Error {
    /// The status a server answers with ([MS-SMB2] 3.3.5.2.x: malformed requests are
    /// `STATUS_INVALID_PARAMETER`).
    pub fn status(self) -> NtStatus {
        NtStatus::INVALID_PARAMETER
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => f.write_str("message truncated"),
            Self::Malformed => f.write_str("malformed message"),
        }
    }
}

/// Result with the wire [`Error`].
pub type Result<T> = core::result::Result<T, Error>;
