//! The smb.conf reader: sections, parameters, comments, continuations and
//! includes, producing a raw [`Config`] whose values are not yet checked.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ConfigError, ErrorKind, Location, Warning};
use crate::{MAX_FILE_SIZE, MAX_INCLUDE_DEPTH, MAX_TOTAL_SIZE};

/// A parsed but not yet validated configuration.
///
/// Sections with the same name (compared case-insensitively) have been merged
/// into the first one, as Samba does; within a section a later value of a
/// parameter overrides an earlier one when validating. Parameters that come
/// before the first section header belong to `[global]`. `include` lines have
/// been replaced by the contents of the included files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// All sections in the order they first appear; `sections[0]` is always
    /// `[global]` (possibly empty).
    pub sections: Vec<Section>,
}

/// One `[section]`, with the parameters of every block of that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name as first written (without brackets, trimmed).
    pub name: String,
    /// Where the first header of this section is; `None` for an implicit
    /// `[global]`.
    pub location: Option<Location>,
    /// The parameters in file order.
    pub params: Vec<Param>,
}

/// One `name = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name as written (trimmed, runs of whitespace collapsed).
    pub name: String,
    /// The name normalised with [`normalize_key`], used for look-up.
    pub key: String,
    /// The value: trimmed, continuation lines joined, runs of whitespace collapsed
    /// to one character as Samba does.
    pub value: String,
    /// Where the line is.
    pub location: Location,
}

/// Normalises a parameter name as Samba compares them: case-insensitive, with
/// spaces (and here also underscores and tabs) not significant, so
/// `server min protocol`, `ServerMinProtocol` and `server_min_protocol` are
/// the same parameter.
pub fn normalize_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

impl Config {
    /// Reads and parses a file (and the files it includes).
    pub fn parse_file(path: &Path) -> Result<(Config, Vec<Warning>), ConfigError> {
        let label = path.display().to_string();
        let bytes = read_limited(path, &label).map_err(ConfigError::general)?;
        let mut p = Parser::new();
        if let Ok(canon) = fs::canonicalize(path) {
            p.stack.push(canon);
        }
        p.total = bytes.len() as u64;
        p.parse_bytes(&bytes, Arc::from(label.as_str()), &base_dir(path), 0)?;
        Ok(p.finish())
    }

    /// Parses text. `origin` names it in errors and warnings; relative `include`
    /// paths are resolved against the directory part of `origin` (the current
    /// directory if it has none).
    pub fn parse_str(text: &str, origin: &str) -> Result<(Config, Vec<Warning>), ConfigError> {
        if text.len() as u64 > MAX_FILE_SIZE {
            return Err(ConfigError::general(ErrorKind::TooLarge {
                file: origin.to_owned(),
                limit: MAX_FILE_SIZE,
            }));
        }
        let mut p = Parser::new();
        if let Ok(canon) = fs::canonicalize(origin) {
            p.stack.push(canon);
        }
        p.total = text.len() as u64;
        p.parse_bytes(
            text.as_bytes(),
            Arc::from(origin),
            &base_dir(Path::new(origin)),
            0,
        )?;
        Ok(p.finish())
    }

    /// The `[global]` section (always present in a parsed `Config`).
    pub fn global(&self) -> Option<&Section> {
        self.section("global")
    }

    /// A section by name, compared case-insensitively.
    pub fn section(&self, name: &str) -> Option<&Section> {
        let lower = name.to_lowercase();
        self.sections
            .iter()
            .find(|s| s.name.to_lowercase() == lower)
    }
}

fn base_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads at most [`MAX_FILE_SIZE`] bytes; a larger file is an error.
fn read_limited(path: &Path, label: &str) -> Result<Vec<u8>, ErrorKind> {
    let io_err = |source| ErrorKind::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if meta.is_dir() {
        return Err(io_err(std::io::Error::other("is a directory")));
    }
    let too_large = || ErrorKind::TooLarge {
        file: label.to_owned(),
        limit: MAX_FILE_SIZE,
    };
    if meta.len() > MAX_FILE_SIZE {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    if buf.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large());
    }
    Ok(buf)
}

/// True if `value` contains something Samba would expand, such as `%U` or `%$(VAR)`.
pub(crate) fn has_substitution(value: &str) -> bool {
    let b = value.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'%' && (w[1].is_ascii_alphabetic() || w[1] == b'$'))
}

struct Parser {
    sections: Vec<Section>,
    index: HashMap<String, usize>,
    current: usize,
    warnings: Vec<Warning>,
    /// Canonical paths of the files being read, outermost first.
    stack: Vec<PathBuf>,
    /// Bytes read so far over all files.
    total: u64,
}

impl Parser {
    fn new() -> Self {
        let mut index = HashMap::new();
        index.insert("global".to_owned(), 0);
        Parser {
            sections: vec![Section {
                name: "global".to_owned(),
                location: None,
                params: Vec::new(),
            }],
            index,
            current: 0,
            warnings: Vec::new(),
            stack: Vec::new(),
            total: 0,
        }
    }

    fn finish(self) -> (Config, Vec<Warning>) {
        (
            Config {
                sections: self.sections,
            },
            self.warnings,
        )
    }

    fn parse_bytes(
        &mut self,
        bytes: &[u8],
        file: Arc<str>,
        dir: &Path,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut lines = bytes.split(|&b| b == b'\n').zip(1u32..);
        while let Some((raw, lineno)) = lines.next() {
            let loc = Location {
                file: file.clone(),
                line: lineno,
            };
            let text = decode_line(raw, &loc)?;
            let start = text.trim_start();
            if start.is_empty() || start.starts_with('#') || start.starts_with(';') {
                continue;
            }
            let mut logical = String::new();
            push_collapsed(&mut logical, start);
            loop {
                let trimmed_len = logical.trim_end().len();
                logical.truncate(trimmed_len);
                if !logical.ends_with('\\') {
                    break;
                }
                logical.pop();
                let Some((raw, n)) = lines.next() else {
                    break;
                };
                let next = decode_line(raw, &Location::new(&file, n))?;
                push_collapsed(&mut logical, next);
            }
            self.line(&logical, &loc, dir, depth)?;
        }
        Ok(())
    }

    fn line(
        &mut self,
        line: &str,
        loc: &Location,
        dir: &Path,
        depth: usize,
    ) -> Result<(), ConfigError> {
        if let Some(rest) = line.strip_prefix('[') {
            let Some(close) = rest.find(']') else {
                return Err(ConfigError::at(loc, ErrorKind::UnterminatedSection));
            };
            let name = rest[..close].trim();
            if name.is_empty() {
                return Err(ConfigError::at(loc, ErrorKind::EmptySectionName));
            }
            let after = rest[close + 1..].trim();
            if !after.is_empty() && !after.starts_with('#') && !after.starts_with(';') {
                self.warnings.push(Warning::at(
                    loc,
                    format!("text '{after}' after section header [{name}] ignored"),
                ));
            }
            self.open_section(name, loc);
            return Ok(());
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(ConfigError::at(loc, ErrorKind::MissingEquals));
        };
        let name = name.trim();
        let value = value.trim();
        if name.is_empty() {
            return Err(ConfigError::at(loc, ErrorKind::EmptyParameterName));
        }
        let key = normalize_key(name);
        if key == "include" {
            return self.include(value, loc, dir, depth);
        }
        self.sections[self.current].params.push(Param {
            name: name.to_owned(),
            key,
            value: value.to_owned(),
            location: loc.clone(),
        });
        Ok(())
    }

    fn open_section(&mut self, name: &str, loc: &Location) {
        let lower = name.to_lowercase();
        if let Some(&i) = self.index.get(&lower) {
            if self.sections[i].location.is_none() {
                self.sections[i].location = Some(loc.clone());
            }
            self.current = i;
            return;
        }
        self.sections.push(Section {
            name: name.to_owned(),
            location: Some(loc.clone()),
            params: Vec::new(),
        });
        self.current = self.sections.len() - 1;
        self.index.insert(lower, self.current);
    }

    fn include(
        &mut self,
        value: &str,
        loc: &Location,
        dir: &Path,
        depth: usize,
    ) -> Result<(), ConfigError> {
        if value.is_empty() {
            return Err(ConfigError::invalid(
                loc,
                "include",
                value,
                "expected a file name",
            ));
        }
        if has_substitution(value) {
            self.warnings.push(Warning::at(
                loc,
                format!(
                    "include '{value}' uses a '%' substitution, which smbed does not expand; \
                     include skipped"
                ),
            ));
            return Ok(());
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(ConfigError::at(
                loc,
                ErrorKind::IncludeTooDeep {
                    limit: MAX_INCLUDE_DEPTH,
                },
            ));
        }
        let given = Path::new(value);
        let full = if given.is_absolute() {
            given.to_path_buf()
        } else {
            dir.join(given)
        };
        let canon = fs::canonicalize(&full).map_err(|source| {
            ConfigError::at(
                loc,
                ErrorKind::Io {
                    path: full.clone(),
                    source,
                },
            )
        })?;
        if self.stack.contains(&canon) {
            return Err(ConfigError::at(loc, ErrorKind::IncludeCycle { path: full }));
        }
        let label = full.display().to_string();
        let bytes = read_limited(&canon, &label).map_err(|kind| ConfigError::at(loc, kind))?;
        self.total += bytes.len() as u64;
        if self.total > MAX_TOTAL_SIZE {
            return Err(ConfigError::at(
                loc,
                ErrorKind::TooLarge {
                    file: label,
                    limit: MAX_TOTAL_SIZE,
                },
            ));
        }
        self.stack.push(canon);
        let result = self.parse_bytes(
            &bytes,
            Arc::from(label.as_str()),
            &base_dir(&full),
            depth + 1,
        );
        self.stack.pop();
        result
    }
}

/// Turns one physical line into text: strips a trailing `\r`, refuses NUL bytes
/// and invalid UTF-8.
fn decode_line<'a>(raw: &'a [u8], loc: &Location) -> Result<&'a str, ConfigError> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.contains(&0) {
        return Err(ConfigError::at(loc, ErrorKind::NulByte));
    }
    std::str::from_utf8(raw).map_err(|_| ConfigError::at(loc, ErrorKind::InvalidUtf8))
}

/// Appends `text`, collapsing each run of whitespace (including one that spans
/// the join) to its first character, as Samba's reader does.
fn push_collapsed(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_ascii_whitespace()
            && out
                .chars()
                .next_back()
                .is_some_and(|p| p.is_ascii_whitespace())
        {
            continue;
        }
        out.push(c);
    }
}
