//! The store: public API, group commit, segment rollover and compaction.
//!
//! # Concurrency
//!
//! - `index: RwLock<Index>`: every live key and value. Readers (`get`,
//!   `range`) take the read lock only for a lookup or a copy of the range;
//!   they never wait for I/O.
//! - `shared: Mutex<Shared>`: the commit queue. A writer validates its
//!   operations, applies them to the index and appends the encoded record to
//!   the queue under this lock, so index order equals log order. It gets a
//!   ticket; `Lazy` writers return at once, `Immediate` writers wait until
//!   their ticket is durable.
//! - Group commit: the first waiting writer that finds no leader becomes the
//!   leader, takes the whole queue, writes it with one `write_at` (records
//!   framed back to back, padded to the block size) and one `sync`, then
//!   wakes everyone whose ticket is now durable. Writers arriving meanwhile
//!   queue up for the next leader. If the previous group had several
//!   writers, the leader first waits for about as many to arrive, at most
//!   half the measured flush latency (capped by `Options::max_commit_delay`),
//!   so the window adapts to the medium: microseconds on an SSD,
//!   milliseconds on an SD card.
//! - `log: Mutex<Log>`: file handles and write position, used only by the
//!   leader (or compaction, which takes the leader role).
//! - A failed write or sync sets `failed`: no write is acknowledged after
//!   that (the data may or may not be on disk), until the store is reopened.

use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::format::{
    align_up, check_geometry, encode_ops, frame_record, parse_name, segment_name, spare_name,
    temp_name, FileKind, Kind, Op, SegHeader, SnapshotEnd, FLAG_BASE, MAX_KEY_LEN,
    MAX_TABLE_NAME_LEN, REC_HEADER_LEN,
};
use crate::index::Index;
use crate::recovery::{self, ChainSeg, Report};
use crate::storage::{Storage, StorageFile};
use crate::{Durability, Error, Options, Result};

/// Handle of a named table (key space). Cheap to copy; valid for the store
/// that returned it until the table is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Table {
    id: u32,
}

impl Table {
    /// Numeric id (as stored on disk).
    pub fn id(self) -> u32 {
        self.id
    }
}

/// Counters and sizes, see [`Store::stats`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Write operations committed (put, delete, batch, table create/drop).
    pub commits: u64,
    /// Data syncs (`fdatasync`) issued on segment files.
    pub flushes: u64,
    /// Directory syncs.
    pub dir_syncs: u64,
    /// `write_at` calls for records and segment headers.
    pub writes: u64,
    /// Bytes written for records, padding and segment headers.
    pub bytes_written: u64,
    /// Bytes written to zero-fill new segments.
    pub zero_fill_bytes: u64,
    /// New segments made from a spare (retired) segment instead of a new
    /// zero-filled file.
    pub segments_reused: u64,
    /// Spare segments on hand.
    pub spare_segments: u64,

    /// Records written (a batch is one record).
    pub records_written: u64,
    /// Largest number of records written by one flush (group size).
    pub max_group: u64,
    /// Compactions completed.
    pub compactions: u64,
    /// Tables.
    pub tables: u64,
    /// Live keys.
    pub live_keys: u64,
    /// Live bytes: keys + values + 8 bytes per key.
    pub live_bytes: u64,
    /// Segments in the live chain.
    pub segments: u64,
    /// Bytes of log in the live chain (recovery reads about this much).
    pub log_bytes: u64,
    /// Smoothed latency of one flush (write + sync).
    pub flush_latency: Duration,
    /// The store refuses writes after an I/O failure.
    pub failed: bool,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    flushes: AtomicU64,
    dir_syncs: AtomicU64,
    writes: AtomicU64,
    bytes_written: AtomicU64,
    zero_fill_bytes: AtomicU64,
    segments_reused: AtomicU64,
    records_written: AtomicU64,
    max_group: AtomicU64,
    compactions: AtomicU64,
}

fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

struct Pending {
    ticket: u64,
    kind: Kind,
    payload: Vec<u8>,
}

struct Shared {
    queue: Vec<Pending>,
    last_ticket: u64,
    durable_ticket: u64,
    leader: bool,
    failed: Option<String>,
    shutdown: bool,
    last_group: usize,
    lazy_since: Option<Instant>,
    compact_due: bool,
    flush_ewma_ns: u64,
}

struct Log {
    chain: Vec<ChainSeg>,
    file: Box<dyn StorageFile>,
    pos: u64,
    next_seq: u64,
    max_gen: u64,
    buf: Vec<u8>,
    /// Names of spare segments (`seg-<gen>.spare`), each `segment_size` long.
    spares: Vec<String>,
}

struct Inner {
    storage: Box<dyn Storage>,
    opts: Options,
    index: RwLock<Index>,
    shared: Mutex<Shared>,
    done_cv: Condvar,
    arrive_cv: Condvar,
    bg_cv: Condvar,
    log: Mutex<Log>,
    counters: Counters,
}

/// An open store. Share it between threads with `Arc<Store>`.
pub struct Store {
    inner: Arc<Inner>,
    bg: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> Result<MutexGuard<'_, T>> {
    m.lock().map_err(|_| Error::Poisoned)
}

fn read<T>(m: &RwLock<T>) -> Result<RwLockReadGuard<'_, T>> {
    m.read().map_err(|_| Error::Poisoned)
}

fn write<T>(m: &RwLock<T>) -> Result<RwLockWriteGuard<'_, T>> {
    m.write().map_err(|_| Error::Poisoned)
}

/// Chunk size of snapshot records written by compaction.
const SNAPSHOT_CHUNK: usize = 256 * 1024;
/// Zero-fill write size.
const ZERO_CHUNK: usize = 1 << 20;

impl Log {
    fn active(&self) -> &SegHeader {
        // The chain is never empty: open and compaction always install one.
        &self.chain[self.chain.len() - 1].header
    }

    /// Create a segment: write the header block (plus `initial` bytes right
    /// after it) into a temporary file, preallocate/zero-fill, sync, rename
    /// into place and sync the directory. With a `spare`, the spare file is
    /// reused instead: its header block is rewritten and synced, then it is
    /// renamed into place (no allocation, no zero fill; its stale records
    /// carry older generations, FORMAT.md section 5).
    fn create_segment(
        storage: &dyn Storage,
        opts: &Options,
        c: &Counters,
        header: &SegHeader,
        initial: &[u8],
        spare: Option<String>,
    ) -> std::io::Result<Box<dyn StorageFile>> {
        let block = header.block_size as usize;
        let mut first = vec![0u8; block + initial.len()];
        header.encode(&mut first);
        first[block..].copy_from_slice(initial);
        let reuse = match spare {
            Some(name) => match storage.open(&name) {
                Ok(f) if f.len().ok() == Some(header.segment_size) => Some((name, f)),
                // A spare of another size (the segment size changed) or one
                // that cannot be opened is only removed.
                _ => {
                    let _ = storage.remove(&name);
                    None
                }
            },
            None => None,
        };
        let (from, f) = match reuse {
            Some((name, f)) => {
                f.write_at(&first, 0)?;
                bump(&c.segments_reused, 1);
                (name, f)
            }
            None => {
                let tmp = temp_name(header.generation);
                let f = storage.create(&tmp)?;
                f.allocate(header.segment_size)?;
                f.write_at(&first, 0)?;
                if opts.zero_fill {
                    let zeros = vec![0u8; ZERO_CHUNK];
                    let mut off = first.len() as u64;
                    while off < header.segment_size {
                        let n = (header.segment_size - off).min(ZERO_CHUNK as u64) as usize;
                        f.write_at(&zeros[..n], off)?;
                        bump(&c.zero_fill_bytes, n as u64);
                        off += n as u64;
                    }
                }
                (tmp, f)
            }
        };
        bump(&c.writes, 1);
        bump(&c.bytes_written, first.len() as u64);
        f.sync()?;
        bump(&c.flushes, 1);
        storage.rename(&from, &segment_name(header.generation))?;
        storage.sync_dir()?;
        bump(&c.dir_syncs, 1);
        Ok(f)
    }

    /// Start a new segment. `base`: it starts a new chain (snapshot).
    fn roll(
        &mut self,
        storage: &dyn Storage,
        opts: &Options,
        c: &Counters,
        base: bool,
    ) -> std::io::Result<()> {
        let generation = self.max_gen + 1;
        let header = SegHeader {
            flags: if base { FLAG_BASE } else { 0 },
            generation,
            prev_generation: if base { 0 } else { self.active().generation },
            first_seq: self.next_seq,
            segment_size: opts.segment_size,
            block_size: opts.block_size,
        };
        let spare = self.spares.pop();
        let file = Self::create_segment(storage, opts, c, &header, &[], spare)?;
        self.max_gen = generation;
        let seg = ChainSeg {
            name: segment_name(generation),
            header,
        };
        if base {
            self.chain = vec![seg];
        } else {
            self.chain.push(seg);
        }
        self.file = file;
        self.pos = u64::from(opts.block_size);
        Ok(())
    }

    /// Pad `buf` to the block size, write it at `self.pos`, sync.
    fn write_out(&mut self, buf: &mut Vec<u8>, c: &Counters) -> std::io::Result<()> {
        let block = u64::from(self.active().block_size);
        let padded = align_up(buf.len() as u64, block) as usize;
        buf.resize(padded, 0);
        self.file.write_at(buf, self.pos)?;
        bump(&c.writes, 1);
        bump(&c.bytes_written, padded as u64);
        self.file.sync()?;
        bump(&c.flushes, 1);
        self.pos += padded as u64;
        buf.clear();
        Ok(())
    }

    /// Append records (one write + one sync per segment touched). Returns
    /// true if a new segment was started.
    fn append<'a>(
        &mut self,
        storage: &dyn Storage,
        opts: &Options,
        c: &Counters,
        records: impl Iterator<Item = (Kind, &'a [u8])>,
    ) -> std::io::Result<bool> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut rolled = false;
        let mut n = 0;
        for (kind, payload) in records {
            let need = (REC_HEADER_LEN + payload.len()) as u64;
            if self.pos + buf.len() as u64 + need > self.active().segment_size {
                if !buf.is_empty() {
                    self.write_out(&mut buf, c)?;
                }
                self.roll(storage, opts, c, false)?;
                rolled = true;
                if self.pos + need > self.active().segment_size {
                    return Err(std::io::Error::other("record larger than a segment"));
                }
            }
            let generation = self.active().generation;
            frame_record(&mut buf, kind, self.next_seq, generation, payload);
            self.next_seq += 1;
            n += 1;
        }
        if !buf.is_empty() {
            self.write_out(&mut buf, c)?;
        }
        self.buf = buf;
        bump(&c.records_written, n);
        c.max_group.fetch_max(n, Ordering::Relaxed);
        Ok(rolled)
    }

    fn log_bytes(&self) -> u64 {
        let full: u64 = self.chain[..self.chain.len() - 1]
            .iter()
            .map(|s| s.header.segment_size)
            .sum();
        full + self.pos
    }
}

impl Inner {
    fn max_record(&self) -> usize {
        (self.opts.segment_size - u64::from(self.opts.block_size)) as usize
    }

    /// Append `ops` to the queue (caller holds `shared`), applying them to
    /// the index. Returns the ticket.
    fn enqueue(&self, st: &mut Shared, ops: Vec<Op>, payload: Vec<u8>) -> Result<u64> {
        if let Some(f) = &st.failed {
            return Err(Error::Failed(f.clone()));
        }
        {
            let mut idx = write(&self.index)?;
            idx.validate(&ops).map_err(|_| Error::NoSuchTable)?;
            idx.apply(ops);
        }
        st.last_ticket += 1;
        let ticket = st.last_ticket;
        st.queue.push(Pending {
            ticket,
            kind: Kind::Ops,
            payload,
        });
        bump(&self.counters.commits, 1);
        if st.leader {
            self.arrive_cv.notify_one();
        }
        Ok(ticket)
    }

    fn commit(&self, ops: Vec<Op>, durability: Durability) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        for op in &ops {
            if let Op::Put { key, .. } | Op::Delete { key, .. } = op {
                if key.len() > MAX_KEY_LEN {
                    return Err(Error::TooLarge {
                        what: "key",
                        size: key.len(),
                        max: MAX_KEY_LEN,
                    });
                }
            }
        }
        let payload = encode_ops(&ops)?;
        let max = self.max_record();
        if payload.len() + REC_HEADER_LEN > max {
            return Err(Error::TooLarge {
                what: "record",
                size: payload.len() + REC_HEADER_LEN,
                max,
            });
        }
        let mut st = lock(&self.shared)?;
        let ticket = self.enqueue(&mut st, ops, payload)?;
        self.finish(st, ticket, durability)
    }

    /// After enqueueing: return (Lazy) or wait for durability (Immediate).
    fn finish(
        &self,
        mut st: MutexGuard<'_, Shared>,
        ticket: u64,
        durability: Durability,
    ) -> Result<()> {
        match durability {
            Durability::Lazy => {
                if st.lazy_since.is_none() {
                    st.lazy_since = Some(Instant::now());
                    self.bg_cv.notify_one();
                }
                Ok(())
            }
            Durability::Immediate => {
                let mut st = self.wait_durable(st, ticket)?;
                let inline_compaction = st.compact_due && self.opts.lazy_flush_interval.is_none();
                if inline_compaction {
                    st.compact_due = false;
                }
                drop(st);
                if inline_compaction {
                    // The write itself is durable; a compaction failure marks
                    // the store failed and surfaces on the next write.
                    let _ = self.compact();
                }
                Ok(())
            }
        }
    }

    /// Wait until `ticket` is durable, leading a group flush if no one is.
    fn wait_durable<'a>(
        &'a self,
        mut st: MutexGuard<'a, Shared>,
        ticket: u64,
    ) -> Result<MutexGuard<'a, Shared>> {
        loop {
            if st.durable_ticket >= ticket {
                return Ok(st);
            }
            if let Some(f) = &st.failed {
                return Err(Error::Failed(f.clone()));
            }
            if st.leader {
                st = self.done_cv.wait(st).map_err(|_| Error::Poisoned)?;
                continue;
            }
            st.leader = true;
            st = self.gather(st)?;
            let batch = std::mem::take(&mut st.queue);
            let upto = st.last_ticket;
            debug_assert!(batch.last().is_none_or(|p| p.ticket == upto));
            st.lazy_since = None;
            drop(st);
            let t0 = Instant::now();
            let res = self.write_batch(&batch);
            let elapsed = t0.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
            st = lock(&self.shared)?;
            st.leader = false;
            match res {
                Ok(due) => {
                    st.durable_ticket = upto;
                    st.last_group = batch.len();
                    st.flush_ewma_ns = if st.flush_ewma_ns == 0 {
                        elapsed
                    } else {
                        (st.flush_ewma_ns * 7 + elapsed) / 8
                    };
                    if due {
                        st.compact_due = true;
                        self.bg_cv.notify_one();
                    }
                }
                Err(e) => {
                    st.failed = Some(e.to_string());
                }
            }
            self.done_cv.notify_all();
        }
    }

    /// Adaptive group-commit window (leader only).
    fn gather<'a>(&'a self, mut st: MutexGuard<'a, Shared>) -> Result<MutexGuard<'a, Shared>> {
        let target = st.last_group;
        if target <= 1 || st.queue.len() >= target || self.opts.max_commit_delay.is_zero() {
            return Ok(st);
        }
        let window = Duration::from_nanos(st.flush_ewma_ns / 2).min(self.opts.max_commit_delay);
        let deadline = Instant::now() + window;
        while st.queue.len() < target {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .arrive_cv
                .wait_timeout(st, deadline - now)
                .map_err(|_| Error::Poisoned)?
                .0;
        }
        Ok(st)
    }

    /// Leader: write a batch. Returns whether compaction is now due.
    fn write_batch(&self, batch: &[Pending]) -> Result<bool> {
        if batch.is_empty() {
            return Ok(false);
        }
        let mut log = lock(&self.log)?;
        let rolled = log.append(
            &*self.storage,
            &self.opts,
            &self.counters,
            batch.iter().map(|p| (p.kind, p.payload.as_slice())),
        )?;
        Ok(rolled && self.compaction_due(&log))
    }

    fn compaction_due(&self, log: &Log) -> bool {
        if !self.opts.auto_compact || log.chain.len() < 3 {
            return false;
        }
        let live = self.index.read().map(|i| i.live_bytes).unwrap_or(0);
        log.log_bytes() > 2 * live + self.opts.segment_size
    }

    fn flush(&self) -> Result<()> {
        let st = lock(&self.shared)?;
        if let Some(f) = &st.failed {
            return Err(Error::Failed(f.clone()));
        }
        let ticket = st.last_ticket;
        self.wait_durable(st, ticket).map(drop)
    }

    fn compact(&self) -> Result<()> {
        let mut st = lock(&self.shared)?;
        loop {
            if let Some(f) = &st.failed {
                return Err(Error::Failed(f.clone()));
            }
            if !st.leader {
                break;
            }
            st = self.done_cv.wait(st).map_err(|_| Error::Poisoned)?;
        }
        st.leader = true;
        st.compact_due = false;
        // Queued records are covered by the snapshot: their effects are in
        // the index already.
        drop(std::mem::take(&mut st.queue));
        let upto = st.last_ticket;
        st.lazy_since = None;
        let snap = self.snapshot_records();
        drop(st);
        let res = match snap {
            Ok(records) => self.write_snapshot(&records),
            Err(e) => Err(e),
        };
        let mut st = lock(&self.shared)?;
        st.leader = false;
        match &res {
            Ok(()) => {
                st.durable_ticket = upto;
                bump(&self.counters.compactions, 1);
            }
            Err(e) => st.failed = Some(e.to_string()),
        }
        self.done_cv.notify_all();
        res
    }

    /// Encode the whole index as snapshot records (caller holds `shared`).
    fn snapshot_records(&self) -> Result<Vec<(Kind, Vec<u8>)>> {
        let idx = read(&self.index)?;
        let max_payload = self.max_record() - REC_HEADER_LEN;
        let chunk_limit = SNAPSHOT_CHUNK.min(max_payload);
        let mut records = Vec::new();
        let mut ops: Vec<Op> = idx
            .tables
            .iter()
            .map(|(&id, t)| Op::CreateTable {
                id,
                name: t.name.clone(),
            })
            .collect();
        let mut size = 0usize;
        for (&table, t) in &idx.tables {
            for (k, v) in &t.map {
                let est = k.len() + v.len() + 16;
                if !ops.is_empty() && size + est > chunk_limit {
                    records.push((Kind::Ops, encode_ops(&ops)?));
                    ops.clear();
                    size = 0;
                }
                ops.push(Op::Put {
                    table,
                    key: k.clone(),
                    value: v.clone(),
                });
                size += est;
            }
        }
        if !ops.is_empty() {
            records.push((Kind::Ops, encode_ops(&ops)?));
        }
        for (_, p) in &records {
            if p.len() > max_payload {
                return Err(Error::TooLarge {
                    what: "snapshot record",
                    size: p.len(),
                    max: max_payload,
                });
            }
        }
        let end = SnapshotEnd {
            keys: idx.live_keys,
            tables: idx.tables.len() as u32,
            next_table_id: idx.next_table_id,
        };
        records.push((Kind::SnapshotEnd, postcard::to_allocvec(&end)?));
        Ok(records)
    }

    /// Write a snapshot into a new chain, then delete the old chain.
    fn write_snapshot(&self, records: &[(Kind, Vec<u8>)]) -> Result<()> {
        let mut log = lock(&self.log)?;
        let old: Vec<ChainSeg> = log.chain.clone();
        log.roll(&*self.storage, &self.opts, &self.counters, true)?;
        log.append(
            &*self.storage,
            &self.opts,
            &self.counters,
            records.iter().map(|(k, p)| (*k, p.as_slice())),
        )?;
        // Commit point passed: the snapshot end is durable and the new
        // segments' names are (each creation synced the directory). The old
        // chain is garbage now: its segments become spares (renamed, so
        // recovery never takes them for segments) or are removed. A failure
        // here only wastes space until the next open removes them.
        let mut changed = false;
        for seg in &old {
            if log.spares.len() < self.opts.spare_segments
                && seg.header.segment_size == self.opts.segment_size
            {
                let spare = spare_name(seg.header.generation);
                if self.storage.rename(&seg.name, &spare).is_ok() {
                    log.spares.push(spare);
                    changed = true;
                    continue;
                }
            }
            changed |= self.storage.remove(&seg.name).is_ok();
        }
        if changed && self.storage.sync_dir().is_ok() {
            bump(&self.counters.dir_syncs, 1);
        }
        Ok(())
    }
}

fn bg_loop(inner: Arc<Inner>) {
    let Some(interval) = inner.opts.lazy_flush_interval else {
        return;
    };
    let Ok(mut st) = inner.shared.lock() else {
        return;
    };
    loop {
        if st.shutdown {
            return;
        }
        if st.failed.is_none() && st.compact_due && !st.leader {
            drop(st);
            let _ = inner.compact();
            let Ok(g) = inner.shared.lock() else { return };
            st = g;
            continue;
        }
        match st.lazy_since {
            Some(t) if st.failed.is_none() && t.elapsed() >= interval => {
                let ticket = st.last_ticket;
                st = match inner.wait_durable(st, ticket) {
                    Ok(g) => g,
                    Err(_) => match inner.shared.lock() {
                        Ok(g) => g,
                        Err(_) => return,
                    },
                };
                if st.failed.is_some() {
                    st.lazy_since = None;
                }
            }
            Some(t) if st.failed.is_none() => {
                let rem = interval.saturating_sub(t.elapsed());
                st = match inner.bg_cv.wait_timeout(st, rem) {
                    Ok(g) => g.0,
                    Err(_) => return,
                };
            }
            _ => {
                st = match inner.bg_cv.wait(st) {
                    Ok(g) => g,
                    Err(_) => return,
                };
            }
        }
    }
}

/// Smallest key greater than every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn bound_ref<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_ref()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// True if the range (start, end) is empty in a way `BTreeMap::range` would
/// panic on.
fn bad_range(start: Bound<&[u8]>, end: Bound<&[u8]>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
        | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
        _ => false,
    }
}

impl Store {
    /// Open (or create, see `Options::create_if_missing`) the store in
    /// `storage`, running recovery. Damage recovery must not paper over
    /// (a bad record in a sealed segment, a damaged segment header) is
    /// reported as [`Error::Corrupt`] and nothing is modified.
    pub fn open<S: Storage + 'static>(storage: S, options: Options) -> Result<Store> {
        check_geometry(options.segment_size, options.block_size).map_err(Error::InvalidOptions)?;
        let storage: Box<dyn Storage> = Box::new(storage);
        let counters = Counters::default();
        let mut report = Report::default();
        let (index, log) = match recovery::recover(&*storage, &mut report)? {
            None => {
                if !options.create_if_missing {
                    return Err(Error::NotFound);
                }
                Self::create_new(&*storage, &options, &counters)?
            }
            Some(rec) => {
                let mut removed = false;
                for name in &rec.garbage {
                    removed |= storage.remove(name).is_ok();
                }
                if removed {
                    storage.sync_dir()?;
                    bump(&counters.dir_syncs, 1);
                }
                let last = &rec.chain[rec.chain.len() - 1];
                let file = storage.open(&last.name)?;
                let pos = if rec.tail_clean {
                    align_up(rec.tail_end, u64::from(last.header.block_size))
                } else {
                    // Torn tail: never write over bytes of unknown content;
                    // the next flush starts a new segment.
                    last.header.segment_size
                };
                // Spares of the right size are kept (up to the configured
                // number); the rest are removed.
                let mut spares = Vec::new();
                let mut removed = false;
                for (name, len) in rec.spares {
                    let fits = spares.len() < options.spare_segments && len == options.segment_size;
                    if fits {
                        spares.push(name);
                    } else {
                        removed |= storage.remove(&name).is_ok();
                    }
                }
                if removed {
                    storage.sync_dir()?;
                    bump(&counters.dir_syncs, 1);
                }
                let log = Log {
                    chain: rec.chain,
                    file,
                    pos,
                    next_seq: rec.next_seq,
                    max_gen: rec.max_gen,
                    buf: Vec::new(),
                    spares,
                };
                (rec.index, log)
            }
        };
        let inner = Arc::new(Inner {
            storage,
            opts: options,
            index: RwLock::new(index),
            shared: Mutex::new(Shared {
                queue: Vec::new(),
                last_ticket: 0,
                durable_ticket: 0,
                leader: false,
                failed: None,
                shutdown: false,
                last_group: 0,
                lazy_since: None,
                compact_due: false,
                flush_ewma_ns: 0,
            }),
            done_cv: Condvar::new(),
            arrive_cv: Condvar::new(),
            bg_cv: Condvar::new(),
            log: Mutex::new(log),
            counters,
        });
        let bg = if inner.opts.lazy_flush_interval.is_some() {
            let i = inner.clone();
            Some(
                std::thread::Builder::new()
                    .name("tdb-flush".into())
                    .spawn(move || bg_loop(i))?,
            )
        } else {
            None
        };
        Ok(Store { inner, bg })
    }

    fn create_new(storage: &dyn Storage, opts: &Options, c: &Counters) -> Result<(Index, Log)> {
        let mut max_gen = 0;
        for name in storage.list()? {
            if let Some((g, kind)) = parse_name(&name) {
                max_gen = max_gen.max(g);
                if kind != FileKind::Segment {
                    let _ = storage.remove(&name);
                }
            }
        }
        let generation = max_gen + 1;
        let header = SegHeader {
            flags: FLAG_BASE,
            generation,
            prev_generation: 0,
            first_seq: 1,
            segment_size: opts.segment_size,
            block_size: opts.block_size,
        };
        let end = SnapshotEnd {
            keys: 0,
            tables: 0,
            next_table_id: 1,
        };
        let mut initial = Vec::new();
        frame_record(
            &mut initial,
            Kind::SnapshotEnd,
            1,
            generation,
            &postcard::to_allocvec(&end)?,
        );
        let padded = align_up(initial.len() as u64, u64::from(opts.block_size));
        initial.resize(padded as usize, 0);
        let file = Log::create_segment(storage, opts, c, &header, &initial, None)?;
        let log = Log {
            chain: vec![ChainSeg {
                name: segment_name(generation),
                header,
            }],
            file,
            pos: u64::from(opts.block_size) + padded,
            next_seq: 2,
            max_gen: generation,
            buf: Vec::new(),
            spares: Vec::new(),
        };
        Ok((Index::new(), log))
    }

    /// The table `name`, created (durably) if it does not exist.
    pub fn table(&self, name: &str) -> Result<Table> {
        if name.len() > MAX_TABLE_NAME_LEN {
            return Err(Error::TooLarge {
                what: "table name",
                size: name.len(),
                max: MAX_TABLE_NAME_LEN,
            });
        }
        let inner = &*self.inner;
        let mut st = lock(&inner.shared)?;
        let id = {
            let idx = read(&inner.index)?;
            if let Some(&id) = idx.names.get(name) {
                return Ok(Table { id });
            }
            idx.next_table_id
        };
        let ops = vec![Op::CreateTable {
            id,
            name: name.to_string(),
        }];
        let payload = encode_ops(&ops)?;
        let ticket = inner.enqueue(&mut st, ops, payload)?;
        inner.finish(st, ticket, Durability::Immediate)?;
        Ok(Table { id })
    }

    /// The table `name` if it exists.
    pub fn lookup_table(&self, name: &str) -> Result<Option<Table>> {
        Ok(read(&self.inner.index)?
            .names
            .get(name)
            .map(|&id| Table { id }))
    }

    /// Names of all tables.
    pub fn tables(&self) -> Result<Vec<String>> {
        Ok(read(&self.inner.index)?.names.keys().cloned().collect())
    }

    /// Drop a table and all its keys. Its id is never reused.
    pub fn drop_table(&self, table: Table, durability: Durability) -> Result<()> {
        self.inner
            .commit(vec![Op::DropTable { id: table.id }], durability)
    }

    /// The value of `key`, if present.
    pub fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let idx = read(&self.inner.index)?;
        let t = idx.tables.get(&table.id).ok_or(Error::NoSuchTable)?;
        Ok(t.map.get(key).map(|v| v.to_vec()))
    }

    /// Whether `key` is present.
    pub fn contains(&self, table: Table, key: &[u8]) -> Result<bool> {
        let idx = read(&self.inner.index)?;
        let t = idx.tables.get(&table.id).ok_or(Error::NoSuchTable)?;
        Ok(t.map.contains_key(key))
    }

    /// Decode the value of `key` with postcard.
    pub fn get_value<T: DeserializeOwned>(&self, table: Table, key: &[u8]) -> Result<Option<T>> {
        let idx = read(&self.inner.index)?;
        let t = idx.tables.get(&table.id).ok_or(Error::NoSuchTable)?;
        match t.map.get(key) {
            Some(v) => Ok(Some(postcard::from_bytes(v)?)),
            None => Ok(None),
        }
    }

    /// Insert or replace `key`.
    pub fn put(
        &self,
        table: Table,
        key: &[u8],
        value: &[u8],
        durability: Durability,
    ) -> Result<()> {
        self.inner.commit(
            vec![Op::Put {
                table: table.id,
                key: key.to_vec(),
                value: Arc::from(value),
            }],
            durability,
        )
    }

    /// Insert or replace `key` with `value` encoded by postcard.
    pub fn put_value<T: Serialize + ?Sized>(
        &self,
        table: Table,
        key: &[u8],
        value: &T,
        durability: Durability,
    ) -> Result<()> {
        let v = postcard::to_allocvec(value)?;
        self.inner.commit(
            vec![Op::Put {
                table: table.id,
                key: key.to_vec(),
                value: Arc::from(v),
            }],
            durability,
        )
    }

    /// Remove `key` (absent keys are fine).
    pub fn delete(&self, table: Table, key: &[u8], durability: Durability) -> Result<()> {
        self.inner.commit(
            vec![Op::Delete {
                table: table.id,
                key: key.to_vec(),
            }],
            durability,
        )
    }

    /// Start an atomic multi-key batch (possibly over several tables).
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            store: self,
            ops: Vec::new(),
        }
    }

    /// Keys and values of `table` within `range`, as a snapshot taken now:
    /// later writes do not show up, and iterating does not block writers.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, table: Table, range: R) -> Result<Iter> {
        self.snapshot(
            table,
            bound_ref(range.start_bound()),
            bound_ref(range.end_bound()),
        )
    }

    /// Keys and values of `table` starting with `prefix` (snapshot).
    pub fn prefix(&self, table: Table, prefix: &[u8]) -> Result<Iter> {
        let end = prefix_end(prefix);
        let end_bound = match &end {
            Some(e) => Bound::Excluded(e.as_slice()),
            None => Bound::Unbounded,
        };
        self.snapshot(table, Bound::Included(prefix), end_bound)
    }

    /// All keys and values of `table` (snapshot).
    pub fn iter(&self, table: Table) -> Result<Iter> {
        self.snapshot(table, Bound::Unbounded, Bound::Unbounded)
    }

    fn snapshot(&self, table: Table, start: Bound<&[u8]>, end: Bound<&[u8]>) -> Result<Iter> {
        let idx = read(&self.inner.index)?;
        let t = idx.tables.get(&table.id).ok_or(Error::NoSuchTable)?;
        let items: Vec<(Vec<u8>, Arc<[u8]>)> = if bad_range(start, end) {
            Vec::new()
        } else {
            t.map
                .range::<[u8], _>((start, end))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        Ok(Iter {
            items: items.into_iter(),
        })
    }

    /// Make every write made so far durable (including `Lazy` ones).
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Rewrite the live data into new segments and delete the old ones.
    /// Readers are not blocked; `Immediate` writers wait until it is done
    /// (lazy writers are not blocked).
    pub fn compact(&self) -> Result<()> {
        self.inner.compact()
    }

    /// Counters and sizes (for tools, benchmarks and the status page).
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = Stats {
            commits: g(&c.commits),
            flushes: g(&c.flushes),
            dir_syncs: g(&c.dir_syncs),
            writes: g(&c.writes),
            bytes_written: g(&c.bytes_written),
            zero_fill_bytes: g(&c.zero_fill_bytes),
            segments_reused: g(&c.segments_reused),
            records_written: g(&c.records_written),
            max_group: g(&c.max_group),
            compactions: g(&c.compactions),
            ..Stats::default()
        };
        if let Ok(idx) = self.inner.index.read() {
            s.tables = idx.tables.len() as u64;
            s.live_keys = idx.live_keys;
            s.live_bytes = idx.live_bytes;
        }
        if let Ok(log) = self.inner.log.try_lock() {
            s.segments = log.chain.len() as u64;
            s.spare_segments = log.spares.len() as u64;
            s.log_bytes = log.log_bytes();
        }
        if let Ok(st) = self.inner.shared.lock() {
            s.flush_latency = Duration::from_nanos(st.flush_ewma_ns);
            s.failed = st.failed.is_some();
        }
        s
    }

    /// Flush pending writes and close. Dropping the store does the same but
    /// cannot report a failure.
    pub fn close(mut self) -> Result<()> {
        self.stop_background();
        let st = lock(&self.inner.shared)?;
        if st.failed.is_none() && st.durable_ticket < st.last_ticket {
            drop(st);
            return self.inner.flush();
        }
        Ok(())
    }

    fn stop_background(&mut self) {
        if let Ok(mut st) = self.inner.shared.lock() {
            st.shutdown = true;
            self.inner.bg_cv.notify_all();
        }
        if let Some(h) = self.bg.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_background();
        let pending = self
            .inner
            .shared
            .lock()
            .map(|st| st.failed.is_none() && st.durable_ticket < st.last_ticket)
            .unwrap_or(false);
        if pending {
            let _ = self.inner.flush();
        }
    }
}

/// An atomic multi-key batch: either every operation in it survives a crash
/// or none does. Operations apply in the order they were added.
pub struct Batch<'a> {
    store: &'a Store,
    ops: Vec<Op>,
}

impl Batch<'_> {
    /// Add a put.
    pub fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> &mut Self {
        self.ops.push(Op::Put {
            table: table.id,
            key: key.to_vec(),
            value: Arc::from(value),
        });
        self
    }

    /// Add a put of a postcard-encoded value.
    pub fn put_value<T: Serialize + ?Sized>(
        &mut self,
        table: Table,
        key: &[u8],
        value: &T,
    ) -> Result<&mut Self> {
        let v = postcard::to_allocvec(value)?;
        self.ops.push(Op::Put {
            table: table.id,
            key: key.to_vec(),
            value: Arc::from(v),
        });
        Ok(self)
    }

    /// Add a delete.
    pub fn delete(&mut self, table: Table, key: &[u8]) -> &mut Self {
        self.ops.push(Op::Delete {
            table: table.id,
            key: key.to_vec(),
        });
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// No operations.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Commit all operations as one record. Fails as a whole (nothing
    /// applied) if a table does not exist or the batch exceeds a segment.
    pub fn commit(self, durability: Durability) -> Result<()> {
        self.store.inner.commit(self.ops, durability)
    }
}

/// Iterator over a range snapshot: `(key, value)` in key order.
pub struct Iter {
    items: std::vec::IntoIter<(Vec<u8>, Arc<[u8]>)>,
}

impl Iterator for Iter {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        self.items.next().map(|(k, v)| (k, v.to_vec()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.items.size_hint()
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.items.next_back().map(|(k, v)| (k, v.to_vec()))
    }
}

impl ExactSizeIterator for Iter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_cases() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn bad_ranges() {
        assert!(bad_range(Bound::Included(b"b"), Bound::Included(b"a")));
        assert!(bad_range(Bound::Excluded(b"a"), Bound::Excluded(b"a")));
        assert!(!bad_range(Bound::Included(b"a"), Bound::Included(b"a")));
        assert!(!bad_range(Bound::Unbounded, Bound::Excluded(b"a")));
    }
}
