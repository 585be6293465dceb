//! Tests of [`PosixVfs`] against real directories under `std::env::temp_dir()`.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use smb_proto::vfs::{
    attr, BasicInfo, CreateAction, Disposition, FileInfo, NodeId, OpenArgs, ShareId, Vfs, Want,
};
use smb_wire::NtStatus;

use super::{PosixVfs, ShareRoot};

const S: ShareId = ShareId(0);

/// A scratch tree `<tmp>/smbed-vfs-<pid>-<n>/{share,outside}`, removed on drop.
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let base = std::env::temp_dir().join(format!(
            "smbed-vfs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir_all(base.join("share")).unwrap();
        fs::create_dir_all(base.join("outside")).unwrap();
        fs::write(base.join("outside/secret"), b"secret").unwrap();
        Self { base }
    }

    fn share(&self) -> PathBuf {
        self.base.join("share")
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.share().join(rel)
    }

    fn vfs(&self, read_only: bool, max_opens: usize) -> PosixVfs {
        let roots = [ShareRoot {
            path: self.share(),
            read_only,
        }];
        PosixVfs::new(&roots, max_opens).unwrap()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

fn args(disposition: Disposition, want: Want, write: bool) -> OpenArgs {
    OpenArgs {
        disposition,
        want,
        write,
        attributes: 0,
        allocation_size: 0,
        access: Default::default(),
    }
}

fn open_rw(v: &mut PosixVfs, path: &str) -> NodeId {
    v.open(S, path, &args(Disposition::Open, Want::Any, true))
        .unwrap()
        .0
}

fn create_file(v: &mut PosixVfs, path: &str) -> NodeId {
    v.open(S, path, &args(Disposition::Create, Want::File, true))
        .unwrap()
        .0
}

fn xattrs(v: &PosixVfs) -> bool {
    v.shares[0].xattr
}

/// List a directory in one call.
fn list(v: &mut PosixVfs, node: NodeId) -> Vec<(String, FileInfo)> {
    let mut out = Vec::new();
    let done = v
        .read_dir(node, true, &mut |e| {
            out.push((e.name.to_owned(), e.info));
            true
        })
        .unwrap();
    assert!(done);
    out
}

fn names(v: &mut PosixVfs, node: NodeId) -> HashSet<String> {
    list(v, node).into_iter().map(|(n, _)| n).collect()
}

const ALL_DISPOSITIONS: [Disposition; 6] = [
    Disposition::Supersede,
    Disposition::Open,
    Disposition::Create,
    Disposition::OpenIf,
    Disposition::Overwrite,
    Disposition::OverwriteIf,
];

/// What a disposition × want × state should do.
fn expected(d: Disposition, w: Want, state: &str) -> Result<(CreateAction, bool), NtStatus> {
    use Disposition::*;
    let overwriting = matches!(d, Supersede | Overwrite | OverwriteIf);
    if w == Want::Directory && overwriting {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    match state {
        "missing" => match d {
            Open | Overwrite => Err(NtStatus::OBJECT_NAME_NOT_FOUND),
            _ => Ok((CreateAction::Created, w == Want::Directory)),
        },
        "file" => match (d, w) {
            (Create, _) => Err(NtStatus::OBJECT_NAME_COLLISION),
            (_, Want::Directory) => Err(NtStatus::NOT_A_DIRECTORY),
            (Open | OpenIf, _) => Ok((CreateAction::Opened, false)),
            (Supersede, _) => Ok((CreateAction::Superseded, false)),
            (Overwrite | OverwriteIf, _) => Ok((CreateAction::Overwritten, false)),
        },
        "dir" => match (d, w) {
            (Create, _) => Err(NtStatus::OBJECT_NAME_COLLISION),
            (_, Want::File) => Err(NtStatus::FILE_IS_A_DIRECTORY),
            (Open | OpenIf, _) => Ok((CreateAction::Opened, true)),
            _ => Err(NtStatus::FILE_IS_A_DIRECTORY),
        },
        _ => unreachable!(),
    }
}

fn disposition_matrix(fallback: bool) {
    let t = Tree::new();
    let mut v = t.vfs(false, 16);
    if fallback {
        v.force_fallback();
    }
    for (i, d) in ALL_DISPOSITIONS.into_iter().enumerate() {
        for (j, w) in [Want::Any, Want::Directory, Want::File]
            .into_iter()
            .enumerate()
        {
            for state in ["missing", "file", "dir"] {
                let name = format!("sub/m{i}{j}-{state}");
                fs::create_dir_all(t.p("sub")).unwrap();
                match state {
                    "file" => fs::write(t.p(&name), b"content").unwrap(),
                    "dir" => fs::create_dir(t.p(&name)).unwrap(),
                    _ => {}
                }
                let want = expected(d, w, state);
                let got = v.open(S, &name, &args(d, w, true));
                let ctx = format!("{d:?} {w:?} {state}");
                match (want, got) {
                    (Err(e), Err(g)) => {
                        assert_eq!(e, g, "{ctx}");
                        // Nothing was created or changed.
                        match state {
                            "missing" => assert!(!t.p(&name).exists(), "{ctx}"),
                            "file" => assert_eq!(fs::read(t.p(&name)).unwrap(), b"content"),
                            _ => assert!(t.p(&name).is_dir()),
                        }
                    }
                    (Ok((action, is_dir)), Ok((node, a, info))) => {
                        assert_eq!(action, a, "{ctx}");
                        assert_eq!(info.is_directory, is_dir, "{ctx}");
                        assert_eq!(t.p(&name).is_dir(), is_dir, "{ctx}");
                        assert_eq!(info.attributes & attr::DIRECTORY != 0, is_dir, "{ctx}");
                        if !is_dir {
                            let len = fs::metadata(t.p(&name)).unwrap().len();
                            let want_len = if matches!(a, CreateAction::Opened) {
                                7
                            } else {
                                0
                            };
                            assert_eq!(len, want_len, "{ctx}");
                            assert_eq!(info.end_of_file, want_len, "{ctx}");
                            assert!(info.attributes & attr::ARCHIVE != 0, "{ctx}");
                        }
                        assert_eq!(v.stat(node).unwrap().file_id, info.file_id);
                        v.close(node);
                    }
                    (w, g) => panic!("{ctx}: expected {w:?}, got {g:?}"),
                }
            }
        }
    }
    // Missing parents, and a file used as a directory.
    fs::write(t.p("afile"), b"").unwrap();
    for d in ALL_DISPOSITIONS {
        for path in ["nodir/x", "nodir/deeper/x", "afile/x"] {
            let r = v.open(S, path, &args(d, Want::Any, true));
            let e = NtStatus::OBJECT_PATH_NOT_FOUND;
            assert_eq!(r.err(), Some(e), "{d:?} {path}");
        }
    }
    // The share root itself.
    let (root, a, info) = v
        .open(S, "", &args(Disposition::Open, Want::Directory, false))
        .unwrap();
    assert_eq!(a, CreateAction::Opened);
    assert!(info.is_directory);
    v.close(root);
    assert_eq!(
        v.open(S, "", &args(Disposition::Create, Want::Directory, false))
            .err(),
        Some(NtStatus::OBJECT_NAME_COLLISION)
    );
    assert_eq!(
        v.open(S, "", &args(Disposition::Open, Want::File, false))
            .err(),
        Some(NtStatus::FILE_IS_A_DIRECTORY)
    );
}

#[test]
fn dispositions_and_wants() {
    disposition_matrix(false);
}

#[test]
fn dispositions_and_wants_without_openat2() {
    disposition_matrix(true);
}

#[test]
fn stat_path_and_not_found_kinds() {
    let t = Tree::new();
    let mut v = t.vfs(false, 4);
    fs::create_dir(t.p("d")).unwrap();
    fs::write(t.p("d/f"), b"abc").unwrap();
    let info = v.stat_path(S, "d/f").unwrap();
    assert_eq!(info.end_of_file, 3);
    assert_eq!(info.file_id, fs::metadata(t.p("d/f")).unwrap().ino());
    assert!(v.stat_path(S, "d").unwrap().is_directory);
    assert!(v.stat_path(S, "").unwrap().is_directory);
    assert_eq!(
        v.stat_path(S, "d/missing").err(),
        Some(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    assert_eq!(
        v.stat_path(S, "missing/f").err(),
        Some(NtStatus::OBJECT_PATH_NOT_FOUND)
    );
    assert_eq!(
        v.stat_path(S, "d/f/x").err(),
        Some(NtStatus::OBJECT_PATH_NOT_FOUND)
    );
    assert_eq!(
        v.stat_path(ShareId(1), "").err(),
        Some(NtStatus::BAD_NETWORK_NAME)
    );
}

#[test]
fn read_write_extend_truncate() {
    let t = Tree::new();
    let mut v = t.vfs(false, 4);
    let n = create_file(&mut v, "f");
    assert_eq!(v.write(n, 0, b"hello").unwrap(), 5);
    // Past the end: the gap reads as zeros.
    assert_eq!(v.write(n, 10, b"world").unwrap(), 5);
    assert_eq!(v.stat(n).unwrap().end_of_file, 15);
    let mut buf = [0xffu8; 32];
    assert_eq!(v.read(n, 0, &mut buf).unwrap(), 15);
    assert_eq!(&buf[..15], b"hello\0\0\0\0\0world");
    assert_eq!(v.read(n, 15, &mut buf).unwrap(), 0);
    assert_eq!(v.read(n, 1000, &mut buf).unwrap(), 0);
    assert_eq!(v.read(n, 12, &mut buf[..2]).unwrap(), 2);
    assert_eq!(&buf[..2], b"rl");
    v.flush(n).unwrap();
    // A large write and read back.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(v.write(n, 0, &big).unwrap(), big.len());
    let mut back = vec![0u8; big.len() + 10];
    assert_eq!(v.read(n, 0, &mut back).unwrap(), big.len());
    assert_eq!(&back[..big.len()], &big[..]);
    // set_len both ways.
    v.set_len(n, 3).unwrap();
    assert_eq!(v.stat(n).unwrap().end_of_file, 3);
    v.set_len(n, 100).unwrap();
    assert_eq!(fs::metadata(t.p("f")).unwrap().len(), 100);
    assert_eq!(v.read(n, 0, &mut buf[..5]).unwrap(), 5);
    assert_eq!(&buf[..5], &[0, 1, 2, 0, 0]);
    // set_allocation: growing keeps the size, shrinking below EOF truncates.
    v.set_allocation(n, 1 << 20).unwrap();
    let info = v.stat(n).unwrap();
    assert_eq!(info.end_of_file, 100);
    assert!(info.allocation_size >= 1 << 20 || info.allocation_size > 0);
    v.set_allocation(n, 10).unwrap();
    assert_eq!(v.stat(n).unwrap().end_of_file, 10);
    v.close(n);

    // A read-only open cannot write.
    let n = v
        .open(S, "f", &args(Disposition::Open, Want::File, false))
        .unwrap()
        .0;
    assert_eq!(v.write(n, 0, b"x").err(), Some(NtStatus::ACCESS_DENIED));
    assert_eq!(v.set_len(n, 0).err(), Some(NtStatus::ACCESS_DENIED));
    v.close(n);

    // Allocation size at create.
    let mut a = args(Disposition::Create, Want::File, true);
    a.allocation_size = 256 * 1024;
    let (n, _, info) = v.open(S, "prealloc", &a).unwrap();
    assert_eq!(info.end_of_file, 0);
    assert!(info.allocation_size >= 256 * 1024, "{info:?}");
    v.close(n);

    // Directories refuse data calls.
    let (d, _, _) = v
        .open(S, "dir", &args(Disposition::Create, Want::Directory, false))
        .unwrap();
    assert_eq!(
        v.read(d, 0, &mut buf).err(),
        Some(NtStatus::FILE_IS_A_DIRECTORY)
    );
    assert_eq!(
        v.write(d, 0, b"x").err(),
        Some(NtStatus::FILE_IS_A_DIRECTORY)
    );
    v.flush(d).unwrap();
    v.close(d);
}

#[test]
fn attributes_and_times_persist() {
    let t = Tree::new();
    let mut v = t.vfs(false, 8);
    let xa = xattrs(&v);

    // Defaults.
    let (n, _, info) = v
        .open(S, "plain", &args(Disposition::Create, Want::File, true))
        .unwrap();
    assert_eq!(info.attributes, attr::ARCHIVE);
    assert!(info.creation_time > 0 && info.last_write_time > 0);
    assert_eq!(info.links, 1);
    v.close(n);
    let (n, _, info) = v
        .open(S, ".dot", &args(Disposition::Create, Want::File, true))
        .unwrap();
    assert_eq!(info.attributes, attr::ARCHIVE | attr::HIDDEN);
    v.close(n);
    let (n, _, info) = v
        .open(S, "d", &args(Disposition::Create, Want::Directory, false))
        .unwrap();
    assert_eq!(info.attributes, attr::DIRECTORY);
    assert_eq!(info.end_of_file, 0);
    v.close(n);

    // Attributes given at create.
    let mut a = args(Disposition::Create, Want::File, true);
    a.attributes = attr::HIDDEN | attr::SYSTEM | attr::DIRECTORY | attr::COMPRESSED;
    let (n, _, info) = v.open(S, "hs", &a).unwrap();
    if xa {
        assert_eq!(info.attributes, attr::HIDDEN | attr::SYSTEM | attr::ARCHIVE);
    }
    v.close(n);
    let info = v.stat_path(S, "hs").unwrap();
    if xa {
        assert_eq!(info.attributes, attr::HIDDEN | attr::SYSTEM | attr::ARCHIVE);
    }
    let mut a = args(Disposition::Create, Want::Directory, false);
    a.attributes = attr::HIDDEN;
    let (n, _, info) = v.open(S, "hd", &a).unwrap();
    if xa {
        assert_eq!(info.attributes, attr::HIDDEN | attr::DIRECTORY);
    }
    v.close(n);

    // set_basic: attributes, creation and write times survive a reopen.
    let n = open_rw(&mut v, "plain");
    let ctime = 130_000_000_000_000_000u64; // 2012
    let wtime = 131_000_000_001_234_500u64;
    let atime = 131_500_000_000_000_000u64;
    v.set_basic(
        n,
        &BasicInfo {
            creation_time: Some(ctime),
            last_access_time: Some(atime),
            last_write_time: Some(wtime),
            change_time: Some(1),
            attributes: Some(attr::HIDDEN | attr::ARCHIVE | attr::NORMAL),
        },
    )
    .unwrap();
    v.close(n);
    let (n, _, info) = v
        .open(S, "plain", &args(Disposition::Open, Want::Any, false))
        .unwrap();
    assert_eq!(info.last_write_time, wtime);
    assert_eq!(info.last_access_time, atime);
    if xa {
        assert_eq!(info.creation_time, ctime);
        assert_eq!(info.attributes, attr::HIDDEN | attr::ARCHIVE);
    }
    // None leaves everything alone.
    v.set_basic(n, &BasicInfo::default()).unwrap();
    let again = v.stat(n).unwrap();
    assert_eq!(again.last_write_time, wtime);
    assert_eq!(again.attributes, info.attributes);
    // Listing reports the same.
    v.close(n);
    let (root, _, _) = v
        .open(S, "", &args(Disposition::Open, Want::Directory, false))
        .unwrap();
    let entries = list(&mut v, root);
    let (_, listed) = entries.iter().find(|(n, _)| n == "plain").unwrap();
    assert_eq!(listed.attributes, info.attributes);
    assert_eq!(listed.creation_time, info.creation_time);
    assert_eq!(listed.last_write_time, wtime);
    v.close(root);

    // READONLY: persisted (xattr or mode), and it refuses write opens and overwrites.
    let n = open_rw(&mut v, "plain");
    v.set_basic(
        n,
        &BasicInfo {
            attributes: Some(attr::READONLY),
            ..BasicInfo::default()
        },
    )
    .unwrap();
    v.close(n);
    let info = v.stat_path(S, "plain").unwrap();
    assert_eq!(info.attributes, attr::READONLY);
    for d in [Disposition::Open, Disposition::OpenIf] {
        assert_eq!(
            v.open(S, "plain", &args(d, Want::File, true)).err(),
            Some(NtStatus::ACCESS_DENIED)
        );
    }
    for d in [
        Disposition::Overwrite,
        Disposition::OverwriteIf,
        Disposition::Supersede,
    ] {
        assert_eq!(
            v.open(S, "plain", &args(d, Want::File, false)).err(),
            Some(NtStatus::ACCESS_DENIED)
        );
    }
    let (n, _, _) = v
        .open(S, "plain", &args(Disposition::Open, Want::File, false))
        .unwrap();
    v.set_basic(
        n,
        &BasicInfo {
            attributes: Some(attr::NORMAL),
            ..BasicInfo::default()
        },
    )
    .unwrap();
    assert_eq!(v.stat(n).unwrap().attributes, attr::NORMAL);
    v.close(n);

    // Overwrite resets attributes but keeps the client-set creation time.
    let mut a = args(Disposition::Overwrite, Want::File, true);
    a.attributes = attr::SYSTEM;
    let (n, action, info) = v.open(S, "plain", &a).unwrap();
    assert_eq!(action, CreateAction::Overwritten);
    if xa {
        assert_eq!(info.attributes, attr::SYSTEM | attr::ARCHIVE);
        assert_eq!(info.creation_time, ctime);
    }
    v.close(n);

    // A garbage or foreign-version record is ignored.
    if xa {
        for junk in [&b"garbage!"[..], b"\x09\x01\x00", b""] {
            rustix::fs::setxattr(
                t.p("plain"),
                "user.smbed",
                junk,
                rustix::fs::XattrFlags::empty(),
            )
            .unwrap();
            let info = v.stat_path(S, "plain").unwrap();
            assert_eq!(info.attributes, attr::ARCHIVE, "{junk:?}");
        }
    }
}

#[test]
fn readonly_mode_without_record() {
    let t = Tree::new();
    let mut v = t.vfs(false, 4);
    fs::write(t.p("ro"), b"x").unwrap();
    fs::set_permissions(t.p("ro"), fs::Permissions::from_mode(0o444)).unwrap();
    let info = v.stat_path(S, "ro").unwrap();
    assert_eq!(info.attributes, attr::ARCHIVE | attr::READONLY);
    assert_eq!(
        v.open(S, "ro", &args(Disposition::Open, Want::Any, true))
            .err(),
        Some(NtStatus::ACCESS_DENIED)
    );
}

#[test]
fn rename_semantics() {
    let t = Tree::new();
    let mut v = t.vfs(false, 16);
    fs::create_dir(t.p("d")).unwrap();
    fs::create_dir(t.p("d2")).unwrap();
    fs::write(t.p("a"), b"A").unwrap();
    fs::write(t.p("b"), b"B").unwrap();

    let a = open_rw(&mut v, "a");
    // Without replace onto an existing file.
    assert_eq!(
        v.rename(a, "b", false).err(),
        Some(NtStatus::OBJECT_NAME_COLLISION)
    );
    assert_eq!(fs::read(t.p("b")).unwrap(), b"B");
    // Onto a directory, with or without replace.
    assert_eq!(v.rename(a, "d", true).err(), Some(NtStatus::ACCESS_DENIED));
    assert_eq!(
        v.rename(a, "d", false).err(),
        Some(NtStatus::OBJECT_NAME_COLLISION)
    );
    // Missing target parent.
    assert_eq!(
        v.rename(a, "nope/x", false).err(),
        Some(NtStatus::OBJECT_PATH_NOT_FOUND)
    );
    assert_eq!(
        v.rename(a, "b/x", false).err(),
        Some(NtStatus::OBJECT_PATH_NOT_FOUND)
    );
    assert_eq!(
        v.rename(a, "../x", false).err(),
        Some(NtStatus::OBJECT_NAME_INVALID)
    );
    // With replace onto a file.
    v.rename(a, "b", true).unwrap();
    assert!(!t.p("a").exists());
    assert_eq!(fs::read(t.p("b")).unwrap(), b"A");
    // To itself: nothing happens.
    v.rename(a, "b", false).unwrap();
    // Into a subdirectory; the node follows.
    v.rename(a, "d/c", false).unwrap();
    assert_eq!(fs::read(t.p("d/c")).unwrap(), b"A");
    assert_eq!(v.write(a, 1, b"!").unwrap(), 1);
    assert_eq!(fs::read(t.p("d/c")).unwrap(), b"A!");

    // Renaming an open directory keeps its open children usable for rename/unlink.
    let d = v
        .open(S, "d", &args(Disposition::Open, Want::Directory, false))
        .unwrap()
        .0;
    fs::create_dir(t.p("d/sub")).unwrap();
    fs::write(t.p("d/sub/leaf"), b"L").unwrap();
    let leaf = open_rw(&mut v, "d/sub/leaf");
    let sub = v
        .open(S, "d/sub", &args(Disposition::Open, Want::Directory, false))
        .unwrap()
        .0;
    // A node whose path merely shares a prefix must not move.
    fs::write(t.p("dx"), b"X").unwrap();
    let dx = open_rw(&mut v, "dx");
    v.rename(d, "d2/moved", false).unwrap();
    assert_eq!(v.path(d), "d2/moved");
    assert_eq!(v.path(leaf), "d2/moved/sub/leaf");
    assert_eq!(v.path(sub), "d2/moved/sub");
    assert_eq!(v.path(a), "d2/moved/c");
    assert_eq!(v.path(dx), "dx");
    assert!(t.p("d2/moved/sub/leaf").exists());
    v.rename(leaf, "d2/moved/leaf2", false).unwrap();
    assert!(t.p("d2/moved/leaf2").exists());
    v.rename(sub, "d2/moved/sub2", false).unwrap();
    v.unlink(a).unwrap();
    assert!(!t.p("d2/moved/c").exists());
    v.rename(dx, "dy", false).unwrap();
    assert!(t.p("dy").exists());
    let entries = names(&mut v, d);
    assert!(
        entries.contains("sub2") && entries.contains("leaf2"),
        "{entries:?}"
    );

    // A stale path (changed behind our back) never touches another file.
    let e = create_file(&mut v, "e");
    fs::rename(t.p("e"), t.p("e-moved")).unwrap();
    fs::write(t.p("e"), b"other").unwrap();
    assert_eq!(v.unlink(e).err(), Some(NtStatus::OBJECT_NAME_NOT_FOUND));
    assert_eq!(
        v.rename(e, "f", false).err(),
        Some(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    assert_eq!(fs::read(t.p("e")).unwrap(), b"other");

    // The root cannot be renamed; nothing can be renamed onto the root.
    let root = v
        .open(S, "", &args(Disposition::Open, Want::Directory, false))
        .unwrap()
        .0;
    assert_eq!(
        v.rename(root, "x", false).err(),
        Some(NtStatus::ACCESS_DENIED)
    );
    assert_eq!(v.rename(dx, "", true).err(), Some(NtStatus::ACCESS_DENIED));
    // A directory cannot move into itself.
    let d2 = v
        .open(S, "d2", &args(Disposition::Open, Want::Directory, false))
        .unwrap()
        .0;
    assert_eq!(
        v.rename(d2, "d2/moved/inside", false).err(),
        Some(NtStatus::INVALID_PARAMETER)
    );
}

#[test]
fn unlink_and_empty_dirs() {
    let t = Tree::new();
    let mut v = t.vfs(false, 8);
    let (d, _, _) = v
        .open(S, "d", &args(Disposition::Create, Want::Directory, false))
        .unwrap();
    assert!(v.is_empty_dir(d).unwrap());
    let f = create_file(&mut v, "d/f");
    assert!(!v.is_empty_dir(f).unwrap());
    assert!(!v.is_empty_dir(d).unwrap());
    assert_eq!(v.unlink(d).err(), Some(NtStatus::DIRECTORY_NOT_EMPTY));
    assert!(t.p("d").is_dir());
    v.write(f, 0, b"data").unwrap();
    v.unlink(f).unwrap();
    assert!(!t.p("d/f").exists());
    // The node stays open until close.
    let mut buf = [0u8; 8];
    assert_eq!(v.read(f, 0, &mut buf).unwrap(), 4);
    assert_eq!(v.stat(f).unwrap().links, 0);
    v.unlink(f).unwrap();
    v.close(f);
    assert!(v.is_empty_dir(d).unwrap());
    // A cursor is not disturbed by is_empty_dir.
    v.unlink(d).unwrap();
    assert!(!t.p("d").exists());
    assert!(v.is_empty_dir(d).unwrap());
    let entries: Vec<String> = list(&mut v, d).into_iter().map(|(n, _)| n).collect();
    assert_eq!(entries, [".", ".."]);
    v.close(d);
    let root = v
        .open(S, "", &args(Disposition::Open, Want::Directory, false))
        .unwrap()
        .0;
    assert_eq!(v.unlink(root).err(), Some(NtStatus::ACCESS_DENIED));
}

/// A tiny deterministic PRNG for stop points.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn read_dir_large_with_resume() {
    const N: usize = 10_000;
    let t = Tree::new();
    fs::create_dir(t.p("big")).unwrap();
    for i in 0..N {
        fs::write(t.p(&format!("big/file-{i:05}")), b"").unwrap();
    }
    // Not representable, or not servable: never listed.
    fs::write(
        t.p("big").join(std::ffi::OsStr::from_bytes(b"bad-\xff")),
        b"",
    )
    .unwrap();
    fs::write(t.p("big/with:colon"), b"").unwrap();
    fs::write(t.p("big/back\\slash"), b"").unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        t.p("big/fifo"),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    fs::create_dir(t.p("big/subdir")).unwrap();

    let mut v = t.vfs(false, 4);
    let (d, _, _) = v
        .open(S, "big", &args(Disposition::Open, Want::Directory, false))
        .unwrap();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut seen: Vec<String> = Vec::new();
    let mut calls = 0;
    let started = std::time::Instant::now();
    loop {
        calls += 1;
        let quota = (rng.next() % 700) as usize; // 0: stop on the very first entry
        let mut taken = 0;
        let mut offered_first: Option<String> = None;
        let done = v
            .read_dir(d, false, &mut |e| {
                if offered_first.is_none() {
                    offered_first = Some(e.name.to_owned());
                }
                if taken == quota {
                    return false;
                }
                taken += 1;
                seen.push(e.name.to_owned());
                true
            })
            .unwrap();
        if done {
            break;
        }
        // The refused entry is offered first next time.
        let refused = offered_first.unwrap();
        let mut again = None;
        let done = v
            .read_dir(d, false, &mut |e| {
                again = Some(e.name.to_owned());
                false
            })
            .unwrap();
        assert!(!done);
        let again = again.unwrap();
        if taken == 0 {
            assert_eq!(again, refused);
        }
        assert!(calls < 100_000);
    }
    let elapsed = started.elapsed();
    assert_eq!(&seen[..2], [".", ".."]);
    assert_eq!(seen.len(), N + 3, "{:?}", &seen[seen.len() - 5..]);
    let set: HashSet<&String> = seen.iter().collect();
    assert_eq!(set.len(), seen.len(), "an entry was offered twice");
    for i in 0..N {
        assert!(set.contains(&format!("file-{i:05}")));
    }
    assert!(set.contains(&"subdir".to_owned()));
    assert!(elapsed.as_secs() < 30, "{elapsed:?}");

    // Further calls stay at the end; restart rewinds.
    assert!(v
        .read_dir(d, false, &mut |_| panic!("past the end"))
        .unwrap());
    let full = list(&mut v, d);
    assert_eq!(full.len(), N + 3);
    let dot = &full[0].1;
    assert!(dot.is_directory);
    assert_eq!(dot.file_id, fs::metadata(t.p("big")).unwrap().ino());
    let dotdot = &full[1].1;
    assert_eq!(dotdot.file_id, fs::metadata(t.share()).unwrap().ino());
    assert_eq!(dot.attributes, attr::DIRECTORY);
    // Restarting in the middle.
    let mut k = 0;
    assert!(!v
        .read_dir(d, true, &mut |_| {
            k += 1;
            k < 50
        })
        .unwrap());
    let again = list(&mut v, d);
    assert_eq!(again.len(), N + 3);
    v.close(d);

    // The root's ".." is the root itself.
    let (r, _, _) = v
        .open(S, "", &args(Disposition::Open, Want::Directory, false))
        .unwrap();
    let l = list(&mut v, r);
    assert_eq!(l[0].0, ".");
    assert_eq!(l[1].0, "..");
    assert_eq!(l[0].1.file_id, l[1].1.file_id);
    assert!(l.iter().any(|(n, i)| n == "big" && i.is_directory));
    v.close(r);
}

#[test]
fn read_dir_on_a_file_fails() {
    let t = Tree::new();
    let mut v = t.vfs(false, 4);
    let f = create_file(&mut v, "f");
    assert_eq!(
        v.read_dir(f, false, &mut |_| true).err(),
        Some(NtStatus::NOT_A_DIRECTORY)
    );
}

fn confinement(fallback: bool) {
    let t = Tree::new();
    fs::create_dir(t.p("in")).unwrap();
    fs::write(t.p("in/real"), b"real").unwrap();
    symlink("/etc", t.p("etc")).unwrap();
    symlink("/etc/passwd", t.p("passwd")).unwrap();
    symlink("../outside/secret", t.p("up")).unwrap();
    symlink("../outside", t.p("updir")).unwrap();
    symlink(t.base.join("outside"), t.p("absdir")).unwrap();
    symlink("../../outside/secret", t.p("in/up2")).unwrap();
    // A chain inside the share: l1 -> in/l2 -> ../in/real.
    symlink("in/l2", t.p("l1")).unwrap();
    symlink("../in/real", t.p("in/l2")).unwrap();
    symlink("in", t.p("indir")).unwrap();
    symlink("nowhere", t.p("dangling")).unwrap();
    let abs_secret = t.base.join("outside/secret");
    symlink(&abs_secret, t.p("abssecret")).unwrap();
    symlink(
        Path::new("/proc/self/root").join(abs_secret.strip_prefix("/").unwrap()),
        t.p("magic"),
    )
    .unwrap();

    let mut v = t.vfs(false, 16);
    if fallback {
        v.force_fallback();
    }
    let ro = args(Disposition::Open, Want::Any, false);

    // Paths that break the normalization contract.
    for bad in [
        "../outside/secret",
        "in/../../outside/secret",
        "/etc/passwd",
        "in/./real",
        "in//real",
        "in/",
        "a\0b",
        "in/real:stream",
        "in\\real",
    ] {
        assert_eq!(
            v.open(S, bad, &ro).err(),
            Some(NtStatus::OBJECT_NAME_INVALID),
            "{bad:?}"
        );
        assert_eq!(
            v.stat_path(S, bad).err(),
            Some(NtStatus::OBJECT_NAME_INVALID),
            "{bad:?}"
        );
    }

    // Symlinks to system files: refused (only looked at, so a bug cannot damage the host).
    for esc in ["etc", "etc/passwd", "passwd"] {
        for w in [Want::Any, Want::File, Want::Directory] {
            let r = v.open(S, esc, &args(Disposition::Open, w, false));
            assert_eq!(r.err(), Some(NtStatus::ACCESS_DENIED), "{esc} {w:?}");
        }
        assert_eq!(
            v.stat_path(S, esc).err(),
            Some(NtStatus::ACCESS_DENIED),
            "{esc}"
        );
    }

    // Escaping symlinks into our own outside tree: refused for every disposition, and
    // nothing outside is created or changed.
    for esc in [
        "abssecret",
        "up",
        "updir",
        "updir/secret",
        "updir/new",
        "absdir/secret",
        "in/up2",
        "magic",
    ] {
        for d in ALL_DISPOSITIONS {
            let r = v.open(S, esc, &args(d, Want::Any, true));
            assert_eq!(r.err(), Some(NtStatus::ACCESS_DENIED), "{esc} {d:?}");
        }
        assert_eq!(
            v.stat_path(S, esc).err(),
            Some(NtStatus::ACCESS_DENIED),
            "{esc}"
        );
    }
    assert_eq!(fs::read(t.base.join("outside/secret")).unwrap(), b"secret");
    assert!(!t.base.join("outside/new").exists());

    // Symlinks that stay inside (only with openat2).
    for inside in ["l1", "in/l2", "indir/real"] {
        let r = v.open(S, inside, &ro);
        if fallback {
            assert_eq!(r.err(), Some(NtStatus::ACCESS_DENIED), "{inside}");
        } else {
            let (n, _, info) = r.unwrap();
            assert_eq!(info.end_of_file, 4, "{inside}");
            let mut buf = [0u8; 8];
            assert_eq!(v.read(n, 0, &mut buf).unwrap(), 4);
            assert_eq!(&buf[..4], b"real");
            v.close(n);
        }
    }
    // A dangling symlink inside is neither followed nor replaced.
    for (d, e) in [
        (Disposition::Open, NtStatus::OBJECT_NAME_NOT_FOUND),
        (Disposition::OpenIf, NtStatus::ACCESS_DENIED),
        (Disposition::Create, NtStatus::OBJECT_NAME_COLLISION),
    ] {
        let r = v.open(S, "dangling", &args(d, Want::Any, true));
        // The fallback refuses every symlink before looking further.
        let e = if fallback { NtStatus::ACCESS_DENIED } else { e };
        assert_eq!(r.err(), Some(e), "{d:?}");
    }
    assert!(!t.p("nowhere").exists());

    // Listings skip escaping and dangling symlinks, and show inside ones as their target.
    let (root, _, _) = v.open(S, "", &ro).unwrap();
    let entries = list(&mut v, root);
    let listed: HashSet<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    for esc in [
        "etc",
        "passwd",
        "abssecret",
        "up",
        "updir",
        "absdir",
        "dangling",
        "magic",
    ] {
        assert!(!listed.contains(esc), "{esc} listed");
    }
    if fallback {
        assert!(!listed.contains("l1") && !listed.contains("indir"));
    } else {
        let (_, l1) = entries.iter().find(|(n, _)| n == "l1").unwrap();
        assert_eq!(l1.end_of_file, 4);
        assert_eq!(l1.file_id, fs::metadata(t.p("in/real")).unwrap().ino());
        let (_, indir) = entries.iter().find(|(n, _)| n == "indir").unwrap();
        assert!(indir.is_directory);
    }
    v.close(root);
    let (inn, _, _) = v.open(S, "in", &ro).unwrap();
    let listed = names(&mut v, inn);
    assert!(!listed.contains("up2"));
    assert_eq!(listed.contains("l2"), !fallback);

    // Renames through an escaping symlink are refused, and nothing moves.
    let n = open_rw(&mut v, "in/real");
    for target in ["updir/stolen", "absdir/stolen", "in/up2/stolen"] {
        assert_eq!(
            v.rename(n, target, false).err(),
            Some(NtStatus::ACCESS_DENIED),
            "{target}"
        );
        assert_eq!(
            v.rename(n, target, true).err(),
            Some(NtStatus::ACCESS_DENIED),
            "{target}"
        );
    }
    assert!(!t.base.join("outside/stolen").exists());
    assert!(t.p("in/real").exists());
    // Renames over an escaping symlink replace the link itself, never its target.
    v.rename(n, "up", true).unwrap();
    assert_eq!(fs::read(t.base.join("outside/secret")).unwrap(), b"secret");
    assert_eq!(fs::read(t.p("up")).unwrap(), b"real");
    v.close(n);

    // Special files are never opened.
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        t.p("fifo"),
        rustix::fs::Mode::from_raw_mode(0o666),
    )
    .unwrap();
    for d in ALL_DISPOSITIONS {
        let r = v.open(S, "fifo", &args(d, Want::Any, false));
        let e = if d == Disposition::Create {
            NtStatus::OBJECT_NAME_COLLISION
        } else {
            NtStatus::ACCESS_DENIED
        };
        assert_eq!(r.err(), Some(e), "{d:?}");
    }
}

#[test]
fn confinement_with_openat2() {
    confinement(false);
}

#[test]
fn confinement_without_openat2() {
    confinement(true);
}

#[test]
fn read_only_share() {
    let t = Tree::new();
    fs::write(t.p("f"), b"data").unwrap();
    fs::create_dir(t.p("d")).unwrap();
    let mut v = t.vfs(true, 8);
    for d in ALL_DISPOSITIONS {
        for w in [Want::Any, Want::File] {
            for path in ["f", "new"] {
                let r = v.open(S, path, &args(d, w, true));
                assert_eq!(r.err(), Some(NtStatus::ACCESS_DENIED), "{d:?} {w:?} {path}");
            }
        }
    }
    for d in [
        Disposition::Create,
        Disposition::OpenIf,
        Disposition::Supersede,
        Disposition::OverwriteIf,
    ] {
        let r = v.open(S, "new", &args(d, Want::Any, false));
        assert_eq!(r.err(), Some(NtStatus::ACCESS_DENIED), "{d:?}");
    }
    assert!(!t.p("new").exists());
    // Open for reading works; nothing can change through it.
    let (n, _, _) = v
        .open(S, "f", &args(Disposition::OpenIf, Want::Any, false))
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(v.read(n, 0, &mut buf).unwrap(), 4);
    assert_eq!(v.write(n, 0, b"x").err(), Some(NtStatus::ACCESS_DENIED));
    assert_eq!(v.set_len(n, 0).err(), Some(NtStatus::ACCESS_DENIED));
    assert_eq!(
        v.set_allocation(n, 1 << 20).err(),
        Some(NtStatus::ACCESS_DENIED)
    );
    let basic = BasicInfo {
        last_write_time: Some(130_000_000_000_000_000),
        ..BasicInfo::default()
    };
    assert_eq!(v.set_basic(n, &basic).err(), Some(NtStatus::ACCESS_DENIED));
    assert_eq!(v.rename(n, "g", false).err(), Some(NtStatus::ACCESS_DENIED));
    assert_eq!(v.unlink(n).err(), Some(NtStatus::ACCESS_DENIED));
    v.close(n);
    let (d, _, _) = v
        .open(S, "d", &args(Disposition::Open, Want::Directory, false))
        .unwrap();
    assert_eq!(v.unlink(d).err(), Some(NtStatus::ACCESS_DENIED));
    assert!(names(&mut v, d).contains(".."));
    v.close(d);
    assert_eq!(fs::read(t.p("f")).unwrap(), b"data");
    assert!(v.fs_info(S).unwrap().total_bytes > 0);
}

#[test]
fn node_table_full_and_reuse() {
    let t = Tree::new();
    fs::write(t.p("f"), b"").unwrap();
    let mut v = t.vfs(false, 2);
    let ro = args(Disposition::Open, Want::Any, false);
    let a = v.open(S, "f", &ro).unwrap().0;
    let b = v.open(S, "", &ro).unwrap().0;
    assert_ne!(a, b);
    assert_eq!(
        v.open(S, "f", &ro).err(),
        Some(NtStatus::INSUFFICIENT_RESOURCES)
    );
    // A full table creates nothing.
    assert_eq!(
        v.open(S, "new", &args(Disposition::Create, Want::File, true))
            .err(),
        Some(NtStatus::INSUFFICIENT_RESOURCES)
    );
    assert!(!t.p("new").exists());
    assert_eq!(v.path(a), "f");
    assert_eq!(v.path(b), "");
    v.close(a);
    assert_eq!(v.stat(a).err(), Some(NtStatus::INVALID_HANDLE));
    assert_eq!(v.path(a), "");
    v.close(a); // double close is harmless
    let c = v.open(S, "f", &ro).unwrap().0;
    assert_eq!(c, a);
    assert_eq!(
        v.open(S, "f", &ro).err(),
        Some(NtStatus::INSUFFICIENT_RESOURCES)
    );
    assert_eq!(v.stat(NodeId(99)).err(), Some(NtStatus::INVALID_HANDLE));
    v.close(NodeId(99));
    // A slot reused by a directory starts a fresh enumeration.
    v.close(b);
    let mut n = 0;
    let r = v.open(S, "", &ro).unwrap().0;
    v.read_dir(r, false, &mut |_| {
        n += 1;
        true
    })
    .unwrap();
    v.close(r);
    let r = v.open(S, "", &ro).unwrap().0;
    let mut m = 0;
    v.read_dir(r, false, &mut |_| {
        m += 1;
        true
    })
    .unwrap();
    assert_eq!(n, m);
}

#[test]
fn fs_info_and_construction() {
    let t = Tree::new();
    let mut v = t.vfs(false, 1);
    let info = v.fs_info(S).unwrap();
    assert!(info.total_bytes >= info.free_bytes);
    assert!(info.free_bytes >= info.avail_bytes);
    assert!(info.block_size >= 512);
    assert_eq!(info.sector_size, 512);
    assert!(info.max_name_len >= 255);
    assert!(info.created > 0);
    assert_eq!(
        v.fs_info(ShareId(3)).err(),
        Some(NtStatus::BAD_NETWORK_NAME)
    );
    // Construction fails on a missing root or a file as root.
    let missing = [ShareRoot {
        path: t.base.join("nope"),
        read_only: false,
    }];
    assert!(PosixVfs::new(&missing, 4).is_err());
    let file = [ShareRoot {
        path: t.base.join("outside/secret"),
        read_only: false,
    }];
    assert!(PosixVfs::new(&file, 4).is_err());
    // Several shares are independent.
    let two = [
        ShareRoot {
            path: t.share(),
            read_only: false,
        },
        ShareRoot {
            path: t.base.join("outside"),
            read_only: true,
        },
    ];
    let mut v = PosixVfs::new(&two, 4).unwrap();
    assert_eq!(v.stat_path(ShareId(1), "secret").unwrap().end_of_file, 6);
    assert_eq!(
        v.stat_path(S, "secret").err(),
        Some(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
}

#[test]
fn o_path_xattr_fallback() {
    // Whatever the kernel supports, forcing the reopen path gives the same answers.
    let t = Tree::new();
    let mut v = t.vfs(false, 4);
    let mut a = args(Disposition::Create, Want::File, true);
    a.attributes = attr::SYSTEM;
    let (n, _, created) = v.open(S, "s", &a).unwrap();
    v.close(n);
    let before = v.stat_path(S, "s").unwrap();
    v.opath_xattr.set(false);
    let after = v.stat_path(S, "s").unwrap();
    assert_eq!(before, after);
    assert_eq!(before.attributes, created.attributes);
}

#[test]
fn without_xattrs_readonly_maps_to_mode() {
    let t = Tree::new();
    let mut v = t.vfs(false, 4);
    // As on a file system without user xattrs.
    v.shares[0].xattr = false;
    let mut a = args(Disposition::Create, Want::File, true);
    a.attributes = attr::READONLY | attr::HIDDEN;
    let (n, _, info) = v.open(S, "f", &a).unwrap();
    assert_eq!(info.attributes, attr::READONLY | attr::ARCHIVE);
    assert_eq!(fs::metadata(t.p("f")).unwrap().mode() & 0o222, 0);
    // The fd opened for writing at create keeps working.
    assert_eq!(v.write(n, 0, b"x").unwrap(), 1);
    let basic = BasicInfo {
        attributes: Some(attr::NORMAL),
        creation_time: Some(130_000_000_000_000_000),
        ..BasicInfo::default()
    };
    v.set_basic(n, &basic).unwrap();
    let info = v.stat(n).unwrap();
    assert_eq!(info.attributes, attr::ARCHIVE);
    assert_ne!(info.creation_time, 130_000_000_000_000_000);
    assert_ne!(fs::metadata(t.p("f")).unwrap().mode() & 0o200, 0);
    v.close(n);
    // Nothing was stored.
    assert!(rustix::fs::getxattr(t.p("f"), "user.smbed", &mut [0u8; 64][..]).is_err());
    let (d, _, _) = v
        .open(S, "d", &args(Disposition::Create, Want::Directory, false))
        .unwrap();
    let basic = BasicInfo {
        attributes: Some(attr::READONLY),
        ..BasicInfo::default()
    };
    v.set_basic(d, &basic).unwrap();
    assert_eq!(v.stat(d).unwrap().attributes, attr::DIRECTORY);
}

#[test]
fn named_streams_in_xattrs() {
    let t = Tree::new();
    let mut v = t.vfs(false, 8);
    if !xattrs(&v) {
        return; // No user xattrs on this file system: streams are not offered.
    }
    let base = create_file(&mut v, "f.txt");
    v.write(base, 0, b"main data").unwrap();
    let (s, action, info) = v
        .open_stream(
            ShareId(0),
            "f.txt",
            "meta",
            &args(Disposition::Create, Want::Any, true),
        )
        .unwrap();
    assert_eq!(action, CreateAction::Created);
    assert_eq!(info.end_of_file, 0);
    assert_eq!(v.write(s, 2, b"hello").unwrap(), 5);
    let mut buf = [0u8; 16];
    assert_eq!(v.read(s, 0, &mut buf).unwrap(), 7);
    assert_eq!(&buf[..7], b"\0\0hello");
    assert_eq!(v.stat(s).unwrap().end_of_file, 7);
    assert_eq!(v.stream_name(s), Some("meta"));
    assert_eq!(v.stream_name(base), None);
    // Stream names match case-insensitively and keep the case they were created with.
    let (s_upper, action, info) = v
        .open_stream(
            ShareId(0),
            "f.txt",
            "META",
            &args(Disposition::OpenIf, Want::Any, false),
        )
        .unwrap();
    assert_eq!(action, CreateAction::Opened);
    assert_eq!(info.end_of_file, 7);
    assert_eq!(v.stream_name(s_upper), Some("meta"));
    v.close(s_upper);
    // The file's own data is untouched and the stream is listed with its size.
    assert_eq!(v.stat(base).unwrap().end_of_file, 9);
    let mut seen = Vec::new();
    v.list_streams(base, &mut |n, sz| seen.push((n.to_owned(), sz)))
        .unwrap();
    assert_eq!(seen, vec![(String::new(), 9), ("meta".to_owned(), 7)]);
    // Dispositions apply to the stream, not the file.
    let r = v.open_stream(
        ShareId(0),
        "f.txt",
        "meta",
        &args(Disposition::Create, Want::Any, true),
    );
    assert_eq!(r.unwrap_err(), NtStatus::OBJECT_NAME_COLLISION);
    let r = v.open_stream(
        ShareId(0),
        "f.txt",
        "nope",
        &args(Disposition::Open, Want::Any, false),
    );
    assert_eq!(r.unwrap_err(), NtStatus::OBJECT_NAME_NOT_FOUND);
    v.set_len(s, 3).unwrap();
    assert_eq!(v.stat(s).unwrap().end_of_file, 3);
    v.unlink(s).unwrap();
    v.close(s);
    let mut seen = Vec::new();
    v.list_streams(base, &mut |n, sz| seen.push((n.to_owned(), sz)))
        .unwrap();
    assert_eq!(seen, vec![(String::new(), 9)]);
    // Stream xattrs are not client EAs.
    let mut eas = Vec::new();
    let (s2, _, _) = v
        .open_stream(
            ShareId(0),
            "f.txt",
            "x",
            &args(Disposition::OpenIf, Want::Any, true),
        )
        .unwrap();
    v.list_eas(base, &mut |n, _| eas.push(n.to_owned()))
        .unwrap();
    assert!(eas.is_empty(), "{eas:?}");
    v.close(s2);
    v.close(base);
}

#[test]
fn case_insensitive_lookup_and_cache() {
    let t = Tree::new();
    let mut v = t.vfs(false, 8);
    let d = v
        .open(
            S,
            "Docs",
            &args(Disposition::Create, Want::Directory, false),
        )
        .unwrap()
        .0;
    v.close(d);
    let f = create_file(&mut v, "Docs/Report.TXT");
    v.close(f);
    let mut out = [0u8; 64];
    let n = v
        .resolve_case(S, "docs/report.txt", &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(&out[..n], b"Docs/Report.TXT");
    assert_eq!(v.resolve_case(S, "docs/other.txt", &mut out).unwrap(), None);
    // Files created and removed through the VFS keep the cached directory right.
    for i in 0..50 {
        let f = create_file(&mut v, &format!("Docs/File{i}.dat"));
        v.close(f);
    }
    let n = v
        .resolve_case(S, "DOCS/FILE49.DAT", &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(&out[..n], b"Docs/File49.dat");
    let f = open_rw(&mut v, "Docs/File49.dat");
    v.unlink(f).unwrap();
    v.close(f);
    assert_eq!(
        v.resolve_case(S, "docs/file49.dat", &mut out).unwrap(),
        None
    );
    // A change made behind our back (another program) is seen: the directory's mtime moved.
    fs::write(t.p("Docs/Outside.bin"), b"x").unwrap();
    let n = v
        .resolve_case(S, "docs/OUTSIDE.BIN", &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(&out[..n], b"Docs/Outside.bin");
    // Names outside the share cannot be reached this way either.
    assert!(v.resolve_case(S, "../outside/secret", &mut out).is_err());
}

/// An access hint opens files (and directories) normally: the read-ahead advice is a hint
/// whose result is ignored, and reads return the data.
#[test]
fn access_hints_open_and_read_normally() {
    use smb_proto::vfs::AccessHint;
    let t = Tree::new();
    let mut v = t.vfs(false, 4);
    fs::write(t.p("f"), b"hello").unwrap();
    fs::create_dir(t.p("d")).unwrap();
    for hint in [
        AccessHint::Sequential,
        AccessHint::Random,
        AccessHint::Normal,
    ] {
        let mut a = args(Disposition::Open, Want::Any, false);
        a.access = hint;
        let (n, _, _) = v.open(S, "f", &a).unwrap();
        let mut buf = [0u8; 5];
        assert_eq!(v.read(n, 0, &mut buf).unwrap(), 5);
        assert_eq!(&buf, b"hello");
        v.close(n);
        let (d, _, info) = v.open(S, "d", &a).unwrap();
        assert!(info.is_directory);
        v.close(d);
    }
}
