//! The real file backend (feature `file`): basic behaviour, directory
//! locking, kill -9 of a writing child process, and (ignored) latency
//! measurements.
//!
//! kill -9: the test spawns this test binary itself as a child
//! (`std::env::current_exe()`, filtered to `kill9_child`, with
//! `TDB_KILL9_DIR` set). The child writes from several threads and prints
//! an acknowledgement line on stdout after each durable commit; the parent
//! SIGKILLs it at a random moment, reopens the store and checks every
//! acknowledged write. `TDB_KILL9_ROUNDS` sets the number of kills
//! (default 8).
#![cfg(feature = "file")]
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tdb::sim::SimRng;
use tdb::{check, Durability, FileStorage, Options, Store};

fn temp_dir(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("tdb-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn small_opts() -> Options {
    let mut o = Options::default();
    o.segment_size = 64 * 1024;
    o.block_size = 4096;
    o.lazy_flush_interval = Some(Duration::from_millis(50));
    o
}

#[test]
fn file_store_roundtrip_compaction_and_check() {
    let dir = temp_dir("roundtrip");
    {
        let s = Store::open(FileStorage::open(&dir).unwrap(), small_opts()).unwrap();
        let t = s.table("users").unwrap();
        for i in 0..400u32 {
            s.put(
                t,
                format!("user{:03}", i % 50).as_bytes(),
                &[i as u8; 500],
                Durability::Immediate,
            )
            .unwrap();
        }
        let st = s.stats();
        assert!(st.segments >= 2 || st.compactions > 0, "{st:?}");
        s.compact().unwrap();
        // The compaction retired the old chain's segments as spares; the
        // next rollovers reuse them (rename of real files, header rewritten
        // in place). 40 single commits of a 4 KiB block each fill more than
        // two 64 KiB segments.
        let before = s.stats().segments_reused;
        for i in 0..40u32 {
            s.put(t, b"roll", &i.to_le_bytes(), Durability::Immediate)
                .unwrap();
        }
        assert!(s.stats().segments_reused > before, "{:?}", s.stats());
        s.put(t, b"last", b"one", Durability::Lazy).unwrap();
        s.close().unwrap();
    }
    let fs = FileStorage::open(&dir).unwrap();
    let report = check(&fs).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.live_keys, 52);
    let mut out = Vec::new();
    tdb::dump(&fs, &mut out).unwrap();
    assert!(String::from_utf8_lossy(&out).contains("snapshot-end"));
    let s = Store::open(fs, small_opts()).unwrap();
    let t = s.lookup_table("users").unwrap().unwrap();
    assert_eq!(
        s.get(t, b"user049").unwrap().unwrap(),
        vec![399u32 as u8; 500]
    );
    assert_eq!(s.get(t, b"last").unwrap().unwrap(), b"one");
    // Segment files (and spares) are preallocated to their full size.
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        assert_eq!(
            e.metadata().unwrap().len(),
            64 * 1024,
            "{:?}",
            e.file_name()
        );
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn directory_is_locked() {
    let dir = temp_dir("lock");
    let a = FileStorage::open(&dir).unwrap();
    let e = FileStorage::open(&dir)
        .err()
        .expect("second open must fail");
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    drop(a);
    FileStorage::open(&dir).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn value_for(key: &str) -> Vec<u8> {
    let n = (key.len() * 37 + key.bytes().map(usize::from).sum::<usize>()) % 700;
    key.bytes().cycle().take(n).collect()
}

/// Child process body; does nothing unless spawned by `kill9_parent`.
#[test]
fn kill9_child() {
    let Ok(dir) = std::env::var("TDB_KILL9_DIR") else {
        return;
    };
    let round: u64 = std::env::var("TDB_KILL9_ROUND")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let store =
        std::sync::Arc::new(Store::open(FileStorage::open(&dir).unwrap(), small_opts()).unwrap());
    let t = store.table("t").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let threads: Vec<_> = (0..3u64)
        .map(|th| {
            let store = store.clone();
            std::thread::spawn(move || {
                let out = std::io::stdout();
                for i in 0u64.. {
                    if Instant::now() > deadline {
                        return;
                    }
                    let key = format!("r{round}/t{th}/{i:06}");
                    let line = match i % 7 {
                        0 | 3 => {
                            let (a, b) = (format!("{key}a"), format!("{key}b"));
                            let mut batch = store.batch();
                            batch.put(t, a.as_bytes(), &value_for(&a)).put(
                                t,
                                b.as_bytes(),
                                &value_for(&b),
                            );
                            batch.commit(Durability::Immediate).unwrap();
                            format!("B {key}")
                        }
                        5 => {
                            store
                                .put(t, key.as_bytes(), &value_for(&key), Durability::Lazy)
                                .unwrap();
                            continue;
                        }
                        6 => {
                            let hot = format!("hot/{th}");
                            let v = format!("{round:04}{i:08}");
                            store
                                .put(t, hot.as_bytes(), v.as_bytes(), Durability::Immediate)
                                .unwrap();
                            format!("H {hot} {v}")
                        }
                        _ => {
                            store
                                .put(t, key.as_bytes(), &value_for(&key), Durability::Immediate)
                                .unwrap();
                            format!("A {key}")
                        }
                    };
                    let mut o = out.lock();
                    writeln!(o, "{line}").unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for th in threads {
        let _ = th.join();
    }
}

fn verify(dir: &Path, acks: &[String], round: u64) {
    let fs = FileStorage::open(dir).unwrap();
    let report = check(&fs).unwrap();
    assert!(report.is_ok(), "round {round}: {report}");
    let s = Store::open(fs, small_opts()).unwrap_or_else(|e| panic!("round {round}: open: {e}"));
    let t = s.lookup_table("t").unwrap().expect("table");
    let all: BTreeMap<Vec<u8>, Vec<u8>> = s.iter(t).unwrap().collect();
    let mut hot_min: BTreeMap<String, String> = BTreeMap::new();
    for line in acks {
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("A"), Some(k), None) => {
                assert_eq!(
                    all.get(k.as_bytes()),
                    Some(&value_for(k)),
                    "round {round}: acked {k} lost"
                );
            }
            (Some("B"), Some(k), None) => {
                for suffix in ["a", "b"] {
                    let k = format!("{k}{suffix}");
                    assert_eq!(
                        all.get(k.as_bytes()),
                        Some(&value_for(&k)),
                        "round {round}: batch {k} lost"
                    );
                }
            }
            (Some("H"), Some(k), Some(v)) => {
                let e = hot_min.entry(k.to_string()).or_default();
                if v > e.as_str() {
                    *e = v.to_string();
                }
            }
            _ => {}
        }
    }
    for (k, v) in &all {
        let k = String::from_utf8(k.clone()).unwrap();
        if let Some(rest) = k.strip_prefix("hot/") {
            let _ = rest;
            let v = String::from_utf8(v.clone()).unwrap();
            if let Some(min) = hot_min.get(&k) {
                assert!(v >= *min, "round {round}: {k} went back from {min} to {v}");
            }
        } else {
            assert_eq!(v, &value_for(&k), "round {round}: {k} has a wrong value");
            // Batches are all or nothing.
            if let Some(base) = k.strip_suffix('a') {
                assert!(
                    all.contains_key(format!("{base}b").as_bytes()),
                    "round {round}: half batch {base}"
                );
            }
        }
    }
    for (k, min) in &hot_min {
        assert!(
            all.contains_key(k.as_bytes()),
            "round {round}: {k} (acked {min}) lost"
        );
    }
    drop(s);
}

fn is_ack(line: &str) -> bool {
    line.starts_with("A ") || line.starts_with("B ") || line.starts_with("H ")
}

#[test]
fn kill9_parent() {
    let rounds = std::env::var("TDB_KILL9_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8u64);
    let dir = temp_dir("kill9");
    let exe = std::env::current_exe().unwrap();
    let mut rng = SimRng::new(std::process::id().into());
    let mut all_acks: Vec<String> = Vec::new();
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["kill9_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("TDB_KILL9_DIR", &dir)
            .env("TDB_KILL9_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let target = 30 + rng.below(300) as usize;
        let t0 = Instant::now();
        let mut n = 0;
        while n < target && t0.elapsed() < Duration::from_secs(20) {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if is_ack(&line) {
                        n += 1;
                        all_acks.push(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        // Lines already printed were acknowledged before the kill.
        all_acks.extend(rx.try_iter().filter(|l| is_ack(l)));
        assert!(n > 0, "round {round}: child produced no acknowledgements");
        eprintln!("kill -9 round {round}: {} acks so far", all_acks.len());
        verify(&dir, &all_acks, round);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Durable put latency and flushes per commit on the disk holding
/// `TDB_BENCH_DIR` (default: the temp dir). Run with
/// `cargo test -p tdb --features file --release --test file -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_file_latency() {
    let dir = std::env::var("TDB_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| temp_dir("bench"));
    let _ = std::fs::remove_dir_all(&dir);
    for zero_fill in [true, false] {
        let mut o = Options::default();
        o.zero_fill = zero_fill;
        let s = Store::open(FileStorage::open(&dir).unwrap(), o.clone()).unwrap();
        let t = s.table("t").unwrap();
        let key = |i: u32| format!("key-{i:020}");
        let val = [7u8; 200];
        // Single writer, durable puts.
        let n = 500;
        let mut lat = Vec::new();
        let a = s.stats();
        for i in 0..n {
            let t0 = Instant::now();
            s.put(t, key(i).as_bytes(), &val, Durability::Immediate)
                .unwrap();
            lat.push(t0.elapsed());
        }
        let b = s.stats();
        lat.sort();
        eprintln!(
            "zero_fill={zero_fill}: durable put p50 {:?} p99 {:?}; per commit: {:.2} flushes, {:.0} bytes written",
            lat[lat.len() / 2],
            lat[lat.len() * 99 / 100],
            (b.flushes - a.flushes) as f64 / f64::from(n),
            (b.bytes_written - a.bytes_written) as f64 / f64::from(n)
        );
        // Batch of 1000 durable.
        let t0 = Instant::now();
        let mut batch = s.batch();
        for i in 0..1000 {
            batch.put(t, key(10_000 + i).as_bytes(), &val);
        }
        batch.commit(Durability::Immediate).unwrap();
        eprintln!("  batch of 1000: {:?} per put", t0.elapsed() / 1000);
        // Random gets.
        let t0 = Instant::now();
        let mut rng = SimRng::new(1);
        for _ in 0..100_000 {
            let _ = s
                .get(t, key(rng.below(u64::from(n)) as u32).as_bytes())
                .unwrap();
        }
        eprintln!("  random get: {:?}", t0.elapsed() / 100_000);
        // Group commit: 32 threads.
        let s = std::sync::Arc::new(s);
        let a = s.stats();
        let t0 = Instant::now();
        let hs: Vec<_> = (0..32u32)
            .map(|th| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        s.put(
                            t,
                            format!("g{th}-{i}").as_bytes(),
                            &[1u8; 200],
                            Durability::Immediate,
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        let el = t0.elapsed();
        let b = s.stats();
        eprintln!(
            "  32 writers: {:.0} durable puts/s, {:.2} commits per flush, max group {}",
            1600.0 / el.as_secs_f64(),
            (b.commits - a.commits) as f64 / (b.flushes - a.flushes).max(1) as f64,
            b.max_group
        );
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

fn group_run(s: &std::sync::Arc<Store>, threads: u32, per: u32) -> (f64, f64) {
    let t = s.table("g").unwrap();
    let a = s.stats();
    let t0 = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|th| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    s.put(
                        t,
                        format!("g{th}-{i}").as_bytes(),
                        &[1u8; 200],
                        Durability::Immediate,
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let el = t0.elapsed();
    let b = s.stats();
    (
        f64::from(threads * per) / el.as_secs_f64(),
        (b.commits - a.commits) as f64 / (b.flushes - a.flushes).max(1) as f64,
    )
}

/// Group commit window: adaptive (default) vs none, on this disk and on an
/// emulated 5 ms medium. Run like `measure_file_latency`.
#[test]
#[ignore]
fn measure_group_commit_window() {
    let dir = std::env::var("TDB_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| temp_dir("bench-gc"));
    for threads in [1u32, 4, 32] {
        for delay in [Duration::ZERO, Duration::from_millis(2)] {
            let _ = std::fs::remove_dir_all(&dir);
            let mut o = Options::default();
            o.max_commit_delay = delay;
            let s = std::sync::Arc::new(Store::open(FileStorage::open(&dir).unwrap(), o).unwrap());
            let (rate, cpf) = group_run(&s, threads, 3200 / threads);
            eprintln!("file, {threads:2} writers, max window {delay:?}: {rate:.0} puts/s, {cpf:.1} commits/flush");
        }
    }
    for threads in [1u32, 32] {
        for delay in [Duration::ZERO, Duration::from_millis(2)] {
            let mut o = Options::default();
            o.max_commit_delay = delay;
            let st = tdb::MemStorage::with_sync_delay(Duration::from_millis(5));
            let s = std::sync::Arc::new(Store::open(st, o).unwrap());
            let (rate, cpf) = group_run(&s, threads, 640 / threads);
            eprintln!("5 ms flush, {threads:2} writers, max window {delay:?}: {rate:.0} puts/s, {cpf:.1} commits/flush");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
