//! Errors and warnings, each carrying the `file:line` they refer to.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::types::Dialect;

/// A place in a configuration file: the file as it was named (the path given to
/// [`load`](crate::load), the `origin` given to [`from_str`](crate::from_str), or
/// an included file's path) and a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as named by the caller or by the `include` line.
    pub file: Arc<str>,
    /// 1-based line number; for a parameter continued over several lines with a
    /// trailing `\`, the line it starts on.
    pub line: u32,
}

impl Location {
    /// Creates a location.
    pub fn new(file: &str, line: u32) -> Self {
        Location {
            file: Arc::from(file),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Something that does not stop the configuration from loading but that the
/// administrator should see (`smbed testparm` prints these).
///
/// `Display` gives `file:line: message`, or just the message when the warning is
/// not about one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where the warning comes from, when it is about one line.
    pub location: Option<Location>,
    /// The warning text, without the location.
    pub message: String,
}

impl Warning {
    pub(crate) fn at(location: &Location, message: impl Into<String>) -> Self {
        Warning {
            location: Some(location.clone()),
            message: message.into(),
        }
    }

    pub(crate) fn general(message: impl Into<String>) -> Self {
        Warning {
            location: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Why a configuration could not be loaded.
///
/// `Display` gives `file:line: message` whenever the error is about one line,
/// e.g. `smb.conf:12: invalid value 'maybe' for 'read only': expected yes or no`.
#[derive(Debug)]
pub struct ConfigError {
    /// The line the error is about; `None` for errors about a whole top-level file
    /// (for instance when it cannot be read).
    pub location: Option<Location>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl ConfigError {
    pub(crate) fn at(location: &Location, kind: ErrorKind) -> Self {
        ConfigError {
            location: Some(location.clone()),
            kind,
        }
    }

    pub(crate) fn general(kind: ErrorKind) -> Self {
        ConfigError {
            location: None,
            kind,
        }
    }

    pub(crate) fn invalid(
        location: &Location,
        param: &str,
        value: &str,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError::at(
            location,
            ErrorKind::InvalidValue {
                param: param.to_owned(),
                value: value.to_owned(),
                reason: reason.into(),
            },
        )
    }
}

/// The kinds of [`ConfigError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A file (the top-level one, or an included one) could not be read.
    Io {
        /// The path that was tried.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file is larger than [`MAX_FILE_SIZE`](crate::MAX_FILE_SIZE), or all files
    /// together are larger than [`MAX_TOTAL_SIZE`](crate::MAX_TOTAL_SIZE).
    TooLarge {
        /// The file that went over the limit.
        file: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// A line is not valid UTF-8.
    InvalidUtf8,
    /// A line contains a NUL byte (the file is probably binary).
    NulByte,
    /// A line starts with `[` but has no `]`.
    UnterminatedSection,
    /// A `[]` section header with no name.
    EmptySectionName,
    /// A line that is neither a comment, a section header nor `name = value`.
    MissingEquals,
    /// A `= value` line with no parameter name.
    EmptyParameterName,
    /// A file includes itself, directly or through other files.
    IncludeCycle {
        /// The file that would have been included a second time.
        path: PathBuf,
    },
    /// Includes nested deeper than [`MAX_INCLUDE_DEPTH`](crate::MAX_INCLUDE_DEPTH).
    IncludeTooDeep {
        /// The limit.
        limit: usize,
    },
    /// A parameter has a value smbed cannot accept.
    InvalidValue {
        /// The parameter, by its canonical name (e.g. `read only`).
        param: String,
        /// The value as written.
        value: String,
        /// What was expected, or why the value is refused.
        reason: String,
    },
    /// `server min protocol` is above `server max protocol`.
    ProtocolRange {
        /// The effective minimum.
        min: Dialect,
        /// The effective maximum.
        max: Dialect,
    },
    /// A disk share without `path`.
    MissingPath {
        /// The share.
        share: String,
    },
    /// A share name that is reserved (`IPC$`).
    ReservedShareName {
        /// The share.
        share: String,
    },
    /// A share name that is too long or has characters Windows does not allow.
    InvalidShareName {
        /// The share.
        share: String,
        /// Why it is refused.
        reason: String,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io { path, source } => {
                write!(f, "cannot read '{}': {source}", path.display())
            }
            ErrorKind::TooLarge { file, limit } => {
                write!(f, "'{file}' is too large (limit {limit} bytes)")
            }
            ErrorKind::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ErrorKind::NulByte => f.write_str("NUL byte in text (is this a binary file?)"),
            ErrorKind::UnterminatedSection => {
                f.write_str("unterminated section header (missing ']')")
            }
            ErrorKind::EmptySectionName => f.write_str("empty section name '[]'"),
            ErrorKind::MissingEquals => f.write_str(
                "expected 'name = value', a '[section]' header or a comment ('#' or ';')",
            ),
            ErrorKind::EmptyParameterName => f.write_str("missing parameter name before '='"),
            ErrorKind::IncludeCycle { path } => {
                write!(
                    f,
                    "include cycle: '{}' is already being read",
                    path.display()
                )
            }
            ErrorKind::IncludeTooDeep { limit } => {
                write!(f, "includes nested more than {limit} levels deep")
            }
            ErrorKind::InvalidValue {
                param,
                value,
                reason,
            } => write!(f, "invalid value '{value}' for '{param}': {reason}"),
            ErrorKind::ProtocolRange { min, max } => write!(
                f,
                "server min protocol {min} is higher than server max protocol {max}"
            ),
            ErrorKind::MissingPath { share } => {
                write!(f, "share [{share}] has no 'path'")
            }
            ErrorKind::ReservedShareName { share } => {
                write!(f, "share name [{share}] is reserved and cannot be defined")
            }
            ErrorKind::InvalidShareName { share, reason } => {
                write!(f, "invalid share name [{share}]: {reason}")
            }
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            ErrorKind::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
