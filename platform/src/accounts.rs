//! SMB user accounts, stored in Samba's smbpasswd file format.
//!
//! [`AccountStore`] is what the daemon and `smbed passwd` use; [`SmbPasswdFile`]
//! implements it over a file compatible with Samba's `smbpasswd` (so an
//! existing Samba account file can be reused and vice versa). One line per
//! account:
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

// Wired into the daemon and `smbed passwd` separately.
#![allow(dead_code)]

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One SMB user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user name as stored.
    pub name: String,
    /// The Unix uid recorded for the user.
    pub uid: u32,
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
        let passwd = fs::read_to_string(&self.passwd).unwrap_or_default();
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
        let used = |uid: u32| {
            unix_uids.contains(&uid)
                || self
                    .lines
                    .iter()
                    .any(|l| matches!(l, Line::User(u) if u.uid == uid))
                || self.lines.iter().any(|l| match l {
                    Line::Other {
                        text,
                        name: Some(_),
                    } => text.split(':').nth(1).and_then(|s| s.parse::<u32>().ok()) == Some(uid),
                    _ => false,
                })
        };
        (1000..u32::MAX).find(|&uid| !used(uid)).unwrap_or(u32::MAX)
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
        lines.push(parse_line(text).map_err(err)?);
    }
    Ok(lines)
}

fn parse_line(text: &str) -> Result<Line, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Line::Other {
            text: text.to_owned(),
            name: None,
        });
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
    parse_hash(fields[2]).map_err(|e| format!("LM {e}"))?;
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
    if !flags.contains('U') {
        return Ok(Line::Other {
            text: text.to_owned(),
            name: Some(name.to_owned()),
        });
    }
    Ok(Line::User(UserEntry {
        name: name.to_owned(),
        uid,
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
}
