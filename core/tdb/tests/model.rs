//! Model-based property test: random operations (puts, deletes, batches,
//! table create/drop, lazy and immediate writes, reopen, compaction, reads,
//! ranges) against a `BTreeMap` reference, on `MemStorage` with tiny
//! segments so rollover and compaction happen constantly.
//! `TDB_MODEL_CASES` sets the number of cases (default 300).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{gen_key, gen_value, iters, sim_options};
use tdb::sim::SimRng;
use tdb::{Durability, Error, MemStorage, Options, Store};

type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

fn check_all(store: &Store, model: &Model, ctx: &str) {
    assert_eq!(
        store.tables().unwrap(),
        model.keys().cloned().collect::<Vec<_>>(),
        "{ctx}"
    );
    for (name, m) in model {
        let t = store.lookup_table(name).unwrap().unwrap();
        let got: BTreeMap<Vec<u8>, Vec<u8>> = store.iter(t).unwrap().collect();
        assert_eq!(&got, m, "{ctx}: table {name}");
    }
    let st = store.stats();
    let keys: usize = model.values().map(BTreeMap::len).sum();
    assert_eq!(st.live_keys, keys as u64, "{ctx}");
    let bytes: usize = model
        .values()
        .flat_map(|m| m.iter())
        .map(|(k, v)| k.len() + v.len() + 8)
        .sum();
    assert_eq!(st.live_bytes, bytes as u64, "{ctx}");
}

fn run_case(seed: u64) {
    let mut rng = SimRng::new(seed);
    let segment = [4096u64, 8192, 65536][rng.below(3) as usize];
    let mut opts: Options = sim_options(segment, 512, rng.chance(1, 2));
    opts.auto_compact = rng.chance(2, 3);
    if rng.chance(1, 4) {
        opts.lazy_flush_interval = Some(Duration::from_millis(1));
    }
    let max_value = segment / 6;
    let st = MemStorage::new();
    let mut store = Store::open(st.clone(), opts.clone()).unwrap();
    let mut model = Model::new();
    let steps = 250;
    for step in 0..steps {
        let ctx = format!("seed {seed} step {step}");
        let d = if rng.chance(1, 2) {
            Durability::Immediate
        } else {
            Durability::Lazy
        };
        let name = NAMES[rng.below(NAMES.len() as u64) as usize];
        let table = store.lookup_table(name).unwrap();
        match rng.below(100) {
            0..=4 => {
                store.table(name).unwrap();
                model.entry(name.to_string()).or_default();
            }
            5 => {
                if let Some(t) = table {
                    store.drop_table(t, d).unwrap();
                    model.remove(name);
                    assert!(matches!(store.get(t, b"x"), Err(Error::NoSuchTable)));
                }
            }
            6..=40 => {
                let k = gen_key(&mut rng, 24);
                let v = gen_value(&mut rng, max_value);
                match table {
                    Some(t) => {
                        store.put(t, &k, &v, d).unwrap();
                        model.get_mut(name).unwrap().insert(k, v);
                    }
                    None => {
                        let t = store.table(name).unwrap();
                        store.put(t, &k, &v, d).unwrap();
                        model.entry(name.to_string()).or_default().insert(k, v);
                    }
                }
            }
            41..=55 => {
                if let Some(t) = table {
                    let k = gen_key(&mut rng, 24);
                    store.delete(t, &k, d).unwrap();
                    model.get_mut(name).unwrap().remove(&k);
                }
            }
            56..=70 => {
                // Batch over existing tables.
                let names: Vec<String> = model.keys().cloned().collect();
                if names.is_empty() {
                    continue;
                }
                let mut b = store.batch();
                let mut shadow = model.clone();
                for _ in 0..1 + rng.below(6) {
                    let n = &names[rng.below(names.len() as u64) as usize];
                    let t = store.lookup_table(n).unwrap().unwrap();
                    let k = gen_key(&mut rng, 24);
                    if rng.chance(3, 4) {
                        let v = gen_value(&mut rng, max_value / 6);
                        b.put(t, &k, &v);
                        shadow.get_mut(n).unwrap().insert(k, v);
                    } else {
                        b.delete(t, &k);
                        shadow.get_mut(n).unwrap().remove(&k);
                    }
                }
                b.commit(d).unwrap();
                model = shadow;
            }
            71..=85 => {
                if let Some(t) = table {
                    let k = gen_key(&mut rng, 24);
                    assert_eq!(
                        store.get(t, &k).unwrap().as_ref(),
                        model[name].get(&k),
                        "{ctx}"
                    );
                    // Prefix and range against the model.
                    let p = &k[..2];
                    let got: Vec<Vec<u8>> = store.prefix(t, p).unwrap().map(|(k, _)| k).collect();
                    let want: Vec<Vec<u8>> = model[name]
                        .keys()
                        .filter(|x| x.starts_with(p))
                        .cloned()
                        .collect();
                    assert_eq!(got, want, "{ctx}");
                    let k2 = gen_key(&mut rng, 24);
                    let got: Vec<Vec<u8>> = store
                        .range(t, k.as_slice()..k2.as_slice())
                        .unwrap()
                        .map(|(k, _)| k)
                        .collect();
                    let want: Vec<Vec<u8>> = if k <= k2 {
                        model[name]
                            .range(k.clone()..k2.clone())
                            .map(|(k, _)| k.clone())
                            .collect()
                    } else {
                        Vec::new()
                    };
                    assert_eq!(got, want, "{ctx}");
                }
            }
            86..=90 => store.compact().unwrap(),
            91..=93 => store.flush().unwrap(),
            _ => {
                // Reopen (clean close or plain drop).
                if rng.chance(1, 2) {
                    store.close().unwrap();
                } else {
                    drop(store);
                }
                store = Store::open(st.clone(), opts.clone()).unwrap();
                check_all(&store, &model, &ctx);
                let report = tdb::check(&st).unwrap();
                assert!(report.is_ok(), "{ctx}: {report}");
            }
        }
    }
    check_all(&store, &model, &format!("seed {seed} end"));
    drop(store);
    let store = Store::open(st, opts).unwrap();
    check_all(&store, &model, &format!("seed {seed} final reopen"));
}

#[test]
fn model_based_random_operations() {
    if let Some(seed) = std::env::var("TDB_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        run_case(seed);
        return;
    }
    for seed in 0..iters("TDB_MODEL_CASES", 300) {
        run_case(seed);
    }
}
