//! What the engine asks its host about: accounts, shares and who may use them, and entropy.
//! The host (the `smbed` binary, or a test) answers from its configuration and account store;
//! the engine never reads a file or a clock itself.

use crate::vfs::ShareId;

/// How a share appears to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareInfo {
    pub id: ShareId,
    /// Share-level read-only (`read only = yes`).
    pub read_only: bool,
    /// Guests (and anonymous sessions) may connect (`guest ok = yes`).
    pub guest_ok: bool,
    /// `smb encrypt` for the share.
    pub encrypt: EncryptPolicy,
}

/// `server smb encrypt` / `smb encrypt` ([MS-SMB2] 3.3.1.5 `EncryptData`,
/// `RejectUnencryptedAccess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptPolicy {
    /// Encrypt only when the client asks (3.1.1 clients may still encrypt).
    Off,
    /// Encrypt every session or tree whose client supports SMB3 encryption; others stay
    /// unencrypted.
    Desired,
    /// As `Desired`, and refuse clients that cannot encrypt (ACCESS_DENIED).
    Required,
}

/// Who a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An authenticated account.
    User(&'a str),
    /// A guest logon (`map to guest`).
    Guest,
    /// A null session (NTLM anonymous).
    Anonymous,
}

/// How unknown users and bad passwords are treated (`map to guest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapToGuest {
    Never,
    BadUser,
    BadPassword,
}

/// Host services the engine needs.
pub trait Policy {
    /// The NT hash of `user` (matched case-insensitively), or `None` if there is no such
    /// enabled account.
    fn nt_hash(&self, user: &str) -> Option<[u8; 16]>;

    /// Looks up a disk share by name (case-insensitive). `IPC$` is handled by the engine.
    fn find_share(&self, name: &str) -> Option<ShareInfo>;

    /// Whether `who` may connect to `share` beyond the `guest_ok` rule (e.g. `valid users`).
    fn may_connect(&self, share: ShareId, who: Principal<'_>) -> bool;

    /// The relative id of `user` within the server's domain SID (Samba's algorithmic mapping
    /// is `uid * 2 + 1000`); `None` for unknown users.
    fn user_rid(&self, user: &str) -> Option<u32> {
        let _ = user;
        None
    }

    /// The server's domain SID sub-authorities (S-1-5-21-a-b-c) users' SIDs are built on;
    /// `None` derives them from the server GUID.
    fn domain_sid(&self) -> Option<[u32; 3]> {
        None
    }

    /// Calls `f` with the name and comment of each share listed to clients (`browseable`),
    /// for share enumeration over srvsvc.
    fn for_each_share(&self, f: &mut dyn FnMut(&str, &str)) {
        let _ = f;
    }

    /// The server's description (`server string`).
    fn server_comment(&self) -> &str {
        ""
    }

    /// The volume label reported for a share (Samba reports the share name).
    fn volume_label(&self, share: ShareId) -> &str {
        let _ = share;
        ""
    }

    /// Fills `out` with unpredictable bytes (challenges, GUIDs, nonce prefixes).
    fn fill_random(&mut self, out: &mut [u8]);

    /// Receives a log line of Samba-style `level` (0 error, 1 warning, 2 notice, 3+ debug).
    /// Built with the `defmt` feature, the engine logs through defmt instead.
    fn log(&mut self, level: u8, args: core::fmt::Arguments<'_>) {
        let _ = (level, args);
    }
}
