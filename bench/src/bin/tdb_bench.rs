//! `tdb-bench`: smbed's side of `bench/tdb-vs-samba.sh`.
//!
//! ```text
//! tdb-bench single DIR N          N durable single puts, one after the other
//! tdb-bench batch DIR N R         R batches of N puts, each one durable commit
//! tdb-bench concurrent DIR T M    T threads, M durable puts each, all at once
//! tdb-bench get DIR K G           K keys loaded, then G random gets
//! tdb-bench amortized N           2 x N durable single puts on MemStorage: the
//!                                 store's own write and sync counts, including
//!                                 segment creation (zero fill or reuse), rollover
//!                                 and compaction, for the first N (new store) and
//!                                 the next N (steady state)
//! ```
//!
//! Keys are 24 bytes, values 200 bytes (`bench/tdb_samba_bench.c` uses the same).
//! Each phase uses a new store in `DIR/<phase>` (`tdb::FileStorage`, default options)
//! and prints `name=value` lines: latencies in microseconds, rates per second,
//! `proc_*` deltas of `/proc/self/io` over the measured part, and the store's own
//! counters (`tdb_*`). If `BENCH_DEV_STAT` names a block device's `stat` file (the
//! script points it at a loop device holding only the bench's file system), the
//! device's written bytes and flush requests over the measured part are printed too
//! (`*_dev_*`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use tdb::{Durability, FileStorage, Options, Stats, Store};

const KEY_LEN: usize = 24;
const VALUE_LEN: usize = 200;

fn key(i: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    let s = format!("key-{i:020}");
    k.copy_from_slice(s.as_bytes());
    k
}

fn value(i: u64) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    for (j, b) in v.iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(j as u8) | 0x20;
    }
    v
}

/// (wchar, syscw, write_bytes) from /proc/self/io.
fn proc_io() -> (u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("wchar:"), field("syscw:"), field("write_bytes:"))
}

/// (bytes written, flush requests) of the device named by `BENCH_DEV_STAT`.
fn dev_stat() -> Option<(u64, u64)> {
    let path = std::env::var_os("BENCH_DEV_STAT")?;
    let text = std::fs::read_to_string(path).ok()?;
    let f: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    Some((f.get(6)? * 512, *f.get(15)?))
}

fn print_dev(prefix: &str, before: Option<(u64, u64)>, n: u64) {
    if let (Some(a), Some(b)) = (before, dev_stat()) {
        let n = n.max(1) as f64;
        println!(
            "{prefix}_dev_bytes_per_commit={:.0}",
            (b.0 - a.0) as f64 / n
        );
        println!(
            "{prefix}_dev_flushes_per_commit={:.3}",
            (b.1 - a.1) as f64 / n
        );
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Default options; `TDB_BENCH_ZERO_FILL=0` turns zero-filling of new segments off
/// (for comparing the two ways of preallocating).
fn options() -> Options {
    let mut o = Options::default();
    if std::env::var("TDB_BENCH_ZERO_FILL").is_ok_and(|v| v == "0") {
        o.zero_fill = false;
    }
    o
}

fn open(dir: &Path, phase: &str) -> Result<(Store, tdb::Table), String> {
    let path: PathBuf = dir.join(phase);
    let _ = std::fs::remove_dir_all(&path);
    let storage = FileStorage::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let store = Store::open(storage, options()).map_err(|e| e.to_string())?;
    let t = store.table("bench").map_err(|e| e.to_string())?;
    Ok((store, t))
}

fn print_io(prefix: &str, before: (u64, u64, u64), after: (u64, u64, u64), n: u64) {
    let n = n.max(1) as f64;
    println!(
        "{prefix}_proc_wchar_per_commit={:.0}",
        (after.0 - before.0) as f64 / n
    );
    println!(
        "{prefix}_proc_syscw_per_commit={:.2}",
        (after.1 - before.1) as f64 / n
    );
    println!(
        "{prefix}_proc_write_bytes_per_commit={:.0}",
        (after.2 - before.2) as f64 / n
    );
}

fn print_stats(prefix: &str, a: &Stats, b: &Stats) {
    println!("{prefix}_tdb_flushes={}", b.flushes - a.flushes);
    println!("{prefix}_tdb_dir_syncs={}", b.dir_syncs - a.dir_syncs);
    println!("{prefix}_tdb_writes={}", b.writes - a.writes);
    println!(
        "{prefix}_tdb_bytes_written={}",
        b.bytes_written - a.bytes_written
    );
    println!(
        "{prefix}_tdb_zero_fill_bytes={}",
        b.zero_fill_bytes - a.zero_fill_bytes
    );
    println!(
        "{prefix}_tdb_records={}",
        b.records_written - a.records_written
    );
    println!("{prefix}_tdb_max_group={}", b.max_group);
    println!("{prefix}_tdb_compactions={}", b.compactions - a.compactions);
}

fn single(dir: &Path, n: u64) -> Result<(), String> {
    let (store, t) = open(dir, "single")?;
    let e = |e: tdb::Error| e.to_string();
    for i in 0..10 {
        store
            .put(t, &key(1_000_000 + i), &value(i), Durability::Immediate)
            .map_err(e)?;
    }
    let (s0, io0, dev0) = (store.stats(), proc_io(), dev_stat());
    let mut lat = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for i in 0..n {
        let t0 = Instant::now();
        store
            .put(t, &key(i), &value(i), Durability::Immediate)
            .map_err(e)?;
        lat.push(us(t0.elapsed()));
    }
    let total = start.elapsed();
    print_dev("single", dev0, n);
    let (s1, io1) = (store.stats(), proc_io());
    lat.sort_by(f64::total_cmp);
    println!("single_n={n}");
    println!("single_p50_us={:.1}", percentile(&lat, 0.5));
    println!("single_p99_us={:.1}", percentile(&lat, 0.99));
    println!("single_mean_us={:.1}", us(total) / n as f64);
    print_io("single", io0, io1, n);
    print_stats("single", &s0, &s1);
    store.close().map_err(e)
}

fn batch(dir: &Path, n: u64, reps: u64) -> Result<(), String> {
    let (store, t) = open(dir, "batch")?;
    let e = |e: tdb::Error| e.to_string();
    let mut times = Vec::new();
    let (s0, io0) = (store.stats(), proc_io());
    for r in 0..reps {
        let t0 = Instant::now();
        let mut b = store.batch();
        for i in 0..n {
            let id = r * n + i;
            b.put(t, &key(id), &value(id));
        }
        b.commit(Durability::Immediate).map_err(e)?;
        times.push(us(t0.elapsed()));
    }
    let (s1, io1) = (store.stats(), proc_io());
    times.sort_by(f64::total_cmp);
    let median = percentile(&times, 0.5);
    println!("batch_n={n}");
    println!("batch_reps={reps}");
    println!("batch_median_ms={:.3}", median / 1000.0);
    println!("batch_us_per_put={:.3}", median / n as f64);
    print_io("batch", io0, io1, reps);
    print_stats("batch", &s0, &s1);
    store.close().map_err(e)
}

fn concurrent(dir: &Path, threads: u64, per: u64) -> Result<(), String> {
    let (store, t) = open(dir, "concurrent")?;
    let store = Arc::new(store);
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let (s0, io0) = (store.stats(), proc_io());
    let mut handles = Vec::new();
    for th in 0..threads {
        let (store, barrier) = (store.clone(), barrier.clone());
        handles.push(std::thread::spawn(move || -> Result<Vec<f64>, String> {
            let mut lat = Vec::with_capacity(per as usize);
            barrier.wait();
            for i in 0..per {
                let id = th * per + i;
                let t0 = Instant::now();
                store
                    .put(t, &key(id), &value(id), Durability::Immediate)
                    .map_err(|e| e.to_string())?;
                lat.push(us(t0.elapsed()));
            }
            Ok(lat)
        }));
    }
    let dev0 = dev_stat();
    barrier.wait();
    let start = Instant::now();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(
            h.join()
                .map_err(|_| "writer thread panicked".to_string())??,
        );
    }
    let total = start.elapsed();
    let n = threads * per;
    print_dev("conc", dev0, n);
    let (s1, io1) = (store.stats(), proc_io());
    lat.sort_by(f64::total_cmp);
    println!("conc_writers={threads}");
    println!("conc_puts={n}");
    println!("conc_puts_per_s={:.0}", n as f64 / total.as_secs_f64());
    println!("conc_p50_us={:.1}", percentile(&lat, 0.5));
    println!("conc_p99_us={:.1}", percentile(&lat, 0.99));
    print_io("conc", io0, io1, n);
    print_stats("conc", &s0, &s1);
    Ok(())
}

fn get(dir: &Path, keys: u64, gets: u64) -> Result<(), String> {
    let (store, t) = open(dir, "get")?;
    let e = |e: tdb::Error| e.to_string();
    for chunk in (0..keys).collect::<Vec<_>>().chunks(1000) {
        let mut b = store.batch();
        for &i in chunk {
            b.put(t, &key(i), &value(i));
        }
        b.commit(Durability::Immediate).map_err(e)?;
    }
    // xorshift64*, fixed seed: the same key sequence on every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let ids: Vec<[u8; KEY_LEN]> = (0..gets).map(|_| key(next() % keys)).collect();
    let mut found = 0u64;
    let mut bytes = 0usize;
    let start = Instant::now();
    for k in &ids {
        if let Some(v) = store.get(t, k).map_err(e)? {
            found += 1;
            bytes += v.len();
        }
    }
    let total = start.elapsed();
    if found != gets || bytes != gets as usize * VALUE_LEN {
        return Err(format!("get: found {found} of {gets}"));
    }
    println!("get_keys={keys}");
    println!("get_n={gets}");
    println!("get_ns={:.1}", total.as_secs_f64() * 1e9 / gets as f64);
    Ok(())
}

fn amortized(n: u64) -> Result<(), String> {
    let e = |e: tdb::Error| e.to_string();
    let mut o = options();
    o.lazy_flush_interval = None;
    let store = Store::open(tdb::MemStorage::new(), o).map_err(e)?;
    let t = store.table("bench").map_err(e)?;
    // Overwrite a working set of 1,000 keys, so compaction has garbage to drop.
    let mut i = 0u64;
    let mut run = |count: u64| -> Result<(), String> {
        for _ in 0..count {
            store
                .put(t, &key(i % 1000), &value(i), Durability::Immediate)
                .map_err(e)?;
            i += 1;
        }
        Ok(())
    };
    // Phase 1: N commits from a new store (its first segments are new,
    // zero-filled files). Phase 2: N more, the steady state of a long-running
    // store, where compaction's retired segments are reused.
    let s0 = store.stats();
    run(n)?;
    let s1 = store.stats();
    run(n)?;
    let s2 = store.stats();
    println!("amort_n={n}");
    for (prefix, a, b) in [("amort", &s0, &s1), ("steady", &s1, &s2)] {
        let per = |x: u64, y: u64| (y - x) as f64 / n as f64;
        println!(
            "{prefix}_bytes_per_commit={:.0}",
            per(
                a.bytes_written + a.zero_fill_bytes,
                b.bytes_written + b.zero_fill_bytes
            )
        );
        println!(
            "{prefix}_record_bytes_per_commit={:.0}",
            per(a.bytes_written, b.bytes_written)
        );
        println!(
            "{prefix}_zero_fill_bytes_per_commit={:.0}",
            per(a.zero_fill_bytes, b.zero_fill_bytes)
        );
        println!(
            "{prefix}_flushes_per_commit={:.4}",
            per(a.flushes, b.flushes)
        );
        println!(
            "{prefix}_dir_syncs_per_commit={:.4}",
            per(a.dir_syncs, b.dir_syncs)
        );
        println!("{prefix}_compactions={}", b.compactions - a.compactions);
        println!(
            "{prefix}_segments_reused={}",
            b.segments_reused - a.segments_reused
        );
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    let num = |i: usize| -> Result<u64, String> {
        args.get(i)
            .ok_or_else(|| "missing argument".to_string())?
            .parse()
            .map_err(|e| format!("argument {i}: {e}"))
    };
    if args.first().map(String::as_str) == Some("amortized") {
        return amortized(num(1)?);
    }
    let dir = Path::new(args.get(1).ok_or("missing DIR")?);
    match args.first().map(String::as_str) {
        Some("single") => single(dir, num(2)?),
        Some("batch") => batch(dir, num(2)?, num(3)?),
        Some("concurrent") => concurrent(dir, num(2)?, num(3)?),
        Some("get") => get(dir, num(2)?, num(3)?),
        _ => Err("usage: tdb-bench single|batch|concurrent|get DIR ARGS... | amortized N".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tdb-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
