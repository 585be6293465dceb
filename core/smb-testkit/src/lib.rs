//! Test harness for the smbed engine ([STYLE] section 7.5): everything needed to drive a
//! [`smb_proto::Server`] deterministically from integration tests.
//!
//! - [`MemVfs`]: an in-memory [`smb_proto::vfs::Vfs`] that panics on any non-normalized path
//!   or stale node, so engine bugs surface as test failures.
//! - [`TestPolicy`]: users, shares and a seeded `fill_random`.
//! - [`TestServer`]: the engine with leaked slot tables, a simulated clock and driver-sized
//!   frame buffers.
//! - [`TestClient`] with [`Req`]/[`Create`] builders and [`Msg`] parsing: a byte-level SMB2
//!   client with SMB 3.1.1 preauth, SPNEGO/NTLMv2 ([`ntlm`]) and signing.
//! - [`TcpClient`]: the same builders and parsing over a real TCP connection, for tools that
//!   drive a running server (`bench`'s `smbload`).
//! - [`alloc_count`]: a counting `#[global_allocator]` for the zero-allocation rule.
//! - [`Rng`]: a seeded PRNG for fuzz-style loops.
//!
//! A test reads as a protocol script:
//!
//! ```
//! use smb_testkit::{TestClient, TestServer};
//! let srv = TestServer::new();
//! let mut c = TestClient::logged_on(&srv, "alice", "Secret-1", "share");
//! let f = c.open("hello.txt");
//! c.write(f, 0, b"hi").ok();
//! assert_eq!(c.read(f, 0, 2).ok().data(), b"hi");
//! c.close(f).ok();
//! ```

pub mod alloc_count;
pub mod client;
pub mod memvfs;
pub mod ntlm;
pub mod policy;
pub mod server;
pub mod tcp;

pub use alloc_count::CountingAlloc;
pub use client::{Create, LoginOpts, Msg, NegotiateOpts, Req, TestClient};
pub use memvfs::MemVfs;
pub use policy::TestPolicy;
pub use server::{TestConfig, TestServer};
pub use tcp::TcpClient;

/// The simulated clock shared by the server and the VFS (FILETIME).
pub type Clock = std::rc::Rc<std::cell::Cell<u64>>;

/// A seeded xorshift64* generator (deterministic fuzz loops).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}
