//! Samba-style `smb.conf` parsing and validation for smbed.
//!
//! smbed reads the same file format as Samba so that an existing `smb.conf`
//! mostly keeps working. [`load`] reads a file, [`from_str`] reads text, and
//! both return a [`ValidConfig`] with every default filled in, plus the
//! [`Warning`]s an administrator should see. [`default_config`] is the
//! built-in configuration for running without a file. `Display` on
//! [`ValidConfig`] prints the effective configuration in smb.conf syntax (for
//! `smbed testparm`).
//!
//! # Syntax
//!
//! - `[section]` headers; parameters before the first header belong to
//!   `[global]`. Text after the closing `]` is ignored with a warning.
//! - `name = value` lines; only the first `=` counts. Names and values are
//!   trimmed, and runs of whitespace inside them are collapsed to one character,
//!   as Samba does.
//! - Lines whose first non-blank character is `;` or `#` are comments. As in
//!   Samba, there are no comments at the end of a line: `path = /a # b` has the
//!   value `/a # b`.
//! - A line ending in `\` continues on the next line.
//! - Parameter names are compared case-insensitively, ignoring spaces and
//!   underscores: `server min protocol`, `ServerMinProtocol` and
//!   `server_min_protocol` are the same parameter.
//! - Booleans are `yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`, any case.
//! - Lists (`smb ports`, `interfaces`, `valid users`, …) are separated by spaces,
//!   commas or semicolons; double quotes group an item containing them.
//! - `include = FILE` inserts another file at that point (it may open new
//!   sections). A relative `FILE` is taken relative to the directory of the
//!   including file (for [`from_str`], the directory part of `origin`). Includes
//!   nest at most [`MAX_INCLUDE_DEPTH`] levels; a file including itself, directly
//!   or not, is an error, and so is a missing include file (Samba ignores it;
//!   smbed fails closed). An include whose name uses a `%` substitution is
//!   skipped with a warning.
//! - Sections with the same name (case-insensitive) are merged, later values
//!   overriding earlier ones, like Samba. Several `[global]` sections merge too.
//! - A file is refused if it is larger than [`MAX_FILE_SIZE`], if all files
//!   together exceed [`MAX_TOTAL_SIZE`], if a line is not UTF-8 or contains a
//!   NUL byte, if a line is neither a comment, a header nor `name = value`, if a
//!   header has no `]` or no name, or if a parameter has no name. These errors
//!   carry `file:line`.
//! - `%` substitutions (`%U`, `%h`, …) are not expanded: values are used
//!   literally, with one warning for the whole configuration.
//!
//! Unknown parameters give a warning (`file:line`) and are ignored. Samba
//! parameters that restrict access (`hosts allow`, `read list`, `force user`, …)
//! are not supported either, and their warning says so explicitly. A global
//! parameter inside a share section is ignored with a warning. A value smbed
//! cannot accept is an error such as
//! `smb.conf:12: invalid value 'maybe' for 'read only': expected yes or no`.
//!
//! # Parameters honoured
//!
//! `[global]`:
//!
//! | parameter | value | default |
//! | --- | --- | --- |
//! | `smb ports` | list of ports 1–65535 | `445` |
//! | `interfaces` | list of IPv4/IPv6 addresses with optional `/prefix` or `/netmask`, or interface names (`lo`, `eth0`, `eth*`); Samba's `;options` suffix is ignored with a warning | empty (all) |
//! | `bind interfaces only` | boolean | no |
//! | `state directory` | path | [`DEFAULT_STATE_DIR`] |
//! | `private dir` (`private directory`) | path | the state directory |
//! | `server min protocol` (`min protocol`) | `SMB2_02`, `SMB2_10`, `SMB3_00`, `SMB3_02`, `SMB3_11`, `SMB2` (= SMB2_02), `SMB3` (= SMB3_00), `default`; `NT1`/`LANMAN*`/`CORE*` are refused: SMB1 is not supported | `SMB2_02` |
//! | `server max protocol` (`max protocol`, `protocol`) | as above; `SMB2` = SMB2_10, `SMB3` = SMB3_11 | `SMB3_11` |
//! | `server signing` | `auto`/`default`/`if_required`/`desired`/yes → auto; `mandatory`/`required`/`force*`/`enforced` → mandatory; `disabled`/no/off → disabled | auto |
//! | `server smb encrypt` | `off`, `if_required` (also `default`, `auto`, yes), `desired`, `required` (also `mandatory`, `force*`); also the default of each share's `smb encrypt` | `if_required` |
//! | `map to guest` | `never`, `bad user`, `bad password` | never |
//! | `guest account` | user name | `nobody` |
//! | `log level` (`debug level`) | 0–10; Samba's per-class levels after the first number (`3 auth:5`) are ignored with a warning | 0 |
//! | `netbios name` | up to 15 characters, upper-cased | host name up to its first dot |
//! | `workgroup` | up to 15 characters, upper-cased | `WORKGROUP` |
//! | `server string` | text | `smbed` |
//! | `passdb backend` | `smbpasswd[:PATH]` or `tdbsam[:PATH]` | `smbpasswd` |
//! | `smb passwd file` | path, used by a bare `smbpasswd` backend | `<private dir>/smbpasswd` |
//! | `board` | `auto`, a built-in board profile (`rpi3`, `rpi4`, `rpi5`, `generic-armv7`, `qemu-virt-aarch64`, `qemu-virt-armv7`, `x86_64-dev`) or the path of a vendor's `board.toml` ([`board`]) | `auto`: detected |
//! | `max connections` | simultaneous client connections for the whole server, 0 = unlimited (in Samba it is per share) | 0 |
//!
//! Per share (in `[global]` they set the default for every share):
//!
//! | parameter | value | default |
//! | --- | --- | --- |
//! | `path` (`directory`) | path; required | — |
//! | `comment` | text | empty |
//! | `read only`, inverse `writeable`/`writable`/`write ok` | boolean | read only = yes |
//! | `guest ok` (`public`) | boolean | no |
//! | `valid users` | list of user names and `@group`s (kept as written) | empty (everyone) |
//! | `invalid users` | list of user names and `@group`s | empty |
//! | `browseable` (`browsable`) | boolean | yes |
//! | `available` | boolean | yes |
//! | `smb encrypt` | as `server smb encrypt` | `server smb encrypt` |
//!
//! `[homes]` and `[printers]` are not supported: they are skipped with a
//! warning. Share names are unique regardless of case, at most 80 characters,
//! without control characters or any of `\ / : * ? " < > |`; `IPC$` is
//! reserved and cannot be defined.

pub mod board;
mod error;
mod parse;
mod types;
mod valid;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use error::{ConfigError, ErrorKind, Location, Warning};
pub use parse::{normalize_key, Config, Param, Section};
pub use types::{Dialect, Encrypt, Interface, MapToGuest, PassdbBackend, Signing};
pub use valid::{default_config, default_netbios_name, GlobalConfig, ShareConfig, ValidConfig};

/// Largest configuration file accepted, in bytes (1 MiB).
pub const MAX_FILE_SIZE: u64 = 1 << 20;
/// Largest total size of a configuration and all the files it includes (4 MiB).
pub const MAX_TOTAL_SIZE: u64 = 4 << 20;
/// Deepest nesting of `include`s (the top-level file is depth 0).
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Where smbed looks for its configuration by default.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/smbed/smb.conf";
/// Default `state directory`.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/smbed";

impl Config {
    /// Checks every value and fills in the defaults.
    pub fn validate(&self) -> Result<(ValidConfig, Vec<Warning>), ConfigError> {
        valid::validate(self)
    }
}

/// Reads, parses and validates a configuration file and the files it includes.
/// The warnings of parsing come first, then those of validation.
pub fn load(path: &Path) -> Result<(ValidConfig, Vec<Warning>), ConfigError> {
    let (raw, mut warnings) = Config::parse_file(path)?;
    let (valid, more) = raw.validate()?;
    warnings.extend(more);
    Ok((valid, warnings))
}

/// Parses and validates configuration text. `origin` names the text in errors
/// and warnings (e.g. `smb.conf`), and relative `include`s are resolved
/// against its directory part.
pub fn from_str(text: &str, origin: &str) -> Result<(ValidConfig, Vec<Warning>), ConfigError> {
    let (raw, mut warnings) = Config::parse_str(text, origin)?;
    let (valid, more) = raw.validate()?;
    warnings.extend(more);
    Ok((valid, warnings))
}
