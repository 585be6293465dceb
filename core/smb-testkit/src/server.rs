//! [`TestServer`]: a [`smb_proto::Server`] over [`MemVfs`] and [`TestPolicy`] with leaked slot
//! tables, a simulated clock and the frame buffers a driver would own.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use smb_proto::state::{Conn, Open, Session, Tree};
use smb_proto::vfs::{ShareId, Vfs};
use smb_proto::{
    Config, ConnId, Disconnect, EncryptPolicy, MapToGuest, Server, SigningPolicy, Slot, Storage,
};
use smb_wire::ids::dialect;

use crate::client::TestClient;
use crate::memvfs::MemVfs;
use crate::policy::TestPolicy;
use crate::Clock;

/// 2024-01-01T00:00:00Z as FILETIME: where the simulated clock starts.
pub const EPOCH: u64 = 133_485_408_000_000_000;
/// How far the clock moves per handled frame (1 ms).
pub const TICK: u64 = 10_000;

/// The concrete engine type under test.
pub type Engine = Server<'static, MemVfs, TestPolicy>;

/// What to build a [`TestServer`] with.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub signing: SigningPolicy,
    /// `server smb encrypt`.
    pub encrypt: EncryptPolicy,
    pub map_to_guest: MapToGuest,
    pub min_dialect: u16,
    pub max_dialect: u16,
    pub max_io: u32,
    pub max_credits: u16,
    /// `Config::zero_copy_reads` (the test then takes the tails itself).
    pub zero_copy_reads: bool,
    pub conns: usize,
    pub sessions: usize,
    pub trees: usize,
    pub opens: usize,
    /// Response buffer size; `None` is the documented minimum (`max_io` + 4 KiB).
    pub tx_len: Option<usize>,
    pub policy: TestPolicy,
}

impl Default for TestConfig {
    /// Users `alice`/`Secret-1` and `bob`/`hunter2`; shares `share` (read-write), `public`
    /// (guest ok) and `ro` (read-only); signing Auto, map to guest Never, 64 KiB I/O.
    fn default() -> Self {
        let mut policy = TestPolicy::new();
        policy.add_user("alice", "Secret-1");
        policy.add_user("bob", "hunter2");
        policy.add_share("share", false, false);
        policy.add_share("public", false, true);
        policy.add_share("ro", true, false);
        Self {
            signing: SigningPolicy::Auto,
            encrypt: EncryptPolicy::Off,
            map_to_guest: MapToGuest::Never,
            min_dialect: dialect::SMB2_02,
            max_dialect: dialect::SMB3_11,
            max_io: 65536,
            max_credits: 128,
            zero_copy_reads: false,
            conns: 8,
            sessions: 16,
            trees: 32,
            opens: 64,
            tx_len: None,
            policy,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) server: Engine,
    pub(crate) tx: Vec<u8>,
    pub(crate) rx: Vec<u8>,
}

/// A shared handle to a server under test; clients hold clones.
#[derive(Clone)]
pub struct TestServer {
    pub(crate) inner: Rc<RefCell<Inner>>,
    clock: Clock,
    pub config: Rc<TestConfig>,
}

impl core::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TestServer")
            .field("now", &self.clock.get())
            .finish_non_exhaustive()
    }
}

fn slots<T>(n: usize) -> &'static mut [Slot<T>] {
    Box::leak((0..n).map(|_| Slot::default()).collect::<Box<[_]>>())
}

impl TestServer {
    /// A server with [`TestConfig::default`].
    pub fn new() -> Self {
        Self::with_config(TestConfig::default())
    }

    /// A server with `cfg`. The slot tables are leaked (they must outlive the engine's
    /// `'static` borrow); each server costs a few hundred KiB of test memory.
    pub fn with_config(cfg: TestConfig) -> Self {
        let clock: Clock = Rc::new(Cell::new(EPOCH));
        let mut vfs = MemVfs::new(clock.clone());
        for s in &cfg.policy.shares {
            vfs.add_share(s.info.id);
        }
        let engine_cfg = Config {
            server_guid: *b"smbed-testkit-01",
            start_time: EPOCH,
            min_dialect: cfg.min_dialect,
            max_dialect: cfg.max_dialect,
            signing: cfg.signing,
            encrypt: cfg.encrypt,
            map_to_guest: cfg.map_to_guest,
            netbios_name: "SMBED",
            netbios_domain: "WORKGROUP",
            dns_name: "smbed.test",
            dns_domain: "test",
            max_io: cfg.max_io,
            max_credits: cfg.max_credits,
            zero_copy_reads: cfg.zero_copy_reads,
        };
        let storage = Storage {
            conns: slots::<Conn>(cfg.conns),
            sessions: slots::<Session>(cfg.sessions),
            trees: slots::<Tree>(cfg.trees),
            opens: slots::<Open>(cfg.opens),
            pipes: slots::<smb_proto::state::PipeSlot>(4),
            locks: slots::<smb_proto::state::HeldLock>((cfg.opens * 8).max(256)),
            searches: slots::<smb_proto::state::Search>(cfg.opens),
            parked: slots::<smb_proto::state::Parked>(cfg.conns * smb_proto::state::MAX_PARKED),
            events: slots::<smb_proto::state::NotifyEvent>(
                cfg.conns * smb_proto::state::MAX_PENDING,
            ),
            auths: slots::<smb_auth::ntlmssp::NtlmServer>(cfg.sessions),
        };
        let server = Server::new(engine_cfg, vfs, cfg.policy.clone(), storage);
        let tx_len = cfg.tx_len.unwrap_or(cfg.max_io as usize + 4096);
        Self {
            inner: Rc::new(RefCell::new(Inner {
                server,
                tx: vec![0; tx_len],
                rx: Vec::with_capacity(tx_len),
            })),
            clock,
            config: Rc::new(cfg),
        }
    }

    /// Opens a new transport connection and returns a client on it.
    pub fn client(&self) -> TestClient {
        TestClient::new(self.clone(), self.accept())
    }

    /// Registers a transport connection (panics when the table is full).
    pub fn accept(&self) -> ConnId {
        self.inner
            .borrow_mut()
            .server
            .accept()
            .expect("connection table full")
    }

    /// What the driver does when a transport closes.
    pub fn close(&self, conn: ConnId) {
        self.inner.borrow_mut().server.close(conn);
    }

    /// The current simulated time (FILETIME).
    pub fn now(&self) -> u64 {
        self.clock.get()
    }

    /// Moves the simulated clock forward.
    pub fn advance(&self, ticks: u64) {
        self.clock.set(self.clock.get() + ticks);
    }

    /// The id of share `name`.
    pub fn share(&self, name: &str) -> ShareId {
        self.config.policy.share_id(name)
    }

    /// Runs `f` on the engine.
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        f(&mut self.inner.borrow_mut().server)
    }

    /// Runs `f` on the VFS.
    pub fn vfs<R>(&self, f: impl FnOnce(&mut MemVfs) -> R) -> R {
        f(self.inner.borrow_mut().server.vfs_mut())
    }

    /// NTLM exchanges under way in the engine.
    pub fn exchanges_in_progress(&self) -> usize {
        self.inner.borrow().server.exchanges_in_progress()
    }

    /// Live connections, sessions, trees and opens.
    pub fn counts(&self) -> [usize; 4] {
        self.inner.borrow().server.counts()
    }

    /// Hands one frame (the payload after the Direct TCP header) to the engine, like the
    /// driver. Returns the response payload (Direct TCP header checked and stripped; empty when
    /// the engine sent nothing).
    pub fn exchange(&self, conn: ConnId, frame: &[u8]) -> Result<Vec<u8>, Disconnect> {
        self.advance(TICK);
        let now = self.now();
        let mut g = self.inner.borrow_mut();
        let Inner { server, tx, rx } = &mut *g;
        rx.clear();
        rx.extend_from_slice(frame);
        let n = server.handle_frame(now, conn, rx, tx)?;
        if n == 0 {
            assert_eq!(server.take_tail(), None, "a tail without a frame");
            return Ok(Vec::new());
        }
        assert!(n >= 4 && n <= tx.len(), "handle_frame returned {n}");
        assert_eq!(tx[0], 0, "Direct TCP header byte 0");
        let len = (usize::from(tx[1]) << 16) | (usize::from(tx[2]) << 8) | usize::from(tx[3]);
        let mut out = tx[4..n].to_vec();
        // A zero-copy READ: send its data from the file as the host's sendfile would (zeros
        // for what the file no longer has).
        let tail = server.take_tail();
        if let Some(t) = tail {
            let start = out.len();
            out.resize(start + t.len as usize, 0);
            let got = server
                .vfs_mut()
                .read(t.node, t.offset, &mut out[start..])
                .unwrap_or(0);
            out[start + got..].fill(0);
        }
        assert_eq!(
            len + 4,
            n + tail.map_or(0, |t| t.len as usize),
            "Direct TCP length does not match the returned length (plus tail)"
        );
        Ok(out)
    }

    /// [`exchange`](Self::exchange) on caller buffers, without copying or allocating: `rx` is
    /// handed to the engine as is, the framed response lands in `tx`.
    pub fn exchange_into(
        &self,
        conn: ConnId,
        rx: &mut [u8],
        tx: &mut [u8],
    ) -> Result<usize, Disconnect> {
        self.advance(TICK);
        let now = self.now();
        self.inner
            .borrow_mut()
            .server
            .handle_frame(now, conn, rx, tx)
    }
}

impl Default for TestServer {
    fn default() -> Self {
        Self::new()
    }
}
