//! One open named pipe on IPC$: a DCE/RPC association over a message-mode pipe
//! ([MS-RPCE] 2.1.1.2, ncacn_np).
//!
//! Bytes written by the client are framed into PDUs (one write may hold several PDUs or part
//! of one), each PDU is answered into a fixed output buffer, and reads drain that buffer one
//! message (one PDU) at a time, as a message-mode pipe does.
//!
//! The pipe takes a new PDU only when the previous reply has been read: RPC over SMB is
//! strictly request/response per pipe, so this costs nothing with real clients. A reply is
//! never held whole: it is measured, then rendered a batch of fragments at a time into the
//! output buffer as the client reads (each batch re-encodes the reply through a window, see
//! [`crate::ndr::Writer::window`]), so the share list can be longer than the buffer.

use core::fmt;

use crate::ndr::Writer;
use crate::pdu::{
    self, pfc, BindAck, BindNakReason, ContextElem, ContextOutcome, ContextReason, ContextResult,
    FaultStatus, HeaderRepr, PacketType, SyntaxId, FAULT_LEN, HEADER_LEN, NDR20,
    RESPONSE_HEADER_LEN,
};
use crate::service::{self, srvsvc, wkssvc, Reject, ShareSource};

/// Largest fragment accepted from a client, and the size of the input buffer. Samba uses the
/// same fixed limit (5840, the ncacn_ip_tcp maximum) whatever was negotiated.
pub const MAX_RECV_FRAG: usize = 5840;
/// Largest fragment we send and advertise in bind_ack (Windows and Samba use 4280 on pipes).
pub const MAX_XMIT_FRAG: u16 = 4280;
/// The fragment size every implementation must accept (\[C706\] 12.6.3.3 MustRecvFragSize);
/// smaller client offers are raised to it.
pub const MIN_FRAG: u16 = 1432;
/// Largest request stub reassembled from several fragments. Our calls have stubs of a few
/// hundred bytes; single-fragment requests are read in place and only bounded by
/// [`MAX_RECV_FRAG`].
pub const MAX_REQUEST_STUB: usize = 2048;
/// Presentation contexts one association can hold.
pub const MAX_CONTEXTS: usize = 4;
/// Default output buffer: two full response fragments per rendering batch.
pub const DEFAULT_OUT_CAPACITY: usize = 2 * MAX_XMIT_FRAG as usize;
/// Smallest output buffer a [`Pipe`] accepts: one full fragment (any bind_ack fits too).
pub const MIN_OUT_CAPACITY: usize = MAX_XMIT_FRAG as usize;
/// Largest reply stub. Replies are rendered a batch at a time by re-encoding, so the cost of a
/// reply grows with the square of its size; beyond this a share list is returned in pages
/// (ERROR_MORE_DATA and a resume handle). 256 KiB is some 1,700 shares at level 1.
pub const MAX_REPLY_STUB: usize = 256 * 1024;
/// Association group id we assign when a client asks for a new group (assoc_group_id 0).
pub const DEFAULT_ASSOC_GROUP_ID: u32 = 0x0000_53f0;

/// Which RPC service a pipe serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeKind {
    /// `\PIPE\srvsvc`: share enumeration and server information.
    Srvsvc,
    /// `\PIPE\wkssvc`: workstation information.
    Wkssvc,
}

impl PipeKind {
    /// Maps the name of a CREATE on IPC$ to a pipe: `srvsvc`, `\srvsvc`, `PIPE\srvsvc` and
    /// `\PIPE\srvsvc`, in any case (likewise `wkssvc`). `None` for pipes we do not serve, which
    /// the engine answers with STATUS_OBJECT_NAME_NOT_FOUND.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::from_chars(name.chars().map(Some))
    }

    /// [`PipeKind::from_name`] for the UTF-16LE name of an SMB2 CREATE.
    pub fn from_utf16le(name: &[u8]) -> Option<Self> {
        if name.len() & 1 != 0 {
            return None;
        }
        let units = name
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        Self::from_chars(char::decode_utf16(units).map(Result::ok))
    }

    /// `None` items are undecodable characters, which match nothing.
    fn from_chars(chars: impl Iterator<Item = Option<char>>) -> Option<Self> {
        let mut buf = [0u8; 16];
        let mut n = 0;
        for c in chars {
            let c = c?;
            if !c.is_ascii() || n == buf.len() {
                return None;
            }
            buf[n] = c.to_ascii_lowercase() as u8;
            n += 1;
        }
        Self::from_ascii_lower(&buf[..n])
    }

    fn from_ascii_lower(name: &[u8]) -> Option<Self> {
        let name = name.strip_prefix(b"\\").unwrap_or(name);
        let name = name.strip_prefix(b"pipe\\").unwrap_or(name);
        match name {
            b"srvsvc" => Some(Self::Srvsvc),
            b"wkssvc" => Some(Self::Wkssvc),
            _ => None,
        }
    }

    /// The pipe's name, as in `\PIPE\<name>`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Srvsvc => "srvsvc",
            Self::Wkssvc => "wkssvc",
        }
    }

    /// The interface bound on this pipe.
    pub const fn interface(self) -> SyntaxId {
        match self {
            Self::Srvsvc => srvsvc::INTERFACE,
            Self::Wkssvc => wkssvc::INTERFACE,
        }
    }

    /// The secondary address of the bind_ack, NUL included.
    fn sec_addr(self) -> &'static [u8] {
        match self {
            Self::Srvsvc => b"\\PIPE\\srvsvc\0",
            Self::Wkssvc => b"\\PIPE\\wkssvc\0",
        }
    }
}

/// What a read returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes copied into the caller's buffer.
    pub len: usize,
    /// The current message (PDU) did not fit: the rest comes with the next read. The engine
    /// answers such a READ or FSCTL_PIPE_TRANSCEIVE with STATUS_BUFFER_OVERFLOW and the data,
    /// as Windows does for message-mode pipes.
    pub more: bool,
}

/// What [`Pipe::peek`] saw (the fields of FSCTL_PIPE_PEEK's reply, [MS-FSCC] 2.3.46).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    /// Bytes copied (from the current message only).
    pub len: usize,
    /// ReadDataAvailable: unread bytes in all queued messages.
    pub available: usize,
    /// NumberOfMessages queued, the partly read one included.
    pub messages: usize,
    /// MessageLength: unread bytes of the current message.
    pub message_len: usize,
}

/// Why a pipe operation could not be carried out. Each maps to one NTSTATUS
/// ([`RpcError::nt_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcError {
    /// The reply to an earlier request is still unread, so no new request is taken
    /// (STATUS_PIPE_BUSY, which [MS-FSCC] gives for a transceive on a pipe with unread data).
    Busy,
    /// Nothing to read (STATUS_PIPE_EMPTY).
    Empty,
    /// The association ended: a bind was refused or the client broke the protocol, and the
    /// bind_nak or fault saying so has been read. The client must close the pipe
    /// (STATUS_PIPE_DISCONNECTED).
    Broken,
}

impl RpcError {
    /// The NTSTATUS an SMB server answers with.
    pub const fn nt_status(self) -> u32 {
        match self {
            Self::Busy => 0xC000_00AE,
            Self::Empty => 0xC000_00D9,
            Self::Broken => 0xC000_00B0,
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Busy => "pipe has an unread reply",
            Self::Empty => "pipe is empty",
            Self::Broken => "RPC association ended",
        })
    }
}

/// STATUS_BUFFER_OVERFLOW, for a read or transceive whose [`ReadOutcome::more`] is set.
pub const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Assoc {
    /// Waiting for the bind.
    Unbound,
    Bound,
    /// A bind_nak or protocol fault was queued; nothing more is taken.
    Broken,
}

/// A request whose first fragment arrived and whose last has not.
#[derive(Debug, Clone, Copy)]
struct FragCall {
    call_id: u32,
    context_id: u16,
    opnum: u16,
    drep: [u8; 4],
}

/// A reply whose fragments are not all rendered yet.
#[derive(Debug, Clone, Copy)]
struct Pending {
    reply: service::Reply,
    call_id: u32,
    context_id: u16,
    max_frag: u16,
    stub_len: usize,
    /// Stub bytes already rendered into fragments.
    sent: usize,
}

/// Queued output: whole PDUs from `pos` to `len`, read one message at a time, and the rest of
/// a reply still to render.
struct Tx<const OUT: usize> {
    buf: [u8; OUT],
    len: usize,
    pos: usize,
    /// Unread bytes of the message at `pos` (0: at a message boundary).
    msg_left: usize,
    pending: Option<Pending>,
}

impl<const OUT: usize> Tx<OUT> {
    const fn new() -> Self {
        Self {
            buf: [0; OUT],
            len: 0,
            pos: 0,
            msg_left: 0,
            pending: None,
        }
    }

    /// No rendered bytes left to read (there may be more to render).
    fn is_empty(&self) -> bool {
        self.pos == self.len
    }

    /// The last reply has been read completely.
    fn is_idle(&self) -> bool {
        self.is_empty() && self.pending.is_none()
    }

    fn clear(&mut self) {
        self.len = 0;
        self.pos = 0;
        self.msg_left = 0;
        self.pending = None;
    }

    /// Unread bytes, rendered or not.
    fn unread(&self) -> usize {
        let rest = self
            .pending
            .map_or(0, |p| framed_len(p.stub_len - p.sent, p.max_frag));
        self.len - self.pos + rest
    }

    /// Queues `n` bytes written at the start of `buf` (the queue was empty).
    fn commit(&mut self, n: usize) {
        self.len = n;
        self.pos = 0;
        self.msg_left = 0;
    }

    fn frag_len_at(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.buf[at + 8], self.buf[at + 9]]))
    }

    fn fault(&mut self, call_id: u32, context_id: u16, extra: u8, status: FaultStatus) {
        let n = pdu::emit_fault(
            &mut self.buf[..FAULT_LEN],
            call_id,
            context_id,
            extra,
            status,
        );
        self.commit(n);
        self.pending = None;
    }

    /// Measures `reply` and renders its first batch of fragments of at most `max_frag` bytes;
    /// answers with a fault if it is too large.
    fn start_response(
        &mut self,
        src: &dyn ShareSource,
        call_id: u32,
        context_id: u16,
        max_frag: u16,
        reply: &service::Reply,
    ) {
        let mut count = Writer::counting();
        reply.encode(src, &mut count);
        let stub_len = count.len();
        if stub_len > MAX_REPLY_STUB {
            self.fault(call_id, context_id, 0, FaultStatus::OUT_ARGS_TOO_BIG);
            return;
        }
        self.pending = Some(Pending {
            reply: *reply,
            call_id,
            context_id,
            max_frag,
            stub_len,
            sent: 0,
        });
        self.render(src);
    }

    /// Renders the next batch of response fragments (as many as fit) into the empty buffer.
    fn render(&mut self, src: &dyn ShareSource) {
        let Some(mut p) = self.pending.take() else {
            return;
        };
        let payload = payload_per_frag(p.max_frag);
        // NOTE: OUT >= MIN_OUT_CAPACITY >= one whole fragment, so room >= 1.
        let room = (OUT / (RESPONSE_HEADER_LEN + payload)).max(1);
        let batch = (p.stub_len - p.sent).min(room * payload);
        let body = &mut self.buf[RESPONSE_HEADER_LEN..RESPONSE_HEADER_LEN + batch];
        let mut w = Writer::window(body, p.sent);
        p.reply.encode(src, &mut w);
        if w.len() != p.stub_len {
            // The host's answers changed since the reply was measured.
            self.fault(p.call_id, p.context_id, 0, FaultStatus::CANT_PERFORM);
            return;
        }
        // The batch sits contiguous after the first header; open a header-sized gap before
        // every later chunk, last chunk first so nothing is overwritten before it moves.
        let frags = frag_count(batch, payload);
        for i in (1..frags).rev() {
            let from = RESPONSE_HEADER_LEN + i * payload;
            let to = RESPONSE_HEADER_LEN + batch.min((i + 1) * payload);
            let dst = i * (RESPONSE_HEADER_LEN + payload) + RESPONSE_HEADER_LEN;
            self.buf.copy_within(from..to, dst);
        }
        for i in 0..frags {
            let off = p.sent + i * payload;
            let chunk = payload.min(batch - i * payload);
            let mut flags = 0;
            if off == 0 {
                flags |= pfc::FIRST_FRAG;
            }
            if off + chunk == p.stub_len {
                flags |= pfc::LAST_FRAG;
            }
            let at = i * (RESPONSE_HEADER_LEN + payload);
            pdu::emit_response_header(
                &mut self.buf[at..at + RESPONSE_HEADER_LEN],
                p.call_id,
                flags,
                // NOTE: a fragment is at most max_frag (a u16) long, the stub at most
                // MAX_REPLY_STUB: neither conversion saturates.
                u16::try_from(RESPONSE_HEADER_LEN + chunk).unwrap_or(u16::MAX),
                u32::try_from(p.stub_len - off).unwrap_or(u32::MAX),
                p.context_id,
            );
        }
        self.commit(batch + frags * RESPONSE_HEADER_LEN);
        p.sent += batch;
        if p.sent < p.stub_len {
            self.pending = Some(p);
        }
    }

    /// Makes rendered bytes available if a reply is in progress; whether there are any.
    fn fill(&mut self, src: &dyn ShareSource) -> bool {
        if self.is_empty() && self.pending.is_some() {
            self.render(src);
        }
        !self.is_empty()
    }
}

/// Stub bytes per response fragment: what `max_frag` leaves after the header, in multiples of
/// 8 so every fragment but the last carries whole NDR alignment units.
fn payload_per_frag(max_frag: u16) -> usize {
    (usize::from(max_frag) - RESPONSE_HEADER_LEN) & !7
}

fn frag_count(stub_len: usize, payload: usize) -> usize {
    stub_len.div_ceil(payload).max(1)
}

/// Bytes a stub of `stub_len` takes once cut into response fragments.
fn framed_len(stub_len: usize, max_frag: u16) -> usize {
    stub_len + RESPONSE_HEADER_LEN * frag_count(stub_len, payload_per_frag(max_frag))
}

/// The fragment size both sides use: the client's smaller limit, raised to [`MIN_FRAG`],
/// capped at [`MAX_XMIT_FRAG`], rounded down to 8 (Samba's rule).
fn negotiate_frag(max_xmit: u16, max_recv: u16) -> u16 {
    max_xmit.min(max_recv).clamp(MIN_FRAG, MAX_XMIT_FRAG) & !7
}

/// frag_length of a PDU starting with header `h`, if the header is sane and fits our buffer.
fn frame_len(h: &[u8]) -> Option<usize> {
    let hdr = HeaderRepr::parse(h).ok()?;
    let n = usize::from(hdr.frag_length);
    (n <= MAX_RECV_FRAG).then_some(n)
}

/// The association state: everything but the input buffer.
struct Core<const OUT: usize> {
    kind: PipeKind,
    assoc: Assoc,
    contexts: [Option<u16>; MAX_CONTEXTS],
    max_frag: u16,
    assoc_group: u32,
    frag_call: Option<FragCall>,
    stub: [u8; MAX_REQUEST_STUB],
    stub_len: usize,
    tx: Tx<OUT>,
}

impl<const OUT: usize> Core<OUT> {
    const fn new(kind: PipeKind) -> Self {
        Self {
            kind,
            assoc: Assoc::Unbound,
            contexts: [None; MAX_CONTEXTS],
            max_frag: MAX_XMIT_FRAG,
            assoc_group: 0,
            frag_call: None,
            stub: [0; MAX_REQUEST_STUB],
            stub_len: 0,
            tx: Tx::new(),
        }
    }

    fn reset(&mut self, kind: PipeKind) {
        self.kind = kind;
        self.assoc = Assoc::Unbound;
        self.contexts = [None; MAX_CONTEXTS];
        self.max_frag = MAX_XMIT_FRAG;
        self.assoc_group = 0;
        self.frag_call = None;
        self.stub_len = 0;
        self.tx.clear();
    }

    /// Queues a fault with DID_NOT_EXECUTE and ends the association.
    fn fatal(&mut self, call_id: u32, context_id: u16, status: FaultStatus) {
        self.tx
            .fault(call_id, context_id, pfc::DID_NOT_EXECUTE, status);
        self.end();
    }

    /// Queues a bind_nak and ends the association.
    fn nak(&mut self, call_id: u32, reason: BindNakReason) {
        let n = pdu::emit_bind_nak(&mut self.tx.buf[..pdu::BIND_NAK_LEN], call_id, reason);
        self.tx.commit(n);
        self.end();
    }

    fn end(&mut self) {
        self.assoc = Assoc::Broken;
        self.frag_call = None;
        self.stub_len = 0;
    }

    /// A 16-byte header we cannot frame by (bad version, drep or length).
    fn framing_error(&mut self, h: &[u8]) {
        let hdr = pdu::Header::new_unchecked(h);
        let call_id = hdr.call_id();
        if self.assoc == Assoc::Unbound && hdr.ptype() == PacketType::BIND {
            let reason = if hdr.rpc_vers() != 5 || hdr.rpc_vers_minor() > 1 {
                BindNakReason::PROTOCOL_VERSION_NOT_SUPPORTED
            } else {
                BindNakReason::NOT_SPECIFIED
            };
            self.nak(call_id, reason);
        } else {
            self.fatal(call_id, 0, FaultStatus::PROTO_ERROR);
        }
    }

    /// Answers one complete PDU. The output queue is empty.
    fn handle_pdu(&mut self, src: &dyn ShareSource, pdu: &[u8]) {
        let Ok(hdr) = HeaderRepr::parse(pdu) else {
            return self.framing_error(pdu);
        };
        match (self.assoc, hdr.ptype) {
            (Assoc::Unbound, PacketType::BIND) => self.bind(&hdr, pdu, false),
            // Only one bind per association (\[C706\] 12.6.4.3; Samba answers a bind_nak).
            (Assoc::Bound, PacketType::BIND) => self.nak(hdr.call_id, BindNakReason::NOT_SPECIFIED),
            (Assoc::Bound, PacketType::ALTER_CONTEXT) => self.bind(&hdr, pdu, true),
            (Assoc::Bound, PacketType::REQUEST) => self.request(src, &hdr, pdu),
            // Nothing runs asynchronously, so there is never anything to cancel.
            (Assoc::Bound, PacketType::CO_CANCEL) => {}
            (Assoc::Bound, PacketType::ORPHANED) => {
                if self.frag_call.is_some_and(|c| c.call_id == hdr.call_id) {
                    self.frag_call = None;
                    self.stub_len = 0;
                }
            }
            _ => self.fatal(hdr.call_id, 0, FaultStatus::PROTO_ERROR),
        }
    }

    /// bind or alter_context: negotiates presentation contexts and answers bind_ack or
    /// alter_context_resp.
    fn bind(&mut self, hdr: &HeaderRepr, pdu: &[u8], alter: bool) {
        let refuse = |core: &mut Self, reason: BindNakReason| {
            if alter {
                core.fatal(hdr.call_id, 0, FaultStatus::PROTO_ERROR);
            } else {
                core.nak(hdr.call_id, reason);
            }
        };
        if hdr.auth_length != 0 {
            // No DCE/RPC-level authentication: the SMB session already authenticated.
            return refuse(self, BindNakReason::AUTHENTICATION_TYPE_NOT_RECOGNIZED);
        }
        let Ok(bind) = pdu::Bind::parse(pdu, hdr) else {
            return refuse(self, BindNakReason::NOT_SPECIFIED);
        };
        if bind.n_contexts() == 0 {
            return refuse(self, BindNakReason::PROTOCOL_VERSION_NOT_SUPPORTED);
        }
        let (max_frag, assoc_group) = if alter {
            (self.max_frag, self.assoc_group)
        } else {
            let group = match bind.assoc_group_id {
                0 => DEFAULT_ASSOC_GROUP_ID,
                g => g,
            };
            (
                negotiate_frag(bind.max_xmit_frag, bind.max_recv_frag),
                group,
            )
        };
        let ack = BindAck {
            ptype: if alter {
                PacketType::ALTER_CONTEXT_RESP
            } else {
                PacketType::BIND_ACK
            },
            call_id: hdr.call_id,
            max_xmit_frag: max_frag,
            max_recv_frag: max_frag,
            assoc_group_id: assoc_group,
            sec_addr: if alter { b"" } else { self.kind.sec_addr() },
            n_results: bind.n_contexts(),
        };
        let len = ack.buffer_len();
        if len > OUT {
            return refuse(self, BindNakReason::LOCAL_LIMIT_EXCEEDED);
        }
        ack.emit(&mut self.tx.buf[..len]);
        let mut contexts = self.contexts;
        let mut neg = Negotiation {
            accepted: false,
            features_seen: false,
        };
        for (i, c) in bind.contexts().enumerate() {
            let Some(result) = neg.context(self.kind.interface(), &c, &mut contexts) else {
                return refuse(self, BindNakReason::NOT_SPECIFIED);
            };
            let at = ack.result_offset() + i * pdu::CONTEXT_RESULT_LEN;
            result.emit(&mut self.tx.buf[at..at + pdu::CONTEXT_RESULT_LEN]);
        }
        self.contexts = contexts;
        self.max_frag = max_frag;
        self.assoc_group = assoc_group;
        self.assoc = Assoc::Bound;
        self.tx.commit(len);
    }

    fn has_context(&self, id: u16) -> bool {
        self.contexts.contains(&Some(id))
    }

    fn request(&mut self, src: &dyn ShareSource, hdr: &HeaderRepr, pdu: &[u8]) {
        if hdr.auth_length != 0 {
            return self.fatal(hdr.call_id, 0, FaultStatus::PROTO_ERROR);
        }
        let Ok(req) = pdu::Request::parse(pdu, hdr) else {
            return self.fatal(hdr.call_id, 0, FaultStatus::PROTO_ERROR);
        };
        let first = hdr.flags & pfc::FIRST_FRAG != 0;
        let last = hdr.flags & pfc::LAST_FRAG != 0;
        if first {
            if let Some(c) = self.frag_call {
                // A new call while another is half sent: without CONC_MPX that is a protocol
                // error, reported on the older call (as Samba does).
                return self.fatal(c.call_id, c.context_id, FaultStatus::PROTO_ERROR);
            }
            if !self.has_context(req.context_id) {
                let extra = pfc::DID_NOT_EXECUTE;
                return self
                    .tx
                    .fault(hdr.call_id, req.context_id, extra, FaultStatus::UNKNOWN_IF);
            }
            if last {
                let (kind, max_frag) = (self.kind, self.max_frag);
                let call = (hdr.call_id, req.context_id, req.opnum, hdr.little_endian);
                return respond(&mut self.tx, kind, max_frag, src, call, req.stub);
            }
            if req.stub.len() > MAX_REQUEST_STUB {
                return self.fatal(hdr.call_id, req.context_id, FaultStatus::OUT_OF_RESOURCES);
            }
            self.stub[..req.stub.len()].copy_from_slice(req.stub);
            self.stub_len = req.stub.len();
            self.frag_call = Some(FragCall {
                call_id: hdr.call_id,
                context_id: req.context_id,
                opnum: req.opnum,
                drep: hdr.drep,
            });
            return;
        }
        let Some(c) = self.frag_call else {
            return self.fatal(hdr.call_id, 0, FaultStatus::PROTO_ERROR);
        };
        if c.call_id != hdr.call_id || c.drep != hdr.drep {
            return self.fatal(c.call_id, c.context_id, FaultStatus::PROTO_ERROR);
        }
        let end = self.stub_len + req.stub.len();
        if end > MAX_REQUEST_STUB {
            return self.fatal(c.call_id, c.context_id, FaultStatus::OUT_OF_RESOURCES);
        }
        self.stub[self.stub_len..end].copy_from_slice(req.stub);
        self.stub_len = end;
        if last {
            self.frag_call = None;
            self.stub_len = 0;
            let le = hdr.drep[0] & 0xf0 != 0;
            let call = (c.call_id, c.context_id, c.opnum, le);
            respond(
                &mut self.tx,
                self.kind,
                self.max_frag,
                src,
                call,
                &self.stub[..end],
            );
        }
    }
}

/// Runs one call and queues its response or fault. `call` is (call_id, context_id, opnum,
/// little_endian).
fn respond<const OUT: usize>(
    tx: &mut Tx<OUT>,
    kind: PipeKind,
    max_frag: u16,
    src: &dyn ShareSource,
    call: (u32, u16, u16, bool),
    stub: &[u8],
) {
    let (call_id, ctx, opnum, le) = call;
    let fits = |n: usize| n <= MAX_REPLY_STUB;
    match service::plan(kind, opnum, stub, le, src, &fits) {
        Ok(reply) => tx.start_response(src, call_id, ctx, max_frag, &reply),
        Err(Reject::OpRange) => {
            tx.fault(
                call_id,
                ctx,
                pfc::DID_NOT_EXECUTE,
                FaultStatus::OP_RNG_ERROR,
            );
        }
        Err(Reject::BadStub(_)) => tx.fault(call_id, ctx, 0, FaultStatus::BAD_STUB_DATA),
        Err(Reject::TooBig) => tx.fault(call_id, ctx, 0, FaultStatus::OUT_ARGS_TOO_BIG),
    }
}

/// Presentation context negotiation for one bind, following Samba's rules: the first
/// acceptable context is accepted, later ones are rejected, and a bind time feature
/// negotiation context is acknowledged ([MS-RPCE] 3.3.1.5.3).
struct Negotiation {
    accepted: bool,
    features_seen: bool,
}

impl Negotiation {
    /// The result for context `c`; `None` when the bind must be refused outright.
    fn context(
        &mut self,
        interface: SyntaxId,
        c: &ContextElem<'_>,
        contexts: &mut [Option<u16>; MAX_CONTEXTS],
    ) -> Option<ContextResult> {
        let first = c.transfer_syntaxes().next()?;
        if let Some(offered) = first.bind_time_features() {
            if self.features_seen {
                return None;
            }
            self.features_seen = true;
            // We keep the connection after an orphaned PDU; no security context multiplexing.
            return Some(ContextResult {
                result: ContextOutcome::NEGOTIATE_ACK,
                reason: offered & pdu::btfn::KEEP_CONNECTION_ON_ORPHAN,
                transfer_syntax: SyntaxId::default(),
            });
        }
        let reject = |reason: ContextReason| ContextResult {
            result: ContextOutcome::PROVIDER_REJECTION,
            reason: reason.0,
            transfer_syntax: SyntaxId::default(),
        };
        if c.abstract_syntax != interface {
            return Some(reject(ContextReason::ABSTRACT_SYNTAX_NOT_SUPPORTED));
        }
        if self.accepted || !c.transfer_syntaxes().any(|t| t == NDR20) {
            return Some(reject(
                ContextReason::PROPOSED_TRANSFER_SYNTAXES_NOT_SUPPORTED,
            ));
        }
        if !contexts.contains(&Some(c.context_id)) {
            let Some(slot) = contexts.iter_mut().find(|s| s.is_none()) else {
                return Some(reject(ContextReason::LOCAL_LIMIT_EXCEEDED));
            };
            *slot = Some(c.context_id);
        }
        self.accepted = true;
        Some(ContextResult {
            result: ContextOutcome::ACCEPTANCE,
            reason: 0,
            transfer_syntax: NDR20,
        })
    }
}

/// One open srvsvc or wkssvc pipe: the DCE/RPC association and its buffers, with no
/// allocation. `OUT` is the output buffer size (at least [`MIN_OUT_CAPACITY`], one
/// fragment): replies of any length up to [`MAX_REPLY_STUB`] are rendered into it a batch of
/// fragments at a time, so a larger `OUT` only means fewer re-encodings. A pipe is about
/// `OUT + 8 KiB` (16.5 KiB by default) and is meant to live in a slot table set aside at
/// start-up; [`Pipe::reset`] reuses a slot in place.
///
/// How an SMB2 engine drives it:
///
/// | SMB2 request on the pipe handle | call | success | errors |
/// |---|---|---|---|
/// | WRITE | [`Pipe::write`] | SUCCESS, Count = bytes taken | [`RpcError::nt_status`] |
/// | READ | [`Pipe::read`] | SUCCESS, or STATUS_BUFFER_OVERFLOW with the data when `more` | [`RpcError::nt_status`] |
/// | IOCTL FSCTL_PIPE_TRANSCEIVE | [`Pipe::transceive`] | as READ | [`RpcError::nt_status`] |
/// | IOCTL FSCTL_PIPE_PEEK | [`Pipe::peek`] | SUCCESS, or BUFFER_OVERFLOW if cut short | |
/// | QUERY_INFO FilePipeLocalInformation | [`Pipe::readable`] for ReadDataAvailable | | |
pub struct Pipe<const OUT: usize = DEFAULT_OUT_CAPACITY> {
    rx: [u8; MAX_RECV_FRAG],
    rx_len: usize,
    core: Core<OUT>,
}

impl<const OUT: usize> fmt::Debug for Pipe<OUT> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipe")
            .field("kind", &self.core.kind)
            .field("assoc", &self.core.assoc)
            .field("contexts", &self.core.contexts)
            .field("max_frag", &self.core.max_frag)
            .field("rx_len", &self.rx_len)
            .field("unread", &self.core.tx.unread())
            .finish_non_exhaustive()
    }
}

impl<const OUT: usize> Pipe<OUT> {
    const CAPACITY_OK: () = assert!(OUT >= MIN_OUT_CAPACITY, "Pipe output buffer too small");

    /// A freshly opened pipe, waiting for a bind.
    pub const fn new(kind: PipeKind) -> Self {
        let () = Self::CAPACITY_OK;
        Self {
            rx: [0; MAX_RECV_FRAG],
            rx_len: 0,
            core: Core::new(kind),
        }
    }

    /// Makes this pipe a freshly opened `kind` pipe again, in place (for reusing a slot at
    /// CREATE; also what CLOSE amounts to).
    pub fn reset(&mut self, kind: PipeKind) {
        self.rx_len = 0;
        self.core.reset(kind);
    }

    /// The service this pipe serves.
    pub fn kind(&self) -> PipeKind {
        self.core.kind
    }

    /// Whether the association ended ([`RpcError::Broken`]): the engine may close the handle
    /// once the last reply has been read.
    pub fn is_broken(&self) -> bool {
        self.core.assoc == Assoc::Broken
    }

    /// Unread reply bytes, including fragments not rendered yet
    /// (FilePipeLocalInformation.ReadDataAvailable).
    pub fn readable(&self) -> usize {
        self.core.tx.unread()
    }

    /// Takes bytes the client wrote to the pipe (an SMB2 WRITE): any number of PDUs or parts of
    /// them. Every complete PDU is answered at once into the output buffer, which the client
    /// then drains with [`Pipe::read`]. Malformed PDUs are answered with a fault or bind_nak,
    /// never an error here.
    ///
    /// Returns the bytes taken: all of `data`, unless a new PDU starts while an earlier reply
    /// is still unread. Then it stops before that PDU and returns a short count, or
    /// [`RpcError::Busy`] if it took nothing; the rest can be written after the reply is read.
    /// (Real clients never get there: they read each reply before sending the next request.)
    /// After a protocol error the rest of `data` is discarded and later writes fail with
    /// [`RpcError::Broken`].
    pub fn write(&mut self, src: &dyn ShareSource, data: &[u8]) -> Result<usize, RpcError> {
        if self.is_broken() {
            return Err(RpcError::Broken);
        }
        let mut pos = 0;
        loop {
            if self.rx_len >= HEADER_LEN {
                let need = frame_len(&self.rx[..HEADER_LEN]);
                if need.is_none_or(|n| self.rx_len == n) {
                    match need {
                        None => self.core.framing_error(&self.rx[..HEADER_LEN]),
                        Some(n) => self.core.handle_pdu(src, &self.rx[..n]),
                    }
                    self.rx_len = 0;
                    if self.is_broken() {
                        return Ok(data.len());
                    }
                }
            }
            if pos == data.len() {
                return Ok(pos);
            }
            if self.rx_len == 0 && !self.core.tx.is_idle() {
                // A new PDU while the last reply is unread: leave it to a later write. (A
                // partly received PDU always started with the queue empty, and only a
                // complete PDU fills the queue, so it never has to wait.)
                return if pos == 0 {
                    Err(RpcError::Busy)
                } else {
                    Ok(pos)
                };
            }
            let want = if self.rx_len < HEADER_LEN {
                HEADER_LEN
            } else {
                frame_len(&self.rx[..HEADER_LEN]).unwrap_or(HEADER_LEN)
            };
            let take = want.saturating_sub(self.rx_len).min(data.len() - pos);
            self.rx[self.rx_len..self.rx_len + take].copy_from_slice(&data[pos..pos + take]);
            self.rx_len += take;
            pos += take;
        }
    }

    /// Reads reply bytes (an SMB2 READ), at most one message (PDU) at a time, as a
    /// message-mode pipe does: a reply in several fragments takes several reads, and a
    /// fragment larger than `out` is returned in pieces with [`ReadOutcome::more`] set.
    /// `src` is asked again when the next fragments of a long reply are rendered; it must
    /// answer as it did when the request was written (otherwise the call ends in a fault).
    ///
    /// [`RpcError::Empty`] when nothing is queued (the client read without writing a request
    /// first), [`RpcError::Broken`] when the association ended and its last reply was read.
    pub fn read(&mut self, src: &dyn ShareSource, out: &mut [u8]) -> Result<ReadOutcome, RpcError> {
        let tx = &mut self.core.tx;
        if !tx.fill(src) {
            return Err(if self.core.assoc == Assoc::Broken {
                RpcError::Broken
            } else {
                RpcError::Empty
            });
        }
        if tx.msg_left == 0 {
            tx.msg_left = tx.frag_len_at(tx.pos);
        }
        let n = out.len().min(tx.msg_left);
        out[..n].copy_from_slice(&tx.buf[tx.pos..tx.pos + n]);
        tx.pos += n;
        tx.msg_left -= n;
        let more = tx.msg_left > 0;
        if tx.is_empty() {
            // Rewind for the next batch or reply; a reply in progress stays pending.
            tx.len = 0;
            tx.pos = 0;
        }
        Ok(ReadOutcome { len: n, more })
    }

    /// FSCTL_PIPE_TRANSCEIVE: writes `input` (one PDU, normally a request's only or last
    /// fragment) and reads the first message of the reply into `out` (sized by the IOCTL's
    /// MaxOutputResponse). [`RpcError::Busy`] if an earlier reply is still unread, as
    /// [MS-FSCC] 2.3.49 requires; a reply fragment longer than `out` sets
    /// [`ReadOutcome::more`] (STATUS_BUFFER_OVERFLOW) and the rest is read with READ.
    pub fn transceive(
        &mut self,
        src: &dyn ShareSource,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<ReadOutcome, RpcError> {
        if !self.core.tx.is_idle() {
            return Err(RpcError::Busy);
        }
        self.write(src, input)?;
        self.read(src, out)
    }

    /// Copies the unread part of the current message into `out` without consuming it
    /// (FSCTL_PIPE_PEEK). May render the next fragments of a long reply, hence `src`.
    pub fn peek(&mut self, src: &dyn ShareSource, out: &mut [u8]) -> Peek {
        let tx = &mut self.core.tx;
        if !tx.fill(src) {
            return Peek {
                len: 0,
                available: 0,
                messages: 0,
                message_len: 0,
            };
        }
        let message_len = if tx.msg_left == 0 {
            tx.frag_len_at(tx.pos)
        } else {
            tx.msg_left
        };
        let len = out.len().min(message_len);
        out[..len].copy_from_slice(&tx.buf[tx.pos..tx.pos + len]);
        let mut messages = 1;
        let mut at = tx.pos + message_len;
        while at < tx.len {
            at += tx.frag_len_at(at);
            messages += 1;
        }
        if let Some(p) = tx.pending {
            messages += frag_count(p.stub_len - p.sent, payload_per_frag(p.max_frag));
        }
        Peek {
            len,
            available: tx.unread(),
            messages,
            message_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_names() {
        assert_eq!(PipeKind::from_name("srvsvc"), Some(PipeKind::Srvsvc));
        assert_eq!(PipeKind::from_name("\\SRVSVC"), Some(PipeKind::Srvsvc));
        assert_eq!(
            PipeKind::from_name("\\PIPE\\wkssvc"),
            Some(PipeKind::Wkssvc)
        );
        assert_eq!(PipeKind::from_name("pipe\\WksSvc"), Some(PipeKind::Wkssvc));
        assert_eq!(PipeKind::from_name("lsarpc"), None);
        assert_eq!(PipeKind::from_name("srvsvc\0"), None);
        assert_eq!(PipeKind::from_name("\\\\srvsvc"), None);
        assert_eq!(PipeKind::from_name("s\u{e9}rvsvc"), None);
        assert_eq!(PipeKind::from_name("a_very_long_pipe_name_indeed"), None);
        let utf16: std::vec::Vec<u8> = "SrvSvc".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(PipeKind::from_utf16le(&utf16), Some(PipeKind::Srvsvc));
        assert_eq!(PipeKind::from_utf16le(&utf16[..11]), None);
        assert_eq!(PipeKind::from_utf16le(&[0x00, 0xd8]), None);
    }

    #[test]
    fn fragment_arithmetic() {
        assert_eq!(negotiate_frag(4280, 4280), 4280);
        assert_eq!(negotiate_frag(5840, 5840), 4280);
        assert_eq!(negotiate_frag(100, 4280), 1432);
        assert_eq!(negotiate_frag(2049, 3000), 2048);
        assert_eq!(payload_per_frag(4280), 4256);
        assert_eq!(payload_per_frag(1432), 1408);
        assert_eq!(framed_len(0, 4280), 24);
        assert_eq!(framed_len(4256, 4280), 4280);
        assert_eq!(framed_len(4257, 4280), 4257 + 48);
    }

    #[test]
    fn error_statuses() {
        assert_eq!(RpcError::Busy.nt_status(), 0xC000_00AE);
        assert_eq!(RpcError::Empty.nt_status(), 0xC000_00D9);
        assert_eq!(RpcError::Broken.nt_status(), 0xC000_00B0);
    }
}
