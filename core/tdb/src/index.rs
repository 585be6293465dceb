//! The in-memory index: every live key and its value, per table.
//!
//! Values live in memory (`Arc<[u8]>`, shared with range snapshots), so a
//! read never touches the medium. Memory use is the live data plus roughly
//! 64-100 bytes per key (B-tree node share, `Vec` and `Arc` headers). That is
//! the right trade for smbed's durable state (accounts, secrets, ACLs,
//! persistent handles: kilobytes to a few megabytes); it is not meant for
//! data sets larger than RAM.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::format::Op;

/// Per-key bookkeeping overhead counted in `live_bytes` (approximates the
/// record framing a snapshot needs for it).
pub(crate) const ENTRY_OVERHEAD: u64 = 8;

pub(crate) struct TableData {
    pub name: String,
    pub map: BTreeMap<Vec<u8>, Arc<[u8]>>,
}

#[derive(Default)]
pub(crate) struct Index {
    pub tables: BTreeMap<u32, TableData>,
    pub names: BTreeMap<String, u32>,
    /// Next table id to hand out; ids are never reused.
    pub next_table_id: u32,
    pub live_keys: u64,
    /// Sum of key + value + `ENTRY_OVERHEAD` over live keys.
    pub live_bytes: u64,
}

impl Index {
    pub fn new() -> Index {
        Index {
            next_table_id: 1,
            ..Index::default()
        }
    }

    /// Check that `ops` can be applied (all referenced tables exist or are
    /// created earlier in the list, no duplicate names).
    pub fn validate(&self, ops: &[Op]) -> Result<(), String> {
        let mut created: Vec<(u32, &str)> = Vec::new();
        let mut dropped: Vec<u32> = Vec::new();
        let exists = |id: u32, created: &Vec<(u32, &str)>, dropped: &Vec<u32>| {
            !dropped.contains(&id)
                && (self.tables.contains_key(&id) || created.iter().any(|c| c.0 == id))
        };
        for op in ops {
            match op {
                Op::Put { table, .. } | Op::Delete { table, .. } => {
                    if !exists(*table, &created, &dropped) {
                        return Err(format!("no table with id {table}"));
                    }
                }
                Op::CreateTable { id, name } => {
                    if exists(*id, &created, &dropped)
                        || (self.names.contains_key(name.as_str())
                            && !self
                                .names
                                .get(name.as_str())
                                .is_some_and(|i| dropped.contains(i)))
                        || created.iter().any(|c| c.1 == name)
                    {
                        return Err(format!("table {name:?} (id {id}) already exists"));
                    }
                    created.push((*id, name));
                }
                Op::DropTable { id } => {
                    if !exists(*id, &created, &dropped) {
                        return Err(format!("no table with id {id}"));
                    }
                    dropped.push(*id);
                }
            }
        }
        Ok(())
    }

    /// Apply validated operations in order.
    pub fn apply(&mut self, ops: Vec<Op>) {
        for op in ops {
            self.apply_one(op);
        }
    }

    fn apply_one(&mut self, op: Op) {
        match op {
            Op::Put { table, key, value } => {
                let Some(t) = self.tables.get_mut(&table) else {
                    return;
                };
                let add = key.len() as u64 + value.len() as u64 + ENTRY_OVERHEAD;
                let klen = key.len() as u64;
                match t.map.insert(key, value) {
                    Some(old) => {
                        self.live_bytes -= klen + old.len() as u64 + ENTRY_OVERHEAD;
                    }
                    None => self.live_keys += 1,
                }
                self.live_bytes += add;
            }
            Op::Delete { table, key } => {
                let Some(t) = self.tables.get_mut(&table) else {
                    return;
                };
                if let Some(old) = t.map.remove(&key) {
                    self.live_keys -= 1;
                    self.live_bytes -= key.len() as u64 + old.len() as u64 + ENTRY_OVERHEAD;
                }
            }
            Op::CreateTable { id, name } => {
                self.names.insert(name.clone(), id);
                self.tables.insert(
                    id,
                    TableData {
                        name,
                        map: BTreeMap::new(),
                    },
                );
                self.next_table_id = self.next_table_id.max(id.saturating_add(1));
            }
            Op::DropTable { id } => {
                if let Some(t) = self.tables.remove(&id) {
                    self.names.remove(&t.name);
                    for (k, v) in &t.map {
                        self.live_keys -= 1;
                        self.live_bytes -= k.len() as u64 + v.len() as u64 + ENTRY_OVERHEAD;
                    }
                }
            }
        }
    }
}
