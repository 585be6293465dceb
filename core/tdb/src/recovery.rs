//! Open-time recovery, the `check` report and `dump`.
//!
//! Recovery reads segment headers, picks the newest *complete* snapshot base,
//! follows the chain of segments continuing it (`prev_generation` links) and
//! replays every record into a fresh index. Records must carry the segment's
//! generation and consecutive sequence numbers; the first record that does
//! not (bad checksum, wrong generation, wrong sequence, no record) ends the
//! segment. In the last segment of the chain that is the torn tail of the
//! log; in any earlier (sealed) segment the next segment's `first_seq` tells
//! whether records are missing, which is reported as corruption. See
//! FORMAT.md for the full algorithm.

use std::fmt;
use std::io;

use crate::format::{
    align_up, decode_ops, decode_snapshot_end, decode_wire_ops, parse_name, parse_record, FileKind,
    Kind, RawRecord, Reject, SegHeader, WireOp, SEG_HEADER_LEN,
};
use crate::index::Index;
use crate::storage::Storage;
use crate::Error;

/// Role of a segment file found in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentStatus {
    /// Part of the live chain.
    Live,
    /// Older than the live snapshot base: left over from a compaction.
    Obsolete,
    /// Part of a snapshot that was never completed (interrupted compaction).
    Incomplete,
    /// Temporary file of an interrupted segment creation.
    Temporary,
    /// Could not be read or has a damaged header.
    Damaged,
    /// Valid header but not reachable from any snapshot base.
    Orphan,
    /// A retired segment kept for reuse (`seg-<gen>.spare`); its content is
    /// stale and never read.
    Spare,
}

/// What `check` found about one segment file.
#[derive(Clone, Debug)]
pub struct SegmentReport {
    /// File name.
    pub name: String,
    /// Generation (from the name).
    pub generation: u64,
    /// Starts a snapshot.
    pub base: bool,
    /// Generation this segment continues (0 for a base).
    pub prev_generation: u64,
    /// Sequence number of its first record.
    pub first_seq: u64,
    /// Valid records replayed from it (live chain only).
    pub records: u64,
    /// Offset just after its last valid record (live chain only).
    pub end_offset: u64,
    /// Role.
    pub status: SegmentStatus,
}

impl SegmentReport {
    /// A file whose header is not read as a segment's (temporary, spare).
    fn not_in_log(name: &str, generation: u64, status: SegmentStatus) -> Self {
        SegmentReport {
            name: name.to_string(),
            generation,
            base: false,
            prev_generation: 0,
            first_seq: 0,
            records: 0,
            end_offset: 0,
            status,
        }
    }
}

/// Result of [`crate::check`]: what a consistency check of a store found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every segment file found, in generation order.
    pub segments: Vec<SegmentReport>,
    /// Damage that makes `Store::open` refuse the store.
    pub errors: Vec<String>,
    /// Findings that recovery handles (torn tail, leftovers of interrupted
    /// operations, unknown files).
    pub warnings: Vec<String>,
    /// Tables in the recovered state.
    pub tables: u64,
    /// Live keys in the recovered state.
    pub live_keys: u64,
    /// Live bytes (keys + values + per-key overhead).
    pub live_bytes: u64,
    /// Records replayed.
    pub records: u64,
    /// Sequence number the next record would get.
    pub next_seq: u64,
}

impl Report {
    /// No errors: `Store::open` would succeed.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.segments {
            writeln!(
                f,
                "{} gen={} base={} prev={} first_seq={} records={} end={} {:?}",
                s.name,
                s.generation,
                s.base,
                s.prev_generation,
                s.first_seq,
                s.records,
                s.end_offset,
                s.status
            )?;
        }
        writeln!(
            f,
            "tables={} keys={} live_bytes={} records={} next_seq={}",
            self.tables, self.live_keys, self.live_bytes, self.records, self.next_seq
        )?;
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        if self.is_ok() {
            writeln!(f, "ok")?;
        }
        Ok(())
    }
}

/// One segment of the live chain, as the writer needs it.
#[derive(Clone, Debug)]
pub(crate) struct ChainSeg {
    pub name: String,
    pub header: SegHeader,
}

/// State rebuilt by recovery.
pub(crate) struct Recovered {
    pub index: Index,
    pub chain: Vec<ChainSeg>,
    pub next_seq: u64,
    /// End of the last valid record in the last chain segment.
    pub tail_end: u64,
    /// Everything after `tail_end` (from the next block) is zero and the file
    /// has its full size: new records can be appended in place.
    pub tail_clean: bool,
    /// Highest generation of any file seen (new segments go above it).
    pub max_gen: u64,
    /// Files recovery does not need (to delete).
    pub garbage: Vec<String>,
    /// Spare segments found (`seg-<gen>.spare`) and their lengths; the store keeps or
    /// removes them.
    pub spares: Vec<(String, u64)>,
}

struct Found {
    name: String,
    generation: u64,
    header: Option<SegHeader>,
}

fn corrupt(report: &mut Report, msg: String) -> Error {
    report.errors.push(msg.clone());
    Error::Corrupt(msg)
}

/// A file's length and its first block decoded as a segment header (`Err`: why it is not
/// one).
fn read_header(storage: &dyn Storage, name: &str) -> io::Result<(u64, Result<SegHeader, String>)> {
    let f = storage.open(name)?;
    let len = f.len()?;
    if len < SEG_HEADER_LEN as u64 {
        return Ok((
            len,
            Err(format!("file too short for a segment header ({len} bytes)")),
        ));
    }
    let mut hdr = vec![0u8; SEG_HEADER_LEN];
    f.read_at(&mut hdr, 0)?;
    Ok((len, SegHeader::decode(&hdr)))
}

/// Read a whole segment (up to its declared size).
fn read_segment(storage: &dyn Storage, name: &str, size: u64) -> io::Result<Vec<u8>> {
    let f = storage.open(name)?;
    let len = f.len()?.min(size);
    let mut data = vec![0u8; len as usize];
    f.read_at(&mut data, 0)?;
    Ok(data)
}

/// Outcome of scanning one segment.
pub(crate) struct SegScan {
    pub records: u64,
    pub next_seq: u64,
    pub end: u64,
    pub stop: Option<(u64, Reject)>,
}

/// Scan the records of one segment, calling `f` for each valid one.
pub(crate) fn scan_segment(
    data: &[u8],
    header: &SegHeader,
    first_seq: u64,
    mut f: impl FnMut(&RawRecord<'_>, u64) -> Result<(), String>,
) -> Result<SegScan, String> {
    let block = u64::from(header.block_size);
    let mut pos = block;
    let mut end = block;
    let mut expected = first_seq;
    let mut records = 0;
    let mut stop = None;
    while (pos as usize) < data.len() {
        let rec = match parse_record(&data[pos as usize..], header.generation, Some(expected)) {
            Ok(r) => r,
            Err(rej) => {
                // Zero padding after the last record of a flush: the next
                // flush starts at the next block boundary.
                let aligned = align_up(pos, block);
                let next = if rej == Reject::NoRecord
                    && aligned != pos
                    && (aligned as usize) < data.len()
                {
                    parse_record(&data[aligned as usize..], header.generation, Some(expected)).ok()
                } else {
                    None
                };
                match next {
                    Some(r) => {
                        pos = aligned;
                        r
                    }
                    None => {
                        stop = Some((pos, rej));
                        break;
                    }
                }
            }
        };
        f(&rec, pos)?;
        pos += rec.len as u64;
        end = pos;
        expected += 1;
        records += 1;
    }
    Ok(SegScan {
        records,
        next_seq: expected,
        end,
        stop,
    })
}

/// Count block-aligned valid-looking records (any sequence number) of this
/// generation at or after `from` (diagnostics only).
fn stray_records(data: &[u8], header: &SegHeader, from: u64) -> u64 {
    let block = u64::from(header.block_size);
    let mut pos = align_up(from, block);
    let mut n = 0;
    while (pos as usize) < data.len() {
        if parse_record(&data[pos as usize..], header.generation, None).is_ok() {
            n += 1;
        }
        pos += block;
    }
    n
}

enum ChainOutcome {
    Complete(Box<Recovered>),
    Incomplete,
}

fn replay_chain(
    storage: &dyn Storage,
    chain: &[ChainSeg],
    report: &mut Report,
    seg_reports: &mut [SegmentReport],
) -> Result<ChainOutcome, Error> {
    let mut index = Index::new();
    let mut expected = chain[0].header.first_seq;
    let mut snapshot_done = false;
    let mut tail_end = 0;
    let mut tail_clean = false;
    let mut total_records = 0;
    for (i, seg) in chain.iter().enumerate() {
        let h = &seg.header;
        if i > 0 && h.first_seq != expected {
            let prev = &chain[i - 1].name;
            return Err(corrupt(
                report,
                format!(
                    "sealed segment {prev} is damaged: its records end before sequence {expected} \
                     but {} starts at sequence {}",
                    seg.name, h.first_seq
                ),
            ));
        }
        let data = read_segment(storage, &seg.name, h.segment_size)?;
        let name = seg.name.clone();
        let scan = scan_segment(&data, h, expected, |rec, pos| {
            let at = || format!("{name} offset {pos} (seq {})", rec.seq);
            match rec.kind {
                Kind::Ops => {
                    let ops = decode_ops(rec.payload).map_err(|e| format!("{}: {e}", at()))?;
                    index.validate(&ops).map_err(|e| format!("{}: {e}", at()))?;
                    index.apply(ops);
                }
                Kind::SnapshotEnd => {
                    let end =
                        decode_snapshot_end(rec.payload).map_err(|e| format!("{}: {e}", at()))?;
                    if snapshot_done {
                        return Err(format!("{}: second snapshot end in one chain", at()));
                    }
                    if end.keys != index.live_keys
                        || u64::from(end.tables) != index.tables.len() as u64
                    {
                        return Err(format!(
                            "{}: snapshot end expects {} keys in {} tables, replay has {} in {}",
                            at(),
                            end.keys,
                            end.tables,
                            index.live_keys,
                            index.tables.len()
                        ));
                    }
                    index.next_table_id = index.next_table_id.max(end.next_table_id);
                    snapshot_done = true;
                }
            }
            Ok(())
        })
        .map_err(|e| corrupt(report, e))?;
        expected = scan.next_seq;
        total_records += scan.records;
        if let Some(r) = seg_reports.iter_mut().find(|r| r.name == seg.name) {
            r.records = scan.records;
            r.end_offset = scan.end;
        }
        if i + 1 == chain.len() {
            tail_end = scan.end;
            // Appends continue at the next block boundary only if nothing
            // after the last good record can ever be read as its successor
            // (FORMAT.md section 7, step 5): the rest of its block is zero
            // (the scanner crosses only zeros to the next block), and no
            // block boundary after it holds a valid record of this
            // generation (torn, unacknowledged data). Stale records of older
            // generations in a reused segment are rejected by their
            // generation, so they may stay.
            let start = scan.end as usize;
            let block_end = align_up(scan.end, u64::from(h.block_size)) as usize;
            let stray = stray_records(&data, h, scan.end);
            tail_clean = data.len() as u64 == h.segment_size
                && data
                    .get(start..block_end.min(data.len()))
                    .is_none_or(|t| t.iter().all(|&b| b == 0))
                && stray == 0;
            if !tail_clean {
                if let Some((pos, rej)) = &scan.stop {
                    report.warnings.push(format!(
                        "{}: log ends at offset {} ({rej} at offset {pos}); next writes go to a new segment",
                        seg.name, scan.end
                    ));
                } else if (data.len() as u64) < h.segment_size {
                    report.warnings.push(format!(
                        "{}: file is shorter ({}) than its segment size {}",
                        seg.name,
                        data.len(),
                        h.segment_size
                    ));
                }
                if stray > 0 {
                    report.warnings.push(format!(
                        "{}: {stray} valid-looking record(s) after the end of the log \
                         (a torn write of unacknowledged data, or damage)",
                        seg.name
                    ));
                }
            }
        }
    }
    if !snapshot_done {
        return Ok(ChainOutcome::Incomplete);
    }
    report.records = total_records;
    Ok(ChainOutcome::Complete(Box::new(Recovered {
        index,
        chain: chain.to_vec(),
        next_seq: expected,
        tail_end,
        tail_clean,
        max_gen: 0,
        garbage: Vec::new(),
        spares: Vec::new(),
    })))
}

/// Scan the store. `Ok(None)`: no segment at all (a new store).
pub(crate) fn recover(
    storage: &dyn Storage,
    report: &mut Report,
) -> Result<Option<Recovered>, Error> {
    let mut names = storage.list()?;
    names.sort();
    let mut found: Vec<Found> = Vec::new();
    let mut garbage = Vec::new();
    let mut spares = Vec::new();
    let mut spare_files = Vec::new();
    let mut max_gen = 0u64;
    for name in names {
        let Some((generation, kind)) = parse_name(&name) else {
            report
                .warnings
                .push(format!("{name}: not a store file, ignored"));
            continue;
        };
        max_gen = max_gen.max(generation);
        if kind == FileKind::Spare {
            spare_files.push((name, generation));
            continue;
        }
        if kind == FileKind::Temp {
            report.warnings.push(format!(
                "{name}: left over from an interrupted segment creation"
            ));
            report.segments.push(SegmentReport::not_in_log(
                &name,
                generation,
                SegmentStatus::Temporary,
            ));
            garbage.push(name);
            continue;
        }
        let (_, header) = read_header(storage, &name)?;
        let header = match header {
            Ok(h) if h.generation != generation => Err(format!(
                "header says generation {} but the name says {generation}",
                h.generation
            )),
            other => other,
        };
        match header {
            Ok(h) => found.push(Found {
                name,
                generation,
                header: Some(h),
            }),
            Err(e) => {
                report.errors.push(format!("{name}: {e}"));
                found.push(Found {
                    name,
                    generation,
                    header: None,
                });
            }
        }
    }
    found.sort_by_key(|f| f.generation);
    // A spare's content is never replayed, but its name must not be a second
    // name of a segment in use: a file system that does not make rename
    // atomic across a power cut (FAT; the crash simulator) can keep both
    // names of a renamed file. A spare whose header block is that of a
    // segment still present under its `.log` name (an interrupted reuse or
    // retirement), or of the same generation as another spare, is such a
    // name: it is removed (only the name; the other name keeps the file).
    let mut spare_gens = std::collections::BTreeSet::new();
    for (name, generation) in spare_files {
        let (file_len, header) = read_header(storage, &name)?;
        let header_gen = header.ok().map(|h| h.generation);
        let duplicate = header_gen
            .is_some_and(|g| found.iter().any(|s| s.generation == g) || !spare_gens.insert(g));
        if duplicate {
            report.warnings.push(format!(
                "{name}: second name of a segment file (an interrupted reuse), removed"
            ));
        }
        let status = if duplicate {
            SegmentStatus::Obsolete
        } else {
            SegmentStatus::Spare
        };
        report
            .segments
            .push(SegmentReport::not_in_log(&name, generation, status));
        if !duplicate {
            spares.push((name, file_len));
        }
    }
    let mut seg_reports: Vec<SegmentReport> = found
        .iter()
        .map(|f| SegmentReport {
            name: f.name.clone(),
            generation: f.generation,
            base: f.header.as_ref().is_some_and(SegHeader::is_base),
            prev_generation: f.header.as_ref().map_or(0, |h| h.prev_generation),
            first_seq: f.header.as_ref().map_or(0, |h| h.first_seq),
            records: 0,
            end_offset: 0,
            status: if f.header.is_some() {
                SegmentStatus::Orphan
            } else {
                SegmentStatus::Damaged
            },
        })
        .collect();
    let result = recover_chain(storage, &found, &mut seg_reports, report);
    report.segments.extend(seg_reports);
    report.segments.sort_by_key(|s| s.generation);
    if !report.errors.is_empty() {
        return Err(Error::Corrupt(report.errors.join("; ")));
    }
    let Some(mut rec) = result? else {
        if found.is_empty() {
            return Ok(None);
        }
        return Err(corrupt(report, "no complete snapshot base found".into()));
    };
    for s in &report.segments {
        match s.status {
            SegmentStatus::Live | SegmentStatus::Temporary | SegmentStatus::Spare => {}
            SegmentStatus::Obsolete | SegmentStatus::Incomplete => garbage.push(s.name.clone()),
            SegmentStatus::Orphan => {
                return Err(corrupt(
                    report,
                    format!("{}: segment not reachable from the live snapshot", s.name),
                ))
            }
            SegmentStatus::Damaged => {}
        }
    }
    rec.max_gen = max_gen;
    rec.garbage = garbage;
    rec.spares = spares;
    report.tables = rec.index.tables.len() as u64;
    report.live_keys = rec.index.live_keys;
    report.live_bytes = rec.index.live_bytes;
    report.next_seq = rec.next_seq;
    Ok(Some(rec))
}

fn recover_chain(
    storage: &dyn Storage,
    found: &[Found],
    seg_reports: &mut [SegmentReport],
    report: &mut Report,
) -> Result<Option<Recovered>, Error> {
    if !report.errors.is_empty() {
        return Ok(None);
    }
    let headers: Vec<(&Found, &SegHeader)> = found
        .iter()
        .filter_map(|f| f.header.as_ref().map(|h| (f, h)))
        .collect();
    let mut bases: Vec<&(&Found, &SegHeader)> =
        headers.iter().filter(|(_, h)| h.is_base()).collect();
    bases.reverse();
    for (base_f, base_h) in bases {
        let mut chain = vec![ChainSeg {
            name: base_f.name.clone(),
            header: (*base_h).clone(),
        }];
        loop {
            let cur = chain[chain.len() - 1].header.generation;
            let succ: Vec<&(&Found, &SegHeader)> = headers
                .iter()
                .filter(|(_, h)| !h.is_base() && h.prev_generation == cur && h.generation > cur)
                .collect();
            match succ.as_slice() {
                [] => break,
                [(f, h)] => chain.push(ChainSeg {
                    name: f.name.clone(),
                    header: (*h).clone(),
                }),
                many => {
                    let names: Vec<&str> = many.iter().map(|(f, _)| f.name.as_str()).collect();
                    return Err(corrupt(
                        report,
                        format!(
                            "several segments continue generation {cur}: {}",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        match replay_chain(storage, &chain, report, seg_reports)? {
            ChainOutcome::Complete(rec) => {
                let base_gen = base_h.generation;
                for r in seg_reports.iter_mut() {
                    if chain.iter().any(|c| c.name == r.name) {
                        r.status = SegmentStatus::Live;
                    } else if r.generation < base_gen && r.status == SegmentStatus::Orphan {
                        r.status = SegmentStatus::Obsolete;
                    }
                }
                return Ok(Some(*rec));
            }
            ChainOutcome::Incomplete => {
                report.warnings.push(format!(
                    "{}: snapshot never completed (interrupted compaction), ignored",
                    base_f.name
                ));
                for r in seg_reports.iter_mut() {
                    if chain.iter().any(|c| c.name == r.name) {
                        r.status = SegmentStatus::Incomplete;
                        r.records = 0;
                        r.end_offset = 0;
                    }
                }
            }
        }
    }
    Ok(None)
}

fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if c.is_ascii_graphic() && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

/// Print every segment and record in the store directory (debugging).
pub(crate) fn dump(storage: &dyn Storage, out: &mut dyn io::Write) -> Result<(), Error> {
    let mut names = storage.list()?;
    names.sort();
    for name in names {
        let Some((_, FileKind::Segment)) = parse_name(&name) else {
            writeln!(out, "{name}: skipped")?;
            continue;
        };
        let f = storage.open(&name)?;
        let len = f.len()?;
        let mut hdr = vec![0u8; SEG_HEADER_LEN.min(len as usize)];
        f.read_at(&mut hdr, 0)?;
        let h = match SegHeader::decode(&hdr) {
            Ok(h) => h,
            Err(e) => {
                writeln!(out, "{name}: {e}")?;
                continue;
            }
        };
        writeln!(
            out,
            "{name}: gen={} base={} prev={} first_seq={} size={} block={} file_len={len}",
            h.generation,
            h.is_base(),
            h.prev_generation,
            h.first_seq,
            h.segment_size,
            h.block_size
        )?;
        let data = read_segment(storage, &name, h.segment_size)?;
        let mut lines = Vec::new();
        let scan = scan_segment(&data, &h, h.first_seq, |rec, pos| {
            let mut line = format!("  @{pos} seq={} len={} ", rec.seq, rec.len);
            match rec.kind {
                Kind::SnapshotEnd => match decode_snapshot_end(rec.payload) {
                    Ok(e) => line.push_str(&format!("snapshot-end {e:?}")),
                    Err(e) => line.push_str(&e),
                },
                Kind::Ops => match decode_wire_ops(rec.payload) {
                    Ok(ops) => {
                        for op in ops {
                            match op {
                                WireOp::Put { table, key, value } => line.push_str(&format!(
                                    "put t{table} {} ({} bytes); ",
                                    escape(key.0),
                                    value.0.len()
                                )),
                                WireOp::Delete { table, key } => {
                                    line.push_str(&format!("del t{table} {}; ", escape(key.0)))
                                }
                                WireOp::CreateTable { id, name } => {
                                    line.push_str(&format!("create-table {id} {name:?}; "))
                                }
                                WireOp::DropTable { id } => {
                                    line.push_str(&format!("drop-table {id}; "))
                                }
                            }
                        }
                    }
                    Err(e) => line.push_str(&e),
                },
            }
            lines.push(line);
            Ok(())
        });
        for l in lines {
            writeln!(out, "{l}")?;
        }
        match scan {
            Ok(s) => match s.stop {
                Some((pos, rej)) => writeln!(out, "  end at {} ({rej} at {pos})", s.end)?,
                None => writeln!(out, "  end at {} (end of segment)", s.end)?,
            },
            Err(e) => writeln!(out, "  error: {e}")?,
        }
    }
    Ok(())
}
