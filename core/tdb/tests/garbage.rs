//! Random, truncated and damaged files given to `open()` and `check()`:
//! a clean error or a correct recovery, never a panic, never silent loss of
//! data in a sealed segment.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use tdb::sim::SimRng;
use tdb::{check, Durability, Error, MemStorage, Options, Storage, Store};

const SEG: u64 = 8192;

fn opts() -> Options {
    let mut o = sim_options(SEG, 512, true);
    o.auto_compact = false;
    o
}

/// A store with several sealed segments; returns it with its steps.
fn build(seed: u64, n: usize) -> (MemStorage, Vec<Step>) {
    let mut rng = SimRng::new(seed);
    let st = MemStorage::new();
    let mut steps = gen_steps(&mut rng, n, 900, false);
    for s in &mut steps {
        match s {
            Step::Put(.., d) | Step::Del(.., d) | Step::Batch(_, d) => *d = Durability::Immediate,
            _ => {}
        }
    }
    let store = Store::open(st.clone(), opts()).unwrap();
    let (d, a, e) = run_steps(&store, &steps);
    assert!(e.is_none() && d == a);
    drop(store);
    (st, steps)
}

fn segments(st: &MemStorage) -> Vec<String> {
    let mut v: Vec<String> = st
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".log"))
        .collect();
    v.sort();
    v
}

/// Open must not panic; `check` must agree with `open` on success/failure.
fn open_and_check(st: &MemStorage) -> Result<Store, Error> {
    let report = check(st);
    let res = Store::open(st.clone(), opts());
    if let Ok(r) = &report {
        match &res {
            Ok(_) => assert!(r.is_ok(), "open succeeded but check reports errors: {r}"),
            Err(Error::Corrupt(_)) => {
                assert!(!r.is_ok(), "open says corrupt but check is happy: {r}")
            }
            Err(_) => {}
        }
    }
    let mut out = Vec::new();
    let _ = tdb::dump(st, &mut out);
    res
}

#[test]
fn random_files_never_panic() {
    let mut rng = SimRng::new(1);
    for i in 0..300 {
        let st = MemStorage::new();
        for _ in 0..1 + rng.below(3) {
            let len = match rng.below(4) {
                0 => rng.below(64),
                1 => rng.below(600),
                _ => rng.below(3 * SEG),
            } as usize;
            let mut data = vec![0u8; len];
            rng.fill(&mut data);
            if rng.chance(1, 3) && len >= 8 {
                data[..8].copy_from_slice(b"SMBEDTDB");
            }
            let name = format!("seg-{:016x}.log", 1 + rng.below(4));
            st.write_file(&name, &data).unwrap();
        }
        if let Ok(s) = open_and_check(&st) {
            panic!(
                "iteration {i}: garbage accepted as a store with {:?}",
                s.tables()
            );
        }
    }
}

#[test]
fn valid_header_random_body() {
    // A real segment header followed by random bytes: recovery must refuse
    // (no snapshot) or accept a prefix, never panic.
    let mut rng = SimRng::new(2);
    let (st, _) = build(5, 5);
    let name = segments(&st)[0].clone();
    let orig = st.read_file(&name).unwrap();
    for _ in 0..200 {
        let mut data = orig.clone();
        let from = 512 + rng.below(data.len() as u64 - 512) as usize;
        rng.fill(&mut data[from..]);
        st.write_file(&name, &data).unwrap();
        let _ = open_and_check(&st);
    }
}

#[test]
fn truncated_last_segment_recovers_a_prefix() {
    let (st, steps) = build(3, 120);
    let segs = segments(&st);
    assert!(segs.len() >= 3, "want sealed segments, got {segs:?}");
    let last = segs.last().unwrap().clone();
    let orig = st.read_file(&last).unwrap();
    let mut rng = SimRng::new(4);
    for _ in 0..100 {
        let cut = rng.below(orig.len() as u64 + 1) as usize;
        st.write_file(&last, &orig[..cut]).unwrap();
        match open_and_check(&st) {
            Ok(s) => {
                check_prefix(&State::new(), &steps, 0, steps.len(), &read_state(&s))
                    .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
                drop(s);
            }
            // Cutting into the header is damage recovery must report.
            Err(Error::Corrupt(_)) => assert!(cut < 64, "cut at {cut} refused"),
            Err(e) => panic!("cut at {cut}: {e}"),
        }
        st.write_file(&last, &orig).unwrap();
    }
}

#[test]
fn damage_in_a_sealed_segment_is_reported() {
    let (st, _) = build(6, 120);
    let segs = segments(&st);
    assert!(segs.len() >= 3);
    let sealed = segs[segs.len() - 2].clone();
    let orig = st.read_file(&sealed).unwrap();
    // Flip one byte inside the first record (after the header block).
    let mut data = orig.clone();
    data[512 + 40] ^= 0x10;
    st.write_file(&sealed, &data).unwrap();
    let report = check(&st).unwrap();
    assert!(!report.is_ok(), "{report}");
    assert!(report.errors[0].contains(&sealed), "{report}");
    assert!(matches!(
        Store::open(st.clone(), opts()),
        Err(Error::Corrupt(_))
    ));
    // Nothing was modified by the failed open.
    assert_eq!(st.read_file(&sealed).unwrap(), data);
    // Truncating a sealed segment is reported too.
    st.write_file(&sealed, &orig[..1024]).unwrap();
    assert!(matches!(
        Store::open(st.clone(), opts()),
        Err(Error::Corrupt(_))
    ));
    // A missing sealed segment breaks the chain: refused, not papered over.
    st.write_file(&sealed, &orig).unwrap();
    assert!(Store::open(st.clone(), opts()).is_ok());
    st.remove(&sealed).unwrap();
    let r = Store::open(st.clone(), opts());
    assert!(
        matches!(r, Err(Error::Corrupt(_))),
        "missing segment accepted"
    );
}

#[test]
fn damaged_header_is_reported() {
    let (st, _) = build(7, 60);
    let seg = segments(&st)[0].clone();
    let mut data = st.read_file(&seg).unwrap();
    data[20] ^= 1;
    st.write_file(&seg, &data).unwrap();
    assert!(matches!(
        Store::open(st.clone(), opts()),
        Err(Error::Corrupt(_))
    ));
    assert!(!check(&st).unwrap().is_ok());
}

#[test]
fn random_byte_flips_never_panic_and_recover_prefixes() {
    let (st, steps) = build(8, 100);
    let names = segments(&st);
    let originals: Vec<Vec<u8>> = names.iter().map(|n| st.read_file(n).unwrap()).collect();
    let mut rng = SimRng::new(9);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..300 {
        let i = rng.below(names.len() as u64) as usize;
        let mut data = originals[i].clone();
        for _ in 0..1 + rng.below(3) {
            let p = rng.below(data.len() as u64) as usize;
            data[p] ^= 1 << rng.below(8);
        }
        st.write_file(&names[i], &data).unwrap();
        match open_and_check(&st) {
            Ok(s) => {
                ok += 1;
                check_prefix(&State::new(), &steps, 0, steps.len(), &read_state(&s)).unwrap();
                drop(s);
            }
            Err(Error::Corrupt(_)) => refused += 1,
            Err(e) => panic!("{e}"),
        }
        // Restore (open may have removed nothing: it only writes on success,
        // and success never deletes live segments).
        for (n, d) in names.iter().zip(&originals) {
            st.write_file(n, d).unwrap();
        }
    }
    assert!(ok > 0 && refused > 0, "ok {ok} refused {refused}");
}

#[test]
fn unknown_and_temporary_files() {
    let (st, steps) = build(10, 30);
    st.write_file("README", b"hello").unwrap();
    st.write_file("seg-00000000000000ff.tmp", b"partial")
        .unwrap();
    let report = check(&st).unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.warnings.iter().any(|w| w.contains("README")));
    let s = Store::open(st.clone(), opts()).unwrap();
    check_prefix(
        &State::new(),
        &steps,
        steps.len(),
        steps.len(),
        &read_state(&s),
    )
    .unwrap();
    let names = st.list().unwrap();
    assert!(
        names.contains(&"README".to_string()),
        "foreign files are left alone"
    );
    assert!(
        !names.iter().any(|n| n.ends_with(".tmp")),
        "temporaries are removed"
    );
    // New segments get generations above any seen, even temporary ones.
    let t = s.table("users").unwrap();
    for i in 0..50u32 {
        s.put(t, &i.to_le_bytes(), &[1u8; 300], Durability::Immediate)
            .unwrap();
    }
    drop(s);
    assert!(st
        .list()
        .unwrap()
        .iter()
        .any(|n| n.as_str() > "seg-00000000000000ff"));
    assert!(Store::open(st, opts()).is_ok());
}
