//! tdb recovery on damaged stores: the input becomes one or two segment files (and maybe a
//! spare) of a `MemStorage`; `check` and `Store::open` must return a report or a clean error,
//! and an opened store must read back what it holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tdb::{MemStorage, Options, Store};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let st = MemStorage::new();
    let cut = if rest.is_empty() {
        0
    } else {
        usize::from(sel) * rest.len() / 256
    };
    let (a, b) = rest.split_at(cut);
    let _ = st.write_file("seg-0000000000000001.log", a);
    if sel & 1 == 1 {
        let _ = st.write_file("seg-0000000000000002.log", b);
    } else if sel & 2 == 2 {
        let _ = st.write_file("seg-0000000000000003.spare", b);
    }
    let _ = tdb::check(&st);
    let mut o = Options::default();
    o.segment_size = 16384;
    o.block_size = 512;
    o.lazy_flush_interval = None;
    o.create_if_missing = false;
    if let Ok(s) = Store::open(st, o) {
        if let Ok(tables) = s.tables() {
            for name in tables {
                if let Ok(Some(t)) = s.lookup_table(&name) {
                    if let Ok(it) = s.iter(t) {
                        for (k, _) in it {
                            let _ = s.get(t, &k);
                        }
                    }
                }
            }
        }
    }
});
