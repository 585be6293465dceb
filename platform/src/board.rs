//! Which board profile this process runs with (`boards/README.md`), and what follows from it:
//! table sizes, I/O sizes, frame buffers, the crypto backend, the file-descriptor limit.
//!
//! `board = NAME` or `board = /path/board.toml` in smb.conf chooses one; otherwise the
//! `SMBED_BOARD` environment variable (same values; for tests and cross-built runs, passed
//! through by cross.toml); otherwise (`auto`, the default) the board is detected from the device-tree model (`/proc/device-tree/model`, or the
//! `Model` line of `/proc/cpuinfo` on kernels without a device tree in /proc), among the
//! profiles built for the running architecture, falling back to the architecture's
//! conservative default. `smbed testparm` prints the result.

use std::fmt::Write as _;

use smbed_config::board::{self, Arch, Board, CryptoPath};
use smbed_config::ValidConfig;

use crate::state::Limits;

/// The profile in use and how it was chosen.
#[derive(Debug)]
pub struct Selected {
    pub board: Board,
    /// "configured", "detected from ...", "fallback for ...".
    pub how: String,
}

/// The device-tree model string of this machine, if the kernel exposes one.
fn machine_model() -> Option<String> {
    if let Ok(b) = std::fs::read("/proc/device-tree/model") {
        let s = String::from_utf8_lossy(&b)
            .trim_end_matches('\0')
            .trim()
            .to_string();
        if !s.is_empty() {
            return Some(s);
        }
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "Model").then(|| v.trim().to_string())
    })
}

/// Chooses the board profile for `cfg` (see the module docs).
pub fn select(cfg: &ValidConfig) -> Result<Selected, String> {
    let env = std::env::var("SMBED_BOARD")
        .ok()
        .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("auto"));
    let (choice, origin) = match (cfg.global.board.as_deref(), env.as_deref()) {
        (Some(b), _) => (Some(b), "configured"),
        (None, Some(b)) => (Some(b), "SMBED_BOARD"),
        (None, None) => (None, ""),
    };
    select_from(choice, origin)
}

fn select_from(choice: Option<&str>, origin: &str) -> Result<Selected, String> {
    let arch = Arch::CURRENT;
    match choice {
        Some(path) if path.contains('/') => {
            let board = board::load_file(std::path::Path::new(path)).map_err(|e| e.to_string())?;
            if Some(board.arch) != arch {
                return Err(format!(
                    "{path}: board '{}' is for {}, but this smbed is built for {}",
                    board.name,
                    board.target,
                    std::env::consts::ARCH
                ));
            }
            Ok(Selected {
                board,
                how: format!("{origin}: {path}"),
            })
        }
        Some(name) => {
            let board = board::builtin_board(name)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    let known: Vec<&str> = board::builtin_names().collect();
                    format!(
                        "{origin}: unknown board '{name}' (known: {})",
                        known.join(", ")
                    )
                })?;
            Ok(Selected {
                board,
                how: origin.into(),
            })
        }
        None => {
            let arch = arch.ok_or_else(|| {
                format!(
                    "no board profile for {}: set `board = /path/board.toml`",
                    std::env::consts::ARCH
                )
            })?;
            let boards = board::builtin().map_err(|e| e.to_string())?;
            let model = machine_model();
            if let Some(i) = model
                .as_deref()
                .and_then(|m| board::detect(&boards, m, arch))
            {
                return Ok(Selected {
                    board: boards[i].clone(),
                    how: format!("detected: model {:?}", model.unwrap_or_default()),
                });
            }
            let name = board::fallback(arch);
            let board = boards
                .into_iter()
                .find(|b| b.name == name)
                .ok_or_else(|| format!("built-in board '{name}' missing"))?;
            Ok(Selected {
                board,
                how: match model {
                    Some(m) => format!(
                        "fallback for {}: model {m:?} not known",
                        std::env::consts::ARCH
                    ),
                    None => format!(
                        "fallback for {}: no device-tree model",
                        std::env::consts::ARCH
                    ),
                },
            })
        }
    }
}

/// The engine and driver limits of a profile.
pub fn limits(b: &Board) -> Limits {
    let l = &b.limits;
    let n = |v: u32| v as usize;
    Limits {
        conns: n(l.connections),
        sessions: n(l.sessions),
        trees: n(l.trees),
        opens: n(l.opens),
        max_io: l.max_io,
        // The parser bounds credits by the engine's 8192.
        credits: u16::try_from(l.credits).unwrap_or(u16::MAX),
        frame_buffers: n(l.frame_buffers),
    }
}

/// The backend a crypto path names on this architecture.
fn backend_of(p: CryptoPath) -> smb_crypto::Backend {
    use smb_crypto::Backend;
    match p {
        CryptoPath::Armv8AesPmull => Backend::Armv8Crypto,
        CryptoPath::Neon if cfg!(target_arch = "arm") => Backend::Armv7Neon,
        CryptoPath::Neon => Backend::Aarch64Neon,
        CryptoPath::AesNi => Backend::X86AesNi,
        CryptoPath::Portable => Backend::Portable,
    }
}

/// The first backend of the profile's preference list this build implements and this CPU can
/// run (the list ends with `portable`, which always can), and why others were skipped.
pub fn crypto_backend(b: &Board) -> (smb_crypto::Backend, String) {
    let mut skipped = Vec::new();
    for &p in &b.crypto {
        let backend = backend_of(p);
        if backend.is_available() {
            let note = if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} not available on this CPU/build)", skipped.join(", "))
            };
            return (backend, note);
        }
        skipped.push(p.name());
    }
    (
        smb_crypto::Backend::Portable,
        " (no preference available)".into(),
    )
}

/// Descriptors the server may need: one per open, per connection, per share root, plus the
/// listeners, the account store, logs and a margin.
pub fn fds_needed(l: &Limits, shares: usize) -> u64 {
    (l.opens + l.conns + shares + 64) as u64
}

/// Raises the soft RLIMIT_NOFILE towards `need` (up to the hard limit). Returns a warning when
/// the hard limit is lower, so the administrator knows opens will fail with "too many open
/// files" before the table is full.
pub fn raise_fd_limit(need: u64) -> Option<String> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    let soft = cur.current.unwrap_or(u64::MAX);
    let hard = cur.maximum.unwrap_or(u64::MAX);
    if soft >= need {
        return None;
    }
    let target = need.min(hard);
    let set = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: cur.maximum,
        },
    );
    match set {
        Ok(()) if target >= need => None,
        Ok(()) => Some(format!(
            "RLIMIT_NOFILE hard limit {hard} is below the {need} descriptors the board's limits \
             need; raise it (systemd: LimitNOFILE={need})"
        )),
        Err(e) => Some(format!(
            "cannot raise RLIMIT_NOFILE from {soft} to {target}: {e}; raise it (systemd: \
             LimitNOFILE={need})"
        )),
    }
}

/// The `# board ...` comment block `smbed testparm` prints after the configuration.
pub fn describe(sel: &Selected, max_connections: u32) -> String {
    let b = &sel.board;
    let l = &b.limits;
    let (backend, note) = crypto_backend(b);
    let prefs: Vec<&str> = b.crypto.iter().map(|p| p.name()).collect();
    let mut s = String::new();
    let _ = writeln!(s, "# board: {} ({})", b.name, sel.how);
    let _ = writeln!(s, "#   {}", b.description);
    let _ = writeln!(
        s,
        "#   crypto: {} (preference: {}){note}",
        backend.name(),
        prefs.join(", ")
    );
    let conns = match max_connections {
        0 => l.connections.to_string(),
        m => format!(
            "{} (max connections = {m}, table {})",
            m.min(l.connections),
            l.connections
        ),
    };
    let _ = writeln!(
        s,
        "#   limits: connections {conns}, sessions {}, trees {}, opens {}",
        l.sessions, l.trees, l.opens
    );
    // The driver's buffer sizes: a frame of max_io plus 64 KiB of headers, plus 4 KiB slack.
    let frame = u64::from(l.max_io) + 64 * 1024 + 4096;
    let _ = writeln!(
        s,
        "#   max read/write/transact {} bytes, credits {}, frame buffers {} (half receive, {} \
         KiB each, half transmit, twice that; at most {} KiB resident when all are in use at \
         once, none when idle)",
        l.max_io,
        l.credits,
        l.frame_buffers,
        frame / 1024,
        u64::from(l.frame_buffers.div_ceil(2)) * 3 * frame / 1024
    );
    let _ = writeln!(
        s,
        "#   tdb segment size {} bytes (account store: {} bytes), I/O threads {} (reads of \
         data not in the page cache)",
        l.tdb_segment_size,
        crate::accounts::account_segment_size(l.tdb_segment_size),
        l.io_threads
    );
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> Board {
        board::builtin_board(name).unwrap().unwrap()
    }

    #[test]
    fn crypto_preference_skips_what_the_cpu_or_build_lacks() {
        // The Pi 4 profile prefers NEON, which this architecture's build may not have: the
        // choice is the first *available* entry, and the note names what was skipped.
        let (b, note) = crypto_backend(&builtin("rpi4"));
        if cfg!(target_arch = "aarch64") {
            assert_eq!(b, smb_crypto::Backend::Aarch64Neon);
            assert_eq!(note, "");
        } else if cfg!(target_arch = "x86_64") {
            assert_eq!(b, smb_crypto::Backend::Portable);
            assert!(note.contains("neon"), "{note}");
        }
        assert!(b.is_available());
        let (b, _) = crypto_backend(&builtin("x86_64-dev"));
        assert!(b.is_available());
        if cfg!(target_arch = "x86_64") && smb_crypto::Backend::X86AesNi.is_available() {
            assert_eq!(b, smb_crypto::Backend::X86AesNi);
        }
    }

    #[test]
    fn named_and_file_choices() {
        let s = select_from(Some("rpi5"), "SMBED_BOARD").unwrap();
        assert_eq!(
            (s.board.name.as_str(), s.how.as_str()),
            ("rpi5", "SMBED_BOARD")
        );
        let e = select_from(Some("rpi9"), "SMBED_BOARD").unwrap_err();
        assert!(
            e.contains("SMBED_BOARD: unknown board 'rpi9'") && e.contains("rpi4"),
            "{e}"
        );
        let e = select_from(Some("/nonexistent/board.toml"), "configured").unwrap_err();
        assert!(e.contains("/nonexistent/board.toml"), "{e}");
        // A profile built for another architecture is refused.
        let other = if cfg!(target_arch = "x86_64") {
            "../boards/rpi4/board.toml"
        } else {
            "../boards/x86_64-dev/board.toml"
        };
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(other);
        let e = select_from(Some(path.to_str().unwrap()), "configured").unwrap_err();
        assert!(e.contains("this smbed is built for"), "{e}");
        // No choice: detection or the architecture's fallback, never an error on a board arch.
        if let Some(arch) = Arch::CURRENT {
            let s = select_from(None, "").unwrap();
            assert_eq!(s.board.arch, arch);
        }
    }

    #[test]
    fn limits_follow_the_profile() {
        let b = builtin("rpi3");
        let l = limits(&b);
        assert_eq!(l.conns, b.limits.connections as usize);
        assert_eq!(l.opens, b.limits.opens as usize);
        assert_eq!(l.max_io, b.limits.max_io);
        assert_eq!(u32::from(l.credits), b.limits.credits);
        assert_eq!(l.frame_buffers, b.limits.frame_buffers as usize);
        assert_eq!(fds_needed(&l, 3), (l.opens + l.conns + 3 + 64) as u64);
        // Asking for no more than the current soft limit changes nothing.
        assert_eq!(raise_fd_limit(16), None);
    }

    #[test]
    fn testparm_block_names_the_board_and_its_limits() {
        let sel = Selected {
            board: builtin("rpi4"),
            how: "configured".into(),
        };
        let text = describe(&sel, 20);
        assert!(text.starts_with("# board: rpi4 (configured)\n"), "{text}");
        assert!(
            text.contains("connections 20 (max connections = 20, table 128)"),
            "{text}"
        );
        assert!(text.contains("opens 4096"), "{text}");
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
    }
}
