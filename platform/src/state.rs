//! Persistent server identity and start-up limits.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Limits the tables and buffers are sized from (from the board profile, `board.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub conns: usize,
    pub sessions: usize,
    pub trees: usize,
    pub opens: usize,
    pub max_io: u32,
    pub credits: u16,
    /// Large frame buffers shared by all connections (half receive, half transmit).
    pub frame_buffers: usize,
}

/// What identifies this server across restarts ([MS-SMB2] 3.3.1.5 `ServerGuid`), stored with
/// postcard in `<state>/server-id`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ServerIdentity {
    pub version: u8,
    pub guid: [u8; 16],
}

impl ServerIdentity {
    const FILE: &'static str = "server-id";

    /// Reads the identity, creating it (atomically: temp file, fsync, rename) when missing.
    /// A damaged file is an error naming the file, never silently replaced.
    pub fn load_or_create(state: &Path) -> Result<Self, String> {
        let path = state.join(Self::FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let id: Self = postcard::from_bytes(&bytes)
                    .map_err(|e| format!("{}: damaged server identity: {e}", path.display()))?;
                if id.version != 1 {
                    return Err(format!(
                        "{}: unknown version {}",
                        path.display(),
                        id.version
                    ));
                }
                Ok(id)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut guid = [0u8; 16];
                crate::host::fill_random(&mut guid);
                let id = Self { version: 1, guid };
                let bytes = postcard::to_stdvec(&id).map_err(|e| e.to_string())?;
                let tmp = state.join(".server-id.tmp");
                let write = || -> std::io::Result<()> {
                    use std::io::Write;
                    let mut f = std::fs::File::create(&tmp)?;
                    f.write_all(&bytes)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &path)?;
                    std::fs::File::open(state)?.sync_all()
                };
                write().map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(id)
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_persists_and_damage_is_reported() {
        let dir = std::env::temp_dir().join(format!("smbed-id-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = ServerIdentity::load_or_create(&dir).unwrap();
        let b = ServerIdentity::load_or_create(&dir).unwrap();
        assert_eq!(a, b);
        std::fs::write(dir.join("server-id"), [7u8]).unwrap();
        let e = ServerIdentity::load_or_create(&dir).unwrap_err();
        assert!(e.contains("server-id"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
