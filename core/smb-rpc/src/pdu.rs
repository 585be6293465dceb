//! DCE/RPC connection-oriented PDUs (\[C706\] 12.6, [MS-RPCE] 2.2.2): the 16-byte common
//! header, bind / alter_context and their answers, request, response and fault.
//!
//! Received PDUs follow the sender's `drep` (little- or big-endian integers); everything we
//! emit is little-endian with `drep = 10 00 00 00` and version 5.0, as Windows and Samba do.

use core::fmt;
use smb_wire::open_enum;

use crate::ndr::{u16_from, u32_from};

/// The common header every PDU starts with.
pub const HEADER_LEN: usize = 16;
/// Header of a request PDU (common header, alloc_hint, p_cont_id, opnum), without object UUID.
pub const REQUEST_HEADER_LEN: usize = 24;
/// Header of a response PDU (common header, alloc_hint, p_cont_id, cancel_count, reserved).
pub const RESPONSE_HEADER_LEN: usize = 24;
/// A fault PDU without stub data ([MS-RPCE] 2.2.2.7 pads it to 32).
pub const FAULT_LEN: usize = 32;
/// A bind_nak PDU with one supported version (5.0) and three pad octets, as Samba sends.
pub const BIND_NAK_LEN: usize = 24;
/// Size of an auth verifier's sec_trailer, present whenever auth_length is non-zero.
pub const SEC_TRAILER_LEN: usize = 8;
/// One p_result_t of a bind_ack / alter_context_resp.
pub const CONTEXT_RESULT_LEN: usize = 24;

open_enum! {
    /// PTYPE (\[C706\] 12.6.3.1).
    pub struct PacketType(pub u8) {
        REQUEST = 0,
        RESPONSE = 2,
        FAULT = 3,
        BIND = 11,
        BIND_ACK = 12,
        BIND_NAK = 13,
        ALTER_CONTEXT = 14,
        ALTER_CONTEXT_RESP = 15,
        AUTH3 = 16,
        SHUTDOWN = 17,
        CO_CANCEL = 18,
        ORPHANED = 19,
    }
}

/// `pfc_flags` bits (\[C706\] 12.6.3.1, [MS-RPCE] 2.2.2.3).
pub mod pfc {
    /// First fragment of a call.
    pub const FIRST_FRAG: u8 = 0x01;
    /// Last fragment of a call.
    pub const LAST_FRAG: u8 = 0x02;
    /// Cancel pending (request/response); PFC_SUPPORT_HEADER_SIGN on bind and alter_context.
    pub const PENDING_CANCEL: u8 = 0x04;
    /// Concurrent multiplexing (bind).
    pub const CONC_MPX: u8 = 0x10;
    /// Fault: the call did not execute.
    pub const DID_NOT_EXECUTE: u8 = 0x20;
    /// `maybe` call semantics.
    pub const MAYBE: u8 = 0x40;
    /// A 16-byte object UUID follows the request header.
    pub const OBJECT_UUID: u8 = 0x80;
}

open_enum! {
    /// Status of a fault PDU (\[C706\] appendix E, [MS-RPCE] 3.1.1.5.5).
    pub struct FaultStatus(pub u32) {
        /// rpc_s_access_denied.
        ACCESS_DENIED = 0x0000_0005,
        /// rpc_s_cannot_perform.
        CANT_PERFORM = 0x0000_06d8,
        /// rpc_s_out_of_resources.
        OUT_OF_RESOURCES = 0x0000_06d9,
        /// rpc_x_bad_stub_data, what \[C706\] calls nca_s_fault_ndr.
        BAD_STUB_DATA = 0x0000_06f7,
        /// nca_s_fault_invalid_tag (a union discriminant with no arm).
        INVALID_TAG = 0x1c00_0006,
        /// nca_s_fault_remote_no_memory.
        REMOTE_NO_MEMORY = 0x1c00_001b,
        /// nca_s_op_rng_error: the interface has no such operation.
        OP_RNG_ERROR = 0x1c01_0002,
        /// nca_s_unk_if: no presentation context with that id.
        UNKNOWN_IF = 0x1c01_0003,
        /// nca_s_proto_error: the PDU breaks the protocol.
        PROTO_ERROR = 0x1c01_000b,
        /// nca_s_out_args_too_big: the response does not fit.
        OUT_ARGS_TOO_BIG = 0x1c01_0013,
        /// nca_s_server_too_busy.
        SERVER_TOO_BUSY = 0x1c01_0014,
    }
}

open_enum! {
    /// provider_reject_reason of a bind_nak (\[C706\] 12.6.3.10, [MS-RPCE] 2.2.2.5).
    pub struct BindNakReason(pub u16) {
        NOT_SPECIFIED = 0,
        TEMPORARY_CONGESTION = 1,
        LOCAL_LIMIT_EXCEEDED = 2,
        CALLED_PADDR_UNKNOWN = 3,
        PROTOCOL_VERSION_NOT_SUPPORTED = 4,
        DEFAULT_CONTEXT_NOT_SUPPORTED = 5,
        USER_DATA_NOT_READABLE = 6,
        NO_PSAP_AVAILABLE = 7,
        AUTHENTICATION_TYPE_NOT_RECOGNIZED = 8,
        INVALID_CHECKSUM = 9,
    }
}

open_enum! {
    /// p_cont_def_result_t of one presentation context in a bind_ack (\[C706\] 12.6.3.1,
    /// [MS-RPCE] 2.2.2.4 adds negotiate_ack).
    pub struct ContextOutcome(pub u16) {
        ACCEPTANCE = 0,
        USER_REJECTION = 1,
        PROVIDER_REJECTION = 2,
        NEGOTIATE_ACK = 3,
    }
}

open_enum! {
    /// p_provider_reason_t of a rejected presentation context.
    pub struct ContextReason(pub u16) {
        NOT_SPECIFIED = 0,
        ABSTRACT_SYNTAX_NOT_SUPPORTED = 1,
        PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED = 2,
        LOCAL_LIMIT_EXCEEDED = 3,
    }
}

/// Bind time feature negotiation bits ([MS-RPCE] 2.2.2.14), sent in the reason field of a
/// negotiate_ack result.
pub mod btfn {
    /// SecurityContextMultiplexingSupported.
    pub const SECURITY_CONTEXT_MULTIPLEXING: u16 = 0x0001;
    /// KeepConnectionOnOrphanSupported.
    pub const KEEP_CONNECTION_ON_ORPHAN: u16 = 0x0002;
}

/// Why a PDU could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduError {
    /// Fewer bytes than the structure needs.
    Truncated,
    /// rpc_vers is not 5, or rpc_vers_minor is not 0 or 1.
    BadVersion,
    /// The integer representation in drep is neither big- nor little-endian.
    BadDrep,
    /// frag_length is below the header size or auth_length does not fit in it.
    BadLength,
    /// A body field is out of range (the text says which).
    Malformed(&'static str),
}

impl fmt::Display for PduError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("DCE/RPC PDU truncated"),
            Self::BadVersion => f.write_str("DCE/RPC version is not 5.0/5.1"),
            Self::BadDrep => f.write_str("DCE/RPC drep has an unknown integer representation"),
            Self::BadLength => f.write_str("DCE/RPC frag_length/auth_length inconsistent"),
            Self::Malformed(what) => write!(f, "malformed DCE/RPC PDU: {what}"),
        }
    }
}

mod field {
    pub(super) type Field = core::ops::Range<usize>;
    pub(super) const RPC_VERS: usize = 0;
    pub(super) const RPC_VERS_MINOR: usize = 1;
    pub(super) const PTYPE: usize = 2;
    pub(super) const PFC_FLAGS: usize = 3;
    pub(super) const DREP: Field = 4..8;
    pub(super) const FRAG_LENGTH: Field = 8..10;
    pub(super) const AUTH_LENGTH: Field = 10..12;
    pub(super) const CALL_ID: Field = 12..16;
}

/// A read/write view of the common header at the start of a PDU.
#[derive(Debug, Clone)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer`, checking that every accessor is in bounds.
    pub fn new_checked(buffer: T) -> Result<Self, PduError> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// Ensures that no accessor will panic. Length only; meaning is [`HeaderRepr::parse`]'s job.
    pub fn check_len(&self) -> Result<(), PduError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(PduError::Truncated);
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// rpc_vers (5).
    pub fn rpc_vers(&self) -> u8 {
        self.buffer.as_ref()[field::RPC_VERS]
    }

    /// rpc_vers_minor (0 or 1).
    pub fn rpc_vers_minor(&self) -> u8 {
        self.buffer.as_ref()[field::RPC_VERS_MINOR]
    }

    /// PTYPE.
    pub fn ptype(&self) -> PacketType {
        PacketType(self.buffer.as_ref()[field::PTYPE])
    }

    /// pfc_flags.
    pub fn pfc_flags(&self) -> u8 {
        self.buffer.as_ref()[field::PFC_FLAGS]
    }

    /// packed_drep.
    pub fn drep(&self) -> [u8; 4] {
        let d = &self.buffer.as_ref()[field::DREP];
        [d[0], d[1], d[2], d[3]]
    }

    /// Whether integers (this header's included) are little-endian: the high nibble of `drep[0]`
    /// is 1 for little-endian and 0 for big-endian.
    pub fn little_endian(&self) -> bool {
        self.drep()[0] & 0xf0 != 0
    }

    /// frag_length, in the sender's byte order.
    pub fn frag_length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::FRAG_LENGTH];
        u16_from(self.little_endian(), [b[0], b[1]])
    }

    /// auth_length.
    pub fn auth_length(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::AUTH_LENGTH];
        u16_from(self.little_endian(), [b[0], b[1]])
    }

    /// call_id.
    pub fn call_id(&self) -> u32 {
        let b = &self.buffer.as_ref()[field::CALL_ID];
        u32_from(self.little_endian(), [b[0], b[1], b[2], b[3]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Writes rpc_vers 5.0, little-endian drep and auth_length 0.
    pub fn set_defaults(&mut self) {
        let b = self.buffer.as_mut();
        b[field::RPC_VERS] = 5;
        b[field::RPC_VERS_MINOR] = 0;
        b[field::DREP].copy_from_slice(&[0x10, 0, 0, 0]);
        b[field::AUTH_LENGTH].copy_from_slice(&[0, 0]);
    }

    /// Sets PTYPE.
    pub fn set_ptype(&mut self, t: PacketType) {
        self.buffer.as_mut()[field::PTYPE] = t.0;
    }

    /// Sets pfc_flags.
    pub fn set_pfc_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::PFC_FLAGS] = f;
    }

    /// Sets frag_length (little-endian; call [`Header::set_defaults`] first).
    pub fn set_frag_length(&mut self, n: u16) {
        self.buffer.as_mut()[field::FRAG_LENGTH].copy_from_slice(&n.to_le_bytes());
    }

    /// Sets call_id (little-endian).
    pub fn set_call_id(&mut self, id: u32) {
        self.buffer.as_mut()[field::CALL_ID].copy_from_slice(&id.to_le_bytes());
    }
}

/// The validated common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    /// PTYPE.
    pub ptype: PacketType,
    /// pfc_flags.
    pub flags: u8,
    /// Whether the sender's integers are little-endian.
    pub little_endian: bool,
    /// The full drep, to check that all fragments of a call agree.
    pub drep: [u8; 4],
    /// Length of the whole PDU, header included.
    pub frag_length: u16,
    /// Length of the auth verifier's credentials (the sec_trailer comes on top).
    pub auth_length: u16,
    /// call_id.
    pub call_id: u32,
}

impl HeaderRepr {
    /// Parses the first 16 bytes of `buf`. Checks version, drep and that frag_length can hold
    /// the header and the auth verifier; does not check that `buf` holds frag_length bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, PduError> {
        let h = Header::new_checked(buf)?;
        if h.rpc_vers() != 5 || h.rpc_vers_minor() > 1 {
            return Err(PduError::BadVersion);
        }
        if h.drep()[0] >> 4 > 1 {
            return Err(PduError::BadDrep);
        }
        let frag = usize::from(h.frag_length());
        let auth = usize::from(h.auth_length());
        let trailer = if auth == 0 { 0 } else { SEC_TRAILER_LEN + auth };
        if frag < HEADER_LEN + trailer {
            return Err(PduError::BadLength);
        }
        Ok(Self {
            ptype: h.ptype(),
            flags: h.pfc_flags(),
            little_endian: h.little_endian(),
            drep: h.drep(),
            frag_length: h.frag_length(),
            auth_length: h.auth_length(),
            call_id: h.call_id(),
        })
    }

    /// Where the PDU body ends: frag_length less any auth verifier.
    pub fn body_end(&self) -> usize {
        let auth = usize::from(self.auth_length);
        let trailer = if auth == 0 { 0 } else { SEC_TRAILER_LEN + auth };
        usize::from(self.frag_length) - trailer
    }

    /// Writes a header with this PTYPE, flags, frag_length and call_id (always version 5.0,
    /// little-endian, auth_length 0). `buf` must hold at least [`HEADER_LEN`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        emit_header(buf, self.ptype, self.flags, self.frag_length, self.call_id);
    }
}

impl fmt::Display for HeaderRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DCE/RPC {} call_id={} frag_len={} auth_len={} flags={:#04x}{}",
            self.ptype,
            self.call_id,
            self.frag_length,
            self.auth_length,
            self.flags,
            if self.little_endian {
                ""
            } else {
                " big-endian"
            }
        )
    }
}

/// Writes a version 5.0, little-endian common header with auth_length 0.
pub fn emit_header(buf: &mut [u8], ptype: PacketType, flags: u8, frag_length: u16, call_id: u32) {
    let mut h = Header::new_unchecked(&mut buf[..HEADER_LEN]);
    h.set_defaults();
    h.set_ptype(ptype);
    h.set_pfc_flags(flags);
    h.set_frag_length(frag_length);
    h.set_call_id(call_id);
}

/// A UUID in the byte layout of an NDR little-endian `GUID` (the first three fields
/// little-endian), whatever drep it arrived in.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The nil UUID.
    pub const NIL: Self = Self([0; 16]);

    /// Builds a UUID from its textual fields: `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn from_fields(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Self {
        let a = d1.to_le_bytes();
        let b = d2.to_le_bytes();
        let c = d3.to_le_bytes();
        Self([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4],
            d4[5], d4[6], d4[7],
        ])
    }

    /// Reads an NDR `GUID` (u32, u16, u16, 8 octets) in the sender's byte order.
    pub fn read(b: &[u8; 16], le: bool) -> Self {
        let d1 = u32_from(le, [b[0], b[1], b[2], b[3]]);
        let d2 = u16_from(le, [b[4], b[5]]);
        let d3 = u16_from(le, [b[6], b[7]]);
        Self::from_fields(
            d1,
            d2,
            d3,
            [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        )
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-",
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_le_bytes([b[4], b[5]]),
            u16::from_le_bytes([b[6], b[7]]),
            b[8],
            b[9]
        )?;
        for x in &b[10..] {
            write!(f, "{x:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A presentation syntax identifier: interface or transfer syntax UUID plus version
/// (major in the low 16 bits, minor in the high 16 bits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SyntaxId {
    /// The UUID.
    pub uuid: Uuid,
    /// `major | minor << 16`.
    pub version: u32,
}

/// Encoded size of a [`SyntaxId`].
pub const SYNTAX_ID_LEN: usize = 20;

/// The NDR 2.0 transfer syntax, 8a885d04-1ceb-11c9-9fe8-08002b104860 v2.0.
pub const NDR20: SyntaxId = SyntaxId {
    uuid: Uuid::from_fields(
        0x8a88_5d04,
        0x1ceb,
        0x11c9,
        [0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60],
    ),
    version: 2,
};

/// The NDR64 transfer syntax, 71710533-beba-4937-8319-b5dbef9ccc36 v1.0 (never accepted).
pub const NDR64: SyntaxId = SyntaxId {
    uuid: Uuid::from_fields(
        0x7171_0533,
        0xbeba,
        0x4937,
        [0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36],
    ),
    version: 1,
};

impl SyntaxId {
    /// Builds a syntax id from its UUID and `major.minor` version.
    pub const fn new(uuid: Uuid, major: u16, minor: u16) -> Self {
        Self {
            uuid,
            version: major as u32 | (minor as u32) << 16,
        }
    }

    /// Reads one in the sender's byte order. `b` must hold [`SYNTAX_ID_LEN`] bytes.
    pub fn read(b: &[u8], le: bool) -> Self {
        let mut u = [0u8; 16];
        u.copy_from_slice(&b[..16]);
        Self {
            uuid: Uuid::read(&u, le),
            version: u32_from(le, [b[16], b[17], b[18], b[19]]),
        }
    }

    /// Writes it little-endian into the first [`SYNTAX_ID_LEN`] bytes of `b`.
    pub fn emit(&self, b: &mut [u8]) {
        b[..16].copy_from_slice(&self.uuid.0);
        b[16..20].copy_from_slice(&self.version.to_le_bytes());
    }

    /// If this is a bind time feature negotiation syntax ([MS-RPCE] 3.3.1.5.3: UUID prefix
    /// 6cb71c2c-9812-4540, version 1.0), the features the client offers
    /// ([`btfn`] bits from the first bitmask octet, the second octet in the high byte).
    pub fn bind_time_features(&self) -> Option<u16> {
        const PREFIX: [u8; 8] = [0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45];
        if self.uuid.0[..8] == PREFIX && self.version == 1 {
            Some(u16::from_le_bytes([self.uuid.0[8], self.uuid.0[9]]))
        } else {
            None
        }
    }
}

impl fmt::Debug for SyntaxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} v{}.{}",
            self.uuid,
            self.version & 0xffff,
            self.version >> 16
        )
    }
}

/// Offsets in a bind / alter_context PDU (\[C706\] 12.6.4.3).
mod bind_field {
    pub(super) const MAX_XMIT_FRAG: usize = 16;
    pub(super) const MAX_RECV_FRAG: usize = 18;
    pub(super) const ASSOC_GROUP_ID: usize = 20;
    pub(super) const N_CONTEXT_ELEM: usize = 24;
    pub(super) const CONTEXTS: usize = 28;
    // Within one p_cont_elem_t:
    pub(super) const CONT_ID: usize = 0;
    pub(super) const N_TRANSFER_SYN: usize = 2;
    pub(super) const ABSTRACT_SYNTAX: usize = 4;
    pub(super) const TRANSFER_SYNTAXES: usize = 24;
}

/// A parsed bind or alter_context PDU. Every context element was checked to lie inside the
/// body, so iterating [`Bind::contexts`] cannot fail.
#[derive(Debug, Clone, Copy)]
pub struct Bind<'a> {
    /// Largest fragment the client will send.
    pub max_xmit_frag: u16,
    /// Largest fragment the client can receive.
    pub max_recv_frag: u16,
    /// Association group the client asks to join (0: a new one).
    pub assoc_group_id: u32,
    n_contexts: u8,
    contexts: &'a [u8],
    le: bool,
}

impl<'a> Bind<'a> {
    /// Parses a bind or alter_context from the whole PDU (`pdu[..hdr.frag_length]`).
    pub fn parse(pdu: &'a [u8], hdr: &HeaderRepr) -> Result<Self, PduError> {
        use bind_field as f;
        let body = pdu.get(..hdr.body_end()).ok_or(PduError::Truncated)?;
        if body.len() < f::CONTEXTS {
            return Err(PduError::Truncated);
        }
        let le = hdr.little_endian;
        let n_contexts = body[f::N_CONTEXT_ELEM];
        let contexts = &body[f::CONTEXTS..];
        // Walk once so the iterator cannot run off the end.
        let mut off = 0usize;
        for _ in 0..n_contexts {
            let head = contexts
                .get(off..off + f::TRANSFER_SYNTAXES)
                .ok_or(PduError::Malformed("context element past the end"))?;
            let n = usize::from(head[f::N_TRANSFER_SYN]);
            off += f::TRANSFER_SYNTAXES + n * SYNTAX_ID_LEN;
            if off > contexts.len() {
                return Err(PduError::Malformed("transfer syntaxes past the end"));
            }
        }
        Ok(Self {
            max_xmit_frag: u16_from(le, [body[f::MAX_XMIT_FRAG], body[f::MAX_XMIT_FRAG + 1]]),
            max_recv_frag: u16_from(le, [body[f::MAX_RECV_FRAG], body[f::MAX_RECV_FRAG + 1]]),
            assoc_group_id: u32_from(
                le,
                [
                    body[f::ASSOC_GROUP_ID],
                    body[f::ASSOC_GROUP_ID + 1],
                    body[f::ASSOC_GROUP_ID + 2],
                    body[f::ASSOC_GROUP_ID + 3],
                ],
            ),
            n_contexts,
            contexts: &contexts[..off],
            le,
        })
    }

    /// Number of presentation context elements.
    pub fn n_contexts(&self) -> u8 {
        self.n_contexts
    }

    /// The presentation context elements, in order.
    pub fn contexts(&self) -> ContextIter<'a> {
        ContextIter {
            buf: self.contexts,
            left: self.n_contexts,
            le: self.le,
        }
    }
}

/// Iterator over the context elements of a [`Bind`].
#[derive(Debug, Clone)]
pub struct ContextIter<'a> {
    buf: &'a [u8],
    left: u8,
    le: bool,
}

impl<'a> Iterator for ContextIter<'a> {
    type Item = ContextElem<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        use bind_field as f;
        if self.left == 0 {
            return None;
        }
        // `Bind::parse` walked these bounds; `get` keeps it panic-free regardless.
        let head = self.buf.get(..f::TRANSFER_SYNTAXES)?;
        let n = head[f::N_TRANSFER_SYN];
        let end = f::TRANSFER_SYNTAXES + usize::from(n) * SYNTAX_ID_LEN;
        let transfer = self.buf.get(f::TRANSFER_SYNTAXES..end)?;
        let elem = ContextElem {
            context_id: u16_from(self.le, [head[f::CONT_ID], head[f::CONT_ID + 1]]),
            abstract_syntax: SyntaxId::read(&head[f::ABSTRACT_SYNTAX..], self.le),
            transfer,
            le: self.le,
        };
        self.buf = &self.buf[end..];
        self.left -= 1;
        Some(elem)
    }
}

/// One p_cont_elem_t: a context id, the interface and the transfer syntaxes offered for it.
#[derive(Debug, Clone, Copy)]
pub struct ContextElem<'a> {
    /// p_cont_id.
    pub context_id: u16,
    /// The interface.
    pub abstract_syntax: SyntaxId,
    transfer: &'a [u8],
    le: bool,
}

impl<'a> ContextElem<'a> {
    /// Number of transfer syntaxes offered.
    pub fn n_transfer_syntaxes(&self) -> usize {
        self.transfer.len() / SYNTAX_ID_LEN
    }

    /// The transfer syntaxes offered, in the client's order of preference.
    pub fn transfer_syntaxes(&self) -> impl Iterator<Item = SyntaxId> + 'a {
        let le = self.le;
        self.transfer
            .chunks_exact(SYNTAX_ID_LEN)
            .map(move |c| SyntaxId::read(c, le))
    }
}

/// One p_result_t of a bind_ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextResult {
    /// Accepted, rejected or negotiate_ack.
    pub result: ContextOutcome,
    /// Rejection reason, or the [`btfn`] bits for negotiate_ack.
    pub reason: u16,
    /// The accepted transfer syntax; nil otherwise.
    pub transfer_syntax: SyntaxId,
}

impl ContextResult {
    /// Writes it into the first [`CONTEXT_RESULT_LEN`] bytes of `b`.
    pub fn emit(&self, b: &mut [u8]) {
        b[0..2].copy_from_slice(&self.result.0.to_le_bytes());
        b[2..4].copy_from_slice(&self.reason.to_le_bytes());
        self.transfer_syntax.emit(&mut b[4..24]);
    }
}

/// The fixed part of a bind_ack or alter_context_resp (\[C706\] 12.6.4.4). The result list is
/// written element by element with [`ContextResult::emit`] at [`BindAck::result_offset`].
#[derive(Debug, Clone, Copy)]
pub struct BindAck<'a> {
    /// [`PacketType::BIND_ACK`] or [`PacketType::ALTER_CONTEXT_RESP`].
    pub ptype: PacketType,
    /// The bind's call_id.
    pub call_id: u32,
    /// Largest fragment we will send.
    pub max_xmit_frag: u16,
    /// Largest fragment we accept.
    pub max_recv_frag: u16,
    /// The association group.
    pub assoc_group_id: u32,
    /// sec_addr with its NUL (`\PIPE\srvsvc\0`), or empty (alter_context_resp).
    pub sec_addr: &'a [u8],
    /// Number of results that follow.
    pub n_results: u8,
}

impl BindAck<'_> {
    /// Offset of the first p_result_t: after sec_addr, padded to 4 from the PDU start.
    pub fn result_offset(&self) -> usize {
        let end = HEADER_LEN + 10 + self.sec_addr.len();
        end.next_multiple_of(4) + 4
    }

    /// Total length of the PDU.
    pub fn buffer_len(&self) -> usize {
        self.result_offset() + usize::from(self.n_results) * CONTEXT_RESULT_LEN
    }

    /// Writes everything but the results. `buf` must hold [`BindAck::buffer_len`] bytes.
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.buffer_len();
        let frag = u16::try_from(len).unwrap_or(u16::MAX);
        emit_header(
            buf,
            self.ptype,
            pfc::FIRST_FRAG | pfc::LAST_FRAG,
            frag,
            self.call_id,
        );
        buf[16..18].copy_from_slice(&self.max_xmit_frag.to_le_bytes());
        buf[18..20].copy_from_slice(&self.max_recv_frag.to_le_bytes());
        buf[20..24].copy_from_slice(&self.assoc_group_id.to_le_bytes());
        let n = u16::try_from(self.sec_addr.len()).unwrap_or(0);
        buf[24..26].copy_from_slice(&n.to_le_bytes());
        let at = 26 + self.sec_addr.len();
        buf[26..at].copy_from_slice(self.sec_addr);
        let list = self.result_offset() - 4;
        buf[at..list].fill(0);
        buf[list] = self.n_results;
        buf[list + 1..list + 4].fill(0);
    }
}

/// Writes a bind_nak (\[C706\] 12.6.4.5) with one supported protocol version (5.0) and three
/// pad octets, as Samba does. `buf` must hold [`BIND_NAK_LEN`] bytes.
pub fn emit_bind_nak(buf: &mut [u8], call_id: u32, reason: BindNakReason) -> usize {
    emit_header(
        buf,
        PacketType::BIND_NAK,
        pfc::FIRST_FRAG | pfc::LAST_FRAG,
        BIND_NAK_LEN as u16,
        call_id,
    );
    buf[16..18].copy_from_slice(&reason.0.to_le_bytes());
    buf[18] = 1;
    buf[19] = 5;
    buf[20] = 0;
    buf[21..24].fill(0);
    BIND_NAK_LEN
}

/// Writes a fault PDU (\[C706\] 12.6.4.7): alloc_hint 24 (what Windows and Samba send),
/// the context id, no cancels, the status and 4 reserved octets. `extra_flags` is added to
/// FIRST|LAST, typically [`pfc::DID_NOT_EXECUTE`]. `buf` must hold [`FAULT_LEN`] bytes.
pub fn emit_fault(
    buf: &mut [u8],
    call_id: u32,
    context_id: u16,
    extra_flags: u8,
    status: FaultStatus,
) -> usize {
    let flags = pfc::FIRST_FRAG | pfc::LAST_FRAG | extra_flags;
    emit_header(buf, PacketType::FAULT, flags, FAULT_LEN as u16, call_id);
    buf[16..20].copy_from_slice(&24u32.to_le_bytes());
    buf[20..22].copy_from_slice(&context_id.to_le_bytes());
    buf[22] = 0;
    buf[23] = 0;
    buf[24..28].copy_from_slice(&status.0.to_le_bytes());
    buf[28..32].fill(0);
    FAULT_LEN
}

/// Writes the header of one response fragment (\[C706\] 12.6.4.10); the stub bytes follow.
/// `buf` must hold [`RESPONSE_HEADER_LEN`] bytes.
pub fn emit_response_header(
    buf: &mut [u8],
    call_id: u32,
    flags: u8,
    frag_length: u16,
    alloc_hint: u32,
    context_id: u16,
) {
    emit_header(buf, PacketType::RESPONSE, flags, frag_length, call_id);
    buf[16..20].copy_from_slice(&alloc_hint.to_le_bytes());
    buf[20..22].copy_from_slice(&context_id.to_le_bytes());
    buf[22] = 0;
    buf[23] = 0;
}

/// A parsed request PDU (\[C706\] 12.6.4.9).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The client's guess of the whole stub's size (advisory).
    pub alloc_hint: u32,
    /// p_cont_id.
    pub context_id: u16,
    /// Operation number within the interface.
    pub opnum: u16,
    /// The object UUID, when PFC_OBJECT_UUID is set.
    pub object: Option<Uuid>,
    /// This fragment's stub data (no auth verifier).
    pub stub: &'a [u8],
}

impl<'a> Request<'a> {
    /// Parses a request from the whole PDU (`pdu[..hdr.frag_length]`).
    pub fn parse(pdu: &'a [u8], hdr: &HeaderRepr) -> Result<Self, PduError> {
        let body = pdu.get(..hdr.body_end()).ok_or(PduError::Truncated)?;
        let le = hdr.little_endian;
        if body.len() < REQUEST_HEADER_LEN {
            return Err(PduError::Truncated);
        }
        let (object, stub_at) = if hdr.flags & pfc::OBJECT_UUID != 0 {
            let b = body.get(24..40).ok_or(PduError::Truncated)?;
            let mut u = [0u8; 16];
            u.copy_from_slice(b);
            (Some(Uuid::read(&u, le)), 40)
        } else {
            (None, REQUEST_HEADER_LEN)
        };
        Ok(Self {
            alloc_hint: u32_from(le, [body[16], body[17], body[18], body[19]]),
            context_id: u16_from(le, [body[20], body[21]]),
            opnum: u16_from(le, [body[22], body[23]]),
            object,
            stub: &body[stub_at..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// smbclient's bind for srvsvc (one context, NDR), call_id 1, built field by field.
    fn bind_bytes() -> Vec<u8> {
        let mut v = std::vec![5, 0, 11, 3, 0x10, 0, 0, 0, 72, 0, 0, 0, 1, 0, 0, 0];
        v.extend_from_slice(&4280u16.to_le_bytes());
        v.extend_from_slice(&4280u16.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&[1, 0, 0, 0]); // one context
        v.extend_from_slice(&[0, 0, 1, 0]); // ctx 0, one transfer syntax
        v.extend_from_slice(&[
            0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e,
            0xe1, 0x88, 3, 0, 0, 0,
        ]);
        v.extend_from_slice(&[
            0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10,
            0x48, 0x60, 2, 0, 0, 0,
        ]);
        assert_eq!(v.len(), 72);
        v
    }

    #[test]
    fn header_deconstruct() {
        let b = bind_bytes();
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!(h.rpc_vers(), 5);
        assert_eq!(h.ptype(), PacketType::BIND);
        assert_eq!(h.pfc_flags(), 3);
        assert!(h.little_endian());
        assert_eq!(h.frag_length(), 72);
        assert_eq!(h.auth_length(), 0);
        assert_eq!(h.call_id(), 1);
    }

    #[test]
    fn header_construct_from_a5() {
        let mut b = [0xa5u8; 16];
        emit_header(&mut b, PacketType::RESPONSE, 3, 100, 7);
        assert_eq!(b, [5, 0, 2, 3, 0x10, 0, 0, 0, 100, 0, 0, 0, 7, 0, 0, 0]);
    }

    #[test]
    fn header_parse_emit_round_trip() {
        let b = bind_bytes();
        let r = HeaderRepr::parse(&b).unwrap();
        let mut out = [0xa5u8; 16];
        r.emit(&mut out);
        assert_eq!(&out[..], &b[..16]);
        assert_eq!(
            std::format!("{r}"),
            "DCE/RPC BIND call_id=1 frag_len=72 auth_len=0 flags=0x03"
        );
    }

    #[test]
    fn header_big_endian() {
        let b = [5, 0, 0, 3, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 1, 2];
        let r = HeaderRepr::parse(&b).unwrap();
        assert!(!r.little_endian);
        assert_eq!(r.frag_length, 40);
        assert_eq!(r.call_id, 0x102);
    }

    #[test]
    fn header_rejects() {
        let mut b = bind_bytes();
        assert_eq!(HeaderRepr::parse(&b[..15]), Err(PduError::Truncated));
        b[0] = 4;
        assert_eq!(HeaderRepr::parse(&b), Err(PduError::BadVersion));
        b[0] = 5;
        b[1] = 2;
        assert_eq!(HeaderRepr::parse(&b), Err(PduError::BadVersion));
        b[1] = 0;
        b[4] = 0x20;
        assert_eq!(HeaderRepr::parse(&b), Err(PduError::BadDrep));
        b[4] = 0x10;
        b[8] = 15;
        assert_eq!(HeaderRepr::parse(&b), Err(PduError::BadLength));
        b[8] = 30;
        b[10] = 8; // auth 8 + trailer 8 + header 16 > 30
        assert_eq!(HeaderRepr::parse(&b), Err(PduError::BadLength));
    }

    #[test]
    fn bind_parse() {
        let b = bind_bytes();
        let h = HeaderRepr::parse(&b).unwrap();
        let bind = Bind::parse(&b, &h).unwrap();
        assert_eq!(
            (bind.max_xmit_frag, bind.max_recv_frag, bind.assoc_group_id),
            (4280, 4280, 0)
        );
        let ctxs: Vec<_> = bind.contexts().collect();
        assert_eq!(ctxs.len(), 1);
        assert_eq!(ctxs[0].context_id, 0);
        assert_eq!(
            std::format!("{:?}", ctxs[0].abstract_syntax),
            "4b324fc8-1670-01d3-1278-5a47bf6ee188 v3.0"
        );
        let ts: Vec<_> = ctxs[0].transfer_syntaxes().collect();
        assert_eq!(ts, [NDR20]);
    }

    #[test]
    fn bind_parse_rejects_overlong_context_list() {
        let mut b = bind_bytes();
        b[24] = 2; // two contexts claimed, one present
        let h = HeaderRepr::parse(&b).unwrap();
        assert!(matches!(Bind::parse(&b, &h), Err(PduError::Malformed(_))));
        b[24] = 1;
        b[30] = 2; // two transfer syntaxes claimed
        assert!(matches!(Bind::parse(&b, &h), Err(PduError::Malformed(_))));
        let h = HeaderRepr {
            frag_length: 27,
            ..h
        };
        assert_eq!(Bind::parse(&b, &h).unwrap_err(), PduError::Truncated);
    }

    #[test]
    fn bind_time_features() {
        let mut s = SyntaxId::new(
            Uuid::from_fields(0x6cb7_1c2c, 0x9812, 0x4540, [3, 0, 0, 0, 0, 0, 0, 0]),
            1,
            0,
        );
        assert_eq!(s.bind_time_features(), Some(3));
        s.version = 2;
        assert_eq!(s.bind_time_features(), None);
        assert_eq!(NDR20.bind_time_features(), None);
    }

    #[test]
    fn uuid_big_endian_read() {
        let be = [
            0x8a, 0x88, 0x5d, 0x04, 0x1c, 0xeb, 0x11, 0xc9, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10,
            0x48, 0x60,
        ];
        assert_eq!(Uuid::read(&be, false), NDR20.uuid);
        assert_eq!(
            std::format!("{}", NDR20.uuid),
            "8a885d04-1ceb-11c9-9fe8-08002b104860"
        );
    }

    #[test]
    fn bind_ack_construct() {
        let ack = BindAck {
            ptype: PacketType::BIND_ACK,
            call_id: 1,
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group_id: 0x53f0,
            sec_addr: b"\\PIPE\\srvsvc\0",
            n_results: 1,
        };
        assert_eq!(ack.result_offset(), 44);
        assert_eq!(ack.buffer_len(), 68);
        let mut b = [0xa5u8; 68];
        ack.emit(&mut b);
        ContextResult {
            result: ContextOutcome::ACCEPTANCE,
            reason: 0,
            transfer_syntax: NDR20,
        }
        .emit(&mut b[44..]);
        let mut want = std::vec![5u8, 0, 12, 3, 0x10, 0, 0, 0, 68, 0, 0, 0, 1, 0, 0, 0];
        want.extend_from_slice(&[0xb8, 0x10, 0xb8, 0x10, 0xf0, 0x53, 0, 0, 13, 0]);
        want.extend_from_slice(b"\\PIPE\\srvsvc\0");
        want.extend_from_slice(&[0]); // pad to 40
        want.extend_from_slice(&[1, 0, 0, 0]);
        want.extend_from_slice(&[0, 0, 0, 0]);
        want.extend_from_slice(&bind_bytes()[52..72]);
        assert_eq!(&b[..], &want[..]);
    }

    #[test]
    fn alter_context_resp_has_empty_sec_addr() {
        let ack = BindAck {
            ptype: PacketType::ALTER_CONTEXT_RESP,
            call_id: 2,
            max_xmit_frag: 4280,
            max_recv_frag: 4280,
            assoc_group_id: 1,
            sec_addr: b"",
            n_results: 0,
        };
        assert_eq!(ack.buffer_len(), 32);
        let mut b = [0xa5u8; 32];
        ack.emit(&mut b);
        assert_eq!(&b[24..32], &[0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn fault_and_nak_construct() {
        let mut b = [0xa5u8; 32];
        assert_eq!(
            emit_fault(
                &mut b,
                9,
                1,
                pfc::DID_NOT_EXECUTE,
                FaultStatus::OP_RNG_ERROR
            ),
            32
        );
        assert_eq!(
            b,
            [
                5, 0, 3, 0x23, 0x10, 0, 0, 0, 32, 0, 0, 0, 9, 0, 0, 0, 24, 0, 0, 0, 1, 0, 0, 0,
                0x02, 0x00, 0x01, 0x1c, 0, 0, 0, 0
            ]
        );
        let mut b = [0xa5u8; 24];
        emit_bind_nak(&mut b, 1, BindNakReason::PROTOCOL_VERSION_NOT_SUPPORTED);
        assert_eq!(
            b,
            [5, 0, 13, 3, 0x10, 0, 0, 0, 24, 0, 0, 0, 1, 0, 0, 0, 4, 0, 1, 5, 0, 0, 0, 0]
        );
    }

    #[test]
    fn request_parse_with_object() {
        let mut b = std::vec![5u8, 0, 0, 0x83, 0x10, 0, 0, 0, 44, 0, 0, 0, 2, 0, 0, 0];
        b.extend_from_slice(&[4, 0, 0, 0, 1, 0, 15, 0]);
        b.extend_from_slice(&NDR20.uuid.0);
        b.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let h = HeaderRepr::parse(&b).unwrap();
        let r = Request::parse(&b, &h).unwrap();
        assert_eq!((r.alloc_hint, r.context_id, r.opnum), (4, 1, 15));
        assert_eq!(r.object, Some(NDR20.uuid));
        assert_eq!(r.stub, &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(
            Request::parse(&b[..39], &h).unwrap_err(),
            PduError::Truncated
        );
    }

    #[test]
    fn packet_type_prints_unknown_as_hex() {
        assert_eq!(std::format!("{}", PacketType(0x42)), "PacketType(0x42)");
        assert_eq!(std::format!("{}", FaultStatus::PROTO_ERROR), "PROTO_ERROR");
    }
}
