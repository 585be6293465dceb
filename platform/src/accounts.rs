//! SMB user accounts.
//!
//! [`AccountStore`] is what the daemon and `smbed user` use. Two implementations:
//!
//! - [`TdbAccounts`], the account database the daemon uses: users, machine/trust
//!   accounts, groups and memberships and the server's domain SID in a crash-safe
//!   `tdb` store (`<private dir>/accounts.tdb`). On first start it imports an existing
//!   smbpasswd file (smbed's own from earlier versions, or Samba's) with nothing lost,
//!   and does not read that file again; see [`TdbAccounts`].
//! - [`SmbPasswdFile`], a file compatible with Samba's `smbpasswd`; its parser is what
//!   the import uses, and [`TdbAccounts::export_smbpasswd`] writes the same format.
//!
//! # The smbpasswd format
//!
//! One line per account:
//!
//! ```text
//! name:uid:LMHASH:NTHASH:[UX         ]:LCT-5F5E1000:
//! ```
//!
//! - `LMHASH`/`NTHASH` are 32 hex digits, 32 `X`s (no hash), or
//!   `NO PASSWORDXXXXXXXXXXXXXXXXXXXXX` (no password). smbed stores NT hashes
//!   only: every line it writes has an `X` LM field, so LM hashes found in an
//!   old file are dropped the first time the file is rewritten.
//! - The flags in brackets are Samba's account control letters: `U` normal
//!   user, `D` disabled, `N` no password required, `X` password does not
//!   expire, `W`/`S`/`I` machine and trust accounts, and others. Only lines with
//!   `U` are user accounts here; the others (machine accounts, …) are kept
//!   unchanged when the file is rewritten, as are comment (`#`) and blank lines.
//!   A line in Samba's old format, without flags, is a `U` account.
//! - `LCT-` is the time of the last password change, in hex Unix seconds.
//!
//! An [`Account`] whose `nt_hash` is `None` (32 `X`s or `NO PASSWORD`) cannot
//! log on with a password.
//!
//! # uid
//!
//! Samba stores the Unix uid of the user. When an account is added, smbed uses
//! the uid of the Unix user of that name in `/etc/passwd` if there is one;
//! otherwise it assigns the lowest uid from 1000 up that is used neither by
//! another line of the file nor by any user in `/etc/passwd`.
//!
//! # Writes
//!
//! [`SmbPasswdFile::open`] reads the file if it exists (a missing file is an
//! empty store) and creates nothing. Each change rewrites the whole file
//! atomically and durably: the new contents go to a temporary file in the same
//! directory, which is fsynced, renamed over the old file, and then the
//! directory is fsynced. The file gets mode 0600. If writing fails the store
//! keeps its previous contents, in memory and on disk. There is no locking
//! against other processes changing the file at the same time.

// `SmbPasswdFile` is kept for its format code and tests; the daemon uses `TdbAccounts`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tdb::{Durability, FileStorage, Options, Storage, StorageFile, Store, Table};

/// One SMB user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name as stored.
    pub name: String,
    /// The Unix uid recorded for the user.
    pub uid: u32,
    /// The relative id of the user's SID in the server's domain (S-1-5-21-a-b-c-RID).
    /// [`SmbPasswdFile`] uses Samba's algorithmic mapping `uid * 2 + 1000`;
    /// [`TdbAccounts`] stores it.
    pub rid: u32,
    /// The NT hash (MD4 of the UTF-16LE password); `None` if the account has no
    /// usable password.
    pub nt_hash: Option<[u8; 16]>,
    /// The account is disabled (`D` flag).
    pub disabled: bool,
    /// Last password change, Unix seconds (0 if unknown).
    pub last_change: u64,
}

/// Why an account operation failed.
#[derive(Debug)]
pub enum AccountError {
    /// The name is not acceptable as an account name.
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An account (or machine account) of that name already exists.
    Exists(String),
    /// There is no user account of that name.
    NotFound(String),
    /// The account file could not be read or written.
    Io {
        /// The file (or temporary file, or directory) concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The account database could not be opened, read or written.
    Store {
        /// The database directory.
        path: PathBuf,
        /// The store's error.
        source: tdb::Error,
    },
    /// A record of the account database cannot be decoded or is of an unknown version.
    Damaged {
        /// The database directory.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A line of the account file is malformed.
    Parse {
        /// The account file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountError::InvalidName { name, reason } => {
                write!(
                    f,
                    "invalid account name '{}': {reason}",
                    name.escape_debug()
                )
            }
            AccountError::Exists(name) => write!(f, "account '{name}' already exists"),
            AccountError::NotFound(name) => write!(f, "no account '{name}'"),
            AccountError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            AccountError::Store {
                path,
                source: source @ tdb::Error::Corrupt(_),
            } => write!(
                f,
                "{}: account database: {source} (see 'smbed tdb check {}')",
                path.display(),
                path.display()
            ),
            AccountError::Store { path, source } => {
                write!(f, "{}: account database: {source}", path.display())
            }
            AccountError::Damaged { path, what } => {
                write!(f, "{}: account database is damaged: {what}", path.display())
            }
            AccountError::Parse { path, line, reason } => {
                write!(f, "{}:{line}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for AccountError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AccountError::Io { source, .. } => Some(source),
            AccountError::Store { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A store of SMB user accounts.
pub trait AccountStore {
    /// All user accounts, in stored order.
    fn list(&self) -> Vec<Account>;
    /// The account of that name, compared case-insensitively.
    fn get(&self, name: &str) -> Option<Account>;
    /// Adds an enabled account with this NT hash.
    fn add(&mut self, name: &str, nt_hash: [u8; 16]) -> Result<(), AccountError>;
    /// Sets the NT hash of an existing account (name compared case-insensitively).
    fn set_hash(&mut self, name: &str, nt_hash: [u8; 16]) -> Result<(), AccountError>;
    /// Removes an account (name compared case-insensitively).
    fn delete(&mut self, name: &str) -> Result<(), AccountError>;
    /// The sub-authorities of the server's domain SID (S-1-5-21-a-b-c), when the store keeps
    /// one.
    fn domain_sid(&self) -> Option<[u32; 3]> {
        None
    }
    /// The groups the user belongs to (for `valid users = @group`); the smbpasswd format
    /// has none.
    fn user_groups(&self, _user: &str) -> Vec<String> {
        Vec::new()
    }
}

/// Checks an account name: 1 to 64 characters, no `:` or control characters,
/// not starting with a space or `#` (which would make the line a comment).
pub fn validate_name(name: &str) -> Result<(), AccountError> {
    let invalid = |reason| {
        Err(AccountError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    let len = name.chars().count();
    if len == 0 {
        return invalid("the name is empty");
    }
    if len > 64 {
        return invalid("the name is longer than 64 characters");
    }
    if name.contains(':') {
        return invalid("the name contains ':'");
    }
    if name.chars().any(char::is_control) {
        return invalid("the name contains a control character");
    }
    if name.starts_with(' ') {
        return invalid("the name starts with a space");
    }
    if name.starts_with('#') {
        return invalid("the name starts with '#'");
    }
    Ok(())
}

/// A user account line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserEntry {
    name: String,
    uid: u32,
    nt_hash: Option<[u8; 16]>,
    /// The account control letters as found (e.g. `UX`, `DU`), spaces removed.
    flags: String,
    last_change: u64,
}

impl UserEntry {
    fn account(&self) -> Account {
        Account {
            name: self.name.clone(),
            uid: self.uid,
            rid: algorithmic_rid(self.uid),
            nt_hash: self.nt_hash,
            disabled: self.flags.contains('D'),
            last_change: self.last_change,
        }
    }

    fn render(&self) -> String {
        const NO_HASH: &str = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
        const NO_PASSWORD: &str = "NO PASSWORDXXXXXXXXXXXXXXXXXXXXX";
        let nt = match &self.nt_hash {
            Some(h) => hex_upper(h),
            None if self.flags.contains('N') => NO_PASSWORD.to_owned(),
            None => NO_HASH.to_owned(),
        };
        format!(
            "{}:{}:{NO_HASH}:{nt}:[{:<11}]:LCT-{:08X}:",
            self.name, self.uid, self.flags, self.last_change
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// A user account (`U` flag).
    User(UserEntry),
    /// Kept verbatim: a comment, a blank line, or a non-user account; `name` is
    /// the account name for the latter.
    Other { text: String, name: Option<String> },
}

/// Accounts kept in a Samba smbpasswd file. See the [module docs](self).
#[derive(Debug)]
pub struct SmbPasswdFile {
    path: PathBuf,
    passwd: PathBuf,
    lines: Vec<Line>,
}

impl SmbPasswdFile {
    /// Opens the account file at `path`, reading it if it exists. A missing file
    /// is an empty store; nothing is created until the first change.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, AccountError> {
        let mut store = SmbPasswdFile {
            path: path.into(),
            passwd: PathBuf::from("/etc/passwd"),
            lines: Vec::new(),
        };
        store.reload()?;
        Ok(store)
    }

    /// Uses another file than `/etc/passwd` to look up Unix uids for new
    /// accounts (for tests, or a system with its users elsewhere).
    pub fn with_passwd_file(mut self, passwd: impl Into<PathBuf>) -> Self {
        self.passwd = passwd.into();
        self
    }

    /// The account file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again, dropping the in-memory state. A missing file gives
    /// an empty store.
    pub fn reload(&mut self) -> Result<(), AccountError> {
        self.lines = match fs::read(&self.path) {
            Ok(bytes) => parse_file(&self.path, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(AccountError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        Ok(())
    }

    /// Sets or clears the disabled (`D`) flag of an account.
    pub fn set_disabled(&mut self, name: &str, disabled: bool) -> Result<(), AccountError> {
        self.modify(name, |u| {
            u.flags.retain(|c| c != 'D');
            if disabled {
                u.flags.insert(0, 'D');
            }
        })
    }

    fn find_user(&self, name: &str) -> Option<usize> {
        let lower = name.to_lowercase();
        self.lines.iter().position(|l| match l {
            Line::User(u) => u.name.to_lowercase() == lower,
            Line::Other { .. } => false,
        })
    }

    fn name_taken(&self, name: &str) -> bool {
        let lower = name.to_lowercase();
        self.lines.iter().any(|l| match l {
            Line::User(UserEntry { name, .. })
            | Line::Other {
                name: Some(name), ..
            } => name.to_lowercase() == lower,
            Line::Other { name: None, .. } => false,
        })
    }

    fn modify(&mut self, name: &str, f: impl FnOnce(&mut UserEntry)) -> Result<(), AccountError> {
        let i = self
            .find_user(name)
            .ok_or_else(|| AccountError::NotFound(name.to_owned()))?;
        let mut lines = self.lines.clone();
        if let Line::User(u) = &mut lines[i] {
            f(u);
        }
        self.commit(lines)
    }

    /// Writes `lines` to disk and, once that succeeded, makes them current.
    fn commit(&mut self, lines: Vec<Line>) -> Result<(), AccountError> {
        let mut text = String::new();
        for line in &lines {
            match line {
                Line::User(u) => text.push_str(&u.render()),
                Line::Other { text: t, .. } => text.push_str(t),
            }
            text.push('\n');
        }
        replace_file(&self.path, text.as_bytes())?;
        // The new file is in place: it is the current state even if making the
        // rename durable fails below.
        self.lines = lines;
        sync_dir(&self.path)
    }

    fn pick_uid(&self, name: &str) -> u32 {
        pick_uid(&self.passwd, name, |uid| {
            self.lines
                .iter()
                .any(|l| matches!(l, Line::User(u) if u.uid == uid))
                || self.lines.iter().any(|l| match l {
                    Line::Other {
                        text,
                        name: Some(_),
                    } => text.split(':').nth(1).and_then(|s| s.parse::<u32>().ok()) == Some(uid),
                    _ => false,
                })
        })
    }
}

impl AccountStore for SmbPasswdFile {
    fn list(&self) -> Vec<Account> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                Line::User(u) => Some(u.account()),
                Line::Other { .. } => None,
            })
            .collect()
    }

    fn get(&self, name: &str) -> Option<Account> {
        match &self.lines[self.find_user(name)?] {
            Line::User(u) => Some(u.account()),
            Line::Other { .. } => None,
        }
    }

    fn add(&mut self, name: &str, nt_hash: [u8; 16]) -> Result<(), AccountError> {
        validate_name(name)?;
        if self.name_taken(name) {
            return Err(AccountError::Exists(name.to_owned()));
        }
        let entry = UserEntry {
            name: name.to_owned(),
            uid: self.pick_uid(name),
            nt_hash: Some(nt_hash),
            flags: "U".to_owned(),
            last_change: now(),
        };
        let mut lines = self.lines.clone();
        lines.push(Line::User(entry));
        self.commit(lines)
    }

    fn set_hash(&mut self, name: &str, nt_hash: [u8; 16]) -> Result<(), AccountError> {
        self.modify(name, |u| {
            u.nt_hash = Some(nt_hash);
            // A password now exists: "no password required" no longer applies.
            u.flags.retain(|c| c != 'N');
            u.last_change = now();
        })
    }

    fn delete(&mut self, name: &str) -> Result<(), AccountError> {
        let i = self
            .find_user(name)
            .ok_or_else(|| AccountError::NotFound(name.to_owned()))?;
        let mut lines = self.lines.clone();
        lines.remove(i);
        self.commit(lines)
    }
}

/// Samba's algorithmic RID for a uid (`uid * 2 + 1000`), saturating.
pub fn algorithmic_rid(uid: u32) -> u32 {
    uid.saturating_mul(2).saturating_add(1000)
}

/// The uid for a new account `name`: that of the Unix user of that name in
/// `passwd`, else the lowest uid from 1000 up used neither by a user in
/// `passwd` nor by the store (`used`).
fn pick_uid(passwd: &Path, name: &str, used: impl Fn(u32) -> bool) -> u32 {
    let passwd = fs::read_to_string(passwd).unwrap_or_default();
    let mut unix_uids = Vec::new();
    for line in passwd.lines() {
        let mut fields = line.split(':');
        let (Some(user), _, Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let Ok(uid) = uid.parse::<u32>() else {
            continue;
        };
        if user == name {
            return uid;
        }
        unix_uids.push(uid);
    }
    (1000..u32::MAX)
        .find(|&uid| !unix_uids.contains(&uid) && !used(uid))
        .unwrap_or(u32::MAX)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hex_upper(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// A hash field: `Ok(Some)` for 32 hex digits, `Ok(None)` for "no hash"
/// (`X`s, `*`s, `NO PASSWORD…`), `Err` otherwise.
fn parse_hash(field: &str) -> Result<Option<[u8; 16]>, String> {
    if field.starts_with("NO PASSWORD") || field.starts_with('X') || field.starts_with('*') {
        if field.len() == 32 && field.is_ascii() {
            return Ok(None);
        }
        return Err(format!("hash field '{field}' is not 32 characters"));
    }
    if field.len() != 32 || !field.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "hash field '{field}' is not 32 hex digits or 32 'X's"
        ));
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&field[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("bad hex in hash field '{field}'"))?;
    }
    Ok(Some(out))
}

fn parse_file(path: &Path, bytes: &[u8]) -> Result<Vec<Line>, AccountError> {
    parse_lines(path, bytes, parse_line)
}

/// Splits a file into lines (LF or CRLF, UTF-8) and parses each with `parse`;
/// errors name the file and the 1-based line number.
fn parse_lines<T>(
    path: &Path,
    bytes: &[u8],
    mut parse: impl FnMut(&str) -> Result<T, String>,
) -> Result<Vec<T>, AccountError> {
    let mut lines = Vec::new();
    let mut body = bytes;
    if let Some(stripped) = body.strip_suffix(b"\n") {
        body = stripped;
    }
    if bytes.is_empty() {
        return Ok(lines);
    }
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let err = |reason: String| AccountError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = std::str::from_utf8(raw).map_err(|_| err("invalid UTF-8".to_owned()))?;
        lines.push(parse(text).map_err(err)?);
    }
    Ok(lines)
}

fn parse_line(text: &str) -> Result<Line, String> {
    let Some(f) = parse_fields(text)? else {
        return Ok(Line::Other {
            text: text.to_owned(),
            name: None,
        });
    };
    if !f.flags.contains('U') {
        return Ok(Line::Other {
            text: text.to_owned(),
            name: Some(f.name),
        });
    }
    Ok(Line::User(UserEntry {
        name: f.name,
        uid: f.uid,
        nt_hash: f.nt_hash,
        flags: f.flags,
        last_change: f.last_change,
    }))
}

/// Every field of an account line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    name: String,
    uid: u32,
    lm_hash: Option<[u8; 16]>,
    nt_hash: Option<[u8; 16]>,
    /// Account control letters, spaces removed (`U` for the old format).
    flags: String,
    last_change: u64,
}

/// Parses an account line; `Ok(None)` for comments and blank lines.
fn parse_fields(text: &str) -> Result<Option<Fields>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let fields: Vec<&str> = text.split(':').collect();
    if fields.len() < 4 {
        return Err("expected 'name:uid:LMHASH:NTHASH:[FLAGS]:LCT-XXXXXXXX:'".to_owned());
    }
    let name = fields[0];
    if name.is_empty() {
        return Err("empty account name".to_owned());
    }
    let uid = fields[1]
        .parse::<u32>()
        .map_err(|_| format!("invalid uid '{}'", fields[1]))?;
    let lm_hash = parse_hash(fields[2]).map_err(|e| format!("LM {e}"))?;
    let nt_hash = parse_hash(fields[3]).map_err(|e| format!("NT {e}"))?;

    let (flags, last_change) = match fields.get(4) {
        Some(f) if f.starts_with('[') => {
            let inner = f
                .strip_prefix('[')
                .and_then(|f| f.strip_suffix(']'))
                .ok_or_else(|| format!("unterminated account flags '{f}'"))?;
            if let Some(c) = inner.chars().find(|c| !c.is_ascii_uppercase() && *c != ' ') {
                return Err(format!("invalid account flag {c:?} in '{f}'"));
            }
            let flags: String = inner.chars().filter(|c| *c != ' ').collect();
            let lct = match fields.get(5) {
                Some(f) if f.starts_with("LCT-") => {
                    let hex = &f[4..];
                    if hex.is_empty() || hex.len() > 16 {
                        return Err(format!("invalid last change time '{f}'"));
                    }
                    u64::from_str_radix(hex, 16)
                        .map_err(|_| format!("invalid last change time '{f}'"))?
                }
                _ => 0,
            };
            (flags, lct)
        }
        // Samba's old format: no flags, a normal user.
        _ => ("U".to_owned(), 0),
    };
    Ok(Some(Fields {
        name: name.to_owned(),
        uid,
        lm_hash,
        nt_hash,
        flags,
        last_change,
    }))
}

/// Replaces `path` with `contents`: a temporary file in the same directory
/// is written with mode 0600, fsynced, and renamed over `path`. The caller
/// then fsyncs the directory ([`sync_dir`]) to make the rename durable.
fn replace_file(path: &Path, contents: &[u8]) -> Result<(), AccountError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "smbpasswd".to_owned());
    let tmp = parent_dir(path).join(format!(
        ".{file_name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_new_file(&tmp, contents).and_then(|()| {
        fs::rename(&tmp, path).map_err(|source| AccountError::Io {
            path: path.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Creates `tmp` (which must not exist) with mode 0600, writes and fsyncs it.
fn write_new_file(tmp: &Path, contents: &[u8]) -> Result<(), AccountError> {
    let io_err = |source| AccountError::Io {
        path: tmp.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(io_err)?;
    // The umask may have removed bits; make the mode exactly 0600.
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err)?;
    f.write_all(contents).map_err(io_err)?;
    f.sync_all().map_err(io_err)
}

/// Fsyncs the directory holding `path`, so that a rename in it is durable.
fn sync_dir(path: &Path) -> Result<(), AccountError> {
    let dir = parent_dir(path);
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| AccountError::Io { path: dir, source })
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

// ---------------------------------------------------------------------------
// The account database on tdb
// ---------------------------------------------------------------------------

/// Samba's account control bits (`acct_ctrl`), with the letters of the smbpasswd
/// format.
pub mod acb {
    /// `D`: the account is disabled.
    pub const DISABLED: u32 = 0x0001;
    /// `H`: home directory required.
    pub const HOMDIRREQ: u32 = 0x0002;
    /// `N`: no password required.
    pub const PWNOTREQ: u32 = 0x0004;
    /// `T`: temporary duplicate account.
    pub const TEMPDUP: u32 = 0x0008;
    /// `U`: a normal user account.
    pub const NORMAL: u32 = 0x0010;
    /// `M`: MNS logon user account.
    pub const MNS: u32 = 0x0020;
    /// `I`: interdomain trust account.
    pub const DOMTRUST: u32 = 0x0040;
    /// `W`: workstation (machine) trust account.
    pub const WSTRUST: u32 = 0x0080;
    /// `S`: server trust account.
    pub const SVRTRUST: u32 = 0x0100;
    /// `X`: the password does not expire.
    pub const PWNOEXP: u32 = 0x0200;
    /// `L`: the account is locked out.
    pub const AUTOLOCK: u32 = 0x0400;

    /// The letters in the order Samba writes them (`pdb_encode_acct_ctrl`).
    pub(super) const LETTERS: [(char, u32); 11] = [
        ('N', PWNOTREQ),
        ('D', DISABLED),
        ('H', HOMDIRREQ),
        ('T', TEMPDUP),
        ('U', NORMAL),
        ('M', MNS),
        ('W', WSTRUST),
        ('S', SVRTRUST),
        ('L', AUTOLOCK),
        ('X', PWNOEXP),
        ('I', DOMTRUST),
    ];
}

/// Current version of [`AccountRecord`], [`Group`] and [`ImportInfo`] values.
const RECORD_VERSION: u8 = 1;
/// Version of the database layout, in `meta/schema`.
pub const SCHEMA_VERSION: u32 = 1;
/// The first RID for accounts and groups (Samba's `BASE_RID`).
pub const BASE_RID: u32 = 1000;
/// The copy of an imported smbpasswd file kept in `meta/import` is dropped above this size
/// (so that the import stays one record well inside a segment).
const MAX_KEPT_ORIGINAL: usize = 256 * 1024;
/// How long a change waits for another process holding the database.
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// Files changed less than this long ago may change again without their size or
/// modification time changing (coarse timestamps): the cache is not trusted then.
const RACY_WINDOW: Duration = Duration::from_secs(2);

const T_META: &str = "meta";
const T_USERS: &str = "users";
const T_OTHERS: &str = "others";
const T_GROUPS: &str = "groups";
const T_MEMBERS: &str = "members";

/// One account of the database: a user (`acb::NORMAL` set, table `users`) or another
/// kind imported from smbpasswd (machine and trust accounts, table `others`). Stored
/// with postcard under the lower-cased name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// Record layout version (1).
    pub version: u8,
    /// The name, case kept.
    pub name: String,
    /// Relative id within the server's domain SID.
    pub rid: u32,
    /// Unix uid.
    pub uid: u32,
    /// NT hash; `None`: no usable password.
    pub nt_hash: Option<[u8; 16]>,
    /// LM hash, kept only from an imported smbpasswd line (so that an export gives the
    /// line back unchanged); never used to log on, cleared when the password changes.
    pub lm_hash: Option<[u8; 16]>,
    /// Account control bits ([`acb`]).
    pub acb: u32,
    /// Flag letters of an imported line that Samba does not define (kept, not used).
    pub extra_flags: String,
    /// Last password change, Unix seconds (smbpasswd's `LCT-`).
    pub pwd_last_set: u64,
}

impl AccountRecord {
    fn from_fields(f: Fields, rid: u32) -> Self {
        let (acb, extra_flags) = acb_from_letters(&f.flags);
        AccountRecord {
            version: RECORD_VERSION,
            name: f.name,
            rid,
            uid: f.uid,
            nt_hash: f.nt_hash,
            lm_hash: f.lm_hash,
            acb,
            extra_flags,
            pwd_last_set: f.last_change,
        }
    }

    /// The smbpasswd flag letters, in Samba's order.
    pub fn flag_letters(&self) -> String {
        let mut s: String = acb::LETTERS
            .iter()
            .filter(|(_, bit)| self.acb & bit != 0)
            .map(|(c, _)| *c)
            .collect();
        s.push_str(&self.extra_flags);
        s
    }

    /// The account is disabled.
    pub fn disabled(&self) -> bool {
        self.acb & acb::DISABLED != 0
    }

    fn account(&self) -> Account {
        Account {
            name: self.name.clone(),
            uid: self.uid,
            rid: self.rid,
            nt_hash: self.nt_hash,
            disabled: self.disabled(),
            last_change: self.pwd_last_set,
        }
    }

    /// The line Samba's smbpasswd backend would write for this account.
    pub fn smbpasswd_line(&self) -> String {
        const NO_HASH: &str = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";
        const NO_PASSWORD: &str = "NO PASSWORDXXXXXXXXXXXXXXXXXXXXX";
        let field = |h: &Option<[u8; 16]>| match h {
            Some(h) => hex_upper(h),
            None if self.acb & acb::PWNOTREQ != 0 => NO_PASSWORD.to_owned(),
            None => NO_HASH.to_owned(),
        };
        format!(
            "{}:{}:{}:{}:[{:<11}]:LCT-{:08X}:",
            self.name,
            self.uid,
            field(&self.lm_hash),
            field(&self.nt_hash),
            self.flag_letters(),
            self.pwd_last_set
        )
    }
}

/// Decodes smbpasswd flag letters: Samba's bits, and any other letters as found.
fn acb_from_letters(letters: &str) -> (u32, String) {
    let mut bits = 0;
    let mut extra = String::new();
    for c in letters.chars() {
        match acb::LETTERS.iter().find(|(l, _)| *l == c) {
            Some((_, bit)) => bits |= bit,
            None => extra.push(c),
        }
    }
    (bits, extra)
}

/// A group (table `groups`, key: lower-cased name); its members are in table
/// `members` (key: lower-cased group name, value: lower-cased user names, sorted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Record layout version (1).
    pub version: u8,
    /// The name, case kept.
    pub name: String,
    /// Relative id within the server's domain SID.
    pub rid: u32,
    /// Unix gid, if mapped.
    pub gid: Option<u32>,
    /// Free text.
    pub comment: String,
}

/// What the first start imported (`meta/import`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportInfo {
    /// Record layout version (1).
    pub version: u8,
    /// The smbpasswd file read.
    pub path: String,
    /// When, Unix seconds.
    pub time: u64,
    /// User accounts imported (table `users`).
    pub users: u32,
    /// Other accounts imported (table `others`).
    pub others: u32,
    /// Comment and blank lines (only in `original`).
    pub other_lines: u32,
    /// 1-based numbers of account lines not imported because an earlier line has the
    /// same name (compared case-insensitively; Samba uses the first one too).
    pub duplicate_lines: Vec<u32>,
    /// The file as it was, byte for byte (empty if it was larger than 256 KiB).
    pub original: Vec<u8>,
}

#[derive(Clone, Copy)]
struct Tables {
    meta: Table,
    users: Table,
    others: Table,
    groups: Table,
    members: Table,
}

/// Everything in the database, decoded.
#[derive(Debug, Default, Clone)]
struct Snapshot {
    users: BTreeMap<String, AccountRecord>,
    others: BTreeMap<String, AccountRecord>,
    groups: BTreeMap<String, Group>,
    members: BTreeMap<String, Vec<String>>,
    domain_sid: Option<[u32; 3]>,
    next_rid: u32,
    import: Option<ImportInfo>,
}

impl Snapshot {
    fn uid_used(&self, uid: u32) -> bool {
        self.users
            .values()
            .chain(self.others.values())
            .any(|a| a.uid == uid)
    }

    fn rids(&self) -> BTreeSet<u32> {
        self.users
            .values()
            .chain(self.others.values())
            .map(|a| a.rid)
            .chain(self.groups.values().map(|g| g.rid))
            .collect()
    }

    fn name_taken(&self, key: &str) -> bool {
        self.users.contains_key(key)
            || self.others.contains_key(key)
            || self.groups.contains_key(key)
    }

    /// The next RID from the counter that no account or group has.
    fn alloc_rid(&self) -> Result<u32, String> {
        let taken = self.rids();
        (self.next_rid.max(BASE_RID)..u32::MAX)
            .find(|r| !taken.contains(r))
            .ok_or_else(|| "no free RID left".to_owned())
    }
}

/// Where the database lives.
enum Backend {
    /// A store this object holds open for its lifetime (tests, tools).
    Held(Store),
    /// A directory, locked only while a change is made; reads come from a cache that
    /// is reloaded (read-only, without the lock) when the directory's files changed.
    Dir,
}

#[derive(Default)]
struct Cache {
    snap: Snapshot,
    /// The store files as they were when `snap` was loaded (`Dir` only).
    fingerprint: Option<Fingerprint>,
    /// Last reload error reported (not repeated).
    last_error: Option<String>,
}

/// Names, sizes and modification times of a store's files.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(Vec<(String, u64, SystemTime)>);

impl Fingerprint {
    fn of(dir: &Path) -> io::Result<Fingerprint> {
        let mut files = Vec::new();
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Fingerprint(files)),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = match entry.metadata() {
                Ok(m) => m,
                // Deleted since the listing (compaction): the fingerprint differs anyway.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            files.push((
                entry.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified()?,
            ));
        }
        files.sort();
        Ok(Fingerprint(files))
    }

    /// A file changed so recently that a further change might not show in it.
    fn racy(&self) -> bool {
        let now = SystemTime::now();
        self.0
            .iter()
            .any(|(_, _, t)| now.duration_since(*t).map_or(true, |age| age < RACY_WINDOW))
    }
}

/// The account database: users, other (machine/trust) accounts, groups and their
/// members, and the server's domain SID, in a `tdb` store (`<private dir>/accounts.tdb`).
///
/// # Layout
///
/// Tables (values are postcard):
///
/// | table     | key                    | value                              |
/// |-----------|------------------------|------------------------------------|
/// | `users`   | lower-cased name       | [`AccountRecord`] (`U` accounts)   |
/// | `others`  | lower-cased name       | [`AccountRecord`] (`W`, `S`, `I`, … accounts from smbpasswd) |
/// | `groups`  | lower-cased name       | [`Group`]                          |
/// | `members` | lower-cased group name | `Vec<String>`: lower-cased user names, sorted |
/// | `meta`    | `schema`               | `u32` layout version (1)           |
/// |           | `domain_sid`           | `[u32; 3]`: S-1-5-21-a-b-c, random at creation |
/// |           | `next_rid`             | `u32`: RID counter for new accounts and groups |
/// |           | `created`              | `u64` Unix seconds                 |
/// |           | `import`               | [`ImportInfo`] (only after an import) |
///
/// Every change is one atomic batch written with `Durability::Immediate`.
///
/// # Import
///
/// When the store has no `meta/schema` (first start, or the store directory was
/// removed), it is initialised in one batch: schema, a random domain SID and, if the
/// smbpasswd file given to [`TdbAccounts::open`] exists, every account line of it: `U`
/// lines into `users`, the others (machine `W`, server `S`, interdomain `I` trust
/// accounts, …) into `others`, with all fields (uid, NT and LM hash, every flag letter,
/// LCT), and a byte-for-byte copy of the file in `meta/import`. A crash during the
/// import leaves the store uninitialised and the import runs again at the next start.
/// The smbpasswd file is left untouched and **not read again** afterwards: changes go
/// to the database only ([`TdbAccounts::export_smbpasswd`] writes a Samba-compatible
/// file on demand).
///
/// # RIDs
///
/// Imported accounts get Samba's algorithmic RID `uid * 2 + 1000`, so their SIDs match
/// those a Samba server gave them; if two lines would get the same RID, the later gets
/// a new one. New accounts and groups get the next RID from `meta/next_rid` (from 1000)
/// that no account or group has; the counter only grows, so the RID of a deleted
/// account is never given to a new one (its SID may remain in ACLs).
///
/// # Processes
///
/// A directory-backed database ([`TdbAccounts::open`]) holds the store's lock only while
/// it makes a change (waiting up to 10 s for another process), so the running server
/// and `smbed user ...` can both use it. Reads are served from memory; before each
/// read the names, sizes and modification times of the store files are compared with
/// those at the last load, and if they differ (or changed in the last 2 s, where a
/// modification time may not move) the data are reloaded read-only, without the lock.
/// So a user added by `smbed user add` is seen by the running server at its next
/// logon. If a reload fails (e.g. the store is damaged) the last good data stay in use
/// and the error is logged once.
pub struct TdbAccounts {
    label: PathBuf,
    backend: Backend,
    import_from: Option<PathBuf>,
    passwd: PathBuf,
    cache: Mutex<Cache>,
}

fn store_err(path: &Path) -> impl Fn(tdb::Error) -> AccountError + '_ {
    move |source| AccountError::Store {
        path: path.to_path_buf(),
        source,
    }
}

/// Segment size of the account store: the board profile's `tdb_segment_size`, at most 1 MiB.
static SEGMENT_SIZE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1 << 20);

/// The account store's segment size for a board's `tdb_segment_size`: the store holds
/// kilobytes, and small segments keep opens (which read the live chain) cheap, so at most 1 MiB.
pub fn account_segment_size(board_segment_size: u32) -> u64 {
    u64::from(board_segment_size).min(1 << 20)
}

/// Sets the segment size of account stores opened from now on (from the board profile).
pub fn set_segment_size(board_segment_size: u32) {
    SEGMENT_SIZE.store(account_segment_size(board_segment_size), Ordering::Relaxed);
}

fn store_options(create: bool) -> Options {
    let mut o = Options::default();
    o.segment_size = SEGMENT_SIZE.load(Ordering::Relaxed);
    o.lazy_flush_interval = None;
    o.create_if_missing = create;
    o
}

fn lookup_tables(store: &Store, label: &Path) -> Result<Option<Tables>, AccountError> {
    let st = store_err(label);
    let get = |n| store.lookup_table(n).map_err(&st);
    let (Some(meta), Some(users), Some(others), Some(groups), Some(members)) = (
        get(T_META)?,
        get(T_USERS)?,
        get(T_OTHERS)?,
        get(T_GROUPS)?,
        get(T_MEMBERS)?,
    ) else {
        return Ok(None);
    };
    Ok(Some(Tables {
        meta,
        users,
        others,
        groups,
        members,
    }))
}

fn decode<T: serde::de::DeserializeOwned>(
    label: &Path,
    table: &str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, AccountError> {
    postcard::from_bytes(bytes).map_err(|e| AccountError::Damaged {
        path: label.to_path_buf(),
        what: format!(
            "record {table}/{}: {e}",
            String::from_utf8_lossy(key).escape_debug()
        ),
    })
}

fn load_map<T: serde::de::DeserializeOwned>(
    store: &Store,
    table: Table,
    name: &str,
    label: &Path,
) -> Result<BTreeMap<String, T>, AccountError> {
    let mut map = BTreeMap::new();
    for (k, v) in store.iter(table).map_err(store_err(label))? {
        let value = decode(label, name, &k, &v)?;
        let key = String::from_utf8(k).map_err(|e| AccountError::Damaged {
            path: label.to_path_buf(),
            what: format!("key in {name} is not UTF-8: {e}"),
        })?;
        map.insert(key, value);
    }
    Ok(map)
}

/// Decodes the whole database (an uninitialised store gives an empty snapshot).
fn load(store: &Store, label: &Path) -> Result<Snapshot, AccountError> {
    let Some(t) = lookup_tables(store, label)? else {
        return Ok(Snapshot::default());
    };
    let meta = |key: &str| -> Result<Option<Vec<u8>>, AccountError> {
        store.get(t.meta, key.as_bytes()).map_err(store_err(label))
    };
    let mut snap = Snapshot {
        users: load_map(store, t.users, T_USERS, label)?,
        others: load_map(store, t.others, T_OTHERS, label)?,
        groups: load_map(store, t.groups, T_GROUPS, label)?,
        members: load_map(store, t.members, T_MEMBERS, label)?,
        next_rid: BASE_RID,
        ..Snapshot::default()
    };
    if let Some(v) = meta("domain_sid")? {
        snap.domain_sid = Some(decode(label, T_META, b"domain_sid", &v)?);
    }
    if let Some(v) = meta("next_rid")? {
        snap.next_rid = decode(label, T_META, b"next_rid", &v)?;
    }
    if let Some(v) = meta("import")? {
        snap.import = Some(decode(label, T_META, b"import", &v)?);
    }
    for (key, rec) in snap.users.iter().chain(snap.others.iter()) {
        if rec.version != RECORD_VERSION {
            return Err(AccountError::Damaged {
                path: label.to_path_buf(),
                what: format!("account {key}: unknown record version {}", rec.version),
            });
        }
    }
    Ok(snap)
}

/// A random domain SID (three sub-authorities after S-1-5-21), like `net getlocalsid`.
fn random_domain_sid() -> [u32; 3] {
    let mut raw = [0u8; 12];
    crate::host::fill_random(&mut raw);
    let mut sid = [0u32; 3];
    for (i, s) in sid.iter_mut().enumerate() {
        let mut b = [0u8; 4];
        b.copy_from_slice(&raw[4 * i..4 * i + 4]);
        *s = u32::from_le_bytes(b);
    }
    sid
}

/// Parses an smbpasswd file for import: the records for `users` and `others`, the RID
/// counter after them, and the import record.
#[allow(clippy::type_complexity)]
fn parse_import(
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<AccountRecord>, Vec<AccountRecord>, ImportInfo), AccountError> {
    let lines = parse_lines(path, bytes, parse_fields)?;
    let mut info = ImportInfo {
        version: RECORD_VERSION,
        path: path.display().to_string(),
        time: now(),
        users: 0,
        others: 0,
        other_lines: 0,
        duplicate_lines: Vec::new(),
        original: if bytes.len() <= MAX_KEPT_ORIGINAL {
            bytes.to_vec()
        } else {
            Vec::new()
        },
    };
    let mut seen = BTreeSet::new();
    let mut accounts = Vec::new();
    for (i, line) in lines.into_iter().enumerate() {
        let Some(f) = line else {
            info.other_lines += 1;
            continue;
        };
        if !seen.insert(f.name.to_lowercase()) {
            info.duplicate_lines
                .push(u32::try_from(i + 1).unwrap_or(u32::MAX));
            continue;
        }
        accounts.push(f);
    }
    // Algorithmic RIDs first; collisions (same uid twice, overflow) get new ones after.
    let mut taken = BTreeSet::new();
    let mut rids = Vec::with_capacity(accounts.len());
    for f in &accounts {
        let rid = f
            .uid
            .checked_mul(2)
            .and_then(|r| r.checked_add(BASE_RID))
            .filter(|r| !taken.contains(r));
        if let Some(r) = rid {
            taken.insert(r);
        }
        rids.push(rid);
    }
    let mut next = BASE_RID;
    let (mut users, mut others) = (Vec::new(), Vec::new());
    for (f, rid) in accounts.into_iter().zip(rids) {
        let rid = match rid {
            Some(r) => r,
            None => {
                while taken.contains(&next) {
                    next += 1;
                }
                taken.insert(next);
                next
            }
        };
        let rec = AccountRecord::from_fields(f, rid);
        if rec.acb & acb::NORMAL != 0 {
            users.push(rec);
        } else {
            others.push(rec);
        }
    }
    info.users = u32::try_from(users.len()).unwrap_or(u32::MAX);
    info.others = u32::try_from(others.len()).unwrap_or(u32::MAX);
    Ok((users, others, info))
}

impl TdbAccounts {
    /// Opens (creating if needed) the database in the directory `dir`, importing the
    /// smbpasswd file `import_from` if the database is new and the file exists. Holds
    /// the store's lock only during this call (see the type docs).
    pub fn open(dir: impl Into<PathBuf>, import_from: Option<&Path>) -> Result<Self, AccountError> {
        let label = dir.into();
        if !label.exists() {
            fs::create_dir_all(&label).map_err(|source| AccountError::Io {
                path: label.clone(),
                source,
            })?;
            // Password hashes live here.
            fs::set_permissions(&label, fs::Permissions::from_mode(0o700)).map_err(|source| {
                AccountError::Io {
                    path: label.clone(),
                    source,
                }
            })?;
        }
        let accounts = TdbAccounts {
            label,
            backend: Backend::Dir,
            import_from: import_from.map(Path::to_path_buf),
            passwd: PathBuf::from("/etc/passwd"),
            cache: Mutex::default(),
        };
        // Initialise (and import) now, so that errors show at start-up.
        accounts.write(|_, _, _| Ok(()))?;
        Ok(accounts)
    }

    /// Opens the database in `storage`, held open for the lifetime of the returned
    /// object (tests use `tdb::MemStorage` and `tdb::sim::CrashStorage`). `label` names
    /// it in error messages.
    pub fn with_storage<S: Storage + 'static>(
        storage: S,
        label: impl Into<PathBuf>,
        import_from: Option<&Path>,
    ) -> Result<Self, AccountError> {
        let label = label.into();
        let store = Store::open(storage, store_options(true)).map_err(store_err(&label))?;
        let accounts = TdbAccounts {
            label,
            backend: Backend::Held(store),
            import_from: import_from.map(Path::to_path_buf),
            passwd: PathBuf::from("/etc/passwd"),
            cache: Mutex::default(),
        };
        accounts.write(|_, _, _| Ok(()))?;
        Ok(accounts)
    }

    /// Uses another file than `/etc/passwd` to look up Unix uids for new accounts.
    pub fn with_passwd_file(mut self, passwd: impl Into<PathBuf>) -> Self {
        self.passwd = passwd.into();
        self
    }

    /// The store directory (or the label given to [`TdbAccounts::with_storage`]).
    pub fn path(&self) -> &Path {
        &self.label
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current data (reloaded first if another process changed the store).
    fn snapshot(&self) -> MutexGuard<'_, Cache> {
        let mut cache = self.cache();
        if let Backend::Dir = self.backend {
            if let Err(e) = self.refresh(&mut cache) {
                let msg = e.to_string();
                if cache.last_error.as_deref() != Some(msg.as_str()) {
                    crate::warn!("account database: {msg}; using the data loaded before");
                    cache.last_error = Some(msg);
                }
            }
        }
        cache
    }

    fn refresh(&self, cache: &mut Cache) -> Result<(), AccountError> {
        let fp = Fingerprint::of(&self.label).map_err(|source| AccountError::Io {
            path: self.label.clone(),
            source,
        })?;
        if cache.fingerprint.as_ref() == Some(&fp) && !fp.racy() {
            return Ok(());
        }
        let mut tries = 0;
        let snap = loop {
            match Store::open(ReadOnlyDir::new(&self.label), store_options(false)) {
                Ok(store) => break load(&store, &self.label)?,
                Err(tdb::Error::NotFound) => break Snapshot::default(),
                // A compaction by the writer deleted a segment while we read it.
                Err(tdb::Error::Io(e)) if e.kind() == io::ErrorKind::NotFound && tries < 3 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(store_err(&self.label)(e)),
            }
        };
        cache.snap = snap;
        cache.fingerprint = Some(fp);
        cache.last_error = None;
        Ok(())
    }

    /// Reloads the data now (normally done automatically when the store changed).
    pub fn reload(&self) -> Result<(), AccountError> {
        match &self.backend {
            Backend::Held(store) => {
                let snap = load(store, &self.label)?;
                self.cache().snap = snap;
                Ok(())
            }
            Backend::Dir => {
                let mut cache = self.cache();
                cache.fingerprint = None;
                self.refresh(&mut cache)
            }
        }
    }

    fn open_locked(&self) -> Result<Store, AccountError> {
        let deadline = Instant::now() + LOCK_WAIT;
        let storage = loop {
            match FileStorage::open(&self.label) {
                Ok(s) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(AccountError::Io {
                            path: self.label.clone(),
                            source: io::Error::new(
                                io::ErrorKind::WouldBlock,
                                "the account database is locked by another process \
                                 (waited 10 s)",
                            ),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => {
                    return Err(AccountError::Io {
                        path: self.label.clone(),
                        source,
                    })
                }
            }
        };
        Store::open(storage, store_options(true)).map_err(store_err(&self.label))
    }

    /// Creates the tables and, on a new store, initialises it (with the import).
    fn prepare(&self, store: &Store) -> Result<Tables, AccountError> {
        let st = store_err(&self.label);
        let t = Tables {
            meta: store.table(T_META).map_err(&st)?,
            users: store.table(T_USERS).map_err(&st)?,
            others: store.table(T_OTHERS).map_err(&st)?,
            groups: store.table(T_GROUPS).map_err(&st)?,
            members: store.table(T_MEMBERS).map_err(&st)?,
        };
        match store.get(t.meta, b"schema").map_err(&st)? {
            Some(v) => {
                let schema: u32 = decode(&self.label, T_META, b"schema", &v)?;
                if schema != SCHEMA_VERSION {
                    return Err(AccountError::Damaged {
                        path: self.label.clone(),
                        what: format!(
                            "database layout version {schema} is not supported (this smbed \
                             knows version {SCHEMA_VERSION})"
                        ),
                    });
                }
            }
            None => {
                let data = [t.users, t.others, t.groups, t.members]
                    .iter()
                    .map(|&tb| store.iter(tb).map(|i| i.len()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(&st)?;
                if data.iter().any(|&n| n > 0) {
                    return Err(AccountError::Damaged {
                        path: self.label.clone(),
                        what: "accounts without a schema record".into(),
                    });
                }
                self.initialize(store, t)?;
            }
        }
        Ok(t)
    }

    fn initialize(&self, store: &Store, t: Tables) -> Result<(), AccountError> {
        let st = store_err(&self.label);
        let mut batch = store.batch();
        batch
            .put_value(t.meta, b"schema", &SCHEMA_VERSION)
            .map_err(&st)?;
        batch
            .put_value(t.meta, b"domain_sid", &random_domain_sid())
            .map_err(&st)?;
        batch.put_value(t.meta, b"created", &now()).map_err(&st)?;
        batch
            .put_value(t.meta, b"next_rid", &BASE_RID)
            .map_err(&st)?;
        if let Some(path) = &self.import_from {
            match fs::read(path) {
                Ok(bytes) => {
                    let (users, others, info) = parse_import(path, &bytes)?;
                    for (table, recs) in [(t.users, &users), (t.others, &others)] {
                        for rec in recs {
                            batch
                                .put_value(table, rec.name.to_lowercase().as_bytes(), rec)
                                .map_err(&st)?;
                        }
                    }
                    batch.put_value(t.meta, b"import", &info).map_err(&st)?;
                    // Once, and important: later edits of that file have no effect.
                    crate::warn!(
                        "account database {} created from {} ({} user(s), {} other \
                         account(s)); that file is not read any more: manage accounts with \
                         'smbed user'",
                        self.label.display(),
                        path.display(),
                        info.users,
                        info.others
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(AccountError::Io {
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        batch.commit(Durability::Immediate).map_err(&st)
    }

    /// Makes a change: `f` gets the store, its tables and the current data (read
    /// under the lock) and commits its batch; the cache is reloaded afterwards.
    fn write<T>(
        &self,
        f: impl FnOnce(&Store, Tables, &Snapshot) -> Result<T, AccountError>,
    ) -> Result<T, AccountError> {
        match &self.backend {
            Backend::Held(store) => {
                let t = self.prepare(store)?;
                let snap = load(store, &self.label)?;
                let r = f(store, t, &snap);
                let snap = load(store, &self.label)?;
                self.cache().snap = snap;
                r
            }
            Backend::Dir => {
                let store = self.open_locked()?;
                let result = self.prepare(&store).and_then(|t| {
                    let snap = load(&store, &self.label)?;
                    let r = f(&store, t, &snap)?;
                    Ok((r, load(&store, &self.label)?))
                });
                let closed = store.close().map_err(store_err(&self.label));
                let (r, snap) = result?;
                closed?;
                let fp = Fingerprint::of(&self.label).ok();
                let mut cache = self.cache();
                cache.snap = snap;
                cache.fingerprint = fp;
                cache.last_error = None;
                Ok(r)
            }
        }
    }

    /// The server's domain SID sub-authorities (S-1-5-21-a-b-c).
    pub fn domain_sid(&self) -> Option<[u32; 3]> {
        self.snapshot().snap.domain_sid
    }

    /// The domain SID as a string, e.g. `S-1-5-21-1-2-3`.
    pub fn domain_sid_string(&self) -> Option<String> {
        self.domain_sid()
            .map(|[a, b, c]| format!("S-1-5-21-{a}-{b}-{c}"))
    }

    /// The SID of a user or group, as a string.
    pub fn sid_of(&self, name: &str) -> Option<String> {
        let key = name.to_lowercase();
        let cache = self.snapshot();
        let s = &cache.snap;
        let rid = s
            .users
            .get(&key)
            .or_else(|| s.others.get(&key))
            .map(|a| a.rid)
            .or_else(|| s.groups.get(&key).map(|g| g.rid))?;
        let [a, b, c] = s.domain_sid?;
        Some(format!("S-1-5-21-{a}-{b}-{c}-{rid}"))
    }

    /// The full record of a user or other account.
    pub fn record(&self, name: &str) -> Option<AccountRecord> {
        let key = name.to_lowercase();
        let cache = self.snapshot();
        cache
            .snap
            .users
            .get(&key)
            .or_else(|| cache.snap.others.get(&key))
            .cloned()
    }

    /// Machine and trust accounts (imported from smbpasswd), by name.
    pub fn other_accounts(&self) -> Vec<AccountRecord> {
        self.snapshot().snap.others.values().cloned().collect()
    }

    /// What the first start imported, if anything.
    pub fn import_info(&self) -> Option<ImportInfo> {
        self.snapshot().snap.import.clone()
    }

    fn modify_user(
        &self,
        name: &str,
        f: impl FnOnce(&mut AccountRecord),
    ) -> Result<(), AccountError> {
        let key = name.to_lowercase();
        self.write(|store, t, snap| {
            let mut rec = snap
                .users
                .get(&key)
                .cloned()
                .ok_or_else(|| AccountError::NotFound(name.to_owned()))?;
            f(&mut rec);
            store
                .put_value(t.users, key.as_bytes(), &rec, Durability::Immediate)
                .map_err(store_err(&self.label))
        })
    }

    /// Sets or clears the disabled flag of a user.
    pub fn set_disabled(&mut self, name: &str, disabled: bool) -> Result<(), AccountError> {
        self.modify_user(name, |r| {
            r.acb &= !acb::DISABLED;
            if disabled {
                r.acb |= acb::DISABLED;
            }
        })
    }

    /// Adds a group (`gid`: the Unix group it maps to, if any).
    pub fn add_group(&mut self, name: &str, gid: Option<u32>) -> Result<Group, AccountError> {
        validate_name(name)?;
        let key = name.to_lowercase();
        self.write(|store, t, snap| {
            if snap.name_taken(&key) {
                return Err(AccountError::Exists(name.to_owned()));
            }
            let rid = snap.alloc_rid().map_err(|what| AccountError::Damaged {
                path: self.label.clone(),
                what,
            })?;
            let group = Group {
                version: RECORD_VERSION,
                name: name.to_owned(),
                rid,
                gid,
                comment: String::new(),
            };
            let st = store_err(&self.label);
            let mut batch = store.batch();
            batch
                .put_value(t.groups, key.as_bytes(), &group)
                .map_err(&st)?;
            batch
                .put_value(t.meta, b"next_rid", &rid.saturating_add(1))
                .map_err(&st)?;
            batch.commit(Durability::Immediate).map_err(&st)?;
            Ok(group)
        })
    }

    /// Deletes a group and its member list.
    pub fn delete_group(&mut self, name: &str) -> Result<(), AccountError> {
        let key = name.to_lowercase();
        self.write(|store, t, snap| {
            if !snap.groups.contains_key(&key) {
                return Err(AccountError::NotFound(name.to_owned()));
            }
            let mut batch = store.batch();
            batch.delete(t.groups, key.as_bytes());
            batch.delete(t.members, key.as_bytes());
            batch
                .commit(Durability::Immediate)
                .map_err(store_err(&self.label))
        })
    }

    /// All groups, by name.
    pub fn groups(&self) -> Vec<Group> {
        self.snapshot().snap.groups.values().cloned().collect()
    }

    fn change_members(&mut self, group: &str, user: &str, add: bool) -> Result<(), AccountError> {
        let gkey = group.to_lowercase();
        let ukey = user.to_lowercase();
        self.write(|store, t, snap| {
            if !snap.groups.contains_key(&gkey) {
                return Err(AccountError::NotFound(group.to_owned()));
            }
            if !snap.users.contains_key(&ukey) && !snap.others.contains_key(&ukey) {
                return Err(AccountError::NotFound(user.to_owned()));
            }
            let mut members = snap.members.get(&gkey).cloned().unwrap_or_default();
            match (members.binary_search(&ukey), add) {
                (Err(i), true) => members.insert(i, ukey.clone()),
                (Ok(i), false) => {
                    members.remove(i);
                }
                _ => return Ok(()),
            }
            store
                .put_value(t.members, gkey.as_bytes(), &members, Durability::Immediate)
                .map_err(store_err(&self.label))
        })
    }

    /// Adds a user (or other account) to a group (no change if already a member).
    pub fn add_member(&mut self, group: &str, user: &str) -> Result<(), AccountError> {
        self.change_members(group, user, true)
    }

    /// Removes a user from a group (no change if not a member).
    pub fn remove_member(&mut self, group: &str, user: &str) -> Result<(), AccountError> {
        self.change_members(group, user, false)
    }

    /// The members of a group (names as stored).
    pub fn members(&self, group: &str) -> Result<Vec<String>, AccountError> {
        let gkey = group.to_lowercase();
        let cache = self.snapshot();
        let s = &cache.snap;
        if !s.groups.contains_key(&gkey) {
            return Err(AccountError::NotFound(group.to_owned()));
        }
        Ok(s.members
            .get(&gkey)
            .into_iter()
            .flatten()
            .filter_map(|k| s.users.get(k).or_else(|| s.others.get(k)))
            .map(|a| a.name.clone())
            .collect())
    }

    /// The groups a user belongs to (names as stored).
    pub fn user_groups(&self, user: &str) -> Vec<String> {
        let ukey = user.to_lowercase();
        let cache = self.snapshot();
        let s = &cache.snap;
        s.members
            .iter()
            .filter(|(_, m)| m.binary_search(&ukey).is_ok())
            .filter_map(|(g, _)| s.groups.get(g).map(|g| g.name.clone()))
            .collect()
    }

    /// Writes every account (users, then other accounts) to `path` in Samba's smbpasswd
    /// format, atomically (temporary file, fsync, rename, directory fsync), mode 0600.
    /// Returns the number of lines written. Groups have no place in that format.
    pub fn export_smbpasswd(&self, path: &Path) -> Result<usize, AccountError> {
        let text = {
            let cache = self.snapshot();
            let mut text = String::new();
            let mut n = 0;
            for rec in cache.snap.users.values().chain(cache.snap.others.values()) {
                text.push_str(&rec.smbpasswd_line());
                text.push('\n');
                n += 1;
            }
            (text, n)
        };
        replace_file(path, text.0.as_bytes())?;
        sync_dir(path)?;
        Ok(text.1)
    }
}

impl AccountStore for TdbAccounts {
    fn domain_sid(&self) -> Option<[u32; 3]> {
        TdbAccounts::domain_sid(self)
    }

    fn user_groups(&self, user: &str) -> Vec<String> {
        TdbAccounts::user_groups(self, user)
    }

    fn list(&self) -> Vec<Account> {
        self.snapshot()
            .snap
            .users
            .values()
            .map(AccountRecord::account)
            .collect()
    }

    fn get(&self, name: &str) -> Option<Account> {
        self.snapshot()
            .snap
            .users
            .get(&name.to_lowercase())
            .map(AccountRecord::account)
    }

    fn add(&mut self, name: &str, nt_hash: [u8; 16]) -> Result<(), AccountError> {
        validate_name(name)?;
        let key = name.to_lowercase();
        self.write(|store, t, snap| {
            if snap.name_taken(&key) {
                return Err(AccountError::Exists(name.to_owned()));
            }
            let uid = pick_uid(&self.passwd, name, |uid| snap.uid_used(uid));
            let rid = snap.alloc_rid().map_err(|what| AccountError::Damaged {
                path: self.label.clone(),
                what,
            })?;
            let rec = AccountRecord {
                version: RECORD_VERSION,
                name: name.to_owned(),
                rid,
                uid,
                nt_hash: Some(nt_hash),
                lm_hash: None,
                acb: acb::NORMAL,
                extra_flags: String::new(),
                pwd_last_set: now(),
            };
            let st = store_err(&self.label);
            let mut batch = store.batch();
            batch
                .put_value(t.users, key.as_bytes(), &rec)
                .map_err(&st)?;
            batch
                .put_value(t.meta, b"next_rid", &rid.saturating_add(1))
                .map_err(&st)?;
            batch.commit(Durability::Immediate).map_err(&st)
        })
    }

    fn set_hash(&mut self, name: &str, nt_hash: [u8; 16]) -> Result<(), AccountError> {
        self.modify_user(name, |r| {
            r.nt_hash = Some(nt_hash);
            r.lm_hash = None;
            // A password now exists: "no password required" no longer applies.
            r.acb &= !acb::PWNOTREQ;
            r.pwd_last_set = now();
        })
    }

    fn delete(&mut self, name: &str) -> Result<(), AccountError> {
        let key = name.to_lowercase();
        self.write(|store, t, snap| {
            if !snap.users.contains_key(&key) {
                return Err(AccountError::NotFound(name.to_owned()));
            }
            let st = store_err(&self.label);
            let mut batch = store.batch();
            batch.delete(t.users, key.as_bytes());
            for (group, members) in &snap.members {
                if let Ok(i) = members.binary_search(&key) {
                    let mut m = members.clone();
                    m.remove(i);
                    batch
                        .put_value(t.members, group.as_bytes(), &m)
                        .map_err(&st)?;
                }
            }
            batch.commit(Durability::Immediate).map_err(&st)
        })
    }
}

/// Opens the account database for a configuration: `<private dir>/accounts.tdb`,
/// importing on first start the smbpasswd file named by `passdb backend =
/// smbpasswd:FILE` (or `smb passwd file` when the backend is `tdbsam`, whose Samba
/// database smbed cannot read).
pub fn open_configured(cfg: &smbed_config::ValidConfig) -> Result<TdbAccounts, String> {
    let g = &cfg.global;
    let import = match &g.passdb_backend {
        smbed_config::PassdbBackend::SmbPasswd(p) => p.clone(),
        smbed_config::PassdbBackend::TdbSam(p) => {
            if p.exists() {
                crate::warn!(
                    "{}: Samba tdbsam databases are not imported; export it with \
                     'pdbedit -e smbpasswd:FILE' and set 'smb passwd file = FILE'",
                    p.display()
                );
            }
            g.smb_passwd_file.clone()
        }
    };
    fs::create_dir_all(&g.private_dir).map_err(|e| format!("{}: {e}", g.private_dir.display()))?;
    TdbAccounts::open(g.private_dir.join("accounts.tdb"), Some(&import)).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Read-only access to a store directory (used here and by `smbed tdb`)
// ---------------------------------------------------------------------------

/// A store directory opened read-only, without the writer's lock: files are opened
/// `O_RDONLY` and every change (create, write, rename, remove, sync) is refused.
/// `Store::open` over it recovers the state a crash at this instant would leave
/// (a consistent prefix of the log) and never modifies anything; see the docs of `smbed tdb`
/// (`tdb_cli.rs`) for why that is safe.
pub(crate) struct ReadOnlyDir {
    path: PathBuf,
}

impl ReadOnlyDir {
    /// A read-only view of `path` (which need not exist: a missing directory lists as empty).
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Like [`ReadOnlyDir::new`], but `path` must be an existing directory.
    pub(crate) fn open(path: &Path) -> Result<Self, String> {
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => Ok(Self::new(path)),
            Ok(_) => Err(format!("{}: not a directory", path.display())),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

fn refused() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "store opened read-only")
}

fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad file name {name:?}"),
        ));
    }
    Ok(())
}

struct ReadOnlyFile(File);

impl StorageFile for ReadOnlyFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn write_at(&self, _buf: &[u8], _offset: u64) -> io::Result<()> {
        Err(refused())
    }
    fn set_len(&self, _len: u64) -> io::Result<()> {
        Err(refused())
    }
    fn allocate(&self, _len: u64) -> io::Result<()> {
        Err(refused())
    }
    fn sync(&self) -> io::Result<()> {
        // Nothing was written through this handle.
        Ok(())
    }
}

impl Storage for ReadOnlyDir {
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        check_name(name)?;
        Ok(Box::new(ReadOnlyFile(File::open(self.path.join(name))?)))
    }
    fn create(&self, _name: &str) -> io::Result<Box<dyn StorageFile>> {
        Err(refused())
    }
    fn list(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                if entry.file_type()?.is_file() {
                    names.push(name);
                }
            }
        }
        names.sort();
        Ok(names)
    }
    fn remove(&self, _name: &str) -> io::Result<()> {
        Err(refused())
    }
    fn rename(&self, _from: &str, _to: &str) -> io::Result<()> {
        Err(refused())
    }
    fn sync_dir(&self) -> io::Result<()> {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "smbed-accounts-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        /// A passwd file with a few users, so tests do not depend on the host's.
        fn passwd(&self) -> PathBuf {
            let p = self.join("passwd");
            fs::write(
                &p,
                "root:x:0:0:root:/root:/bin/sh\n\
                 nobody:x:65534:65534:nobody:/:/usr/sbin/nologin\n\
                 alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
                 bob:x:1001:1001::/home/bob:/bin/sh\n\
                 svc:x:1003:1003::/:/bin/false\n",
            )
            .unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn open(dir: &TempDir) -> SmbPasswdFile {
        SmbPasswdFile::open(dir.join("smbpasswd"))
            .unwrap()
            .with_passwd_file(dir.passwd())
    }

    const H1: [u8; 16] = [
        0x88, 0x46, 0xF7, 0xEA, 0xEE, 0x8F, 0xB1, 0x17, 0xAD, 0x06, 0xBD, 0xD8, 0x30, 0xB7, 0x58,
        0x6C,
    ];
    const H2: [u8; 16] = [0xAB; 16];

    /// Lines as Samba 4's `smbpasswd` and `pdbedit` write them.
    const SAMBA_FILE: &str = "\
alice:1000:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:[U          ]:LCT-5F5E1000:
bob:1001:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:32ED87BDB5FDC5E9CBA88547376818D4:[DU         ]:LCT-62A1B2C3:
guest:65534:NO PASSWORDXXXXXXXXXXXXXXXXXXXXX:NO PASSWORDXXXXXXXXXXXXXXXXXXXXX:[NU         ]:LCT-00000000:
carol:1002:E52CAC67419A9A224A3B108F3FA6CB6D:8846F7EAEE8FB117AD06BDD830B7586C:[UX         ]:LCT-4B7C2D10:
ws01$:1004:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:0CB6948805F797BF2A82807973B89537:[W          ]:LCT-5E0BE100:
";

    #[test]
    fn missing_file_is_empty_and_not_created() {
        let dir = TempDir::new();
        let s = open(&dir);
        assert!(s.list().is_empty());
        assert!(s.get("alice").is_none());
        assert!(!dir.join("smbpasswd").exists());
    }

    #[test]
    fn round_trip() {
        let dir = TempDir::new();
        let mut s = open(&dir);
        s.add("alice", H1).unwrap();
        s.add("Dave", H2).unwrap();
        let path = dir.join("smbpasswd");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);

        let text = fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.starts_with(
            "alice:1000:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:[U          ]:LCT-"
        ), "{first}");
        assert!(first.ends_with(':'));
        assert_eq!(
            first.len(),
            "alice:1000:".len() + 32 + 1 + 32 + 1 + 13 + 1 + 12 + 1
        );

        let again = SmbPasswdFile::open(&path).unwrap();
        assert_eq!(again.list(), s.list());
        let dave = again.get("dave").unwrap();
        assert_eq!(dave.name, "Dave");
        assert_eq!(dave.nt_hash, Some(H2));
        assert!(!dave.disabled);
        assert!(dave.last_change > 1_600_000_000);
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    #[test]
    fn reads_samba_lines() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        fs::write(&path, SAMBA_FILE).unwrap();
        let s = SmbPasswdFile::open(&path).unwrap();
        let list = s.list();
        assert_eq!(
            list.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["alice", "bob", "guest", "carol"]
        );
        let alice = s.get("ALICE").unwrap();
        assert_eq!(
            alice,
            Account {
                name: "alice".into(),
                uid: 1000,
                rid: 3000,
                nt_hash: Some(H1),
                disabled: false,
                last_change: 0x5F5E_1000,
            }
        );
        let bob = s.get("bob").unwrap();
        assert!(bob.disabled);
        assert_eq!(bob.last_change, 0x62A1_B2C3);
        let guest = s.get("guest").unwrap();
        assert_eq!(guest.nt_hash, None);
        assert_eq!(guest.uid, 65534);
        assert!(!guest.disabled);
        assert_eq!(s.get("carol").unwrap().nt_hash, Some(H1));
        // Machine accounts are not user accounts.
        assert!(s.get("ws01$").is_none());
    }

    #[test]
    fn rewrite_keeps_other_lines_and_drops_lm_hashes() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        let text = format!("# accounts\n\n{SAMBA_FILE}");
        fs::write(&path, &text).unwrap();
        let mut s = SmbPasswdFile::open(&path)
            .unwrap()
            .with_passwd_file(dir.passwd());
        s.set_hash("Guest", H2).unwrap();
        let out = fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# accounts");
        assert_eq!(lines[1], "");
        assert_eq!(lines[2], SAMBA_FILE.lines().next().unwrap());
        assert_eq!(
            lines[3],
            "bob:1001:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:32ED87BDB5FDC5E9CBA88547376818D4:[DU         ]:LCT-62A1B2C3:"
        );
        // N is cleared once a password is set.
        assert!(lines[4].starts_with(
            "guest:65534:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:ABABABABABABABABABABABABABABABAB:[U          ]:LCT-"
        ), "{}", lines[4]);
        // carol's LM hash is gone, her flags kept.
        assert_eq!(
            lines[5],
            "carol:1002:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:[UX         ]:LCT-4B7C2D10:"
        );
        assert_eq!(lines[6], SAMBA_FILE.lines().nth(4).unwrap());
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn no_password_lines_are_written_back_as_such() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        fs::write(&path, SAMBA_FILE).unwrap();
        let mut s = SmbPasswdFile::open(&path).unwrap();
        s.delete("alice").unwrap();
        let out = fs::read_to_string(&path).unwrap();
        assert!(out.contains(
            "guest:65534:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:NO PASSWORDXXXXXXXXXXXXXXXXXXXXX:[NU         ]:LCT-00000000:\n"
        ), "{out}");
        assert!(!out.contains("alice"));
    }

    #[test]
    fn old_format_and_tolerated_lines() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        fs::write(
            &path,
            "  # comment\r\n\r\nold:500:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846f7eaee8fb117ad06bdd830b7586c:Old User:/home/old:/bin/sh\n\
             nolct:501:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:[U          ]:\n",
        )
        .unwrap();
        let s = SmbPasswdFile::open(&path).unwrap();
        let old = s.get("old").unwrap();
        assert_eq!(old.uid, 500);
        assert_eq!(old.nt_hash, Some(H1));
        assert_eq!(old.last_change, 0);
        assert_eq!(s.get("nolct").unwrap().last_change, 0);
    }

    #[test]
    fn malformed_lines_report_path_and_line() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        let good = SAMBA_FILE.lines().next().unwrap();
        let cases: &[(&str, &str)] = &[
            ("alice:1000", "expected 'name:uid:LMHASH:NTHASH:[FLAGS]:LCT-XXXXXXXX:'"),
            (":1000:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[U          ]:", "empty account name"),
            ("a:-1:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[U          ]:", "invalid uid '-1'"),
            ("a:x:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[U          ]:", "invalid uid 'x'"),
            ("a:1:XXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[U          ]:", "LM hash field 'XXXX' is not 32 characters"),
            ("a:1:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586Z:[U          ]:", "NT hash field '8846F7EAEE8FB117AD06BDD830B7586Z' is not 32 hex digits or 32 'X's"),
            ("a:1:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[U   ", "unterminated account flags '[U   '"),
            ("a:1:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[u          ]:", "invalid account flag 'u' in '[u          ]'"),
            ("a:1:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[U          ]:LCT-ZZ:", "invalid last change time 'LCT-ZZ'"),
            ("a:1:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:[U          ]:LCT-:", "invalid last change time 'LCT-'"),
        ];
        for (bad, reason) in cases {
            fs::write(&path, format!("{good}\n# c\n{bad}\n{good}\n")).unwrap();
            let e = SmbPasswdFile::open(&path).unwrap_err();
            assert!(matches!(e, AccountError::Parse { line: 3, .. }), "{e:?}");
            assert_eq!(e.to_string(), format!("{}:3: {reason}", path.display()));
        }
        fs::write(&path, b"# ok\ncaf\xe9:1:x\n").unwrap();
        let e = SmbPasswdFile::open(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}:2: invalid UTF-8", path.display())
        );
    }

    #[test]
    fn names_are_validated() {
        let dir = TempDir::new();
        let mut s = open(&dir);
        for (bad, reason) in [
            ("", "the name is empty"),
            ("a:b", "the name contains ':'"),
            (" alice", "the name starts with a space"),
            ("#root", "the name starts with '#'"),
            ("a\nb", "the name contains a control character"),
            ("tab\there", "the name contains a control character"),
        ] {
            let e = s.add(bad, H1).unwrap_err();
            assert!(matches!(e, AccountError::InvalidName { .. }), "{bad:?}");
            assert!(e.to_string().ends_with(reason), "{e}");
        }
        let long = "é".repeat(65);
        assert!(matches!(
            s.add(&long, H1),
            Err(AccountError::InvalidName { .. })
        ));
        s.add(&"é".repeat(64), H1).unwrap();
        s.add("John Smith", H1).unwrap();
        assert_eq!(s.list().len(), 2);
    }

    #[test]
    fn duplicates_and_missing() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        fs::write(&path, SAMBA_FILE).unwrap();
        let mut s = SmbPasswdFile::open(&path)
            .unwrap()
            .with_passwd_file(dir.passwd());
        assert!(matches!(s.add("ALICE", H2), Err(AccountError::Exists(_))));
        // A machine account's name is taken too.
        assert!(matches!(s.add("WS01$", H2), Err(AccountError::Exists(_))));
        assert!(matches!(
            s.set_hash("nobody", H2),
            Err(AccountError::NotFound(_))
        ));
        assert!(matches!(s.delete("nobody"), Err(AccountError::NotFound(_))));
        assert!(matches!(s.delete("ws01$"), Err(AccountError::NotFound(_))));
        assert_eq!(s.delete("zed").unwrap_err().to_string(), "no account 'zed'");
    }

    #[test]
    fn set_hash_and_delete_are_case_insensitive() {
        let dir = TempDir::new();
        let mut s = open(&dir);
        s.add("Alice", H1).unwrap();
        s.set_hash("ALICE", H2).unwrap();
        assert_eq!(s.get("alice").unwrap().nt_hash, Some(H2));
        s.set_disabled("alice", true).unwrap();
        assert!(s.get("alice").unwrap().disabled);
        let again = SmbPasswdFile::open(s.path()).unwrap();
        assert!(again.get("alice").unwrap().disabled);
        s.set_disabled("alice", false).unwrap();
        assert!(!s.get("alice").unwrap().disabled);
        s.delete("aLiCe").unwrap();
        assert!(s.list().is_empty());
        assert!(SmbPasswdFile::open(s.path()).unwrap().list().is_empty());
    }

    #[test]
    fn uids_come_from_passwd_or_are_assigned() {
        let dir = TempDir::new();
        let mut s = open(&dir);
        s.add("bob", H1).unwrap();
        s.add("nobody", H1).unwrap();
        // Not in passwd: lowest free uid >= 1000 not used by passwd (1000, 1001,
        // 1003) or by the file.
        s.add("erin", H1).unwrap();
        s.add("frank", H1).unwrap();
        s.add("gina", H1).unwrap();
        let uid = |n: &str| s.get(n).unwrap().uid;
        assert_eq!(uid("bob"), 1001);
        assert_eq!(uid("nobody"), 65534);
        assert_eq!(uid("erin"), 1002);
        assert_eq!(uid("frank"), 1004);
        assert_eq!(uid("gina"), 1005);

        // Machine account uids are not reused either.
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        fs::write(&path, SAMBA_FILE).unwrap();
        let mut s = SmbPasswdFile::open(&path)
            .unwrap()
            .with_passwd_file(dir.join("no-such-passwd"));
        s.add("zoe", H1).unwrap();
        assert_eq!(s.get("zoe").unwrap().uid, 1003);
        s.add("yan", H1).unwrap();
        assert_eq!(s.get("yan").unwrap().uid, 1005);
    }

    #[test]
    fn failed_write_keeps_previous_state() {
        let dir = TempDir::new();
        let mut s = SmbPasswdFile::open(dir.join("missing-dir/smbpasswd")).unwrap();
        let e = s.add("alice", H1).unwrap_err();
        assert!(matches!(e, AccountError::Io { .. }), "{e:?}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(s.list().is_empty());
    }

    #[test]
    fn rewrite_replaces_file_and_fixes_mode() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        fs::write(&path, SAMBA_FILE).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let mut s = SmbPasswdFile::open(&path)
            .unwrap()
            .with_passwd_file(dir.passwd());
        s.add("dan", H2).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = SmbPasswdFile::open(&path).unwrap();
        assert_eq!(again.list().len(), 5);
        assert_eq!(again.get("dan").unwrap().nt_hash, Some(H2));
    }

    #[test]
    fn bare_file_name_uses_current_directory() {
        assert_eq!(parent_dir(Path::new("smbpasswd")), Path::new("."));
        assert_eq!(parent_dir(Path::new("/etc/smbpasswd")), Path::new("/etc"));
        let dir = TempDir::new();
        let p = dir.join("plain");
        replace_file(&p, b"x\n").unwrap();
        sync_dir(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"x\n");
    }

    #[test]
    fn empty_and_comment_only_files() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        fs::write(&path, "").unwrap();
        assert!(SmbPasswdFile::open(&path).unwrap().list().is_empty());
        fs::write(&path, "# nothing\n\n").unwrap();
        let mut s = SmbPasswdFile::open(&path)
            .unwrap()
            .with_passwd_file(dir.passwd());
        assert!(s.list().is_empty());
        s.add("alice", H1).unwrap();
        let out = fs::read_to_string(&path).unwrap();
        assert!(out.starts_with("# nothing\n\nalice:1000:"), "{out}");
    }

    // ----- TdbAccounts -----------------------------------------------------

    use tdb::sim::CrashStorage;
    use tdb::MemStorage;

    /// A Samba smbpasswd file with everything an import must keep: comments, a blank
    /// line, users (normal, disabled, no password, with an LM hash), a machine and an
    /// interdomain trust account, an old-format line and a duplicate name.
    fn samba_full() -> String {
        format!(
            "# smbpasswd written by Samba 4.17\n\n{SAMBA_FILE}\
             EXAMPLE$:1010:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:0CB6948805F797BF2A82807973B89537:[I          ]:LCT-5E0BE101:\n\
             old:500:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:Old User:/home/old:/bin/sh\n\
             ALICE:1999:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:ABABABABABABABABABABABABABABABAB:[U          ]:LCT-00000001:\n"
        )
    }

    fn tdb_open(dir: &TempDir) -> TdbAccounts {
        TdbAccounts::open(dir.join("accounts.tdb"), Some(&dir.join("smbpasswd")))
            .unwrap()
            .with_passwd_file(dir.passwd())
    }

    fn names(s: &dyn AccountStore) -> Vec<String> {
        s.list().into_iter().map(|a| a.name).collect()
    }

    #[test]
    fn tdb_import_keeps_everything_and_leaves_the_file_alone() {
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        let text = samba_full();
        fs::write(&path, &text).unwrap();
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();

        let s = tdb_open(&dir);
        assert_eq!(names(&s), ["alice", "bob", "carol", "guest", "old"]);
        let alice = s.get("ALICE").unwrap();
        assert_eq!(
            alice,
            Account {
                name: "alice".into(),
                uid: 1000,
                rid: 3000,
                nt_hash: Some(H1),
                disabled: false,
                last_change: 0x5F5E_1000,
            }
        );
        let bob = s.get("bob").unwrap();
        assert!(bob.disabled);
        assert_eq!((bob.rid, bob.last_change), (3002, 0x62A1_B2C3));
        let guest = s.record("guest").unwrap();
        assert_eq!(guest.nt_hash, None);
        assert_eq!(guest.acb, acb::PWNOTREQ | acb::NORMAL);
        assert_eq!(guest.rid, 65534 * 2 + 1000);
        let carol = s.record("Carol").unwrap();
        assert_eq!(carol.flag_letters(), "UX");
        assert!(carol.lm_hash.is_some());
        let old = s.record("old").unwrap();
        assert_eq!((old.uid, old.pwd_last_set, old.acb), (500, 0, acb::NORMAL));

        // Machine and trust accounts are kept, but are not users.
        assert!(s.get("ws01$").is_none());
        let others = s.other_accounts();
        assert_eq!(
            others
                .iter()
                .map(|a| (a.name.as_str(), a.rid, a.flag_letters()))
                .collect::<Vec<_>>(),
            [
                ("EXAMPLE$", 3020, "I".to_owned()),
                ("ws01$", 3008, "W".to_owned())
            ]
        );

        let info = s.import_info().unwrap();
        assert_eq!((info.users, info.others, info.other_lines), (5, 2, 2));
        assert_eq!(info.duplicate_lines, [10]);
        assert_eq!(info.original, text.as_bytes());
        assert_eq!(info.path, path.display().to_string());

        // The smbpasswd file is untouched.
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);

        // The export gives Samba's lines back unchanged (the old-format line in the new
        // format); the duplicate is only in the kept original.
        let out = dir.join("exported");
        assert_eq!(s.export_smbpasswd(&out).unwrap(), 7);
        let exported = fs::read_to_string(&out).unwrap();
        for line in SAMBA_FILE
            .lines()
            .chain(text.lines().filter(|l| l.starts_with("EXAMPLE$")))
        {
            assert!(exported.lines().any(|l| l == line), "{line}\n{exported}");
        }
        assert!(exported.contains(
            "old:500:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:[U          ]:LCT-00000000:\n"
        ));
        assert_eq!(
            fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // The export parses as an smbpasswd file with the same users.
        let back = SmbPasswdFile::open(&out).unwrap();
        assert_eq!(back.list(), s.list());

        let sid = s.domain_sid_string().unwrap();
        assert!(sid.starts_with("S-1-5-21-"), "{sid}");
        assert_eq!(s.sid_of("Alice").unwrap(), format!("{sid}-3000"));

        // The file is not read again: a later line is not imported on reopen.
        drop(s);
        fs::write(&path, format!("{text}zed:1234:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:[U          ]:LCT-00000000:\n")).unwrap();
        let s = tdb_open(&dir);
        assert!(s.get("zed").is_none());
        assert_eq!(s.list().len(), 5);
        assert_eq!(s.domain_sid_string().unwrap(), sid);
    }

    #[test]
    fn tdb_import_of_smbeds_own_file_and_rid_collisions() {
        let dir = TempDir::new();
        // What SmbPasswdFile (the first-light store) writes.
        let mut old = open(&dir);
        old.add("Alice", H1).unwrap();
        old.add("dave", H2).unwrap();
        old.set_disabled("dave", true).unwrap();
        let path = dir.join("smbpasswd");
        let mut text = fs::read_to_string(&path).unwrap();
        // Same uid twice: the second gets a new RID.
        let uid = old.get("alice").unwrap().uid;
        text.push_str(&format!("twin:{uid}:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:8846F7EAEE8FB117AD06BDD830B7586C:[U          ]:LCT-00000000:\n"));
        fs::write(&path, &text).unwrap();

        let mut s = tdb_open(&dir);
        for a in old.list() {
            let mut expect = a.clone();
            expect.rid = algorithmic_rid(a.uid);
            assert_eq!(s.get(&a.name).unwrap(), expect);
        }
        assert_eq!(s.get("twin").unwrap().rid, BASE_RID);
        // New accounts continue after the RIDs taken.
        s.add("erin", H1).unwrap();
        assert_eq!(s.get("erin").unwrap().rid, BASE_RID + 1);
    }

    #[test]
    fn tdb_add_passwd_del_list_case_insensitive() {
        let dir = TempDir::new();
        let mut s = tdb_open(&dir);
        assert!(s.list().is_empty());
        assert!(s.import_info().is_none());
        s.add("Alice", H1).unwrap();
        s.add("bob", H1).unwrap();
        assert!(matches!(s.add("ALICE", H2), Err(AccountError::Exists(_))));
        assert!(matches!(
            s.add("a:b", H2),
            Err(AccountError::InvalidName { .. })
        ));
        let alice = s.get("alice").unwrap();
        // uids: as SmbPasswdFile (passwd names match exactly: "Alice" is not "alice").
        assert_eq!(
            (alice.name.as_str(), alice.uid, alice.rid),
            ("Alice", 1002, 1000)
        );
        assert!(alice.last_change > 1_600_000_000);
        assert_eq!(
            (s.get("BOB").unwrap().uid, s.get("BOB").unwrap().rid),
            (1001, 1001)
        );

        s.set_hash("ALICE", H2).unwrap();
        assert_eq!(s.get("aLiCe").unwrap().nt_hash, Some(H2));
        s.set_disabled("alice", true).unwrap();
        assert!(s.get("alice").unwrap().disabled);
        assert!(matches!(
            s.set_hash("nobody", H2),
            Err(AccountError::NotFound(_))
        ));
        s.delete("ALICE").unwrap();
        assert!(s.get("alice").is_none());
        assert_eq!(
            s.delete("alice").unwrap_err().to_string(),
            "no account 'alice'"
        );
        // RIDs are not reused.
        s.add("carol", H1).unwrap();
        assert_eq!(s.get("carol").unwrap().rid, 1002);
        assert_eq!(names(&s), ["bob", "carol"]);

        // Everything is on disk.
        drop(s);
        let s = tdb_open(&dir);
        assert_eq!(names(&s), ["bob", "carol"]);
        assert_eq!(s.get("carol").unwrap().nt_hash, Some(H1));
        // The store directory is private.
        let mode = fs::metadata(dir.join("accounts.tdb"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn tdb_changes_by_another_process_are_seen_without_reopening() {
        let dir = TempDir::new();
        // `server` stands for the daemon, `cli` for `smbed user ...`.
        let server = tdb_open(&dir);
        let mut cli = tdb_open(&dir);
        assert!(server.get("dave").is_none());
        cli.add("dave", H1).unwrap();
        assert_eq!(server.get("DAVE").unwrap().nt_hash, Some(H1));
        cli.set_hash("dave", H2).unwrap();
        assert_eq!(server.get("dave").unwrap().nt_hash, Some(H2));
        cli.delete("dave").unwrap();
        assert!(server.get("dave").is_none());
        // Neither holds the lock between changes: `smbed tdb compact` can run.
        crate::tdb_cli::compact(&dir.join("accounts.tdb"), &mut Vec::new()).unwrap();
        cli.add("erin", H2).unwrap();
        assert_eq!(server.get("erin").unwrap().nt_hash, Some(H2));
        assert_eq!(names(&server), ["erin"]);
    }

    #[test]
    fn tdb_groups_and_members() {
        let dir = TempDir::new();
        let mut s = tdb_open(&dir);
        s.add("Alice", H1).unwrap();
        s.add("bob", H1).unwrap();
        let g = s.add_group("Staff", Some(100)).unwrap();
        assert_eq!((g.rid, g.gid), (1002, Some(100)));
        assert!(matches!(
            s.add_group("STAFF", None),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            s.add_group("alice", None),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(s.add("staff", H1), Err(AccountError::Exists(_))));
        s.add_member("staff", "ALICE").unwrap();
        s.add_member("Staff", "alice").unwrap();
        s.add_member("staff", "bob").unwrap();
        assert!(matches!(
            s.add_member("staff", "nobody"),
            Err(AccountError::NotFound(_))
        ));
        assert!(matches!(
            s.add_member("nogroup", "bob"),
            Err(AccountError::NotFound(_))
        ));
        assert_eq!(s.members("STAFF").unwrap(), ["Alice", "bob"]);
        assert_eq!(s.user_groups("alice"), ["Staff"]);
        s.remove_member("staff", "bob").unwrap();
        assert_eq!(s.members("staff").unwrap(), ["Alice"]);
        // Deleting a user removes its memberships.
        s.delete("alice").unwrap();
        drop(s);
        let mut s = tdb_open(&dir);
        assert_eq!(s.groups().len(), 1);
        assert!(s.members("staff").unwrap().is_empty());
        assert!(s.sid_of("staff").unwrap().ends_with("-1002"));
        s.delete_group("staff").unwrap();
        assert!(s.groups().is_empty());
        assert!(matches!(s.members("staff"), Err(AccountError::NotFound(_))));
    }

    #[test]
    fn tdb_survives_power_cuts() {
        let disk = CrashStorage::new(4096, 7);
        let mut s = TdbAccounts::with_storage(disk.clone(), "crash", None).unwrap();
        s.add("alice", H1).unwrap();
        s.add("bob", H1).unwrap();
        s.set_hash("alice", H2).unwrap();
        s.delete("bob").unwrap();
        // Every acknowledged change survives a power cut right after it.
        let img = disk.crash_image();
        drop(s);
        let s = TdbAccounts::with_storage(img, "crash", None).unwrap();
        assert_eq!(names(&s), ["alice"]);
        assert_eq!(s.get("alice").unwrap().nt_hash, Some(H2));
    }

    #[test]
    fn tdb_import_is_all_or_nothing_across_power_cuts() {
        // One import notice per iteration otherwise.
        crate::log::set_level(0);
        let dir = TempDir::new();
        let path = dir.join("smbpasswd");
        fs::write(&path, samba_full()).unwrap();
        let clean = CrashStorage::new(4096, 1);
        let s = TdbAccounts::with_storage(clean.clone(), "crash", Some(&path)).unwrap();
        let expect = names(&s);
        let expect_others = s.other_accounts();
        let sid = s.domain_sid();
        drop(s);
        let total = clean.mutations();
        assert!(total > 5, "{total}");
        for n in 1..=total {
            let disk = CrashStorage::new(4096, n);
            disk.crash_after(n);
            let first = TdbAccounts::with_storage(disk.clone(), "crash", Some(&path));
            let img = disk.crash_image();
            drop(first);
            let s = TdbAccounts::with_storage(img, "crash", Some(&path))
                .unwrap_or_else(|e| panic!("crash at {n}: {e}"));
            assert_eq!(names(&s), expect, "crash at {n}");
            assert_eq!(s.other_accounts(), expect_others, "crash at {n}");
            assert_eq!(s.import_info().unwrap().users, 5);
            assert!(s.domain_sid().is_some() && s.domain_sid() != sid);
        }
    }

    #[test]
    fn tdb_damage_is_a_clear_error_with_the_path() {
        let dir = TempDir::new();
        let db = dir.join("accounts.tdb");
        let mut s = tdb_open(&dir);
        s.add("alice", H1).unwrap();
        // A damaged segment header.
        let seg = fs::read_dir(&db)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "log"))
            .unwrap();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.write_all_at(&[0xFF; 8], 16).unwrap();
        drop(f);
        let e = TdbAccounts::open(&db, None).err().unwrap();
        let msg = e.to_string();
        assert!(matches!(e, AccountError::Store { .. }), "{e:?}");
        assert!(
            msg.starts_with(&format!(
                "{}: account database: store is corrupt",
                db.display()
            )),
            "{msg}"
        );
        assert!(msg.contains("smbed tdb check"), "{msg}");
        // A running instance keeps the data it had.
        assert_eq!(s.get("alice").unwrap().nt_hash, Some(H1));

        // A record that does not decode.
        let mem = MemStorage::new();
        drop(TdbAccounts::with_storage(mem.clone(), "mem:accounts", None).unwrap());
        {
            let store = Store::open(mem.clone(), store_options(false)).unwrap();
            let users = store.lookup_table("users").unwrap().unwrap();
            store
                .put(users, b"mallory", b"\xff\xff", Durability::Immediate)
                .unwrap();
        }
        let e = TdbAccounts::with_storage(mem, "mem:accounts", None)
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .starts_with("mem:accounts: account database is damaged: record users/mallory: "),
            "{e}"
        );
    }
}
