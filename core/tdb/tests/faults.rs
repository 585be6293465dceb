//! I/O error injection: a failed write, data sync or directory sync makes the
//! store refuse every further write (it never acknowledges data that may not
//! be on disk), reads keep working, and after a reboot every acknowledged
//! write is there.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use tdb::sim::{CrashStorage, FaultOp, SimRng};
use tdb::{Durability, Error, Store};

fn fault_case(op: FaultOp, seed: u64) {
    let mut rng = SimRng::new(seed);
    let opts = sim_options(8192, 512, rng.chance(1, 2));
    let st = CrashStorage::new(512, seed);
    let steps = gen_steps(&mut rng, 60, 1000, true);
    // Learn how many operations of this kind the workload makes, then fail one.
    let dry = st.crash_image();
    {
        let s = Store::open(dry.clone(), opts.clone()).unwrap();
        let (_, _, e) = run_steps(&s, &steps);
        assert!(e.is_none());
    }
    let total = dry.op_count(op);
    if total == 0 {
        return;
    }
    let live = st.crash_image();
    live.inject_fault(op, 1 + rng.below(total));
    let store = match Store::open(live.clone(), opts.clone()) {
        Ok(s) => s,
        Err(Error::Io(_)) => return, // failed while creating the store: fine
        Err(e) => panic!("seed {seed}: unexpected open error {e}"),
    };
    let (mut durable, attempted, err) = run_steps(&store, &steps);
    let Some(err) = err else {
        // The fault hit an operation whose failure needs no reaction: the
        // directory sync after deleting an old chain (the files would only
        // come back as garbage), or the final flush, reported by close().
        match store.close() {
            Ok(()) => durable = attempted,
            Err(e) => assert!(
                matches!(e, Error::Io(_) | Error::Failed(_)),
                "seed {seed}: {e}"
            ),
        }
        let img = live.crash_image();
        let store =
            Store::open(img, opts).unwrap_or_else(|e| panic!("seed {seed} {op:?}: reopen: {e}"));
        check_prefix(
            &State::new(),
            &steps,
            durable,
            attempted,
            &read_state(&store),
        )
        .unwrap_or_else(|e| panic!("seed {seed} {op:?}: {e}"));
        return;
    };
    assert!(
        matches!(err, Error::Io(_) | Error::Failed(_)),
        "seed {seed}: {err}"
    );
    // From now on, every write is refused; reads work.
    let t = store.lookup_table("users").unwrap();
    if let Some(t) = t {
        for d in [Durability::Immediate, Durability::Lazy] {
            assert!(
                matches!(store.put(t, b"after", b"x", d), Err(Error::Failed(_))),
                "seed {seed}"
            );
        }
        let _ = store.get(t, b"k001").unwrap();
        assert!(store.prefix(t, b"k").is_ok());
    }
    assert!(matches!(store.flush(), Err(Error::Failed(_))));
    assert!(matches!(store.compact(), Err(Error::Failed(_))));
    assert!(matches!(store.table("new"), Err(Error::Failed(_))));
    assert!(store.stats().failed);
    drop(store);
    // Reboot: acknowledged data is there, and the state is a prefix.
    let img = live.crash_image();
    let store =
        Store::open(img, opts).unwrap_or_else(|e| panic!("seed {seed} {op:?}: reopen: {e}"));
    let got = read_state(&store);
    check_prefix(&State::new(), &steps, durable, attempted, &got)
        .unwrap_or_else(|e| panic!("seed {seed} {op:?}: {e}"));
    // And the reopened store accepts writes again.
    let t = store.table("users").unwrap();
    store
        .put(t, b"after", b"reopen", Durability::Immediate)
        .unwrap();
}

#[test]
fn write_errors_poison_the_store() {
    for seed in 0..iters("TDB_FAULT_ITERS", 150) {
        fault_case(FaultOp::Write, seed);
    }
}

#[test]
fn sync_errors_poison_the_store() {
    for seed in 0..iters("TDB_FAULT_ITERS", 150) {
        fault_case(FaultOp::Sync, 10_000 + seed);
    }
}

#[test]
fn dir_sync_errors_poison_the_store() {
    for seed in 0..iters("TDB_FAULT_ITERS", 150) / 2 {
        fault_case(FaultOp::SyncDir, 20_000 + seed);
    }
}

#[test]
fn lazy_writes_fail_when_background_flush_fails() {
    let st = CrashStorage::new(512, 1);
    let mut o = sim_options(65536, 512, true);
    o.lazy_flush_interval = Some(std::time::Duration::from_millis(5));
    let s = Store::open(st.clone(), o).unwrap();
    let t = s.table("t").unwrap();
    let syncs = st.op_count(FaultOp::Sync);
    st.inject_fault(FaultOp::Sync, syncs + 1);
    s.put(t, b"k", b"v", Durability::Lazy).unwrap();
    let t0 = std::time::Instant::now();
    while !s.stats().failed {
        assert!(
            t0.elapsed().as_secs() < 5,
            "background flush error not noticed"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(matches!(
        s.put(t, b"k2", b"v", Durability::Lazy),
        Err(Error::Failed(_))
    ));
    assert!(matches!(s.close(), Ok(()) | Err(Error::Failed(_))));
}
