//! [`TestPolicy`]: accounts, shares and deterministic randomness for engine tests.

use smb_proto::vfs::ShareId;
use smb_proto::{EncryptPolicy, Policy, Principal, ShareInfo};

/// A test account.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub nt_hash: [u8; 16],
    pub enabled: bool,
}

/// A test share.
#[derive(Debug, Clone)]
pub struct Share {
    pub name: String,
    pub info: ShareInfo,
    /// When set, only these users (by name, case-insensitive) may connect (`valid users`).
    pub valid_users: Option<Vec<String>>,
}

/// The host policy of a test server: a user list, a share list and a seeded generator.
#[derive(Debug, Clone)]
pub struct TestPolicy {
    pub users: Vec<User>,
    pub shares: Vec<Share>,
    /// State of the SplitMix64 generator behind `fill_random`.
    pub seed: u64,
    /// Print engine log lines of at most this level to stderr (`None`: silent).
    pub log_level: Option<u8>,
}

impl TestPolicy {
    /// No users, no shares, seed 1.
    pub fn new() -> Self {
        Self {
            users: Vec::new(),
            shares: Vec::new(),
            seed: 1,
            log_level: None,
        }
    }

    /// Adds an enabled account with `password`.
    pub fn add_user(&mut self, name: &str, password: &str) -> &mut Self {
        self.users.push(User {
            name: name.to_owned(),
            nt_hash: smb_auth::nt_hash(password),
            enabled: true,
        });
        self
    }

    /// Adds a disk share; its id is its index.
    pub fn add_share(&mut self, name: &str, read_only: bool, guest_ok: bool) -> ShareId {
        let id = ShareId(self.shares.len() as u16);
        self.shares.push(Share {
            name: name.to_owned(),
            info: ShareInfo {
                id,
                read_only,
                guest_ok,
                encrypt: EncryptPolicy::Off,
            },
            valid_users: None,
        });
        id
    }

    /// The id of share `name`.
    pub fn share_id(&self, name: &str) -> ShareId {
        self.find_share(name)
            .unwrap_or_else(|| panic!("no share {name}"))
            .id
    }
}

impl Default for TestPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// SplitMix64 step.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Policy for TestPolicy {
    fn nt_hash(&self, user: &str) -> Option<[u8; 16]> {
        self.users
            .iter()
            .find(|u| u.enabled && u.name.eq_ignore_ascii_case(user))
            .map(|u| u.nt_hash)
    }

    fn find_share(&self, name: &str) -> Option<ShareInfo> {
        self.shares
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.info)
    }

    fn may_connect(&self, share: ShareId, who: Principal<'_>) -> bool {
        let Some(s) = self.shares.iter().find(|s| s.info.id == share) else {
            return false;
        };
        match (&s.valid_users, who) {
            (None, _) => true,
            (Some(list), Principal::User(u)) => list.iter().any(|v| v.eq_ignore_ascii_case(u)),
            (Some(_), _) => false,
        }
    }

    fn user_rid(&self, user: &str) -> Option<u32> {
        // Samba's algorithmic mapping (`uid * 2 + 1000`) with the account's index as uid.
        self.users
            .iter()
            .position(|u| u.enabled && u.name.eq_ignore_ascii_case(user))
            .map(|i| 1000 + 2 * (1000 + i as u32))
    }

    fn volume_label(&self, share: ShareId) -> &str {
        self.shares
            .iter()
            .find(|s| s.info.id == share)
            .map_or("", |s| s.name.as_str())
    }

    fn fill_random(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = splitmix64(&mut self.seed).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn log(&mut self, level: u8, args: core::fmt::Arguments<'_>) {
        if self.log_level.is_some_and(|l| level <= l) {
            eprintln!("[engine {level}] {args}");
        }
    }
}
