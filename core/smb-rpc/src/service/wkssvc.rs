//! The workstation service, wkssvc ([MS-WKST]): `NetrWkstaGetInfo` (opnum 0) at level 100,
//! which Windows asks for the computer name and workgroup. Other opnums get a fault with
//! nca_s_op_rng_error, other levels ERROR_INVALID_LEVEL.

use super::{werr, Reject, ShareSource};
use crate::ndr::{Reader, Writer};
use crate::pdu::{SyntaxId, Uuid};

/// wkssvc, 6bffd098-a112-3610-9833-46c3f87e345a v1.0.
pub const INTERFACE: SyntaxId = SyntaxId::new(
    Uuid::from_fields(
        0x6bff_d098,
        0xa112,
        0x3610,
        [0x98, 0x33, 0x46, 0xc3, 0xf8, 0x7e, 0x34, 0x5a],
    ),
    1,
    0,
);

/// Operation numbers served.
pub mod opnum {
    /// NetrWkstaGetInfo ([MS-WKST] 3.2.4.1).
    pub const NETR_WKSTA_GET_INFO: u16 = 0;
}

/// A decoded request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    WkstaGetInfo { level: u32 },
}

impl Call {
    /// Decodes the `[in]` parameters of `opnum`.
    pub(crate) fn parse(opnum: u16, stub: &[u8], le: bool) -> Result<Self, Reject> {
        let mut r = Reader::new(stub, le);
        match opnum {
            opnum::NETR_WKSTA_GET_INFO => {
                let _server = r.unique_wstr()?;
                let level = r.u32()?;
                Ok(Self::WkstaGetInfo { level })
            }
            _ => Err(Reject::OpRange),
        }
    }
}

/// A planned response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    WkstaGetInfo { level: u32, ok: bool, status: u32 },
}

/// Decides the reply to `call`.
pub(crate) fn plan(call: &Call, _src: &dyn ShareSource) -> Reply {
    match *call {
        Call::WkstaGetInfo { level: 100 } => Reply::WkstaGetInfo {
            level: 100,
            ok: true,
            status: werr::SUCCESS,
        },
        Call::WkstaGetInfo { level } => Reply::WkstaGetInfo {
            level,
            ok: false,
            status: werr::INVALID_LEVEL,
        },
    }
}

impl Reply {
    /// Writes the `[out]` parameters and the return value.
    pub(crate) fn encode(&self, src: &dyn ShareSource, w: &mut Writer<'_>) {
        match *self {
            Self::WkstaGetInfo { level, ok, status } => {
                w.u32(level);
                if ok {
                    // WKSTA_INFO_100 ([MS-WKST] 2.2.5.1).
                    let s = src.server_info();
                    w.ptr(true);
                    w.u32(s.platform_id);
                    w.ptr(true);
                    w.ptr(true);
                    w.u32(s.version_major);
                    w.u32(s.version_minor);
                    w.wstr(s.netbios_name);
                    w.wstr(s.domain);
                } else {
                    w.ptr(false);
                }
                w.u32(status);
            }
        }
    }
}
