//! `smbed tdb check|dump|stats|compact|backup DIR`: tools for the stores of `core/tdb`
//! (smbed's counterparts of Samba's `tdbtool check`, `tdbdump` and `tdbbackup`).
//!
//! A store is a directory of segment files (see `core/tdb/FORMAT.md`).
//!
//! # Locking and running servers
//!
//! A process that writes a store holds `flock(LOCK_EX)` on its directory for as long as
//! it has the store open (`tdb::FileStorage`). The tools split into two kinds:
//!
//! - **Read-only: `check`, `dump`, `stats`, `backup`** never take the lock and never
//!   write to the store, so they work while a server (or anything else) has it open.
//!   They read through [`ReadOnlyDir`], which opens files `O_RDONLY` and refuses every
//!   change. What they see is a prefix of the log: every commit that was complete when
//!   the file was read, never half of a batch (recovery stops at the first record whose
//!   checksum or sequence number does not match, exactly as after a power cut). A write
//!   in flight at that moment shows up in `check` as a warning about the tail ("log ends
//!   at offset ..."), not as an error. If a compaction deletes segments while a tool
//!   reads, the tool retries (up to 3 times).
//! - **`compact`** rewrites the store and therefore needs the lock: if another process
//!   holds it, it fails at once with a message saying so (stop the other process, or
//!   retry). The account database (`accounts.tdb`) is only locked for the duration of a
//!   change, so `compact` works on it while the server runs.
//!
//! # Backup
//!
//! `backup DIR DEST` opens a read-only snapshot of DIR (as above: consistent, no lock,
//! the server keeps running), writes every table and key into a **fresh store** in a
//! temporary directory next to DEST (`.DEST.tmp-PID`, same segment and block size as
//! the source; a fresh store holds only live data, so the copy is compacted), syncs
//! it, reopens it and compares every key and value with the snapshot, and only then
//! renames it to DEST and syncs the parent directory. DEST either appears complete
//! and verified or not at all; an existing DEST is never overwritten. Copying segment
//! files instead would copy garbage and unused preallocated space and would need the
//! writer's lock to be consistent.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tdb::{Durability, FileStorage, Options, Report, SegmentStatus, Storage, Store};

pub(crate) use crate::accounts::ReadOnlyDir;

/// The `smbed tdb` part of the usage text.
pub const USAGE: &str = "\
  smbed tdb check DIR                  check a store (read-only; exit status 1 on damage)
  smbed tdb dump DIR                   list every segment and record (read-only)
  smbed tdb stats DIR                  tables, keys and sizes (read-only)
  smbed tdb compact DIR                rewrite the live data, drop old segments (needs the lock)
  smbed tdb backup DIR DEST            write a verified, compacted copy of DIR to DEST (read-only on DIR)";

/// Runs `smbed tdb ARGS...`, writing to stdout.
pub fn run(args: &[&str]) -> Result<(), String> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let r = run_to(args, &mut out);
    let flushed = out.flush().map_err(|e| format!("stdout: {e}"));
    r.and(flushed)
}

/// Runs `smbed tdb ARGS...` with output to `out`.
pub fn run_to(args: &[&str], out: &mut dyn Write) -> Result<(), String> {
    match args {
        ["check", dir] => check(Path::new(dir), out),
        ["dump", dir] => dump(Path::new(dir), out),
        ["stats", dir] => stats(Path::new(dir), out),
        ["compact", dir] => compact(Path::new(dir), out),
        ["backup", dir, dest] => backup(Path::new(dir), Path::new(dest), out),
        _ => Err(format!("usage:\n{USAGE}")),
    }
}

fn wr(r: io::Result<()>) -> Result<(), String> {
    r.map_err(|e| format!("output: {e}"))
}

/// Prints the consistency report; fails if the store has errors or is not a store.
pub fn check(dir: &Path, out: &mut dyn Write) -> Result<(), String> {
    let storage = ReadOnlyDir::open(dir)?;
    let report =
        retry_vanished(|| tdb::check(&storage)).map_err(|e| format!("{}: {e}", dir.display()))?;
    wr(write!(out, "{report}"))?;
    if report.segments.is_empty() {
        return Err(format!(
            "{}: no tdb store here (no segment files)",
            dir.display()
        ));
    }
    if !report.is_ok() {
        return Err(format!(
            "{}: {} error(s): the store would not open",
            dir.display(),
            report.errors.len()
        ));
    }
    Ok(())
}

/// Lists every segment and record.
pub fn dump(dir: &Path, out: &mut dyn Write) -> Result<(), String> {
    let storage = ReadOnlyDir::open(dir)?;
    if storage.list().map_err(|e| e.to_string())?.is_empty() {
        return Err(format!("{}: no tdb store here", dir.display()));
    }
    tdb::dump(&storage, out).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Prints the size of the live chain and the keys and bytes per table.
pub fn stats(dir: &Path, out: &mut dyn Write) -> Result<(), String> {
    let (store, report) = open_snapshot(dir)?;
    let geometry = geometry(dir, &report)?;
    let s = store.stats();
    wr(writeln!(out, "store: {}", dir.display()))?;
    wr(writeln!(
        out,
        "segments: {} live, {} spare ({} files), segment size {}, block size {}",
        s.segments,
        report
            .segments
            .iter()
            .filter(|r| r.status == SegmentStatus::Spare)
            .count(),
        report.segments.len(),
        geometry.0,
        geometry.1
    ))?;
    wr(writeln!(
        out,
        "log: {} bytes, {} records, next sequence {}",
        s.log_bytes, report.records, report.next_seq
    ))?;
    wr(writeln!(
        out,
        "tables: {}, keys: {}, live bytes: {}",
        s.tables, s.live_keys, s.live_bytes
    ))?;
    for name in store.tables().map_err(|e| e.to_string())? {
        let Some(t) = store.lookup_table(&name).map_err(|e| e.to_string())? else {
            continue;
        };
        let (mut keys, mut bytes) = (0u64, 0u64);
        for (k, v) in store.iter(t).map_err(|e| e.to_string())? {
            keys += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        wr(writeln!(
            out,
            "table {name:?} (id {}): {keys} keys, {bytes} bytes",
            t.id()
        ))?;
    }
    for w in &report.warnings {
        wr(writeln!(out, "warning: {w}"))?;
    }
    Ok(())
}

/// Compacts the store in place (takes the store's lock; fails if it is held).
pub fn compact(dir: &Path, out: &mut dyn Write) -> Result<(), String> {
    let report = {
        let ro = ReadOnlyDir::open(dir)?;
        retry_vanished(|| tdb::check(&ro)).map_err(|e| format!("{}: {e}", dir.display()))?
    };
    if report.segments.is_empty() {
        return Err(format!("{}: no tdb store here", dir.display()));
    }
    let (segment_size, block_size) = geometry(dir, &report)?;
    let storage = lock(dir)?;
    let mut o = tool_options(false);
    o.segment_size = segment_size;
    o.block_size = block_size;
    let store = Store::open(storage, o).map_err(|e| open_error(dir, &e))?;
    let before = store.stats();
    store
        .compact()
        .map_err(|e| format!("{}: compaction failed: {e}", dir.display()))?;
    let after = store.stats();
    store
        .close()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    wr(writeln!(
        out,
        "compacted {}: {} segment(s), {} bytes of log -> {} segment(s), {} bytes ({} keys)",
        dir.display(),
        before.segments,
        before.log_bytes,
        after.segments,
        after.log_bytes,
        after.live_keys
    ))
}

/// Writes a verified copy of `dir` to `dest` (which must not exist). See the module docs.
pub fn backup(dir: &Path, dest: &Path, out: &mut dyn Write) -> Result<(), String> {
    if fs::symlink_metadata(dest).is_ok() {
        return Err(format!(
            "{}: already exists; backup never overwrites",
            dest.display()
        ));
    }
    let (src, report) = open_snapshot(dir)?;
    let (segment_size, block_size) = geometry(dir, &report)?;
    let name = dest
        .file_name()
        .ok_or_else(|| format!("{}: not a directory name", dest.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let result = copy_store(&src, &tmp, segment_size, block_size).and_then(|n| {
        fs::rename(&tmp, dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        File::open(&parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("{}: {e}", parent.display()))?;
        Ok(n)
    });
    let (tables, keys) = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    wr(writeln!(
        out,
        "backed up {} to {}: {tables} table(s), {keys} key(s), verified \
         (snapshot up to sequence {})",
        dir.display(),
        dest.display(),
        report.next_seq.saturating_sub(1)
    ))
}

/// Copies every table of `src` into a new store at `dir`, then verifies the copy.
/// Returns (tables, keys).
fn copy_store(
    src: &Store,
    dir: &Path,
    segment_size: u64,
    block_size: u32,
) -> Result<(u64, u64), String> {
    let err = |e: tdb::Error| format!("{}: {e}", dir.display());
    let storage = FileStorage::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut o = tool_options(true);
    o.segment_size = segment_size;
    o.block_size = block_size;
    let dst = Store::open(storage, o).map_err(err)?;
    // One batch (record) must fit in a segment; stay well below.
    let max_batch = usize::try_from(segment_size / 4).unwrap_or(usize::MAX);
    let names = src.tables().map_err(|e| e.to_string())?;
    let mut keys = 0u64;
    for name in &names {
        let Some(st) = src.lookup_table(name).map_err(|e| e.to_string())? else {
            continue;
        };
        let dt = dst.table(name).map_err(err)?;
        let mut batch = dst.batch();
        let mut size = 0;
        for (k, v) in src.iter(st).map_err(|e| e.to_string())? {
            if size + k.len() + v.len() + 16 > max_batch && !batch.is_empty() {
                std::mem::replace(&mut batch, dst.batch())
                    .commit(Durability::Lazy)
                    .map_err(err)?;
                size = 0;
            }
            size += k.len() + v.len() + 16;
            batch.put(dt, &k, &v);
            keys += 1;
        }
        batch.commit(Durability::Lazy).map_err(err)?;
    }
    dst.flush().map_err(err)?;
    dst.close().map_err(err)?;

    // Verify: reopen the copy as a new process would and compare everything.
    let copy = Store::open(ReadOnlyDir::new(dir), tool_options(false)).map_err(err)?;
    let mismatch = |what: String| format!("{}: verification failed: {what}", dir.display());
    if copy.tables().map_err(|e| e.to_string())? != names {
        return Err(mismatch("table list differs".into()));
    }
    for name in &names {
        let (Some(st), Some(ct)) = (
            src.lookup_table(name).map_err(|e| e.to_string())?,
            copy.lookup_table(name).map_err(|e| e.to_string())?,
        ) else {
            return Err(mismatch(format!("table {name:?} missing")));
        };
        let a = src.iter(st).map_err(|e| e.to_string())?;
        let b = copy.iter(ct).map_err(|e| e.to_string())?;
        if a.len() != b.len() || !a.zip(b).all(|(x, y)| x == y) {
            return Err(mismatch(format!("table {name:?} differs")));
        }
    }
    Ok((names.len() as u64, keys))
}

/// Options for tools: no background thread, no automatic compaction.
fn tool_options(create: bool) -> Options {
    let mut o = Options::default();
    o.create_if_missing = create;
    o.lazy_flush_interval = None;
    o.auto_compact = false;
    o
}

fn open_error(dir: &Path, e: &tdb::Error) -> String {
    match e {
        tdb::Error::NotFound => format!("{}: no tdb store here", dir.display()),
        tdb::Error::Corrupt(_) => format!(
            "{}: {e} (run 'smbed tdb check {}' for details)",
            dir.display(),
            dir.display()
        ),
        _ => format!("{}: {e}", dir.display()),
    }
}

/// Opens a read-only snapshot of the store in `dir` (no lock; see the module docs),
/// with the check report of the same state.
pub(crate) fn open_snapshot(dir: &Path) -> Result<(Store, Report), String> {
    let storage = ReadOnlyDir::open(dir)?;
    let report =
        retry_vanished(|| tdb::check(&storage)).map_err(|e| format!("{}: {e}", dir.display()))?;
    let store = retry_vanished(|| Store::open(ReadOnlyDir::new(dir), tool_options(false)))
        .map_err(|e| open_error(dir, &e))?;
    Ok((store, report))
}

/// Runs `f` again (up to 3 times) when a file it was reading vanished: a compaction
/// by the process holding the store deleted an old segment under us.
fn retry_vanished<T>(mut f: impl FnMut() -> tdb::Result<T>) -> tdb::Result<T> {
    let mut tries = 0;
    loop {
        match f() {
            Err(tdb::Error::Io(e)) if e.kind() == io::ErrorKind::NotFound && tries < 3 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

/// Takes the store's lock, failing at once if another process holds it.
fn lock(dir: &Path) -> Result<FileStorage, String> {
    FileStorage::open(dir).map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            format!(
                "{}: the store is in use by another process (it holds the store's lock); \
                 this command needs exclusive access: stop that process or retry",
                dir.display()
            )
        } else {
            format!("{}: {e}", dir.display())
        }
    })
}

/// (segment size, block size) of the live chain's newest segment, read from its
/// header (FORMAT.md §3.1: offsets 40 and 48).
fn geometry(dir: &Path, report: &Report) -> Result<(u64, u32), String> {
    let seg = report
        .segments
        .iter()
        .rev()
        .find(|s| s.status == SegmentStatus::Live)
        .ok_or_else(|| format!("{}: no live segment", dir.display()))?;
    let path = dir.join(&seg.name);
    let mut hdr = [0u8; 52];
    File::open(&path)
        .and_then(|f| f.read_exact_at(&mut hdr, 0))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut seg_size = [0u8; 8];
    seg_size.copy_from_slice(&hdr[40..48]);
    let mut block = [0u8; 4];
    block.copy_from_slice(&hdr[48..52]);
    Ok((u64::from_le_bytes(seg_size), u32::from_le_bytes(block)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "smbed-tdbcli-test-{}-{}",
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
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn small_options() -> Options {
        let mut o = Options::default();
        o.segment_size = 64 * 1024;
        o.lazy_flush_interval = None;
        o.auto_compact = false;
        o
    }

    /// A store with two tables, overwritten keys (garbage for compaction) and
    /// several segments.
    fn make_store(dir: &Path) -> Store {
        let store = Store::open(FileStorage::open(dir).unwrap(), small_options()).unwrap();
        let a = store.table("alpha").unwrap();
        let b = store.table("beta").unwrap();
        for round in 0..4u32 {
            let mut batch = store.batch();
            for i in 0..100u32 {
                batch.put(a, format!("key{i:03}").as_bytes(), &[round as u8; 200]);
            }
            batch.commit(Durability::Immediate).unwrap();
        }
        store
            .put(b, b"only", b"value", Durability::Immediate)
            .unwrap();
        store.delete(a, b"key000", Durability::Immediate).unwrap();
        store
    }

    fn run_cmd(args: &[&str]) -> (Result<(), String>, String) {
        let mut out = Vec::new();
        let r = run_to(args, &mut out);
        (r, String::from_utf8(out).unwrap())
    }

    #[test]
    fn read_only_tools_work_while_a_writer_holds_the_lock() {
        let dir = TempDir::new();
        let store_dir = dir.join("s.tdb");
        let d = store_dir.to_str().unwrap();
        let store = make_store(&store_dir);
        assert!(store.stats().segments > 1);

        let (r, out) = run_cmd(&["check", d]);
        r.unwrap();
        assert!(out.ends_with("ok\n"), "{out}");
        assert!(out.contains("keys=100"), "{out}");

        let (r, out) = run_cmd(&["dump", d]);
        r.unwrap();
        assert!(out.contains("seg-"), "{out}");

        let (r, out) = run_cmd(&["stats", d]);
        r.unwrap();
        assert!(out.contains("table \"alpha\" (id 1): 99 keys"), "{out}");
        assert!(out.contains("table \"beta\" (id 2): 1 keys"), "{out}");
        assert!(out.contains("segment size 65536, block size 4096"), "{out}");

        // compact needs the lock: clear message while the writer holds it.
        let (r, _) = run_cmd(&["compact", d]);
        let e = r.unwrap_err();
        assert!(e.contains("in use by another process"), "{e}");
        assert!(e.starts_with(d), "{e}");

        // backup reads a consistent snapshot without the lock.
        let dest = dir.join("copy.tdb");
        let (r, out) = run_cmd(&["backup", d, dest.to_str().unwrap()]);
        r.unwrap();
        assert!(out.contains("2 table(s), 100 key(s), verified"), "{out}");
        drop(store);
        // The copy holds the same data, is compacted and checks clean.
        let copy = Store::open(FileStorage::open(&dest).unwrap(), small_options()).unwrap();
        let a = copy.lookup_table("alpha").unwrap().unwrap();
        assert_eq!(copy.iter(a).unwrap().len(), 99);
        assert_eq!(copy.get(a, b"key001").unwrap().unwrap(), vec![3u8; 200]);
        assert_eq!(copy.stats().segments, 1);
        drop(copy);
        run_cmd(&["check", dest.to_str().unwrap()]).0.unwrap();
        // No temporary directory left behind; an existing DEST is refused.
        let names: Vec<_> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        let e = run_cmd(&["backup", d, dest.to_str().unwrap()])
            .0
            .unwrap_err();
        assert!(e.contains("already exists"), "{e}");
    }

    #[test]
    fn compact_shrinks_the_log_and_keeps_the_data() {
        let dir = TempDir::new();
        let store_dir = dir.join("s.tdb");
        let d = store_dir.to_str().unwrap();
        let before = make_store(&store_dir).stats();
        let (r, out) = run_cmd(&["compact", d]);
        r.unwrap();
        assert!(out.contains("-> 1 segment(s)"), "{out}");
        let store = Store::open(FileStorage::open(&store_dir).unwrap(), small_options()).unwrap();
        let s = store.stats();
        assert!(s.log_bytes < before.log_bytes);
        assert_eq!(s.live_keys, 100);
        let b = store.lookup_table("beta").unwrap().unwrap();
        assert_eq!(store.get(b, b"only").unwrap().unwrap(), b"value");
    }

    #[test]
    fn damage_and_non_stores_are_reported() {
        let dir = TempDir::new();
        let store_dir = dir.join("s.tdb");
        let d = store_dir.to_str().unwrap();
        drop(make_store(&store_dir));
        // Damage a record in a sealed segment (the first one).
        let first = fs::read_dir(&store_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".log"))
            .min()
            .unwrap();
        let f = fs::OpenOptions::new()
            .write(true)
            .open(store_dir.join(&first))
            .unwrap();
        // The CRC of the first record.
        f.write_all_at(b"XXXX", 4096 + 4).unwrap();
        drop(f);
        let (r, out) = run_cmd(&["check", d]);
        let e = r.unwrap_err();
        assert!(e.contains("error(s)"), "{e}");
        assert!(out.contains("error: "), "{out}");
        let e = run_cmd(&["stats", d]).0.unwrap_err();
        assert!(
            e.contains("corrupt") && e.contains("smbed tdb check"),
            "{e}"
        );
        let e = run_cmd(&["backup", d, dir.join("b").to_str().unwrap()])
            .0
            .unwrap_err();
        assert!(e.contains("corrupt"), "{e}");
        assert!(!dir.join("b").exists());

        let empty = dir.join("empty");
        fs::create_dir_all(&empty).unwrap();
        let e = run_cmd(&["check", empty.to_str().unwrap()]).0.unwrap_err();
        assert!(e.contains("no tdb store here"), "{e}");
        let e = run_cmd(&["check", dir.join("missing").to_str().unwrap()])
            .0
            .unwrap_err();
        assert!(e.contains("No such file"), "{e}");
        let e = run_cmd(&["frobnicate"]).0.unwrap_err();
        assert!(e.starts_with("usage:"), "{e}");
    }

    #[test]
    fn read_only_dir_refuses_changes() {
        let dir = TempDir::new();
        let ro = ReadOnlyDir::new(dir.join("x"));
        assert!(ro.list().unwrap().is_empty());
        assert!(ro.create("seg").is_err());
        assert!(ro.sync_dir().is_err());
        assert!(ro.open("../etc").is_err());
        let mut o = tool_options(false);
        o.create_if_missing = true;
        // Even asked to create, nothing can be created.
        assert!(Store::open(ReadOnlyDir::new(dir.join("x")), o).is_err());
        assert!(!dir.join("x").exists());
    }
}
