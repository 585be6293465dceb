//! [`TestClient`]: builds SMB2 requests byte by byte, sends them through
//! [`Server::handle_frame`](smb_proto::Server::handle_frame) like a driver would, and parses
//! what comes back. It plays a Windows-like client: SMB 3.1.1 with preauth integrity,
//! SPNEGO/NTLMv2 with MIC and mechListMIC, signing of every request once the session has keys.

use smb_crypto::{derive_keys, Cipher, PreauthHash, Signer, SigningAlgo};
use smb_proto::{ConnId, Disconnect};
use smb_wire::create::{access, share_access};
use smb_wire::header::{flags, Command, PROTOCOL_ID};
use smb_wire::ids::dialect;
use smb_wire::negotiate::{capabilities, context_type, security_mode};
use smb_wire::{FileId, NtStatus, HEADER_LEN};

use crate::ntlm::{self, NtlmClient, NtlmSecurity, OID_NTLMSSP};
use crate::server::TestServer;

fn put16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}
fn get16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn get32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
/// Checked little-endian reads, for answers from servers that are not under test.
pub(crate) fn le16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
pub(crate) fn le32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn get64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// Rounds up to a multiple of 8.
pub fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// UTF-16LE bytes of `s`.
pub fn utf16(s: &str) -> Vec<u8> {
    ntlm::utf16(s)
}

/// Credits a payload of `len` bytes costs ([MS-SMB2] 3.1.5.2).
pub fn credits_for(len: usize) -> u16 {
    (1 + len.saturating_sub(1) / 65536) as u16
}

/// FileInformationClass values used by the tests ([MS-FSCC] 2.4).
pub mod class {
    pub const DIRECTORY: u8 = 1;
    pub const FULL_DIRECTORY: u8 = 2;
    pub const BOTH_DIRECTORY: u8 = 3;
    pub const BASIC: u8 = 4;
    pub const STANDARD: u8 = 5;
    pub const INTERNAL: u8 = 6;
    pub const NAME: u8 = 9;
    pub const RENAME: u8 = 10;
    pub const NAMES: u8 = 12;
    pub const DISPOSITION: u8 = 13;
    pub const POSITION: u8 = 14;
    pub const ALL: u8 = 18;
    pub const ALLOCATION: u8 = 19;
    pub const END_OF_FILE: u8 = 20;
    pub const NETWORK_OPEN: u8 = 34;
    pub const ID_BOTH_DIRECTORY: u8 = 37;
    pub const ID_FULL_DIRECTORY: u8 = 38;
    /// FileFsSizeInformation (info type FILESYSTEM).
    pub const FS_SIZE: u8 = 3;
    /// FileFsFullSizeInformation (info type FILESYSTEM).
    pub const FS_FULL_SIZE: u8 = 7;
}

/// InfoType values.
pub mod info_type {
    pub const FILE: u8 = 1;
    pub const FILESYSTEM: u8 = 2;
    pub const SECURITY: u8 = 3;
    pub const QUOTA: u8 = 4;
}

/// One request: command, body (offsets in it count from the start of the SMB2 header, as on
/// the wire) and header overrides. `None` fields are filled in by the client.
#[derive(Debug, Clone)]
pub struct Req {
    pub command: Command,
    pub body: Vec<u8>,
    pub flags: u32,
    pub credit_charge: Option<u16>,
    pub credit_request: Option<u16>,
    pub message_id: Option<u64>,
    pub session_id: Option<u64>,
    pub tree_id: Option<u32>,
    /// Sign it (`None`: when the client signs).
    pub sign: Option<bool>,
    /// Bytes the payload-dependent charge is computed from (READ/WRITE/QUERY_DIRECTORY).
    pub payload: usize,
}

impl Req {
    /// A request with a raw body.
    pub fn new(command: Command, body: Vec<u8>) -> Self {
        Self {
            command,
            body,
            flags: 0,
            credit_charge: None,
            credit_request: None,
            message_id: None,
            session_id: None,
            tree_id: None,
            sign: None,
            payload: 0,
        }
    }

    /// Marks it related to the previous element of a compound.
    pub fn related(mut self) -> Self {
        self.flags |= flags::RELATED_OPERATIONS;
        self
    }
    /// Sets the message id.
    pub fn mid(mut self, id: u64) -> Self {
        self.message_id = Some(id);
        self
    }
    /// Sets CreditCharge.
    pub fn charge(mut self, n: u16) -> Self {
        self.credit_charge = Some(n);
        self
    }
    /// Sets CreditRequest.
    pub fn credits(mut self, n: u16) -> Self {
        self.credit_request = Some(n);
        self
    }
    /// Sets the session id.
    pub fn sid(mut self, id: u64) -> Self {
        self.session_id = Some(id);
        self
    }
    /// Sets the tree id.
    pub fn tid(mut self, id: u32) -> Self {
        self.tree_id = Some(id);
        self
    }
    /// Forces signing on or off.
    pub fn signed(mut self, on: bool) -> Self {
        self.sign = Some(on);
        self
    }

    /// The CreditCharge this request carries on a connection of `dialect` (0 before
    /// NEGOTIATE): its own if set, else 1 before NEGOTIATE, 0 on 2.0.2 and after that what its
    /// payload costs ([MS-SMB2] 3.2.4.1.5).
    pub fn charge_on(&self, dialect: u16) -> u16 {
        self.credit_charge.unwrap_or(match dialect {
            0 => 1,
            dialect::SMB2_02 => 0,
            _ => credits_for(self.payload),
        })
    }

    /// NEGOTIATE ([MS-SMB2] 2.2.3) with 3.1.1 contexts when given.
    pub fn negotiate(
        dialects: &[u16],
        security_mode: u16,
        capabilities: u32,
        guid: [u8; 16],
        contexts: &[(u16, Vec<u8>)],
    ) -> Self {
        let mut b = vec![0u8; 36];
        put16(&mut b, 0, 36);
        put16(&mut b, 2, dialects.len() as u16);
        put16(&mut b, 4, security_mode);
        put32(&mut b, 8, capabilities);
        b[12..28].copy_from_slice(&guid);
        for d in dialects {
            b.extend_from_slice(&d.to_le_bytes());
        }
        if !contexts.is_empty() {
            b.resize(align8(HEADER_LEN + b.len()) - HEADER_LEN, 0);
            let at = (HEADER_LEN + b.len()) as u32;
            put32(&mut b, 28, at);
            put16(&mut b, 32, contexts.len() as u16);
            for (i, (t, data)) in contexts.iter().enumerate() {
                if i > 0 {
                    b.resize(align8(HEADER_LEN + b.len()) - HEADER_LEN, 0);
                }
                b.extend_from_slice(&t.to_le_bytes());
                b.extend_from_slice(&(data.len() as u16).to_le_bytes());
                b.extend_from_slice(&[0; 4]);
                b.extend_from_slice(data);
            }
        }
        Self::new(Command::NEGOTIATE, b)
    }

    /// SESSION_SETUP ([MS-SMB2] 2.2.5) carrying `token`.
    pub fn session_setup(token: &[u8], security_mode: u8) -> Self {
        let mut b = vec![0u8; 24];
        put16(&mut b, 0, 25);
        b[3] = security_mode;
        put32(&mut b, 4, capabilities::DFS);
        put16(&mut b, 12, if token.is_empty() { 0 } else { 88 });
        put16(&mut b, 14, token.len() as u16);
        b.extend_from_slice(token);
        if token.is_empty() {
            b.push(0);
        }
        Self::new(Command::SESSION_SETUP, b)
    }

    /// Sets a SESSION_SETUP's PreviousSessionId.
    pub fn previous_session(mut self, id: u64) -> Self {
        if self.body.len() >= 24 {
            self.body[16..24].copy_from_slice(&id.to_le_bytes());
        }
        self
    }

    /// A request with the 4-byte body (LOGOFF, ECHO, TREE_DISCONNECT, CANCEL).
    pub fn empty(command: Command) -> Self {
        Self::new(command, vec![4, 0, 0, 0])
    }

    /// TREE_CONNECT ([MS-SMB2] 2.2.9) to the UNC `path`.
    pub fn tree_connect(path: &str) -> Self {
        let p = utf16(path);
        let mut b = vec![0u8; 8];
        put16(&mut b, 0, 9);
        put16(&mut b, 4, 72);
        put16(&mut b, 6, p.len() as u16);
        b.extend_from_slice(&p);
        if p.is_empty() {
            b.push(0);
        }
        Self::new(Command::TREE_CONNECT, b)
    }

    /// CLOSE ([MS-SMB2] 2.2.15).
    pub fn close(fid: FileId, flags: u16) -> Self {
        let mut b = vec![0u8; 24];
        put16(&mut b, 0, 24);
        put16(&mut b, 2, flags);
        fid.write(&mut b[8..24]);
        Self::new(Command::CLOSE, b)
    }

    /// FLUSH ([MS-SMB2] 2.2.17).
    pub fn flush(fid: FileId) -> Self {
        let mut b = vec![0u8; 24];
        put16(&mut b, 0, 24);
        fid.write(&mut b[8..24]);
        Self::new(Command::FLUSH, b)
    }

    /// READ ([MS-SMB2] 2.2.19).
    pub fn read(fid: FileId, offset: u64, length: u32, minimum: u32) -> Self {
        let mut b = vec![0u8; 49];
        put16(&mut b, 0, 49);
        b[2] = 0x50;
        put32(&mut b, 4, length);
        put64(&mut b, 8, offset);
        fid.write(&mut b[16..32]);
        put32(&mut b, 32, minimum);
        let mut r = Self::new(Command::READ, b);
        r.payload = length as usize;
        r
    }

    /// WRITE ([MS-SMB2] 2.2.21).
    pub fn write(fid: FileId, offset: u64, data: &[u8], flags: u32) -> Self {
        let mut b = vec![0u8; 48];
        put16(&mut b, 0, 49);
        put16(&mut b, 2, (HEADER_LEN + 48) as u16);
        put32(&mut b, 4, data.len() as u32);
        put64(&mut b, 8, offset);
        fid.write(&mut b[16..32]);
        put32(&mut b, 44, flags);
        b.extend_from_slice(data);
        if data.is_empty() {
            b.push(0);
        }
        let mut r = Self::new(Command::WRITE, b);
        r.payload = data.len();
        r
    }

    /// QUERY_DIRECTORY ([MS-SMB2] 2.2.33).
    pub fn query_directory(
        fid: FileId,
        class: u8,
        flags: u8,
        pattern: &str,
        output_len: u32,
    ) -> Self {
        let p = utf16(pattern);
        let mut b = vec![0u8; 32];
        put16(&mut b, 0, 33);
        b[2] = class;
        b[3] = flags;
        fid.write(&mut b[8..24]);
        put16(&mut b, 24, if p.is_empty() { 0 } else { 96 });
        put16(&mut b, 26, p.len() as u16);
        put32(&mut b, 28, output_len);
        b.extend_from_slice(&p);
        if p.is_empty() {
            b.push(0);
        }
        let mut r = Self::new(Command::QUERY_DIRECTORY, b);
        r.payload = output_len as usize;
        r
    }

    /// QUERY_INFO ([MS-SMB2] 2.2.37).
    pub fn query_info(
        fid: FileId,
        info_type: u8,
        class: u8,
        output_len: u32,
        additional: u32,
        input: &[u8],
    ) -> Self {
        let mut b = vec![0u8; 40];
        put16(&mut b, 0, 41);
        b[2] = info_type;
        b[3] = class;
        put32(&mut b, 4, output_len);
        put16(&mut b, 8, if input.is_empty() { 0 } else { 104 });
        put32(&mut b, 12, input.len() as u32);
        put32(&mut b, 16, additional);
        fid.write(&mut b[24..40]);
        b.extend_from_slice(input);
        if input.is_empty() {
            b.push(0);
        }
        let mut r = Self::new(Command::QUERY_INFO, b);
        r.payload = output_len as usize;
        r
    }

    /// SET_INFO ([MS-SMB2] 2.2.39).
    pub fn set_info(fid: FileId, info_type: u8, class: u8, buffer: &[u8], additional: u32) -> Self {
        let mut b = vec![0u8; 32];
        put16(&mut b, 0, 33);
        b[2] = info_type;
        b[3] = class;
        put32(&mut b, 4, buffer.len() as u32);
        put16(&mut b, 8, 96);
        put32(&mut b, 12, additional);
        fid.write(&mut b[16..32]);
        b.extend_from_slice(buffer);
        if buffer.is_empty() {
            b.push(0);
        }
        let mut r = Self::new(Command::SET_INFO, b);
        r.payload = buffer.len();
        r
    }

    /// IOCTL ([MS-SMB2] 2.2.31).
    pub fn ioctl(fid: FileId, ctl_code: u32, input: &[u8], max_output: u32, flags: u32) -> Self {
        let mut b = vec![0u8; 56];
        put16(&mut b, 0, 57);
        put32(&mut b, 4, ctl_code);
        fid.write(&mut b[8..24]);
        put32(&mut b, 24, if input.is_empty() { 0 } else { 120 });
        put32(&mut b, 28, input.len() as u32);
        put32(&mut b, 44, max_output);
        put32(&mut b, 48, flags);
        b.extend_from_slice(input);
        if input.is_empty() {
            b.push(0);
        }
        let mut r = Self::new(Command::IOCTL, b);
        r.payload = input.len().max(max_output as usize);
        r
    }

    /// LOCK ([MS-SMB2] 2.2.26) with `(offset, length, flags)` elements.
    pub fn lock(fid: FileId, locks: &[(u64, u64, u32)]) -> Self {
        let mut b = vec![0u8; 24];
        put16(&mut b, 0, 48);
        put16(&mut b, 2, locks.len() as u16);
        fid.write(&mut b[8..24]);
        for (o, l, f) in locks {
            b.extend_from_slice(&o.to_le_bytes());
            b.extend_from_slice(&l.to_le_bytes());
            b.extend_from_slice(&f.to_le_bytes());
            b.extend_from_slice(&[0; 4]);
        }
        Self::new(Command::LOCK, b)
    }

    /// CHANGE_NOTIFY ([MS-SMB2] 2.2.35).
    pub fn change_notify(fid: FileId, output_len: u32, filter: u32) -> Self {
        let mut b = vec![0u8; 32];
        put16(&mut b, 0, 32);
        put32(&mut b, 4, output_len);
        fid.write(&mut b[8..24]);
        put32(&mut b, 24, filter);
        Self::new(Command::CHANGE_NOTIFY, b)
    }
}

/// CREATE parameters ([MS-SMB2] 2.2.13); [`Create::req`] encodes them.
#[derive(Debug, Clone)]
pub struct Create {
    /// UTF-16LE name bytes (raw, so tests can send unpaired surrogates or odd bytes).
    pub name: Vec<u8>,
    pub oplock: u8,
    pub impersonation: u32,
    pub desired_access: u32,
    pub file_attributes: u32,
    pub share_access: u32,
    pub disposition: u32,
    pub options: u32,
    /// (name, data) create contexts.
    pub contexts: Vec<(Vec<u8>, Vec<u8>)>,
}

/// CreateDisposition values.
pub mod disposition {
    pub const SUPERSEDE: u32 = 0;
    pub const OPEN: u32 = 1;
    pub const CREATE: u32 = 2;
    pub const OPEN_IF: u32 = 3;
    pub const OVERWRITE: u32 = 4;
    pub const OVERWRITE_IF: u32 = 5;
}

impl Create {
    /// Open-or-create `name` for read, write and delete, sharing everything.
    pub fn new(name: &str) -> Self {
        Self {
            name: utf16(name),
            oplock: 0,
            impersonation: 2,
            desired_access: access::GENERIC_READ | access::GENERIC_WRITE | access::DELETE,
            file_attributes: 0,
            share_access: share_access::ALL,
            disposition: disposition::OPEN_IF,
            options: 0,
            contexts: Vec::new(),
        }
    }
    pub fn access(mut self, a: u32) -> Self {
        self.desired_access = a;
        self
    }
    pub fn disposition(mut self, d: u32) -> Self {
        self.disposition = d;
        self
    }
    pub fn options(mut self, o: u32) -> Self {
        self.options = o;
        self
    }
    pub fn share(mut self, s: u32) -> Self {
        self.share_access = s;
        self
    }
    pub fn attributes(mut self, a: u32) -> Self {
        self.file_attributes = a;
        self
    }
    pub fn context(mut self, name: &[u8], data: &[u8]) -> Self {
        self.contexts.push((name.to_vec(), data.to_vec()));
        self
    }

    /// The request.
    pub fn req(&self) -> Req {
        let mut b = vec![0u8; 56];
        put16(&mut b, 0, 57);
        b[3] = self.oplock;
        put32(&mut b, 4, self.impersonation);
        put32(&mut b, 24, self.desired_access);
        put32(&mut b, 28, self.file_attributes);
        put32(&mut b, 32, self.share_access);
        put32(&mut b, 36, self.disposition);
        put32(&mut b, 40, self.options);
        put16(&mut b, 44, (HEADER_LEN + 56) as u16);
        put16(&mut b, 46, self.name.len() as u16);
        b.extend_from_slice(&self.name);
        if !self.contexts.is_empty() {
            b.resize(align8(HEADER_LEN + b.len()) - HEADER_LEN, 0);
            let start = b.len();
            put32(&mut b, 48, (HEADER_LEN + start) as u32);
            let mut prev: Option<usize> = None;
            for (name, data) in &self.contexts {
                let pos = align8(b.len() - start) + start;
                b.resize(pos, 0);
                if let Some(p) = prev {
                    put32(&mut b, p, (pos - p) as u32);
                }
                let data_off = align8(16 + name.len());
                let mut c = vec![0u8; data_off];
                put16(&mut c, 4, 16);
                put16(&mut c, 6, name.len() as u16);
                put16(
                    &mut c,
                    10,
                    if data.is_empty() { 0 } else { data_off as u16 },
                );
                put32(&mut c, 12, data.len() as u32);
                c[16..16 + name.len()].copy_from_slice(name);
                c.extend_from_slice(data);
                b.extend_from_slice(&c);
                prev = Some(pos);
            }
            let len = (b.len() - start) as u32;
            put32(&mut b, 52, len);
        }
        if b.len() == 56 {
            b.push(0);
        }
        Req::new(Command::CREATE, b)
    }
}

/// One response message of a (possibly compound) response.
#[derive(Debug, Clone)]
pub struct Msg {
    /// The element's bytes: header, body and any padding up to the next element.
    pub bytes: Vec<u8>,
    /// Whether the signature verified (`None`: not signed, or no key to check it with).
    pub sig_ok: Option<bool>,
}

impl Msg {
    pub fn status(&self) -> NtStatus {
        NtStatus(get32(&self.bytes, 8))
    }
    pub fn command(&self) -> Command {
        Command(get16(&self.bytes, 12))
    }
    pub fn credit_charge(&self) -> u16 {
        get16(&self.bytes, 6)
    }
    pub fn credits(&self) -> u16 {
        get16(&self.bytes, 14)
    }
    pub fn flags(&self) -> u32 {
        get32(&self.bytes, 16)
    }
    pub fn next_command(&self) -> u32 {
        get32(&self.bytes, 20)
    }
    pub fn message_id(&self) -> u64 {
        get64(&self.bytes, 24)
    }
    pub fn tree_id(&self) -> u32 {
        get32(&self.bytes, 36)
    }
    pub fn session_id(&self) -> u64 {
        get64(&self.bytes, 40)
    }
    pub fn is_signed(&self) -> bool {
        self.flags() & flags::SIGNED != 0
    }
    pub fn is_related(&self) -> bool {
        self.flags() & flags::RELATED_OPERATIONS != 0
    }
    /// The body (after the 64-byte header).
    pub fn body(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }
    /// `len` bytes at `off` from the start of the header, checked.
    pub fn slice(&self, off: usize, len: usize) -> &[u8] {
        self.bytes.get(off..off + len).unwrap_or_else(|| {
            panic!(
                "response buffer {off}+{len} beyond the {}-byte message",
                self.bytes.len()
            )
        })
    }

    /// `len` bytes at `off` from the start of the header, or an error naming `what`.
    pub(crate) fn field(&self, off: usize, len: usize, what: &str) -> Result<&[u8], String> {
        off.checked_add(len)
            .and_then(|end| self.bytes.get(off..end))
            .ok_or_else(|| {
                format!(
                    "{:?} response: {what} ({off}+{len}) beyond the {}-byte message",
                    self.command(),
                    self.bytes.len()
                )
            })
    }

    /// Panics with the command and status unless the status is `st`.
    #[track_caller]
    pub fn expect(&self, st: NtStatus) -> &Self {
        assert_eq!(
            self.status(),
            st,
            "{:?} mid {} returned {:?}, expected {:?}",
            self.command(),
            self.message_id(),
            self.status(),
            st
        );
        self
    }

    /// Panics unless the status is SUCCESS.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect(NtStatus::SUCCESS)
    }

    /// The security buffer of a NEGOTIATE or SESSION_SETUP response.
    pub fn security_buffer(&self) -> &[u8] {
        let b = self.body();
        let (off, len) = if self.command() == Command::NEGOTIATE {
            (get16(b, 56), get16(b, 58))
        } else {
            (get16(b, 4), get16(b, 6))
        };
        self.slice(usize::from(off), usize::from(len))
    }

    /// SessionFlags of a SESSION_SETUP response.
    pub fn session_flags(&self) -> u16 {
        get16(self.body(), 2)
    }

    /// FileId of a CREATE response.
    pub fn file_id(&self) -> FileId {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.body()[64..80]);
        FileId::from_bytes(a)
    }
    /// CreateAction of a CREATE response.
    pub fn create_action(&self) -> u32 {
        get32(self.body(), 4)
    }
    /// EndofFile of a CREATE response.
    pub fn end_of_file(&self) -> u64 {
        get64(self.body(), 48)
    }
    /// FileAttributes of a CREATE response.
    pub fn file_attributes(&self) -> u32 {
        get32(self.body(), 56)
    }

    /// The data of a READ response.
    pub fn data(&self) -> &[u8] {
        let b = self.body();
        self.slice(usize::from(b[2]), get32(b, 4) as usize)
    }

    /// Count of a WRITE response.
    pub fn write_count(&self) -> u32 {
        get32(self.body(), 4)
    }

    /// The output buffer of a QUERY_INFO or QUERY_DIRECTORY response.
    pub fn output(&self) -> &[u8] {
        let b = self.body();
        let len = get32(b, 4) as usize;
        if len == 0 {
            return &[];
        }
        self.slice(usize::from(get16(b, 2)), len)
    }

    /// The names in a QUERY_DIRECTORY response of `class`.
    pub fn dir_names(&self, class: u8) -> Vec<String> {
        let name_at = match class {
            class::DIRECTORY => 64,
            class::FULL_DIRECTORY => 68,
            class::BOTH_DIRECTORY => 94,
            class::NAMES => 12,
            class::ID_BOTH_DIRECTORY => 104,
            class::ID_FULL_DIRECTORY => 80,
            _ => panic!("unknown directory class {class}"),
        };
        let len_at = if class == class::NAMES { 8 } else { 60 };
        let out = self.output();
        let mut names = Vec::new();
        let mut pos = 0;
        loop {
            let e = &out[pos..];
            let n = get32(e, len_at) as usize;
            let units: Vec<u16> = e[name_at..name_at + n]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            names.push(String::from_utf16(&units).expect("entry name is UTF-16"));
            let next = get32(e, 0) as usize;
            if next == 0 {
                break;
            }
            assert_eq!(next % 8, 0, "directory entries are 8-byte aligned");
            pos += next;
        }
        names
    }
}

/// Splits a response payload into its elements. Errors describe a malformed chain.
pub fn split_chain(payload: &[u8]) -> Result<Vec<Msg>, String> {
    let mut msgs = Vec::new();
    let mut off = 0;
    loop {
        let rest = &payload[off..];
        if rest.len() < HEADER_LEN {
            return Err(format!("response element at {off} shorter than a header"));
        }
        if rest[..4] != PROTOCOL_ID || get16(rest, 4) != 64 {
            return Err(format!("response element at {off} has a bad header"));
        }
        let next = get32(rest, 20) as usize;
        if next == 0 {
            msgs.push(Msg {
                bytes: rest.to_vec(),
                sig_ok: None,
            });
            return Ok(msgs);
        }
        if !next.is_multiple_of(8) || next < HEADER_LEN || next > rest.len() {
            return Err(format!("response NextCommand {next} at {off} is invalid"));
        }
        msgs.push(Msg {
            bytes: rest[..next].to_vec(),
            sig_ok: None,
        });
        off += next;
    }
}

/// How to NEGOTIATE.
#[derive(Debug, Clone)]
pub struct NegotiateOpts {
    pub dialects: Vec<u16>,
    pub security_mode: u16,
    pub capabilities: u32,
    pub guid: [u8; 16],
    /// Send the SHA-512 preauth context (3.1.1).
    pub preauth: bool,
    /// Encryption cipher ids offered (3.1.1), none to omit the context.
    pub ciphers: Vec<u16>,
    /// Signing algorithm ids offered (3.1.1), none to omit the context.
    pub signing: Vec<u16>,
}

impl Default for NegotiateOpts {
    fn default() -> Self {
        Self {
            dialects: vec![
                dialect::SMB2_02,
                dialect::SMB2_10,
                dialect::SMB3_00,
                dialect::SMB3_02,
                dialect::SMB3_11,
            ],
            security_mode: security_mode::SIGNING_ENABLED,
            capabilities: capabilities::DFS | capabilities::LARGE_MTU | capabilities::ENCRYPTION,
            guid: *b"testkit-client-0",
            preauth: true,
            ciphers: vec![Cipher::Aes128Gcm.id(), Cipher::Aes128Ccm.id()],
            signing: vec![SigningAlgo::AesGmac.id(), SigningAlgo::AesCmac.id()],
        }
    }
}

impl NegotiateOpts {
    /// Only `d` is offered.
    pub fn dialect(d: u16) -> Self {
        Self {
            dialects: vec![d],
            ..Self::default()
        }
    }

    /// The request.
    pub fn req(&self) -> Req {
        let mut ctx = Vec::new();
        if self.dialects.contains(&dialect::SMB3_11) {
            if self.preauth {
                let mut d = vec![1, 0, 32, 0, 1, 0];
                d.extend_from_slice(&[0x5a; 32]);
                ctx.push((context_type::PREAUTH_INTEGRITY_CAPABILITIES, d));
            }
            if !self.ciphers.is_empty() {
                let mut d = (self.ciphers.len() as u16).to_le_bytes().to_vec();
                for c in &self.ciphers {
                    d.extend_from_slice(&c.to_le_bytes());
                }
                ctx.push((context_type::ENCRYPTION_CAPABILITIES, d));
            }
            if !self.signing.is_empty() {
                let mut d = (self.signing.len() as u16).to_le_bytes().to_vec();
                for c in &self.signing {
                    d.extend_from_slice(&c.to_le_bytes());
                }
                ctx.push((context_type::SIGNING_CAPABILITIES, d));
            }
        }
        Req::negotiate(
            &self.dialects,
            self.security_mode,
            self.capabilities,
            self.guid,
            &ctx,
        )
    }
}

/// How to log on.
#[derive(Debug, Clone)]
pub struct LoginOpts {
    pub ntlm: NtlmClient,
    /// Wrap NTLMSSP in SPNEGO (otherwise raw NTLMSSP).
    pub spnego: bool,
    /// Send a mechListMIC with the AUTHENTICATE token.
    pub mech_list_mic: bool,
    /// SESSION_SETUP SecurityMode.
    pub security_mode: u8,
    /// PreviousSessionId: the session this logon replaces after a reconnect (0: none).
    pub previous_session_id: u64,
}

impl LoginOpts {
    /// A Windows-like logon.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            ntlm: NtlmClient::new(user, password),
            spnego: true,
            mech_list_mic: true,
            security_mode: security_mode::SIGNING_ENABLED as u8,
            previous_session_id: 0,
        }
    }

    /// An anonymous logon.
    pub fn anonymous() -> Self {
        Self {
            ntlm: NtlmClient::anonymous(),
            spnego: true,
            mech_list_mic: false,
            security_mode: security_mode::SIGNING_ENABLED as u8,
            previous_session_id: 0,
        }
    }
}

// What TestClient and TcpClient share: request headers and signing, the NEGOTIATE answer and
// the SPNEGO/NTLM logon. Each client adds only its transport and how it reports a failure.

/// What [`encode_chain`] fills into the request headers: the client's state.
pub(crate) struct Headers<'a> {
    pub dialect: u16,
    pub credit_request: u16,
    pub session_id: u64,
    pub tree_id: u32,
    /// Sign the requests of a session (but NEGOTIATE and SESSION_SETUP) unless one says
    /// otherwise.
    pub sign: bool,
    /// The next MessageId, advanced by every request that has no own one.
    pub next_mid: &'a mut u64,
    /// Credits granted minus charged, charged for every request.
    pub credits: &'a mut i64,
}

/// [`Headers`] from a client's public fields of the same names (both clients have them).
macro_rules! chain_headers {
    ($c:expr) => {
        $crate::client::Headers {
            dialect: $c.dialect,
            credit_request: $c.credit_request,
            session_id: $c.session_id,
            tree_id: $c.tree_id,
            sign: $c.sign && $c.signer.is_some(),
            next_mid: &mut $c.next_mid,
            credits: &mut $c.credits,
        }
    };
}
pub(crate) use chain_headers;

/// Encodes `reqs` as one message (a compound chain when more than one): fills the headers
/// (MessageIds, charges, SIGNED flags) from `h`, pads every element but the last to 8 bytes
/// and sets NextCommand. Returns the message and where each element starts; signing is
/// [`sign_chain`]'s.
pub(crate) fn encode_chain(reqs: &[Req], h: Headers<'_>) -> (Vec<u8>, Vec<usize>) {
    let mut frame = Vec::with_capacity(reqs.iter().map(|r| 72 + r.body.len()).sum());
    let mut starts = Vec::with_capacity(reqs.len());
    for (i, r) in reqs.iter().enumerate() {
        let start = frame.len();
        starts.push(start);
        let mut hdr = [0u8; HEADER_LEN];
        hdr[..4].copy_from_slice(&PROTOCOL_ID);
        put16(&mut hdr, 4, 64);
        let charge = r.charge_on(h.dialect);
        put16(&mut hdr, 6, charge);
        put16(&mut hdr, 12, r.command.0);
        put16(&mut hdr, 14, r.credit_request.unwrap_or(h.credit_request));
        let mid = r.message_id.unwrap_or_else(|| {
            let m = *h.next_mid;
            *h.next_mid += u64::from(charge.max(1));
            m
        });
        *h.credits -= i64::from(charge.max(1));
        put64(&mut hdr, 24, mid);
        let sid = r.session_id.unwrap_or(h.session_id);
        put32(&mut hdr, 36, r.tree_id.unwrap_or(h.tree_id));
        put64(&mut hdr, 40, sid);
        let sign = r.sign.unwrap_or(
            h.sign
                && sid != 0
                && r.command != Command::NEGOTIATE
                && r.command != Command::SESSION_SETUP,
        );
        let mut f = r.flags;
        if sign {
            f |= flags::SIGNED;
        }
        put32(&mut hdr, 16, f);
        frame.extend_from_slice(&hdr);
        frame.extend_from_slice(&r.body);
        if i + 1 < reqs.len() {
            frame.resize(start + align8(frame.len() - start), 0);
            let len = frame.len() - start;
            put32(&mut frame[start..], 20, len as u32);
        }
    }
    (frame, starts)
}

/// Signs every element of `frame` (starting at `starts`) flagged SIGNED, over its bytes up to
/// the next one; with no `signer` its signature becomes 16 `placeholder` bytes. Elements a
/// corrupted frame no longer holds whole are skipped.
pub(crate) fn sign_chain(
    frame: &mut [u8],
    starts: &[usize],
    signer: Option<&Signer>,
    placeholder: u8,
) {
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(frame.len());
        if end > frame.len() || start + HEADER_LEN > end {
            continue;
        }
        if get32(frame, start + 16) & flags::SIGNED != 0 {
            match signer {
                Some(s) => s.sign(&mut frame[start..end]),
                None => frame[start + 48..start + 64].fill(placeholder),
            }
        }
    }
}

/// What a successful NEGOTIATE response tells the client ([MS-SMB2] 3.2.5.2).
#[derive(Debug)]
pub(crate) struct Negotiated {
    pub security_mode: u16,
    pub dialect: u16,
    pub max_read: u32,
    pub max_write: u32,
    /// HMAC-SHA256 on 2.x, AES-CMAC on 3.x unless a 3.1.1 SIGNING_CAPABILITIES says otherwise.
    pub signing_algo: SigningAlgo,
    /// The cipher of a 3.1.1 ENCRYPTION_CAPABILITIES context, if there is one (`Some(None)`:
    /// one the client does not know).
    pub cipher: Option<Option<Cipher>>,
    /// 3.1.1: the connection's preauth hash over the request and this response.
    pub preauth: Option<PreauthHash>,
}

impl Negotiated {
    /// Reads the successful NEGOTIATE response `m` to `request` (the message as sent).
    /// Errors describe what is malformed.
    pub(crate) fn parse(request: &[u8], m: &Msg) -> Result<Self, String> {
        let b = m.field(HEADER_LEN, 64, "NEGOTIATE response body")?;
        let dialect = get16(b, 4);
        let mut n = Self {
            security_mode: get16(b, 2),
            dialect,
            max_read: get32(b, 32),
            max_write: get32(b, 36),
            signing_algo: match dialect {
                dialect::SMB2_02 | dialect::SMB2_10 => SigningAlgo::HmacSha256,
                _ => SigningAlgo::AesCmac,
            },
            cipher: None,
            preauth: None,
        };
        if dialect != dialect::SMB3_11 {
            return Ok(n);
        }
        let mut preauth = PreauthHash::new();
        preauth.update(request);
        preauth.update(&m.bytes);
        n.preauth = Some(preauth);
        let mut off = get32(b, 60) as usize;
        for _ in 0..get16(b, 6) {
            off = align8(off);
            let h = m.field(off, 8, "negotiate context header")?;
            let len = usize::from(get16(h, 2));
            let data = m.field(off + 8, len, "negotiate context")?;
            match get16(h, 0) {
                context_type::SIGNING_CAPABILITIES => {
                    let id = le16(data, 2).ok_or("short signing context")?;
                    n.signing_algo = SigningAlgo::from_id(id)
                        .ok_or_else(|| format!("unknown signing algorithm {id}"))?;
                }
                context_type::ENCRYPTION_CAPABILITIES => {
                    let id = le16(data, 2).ok_or("short encryption context")?;
                    n.cipher = Some(Cipher::from_id(id));
                }
                _ => {}
            }
            off += 8 + len;
        }
        Ok(n)
    }
}

/// A logon as [`LoginOpts`] asks, apart from the transport: the two SESSION_SETUP requests,
/// the checks of the server's answers and the new session's signer. The caller sends the
/// requests and adds them and the first response to [`preauth`](Self::preauth).
pub(crate) struct Logon<'a> {
    opts: &'a LoginOpts,
    /// The SPNEGO MechTypeList (what the mechListMIC covers).
    mech_types: Vec<u8>,
    /// The NTLM NEGOTIATE_MESSAGE (the AUTHENTICATE_MESSAGE's MIC covers it).
    negotiate: Vec<u8>,
    /// The session's preauth hash (3.1.1): the connection's, then the logon's messages.
    pub preauth: PreauthHash,
    /// The NTLM session key, once the AUTHENTICATE_MESSAGE is built.
    pub session_key: [u8; 16],
    /// NTLM session security for the mechListMIC (not for an anonymous logon).
    security: Option<NtlmSecurity>,
}

impl<'a> Logon<'a> {
    /// A logon on a connection whose preauth hash is `preauth`.
    pub(crate) fn new(opts: &'a LoginOpts, preauth: PreauthHash) -> Self {
        Self {
            opts,
            mech_types: ntlm::mech_type_list(&[OID_NTLMSSP]),
            negotiate: opts.ntlm.negotiate(),
            preauth,
            session_key: [0; 16],
            security: None,
        }
    }

    fn session_setup(&self, token: &[u8], sid: u64) -> Req {
        Req::session_setup(token, self.opts.security_mode)
            .previous_session(self.opts.previous_session_id)
            .sid(sid)
    }

    /// The first SESSION_SETUP: the NEGOTIATE_MESSAGE (in a NegTokenInit with SPNEGO).
    pub(crate) fn first(&self) -> Req {
        if self.opts.spnego {
            let token = ntlm::neg_token_init(&self.mech_types, Some(&self.negotiate));
            self.session_setup(&token, 0)
        } else {
            self.session_setup(&self.negotiate, 0)
        }
    }

    /// The second SESSION_SETUP, on session `sid`: the AUTHENTICATE_MESSAGE answering the
    /// CHALLENGE_MESSAGE in `sec` (the first response's security buffer), with SPNEGO in a
    /// NegTokenResp with the mechListMIC when asked for.
    pub(crate) fn second(&mut self, sec: &[u8], sid: u64) -> Result<Req, String> {
        let spnego;
        let challenge = if self.opts.spnego {
            spnego = ntlm::parse_neg_resp(sec).map_err(|e| format!("server NegTokenResp: {e}"))?;
            if spnego.state != Some(1) {
                return Err(format!(
                    "server NegTokenResp state {:?}, not accept-incomplete",
                    spnego.state
                ));
            }
            spnego
                .token
                .as_deref()
                .ok_or("server NegTokenResp without an NTLM challenge")?
        } else {
            sec
        };
        let done = self
            .opts
            .ntlm
            .authenticate(&self.negotiate, challenge)
            .map_err(|e| format!("server CHALLENGE_MESSAGE: {e}"))?;
        self.session_key = done.session_key;
        self.security = (!self.opts.ntlm.anonymous).then(|| done.security());
        if !self.opts.spnego {
            return Ok(self.session_setup(&done.msg, sid));
        }
        let mic = match (&mut self.security, self.opts.mech_list_mic) {
            (Some(s), true) => Some(s.sign(&self.mech_types)),
            _ => None,
        };
        let token = ntlm::neg_token_resp(None, Some(&done.msg), mic.as_ref().map(|m| &m[..]));
        Ok(self.session_setup(&token, sid))
    }

    /// The new session's signer ([MS-SMB2] 3.2.5.3.1) on a connection of `dialect`.
    pub(crate) fn signer(&self, dialect: u16, algo: SigningAlgo, cipher: Option<Cipher>) -> Signer {
        let keys = derive_keys(dialect, &self.session_key, &self.preauth.value, cipher);
        Signer::new(algo, &keys.signing)
    }

    /// Checks `sec`, the final response's security buffer: with SPNEGO an accept-completed
    /// NegTokenResp whose mechListMIC (when the client sent one) verifies. Without one the
    /// logon fails if `require_mic`, else passes.
    pub(crate) fn finish(&mut self, sec: &[u8], require_mic: bool) -> Result<(), String> {
        if !self.opts.spnego {
            return Ok(());
        }
        let r = ntlm::parse_neg_resp(sec).map_err(|e| format!("final NegTokenResp: {e}"))?;
        if r.state != Some(0) {
            return Err(format!(
                "final NegTokenResp state {:?}, not accept-completed",
                r.state
            ));
        }
        let (Some(s), true) = (&mut self.security, self.opts.mech_list_mic) else {
            return Ok(());
        };
        match r.mic {
            Some(mic) if s.verify_server(&self.mech_types, &mic) => Ok(()),
            Some(_) => Err("server mechListMIC does not verify".into()),
            None if require_mic => Err("server sent no mechListMIC".into()),
            None => Ok(()),
        }
    }
}

/// Checks the final SESSION_SETUP response `m` of a user logon with the new session's
/// `signer` (recording the result in [`Msg::sig_ok`]): it must verify if signed, and 3.1.1
/// must sign it.
pub(crate) fn check_final_signature(
    m: &mut Msg,
    signer: &Signer,
    dialect: u16,
) -> Result<(), &'static str> {
    if m.is_signed() {
        let ok = signer.verify(&mut m.bytes);
        m.sig_ok = Some(ok);
        if !ok {
            return Err("bad signature on the final SESSION_SETUP response");
        }
    } else if dialect == dialect::SMB3_11 {
        return Err("final SMB 3.1.1 SESSION_SETUP response is not signed");
    }
    Ok(())
}

/// A hook that corrupts outgoing frames (see [`TestClient::tamper`]).
pub type Tamper = Box<dyn FnMut(&mut Vec<u8>)>;

/// A client on one connection of a [`TestServer`].
pub struct TestClient {
    pub srv: TestServer,
    pub conn: ConnId,
    pub next_mid: u64,
    /// Credits granted minus credits charged.
    pub credits: i64,
    /// CreditRequest on every request.
    pub credit_request: u16,
    /// The negotiated dialect (0 before NEGOTIATE).
    pub dialect: u16,
    pub server_security_mode: u16,
    pub signing_algo: SigningAlgo,
    pub cipher: Option<Cipher>,
    pub max_read: u32,
    pub max_write: u32,
    /// Connection preauth hash (3.1.1).
    pub preauth: PreauthHash,
    pub session_id: u64,
    pub tree_id: u32,
    pub session_key: [u8; 16],
    pub signer: Option<Signer>,
    /// Sign requests when a signer exists.
    pub sign: bool,
    /// Panic on a signed response whose signature does not verify.
    pub check_signatures: bool,
    /// The engine asked for a disconnect; the connection is closed.
    pub closed: bool,
    /// Called on every frame [`TestClient::build`] assembles, before signing: lets fuzz tests
    /// corrupt traffic as an attacker holding the session key would.
    pub tamper: Option<Tamper>,
    /// Fuzz mode: a server answer the client cannot follow ends a logon quietly (returning
    /// that answer) instead of panicking, and signatures are recorded, not asserted. Malformed
    /// response chains still panic.
    pub lenient: bool,
}

impl core::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestClient")
            .field("conn", &self.conn)
            .field("next_mid", &self.next_mid)
            .field("dialect", &format_args!("{:#x}", self.dialect))
            .field("session_id", &format_args!("{:#x}", self.session_id))
            .field("tree_id", &format_args!("{:#x}", self.tree_id))
            .finish_non_exhaustive()
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        if !self.closed {
            if let Ok(mut g) = self.srv.inner.try_borrow_mut() {
                g.server.close(self.conn);
            }
        }
    }
}

impl TestClient {
    /// A client on an accepted connection.
    pub fn new(srv: TestServer, conn: ConnId) -> Self {
        Self {
            srv,
            conn,
            next_mid: 0,
            credits: 1,
            credit_request: 64,
            dialect: 0,
            server_security_mode: 0,
            signing_algo: SigningAlgo::AesCmac,
            cipher: None,
            max_read: 65536,
            max_write: 65536,
            preauth: PreauthHash::new(),
            session_id: 0,
            tree_id: 0,
            session_key: [0; 16],
            signer: None,
            sign: true,
            check_signatures: true,
            closed: false,
            tamper: None,
            lenient: false,
        }
    }

    /// NEGOTIATE, session setup as `user` and TREE_CONNECT to `share`, all expected to
    /// succeed.
    pub fn logged_on(srv: &TestServer, user: &str, password: &str, share: &str) -> Self {
        let mut c = srv.client();
        c.negotiate().ok();
        c.login(user, password).ok();
        c.tree_connect(share).ok();
        c
    }

    /// Encodes `reqs` as one frame (a compound chain when more than one): fills the headers,
    /// pads every element but the last to 8 bytes, sets NextCommand and signs (a SIGNED
    /// element with no session key gets a 0xee signature).
    pub fn build(&mut self, reqs: &[Req]) -> Vec<u8> {
        let (mut frame, starts) = encode_chain(reqs, chain_headers!(self));
        if let Some(t) = self.tamper.as_mut() {
            t(&mut frame);
        }
        sign_chain(&mut frame, &starts, self.signer.as_ref(), 0xee);
        frame
    }

    /// Sends one frame. On `Err(Disconnect)` the connection is closed like the driver would.
    pub fn send_frame(&mut self, frame: &[u8]) -> Result<Vec<Msg>, Disconnect> {
        assert!(!self.closed, "send on a closed connection");
        let payload = match self.srv.exchange(self.conn, frame) {
            Ok(p) => p,
            Err(d) => {
                self.srv.close(self.conn);
                self.closed = true;
                return Err(d);
            }
        };
        if payload.is_empty() {
            return Ok(Vec::new());
        }
        let mut msgs = split_chain(&payload).unwrap_or_else(|e| panic!("engine bug: {e}"));
        for m in &mut msgs {
            self.credits += i64::from(m.credits());
            if m.is_signed() {
                if let Some(s) = &self.signer {
                    let ok = s.verify(&mut m.bytes);
                    m.sig_ok = Some(ok);
                    if self.check_signatures && !self.lenient && m.session_id() == self.session_id {
                        assert!(
                            ok,
                            "engine bug: bad signature on {:?} response mid {}",
                            m.command(),
                            m.message_id()
                        );
                    }
                }
            }
        }
        Ok(msgs)
    }

    /// Sends a compound chain (or a single request); `Err` when the engine disconnected.
    pub fn try_compound(&mut self, reqs: &[Req]) -> Result<Vec<Msg>, Disconnect> {
        let frame = self.build(reqs);
        self.send_frame(&frame)
    }

    /// Sends a compound chain, expecting responses.
    #[track_caller]
    pub fn compound(&mut self, reqs: &[Req]) -> Vec<Msg> {
        match self.try_compound(reqs) {
            Ok(m) => m,
            Err(d) => panic!("unexpected disconnect: {}", d.0),
        }
    }

    /// Sends one request; `Err` when the engine disconnected.
    pub fn try_send(&mut self, req: Req) -> Result<Msg, Disconnect> {
        let cmd = req.command;
        let mut msgs = self.try_compound(&[req])?;
        assert_eq!(msgs.len(), 1, "one response to a {cmd:?} request");
        Ok(msgs.remove(0))
    }

    /// Sends one request, expecting a response.
    #[track_caller]
    pub fn send(&mut self, req: Req) -> Msg {
        match self.try_send(req) {
            Ok(m) => m,
            Err(d) => panic!("unexpected disconnect: {}", d.0),
        }
    }

    /// NEGOTIATE with [`NegotiateOpts::default`].
    pub fn negotiate(&mut self) -> Msg {
        self.negotiate_with(&NegotiateOpts::default())
    }

    /// NEGOTIATE; on success records the dialect, algorithms and preauth hash.
    #[track_caller]
    pub fn negotiate_with(&mut self, opts: &NegotiateOpts) -> Msg {
        match self.try_negotiate_with(opts) {
            Ok(m) => m,
            Err(d) => panic!("NEGOTIATE disconnected: {}", d.0),
        }
    }

    /// [`negotiate_with`](Self::negotiate_with), `Err` on a disconnect (or, when a corrupted
    /// request turned into one that gets no answer, `Err("no response")`).
    pub fn try_negotiate_with(&mut self, opts: &NegotiateOpts) -> Result<Msg, Disconnect> {
        let frame = self.build(&[opts.req()]);
        let Some(m) = self.send_frame(&frame)?.into_iter().next() else {
            return Err(Disconnect("no response"));
        };
        if m.status() != NtStatus::SUCCESS || m.command() != Command::NEGOTIATE {
            return Ok(m);
        }
        let n = Negotiated::parse(&frame, &m).unwrap_or_else(|e| panic!("engine bug: {e}"));
        self.server_security_mode = n.security_mode;
        self.dialect = n.dialect;
        self.signing_algo = n.signing_algo;
        self.max_read = n.max_read;
        self.max_write = n.max_write;
        if let Some(cipher) = n.cipher {
            self.cipher = cipher;
        }
        if let Some(preauth) = n.preauth {
            self.preauth = preauth;
        }
        Ok(m)
    }

    /// Logs on as `user` with SPNEGO/NTLMv2.
    pub fn login(&mut self, user: &str, password: &str) -> Msg {
        self.login_with(&LoginOpts::new(user, password))
    }

    /// Runs the two SESSION_SETUP rounds; returns the last response. On success the session
    /// id, keys and signer are set (for a user logon), the final response's signature (if
    /// any) and the server's mechListMIC are checked.
    #[track_caller]
    pub fn login_with(&mut self, opts: &LoginOpts) -> Msg {
        match self.try_login_with(opts) {
            Ok(m) => m,
            Err(d) => panic!("SESSION_SETUP disconnected: {}", d.0),
        }
    }

    /// [`login_with`](Self::login_with), `Err` on a disconnect (or no answer, as for
    /// [`try_negotiate_with`](Self::try_negotiate_with)).
    pub fn try_login_with(&mut self, opts: &LoginOpts) -> Result<Msg, Disconnect> {
        let mut logon = Logon::new(opts, self.preauth);
        let frame = self.build(&[logon.first()]);
        logon.preauth.update(&frame);
        let Some(m) = self.send_frame(&frame)?.into_iter().next() else {
            return Err(Disconnect("no response"));
        };
        if m.status() != NtStatus::MORE_PROCESSING_REQUIRED || m.command() != Command::SESSION_SETUP
        {
            return Ok(m);
        }
        logon.preauth.update(&m.bytes);
        let sid = m.session_id();
        // A server answer this client cannot follow: a test failure, or in lenient mode the
        // end of the logon.
        let req = match logon.second(m.security_buffer(), sid) {
            Ok(req) => req,
            Err(_) if self.lenient => return Ok(m),
            Err(e) => panic!("{e}"),
        };
        let frame = self.build(&[req]);
        logon.preauth.update(&frame);
        let Some(mut m) = self.send_frame(&frame)?.into_iter().next() else {
            return Err(Disconnect("no response"));
        };
        if m.status() != NtStatus::SUCCESS || m.command() != Command::SESSION_SETUP {
            return Ok(m);
        }
        self.session_id = sid;
        assert_eq!(m.session_id(), sid, "session id echoed");
        let is_user = m.session_flags() & 0x3 == 0;
        if is_user {
            self.session_key = logon.session_key;
            let signer = logon.signer(self.dialect, self.signing_algo, self.cipher);
            let checked = check_final_signature(&mut m, &signer, self.dialect);
            if let (Err(e), false) = (checked, self.lenient) {
                panic!("engine bug: {e}");
            }
            self.signer = Some(signer);
            if let (Err(e), false) = (logon.finish(m.security_buffer(), true), self.lenient) {
                panic!("{e}");
            }
        }
        Ok(m)
    }

    /// TREE_CONNECT to `\\SMBED\<share>`; on success the tree id is kept.
    pub fn tree_connect(&mut self, share: &str) -> Msg {
        let m = self.send(Req::tree_connect(&format!("\\\\SMBED\\{share}")));
        if m.status() == NtStatus::SUCCESS {
            self.tree_id = m.tree_id();
        }
        m
    }

    /// CREATE with `c`.
    pub fn create_with(&mut self, c: &Create) -> Msg {
        self.send(c.req())
    }

    /// CREATE (open or create) `name`.
    pub fn create(&mut self, name: &str) -> Msg {
        self.send(Create::new(name).req())
    }

    /// CREATE `name`, expecting success; returns the FileId.
    #[track_caller]
    pub fn open(&mut self, name: &str) -> FileId {
        self.create(name).ok().file_id()
    }

    /// CLOSE.
    pub fn close(&mut self, fid: FileId) -> Msg {
        self.send(Req::close(fid, 0))
    }

    /// READ `len` bytes at `offset`.
    pub fn read(&mut self, fid: FileId, offset: u64, len: u32) -> Msg {
        self.send(Req::read(fid, offset, len, 0))
    }

    /// WRITE `data` at `offset`.
    pub fn write(&mut self, fid: FileId, offset: u64, data: &[u8]) -> Msg {
        self.send(Req::write(fid, offset, data, 0))
    }

    /// QUERY_DIRECTORY with FileIdBothDirectoryInformation.
    pub fn query_directory(&mut self, fid: FileId, pattern: &str, flags: u8) -> Msg {
        self.send(Req::query_directory(
            fid,
            class::ID_BOTH_DIRECTORY,
            flags,
            pattern,
            65536,
        ))
    }

    /// All names of directory `fid` matching `pattern` (restarting the scan).
    pub fn list_dir(&mut self, fid: FileId, pattern: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut flags = 1; // RESTART_SCANS
        loop {
            let m = self.query_directory(fid, pattern, flags);
            flags = 0;
            match m.status() {
                NtStatus::SUCCESS => names.extend(m.dir_names(class::ID_BOTH_DIRECTORY)),
                NtStatus::NO_MORE_FILES | NtStatus::NO_SUCH_FILE => return names,
                s => panic!("QUERY_DIRECTORY failed: {s:?}"),
            }
        }
    }

    /// QUERY_INFO of a file class.
    pub fn query_info(&mut self, fid: FileId, info_type: u8, class: u8, out_len: u32) -> Msg {
        self.send(Req::query_info(fid, info_type, class, out_len, 0, &[]))
    }

    /// SET_INFO.
    pub fn set_info(&mut self, fid: FileId, info_type: u8, class: u8, buf: &[u8]) -> Msg {
        self.send(Req::set_info(fid, info_type, class, buf, 0))
    }

    /// SET_INFO FileRenameInformation to `target`.
    pub fn rename(&mut self, fid: FileId, target: &str, replace: bool) -> Msg {
        let buf = rename_info(&utf16(target), replace);
        self.set_info(fid, info_type::FILE, class::RENAME, &buf)
    }

    /// ECHO.
    pub fn echo(&mut self) -> Msg {
        self.send(Req::empty(Command::ECHO))
    }

    /// LOGOFF.
    pub fn logoff(&mut self) -> Msg {
        self.send(Req::empty(Command::LOGOFF))
    }

    /// TREE_DISCONNECT.
    pub fn tree_disconnect(&mut self) -> Msg {
        self.send(Req::empty(Command::TREE_DISCONNECT))
    }
}

/// A FileRenameInformation buffer ([MS-FSCC] 2.4.37) for the SMB2 form (20-byte header).
pub fn rename_info(name_utf16: &[u8], replace: bool) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    b[0] = u8::from(replace);
    put32(&mut b, 16, name_utf16.len() as u32);
    b.extend_from_slice(name_utf16);
    b
}
