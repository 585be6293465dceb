//! The engine's host policy: shares and access rules from the configuration, accounts from the
//! account store, entropy from the kernel (getrandom via rustix).

use smb_proto::vfs::ShareId;
use smb_proto::{EncryptPolicy, Policy, Principal, ShareInfo};
use smbed_config::ValidConfig;

use crate::accounts::AccountStore;

/// One share as the engine sees it, with its access lists.
#[derive(Debug, Clone)]
pub struct HostShare {
    pub name: String,
    pub comment: String,
    pub browseable: bool,
    pub read_only: bool,
    pub encrypt: EncryptPolicy,
    pub guest_ok: bool,
    pub valid_users: Vec<String>,
    pub invalid_users: Vec<String>,
}

/// Implements [`Policy`] for the daemon.
pub struct HostPolicy {
    shares: Vec<HostShare>,
    server_string: String,
    accounts: Box<dyn AccountStore>,
}

impl HostPolicy {
    /// Builds the policy; share index = [`ShareId`] (the same order as the VFS roots).
    pub fn new(cfg: &ValidConfig, accounts: Box<dyn AccountStore>) -> Self {
        let shares = cfg
            .shares
            .iter()
            .filter(|s| s.available)
            .map(|s| HostShare {
                name: s.name.clone(),
                comment: s.comment.clone(),
                browseable: s.browseable,
                read_only: s.read_only,
                encrypt: encrypt_policy(s.smb_encrypt),
                guest_ok: s.guest_ok,
                valid_users: s.valid_users.clone(),
                invalid_users: s.invalid_users.clone(),
            })
            .collect();
        Self {
            shares,
            accounts,
            server_string: cfg.global.server_string.clone(),
        }
    }
}

/// Whether `user` is in a `valid users`-style list: by name, or through an `@group`
/// (`+group`, `&group` too, as Samba writes them) of the account database. The user's groups
/// are looked up only when the list names a group.
fn listed(list: &[String], user: &str, groups: impl FnOnce() -> Vec<String>) -> bool {
    let is_group = |e: &str| e.starts_with(['@', '+', '&']);
    if list
        .iter()
        .any(|e| !is_group(e) && e.eq_ignore_ascii_case(user))
    {
        return true;
    }
    if !list.iter().any(|e| is_group(e)) {
        return false;
    }
    let mine = groups();
    list.iter().filter(|e| is_group(e)).any(|e| {
        let g = e.trim_start_matches(['@', '+', '&']);
        mine.iter().any(|m| m.eq_ignore_ascii_case(g))
    })
}

impl Policy for HostPolicy {
    fn nt_hash(&self, user: &str) -> Option<[u8; 16]> {
        let a = self.accounts.get(user)?;
        if a.disabled {
            return None;
        }
        a.nt_hash
    }

    fn find_share(&self, name: &str) -> Option<ShareInfo> {
        let i = self
            .shares
            .iter()
            .position(|s| smb_proto::path::eq_ignore_case(&s.name, name))?;
        let s = &self.shares[i];
        Some(ShareInfo {
            id: ShareId(i as u16),
            read_only: s.read_only,
            guest_ok: s.guest_ok,
            encrypt: s.encrypt,
        })
    }

    fn may_connect(&self, share: ShareId, who: Principal<'_>) -> bool {
        let Some(s) = self.shares.get(usize::from(share.0)) else {
            return false;
        };
        match who {
            Principal::User(u) => {
                let groups = || self.accounts.user_groups(u);
                !listed(&s.invalid_users, u, groups)
                    && (s.valid_users.is_empty() || listed(&s.valid_users, u, groups))
            }
            Principal::Guest | Principal::Anonymous => s.guest_ok && s.valid_users.is_empty(),
        }
    }

    fn for_each_share(&self, f: &mut dyn FnMut(&str, &str)) {
        for s in self.shares.iter().filter(|s| s.browseable) {
            f(&s.name, &s.comment);
        }
    }

    fn server_comment(&self) -> &str {
        &self.server_string
    }

    fn volume_label(&self, share: ShareId) -> &str {
        self.shares
            .get(usize::from(share.0))
            .map(|s| s.name.as_str())
            .unwrap_or("")
    }

    fn user_rid(&self, user: &str) -> Option<u32> {
        // The store's RID: Samba's algorithmic uid * 2 + 1000 for imported accounts, so SIDs
        // match a Samba server on the same accounts.
        self.accounts.get(user).map(|a| a.rid)
    }

    fn domain_sid(&self) -> Option<[u32; 3]> {
        self.accounts.domain_sid()
    }

    fn fill_random(&mut self, out: &mut [u8]) {
        fill_random(out)
    }

    fn log(&mut self, level: u8, args: core::fmt::Arguments<'_>) {
        crate::log::write(level, args)
    }
}

/// Fills `out` from the kernel CSPRNG. Panics only if the kernel has none, which leaves no
/// safe way to run (no challenges, no nonces).
pub fn fill_random(out: &mut [u8]) {
    let mut done = 0;
    while done < out.len() {
        match rustix::rand::getrandom(&mut out[done..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => panic!("getrandom failed: {e}"),
        }
    }
}

/// Current time as a Windows FILETIME.
pub fn now_filetime() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    secs * 10_000_000 + 116_444_736_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0) / 100
}

/// Maps smb.conf's `smb encrypt` values to the engine's policy: `if_required` (Samba's
/// default) encrypts only what the client asks for, like `off`.
pub fn encrypt_policy(e: smbed_config::Encrypt) -> EncryptPolicy {
    match e {
        smbed_config::Encrypt::Off | smbed_config::Encrypt::IfRequired => EncryptPolicy::Off,
        smbed_config::Encrypt::Desired => EncryptPolicy::Desired,
        smbed_config::Encrypt::Required => EncryptPolicy::Required,
    }
}

#[cfg(test)]
mod tests {
    use super::listed;

    fn l(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn users_and_groups_in_access_lists() {
        let staff = || vec!["Staff".to_owned()];
        let none = Vec::new;
        assert!(listed(&l(&["alice"]), "ALICE", none));
        assert!(!listed(&l(&["alice"]), "bob", staff));
        for g in ["@staff", "+STAFF", "&staff"] {
            assert!(listed(&l(&["bob", g]), "carol", staff), "{g}");
            assert!(!listed(&l(&[g]), "carol", none), "{g}");
        }
        // A group named like the user is not the user, and '@' alone names nothing.
        assert!(!listed(&l(&["@carol", "@"]), "carol", none));
        // The groups are looked up only when the list names one.
        assert!(!listed(&l(&["alice"]), "bob", || -> Vec<String> {
            panic!("looked up")
        }));
    }
}
