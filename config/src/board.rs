//! Board profiles: `boards/<name>/board.toml` (format and rules: `boards/README.md`).
//!
//! Every profile in `boards/` is compiled into the binary ([`builtin`]); a vendor can also
//! point `board = /path/to/board.toml` at a file of their own, read with [`load_file`]. The
//! parser accepts exactly the simple layout `boards/README.md` describes (one `key = value`
//! per line, strings without escapes, one-line string arrays, `#` comments, the top-level keys
//! before a single `[limits]` table) and checks the same rules as `boards/check.sh`; every
//! error names `file:line`.
//!
//! [`detect`] picks the profile for the running machine from the device-tree model string
//! (`/proc/device-tree/model`, or the `Model` line of `/proc/cpuinfo`): among the profiles
//! built for the running architecture, the one with the longest `detect` substring contained
//! in the model wins, so "Raspberry Pi 4" beats generic-armv7's "Raspberry Pi"; without a
//! match, [`fallback`] names the architecture's conservative default.

use std::fmt;
use std::path::Path;

/// Target architecture of a profile's binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// 64-bit ARM.
    Aarch64,
    /// 32-bit ARMv7.
    Arm,
    /// x86_64 (development machines).
    X86_64,
}

impl Arch {
    /// The architecture this program was compiled for (`None`: none of the board targets).
    pub const CURRENT: Option<Self> = if cfg!(target_arch = "aarch64") {
        Some(Self::Aarch64)
    } else if cfg!(target_arch = "arm") {
        Some(Self::Arm)
    } else if cfg!(target_arch = "x86_64") {
        Some(Self::X86_64)
    } else {
        None
    };

    fn of_target(target: &str) -> Option<Self> {
        match target {
            "aarch64-unknown-linux-gnu" | "aarch64-unknown-linux-musl" => Some(Self::Aarch64),
            "armv7-unknown-linux-gnueabihf" => Some(Self::Arm),
            "x86_64-unknown-linux-gnu" => Some(Self::X86_64),
            _ => None,
        }
    }
}

/// A crypto implementation named in a profile's `crypto` preference list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoPath {
    /// ARMv8 Crypto Extensions (AES + PMULL).
    Armv8AesPmull,
    /// NEON software implementations.
    Neon,
    /// x86 AES-NI + PCLMULQDQ.
    AesNi,
    /// Scalar constant-time code.
    Portable,
}

impl CryptoPath {
    /// The name used in `board.toml`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Armv8AesPmull => "armv8-aes-pmull",
            Self::Neon => "neon",
            Self::AesNi => "aes-ni",
            Self::Portable => "portable",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        [Self::Armv8AesPmull, Self::Neon, Self::AesNi, Self::Portable]
            .into_iter()
            .find(|p| p.name() == s)
    }

    fn exists_on(self, arch: Arch) -> bool {
        match self {
            Self::Armv8AesPmull => arch == Arch::Aarch64,
            Self::Neon => arch != Arch::X86_64,
            Self::AesNi => arch == Arch::X86_64,
            Self::Portable => true,
        }
    }
}

/// The `[limits]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// TCP connections served at once.
    pub connections: u32,
    /// Authenticated sessions, all connections together.
    pub sessions: u32,
    /// Tree connects, all sessions together.
    pub trees: u32,
    /// Open files and directories, all trees together.
    pub opens: u32,
    /// MaxRead/MaxWrite/MaxTransactSize advertised, bytes.
    pub max_io: u32,
    /// Most credits one connection may hold.
    pub credits: u32,
    /// Pooled large frame buffers.
    pub frame_buffers: u32,
    /// Segment size of the tdb stores, bytes.
    pub tdb_segment_size: u32,
    /// Worker threads for blocking file I/O.
    pub io_threads: u32,
}

/// One board profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// Profile name (the directory name for built-in profiles).
    pub name: String,
    /// One line for logs.
    pub description: String,
    /// Rust target triple of the binary for this board.
    pub target: String,
    /// Architecture of `target`.
    pub arch: Arch,
    /// QEMU CPU model for qemu-user (`""`: native).
    pub qemu_cpu: String,
    /// QEMU CPU model for full-system boots.
    pub qemu_system_cpu: String,
    /// Substrings of the device-tree model that identify the board.
    pub detect: Vec<String>,
    /// Crypto implementations in order of preference (ends with `Portable`).
    pub crypto: Vec<CryptoPath>,
    /// Limits.
    pub limits: Limits,
}

/// A profile that cannot be used, with `file:line`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardError {
    /// The file (or built-in profile) name.
    pub file: String,
    /// 1-based line, 0 when the problem is not on one line (a missing key, a rule between
    /// two values).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

impl std::error::Error for BoardError {}

/// The profiles of `boards/`, compiled in: (name, file text).
const BUILTIN: [(&str, &str); 7] = [
    ("rpi3", include_str!("../../boards/rpi3/board.toml")),
    ("rpi4", include_str!("../../boards/rpi4/board.toml")),
    ("rpi5", include_str!("../../boards/rpi5/board.toml")),
    (
        "generic-armv7",
        include_str!("../../boards/generic-armv7/board.toml"),
    ),
    (
        "qemu-virt-aarch64",
        include_str!("../../boards/qemu-virt-aarch64/board.toml"),
    ),
    (
        "qemu-virt-armv7",
        include_str!("../../boards/qemu-virt-armv7/board.toml"),
    ),
    (
        "x86_64-dev",
        include_str!("../../boards/x86_64-dev/board.toml"),
    ),
];

/// Names of the built-in profiles.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

/// Every built-in profile, parsed. The files are checked by this crate's tests, so an error
/// here means a broken build; it is still returned, not panicked on.
pub fn builtin() -> Result<Vec<Board>, BoardError> {
    BUILTIN
        .iter()
        .map(|(name, text)| parse(text, &format!("boards/{name}/board.toml")))
        .collect()
}

/// The built-in profile `name`, `Ok(None)` if there is none.
pub fn builtin_board(name: &str) -> Result<Option<Board>, BoardError> {
    match BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => parse(text, &format!("boards/{n}/board.toml")).map(Some),
        None => Ok(None),
    }
}

/// Reads and parses a profile file (`board = /path/to/board.toml`).
pub fn load_file(path: &Path) -> Result<Board, BoardError> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| BoardError {
        file: file.clone(),
        line: 0,
        message: e.to_string(),
    })?;
    if meta.len() > 64 * 1024 {
        return Err(BoardError {
            file,
            line: 0,
            message: format!("{} bytes: a board profile is at most 64 KiB", meta.len()),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| BoardError {
        file: file.clone(),
        line: 0,
        message: e.to_string(),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| BoardError {
        file: file.clone(),
        line: 0,
        message: format!("not UTF-8 ({e})"),
    })?;
    parse(&text, &file)
}

/// The profile for a machine whose device-tree model is `model`, among the built-in
/// profiles for `arch`: the longest matching `detect` substring wins. `None`: no match.
pub fn detect(boards: &[Board], model: &str, arch: Arch) -> Option<usize> {
    let model = model.trim_end_matches('\0').trim();
    let mut best: Option<(usize, usize)> = None;
    for (i, b) in boards.iter().enumerate() {
        if b.arch != arch {
            continue;
        }
        for d in &b.detect {
            if model.contains(d.as_str()) && best.is_none_or(|(_, len)| d.len() > len) {
                best = Some((i, d.len()));
            }
        }
    }
    best.map(|(i, _)| i)
}

/// The profile used on `arch` when nothing is configured and detection finds no match.
pub const fn fallback(arch: Arch) -> &'static str {
    match arch {
        Arch::Aarch64 => "qemu-virt-aarch64",
        Arch::Arm => "generic-armv7",
        Arch::X86_64 => "x86_64-dev",
    }
}

const TOP_KEYS: [&str; 7] = [
    "name",
    "description",
    "target",
    "qemu_cpu",
    "qemu_system_cpu",
    "detect",
    "crypto",
];
const LIMIT_KEYS: [&str; 9] = [
    "connections",
    "sessions",
    "trees",
    "opens",
    "max_io",
    "credits",
    "frame_buffers",
    "tdb_segment_size",
    "io_threads",
];
/// smb-proto's `MAX_CREDITS`.
const ENGINE_MAX_CREDITS: u32 = 8192;

enum Value {
    Str(String),
    List(Vec<String>),
}

/// Parses a profile. `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Board, BoardError> {
    let err = |line: usize, message: String| BoardError {
        file: file.to_string(),
        line,
        message,
    };
    let mut top: Vec<(&str, usize, Value)> = Vec::new();
    let mut limits: Vec<(&str, usize, u64)> = Vec::new();
    let mut in_limits = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let sec = rest.split('#').next().unwrap_or("").trim();
            if sec != "limits]" {
                return Err(err(n, format!("unknown table [{}", sec)));
            }
            if in_limits {
                return Err(err(n, "[limits] given twice".into()));
            }
            in_limits = true;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(err(n, format!("expected `key = value`, got: {line}")));
        };
        let key = key.trim();
        let value = strip_comment(value.trim());
        if in_limits {
            let Some(k) = LIMIT_KEYS.iter().find(|k| **k == key) else {
                return Err(err(n, format!("unknown key 'limits.{key}'")));
            };
            if limits.iter().any(|(k2, _, _)| k2 == k) {
                return Err(err(n, format!("key 'limits.{key}' given more than once")));
            }
            let v = parse_int(value).filter(|&v| v > 0).ok_or_else(|| {
                err(
                    n,
                    format!("limits.{key} must be a positive integer, got: {value}"),
                )
            })?;
            limits.push((k, n, v));
        } else {
            let Some(k) = TOP_KEYS.iter().find(|k| **k == key) else {
                return Err(err(n, format!("unknown key '{key}'")));
            };
            if top.iter().any(|(k2, _, _)| k2 == k) {
                return Err(err(n, format!("key '{key}' given more than once")));
            }
            let v = if *k == "detect" || *k == "crypto" {
                Value::List(parse_list(value).ok_or_else(|| {
                    err(
                        n,
                        format!("'{key}' must be a one-line array of strings, got: {value}"),
                    )
                })?)
            } else {
                Value::Str(parse_str(value).ok_or_else(|| {
                    err(
                        n,
                        format!("'{key}' must be a one-line string, got: {value}"),
                    )
                })?)
            };
            top.push((k, n, v));
        }
    }
    let get = |key: &str| -> Result<(usize, &Value), BoardError> {
        top.iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, n, v)| (*n, v))
            .ok_or_else(|| {
                err(
                    0,
                    format!("missing key '{key}' (top level, before [limits])"),
                )
            })
    };
    let string = |key: &str| -> Result<(usize, String), BoardError> {
        match get(key)? {
            (n, Value::Str(s)) => Ok((n, s.clone())),
            (n, _) => Err(err(n, format!("'{key}' must be a string"))),
        }
    };
    let list = |key: &str| -> Result<(usize, Vec<String>), BoardError> {
        match get(key)? {
            (n, Value::List(l)) => Ok((n, l.clone())),
            (n, _) => Err(err(n, format!("'{key}' must be an array"))),
        }
    };
    let (_, name) = string("name")?;
    let (dn, description) = string("description")?;
    let (tn, target) = string("target")?;
    let (qn, qemu_cpu) = string("qemu_cpu")?;
    let (sn, qemu_system_cpu) = string("qemu_system_cpu")?;
    let (detn, detect) = list("detect")?;
    let (cn, crypto_names) = list("crypto")?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        return Err(err(
            0,
            format!("name '{name}' must be letters, digits, '-' or '_'"),
        ));
    }
    if description.is_empty() {
        return Err(err(dn, "description is empty".into()));
    }
    let arch = Arch::of_target(&target).ok_or_else(|| {
        err(
            tn,
            format!(
                "unknown target '{target}' (known: aarch64-unknown-linux-gnu, \
                 aarch64-unknown-linux-musl, armv7-unknown-linux-gnueabihf, \
                 x86_64-unknown-linux-gnu)"
            ),
        )
    })?;
    if arch == Arch::X86_64 && !qemu_cpu.is_empty() {
        return Err(err(
            qn,
            "x86_64 boards run natively: qemu_cpu must be \"\"".into(),
        ));
    }
    if arch != Arch::X86_64 && (qemu_cpu.is_empty() || qemu_system_cpu.is_empty()) {
        return Err(err(
            if qemu_cpu.is_empty() { qn } else { sn },
            "qemu_cpu and qemu_system_cpu must name a CPU for an emulated target".into(),
        ));
    }
    if qemu_system_cpu.contains("neon=off") || qemu_system_cpu.contains("vfp=off") {
        return Err(err(
            sn,
            "qemu_system_cpu must not use neon=off/vfp=off (the guest kernel would lose FP)".into(),
        ));
    }
    if detect.iter().any(String::is_empty) {
        return Err(err(detn, "detect entries must be non-empty strings".into()));
    }
    let mut crypto = Vec::new();
    for c in &crypto_names {
        let p = CryptoPath::from_name(c).ok_or_else(|| {
            err(
                cn,
                format!(
                    "unknown crypto path '{c}' (known: armv8-aes-pmull, neon, aes-ni, portable)"
                ),
            )
        })?;
        if !p.exists_on(arch) {
            return Err(err(
                cn,
                format!("crypto path '{c}' does not exist on {target}"),
            ));
        }
        crypto.push(p);
    }
    if crypto.last() != Some(&CryptoPath::Portable) {
        return Err(err(
            cn,
            "crypto list must end with \"portable\" (the path that always works)".into(),
        ));
    }
    let lim = |key: &str| -> Result<(usize, u32), BoardError> {
        let (_, n, v) = limits.iter().find(|(k, _, _)| *k == key).ok_or_else(|| {
            err(
                0,
                format!("missing key 'limits.{key}' (in the [limits] table)"),
            )
        })?;
        let v = u32::try_from(*v).map_err(|_| err(*n, format!("limits.{key} is too large")))?;
        Ok((*n, v))
    };
    let l = Limits {
        connections: lim("connections")?.1,
        sessions: lim("sessions")?.1,
        trees: lim("trees")?.1,
        opens: lim("opens")?.1,
        max_io: lim("max_io")?.1,
        credits: lim("credits")?.1,
        frame_buffers: lim("frame_buffers")?.1,
        tdb_segment_size: lim("tdb_segment_size")?.1,
        io_threads: lim("io_threads")?.1,
    };
    let rule = |ok: bool, key: &str, msg: &str| -> Result<(), BoardError> {
        if ok {
            Ok(())
        } else {
            Err(err(lim(key).map_or(0, |(n, _)| n), msg.to_string()))
        }
    };
    rule(
        l.sessions >= l.connections,
        "sessions",
        "limits.sessions < limits.connections",
    )?;
    rule(
        l.trees >= l.sessions,
        "trees",
        "limits.trees < limits.sessions",
    )?;
    rule(
        l.opens >= l.connections,
        "opens",
        "limits.opens < limits.connections",
    )?;
    rule(
        (65536..=8 << 20).contains(&l.max_io) && l.max_io.is_multiple_of(65536),
        "max_io",
        "limits.max_io must be a multiple of 64 KiB in 64 KiB..8 MiB",
    )?;
    rule(
        l.credits <= ENGINE_MAX_CREDITS,
        "credits",
        "limits.credits exceeds the engine's maximum of 8192",
    )?;
    rule(
        l.credits >= l.max_io / 65536,
        "credits",
        "limits.credits < max_io / 64 KiB: one max-size request could never be sent",
    )?;
    rule(
        l.frame_buffers >= 2,
        "frame_buffers",
        "limits.frame_buffers must be at least 2",
    )?;
    rule(
        l.tdb_segment_size.is_multiple_of(4096) && l.tdb_segment_size >= 16384,
        "tdb_segment_size",
        "limits.tdb_segment_size must be a multiple of 4096 and at least 16 KiB",
    )?;
    rule(
        l.io_threads <= 256,
        "io_threads",
        "limits.io_threads must be at most 256",
    )?;
    Ok(Board {
        name,
        description,
        target,
        arch,
        qemu_cpu,
        qemu_system_cpu,
        detect,
        crypto,
        limits: l,
    })
}

/// Drops a trailing `# comment` (values never contain `#`, see boards/README.md).
fn strip_comment(v: &str) -> &str {
    match v.find('#') {
        Some(i) if v[..i].matches('"').count().is_multiple_of(2) => v[..i].trim(),
        _ => v,
    }
}

fn parse_str(v: &str) -> Option<String> {
    let inner = v.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"') && !inner.contains('\\')).then(|| inner.to_string())
}

fn parse_list(v: &str) -> Option<Vec<String>> {
    let mut rest = v.strip_prefix('[')?.strip_suffix(']')?.trim();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        let item = &body[..end];
        if item.contains('\\') {
            return None;
        }
        out.push(item.to_string());
        rest = body[end + 1..].trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return None,
        }
    }
    Some(out)
}

fn parse_int(v: &str) -> Option<u64> {
    if v.is_empty() || v.starts_with('_') || v.ends_with('_') || v.contains("__") {
        return None;
    }
    let digits: String = v.chars().filter(|&c| c != '_').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const GOOD: &str = r#"# a vendor board
name = "acme-nas"   # trailing comment
description = "ACME NAS"
target = "aarch64-unknown-linux-musl"
qemu_cpu = "cortex-a53,neon=off,vfp=off"
qemu_system_cpu = "cortex-a53"
detect = ["ACME NAS v1", "ACME NAS v2",]
crypto = ["neon", "portable"]

[limits]
connections = 16
sessions = 32
trees = 64
opens = 512
max_io = 1_048_576
credits = 64
frame_buffers = 4
tdb_segment_size = 65536
io_threads = 2
"#;

    #[test]
    fn every_builtin_profile_parses_and_matches_its_directory() {
        let boards = builtin().unwrap();
        assert_eq!(boards.len(), BUILTIN.len());
        for (b, (name, _)) in boards.iter().zip(BUILTIN) {
            assert_eq!(b.name, name);
        }
        // Every boards/*/board.toml is compiled in (a new board must be added to BUILTIN).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let e = e.unwrap();
                e.path()
                    .join("board.toml")
                    .exists()
                    .then(|| e.file_name().to_string_lossy().into_owned())
            })
            .collect();
        on_disk.sort();
        let mut names: Vec<&str> = builtin_names().collect();
        names.sort_unstable();
        assert_eq!(on_disk, names);
        // Each architecture's fallback exists and is built for it.
        for arch in [Arch::Aarch64, Arch::Arm, Arch::X86_64] {
            let b = builtin_board(fallback(arch)).unwrap().unwrap();
            assert_eq!(b.arch, arch);
        }
        assert_eq!(builtin_board("nope").unwrap(), None);
    }

    #[test]
    fn detection_prefers_the_longest_match_of_the_running_architecture() {
        let boards = builtin().unwrap();
        let pick =
            |model: &str, arch| detect(&boards, model, arch).map(|i| boards[i].name.as_str());
        assert_eq!(
            pick("Raspberry Pi 4 Model B Rev 1.4\0", Arch::Aarch64),
            Some("rpi4")
        );
        assert_eq!(
            pick("Raspberry Pi 5 Model B Rev 1.0", Arch::Aarch64),
            Some("rpi5")
        );
        assert_eq!(
            pick("Raspberry Pi 3 Model B Plus Rev 1.3", Arch::Aarch64),
            Some("rpi3")
        );
        assert_eq!(
            pick("Raspberry Pi Compute Module 4 Rev 1.0", Arch::Aarch64),
            Some("rpi4")
        );
        // A 32-bit OS on a Pi 4 runs the armv7 binary: the armv7 profile.
        assert_eq!(
            pick("Raspberry Pi 4 Model B Rev 1.4", Arch::Arm),
            Some("generic-armv7")
        );
        assert_eq!(
            pick("linux,dummy-virt", Arch::Aarch64),
            Some("qemu-virt-aarch64")
        );
        assert_eq!(pick("linux,dummy-virt", Arch::Arm), Some("qemu-virt-armv7"));
        assert_eq!(pick("Pine64 RockPro64", Arch::Aarch64), None);
        assert_eq!(pick("", Arch::X86_64), None);
    }

    #[test]
    fn a_vendor_profile_parses() {
        let b = parse(GOOD, "acme.toml").unwrap();
        assert_eq!(b.name, "acme-nas");
        assert_eq!(b.arch, Arch::Aarch64);
        assert_eq!(b.detect, ["ACME NAS v1", "ACME NAS v2"]);
        assert_eq!(b.crypto, [CryptoPath::Neon, CryptoPath::Portable]);
        assert_eq!(b.limits.max_io, 1 << 20);
        assert_eq!(b.limits.io_threads, 2);
    }

    #[test]
    fn malformed_profiles_are_errors_with_file_and_line() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("name = \"acme-nas\"", "name = acme", 2, "one-line string"),
            (
                "detect = [\"ACME NAS v1\", \"ACME NAS v2\",]",
                "detect = \"x\"",
                7,
                "array",
            ),
            (
                "crypto = [\"neon\", \"portable\"]",
                "crypto = [\"portable\", \"neon\"]",
                8,
                "end with",
            ),
            (
                "crypto = [\"neon\", \"portable\"]",
                "crypto = [\"aes-ni\", \"portable\"]",
                8,
                "does not exist",
            ),
            (
                "crypto = [\"neon\", \"portable\"]",
                "crypto = [\"fast\", \"portable\"]",
                8,
                "unknown crypto",
            ),
            (
                "target = \"aarch64-unknown-linux-musl\"",
                "target = \"mips\"",
                4,
                "unknown target",
            ),
            (
                "qemu_system_cpu = \"cortex-a53\"",
                "qemu_system_cpu = \"cortex-a53,neon=off\"",
                6,
                "lose FP",
            ),
            ("max_io = 1_048_576", "max_io = 1000", 15, "64 KiB"),
            ("max_io = 1_048_576", "max_io = -1", 15, "positive integer"),
            (
                "max_io = 1_048_576",
                "max_io = 1__0",
                15,
                "positive integer",
            ),
            (
                "max_io = 1_048_576",
                "max_io = 99999999999999",
                15,
                "too large",
            ),
            ("credits = 64", "credits = 9000", 16, "maximum"),
            ("credits = 64", "credits = 8", 16, "never be sent"),
            ("sessions = 32", "sessions = 8", 12, "sessions < "),
            ("frame_buffers = 4", "frame_buffers = 1", 17, "at least 2"),
            (
                "tdb_segment_size = 65536",
                "tdb_segment_size = 5000",
                18,
                "multiple of 4096",
            ),
            ("io_threads = 2", "io_threads = 1000", 19, "at most 256"),
            (
                "io_threads = 2",
                "io_threads = 2\nio_threads = 3",
                20,
                "more than once",
            ),
            ("io_threads = 2", "io_thread = 2", 19, "unknown key"),
            ("[limits]", "[limit]", 10, "unknown table"),
            ("[limits]", "[limits]\n[limits]", 11, "given twice"),
            (
                "description = \"ACME NAS\"",
                "description = \"\"",
                3,
                "empty",
            ),
            (
                "description = \"ACME NAS\"",
                "description",
                3,
                "key = value",
            ),
            (
                "name = \"acme-nas\"   # trailing comment",
                "name = \"a b\"",
                0,
                "letters",
            ),
            ("io_threads = 2", "", 0, "missing key 'limits.io_threads'"),
            (
                "crypto = [\"neon\", \"portable\"]",
                "",
                0,
                "missing key 'crypto'",
            ),
        ];
        for (from, to, line, what) in cases {
            assert!(GOOD.contains(from), "{from}");
            let text = GOOD.replacen(from, to, 1);
            let e = parse(&text, "acme.toml").unwrap_err();
            assert_eq!(e.file, "acme.toml");
            assert_eq!(e.line, *line, "{to}: {e}");
            assert!(e.message.contains(what), "{to}: {e}");
            if *line > 0 {
                assert!(
                    e.to_string().starts_with(&format!("acme.toml:{line}: ")),
                    "{e}"
                );
            }
        }
        // Arbitrary bytes never panic.
        let mut seed = 1u64;
        for _ in 0..2000 {
            let mut t = GOOD.as_bytes().to_vec();
            for _ in 0..4 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let i = (seed >> 33) as usize % t.len();
                t[i] = (seed >> 20) as u8 & 0x7f;
            }
            let _ = parse(&String::from_utf8_lossy(&t), "fuzz");
        }
    }

    #[test]
    fn load_file_reports_io_and_encoding_errors() {
        let dir = std::env::temp_dir().join(format!("smbed-board-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = load_file(&dir.join("none.toml")).unwrap_err();
        assert!(missing.to_string().contains("none.toml"), "{missing}");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, b"name = \"\xff\"\n").unwrap();
        assert!(load_file(&bad).unwrap_err().message.contains("UTF-8"));
        let good = dir.join("good.toml");
        std::fs::write(&good, GOOD).unwrap();
        assert_eq!(load_file(&good).unwrap().name, "acme-nas");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
