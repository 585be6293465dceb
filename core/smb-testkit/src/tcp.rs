//! [`TcpClient`]: the [`Req`] builders and [`Msg`] parsing of [`crate::client`] over a real
//! socket, for load generators and tools that talk to a running server (smbed, Samba, ...).
//!
//! A blocking [`std::net::TcpStream`] with Direct TCP framing ([MS-SMB2] 2.1): NEGOTIATE
//! (SMB 3.1.1 with preauth integrity by default), SPNEGO/NTLMv2 SESSION_SETUP
//! ([`crate::ntlm`]), TREE_CONNECT, then any request or compound chain. Unlike
//! [`TestClient`](crate::TestClient), which checks an engine under test and panics on a
//! protocol violation, every unexpected answer here is an [`io::Error`] describing it.
//!
//! Credits are tracked ([`TcpClient::credits`]: granted minus charged, interim responses
//! included); responses may be read one frame at a time ([`TcpClient::recv`]) so a caller can
//! keep several requests in flight, or with [`TcpClient::exchange`], which waits for the final
//! response of every element of one chain (skipping STATUS_PENDING interim responses).
//! Encryption is not supported: a server that demands it is refused with an error.

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use smb_crypto::{Cipher, PreauthHash, Signer, SigningAlgo};
use smb_wire::header::{flags, Command};
use smb_wire::ids::dialect;
use smb_wire::negotiate::security_mode;
use smb_wire::session_setup::session_flags;
use smb_wire::tree_connect::share_flags;
use smb_wire::{transport, NtStatus, HEADER_LEN};

use crate::client::{
    chain_headers, check_final_signature, encode_chain, le16, le32, sign_chain, split_chain,
    LoginOpts, Logon, Msg, NegotiateOpts, Negotiated, Req,
};

/// Largest Direct TCP payload (24-bit length).
const MAX_FRAME: usize = (1 << 24) - 1;

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Whether `m` is an interim response (STATUS_PENDING with the ASYNC flag): the final one
/// follows with the same MessageId.
pub fn is_interim(m: &Msg) -> bool {
    m.status() == NtStatus::PENDING && m.flags() & flags::ASYNC_COMMAND != 0
}

/// `len` bytes at `off` (from the start of the header) of `m`, or an error naming `what`.
fn field<'a>(m: &'a Msg, off: usize, len: usize, what: &str) -> io::Result<&'a [u8]> {
    m.field(off, len, what).map_err(err)
}

/// `n` bytes of non-cryptographic randomness (std only): client GUIDs, NTLM challenges.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

/// An SMB2/3 client on one TCP connection.
pub struct TcpClient {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    out: Vec<u8>,
    pub next_mid: u64,
    /// Credits granted minus credits charged (starts at 1 for the NEGOTIATE).
    pub credits: i64,
    /// CreditRequest on every request.
    pub credit_request: u16,
    /// The negotiated dialect (0 before NEGOTIATE).
    pub dialect: u16,
    pub server_security_mode: u16,
    pub signing_algo: SigningAlgo,
    pub cipher: Option<Cipher>,
    /// Connection preauth hash (3.1.1).
    pub preauth: PreauthHash,
    pub session_id: u64,
    pub tree_id: u32,
    pub signer: Option<Signer>,
    /// Sign requests once a signer exists (forced on when the server requires signing).
    pub sign: bool,
}

impl core::fmt::Debug for TcpClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TcpClient")
            .field("peer", &self.writer.peer_addr().ok())
            .field("next_mid", &self.next_mid)
            .field("credits", &self.credits)
            .field("dialect", &format_args!("{:#x}", self.dialect))
            .field("session_id", &format_args!("{:#x}", self.session_id))
            .field("tree_id", &format_args!("{:#x}", self.tree_id))
            .finish_non_exhaustive()
    }
}

impl TcpClient {
    /// Connects to `addr`; every later read waits at most `timeout` for the server.
    pub fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<Self> {
        let mut last = err("address resolved to nothing");
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => return Self::from_stream(s, timeout),
                Err(e) => last = io::Error::new(e.kind(), format!("connect to {a}: {e}")),
            }
        }
        Err(last)
    }

    /// A client on an established connection.
    pub fn from_stream(stream: TcpStream, timeout: Duration) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
        Ok(Self {
            writer: stream,
            reader,
            out: Vec::with_capacity(4096),
            next_mid: 0,
            credits: 1,
            credit_request: 64,
            dialect: 0,
            server_security_mode: 0,
            signing_algo: SigningAlgo::AesCmac,
            cipher: None,
            preauth: PreauthHash::new(),
            session_id: 0,
            tree_id: 0,
            signer: None,
            sign: false,
        })
    }

    /// Credits (and MessageIds) a chain of `reqs` charges.
    pub fn charge_of(&self, reqs: &[Req]) -> i64 {
        reqs.iter()
            .map(|r| i64::from(r.charge_on(self.dialect).max(1)))
            .sum()
    }

    /// Encodes `reqs` as one message (a compound chain when more than one; no Direct TCP
    /// header): fills the headers (MessageIds from [`next_mid`](Self::next_mid), charges the
    /// credits), pads every element but the last to 8 bytes, sets NextCommand and signs.
    pub fn build(&mut self, reqs: &[Req]) -> Vec<u8> {
        let (mut frame, starts) = encode_chain(reqs, chain_headers!(self));
        sign_chain(&mut frame, &starts, self.signer.as_ref(), 0);
        frame
    }

    /// Sends one message built by [`build`](Self::build), with its Direct TCP header.
    pub fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > MAX_FRAME {
            return Err(err(format!("request of {} bytes too large", frame.len())));
        }
        self.out.clear();
        self.out.resize(transport::HEADER_LEN, 0);
        transport::emit_header(&mut self.out, frame.len());
        self.out.extend_from_slice(frame);
        self.writer.write_all(&self.out)
    }

    /// Builds and sends `reqs` as one message; returns the MessageId of the first element
    /// (the others follow it, each advanced by its charge).
    pub fn send(&mut self, reqs: &[Req]) -> io::Result<u64> {
        let first = reqs
            .first()
            .and_then(|r| r.message_id)
            .unwrap_or(self.next_mid);
        let frame = self.build(reqs);
        self.send_frame(&frame)?;
        Ok(first)
    }

    /// Reads one message from the server (the elements of a compound response, or one
    /// response). Credits granted are added; signed elements of this session are verified
    /// (a bad signature is an error).
    pub fn recv(&mut self) -> io::Result<Vec<Msg>> {
        let mut hdr = [0u8; transport::HEADER_LEN];
        self.reader
            .read_exact(&mut hdr)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => err("server closed the connection"),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    io::Error::new(e.kind(), "timed out waiting for the server")
                }
                _ => e,
            })?;
        let transport::Status::Complete(len) = transport::frame_len(&hdr) else {
            return Err(err(format!(
                "bad Direct TCP header {hdr:02x?} (first byte not zero)"
            )));
        };
        let mut payload = vec![0u8; len];
        self.reader.read_exact(&mut payload)?;
        match payload.get(..4) {
            Some([0xfd, b'S', b'M', b'B']) => {
                return Err(err("encrypted (TRANSFORM_HEADER) response: not supported"))
            }
            Some([0xfc, b'S', b'M', b'B']) => {
                return Err(err("compressed response: not supported"))
            }
            Some([0xff, b'S', b'M', b'B']) => return Err(err("SMB1 response: not supported")),
            _ => {}
        }
        let mut msgs = split_chain(&payload).map_err(err)?;
        for m in &mut msgs {
            self.credits += i64::from(m.credits());
            if m.is_signed() && m.session_id() == self.session_id && self.session_id != 0 {
                if let Some(s) = &self.signer {
                    let ok = s.verify(&mut m.bytes);
                    m.sig_ok = Some(ok);
                    if !ok {
                        return Err(err(format!(
                            "bad signature on the {:?} response, MessageId {}",
                            m.command(),
                            m.message_id()
                        )));
                    }
                }
            }
        }
        Ok(msgs)
    }

    /// Sends `reqs` as one message and returns the final response of every element, in
    /// request order (interim STATUS_PENDING responses are skipped; responses may arrive in
    /// any number of messages). The caller checks the statuses.
    pub fn exchange(&mut self, reqs: &[Req]) -> io::Result<Vec<Msg>> {
        let mids: Vec<u64> = {
            let mut m = self.next_mid;
            reqs.iter()
                .map(|r| {
                    let id = r.message_id.unwrap_or(m);
                    if r.message_id.is_none() {
                        m += u64::from(r.charge_on(self.dialect).max(1));
                    }
                    id
                })
                .collect()
        };
        self.send(reqs)?;
        let mut got: Vec<Option<Msg>> = vec![None; reqs.len()];
        while got.iter().any(Option::is_none) {
            for m in self.recv()? {
                if is_interim(&m) {
                    continue;
                }
                let mid = m.message_id();
                match mids.iter().position(|&x| x == mid) {
                    Some(i) if got[i].is_none() => got[i] = Some(m),
                    _ if mid == u64::MAX => {} // an oplock break notification
                    _ => {
                        return Err(err(format!(
                            "unexpected {:?} response with MessageId {mid}",
                            m.command()
                        )))
                    }
                }
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// Sends one request and returns its final response.
    pub fn exchange1(&mut self, req: Req) -> io::Result<Msg> {
        self.exchange(std::slice::from_ref(&req))?
            .pop()
            .ok_or_else(|| err("no response"))
    }

    /// NEGOTIATE; records the dialect, the signing algorithm and (3.1.1) the preauth hash.
    /// A server that requires signing makes [`sign`](Self::sign) true.
    pub fn negotiate(&mut self, opts: &NegotiateOpts) -> io::Result<()> {
        let frame = self.build(&[opts.req()]);
        self.send_frame(&frame)?;
        let m = self.recv_one(Command::NEGOTIATE)?;
        if m.status() != NtStatus::SUCCESS {
            return Err(err(format!("NEGOTIATE failed: {:?}", m.status())));
        }
        let n = Negotiated::parse(&frame, &m).map_err(err)?;
        self.server_security_mode = n.security_mode;
        self.dialect = n.dialect;
        if !opts.dialects.contains(&self.dialect) {
            return Err(err(format!(
                "server chose dialect {:#x}, not offered",
                self.dialect
            )));
        }
        if self.server_security_mode & security_mode::SIGNING_REQUIRED != 0 {
            self.sign = true;
        }
        self.signing_algo = n.signing_algo;
        if let Some(cipher) = n.cipher {
            self.cipher = cipher;
        }
        if let Some(preauth) = n.preauth {
            self.preauth = preauth;
        }
        Ok(())
    }

    /// SPNEGO/NTLMv2 logon in two SESSION_SETUP rounds; on success the session id and the
    /// signer are set. Fails on a guest logon or a session that must be encrypted.
    pub fn login(&mut self, opts: &LoginOpts) -> io::Result<()> {
        let mut logon = Logon::new(opts, self.preauth);
        let frame = self.build(&[logon.first()]);
        logon.preauth.update(&frame);
        self.send_frame(&frame)?;
        let m = self.recv_one(Command::SESSION_SETUP)?;
        if m.status() != NtStatus::MORE_PROCESSING_REQUIRED {
            return Err(err(format!(
                "SESSION_SETUP (NTLM negotiate) failed: {:?}",
                m.status()
            )));
        }
        logon.preauth.update(&m.bytes);
        let sid = m.session_id();
        let req = logon.second(security_buffer(&m)?, sid).map_err(err)?;
        let frame = self.build(&[req]);
        logon.preauth.update(&frame);
        self.send_frame(&frame)?;
        let mut m = self.recv_one(Command::SESSION_SETUP)?;
        if m.status() != NtStatus::SUCCESS {
            return Err(err(format!(
                "SESSION_SETUP (NTLM authenticate) failed: {:?}",
                m.status()
            )));
        }
        if m.session_id() != sid {
            return Err(err("SESSION_SETUP response for another session"));
        }
        let sflags = le16(field(&m, HEADER_LEN, 8, "SESSION_SETUP response body")?, 2).unwrap_or(0);
        if sflags & session_flags::IS_GUEST != 0 || sflags & 0x2 != 0 {
            return Err(err(
                "logged on as guest or anonymous (wrong user or password?)",
            ));
        }
        if sflags & 0x4 != 0 {
            return Err(err(
                "the server requires encryption for this session: not supported",
            ));
        }
        self.session_id = sid;
        let signer = logon.signer(self.dialect, self.signing_algo, self.cipher);
        if let Err(e) = check_final_signature(&mut m, &signer, self.dialect) {
            let hint = if m.is_signed() {
                " (wrong password?)"
            } else {
                ""
            };
            return Err(err(format!("{e}{hint}")));
        }
        self.signer = Some(signer);
        // A server mechListMIC is checked when there is one, not required.
        logon.finish(security_buffer(&m)?, false).map_err(err)
    }

    /// Reads the final response to a single `cmd` request (skipping interim responses).
    fn recv_one(&mut self, cmd: Command) -> io::Result<Msg> {
        loop {
            let mut msgs = self.recv()?;
            if msgs.len() != 1 {
                return Err(err(format!("{cmd:?} answered by a compound")));
            }
            let m = msgs.remove(0);
            if is_interim(&m) {
                continue;
            }
            if m.command() != cmd {
                return Err(err(format!(
                    "{cmd:?} answered by a {:?} response",
                    m.command()
                )));
            }
            return Ok(m);
        }
    }

    /// TREE_CONNECT to the UNC path `unc` (`\\host\share`); the tree id is kept. A 3.x
    /// TREE_CONNECT is signed. Fails when the share requires encryption.
    pub fn tree_connect(&mut self, unc: &str) -> io::Result<()> {
        let mut req = Req::tree_connect(unc);
        if dialect::is_smb3(self.dialect) && self.signer.is_some() {
            req = req.signed(true);
        }
        let m = self.exchange1(req)?;
        if m.status() != NtStatus::SUCCESS {
            return Err(err(format!("TREE_CONNECT {unc} failed: {:?}", m.status())));
        }
        let b = field(&m, HEADER_LEN, 16, "TREE_CONNECT response body")?;
        if le32(b, 4).unwrap_or(0) & share_flags::ENCRYPT_DATA != 0 {
            return Err(err(format!(
                "share {unc} requires encryption: not supported"
            )));
        }
        self.tree_id = m.tree_id();
        Ok(())
    }

    /// Connects, negotiates, logs on and connects to `\\host\share` (`host` as given, e.g.
    /// `127.0.0.1`): a ready client.
    pub fn logged_on(
        host: &str,
        port: u16,
        neg: &NegotiateOpts,
        login: &LoginOpts,
        share: &str,
        timeout: Duration,
    ) -> io::Result<Self> {
        let mut c = Self::connect((host, port), timeout)?;
        c.negotiate(neg)?;
        c.login(login)?;
        c.tree_connect(&format!("\\\\{host}\\{share}"))?;
        Ok(c)
    }
}

/// The security buffer of a SESSION_SETUP response, checked.
fn security_buffer(m: &Msg) -> io::Result<&[u8]> {
    let b = field(m, HEADER_LEN, 8, "SESSION_SETUP response body")?;
    let off = usize::from(le16(b, 4).unwrap_or(0));
    let len = usize::from(le16(b, 6).unwrap_or(0));
    field(m, off, len, "security buffer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Create;
    use smb_wire::FileId;

    #[test]
    fn build_chains_and_charges() {
        let (a, _b) = pair();
        let mut c = TcpClient::from_stream(a, Duration::from_secs(1)).unwrap();
        c.dialect = dialect::SMB3_11;
        c.credits = 10;
        let reqs = [
            Create::new("x").req(),
            Req::close(FileId::RELATED, 0).related(),
        ];
        assert_eq!(c.charge_of(&reqs), 2);
        let f = c.build(&reqs);
        assert_eq!(c.next_mid, 2);
        assert_eq!(c.credits, 8);
        let next = le32(&f, 20).unwrap() as usize;
        assert_eq!(next % 8, 0);
        assert_eq!(
            u64::from_le_bytes(f[next + 24..next + 32].try_into().unwrap()),
            1
        );
        assert_ne!(le32(&f, next + 16).unwrap() & flags::RELATED_OPERATIONS, 0);
    }

    /// Negotiate, logon (signed 3.1.1 final response, mechListMIC both ways), tree connect
    /// and a signed compound against the engine, relayed over a loopback socket.
    #[test]
    fn logs_on_to_the_engine() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let client = std::thread::spawn(move || -> io::Result<Vec<NtStatus>> {
            let login = LoginOpts::new("alice", "Secret-1");
            let timeout = Duration::from_secs(10);
            let neg = NegotiateOpts::default();
            let mut c = TcpClient::logged_on("127.0.0.1", port, &neg, &login, "share", timeout)?;
            assert_eq!(c.dialect, dialect::SMB3_11);
            assert_eq!(c.signing_algo, SigningAlgo::AesGmac);
            c.sign = true;
            let reqs = [
                Create::new("x").req(),
                Req::close(FileId::RELATED, 0).related(),
            ];
            let msgs = c.exchange(&reqs)?;
            assert!(msgs.iter().all(|m| m.sig_ok == Some(true)));
            Ok(msgs.iter().map(Msg::status).collect())
        });
        let (mut s, _) = l.accept().unwrap();
        let srv = crate::TestServer::new();
        let conn = srv.accept();
        let mut hdr = [0u8; transport::HEADER_LEN];
        while s.read_exact(&mut hdr).is_ok() {
            let transport::Status::Complete(len) = transport::frame_len(&hdr) else {
                panic!("bad header {hdr:?}");
            };
            let mut frame = vec![0u8; len];
            s.read_exact(&mut frame).unwrap();
            let out = srv.exchange(conn, &frame).unwrap();
            let mut reply = vec![0u8; transport::HEADER_LEN];
            transport::emit_header(&mut reply, out.len());
            reply.extend_from_slice(&out);
            s.write_all(&reply).unwrap();
        }
        let statuses = client.join().unwrap().unwrap();
        assert_eq!(statuses, [NtStatus::SUCCESS, NtStatus::SUCCESS]);
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }

    fn pair() -> (TcpStream, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }
}
