//! API behaviour on `MemStorage`: tables, batches, ranges, typed values,
//! reopen, limits, lazy flushing, group commit and stats.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sim_options;
use serde::{Deserialize, Serialize};
use tdb::{Durability, Error, MemStorage, Options, Store};

use Durability::{Immediate, Lazy};

fn opts() -> Options {
    sim_options(64 * 1024, 512, true)
}

#[test]
fn put_get_delete_and_reopen() {
    let st = MemStorage::new();
    {
        let s = Store::open(st.clone(), opts()).unwrap();
        let users = s.table("users").unwrap();
        let acl = s.table("acl").unwrap();
        assert_ne!(users, acl);
        assert_eq!(s.table("users").unwrap(), users);
        s.put(users, b"alice", b"1", Immediate).unwrap();
        s.put(users, b"bob", b"2", Lazy).unwrap();
        s.put(acl, b"alice", b"share-rw", Immediate).unwrap();
        s.delete(users, b"nobody", Immediate).unwrap();
        assert_eq!(s.get(users, b"alice").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            s.get(users, b"bob").unwrap(),
            Some(b"2".to_vec()),
            "lazy writes are visible at once"
        );
        assert_eq!(s.get(acl, b"bob").unwrap(), None);
        assert!(s.contains(acl, b"alice").unwrap());
        s.delete(users, b"alice", Immediate).unwrap();
        assert_eq!(s.get(users, b"alice").unwrap(), None);
        s.close().unwrap();
    }
    let s = Store::open(st, opts()).unwrap();
    assert_eq!(
        s.tables().unwrap(),
        vec!["acl".to_string(), "users".to_string()]
    );
    let users = s.lookup_table("users").unwrap().unwrap();
    let acl = s.lookup_table("acl").unwrap().unwrap();
    assert_eq!(s.get(users, b"alice").unwrap(), None);
    assert_eq!(s.get(users, b"bob").unwrap(), Some(b"2".to_vec()));
    assert_eq!(s.get(acl, b"alice").unwrap(), Some(b"share-rw".to_vec()));
    assert!(s.lookup_table("nope").unwrap().is_none());
}

#[test]
fn batches_are_atomic_and_ordered() {
    let st = MemStorage::new();
    let s = Store::open(st.clone(), opts()).unwrap();
    let a = s.table("a").unwrap();
    let b = s.table("b").unwrap();
    let mut batch = s.batch();
    batch
        .put(a, b"k1", b"v1")
        .put(b, b"k2", b"v2")
        .put(a, b"k1", b"v1b")
        .delete(b, b"zz");
    assert_eq!(batch.len(), 4);
    batch.commit(Immediate).unwrap();
    assert_eq!(s.get(a, b"k1").unwrap(), Some(b"v1b".to_vec()));
    assert_eq!(s.get(b, b"k2").unwrap(), Some(b"v2".to_vec()));
    // A batch naming a dropped table fails as a whole.
    s.drop_table(b, Immediate).unwrap();
    let mut batch = s.batch();
    batch.put(a, b"k3", b"v3").put(b, b"k4", b"v4");
    assert!(matches!(batch.commit(Immediate), Err(Error::NoSuchTable)));
    assert_eq!(s.get(a, b"k3").unwrap(), None);
    assert!(matches!(s.get(b, b"k2"), Err(Error::NoSuchTable)));
    s.batch().commit(Immediate).unwrap(); // empty is fine
    drop(s);
    let s = Store::open(st, opts()).unwrap();
    assert_eq!(s.tables().unwrap(), vec!["a".to_string()]);
    // Dropped table ids are not reused.
    let c = s.table("c").unwrap();
    assert!(c.id() > b.id());
}

#[test]
fn ranges_prefixes_and_snapshots() {
    let s = Store::open(MemStorage::new(), opts()).unwrap();
    let t = s.table("t").unwrap();
    for k in ["a", "ab", "abc", "abd", "b", "ba", "c"] {
        s.put(t, k.as_bytes(), k.as_bytes(), Lazy).unwrap();
    }
    s.put(t, b"\xff\xff", b"x", Lazy).unwrap();
    s.put(t, b"\xff\xff\x01", b"y", Lazy).unwrap();
    let keys = |it: tdb::Iter| {
        it.map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(s.prefix(t, b"ab").unwrap()), ["ab", "abc", "abd"]);
    assert_eq!(
        keys(s.range(t, b"ab".as_slice()..b"b".as_slice()).unwrap()),
        ["ab", "abc", "abd"]
    );
    assert_eq!(
        keys(s.range(t, b"ab".as_slice()..=b"b".as_slice()).unwrap()),
        ["ab", "abc", "abd", "b"]
    );
    assert_eq!(keys(s.range(t, b"ba".as_slice()..).unwrap()).len(), 4);
    assert_eq!(keys(s.range(t, ..b"ab".as_slice()).unwrap()), ["a"]);
    assert!(
        s.range(t, b"c".as_slice()..b"a".as_slice())
            .unwrap()
            .next()
            .is_none(),
        "reversed range is empty"
    );
    assert!(s
        .range(t, b"c".as_slice()..b"c".as_slice())
        .unwrap()
        .next()
        .is_none());
    assert_eq!(s.prefix(t, b"\xff\xff").unwrap().count(), 2);
    assert_eq!(s.prefix(t, b"").unwrap().count(), 9);
    assert_eq!(s.iter(t).unwrap().next_back().unwrap().0, b"\xff\xff\x01");
    // A range is a snapshot; holding it does not block writers.
    let mut it = s.prefix(t, b"a").unwrap();
    assert_eq!(it.next().unwrap().0, b"a");
    s.put(t, b"aa", b"new", Immediate).unwrap();
    s.delete(t, b"abc", Immediate).unwrap();
    assert_eq!(keys(it), ["ab", "abc", "abd"]);
    assert_eq!(keys(s.prefix(t, b"a").unwrap()), ["a", "aa", "ab", "abd"]);
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Account {
    name: String,
    uid: u32,
    nt_hash: [u8; 16],
    groups: Vec<u32>,
}

#[test]
fn typed_values() {
    let st = MemStorage::new();
    let acct = Account {
        name: "alice".into(),
        uid: 1000,
        nt_hash: [7; 16],
        groups: vec![100, 545],
    };
    {
        let s = Store::open(st.clone(), opts()).unwrap();
        let t = s.table("accounts").unwrap();
        s.put_value(t, b"alice", &acct, Immediate).unwrap();
        let mut b = s.batch();
        b.put_value(t, b"n", &42u64).unwrap();
        b.commit(Immediate).unwrap();
    }
    let s = Store::open(st, opts()).unwrap();
    let t = s.table("accounts").unwrap();
    assert_eq!(s.get_value::<Account>(t, b"alice").unwrap(), Some(acct));
    assert_eq!(s.get_value::<u64>(t, b"n").unwrap(), Some(42));
    assert_eq!(s.get_value::<u64>(t, b"missing").unwrap(), None);
    assert!(matches!(
        s.get_value::<Account>(t, b"n"),
        Err(Error::Codec(_))
    ));
}

#[test]
fn limits_are_enforced() {
    let s = Store::open(MemStorage::new(), sim_options(8192, 512, false)).unwrap();
    let t = s.table("t").unwrap();
    let big_key = vec![1u8; tdb::MAX_KEY_LEN + 1];
    assert!(matches!(
        s.put(t, &big_key, b"", Immediate),
        Err(Error::TooLarge { what: "key", .. })
    ));
    let big_val = vec![2u8; 8192];
    assert!(matches!(
        s.put(t, b"k", &big_val, Immediate),
        Err(Error::TooLarge { .. })
    ));
    // The largest value that fits in a segment works, and survives reopen.
    let v = vec![3u8; 7000];
    s.put(t, b"k", &v, Immediate).unwrap();
    s.put(t, b"k2", &v, Immediate).unwrap();
    assert_eq!(s.get(t, b"k").unwrap().unwrap(), v);
    let name = "x".repeat(tdb::MAX_TABLE_NAME_LEN + 1);
    assert!(matches!(s.table(&name), Err(Error::TooLarge { .. })));
    let mut bad = Options::default();
    bad.block_size = 1000;
    assert!(matches!(
        Store::open(MemStorage::new(), bad),
        Err(Error::InvalidOptions(_))
    ));
    let mut bad = Options::default();
    bad.segment_size = 4096;
    assert!(matches!(
        Store::open(MemStorage::new(), bad),
        Err(Error::InvalidOptions(_))
    ));
}

#[test]
fn create_if_missing_false() {
    let mut o = opts();
    o.create_if_missing = false;
    assert!(matches!(
        Store::open(MemStorage::new(), o),
        Err(Error::NotFound)
    ));
}

#[test]
fn rollover_and_compaction_keep_data() {
    let st = MemStorage::new();
    let mut o = sim_options(8192, 512, true);
    o.auto_compact = false;
    let s = Store::open(st.clone(), o.clone()).unwrap();
    let t = s.table("t").unwrap();
    for i in 0..300u32 {
        s.put(
            t,
            format!("k{:02}", i % 40).as_bytes(),
            &i.to_le_bytes().repeat(10),
            Immediate,
        )
        .unwrap();
    }
    let before = s.stats();
    assert!(before.segments > 5, "{before:?}");
    s.compact().unwrap();
    let after = s.stats();
    assert_eq!(after.compactions, 1);
    assert!(after.segments < before.segments, "{after:?}");
    assert_eq!(after.live_keys, 40);
    // The old chain's segments became spares (up to `spare_segments`), the
    // rest were deleted.
    let names = st.list_names();
    let logs = names.iter().filter(|n| n.ends_with(".log")).count() as u64;
    let spares = names.iter().filter(|n| n.ends_with(".spare")).count() as u64;
    assert_eq!(logs, after.segments, "{names:?}");
    assert_eq!(spares, 4, "{names:?}");
    assert_eq!(after.spare_segments, 4);
    assert_eq!(names.len() as u64, logs + spares, "{names:?}");
    s.put(t, b"after", b"compaction", Immediate).unwrap();
    drop(s);
    let s = Store::open(st.clone(), o.clone()).unwrap();
    for i in 260..300u32 {
        assert_eq!(
            s.get(t, format!("k{:02}", i % 40).as_bytes())
                .unwrap()
                .unwrap(),
            i.to_le_bytes().repeat(10)
        );
    }
    assert_eq!(s.get(t, b"after").unwrap().unwrap(), b"compaction");
    // Automatic compaction bounds the log.
    drop(s);
    o.auto_compact = true;
    let s = Store::open(st.clone(), o).unwrap();
    for i in 0..2000u32 {
        s.put(
            t,
            format!("k{:02}", i % 40).as_bytes(),
            &i.to_le_bytes().repeat(10),
            Immediate,
        )
        .unwrap();
    }
    let st2 = s.stats();
    assert!(st2.compactions > 0);
    assert!(st2.log_bytes <= 2 * st2.live_bytes + 2 * 8192, "{st2:?}");
    assert!(st2.segments <= 4, "{st2:?}");
}

/// Compaction keeps retired segments as spares and rollover reuses them, so
/// a long-running store stops zero-filling new segments; stale records in a
/// reused segment are never replayed, also across reopen.
#[test]
fn retired_segments_are_reused() {
    let st = MemStorage::new();
    let o = sim_options(16384, 512, true);
    let s = Store::open(st.clone(), o.clone()).unwrap();
    let t = s.table("t").unwrap();
    let mut model = std::collections::BTreeMap::new();
    let mut i = 0u32;
    let mut put = |s: &Store, model: &mut std::collections::BTreeMap<Vec<u8>, Vec<u8>>| {
        let k = format!("k{:02}", i % 30).into_bytes();
        let v = i.to_le_bytes().repeat(1 + (i % 20) as usize);
        s.put(t, &k, &v, Immediate).unwrap();
        model.insert(k, v);
        i += 1;
    };
    for _ in 0..600 {
        put(&s, &mut model);
    }
    let a = s.stats();
    assert!(a.compactions >= 3, "{a:?}");
    assert!(a.segments_reused > 0, "{a:?}");
    for _ in 0..1500 {
        put(&s, &mut model);
    }
    let b = s.stats();
    assert!(b.compactions > a.compactions, "{b:?}");
    // Steady state: every new segment came from a spare.
    assert_eq!(b.zero_fill_bytes, a.zero_fill_bytes, "{a:?} {b:?}");
    assert!(b.segments_reused > a.segments_reused + 5, "{b:?}");
    assert!(b.spare_segments <= 4, "{b:?}");
    let names = st.list_names();
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".log") || n.ends_with(".spare")),
        "{names:?}"
    );
    drop(s);
    // The live segments hold stale records of older generations after the
    // tail; check sees no damage and no torn tail, and reopening appends in
    // place (no new segment), replaying exactly the model.
    let report = tdb::check(&st).unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.warnings.is_empty(), "{report}");
    let s = Store::open(st.clone(), o.clone()).unwrap();
    let before = s.stats().segments;
    put(&s, &mut model);
    assert_eq!(s.stats().segments, before, "appends continue in place");
    let want: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
    assert_eq!(s.iter(t).unwrap().collect::<Vec<_>>(), want);
    drop(s);
    // Fewer spares wanted, or another segment size: the extra or unusable
    // spares are removed at open.
    let mut fewer = o.clone();
    fewer.spare_segments = 1;
    drop(Store::open(st.clone(), fewer).unwrap());
    let spares = |st: &MemStorage| {
        st.list_names()
            .iter()
            .filter(|n| n.ends_with(".spare"))
            .count()
    };
    assert!(spares(&st) <= 1, "{:?}", st.list_names());
    let mut bigger = o.clone();
    bigger.segment_size = 32768;
    let s = Store::open(st.clone(), bigger).unwrap();
    assert_eq!(spares(&st), 0, "{:?}", st.list_names());
    assert_eq!(s.iter(t).unwrap().collect::<Vec<_>>(), want);
}

/// A spare name holding the header of a segment still present as `.log`
/// (both names of a rename survived a power cut, as FAT can leave them) is
/// removed at open, never reused: reusing it would overwrite a live segment.
#[test]
fn spare_naming_a_live_segment_is_dropped() {
    let st = MemStorage::new();
    let o = sim_options(8192, 512, true);
    let s = Store::open(st.clone(), o.clone()).unwrap();
    let t = s.table("t").unwrap();
    s.put(t, b"k", b"v", Immediate).unwrap();
    drop(s);
    let log = st
        .list_names()
        .into_iter()
        .find(|n| n.ends_with(".log"))
        .unwrap();
    let twin = "seg-0000000000000077.spare";
    st.write_file(twin, &st.read_file(&log).unwrap()).unwrap();
    let report = tdb::check(&st).unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.warnings.iter().any(|w| w.contains(twin)), "{report}");
    let s = Store::open(st.clone(), o).unwrap();
    assert!(!st.list_names().iter().any(|n| n == twin));
    assert_eq!(s.stats().spare_segments, 0);
    assert_eq!(s.get(t, b"k").unwrap().unwrap(), b"v");
}

trait ListNames {
    fn list_names(&self) -> Vec<String>;
}

impl ListNames for MemStorage {
    fn list_names(&self) -> Vec<String> {
        use tdb::Storage;
        self.list().unwrap()
    }
}

#[test]
fn lazy_writes_are_flushed_in_bounded_time() {
    let st = MemStorage::new();
    let mut o = opts();
    o.lazy_flush_interval = Some(Duration::from_millis(20));
    let s = Store::open(st.clone(), o).unwrap();
    let t = s.table("t").unwrap();
    let flushes = s.stats().flushes;
    s.put(t, b"k", b"v", Lazy).unwrap();
    assert_eq!(s.stats().flushes, flushes, "lazy put does not flush");
    let t0 = Instant::now();
    while s.stats().flushes == flushes {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "lazy write never flushed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Explicit flush with nothing pending does no I/O.
    let f = s.stats().flushes;
    s.flush().unwrap();
    assert_eq!(s.stats().flushes, f);
}

#[test]
fn drop_flushes_lazy_writes() {
    let st = MemStorage::new();
    {
        let s = Store::open(st.clone(), opts()).unwrap();
        let t = s.table("t").unwrap();
        s.put(t, b"k", b"v", Lazy).unwrap();
    }
    let s = Store::open(st, opts()).unwrap();
    let t = s.table("t").unwrap();
    assert_eq!(s.get(t, b"k").unwrap(), Some(b"v".to_vec()));
}

/// With a slow medium (5 ms per sync), concurrent writers share flushes.
#[test]
fn group_commit_shares_flushes() {
    let st = MemStorage::with_sync_delay(Duration::from_millis(5));
    let mut o = opts();
    o.segment_size = 1 << 20;
    o.lazy_flush_interval = None;
    o.max_commit_delay = Duration::from_millis(2);
    let s = Arc::new(Store::open(st, o).unwrap());
    let t = s.table("t").unwrap();
    let base = s.stats();
    let threads = 8;
    let per = 25;
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|th| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    s.put(t, format!("{th}-{i}").as_bytes(), &[0u8; 200], Immediate)
                        .unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let el = t0.elapsed();
    let st = s.stats();
    let commits = st.commits - base.commits;
    let flushes = st.flushes - base.flushes;
    eprintln!(
        "group commit: {commits} commits, {flushes} flushes, max group {}, {:.0} puts/s",
        st.max_group,
        commits as f64 / el.as_secs_f64()
    );
    assert_eq!(commits, threads * per);
    assert!(
        flushes * 3 <= commits,
        "expected shared flushes: {flushes} for {commits} commits"
    );
    assert!(st.max_group > 1);
    assert_eq!(st.live_keys, threads * per);
}

#[test]
fn stats_count_what_happens() {
    let s = Store::open(MemStorage::new(), opts()).unwrap();
    let t = s.table("t").unwrap();
    let a = s.stats();
    s.put(t, b"key", b"value", Immediate).unwrap();
    let b = s.stats();
    assert_eq!(b.commits - a.commits, 1);
    assert_eq!(b.flushes - a.flushes, 1, "one durable put = one fdatasync");
    assert_eq!(b.writes - a.writes, 1, "one durable put = one write");
    assert_eq!(
        b.bytes_written - a.bytes_written,
        512,
        "padded to one block"
    );
    assert_eq!(b.live_keys, 1);
    assert_eq!(b.live_bytes, 3 + 5 + 8);
    assert_eq!(b.tables, 1);
    assert_eq!(b.segments, 1);
    assert!(!b.failed);
}

#[test]
fn many_readers_and_writers() {
    let s = Arc::new(Store::open(MemStorage::new(), opts()).unwrap());
    let t = s.table("t").unwrap();
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..200u32 {
                    let d = if i % 3 == 0 { Immediate } else { Lazy };
                    let mut b = s.batch();
                    b.put(t, format!("w{w}/a{i:04}").as_bytes(), &i.to_le_bytes());
                    b.put(t, format!("w{w}/b{i:04}").as_bytes(), &i.to_le_bytes());
                    b.commit(d).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    // A snapshot is consistent: both halves of every batch or neither.
                    let keys: std::collections::BTreeSet<Vec<u8>> =
                        s.iter(t).unwrap().map(|(k, _)| k).collect();
                    for k in &keys {
                        let mut other = k.clone();
                        let pos = other.iter().position(|&c| c == b'/').unwrap() + 1;
                        other[pos] = if other[pos] == b'a' { b'b' } else { b'a' };
                        assert!(keys.contains(&other), "half a batch visible");
                    }
                }
            })
        })
        .collect();
    for h in writers.into_iter().chain(readers) {
        h.join().unwrap();
    }
    s.flush().unwrap();
    assert_eq!(s.stats().live_keys, 1200);
}

/// Threads with disjoint key spaces run random operations, including
/// compaction and flush, concurrently; afterwards every thread's model
/// matches the store, before and after reopen.
#[test]
fn concurrent_operations_with_compaction() {
    use std::collections::BTreeMap;
    use tdb::sim::SimRng;
    let st = MemStorage::new();
    let mut o = sim_options(8192, 512, true);
    o.lazy_flush_interval = Some(Duration::from_millis(2));
    let s = Arc::new(Store::open(st.clone(), o.clone()).unwrap());
    let t = s.table("t").unwrap();
    let hs: Vec<_> = (0..4u64)
        .map(|th| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut rng = SimRng::new(th);
                let mut model = BTreeMap::new();
                for _ in 0..300 {
                    let key = format!("{th}/{:02}", rng.below(20)).into_bytes();
                    let d = if rng.chance(1, 2) { Immediate } else { Lazy };
                    match rng.below(20) {
                        0 => s.compact().unwrap(),
                        1 => s.flush().unwrap(),
                        2..=4 => {
                            s.delete(t, &key, d).unwrap();
                            model.remove(&key);
                        }
                        5..=7 => {
                            let k2 = format!("{th}/x{:02}", rng.below(20)).into_bytes();
                            let mut b = s.batch();
                            b.put(t, &key, b"batch").put(t, &k2, b"batch");
                            b.commit(d).unwrap();
                            model.insert(key, b"batch".to_vec());
                            model.insert(k2, b"batch".to_vec());
                        }
                        _ => {
                            let v = vec![th as u8; rng.below(400) as usize];
                            s.put(t, &key, &v, d).unwrap();
                            model.insert(key, v);
                        }
                    }
                }
                model
            })
        })
        .collect();
    let models: Vec<BTreeMap<Vec<u8>, Vec<u8>>> =
        hs.into_iter().map(|h| h.join().unwrap()).collect();
    let check = |s: &Store| {
        for (th, m) in models.iter().enumerate() {
            let got: BTreeMap<Vec<u8>, Vec<u8>> =
                s.prefix(t, format!("{th}/").as_bytes()).unwrap().collect();
            assert_eq!(&got, m, "thread {th}");
        }
    };
    check(&s);
    assert!(s.stats().compactions > 0);
    drop(s);
    let s = Store::open(st.clone(), o).unwrap();
    check(&s);
    assert!(tdb::check(&st).unwrap().is_ok());
}
