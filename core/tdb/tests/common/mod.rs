//! Shared test helpers: a workload model, a reference state and the prefix
//! oracle used by the crash, fault and garbage tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use tdb::sim::SimRng;
use tdb::{Durability, Error, Options, Store};

/// Reference state: table name -> key -> value.
pub type State = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// One step of a workload.
#[derive(Clone, Debug)]
pub enum Step {
    Table(String),
    Put(String, Vec<u8>, Vec<u8>, Durability),
    Del(String, Vec<u8>, Durability),
    Batch(Vec<(String, Vec<u8>, Option<Vec<u8>>)>, Durability),
    Flush,
    Compact,
}

impl Step {
    /// When this step returns Ok, everything up to and including it is durable.
    pub fn durable_on_ok(&self) -> bool {
        match self {
            Step::Table(_) | Step::Flush | Step::Compact => true,
            Step::Put(.., d) | Step::Del(.., d) | Step::Batch(_, d) => *d == Durability::Immediate,
        }
    }
}

pub const TABLES: [&str; 3] = ["users", "acl", "handles"];

/// Env var override for iteration counts.
pub fn iters(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Options for simulated-media tests: small segments, no background thread
/// (deterministic), no commit delay.
pub fn sim_options(segment_size: u64, block_size: u32, zero_fill: bool) -> Options {
    let mut o = Options::default();
    o.segment_size = segment_size;
    o.block_size = block_size;
    o.zero_fill = zero_fill;
    o.lazy_flush_interval = None;
    o.max_commit_delay = Duration::ZERO;
    o
}

pub fn gen_key(rng: &mut SimRng, space: u64) -> Vec<u8> {
    format!("k{:03}", rng.below(space)).into_bytes()
}

pub fn gen_value(rng: &mut SimRng, max: u64) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1..=5 => 1 + rng.below(40),
        6..=8 => 100 + rng.below(500),
        _ => 600 + rng.below(max.saturating_sub(600).max(1)),
    } as usize;
    let mut v = vec![0u8; len.min(max as usize)];
    rng.fill(&mut v);
    v
}

/// A random workload. Starts by (re)creating all tables.
pub fn gen_steps(rng: &mut SimRng, n: usize, max_value: u64, with_maintenance: bool) -> Vec<Step> {
    let mut steps: Vec<Step> = TABLES.iter().map(|t| Step::Table(t.to_string())).collect();
    let table = |rng: &mut SimRng| TABLES[rng.below(TABLES.len() as u64) as usize].to_string();
    for _ in 0..n {
        let d = if rng.chance(7, 10) {
            Durability::Immediate
        } else {
            Durability::Lazy
        };
        let r = rng.below(100);
        let step = if r < 50 {
            Step::Put(table(rng), gen_key(rng, 16), gen_value(rng, max_value), d)
        } else if r < 65 {
            Step::Del(table(rng), gen_key(rng, 16), d)
        } else if r < 90 || !with_maintenance {
            let k = 2 + rng.below(3);
            let ops = (0..k)
                .map(|_| {
                    let t = table(rng);
                    let key = gen_key(rng, 16);
                    let v = if rng.chance(3, 4) {
                        Some(gen_value(rng, max_value))
                    } else {
                        None
                    };
                    (t, key, v)
                })
                .collect();
            Step::Batch(ops, d)
        } else if r < 96 {
            Step::Flush
        } else {
            Step::Compact
        };
        steps.push(step);
    }
    steps
}

/// Apply a step to the reference state.
pub fn apply(state: &mut State, step: &Step) {
    match step {
        Step::Table(t) => {
            state.entry(t.clone()).or_default();
        }
        Step::Put(t, k, v, _) => {
            state
                .entry(t.clone())
                .or_default()
                .insert(k.clone(), v.clone());
        }
        Step::Del(t, k, _) => {
            if let Some(m) = state.get_mut(t) {
                m.remove(k);
            }
        }
        Step::Batch(ops, _) => {
            for (t, k, v) in ops {
                let m = state.entry(t.clone()).or_default();
                match v {
                    Some(v) => {
                        m.insert(k.clone(), v.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
        }
        Step::Flush | Step::Compact => {}
    }
}

fn table(store: &Store, name: &str) -> Result<tdb::Table, Error> {
    store.lookup_table(name)?.ok_or(Error::NoSuchTable)
}

/// Run a step against the store.
pub fn exec(store: &Store, step: &Step) -> Result<(), Error> {
    match step {
        Step::Table(t) => store.table(t).map(drop),
        Step::Put(t, k, v, d) => store.put(table(store, t)?, k, v, *d),
        Step::Del(t, k, d) => store.delete(table(store, t)?, k, *d),
        Step::Batch(ops, d) => {
            let mut b = store.batch();
            for (t, k, v) in ops {
                let tb = table(store, t)?;
                match v {
                    Some(v) => b.put(tb, k, v),
                    None => b.delete(tb, k),
                };
            }
            b.commit(*d)
        }
        Step::Flush => store.flush(),
        Step::Compact => store.compact(),
    }
}

/// Everything in the store.
pub fn read_state(store: &Store) -> State {
    let mut s = State::new();
    for name in store.tables().expect("tables") {
        let t = store.lookup_table(&name).expect("lookup").expect("table");
        s.insert(name, store.iter(t).expect("iter").collect());
    }
    s
}

/// Run steps until one fails. Returns (steps guaranteed durable, steps
/// attempted including the failing one, first error).
pub fn run_steps(store: &Store, steps: &[Step]) -> (usize, usize, Option<Error>) {
    let mut durable = 0;
    for (i, s) in steps.iter().enumerate() {
        match exec(store, s) {
            Ok(()) => {
                if s.durable_on_ok() {
                    durable = i + 1;
                }
            }
            Err(e) => return (durable, i + 1, Some(e)),
        }
    }
    (durable, steps.len(), None)
}

/// The prefix oracle: `got` must equal the state after exactly `k` steps
/// applied to `base`, for some `durable <= k <= attempted`. Returns `k`.
pub fn check_prefix(
    base: &State,
    steps: &[Step],
    durable: usize,
    attempted: usize,
    got: &State,
) -> Result<usize, String> {
    let mut s = base.clone();
    if durable == 0 && s == *got {
        return Ok(0);
    }
    for (i, step) in steps[..attempted].iter().enumerate() {
        apply(&mut s, step);
        if i + 1 >= durable && s == *got {
            return Ok(i + 1);
        }
    }
    let mut full = base.clone();
    for st in &steps[..durable] {
        apply(&mut full, st);
    }
    Err(format!(
        "recovered state matches no prefix in {durable}..={attempted}\n  durable state: {}\n  recovered:     {}",
        summarize(&full),
        summarize(got)
    ))
}

pub fn summarize(s: &State) -> String {
    let mut out = String::new();
    for (t, m) in s {
        out.push_str(&format!("{t}:{{"));
        for (k, v) in m {
            out.push_str(&format!("{}={}b,", String::from_utf8_lossy(k), v.len()));
        }
        out.push_str("} ");
    }
    out
}
